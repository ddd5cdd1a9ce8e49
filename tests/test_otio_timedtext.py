"""The timed text adapter plugin (reading through ttconv): TTML/IMSC with its agents and frame rate, SCC
captions and EBU STL, each a timeline starting where the programme does; a caption file dubbed."""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest

from takefit.bridges import cli
from takefit.otio_adapters import formats, rates, timedtext
from takefit.otio_adapters.extract import extract
from takefit.otio_adapters.srt import SRTParseError

FIXTURES = Path(__file__).parent / "fixtures" / "timelines"
TT = '<tt xmlns="http://www.w3.org/ns/ttml" xmlns:ttp="http://www.w3.org/ns/ttml#parameter" xml:lang="en"'
BOMB = ('<?xml version="1.0"?><!DOCTYPE tt [<!ENTITY a "aaaaaaaaaaaaaaaa">'
        + "".join(f'<!ENTITY {n} "{("&" + p + ";") * 16}">' for p, n in zip("abcdefg", "bcdefgh"))
        + ']><tt xmlns="http://www.w3.org/ns/ttml"><body><div><p begin="1s" end="2s">&h;</p></div></body></tt>')


def stl(tcp: bytes = b"10000000", dfc: bytes = b"STL25.01") -> bytes:
    """A minimal EBU STL file (Tech 3264): the GSI block, then one TTI block per subtitle."""
    gsi = bytearray(b" " * 1024)
    for at, value in [(0, b"850"), (3, dfc), (11, b"0"), (12, b"00"), (14, b"09"), (224, b"260101"),
                      (230, b"260101"), (236, b"00"), (238, b"00002"), (243, b"00002"), (248, b"001"), (251, b"40"),
                      (253, b"23"), (255, b"1"), (256, tcp), (264, tcp), (272, b"1"), (273, b"1"), (274, b"GBR")]:
        gsi[at:at + len(value)] = value

    def tti(n: int, tci: tuple, tco: tuple, text: bytes) -> bytes:
        block = bytearray(b"\x8f" * 128)           # 0x8F: unused space; 0x8A: a line break
        block[0:16] = bytes([0, n, 0, 0xFF, 0, *tci, *tco, 20, 2, 0])
        block[16:16 + len(text)] = text
        return bytes(block)

    return bytes(gsi) + tti(0, (10, 0, 1, 0), (10, 0, 3, 0), b"ROGER: We have to leave\x8abefore the storm.") + \
        tti(1, (10, 0, 4, 0), (10, 0, 5, 12), b"\x03Now?")          # 0x03: teletext yellow


def spans(tl) -> list[tuple[int, int, str, str]]:
    return [(c.start, c.duration, c.raw_text, c.speaker) for c in extract(tl)]



def test_ttml_at_its_own_rate_with_its_agents_and_nested_times():
    tl = otio.adapters.read_from_file(str(FIXTURES / "episode.ttml"))
    assert rates.timeline_rate(tl) == 25 and tl.global_start_time.value == 0
    assert spans(tl) == [
        (25, 50, "We have to leave\nbefore the storm hits.", "Roger"),   # frames, inside a div from 1 s
        (113, 50, "Now?", "Anna"),                                       # ticks: 4.5 s to 6.5 s
        (150, 25, "[thunder]", ""),                                      # 6s + dur 1s
        (188, 37, "You heard me.", "Anna")]                              # the agent on its span


def test_ttml_colours_by_style_reference_or_attribute():
    doc = (TT + ' xmlns:tts="http://www.w3.org/ns/ttml#styling"><head><styling><style xml:id="y" tts:color="yellow"/>'
           '</styling></head><body><div><p begin="1s" end="2s" style="y">A.</p>'
           '<p begin="3s" end="4s"><span tts:color="#00ffff">B.</span></p><p begin="5s" end="6s">C.</p>'
           '</div></body></tt>')
    assert [c.color for c in extract(timedtext.read_from_string(doc))] == ["yellow", "cyan", None]


