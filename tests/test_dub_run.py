"""`takefit dub` end to end with the real engine: dub, write, read the written file back, check every
take's position, length and WAV, and that nothing else in the timeline moved.

Lines are short and few (the engine runs on a small CPU); one take cache serves the whole module.
"""
from __future__ import annotations

import json
import os
import shutil
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest
import soundfile as sf

from takefit.bridges import cli
from takefit.engine.errors import OutputError
from takefit.engine.target import Target
from takefit.otio_adapters import formats, rates
from takefit.bridges.dub import pipeline as dub, render
from takefit.bridges.dub.pipeline import DubOptions
from takefit.otio_adapters.extract import extract

FIXTURES = Path(__file__).parent / "fixtures" / "timelines"
NTSC = Fraction(30000, 1001)


class CountingRenderer(render.InProcessRenderer):
    """The in-process renderer, counting how often the engine really ran."""

    engine_runs = 0

    def render(self, request, progress=None):
        r = super().render(request, progress)
        if not r.cached:
            CountingRenderer.engine_runs += 1
        return r


@pytest.fixture(scope="module")
def renderer(engine, tmp_path_factory):
    from takefit.engine.cache import TakeCache

    return CountingRenderer(engine=engine, cache=TakeCache(tmp_path_factory.mktemp("take-cache")))


@pytest.fixture
def use_renderer(monkeypatch, renderer):
    """Make the CLI use the module's renderer (one engine, one cache) instead of loading its own."""
    monkeypatch.setattr(render, "make_renderer", lambda **kw: renderer)
    return renderer


def copy(name: str, folder: Path) -> Path:
    return Path(shutil.copy(FIXTURES / name, folder / name))


def summary(track) -> list:
    """What an editor sees of a track: each item's kind, name, place, length and media."""
    return [(type(c).__name__, c.name, c.range_in_parent().start_time.value, c.duration().value,
             getattr(getattr(c, "media_reference", None), "target_url", None))
            for c in track if not isinstance(c, otio.schema.Transition)]


def takes_on(timeline, rate):
    """(start frame, length in frames, WAV path) of every take clip, lanes merged, in time order."""
    out = []
    for t in timeline.tracks:
        if t.kind != otio.schema.TrackKind.Audio:
            continue
        for c in t:
            url = getattr(getattr(c, "media_reference", None), "target_url", "") or ""
            if isinstance(c, otio.schema.Clip) and "_takes/" in url:
                out.append((rates.frames(c.range_in_parent().start_time, rate), rates.frames(c.duration(), rate),
                            Path(url.removeprefix("file://"))))
    return sorted(out)


def wav_samples(path: Path) -> int:
    return sf.info(str(path)).frames


