"""The SRT adapter plugin: SubRip ↔ timeline, through OTIO's plugin system (no engine needed).

These tests read through `otio.adapters.read_from_file("x.srt")`, which works once the package's
"opentimelineio.plugins" entry point is installed (pyproject.toml + `pip install -e .`).
"""
from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from importlib import metadata
from pathlib import Path

import opentimelineio as otio
import pytest
from hypothesis import given, settings, strategies as st

from takefit.otio_adapters import rates, srt

FIXTURES = Path(__file__).parent / "fixtures" / "timelines"
DIALOGUE = FIXTURES / "dialogue.srt"


def test_entry_point_registers_the_plugins():
    eps = [ep for ep in metadata.entry_points(group="opentimelineio.plugins") if ep.value == "takefit.otio_adapters"]
    assert eps, "add to pyproject.toml: [project.entry-points.\"opentimelineio.plugins\"] takefit = \"takefit.otio_adapters\""
    names = {a.name for a in otio.plugins.ActiveManifest().adapters}
    assert {"srt", "webvtt", "substation", "timedtext", "resolve_marker_edl"} <= names


@pytest.mark.parametrize("name, markers, rate", [("dialogue.srt", "3", "30.0"), ("captions.vtt", "4", "24.0"),
                                                 ("script.ass", "4", "24.0"), ("episode.ttml", "4", "25.0")])
def test_a_fresh_python_reads_subtitles_through_otio_alone(name, markers, rate):
    # no takefit import at all: OTIO must find the adapter through the entry point by itself
    code = ("import sys, opentimelineio as otio; t = otio.adapters.read_from_file(sys.argv[1]); "
            "print(len(t.tracks.markers), t.global_start_time.rate)")
    out = subprocess.run([sys.executable, "-c", code, str(FIXTURES / name)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [markers, rate]


def test_reads_subtitles_as_markers_at_a_chosen_rate():
    tl = otio.adapters.read_from_file(str(DIALOGUE))
    assert tl.name == "dialogue"
    assert rates.exact_rate(tl.global_start_time.rate) == 30  # 1.0, 3.5, 5.5, 6.8 s all land on 30 fps frames
    ms = tl.tracks.markers
    assert [(m.marked_range.start_time.value, m.marked_range.duration.value) for m in ms] == [(30, 60), (105, 60), (150, 54)]
    assert ms[0].comment == "[alice | happy 0.5] Hello there."
    assert ms[1].comment == "<i>Good morning.</i>"
    assert ms[2].comment == "[bob | lang=zh] 你好，世界。"
    assert [m.metadata["srt"]["index"] for m in ms] == [1, 2, 3]


def test_rate_given_exactly_and_ntsc_means_1001():
    tl = otio.adapters.read_from_file(str(DIALOGUE), rate="29.97")
    assert tl.global_start_time.rate == float(Fraction(30000, 1001))
    m = tl.tracks.markers[1]  # 3.5 s → 104.895 frames → 105
    assert m.marked_range.start_time.value == 105


def test_reads_subtitles_as_clips_and_overlaps_go_to_a_second_track():
    tl = otio.adapters.read_from_file(str(DIALOGUE), rate=30, cues_as="clips")
    assert [t.name for t in tl.tracks] == ["Subtitles", "Subtitles 2"]
    first = [(c.name, c.range_in_parent().start_time.value, c.duration().value)
             for c in tl.tracks[0] if isinstance(c, otio.schema.Clip)]
    assert first == [("[alice | happy 0.5] Hello there.", 30, 60), ("<i>Good morning.</i>", 105, 60)]
    second = [c for c in tl.tracks[1] if isinstance(c, otio.schema.Clip)]
    assert second[0].range_in_parent().start_time.value == 150
    assert second[0].metadata["srt"]["text"] == "[bob | lang=zh] 你好，世界。"


def test_round_trip_keeps_times_and_tags(tmp_path):
    tl = otio.adapters.read_from_file(str(DIALOGUE))
    out = tmp_path / "back.srt"
    otio.adapters.write_to_file(tl, str(out))
    text = out.read_text("utf-8")
    assert "1\n00:00:01,000 --> 00:00:03,000\n[alice | happy 0.5] Hello there.\n" in text
    assert "00:00:05,000 --> 00:00:06,800\n[bob | lang=zh] 你好，世界。" in text
    again = otio.adapters.read_from_file(str(out))
    assert [(m.marked_range.start_time.value, m.marked_range.duration.value) for m in again.tracks.markers] == \
           [(30, 60), (105, 60), (150, 54)]


def test_tolerates_bom_missing_index_dot_millis_and_gbk(tmp_path):
    p = tmp_path / "messy.srt"
    p.write_bytes("00:00:02.5 --> 00:00:04.000\r\n第一行\r\n第二行\r\n\r\n".encode("gb18030"))
    tl = otio.adapters.read_from_file(str(p), rate=25)
    m = tl.tracks.markers[0]
    assert (m.marked_range.start_time.value, m.marked_range.duration.value) == (63, 37)  # 62.5 rounds half up
    assert m.comment == "第一行\n第二行"
    p.write_bytes("\ufeff1\n00:00:01,000 --> 00:00:02,000\nHi.\n".encode("utf-8"))
    assert otio.adapters.read_from_file(str(p), rate=25).tracks.markers[0].comment == "Hi."


def test_times_that_fit_no_common_rate_fall_back_to_24():
    assert srt.choose_rate([Fraction(1013, 1000), Fraction(2777, 1000)]) == 24
    assert srt.choose_rate([Fraction(1), Fraction(3, 25)]) == 25


def test_end_before_start_is_a_clear_error():
    with pytest.raises(otio.exceptions.OTIOError, match="ends"):
        srt.read_from_string("1\n00:00:05,000 --> 00:00:04,000\nx\n")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20_000), st.integers(1, 300)), min_size=1, max_size=12),
       st.sampled_from([Fraction(24), Fraction(25), Fraction(30000, 1001)]))
def test_write_then_read_is_frame_exact(spans, rate):
    tl = otio.schema.Timeline(name="p", global_start_time=rates.rt(0, rate))
    for i, (start, dur) in enumerate(spans):
        tl.tracks.markers.append(otio.schema.Marker(name=f"m{i}", marked_range=rates.time_range(start, dur, rate),
                                                    comment=f"line {i}"))
    back = srt.read_from_string(srt.write_to_string(tl), rate=str(rate))
    got = sorted((int(m.marked_range.start_time.value), int(m.marked_range.duration.value)) for m in back.tracks.markers)
    assert got == sorted(spans)
