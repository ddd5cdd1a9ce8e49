"""The SubStation Alpha adapter plugin (.ass/.ssa through pysubs2): Dialogue lines are cues, each line's
Actor its speaker; a script dubbed, and written back with its Actors."""
from __future__ import annotations

import json
from pathlib import Path

import opentimelineio as otio
import pytest

from takefit.bridges import cli
from takefit.otio_adapters import substation
from takefit.otio_adapters.extract import extract
from takefit.otio_adapters.srt import SRTParseError

SCRIPT = Path(__file__).parent / "fixtures" / "timelines" / "script.ass"



def test_dialogue_lines_are_cues_with_their_actors_and_comments_are_not():
    cues = extract(otio.adapters.read_from_file(str(SCRIPT), rate=25))
    assert [(c.start, c.duration, c.speaker) for c in cues] == \
           [(25, 50, "Roger"), (88, 50, "Anna"), (150, 25, ""), (188, 37, "Anna")]
    assert cues[0].raw_text == "{\\i1}We have to leave,{TL: idiom} now.\nRight now."


@pytest.mark.parametrize("text, match", [
    ("1\n00:00:01,000 --> 00:00:02,000\nHi.\n", "not a SubStation Alpha script: it has no \\[Script Info\\]"),
    ("[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
     "Dialogue: 0,0:00:0x.00,0:00:03.50,Default,,0,0,0,,Hi\n", "cannot read the SubStation Alpha script: .*0x"),
    ("[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
     "Dialogue: 0,0:00:04.00,0:00:03.50,Default,,0,0,0,,Hi\n", "Dialogue line 1 ends .* before it starts"),
])
def test_what_does_not_read_is_named(text, match):
    with pytest.raises(SRTParseError, match=match):
        substation.read_from_string(text)


def test_written_back_it_keeps_times_texts_and_actors(tmp_path):
    tl = otio.adapters.read_from_file(str(SCRIPT), rate=25)
    out = tmp_path / "back.ass"
    otio.adapters.write_to_file(tl, str(out))
    line = "Dialogue: 0,0:00:01.00,0:00:03.00,Default,Roger,0,0,0,,{\\i1}We have to leave,{TL: idiom} now.\\NRight now."
    assert line in out.read_text("utf-8")
    again = extract(otio.adapters.read_from_file(str(out), rate=25))
    assert [(c.start, c.duration, c.speaker, c.raw_text) for c in again] == \
           [(c.start, c.duration, c.speaker, c.raw_text) for c in extract(tl)]


def test_a_script_dubs_with_its_actors_as_characters(tmp_path, capsys):
    src = tmp_path / "script.ass"
    src.write_bytes(SCRIPT.read_bytes())
    (tmp_path / "takefit.cast.toml").write_text('[characters.roger]\nvoice = "am_adam"\n'
                                                '[characters.anna]\nvoice = "af_bella"\n', "utf-8")
    assert cli.main(["dub", str(src), "--rate", "25", "--list", "--json"]) == 0
    listed = {c["id"]: c for c in json.loads(capsys.readouterr().out)["cues"]}
    assert (listed["c001"]["character"], listed["c001"]["voice"], listed["c001"]["text"]) == \
           ("roger", "am_adam", "We have to leave, now. Right now.")          # markup and the note not said
    assert (listed["c002"]["character"], listed["c002"]["voice"]) == ("anna", "af_bella")
    assert listed["c003"]["reason"] == "nothing to say: only [thunder]"
    assert (listed["c004"]["character"], listed["c004"]["voice"]) == ("roger", "am_adam")   # the tag wins
    assert cli.main(["dub", str(src), "--rate", "25", "--no-cache", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["status"] for r in report["cues"]].count("skipped") == 1
    written = (tmp_path / "script_dub.ass").read_text("utf-8")
    assert ",Default,Anna,0,0,0,,Now?" in written and (tmp_path / "script_dub.otio").is_file()


RICH = """[Script Info]
Title: Episode 2
ScriptType: v4.00+
PlayResX: 1920
PlayResY: 1080

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, \
Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, \
MarginV, Encoding
Style: Default,Arial,48,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,2,2,10,10,10,1
Style: Narrator,Georgia,52,&H0000FFFF,&H000000FF,&H00000000,&H00000000,0,1,0,0,100,100,0,0,1,2,2,8,10,10,40,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Dialogue: 0,0:00:01.00,0:00:03.00,Default,Roger,0,0,0,,We go.
Comment: 0,0:00:02.00,0:00:03.00,Default,,0,0,0,,TL check: "we go" or "let's go"?
Dialogue: 1,0:00:04.00,0:00:06.00,Narrator,Voice,12,14,40,Banner;30,Years later.
"""


@pytest.mark.parametrize("cues_as", ["markers", "clips"])
def test_written_back_it_keeps_the_script_around_its_lines(tmp_path, cues_as):
    """An Aegisub script dubbed comes back as it was written: its info (title, resolution), its styles, each
    line's style, layer, margins and effect, and its Comment lines in their places."""
    tl = substation.read_from_string(RICH, rate=25, cues_as=cues_as)
    back = substation.write_to_string(tl, tracks=["Subtitles"] if cues_as == "clips" else None)
    assert "Title: Episode 2" in back and "PlayResX: 1920" in back and "PlayResY: 1080" in back
    assert "Style: Narrator,Georgia,52,&H0000FFFF" in back and "Style: Default,Arial,48," in back
    events = [ln for ln in back.splitlines() if ln.startswith(("Dialogue:", "Comment:"))]
    assert events == [
        "Dialogue: 0,0:00:01.00,0:00:03.00,Default,Roger,0,0,0,,We go.",
        'Comment: 0,0:00:02.00,0:00:03.00,Default,,0,0,0,,TL check: "we go" or "let\'s go"?',
        "Dialogue: 1,0:00:04.00,0:00:06.00,Narrator,Voice,12,14,40,Banner;30,Years later."]
    # a timeline from elsewhere (no script read) still writes a plain script of its cues
    plain = otio.schema.Timeline(name="x", global_start_time=otio.opentime.RationalTime(0, 25))
    plain.tracks.markers.append(otio.schema.Marker(name="m", comment="Hello.", marked_range=otio.opentime.TimeRange(
        otio.opentime.RationalTime(25, 25), otio.opentime.RationalTime(25, 25))))
    assert "Dialogue: 0,0:00:01.00,0:00:02.00,Default,,0,0,0,,Hello." in substation.write_to_string(plain)