# ------------------------------------------------------------------ FCP7 XML, 29.97, 01:00:00:00
@pytest.mark.slow
def test_fcp7_ntsc_dub_round_trip(tmp_path, renderer):
    src = copy("ntsc_dialogue.xml", tmp_path)
    (tmp_path / "takefit.cast.toml").write_text(
        '[characters.alice]\nvoice = "af_bella"\nemotion = "happy 0.3"\n[characters.bob]\nvoice = "zf_xiaoyi"\n', "utf-8")
    before = formats.read(src).timeline
    report = dub.run(DubOptions(src), renderer)

    out = tmp_path / "ntsc_dialogue_dub.xml"
    assert report.outputs["timeline"] == str(out) and out.is_file()
    after = formats.read(out).timeline
    # the start timecode and the exact NTSC rate survive the FCP7 round trip
    assert rates.timeline_start(after, NTSC) == 108000 and rates.timeline_rate(after) == NTSC
    # untouched: the original tracks and markers, item for item
    assert [summary(t) for t in after.tracks][:2] == [summary(t) for t in before.tracks]
    assert [(m.name, m.marked_range, m.metadata["fcp_xml"].get("comment")) for m in after.tracks.markers] == \
           [(m.name, m.marked_range, m.metadata["fcp_xml"].get("comment")) for m in before.tracks.markers]
    # the takes: one clip per cue with text, exactly at the cue, exactly its length; the overlap → 2nd track
    cues = [c for c in extract(before) if c.raw_text]
    placed = takes_on(after, NTSC)
    assert [(s, d) for s, d, _ in placed] == [(c.start, c.duration) for c in cues] == [(30, 60), (75, 54), (210, 60)]
    assert len(after.tracks) == 4  # V1, A1, takefit, takefit 2
    for (start, dur, wav), c in zip(placed, cues):
        assert wav.is_file() and wav.parent.name == "ntsc_dialogue_dub_takes"
        assert wav_samples(wav) == Target.frames(dur, NTSC).samples(48000) == rates.samples(dur, NTSC, 48000)
    assert placed[0][2].name == "ntsc_dialogue_c001_alice_t1.wav"
    assert placed[1][2].name == "ntsc_dialogue_c002_bob_t1.wav"

    # the .otio beside it holds the same, with names and takefit metadata
    o = otio.adapters.read_from_file(str(tmp_path / "ntsc_dialogue_dub.otio"))
    assert [t.name for t in o.tracks] == ["", "", "takefit", "takefit 2"]  # FCP7 XML has no track names
    assert [(s, d) for s, d, _ in takes_on(o, NTSC)] == [(30, 60), (75, 54), (210, 60)]
    meta = [c.metadata["takefit"] for t in o.tracks[2:] for c in t if isinstance(c, otio.schema.Clip)]
    assert {m["cue"] for m in meta} == {"c001", "c002", "c003"}
    assert next(m for m in meta if m["cue"] == "c001")["emotion"] == {"preset": "happy", "intensity": 0.3}

    # the stem: the whole timeline, silent before the first take, the takes where they belong
    stem, sr = sf.read(str(tmp_path / "ntsc_dialogue_dub_stem.wav"), dtype="float32")
    length = rates.frames(before.tracks.duration(), NTSC)
    assert sr == 48000 and len(stem) == rates.samples(length, NTSC, 48000)
    first = rates.samples(30, NTSC, 48000)
    assert abs(stem[:first]).max() == 0 and abs(stem[first:first + 96096]).max() > 0.01

    # the report
    doc = json.loads((tmp_path / "ntsc_dialogue_dub_report.json").read_text("utf-8"))
    by_id = {c["id"]: c for c in doc["cues"]}
    assert doc["rate"] == "30000/1001" and doc["start_timecode"] == "01:00:00:00"
    assert by_id["c004"]["status"] == "skipped" and "empty text" in by_id["c004"]["error"]
    for cid in ("c001", "c002", "c003"):
        c = by_id[cid]
        # a slot over 3× the line's speech (2 s for "Good morning.") reads naturally, padded and flagged;
        # one read outside 0.7–1.4× is flagged with the fix (#21.6)
        assert c["status"] in ("rendered", "cached") or (c["status"] == "flagged" and any(
            "padded with silence" in w or w.startswith(("fast:", "slow:")) for w in c["warnings"]))
        assert c["requested"]["samples"] == c["achieved"]["samples"] and c["requested"]["frames"] == c["achieved"]["frames"]
        assert c["take"] and c["ratio"] > 0 and c["timing"]["seconds"] > 0
    assert by_id["c001"]["voice_used"] == "af_bella" and by_id["c002"]["voice_used"] == "zf_xiaoyi"
    assert by_id["c001"]["emotion"] == {"preset": "happy", "intensity": 0.3, "applied": True}
    assert doc["summary"]["tracks"] == ["takefit", "takefit 2"]


