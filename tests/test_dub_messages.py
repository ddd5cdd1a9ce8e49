"""`takefit dub` says what matters (#21.6): stretched cues are flagged with the right advice, --list
predicts who reads each line, how long and at what ratio, cue sheets dub like timelines, and a guessed
SRT rate or a chosen FCPXML project is named. Real engine, real files, the real CLI."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from takefit.bridges import cli
from takefit.bridges.dub import render
from takefit.engine.errors import FitError
from takefit.engine.request import RenderRequest
from takefit.engine.target import Target

FIXTURES = Path(__file__).parent / "fixtures" / "timelines"


@pytest.fixture(scope="module")
def renderer(engine, tmp_path_factory):
    from takefit.engine.cache import TakeCache

    return render.InProcessRenderer(engine=engine, cache=TakeCache(tmp_path_factory.mktemp("take-cache")))


@pytest.fixture(autouse=True)
def use_renderer(monkeypatch, renderer):
    monkeypatch.setattr(render, "make_renderer", lambda **kw: renderer)
    return renderer


@pytest.mark.slow
def test_list_predicts_voice_length_and_ratio_close_to_what_the_run_measures(tmp_path, capsys):
    src = Path(shutil.copy(FIXTURES / "ntsc_dialogue.xml", tmp_path))
    assert cli.main(["dub", str(src), "--list", "--json"]) == 0
    listed = {c["id"]: c for c in json.loads(capsys.readouterr().out)["cues"]}
    assert listed["c004"]["verdict"] == "skip" and "empty text" in listed["c004"]["reason"]
    assert listed["c001"]["voice"] == "auto" and listed["c001"]["voice_used"] == "af_heart"
    assert cli.main(["dub", str(src), "--json"]) == 0
    done = {c["id"]: c for c in json.loads(capsys.readouterr().out)["cues"]}
    for cid in ("c001", "c002", "c003"):       # predicted from durations within 10 % of the measured ratio
        assert listed[cid]["voice_used"] == done[cid]["voice_used"]
        assert listed[cid]["ratio"] == pytest.approx(done[cid]["ratio"], rel=0.10), cid
        assert (listed[cid]["verdict"] == "flag") == (done[cid]["status"] == "flagged"), cid

    assert cli.main(["dub", str(src), "--list"]) == 0
    table = capsys.readouterr().out
    assert "af_heart (auto)" in table and "skip: empty text" in table and "will flag" in table


def test_a_stretched_cue_is_flagged_on_the_console_and_fails_strict(tmp_path, capsys):
    src = tmp_path / "slow.srt"
    src.write_text("1\n00:00:01,000 --> 00:00:02,500\nHi there.\n", "utf-8")     # ~0.6 s of speech in 1.5 s
    assert cli.main(["dub", str(src), "--rate", "25", "--strict"]) == 3
    err = capsys.readouterr().err
    assert "c001 flagged: slow:" in err and "more text" in err, err


def test_the_advice_for_a_slot_far_too_long_is_to_lengthen_the_text_or_shorten_the_slot(engine):
    with pytest.raises(FitError) as e:
        engine.render(RenderRequest("Hi.", target=Target.seconds(30)))
    assert "Lengthen the text or shorten the slot" in str(e.value)
    with pytest.raises(FitError) as e:
        engine.render(RenderRequest("The quick brown fox jumps over the lazy dog again.", target=Target.seconds(0.5)))
    assert "Shorten the text or lengthen the slot" in str(e.value)


def test_a_cue_sheet_dubs_like_a_timeline(tmp_path, capsys):
    sheet = tmp_path / "lines.csv"
    sheet.write_text("# rate: 25\nstart,end,character,text\n00:00:01.000,00:00:02.200,alice,Hello there.\n"
                     "00:00:03.000,00:00:04.400,bob,\"Fine, thanks.\"\n", "utf-8")
    assert cli.main(["dub", str(sheet), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [c["achieved"]["frames"] for c in doc["cues"]] == [30, 35]
    assert (tmp_path / "lines_dub.otio").is_file() and (tmp_path / "lines_dub_stem.wav").is_file()


def test_a_guessed_srt_rate_and_the_chosen_fcpxml_project_are_named(tmp_path, capsys):
    assert cli.main(["dub", str(FIXTURES / "dialogue.srt"), "--list"]) == 0
    assert "an SRT carries no frame rate; read at 30 fps" in capsys.readouterr().out
    src = FIXTURES / "fcpx_example.fcpxml"
    assert cli.main(["dub", str(src), "--list"]) == 0
    out = capsys.readouterr().out
    assert "holds 2 timelines" in out and "dubbing the first, 'OpenTimeline_Project'" in out and "--project" in out
    assert cli.main(["dub", str(src), "--list", "--json", "--project", "OpenTimeline_Project 1"]) == 0
    assert not any("holds 2 timelines" in n for n in json.loads(capsys.readouterr().out)["notes"])


def test_a_timeline_without_markers_names_its_tracks_and_the_fix(tmp_path, capsys):
    """A cut of clips alone (no markers): the run and --list say where they looked, which tracks the file
    has, and that --track NAME dubs a subtitle or guide track's clips; nothing is written."""
    src = Path(shutil.copy(FIXTURES / "simple_cut.otio", tmp_path))
    assert cli.main(["dub", str(src)]) == 0
    err = capsys.readouterr().err
    assert "no cues in" in err and "looked for timeline markers or clip markers" in err
    assert "V1 'Track-001' (4 clips)" in err and "--track NAME" in err and "nothing written" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["simple_cut.otio"]
    assert cli.main(["dub", str(src), "--list"]) == 0
    out = capsys.readouterr().out
    assert "0 cue(s)" in out and "note: no cues in simple_cut.otio" in out and "V1 'Track-001'" in out
    assert cli.main(["dub", str(src), "--track", "V1", "--list", "--json"]) == 0     # the fix it names works
    assert len(json.loads(capsys.readouterr().out)["cues"]) == 4


