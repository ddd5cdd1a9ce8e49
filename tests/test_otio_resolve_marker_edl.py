"""The Resolve marker EDL adapter plugin (no engine needed)."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from takefit.otio_adapters import rates, resolve_marker_edl

FIXTURES = Path(__file__).parent / "fixtures" / "timelines"
MARKERS = FIXTURES / "resolve_markers.edl"


def read(path=MARKERS, **kw):
    return otio.adapters.read_from_file(str(path), adapter_name="resolve_marker_edl", **kw)


def test_markers_with_colour_name_note_duration_and_start():
    tl = read(rate=25)
    assert tl.global_start_time.to_timecode() == "01:00:00:00"  # the hour of the first marker
    got = [(m.name, m.color, m.comment, m.marked_range.start_time.value, m.marked_range.duration.value,
            m.metadata["resolve"]["color"]) for m in tl.tracks.markers]
    assert got == [
        ("Alice 1", "BLUE", "[alice] Hello there.", 25, 50, "ResolveColorBlue"),
        ("你好，世界。", "RED", "", 100, 45, "ResolveColorRed"),
        ("Marker 3", "CYAN", "Thank you.", 187, 1, "ResolveColorSky"),   # Sky has no OTIO twin: nearest
    ]
    assert len(tl.tracks) == 0  # markers, not the 1-frame clips the stock EDL reader makes


def test_stock_cmx_reader_makes_one_frame_clips_of_the_same_file():
    # why this adapter exists, and why it claims no .edl suffix: the suffix stays cmx_3600's
    tl = otio.adapters.read_from_file(str(MARKERS), rate=25)
    clips = [c for c in tl.tracks[0] if isinstance(c, otio.schema.Clip)]
    assert len(clips) == 3 and all(c.duration().value == 1 for c in clips)
    assert not tl.tracks.markers


def test_ntsc_rate_and_explicit_start():
    tl = read(rate="29.97", start="00:59:00:00")
    assert tl.global_start_time.rate == float(Fraction(30000, 1001))
    assert rates.frames(tl.global_start_time, Fraction(30000, 1001)) == 59 * 60 * 30
    assert tl.tracks.markers[0].marked_range.start_time.value == 61 * 30  # 01:00:01:00 - 00:59:00:00


def test_sniffing_tells_marker_edls_from_cut_edls():
    assert resolve_marker_edl.looks_like(MARKERS.read_text())
    assert not resolve_marker_edl.looks_like((FIXTURES / "screening_example.edl").read_text())


def test_write_then_read_back():
    tl = read(rate=25)
    text = otio.adapters.write_to_string(tl, adapter_name="resolve_marker_edl")
    assert "01:00:01:00 01:00:01:01 01:00:01:00 01:00:01:01" in text
    assert "[alice] Hello there. |C:ResolveColorBlue |M:Alice 1 |D:50" in text
    assert " |C:ResolveColorRed |M:你好，世界。 |D:45" in text
    back = resolve_marker_edl.read_from_string(text, rate=25)
    assert [(m.name, m.comment, m.marked_range.start_time.value, m.marked_range.duration.value,
             m.metadata["resolve"]["color"]) for m in back.tracks.markers] == \
           [(m.name, m.comment, m.marked_range.start_time.value, m.marked_range.duration.value,
             m.metadata["resolve"]["color"]) for m in tl.tracks.markers]


def test_multi_line_note_and_crlf():
    text = ("TITLE: T\r\nFCM: NON-DROP FRAME\r\n\r\n001  001      V     C        10:00:00:05 10:00:00:06 "
            "10:00:00:05 10:00:00:06  \r\nfirst line\r\nsecond line |C:ResolveColorGreen |M:M |D:12\r\n")
    tl = resolve_marker_edl.read_from_string(text, rate=24)
    m = tl.tracks.markers[0]
    assert tl.global_start_time.to_timecode() == "10:00:00:00"
    assert (m.comment, m.marked_range.start_time.value, m.marked_range.duration.value) == \
           ("first line\nsecond line", 5, 12)
