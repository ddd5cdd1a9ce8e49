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