def test_a_programme_from_one_hour_starts_the_timeline_there():
    doc = (TT + ' ttp:frameRate="30" ttp:frameRateMultiplier="1000 1001"><body><div>'
           '<p begin="01:00:01.000" end="01:00:02.000">A.</p><p begin="01:00:03.000" end="01:00:05.000">B.</p>'
           '</div></body></tt>')
    tl = timedtext.read_from_string(doc)
    assert rates.timeline_rate(tl) == Fraction(30000, 1001) and tl.global_start_time.value == 107892
    assert [(s, d) for s, d, _, _ in spans(tl)] == [(30, 30), (90, 60)]


def test_scc_captions_are_drop_frame_from_their_hour(tmp_path):
    tl = otio.adapters.read_from_file(str(FIXTURES / "episode.scc"))
    assert rates.timeline_rate(tl) == Fraction(30000, 1001) and tl.metadata["timedtext"]["drop_frame"] is True
    assert tl.global_start_time.value == 107892                                 # 01:00:00;00
    assert spans(tl)[0] == (30, 60, ">> ROGER: WE HAVE TO LEAVE\nBEFORE THE STORM HITS.", "")
    assert [s[2] for s in spans(tl)[1:]] == [">> NOW?", "[ THUNDER ]", "(whispering) YOU HEARD ME."]


def test_stl_starts_at_its_programme_timecode(tmp_path):
    path = tmp_path / "ep.stl"
    path.write_bytes(stl())
    tl = otio.adapters.read_from_file(str(path))
    assert rates.timeline_rate(tl) == 25 and tl.global_start_time.value == 10 * 3600 * 25
    assert spans(tl) == [(25, 50, "ROGER: We have to leave\nbefore the storm.", ""), (100, 37, "Now?", "")]
    assert [c.color for c in extract(tl)] == ["white", "yellow"]                # teletext's speaker colours
    notes = formats.read(path).notes
    assert any("starts at 10:00:00:00" in n for n in notes) and any("read, not written back" in n for n in notes)


@pytest.mark.parametrize("text, match", [
    ("<html><body>hi</body></html>", "not a TTML document: its root element is 'html'"),
    (TT + "><body><div><p>Hi", "not a TTML document: .*line 1"),
    (TT + '><body><div begin="10s"><p begin="1s" end="2s">A.</p></div></body></tt>',
     "1 of its 1 paragraphs .* give it an end"),
    (TT + "><body><div><p>No time.</p></div></body></tt>", "1 of its 1 paragraphs"),
    ("Scenarist_SCC V1.0\n\n00:00:01;00\tzzzz\n", "cannot read the SCC file|no subtitle with a time"),
    (BOMB, "not a TTML document: limit on input amplification"),       # "billion laughs": refused at once
    # spans nested 100k deep would overflow the recursive TTML reader: named, not a RecursionError
    (TT + '><body><div><p begin="1s" end="2s">' + "<span>" * 100_000 + "Hi." + "</span>" * 100_000 + "</p></div>"
     "</body></tt>", "its elements nest 100004 deep; .* at most 100 are read"),
])
def test_what_does_not_read_is_named(text, match):
    with pytest.raises(SRTParseError, match=match):
        timedtext.read_from_string(text)


def test_a_broken_stl_is_named(tmp_path):
    path = tmp_path / "bad.stl"
    path.write_bytes(b"not an stl file" * 10)
    with pytest.raises(Exception, match="cannot read .*bad.stl as timedtext: cannot read the EBU STL file"):
        formats.read(path)


def test_captions_dub_with_their_labels_and_their_hour(tmp_path, capsys):
    src = tmp_path / "episode.scc"
    src.write_bytes((FIXTURES / "episode.scc").read_bytes())
    (tmp_path / "takefit.cast.toml").write_text('[characters.roger]\nvoice = "am_adam"\n', "utf-8")
    assert cli.main(["dub", str(src), "--no-cache", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    by_id = {r["id"]: r for r in report["cues"]}
    assert (by_id["c001"]["character"], by_id["c001"]["voice_used"]) == ("roger", "am_adam")
    assert by_id["c003"]["status"] == "skipped" and "[ THUNDER ]" in by_id["c003"]["error"]
    dubbed = otio.adapters.read_from_file(str(tmp_path / "episode_dub.otio"))
    assert dubbed.global_start_time.value == 107892 and (tmp_path / "episode_dub_stem.wav").is_file()
    assert report["start_timecode"] == "01:00:00;00" and by_id["c001"]["position"]["start_timecode"] == "01:00:01;00"