def test_a_marker_left_with_its_default_name_is_silent_and_says_why(tmp_path, capsys):
    """Resolve and Final Cut name new markers "Marker 1", "Marker 2" …: a label, not a line. A marker with
    nothing else is skipped with the fix (as the Resolve scripts read it), not read out as "Marker 2"; a
    name the editor typed is still the line, and a default name beside a note leaves the note the line."""
    src = tmp_path / "markers.edl"
    src.write_text("TITLE: Timeline 1\nFCM: NON-DROP FRAME\n\n"
                   "001  001      V     C        01:00:01:00 01:00:01:01 01:00:01:00 01:00:01:01  \n"
                   " |C:ResolveColorBlue |M:Marker 2 |D:50\n\n"
                   "002  001      V     C        01:00:04:00 01:00:04:01 01:00:04:00 01:00:04:01  \n"
                   " |C:ResolveColorBlue |M:Get down! |D:30\n\n"
                   "003  001      V     C        01:00:07:00 01:00:07:01 01:00:07:00 01:00:07:01  \n"
                   "Thank you. |C:ResolveColorBlue |M:Marker 3 |D:30\n", "utf-8")
    assert cli.main(["dub", str(src), "--rate", "25", "--list", "--json"]) == 0
    cues = json.loads(capsys.readouterr().out)["cues"]
    assert [(c["text"], c["verdict"] == "skip") for c in cues] == [("", True), ("Get down!", False),
                                                                   ("Thank you.", False)]
    assert cues[0]["reason"].startswith("only the default name 'Marker 2', a label: write the line to speak in")


def test_a_timeline_whose_every_cue_is_silent_writes_nothing(tmp_path, capsys):
    """OTIO's Final Cut sample: six markers, all left "Marker N". Nothing would be said, so nothing is
    written (no dub without a take, no silent stem, no empty takes folder) and the reasons are named."""
    src = Path(shutil.copy(FIXTURES / "fcpx_example.fcpxml", tmp_path))
    assert cli.main(["dub", str(src)]) == 0
    err = capsys.readouterr().err
    assert "nothing to say in" in err and "all 6 of its cues would be skipped" in err and "nothing written" in err
    assert "c001 (marker 'Marker 1'" in err and "only the default name 'Marker 1'" in err and "and 3 more" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fcpx_example.fcpxml"]


def test_a_rerun_says_which_flagged_takes_came_from_the_cache():
    """A flagged take (read outside 0.7–1.4×) found ready by a rerun is counted flagged, not cached: the
    summary says it was not rendered again."""
    from fractions import Fraction

    from takefit.bridges.dub.report import CueResult, DubReport
    from takefit.otio_adapters.cue import Cue

    cue = Cue("c001", 0, 50, Fraction(25), "Hi.")
    report = DubReport(input=Path("x.srt"), results=[
        CueResult(cue, "flagged", cached=True), CueResult(cue, "flagged"), CueResult(cue, "cached", cached=True)])
    assert "(1 cached, 2 flagged (1 from the cache))" in report.summary_line()
    report.results[0].cached = False
    assert "(1 cached, 2 flagged)" in report.summary_line()