# ------------------------------------------------------------------ re-runs only render what changed
@pytest.mark.slow
def test_rerun_renders_only_the_edited_line(tmp_path, renderer, use_renderer, capsys):
    src = copy("dialogue.srt", tmp_path)
    assert cli.main(["dub", str(src)]) == 0
    assert "dubbed 3 cues" in capsys.readouterr().out
    out_srt = tmp_path / "dialogue_dub.srt"
    assert "[alice | happy 0.5] Hello there." in out_srt.read_text("utf-8")  # SRT output: the cues
    first = takes_on(otio.adapters.read_from_file(str(tmp_path / "dialogue_dub.otio")), Fraction(30))
    assert [(s, d) for s, d, _ in first] == [(30, 60), (105, 60), (150, 54)]

    runs = CountingRenderer.engine_runs
    assert cli.main(["dub", str(src), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert CountingRenderer.engine_runs == runs  # nothing changed: nothing rendered
    assert [c["timing"]["cached"] for c in doc["cues"]] == [True] * 3 and doc["summary"]["engine_seconds"] == 0
    assert {c["status"] for c in doc["cues"]} <= {"cached", "flagged"}      # flagged: read outside 0.7–1.4×

    src.write_text(src.read_text("utf-8").replace("Good morning.", "Good evening."), "utf-8")
    assert cli.main(["dub", str(src), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert CountingRenderer.engine_runs == runs + 1
    assert [c["timing"]["cached"] for c in doc["cues"]] == [True, False, True]
    assert [c["take_number"] for c in doc["cues"]] == [1, 2, 1]
    takes = tmp_path / "dialogue_dub_takes"
    assert (takes / "dialogue_c002_default_t1.wav").is_file()  # the old take stays for old timelines
    placed = takes_on(otio.adapters.read_from_file(str(tmp_path / "dialogue_dub.otio")), Fraction(30))
    assert placed[1][2].name == "dialogue_c002_default_t2.wav"
    assert [wav_samples(w) for _, _, w in placed] == [96000, 96000, 86400]

    # a kept take cut short since (an audio editor, a full disk): filed anew, the old file left alone
    cut = takes / "dialogue_c003_bob_t1.wav"
    cut.write_bytes(cut.read_bytes()[:-3000])
    assert cli.main(["dub", str(src), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [c["take_number"] for c in doc["cues"]] == [1, 2, 2] and CountingRenderer.engine_runs == runs + 1
    assert any("dialogue_c003_bob_t1.wav now holds 85400 samples" in w and "filed anew as "
               "dialogue_c003_bob_t2.wav" in w for w in doc["cues"][2]["warnings"]), doc["cues"][2]["warnings"]
    assert wav_samples(cut) == 85400 and wav_samples(takes / "dialogue_c003_bob_t2.wav") == 86400
    assert sf.info(str(tmp_path / "dialogue_dub_stem.wav")).frames > 0


# ------------------------------------------------------------------ EDL in, audio-only EDL out
def test_edl_dub_writes_an_audio_edl_at_record_timecode(tmp_path, renderer):
    src = copy("screening_example.edl", tmp_path)
    before = formats.read(src).timeline
    report = dub.run(DubOptions(src), renderer)
    # the same line twice: one render, and either cue may be the one (two lines are in flight at once; under
    # load the second finished first and the first found its take cached), or none when the cache had it
    statuses = [r.status for r in report.results]
    assert statuses[2] == "skipped" and sorted(statuses[:2]) in (["cached", "rendered"], ["cached", "cached"]), statuses
    assert any("audio-only EDL" in n for n in report.notes)
    edl = tmp_path / "screening_example_dub.edl"
    formats.ensure_plugins()
    back = otio.adapters.read_from_file(str(edl), adapter_name="cmx_3600", rate=24)
    got = sorted((-rates.frames(t.source_range.start_time, Fraction(24)) + rates.frames(c.range_in_parent().start_time, Fraction(24)),
                  rates.frames(c.duration(), Fraction(24)), t.name)
                 for t in back.tracks for c in t if isinstance(c, otio.schema.Clip))
    start = rates.timeline_start(before, Fraction(24))
    want = [(start + r.cue.start, r.frames) for r in report.results if r.take]
    assert [(a, b) for a, b, _ in got] == want
    assert [rates.timecode(a, Fraction(24)) for a, _, _ in got] == ["01:00:01:14", "01:00:02:14"]
    assert {n for _, _, n in got} == {"A1", "A2"}  # a point take is longer than the 24 frames between them
    # the .otio keeps the video cut untouched and adds the takes in the reader's record-start convention
    o = otio.adapters.read_from_file(str(tmp_path / "screening_example_dub.otio"))
    assert summary(o.tracks[0]) == summary(before.tracks[0])
    for r in report.results:
        if r.take:
            assert wav_samples(r.take) == rates.samples(r.frames, Fraction(24), 48000)


# ------------------------------------------------------------------ Resolve marker EDL → FCP7 XML
def test_resolve_markers_to_fcp7_keep_their_hour(tmp_path, renderer, use_renderer):
    src = copy("resolve_markers.edl", tmp_path)
    assert cli.main(["dub", str(src), "--rate", "25", "--format", "xml", "-o", str(tmp_path / "out.xml")]) == 0
    after = formats.read(tmp_path / "out.xml").timeline
    assert after.global_start_time.to_timecode() == "01:00:00:00"
    placed = takes_on(after, Fraction(25))
    assert [(s, d) for s, d, _ in placed][:2] == [(25, 50), (100, 45)]
    assert placed[2][0] == 187  # the 1-frame marker: a point, natural length rounded up to frames
    for _, d, w in placed:
        assert wav_samples(w) == rates.samples(d, Fraction(25), 48000) == d * 1920


# ------------------------------------------------------------------ FCPXML: takes as connected clips
def test_fcpxml_dub_keeps_the_other_timeline(tmp_path, renderer, use_renderer):
    src = copy("fcpx_example.fcpxml", tmp_path)      # its markers keep Final Cut's default names: give one a line
    src.write_text(src.read_text("utf-8").replace('value="Marker 7"', 'value="Get down!"'), "utf-8")
    assert cli.main(["dub", str(src), "--color", "green"]) == 0
    before = otio.adapters.read_from_file(str(src))
    after = otio.adapters.read_from_file(str(tmp_path / "fcpx_example_dub.fcpxml"))
    assert len(list(after)) == 2
    first = list(after)[0]
    placed = takes_on(first, Fraction(30))
    assert len(placed) == 1 and placed[0][0] == 2400
    assert wav_samples(placed[0][2]) == placed[0][1] * 1600
    assert [summary(t) for t in list(after)[1].tracks] == [summary(t) for t in list(before)[1].tracks]


# ------------------------------------------------------------------ bad input
def test_a_line_too_long_for_any_request_fails_alone(tmp_path, use_renderer, capsys):
    """A subtitle of 15,000 characters (a pasted script): that cue fails, saying why and how to fix it, in
    --list and in the run; the other cue is dubbed and the timeline written (was: the whole run stopped)."""
    src = tmp_path / "t.srt"
    src.write_text("1\n00:00:01,000 --> 00:00:02,000\nHi.\n\n2\n00:00:03,000 --> 00:00:04,000\n"
                   + "word " * 3000 + "\n", "utf-8")
    assert cli.main(["dub", str(src), "--rate", "25", "--list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["cues"]
    assert [c["verdict"] for c in listed][1] == "fail" and "one line may have at most" in listed[1]["reason"]
    assert cli.main(["dub", str(src), "--rate", "25", "--json"]) == 0
    cues = json.loads(capsys.readouterr().out)["cues"]
    assert [c["status"] for c in cues][1] == "failed" and cues[0]["status"] in ("rendered", "flagged", "cached")
    assert "Split long scripts into cues" in cues[1]["error"] and (tmp_path / "t_dub.otio").is_file()


def test_no_cues_writes_nothing(tmp_path, use_renderer, capsys):
    src = copy("simple_cut.otio", tmp_path)
    assert cli.main(["dub", str(src)]) == 0
    assert "no cues" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["simple_cut.otio"]


def test_unsupported_and_unreadable_input_exit_2(tmp_path, capsys):
    p = tmp_path / "cut.aaf"
    p.write_bytes(b"not a timeline")
    assert cli.main(["dub", str(p)]) == 2
    err = capsys.readouterr().err
    assert "unsupported format '.aaf'" in err and ".fcpxml" in err and ".srt" in err
    bad = tmp_path / "cut.otio"
    bad.write_text("{ nope", "utf-8")
    assert cli.main(["dub", str(bad)]) == 2
    assert "cannot read" in capsys.readouterr().err


def _timeline_with(tmp_path: Path, markers: list[tuple[int, int, str]], rate=Fraction(30)) -> Path:
    tl = otio.schema.Timeline(name="fits", global_start_time=rates.rt(0, rate))
    v = otio.schema.Track(name="V1")
    v.append(otio.schema.Gap(source_range=rates.time_range(0, 600, rate)))
    tl.tracks.append(v)
    for start, dur, text in markers:
        tl.tracks.markers.append(otio.schema.Marker(name="m" if text.strip() else "", marked_range=rates.time_range(start, dur, rate),
                                                    comment=text))
    p = tmp_path / "fits.otio"
    otio.adapters.write_to_file(tl, str(p))
    return p


def test_impossible_fits_are_reported_not_fatal(tmp_path, renderer, use_renderer, capsys):
    src = _timeline_with(tmp_path, [(10, 3, "This line is far too long for such a tiny slot."),
                                    (60, 300, "Hi."), (400, 30, "   ")])
    report = dub.run(DubOptions(src), renderer)
    short, long_, empty = report.results
    assert short.status == "failed" and "cannot fit" in short.error and "needs at least" in short.error
    assert long_.status == "flagged" and "padded" in long_.warnings[-1]
    assert wav_samples(long_.take) == 480000 == rates.samples(300, Fraction(30), 48000)
    assert empty.status == "skipped"
    placed = takes_on(otio.adapters.read_from_file(str(tmp_path / "fits_dub.otio")), Fraction(30))
    assert [(s, d) for s, d, _ in placed] == [(60, 300)]
    doc = json.loads((tmp_path / "fits_dub_report.json").read_text("utf-8"))
    assert [c["status"] for c in doc["cues"]] == ["failed", "flagged", "skipped"]
    assert doc["cues"][0]["take"] is None and doc["cues"][0]["achieved"] is None
    assert cli.main(["dub", str(src), "--strict"]) == 3  # --strict turns them into an exit status
    assert "c001 failed" in capsys.readouterr().err


def test_a_take_cache_that_is_not_a_folder_is_named_with_the_fix(tmp_path, capsys):
    src = copy("dialogue.srt", tmp_path)
    (tmp_path / "cache").write_text("not a folder", "utf-8")
    assert cli.main(["dub", str(src), "--cache", str(tmp_path / "cache")]) == 5
    err = capsys.readouterr().err
    assert f"cannot use {tmp_path / 'cache'} as the take cache folder" in err and "--no-cache" in err
    assert "Traceback" not in err and sorted(p.name for p in tmp_path.iterdir()) == ["cache", "dialogue.srt"]


def test_a_second_dub_into_the_same_outputs_is_refused_while_the_first_runs(tmp_path, renderer, use_renderer,
                                                                             capsys):
    """Two runs writing one takes folder would number takes over each other, remove each other's
    temporaries as an interrupted run's and list over each other's manifest: the second is refused."""
    from takefit.bridges.dub.takes import claim

    src = copy("dialogue.srt", tmp_path)
    takes = tmp_path / "dialogue_dub_takes"
    partial = tmp_path / ".dialogue_dub.otio.abc123.partial"            # the first run's timeline, being written
    partial.write_text("{", "utf-8")
    first = claim(takes, "dialogue_dub.otio")
    try:
        assert cli.main(["dub", str(src)]) == 5
        err = capsys.readouterr().err
        assert f"another takefit dub (pid {os.getpid()}) is writing" in err and "another -o" in err
        assert partial.exists() and not takes.exists() and not (tmp_path / "dialogue_dub.otio").exists()
    finally:
        first.release()
    partial.unlink()
    assert cli.main(["dub", str(src)]) == 0 and (tmp_path / "dialogue_dub.otio").is_file()


def test_the_dub_locks_of_runs_that_ended_do_not_pile_up(tmp_path, monkeypatch):
    """One lock file per takes folder ever dubbed would pile up in the user's cache: a run removes the ones
    no run holds, and a lock taken on a file removed under it is taken again on the file now there."""
    from takefit.bridges.dub.takes import _is_file_at, _locked, claim

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))      # this test's own cache, counted exactly
    held = claim(tmp_path / "a_takes", "a.otio")
    for name in ("b", "c", "d"):
        claim(tmp_path / f"{name}_takes", f"{name}.otio").release()
    mine = claim(tmp_path / "e_takes", "e.otio")
    locks = tmp_path / "cache" / "takefit" / "dub-locks"
    assert sorted(locks.glob("*.lock")) == sorted([held.path, mine.path])   # b, c, d gone; a (held) and e stay
    mine.path.unlink()                                                  # removed under its holder …
    again = _locked(mine.path)                                          # … the file now there is free to take
    assert again is not None and mine.path.exists()
    assert _is_file_at(again, mine.path) and not _is_file_at(mine, mine.path)   # what _locked checks
    for lock in (held, mine, again):
        lock.release()


def test_unwritable_output_fails_before_rendering(tmp_path, renderer, use_renderer, capsys):
    src = copy("dialogue.srt", tmp_path)
    runs = CountingRenderer.engine_runs
    assert cli.main(["dub", str(src), "-o", str(tmp_path / "missing" / "out.otio")]) == 5
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "x_takes").write_text("in the way", "utf-8")
    assert cli.main(["dub", str(src), "-o", str(tmp_path / "x.otio")]) == 5
    assert CountingRenderer.engine_runs == runs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dialogue.srt", "x_takes"]


def test_a_failing_writer_leaves_no_timeline(tmp_path, renderer, monkeypatch):
    src = copy("ntsc_dialogue.xml", tmp_path)
    real = formats.to_string

    def failing(obj, fmt):
        if fmt == "fcp_xml":
            raise OutputError("the fcp_xml writer failed: simulated")
        return real(obj, fmt)

    monkeypatch.setattr(formats, "to_string", failing)
    with pytest.raises(OutputError, match="simulated"):
        dub.run(DubOptions(src), renderer)
    names = {p.name for p in tmp_path.iterdir()}
    assert "ntsc_dialogue_dub.xml" not in names and "ntsc_dialogue_dub.otio" not in names
    assert not [n for n in names if n.endswith(".partial")]


# ------------------------------------------------------------------ file modes (#21.8)
@pytest.mark.parametrize("mask, shared", [(0o022, 0o644), (0o002, 0o664)])
def test_outputs_honour_the_umask_and_voice_profiles_stay_private(tmp_path, renderer, use_renderer, mask, shared):
    import numpy as np

    from takefit.engine.profiles import Profile, ProfileStore

    src = copy("dialogue.srt", tmp_path)
    old = os.umask(mask)
    try:
        assert cli.main(["dub", str(src)]) == 0
        profile = Profile(name="modes", table=np.zeros((510, 256), np.float32), pitch_ratio=1.0, base_voice="af_heart",
                          language="en", quality="fast", reference_sha256="0" * 64, consent="test", created="2026")
        saved = ProfileStore(tmp_path / "voices").save(profile)
    finally:
        os.umask(old)
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p != src and "voices" not in p.parts]
    assert {p.suffix for p in written} >= {".wav", ".otio", ".srt", ".json"}
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in written} == {p.name: oct(shared) for p in written}
    assert saved.stat().st_mode & 0o777 == 0o600
