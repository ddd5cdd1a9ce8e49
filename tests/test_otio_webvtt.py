"""The WebVTT adapter plugin: .vtt ↔ timeline through OTIO's plugin system, and a .vtt dubbed."""
from __future__ import annotations

import json
from pathlib import Path

import opentimelineio as otio
import pytest

from takefit.bridges import cli
from takefit.otio_adapters import webvtt
from takefit.otio_adapters.srt import SRTParseError

CAPTIONS = Path(__file__).parent / "fixtures" / "timelines" / "captions.vtt"



def test_cues_keep_their_text_and_skip_header_style_note_and_settings():
    tl = otio.adapters.read_from_file(str(CAPTIONS), rate=25)
    ms = tl.tracks.markers
    assert [(m.marked_range.start_time.value, m.marked_range.duration.value) for m in ms] == \
           [(25, 50), (88, 50), (150, 25), (188, 37)]           # 3.5 s, MM:SS.mmm, rounded half up to frames
    assert ms[0].comment == "<v Roger>We have to leave &amp; go now.</v>"
    assert ms[3].comment == "Hello<00:00:08.000> <c.yellow>there</c>."
    assert [m.metadata["webvtt"]["index"] for m in ms] == [1, 2, 3, 4]


@pytest.mark.parametrize("text, match", [
    ("1\n00:00:01,000 --> 00:00:02,000\nHi.\n", "not a WebVTT file: its first line is '1'"),
    ("WEBVTT\n\n00:00:01.000 -> 00:00:02.000\nHi.\n", "line 3: a cue needs a timing line"),
    ("WEBVTT\n\n00:00:01.000 --> 00:01:61.000\nHi.\n", "line 3 .*seconds 61 out of range"),
    ("WEBVTT\n\n00:00:03.000 --> 00:00:02.000\nHi.\n", "ends .* before it starts"),
])
def test_what_does_not_read_is_named(text, match):
    with pytest.raises(SRTParseError, match=match):
        webvtt.read_from_string(text)


def test_written_back_it_reads_the_same_and_escapes_what_webvtt_reserves(tmp_path):
    tl = otio.adapters.read_from_file(str(CAPTIONS), rate=25)
    tl.tracks.markers[2].comment = "A < B & C --> D"
    out = tmp_path / "back.vtt"
    otio.adapters.write_to_file(tl, str(out))
    text = out.read_text("utf-8")
    # what the file held beside its lines comes back: header, STYLE, the NOTE before its cue, the cue's
    # identifier and settings
    assert text.startswith("WEBVTT\nKind: captions\nLanguage: en\n\nSTYLE\n::cue(v[voice=\"Roger\"]) { color: yellow }"
                           "\n\nNOTE\nTwo speakers and a sound; the last cue is a karaoke line.\n\nintro\n"
                           "00:00:01.000 --> 00:00:03.000 align:start position:10%\n<v Roger>We have to leave &amp; "
                           "go now.</v>\n")
    assert "A &lt; B &amp; C --&gt; D" in text and "\n4\n00:00:07.520 --> 00:00:09.000\n" in text
    again = otio.adapters.read_from_file(str(out), rate=25)
    assert [(m.marked_range.start_time.value, m.comment) for m in again.tracks.markers] == \
           [(m.marked_range.start_time.value, m.comment) for m in tl.tracks.markers[:2]] + \
           [(150, "A &lt; B &amp; C --&gt; D"), (188, tl.tracks.markers[3].comment)]


def test_a_vtt_dubs_with_its_voices_as_characters(tmp_path, capsys):
    src = tmp_path / "captions.vtt"
    src.write_bytes(CAPTIONS.read_bytes())
    (tmp_path / "takefit.cast.toml").write_text('[characters.roger]\nvoice = "am_adam"\n'
                                                '[characters.anna]\nvoice = "af_bella"\n', "utf-8")
    assert cli.main(["dub", str(src), "--rate", "25", "--list", "--json"]) == 0
    listed = {c["id"]: c for c in json.loads(capsys.readouterr().out)["cues"]}
    assert (listed["c001"]["character"], listed["c001"]["voice"], listed["c001"]["text"]) == \
           ("roger", "am_adam", "We have to leave & go now.")
    assert (listed["c002"]["character"], listed["c002"]["voice"]) == ("anna", "af_bella")
    assert listed["c003"]["verdict"] == "skip" and listed["c003"]["reason"] == "nothing to say: only [thunder]"
    assert listed["c004"]["text"] == "Hello there."
    assert cli.main(["dub", str(src), "--rate", "25", "--no-cache", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["status"] for r in report["cues"]].count("skipped") == 1
    written = (tmp_path / "captions_dub.vtt").read_text("utf-8")
    assert written.startswith("WEBVTT\n") and "<v.loud Anna>Now?</v>" in written
    assert (tmp_path / "captions_dub.otio").is_file()
    assert any("WebVTT holds only the cues" in n for n in report["notes"])
