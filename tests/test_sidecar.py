"""The sidecar `<timeline>.takefit.toml` (#21.3): lines edited and takes picked in the panel persist, and
every reader applies them the same way — `takefit dub` (and --list), the watch folder, Resolve, the panel.

Fast tests read real timeline files and plan without rendering; the slow ones render with the real model
(short lines), through the watch folder and through a real daemon for Resolve.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import time
import tomllib
from pathlib import Path

import pytest
import soundfile as sf

import resolve_standin as rs
from test_daemon_support import daemon  # noqa: F401 (fixture)

from takefit.bridges import cli
from takefit.bridges.dub import pipeline as dub, render
from takefit.bridges.dub.pipeline import DubOptions
from takefit.bridges.panel.session import Session, render_key
from takefit.bridges.resolve import dub as resolve_dub, frames as fr
from takefit.bridges.watch.watcher import Watcher
from takefit.engine.errors import InputError
from takefit.engine.request import MAX_TEXT_CHARS
from takefit.otio_adapters import sidecar

FIXTURES = Path(__file__).parent / "fixtures" / "timelines"


def srt(*cues: tuple[float, float, str]) -> str:
    def ts(t: float) -> str:
        ms = round(t * 1000)
        return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

    return "\n".join(f"{i}\n{ts(a)} --> {ts(b)}\n{text}\n" for i, (a, b, text) in enumerate(cues, 1))


LINES = [(1.0, 2.0, "[alice | happy 0.5] Hello there."), (3.0, 4.5, "Good morning."), (5.0, 6.0, "Bye now.")]


def timeline(folder: Path, lines=LINES, name: str = "scene.srt") -> Path:
    path = folder / name
    path.write_text(srt(*lines), "utf-8")
    return path


def plan(path: Path, **kw) -> dub.Plan:
    return dub.plan(DubOptions(path, rate="25", **kw))


def write_sidecar(tl: Path, body: str) -> Path:
    path = sidecar.path_for(tl)
    path.write_text(body, "utf-8")
    return path


def edit_and_pick(tl: Path) -> Path:
    """The panel's way: open, edit c002, pick take 2 for c001, save."""
    s = Session(rate="25")
    s.open(tl)
    s.set_text("c002", "Good morning, everyone.")
    s.set_pick("c001", 2)
    assert s.save() == [sidecar.path_for(tl)]
    return sidecar.path_for(tl)


# ------------------------------------------------------------------ the file
def test_round_trip_keeps_every_entry_with_a_header_and_the_umask_mode(tmp_path):
    entries = (sidecar.Entry("c002", "Good morning.", "00:00:03:00", text="Good morning, \"all\"\n行不行", take=3),
               sidecar.Entry("c010", "[bob] Bye.", "00:01:00:00", take=2),
               sidecar.Entry("c001", "[alice] Hi.", text="Hello."))
    path = tmp_path / "scene.xml.takefit.toml"
    old = os.umask(0o002)
    try:
        assert sidecar.save(sidecar.Sidecar(path, entries), path, "scene.xml") == path
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o664        # shared storage: the group may write it too
    text = path.read_text("utf-8")
    assert text.startswith("# takefit sidecar for scene.xml") and "`takefit dub --no-sidecar`" in text
    back = sidecar.load(path)
    assert [e.id for e in back.entries] == ["c001", "c002", "c010"]         # in cue order
    assert set(back.entries) == set(entries)
    # an empty sidecar is no file at all
    assert sidecar.save(sidecar.Sidecar(path, ()), path) is None and not path.exists()


def test_the_name_keeps_the_timelines_extension(tmp_path):
    assert sidecar.path_for(tmp_path / "scene.xml").name == "scene.xml.takefit.toml"
    assert sidecar.path_for(tmp_path / "scene.xml") != sidecar.path_for(tmp_path / "scene.srt")


# ------------------------------------------------------------------ applying it where cues are planned
def test_an_edit_replaces_the_spoken_line_keeps_its_tag_and_a_pick_sets_the_variant(tmp_path):
    tl = timeline(tmp_path)
    (tmp_path / "takefit.cast.toml").write_text('[pronunciations]\n"行" = "xíng"\n', "utf-8")
    write_sidecar(tl, '[cues.c001]\nwas = "[alice | happy 0.5] Hello there."\ntext = "Hi, 行不行?"\ntake = 2\n'
                      '[cues.c003]\nwas = "Bye now."\ntext = "[laughs] Bye now."\n')
    p = plan(tl)
    c1, c2, c3 = p.cues
    assert c1.text == "Hi, 行(xíng)不行(xíng)?"           # the cast's pronunciations, as for timeline text
    assert (c1.character, c1.emotion.preset, c1.variant) == ("alice", "happy", 2)   # the tag still applies
    assert c1.raw_text == "[alice | happy 0.5] Hello there."                      # the timeline's, for the report
    assert (c2.text, c2.variant) == ("Good morning.", 1)
    # a bracket opening an edit is not a tag: here a description, not said (otio_adapters/subtitles.py)
    assert (c3.text, c3.character) == ("Bye now.", "")
    assert f"sidecar: 2 edited lines, 1 picked take applied ({sidecar.path_for(tl)})" in p.notes
    assert p.sidecar.to_json()["edited"] == {"c001": "Hi, 行不行?", "c003": "[laughs] Bye now."}


def test_an_inserted_marker_shifts_the_ids_and_the_edit_follows_its_line(tmp_path):
    tl = timeline(tmp_path)
    edit_and_pick(tl)
    tl.write_text(srt((0.2, 0.8, "New first line."), *LINES), "utf-8")    # c001 … c003 become c002 … c004
    p = plan(tl)
    assert [(c.id, c.text, c.variant) for c in p.cues] == [
        ("c001", "New first line.", 1), ("c002", "Hello there.", 2),
        ("c003", "Good morning, everyone.", 1), ("c004", "Bye now.", 1)]
    assert any("c002 follows its line, now c003" in n for n in p.notes)


def test_of_two_lines_with_the_same_words_the_nearest_takes_the_edit(tmp_path):
    tl = timeline(tmp_path, [(1.0, 2.0, "Yes."), (5.0, 6.0, "Yes."), (9.0, 10.0, "Yes.")])
    write_sidecar(tl, '[cues.c009]\nat = "00:00:05:05"\nwas = "Yes."\ntext = "Yes, sir."\n')
    assert [c.text for c in plan(tl).cues] == ["Yes.", "Yes, sir.", "Yes."]


def test_a_line_changed_on_the_timeline_wins_and_the_entry_is_named_stale(tmp_path):
    tl = timeline(tmp_path)
    edit_and_pick(tl)
    tl.write_text(srt(LINES[0], (3.0, 4.5, "Good evening."), LINES[2]), "utf-8")
    p = plan(tl)
    assert [c.text for c in p.cues] == ["Hello there.", "Good evening.", "Bye now."]
    assert p.cues[0].variant == 2                                            # the other entry still applies
    assert ("sidecar: c002 'Good morning.' edited in the panel: the timeline's line changed since (now "
            "'Good evening.'); the timeline's text is used — re-edit it in the panel or delete the entry") in p.notes
    assert p.sidecar.to_json()["stale"] == ["c002"]


def test_no_sidecar_ignores_it_and_says_so(tmp_path):
    tl = timeline(tmp_path)
    path = edit_and_pick(tl)
    p = plan(tl, no_sidecar=True)
    assert [(c.text, c.variant) for c in p.cues][:2] == [("Hello there.", 1), ("Good morning.", 1)]
    assert p.notes[-1].startswith(f"sidecar {path} ignored (--no-sidecar)")


# ------------------------------------------------------------------ bad files
@pytest.mark.parametrize("body, expected", [
    ('[cues.c002\nwas = "x"\n', "is not valid TOML: Expected ']' at the end of a table declaration (at line 1"),
    ('# header\n\n[cues.c002]\nwas = "Good morning."\ntake = 0\n',
     "line 3: [cues.c002] take = 0: accepted a whole number 1 to 99"),
    ('[cues.c002]\nwas = "Good morning."\ntake = 100\n', "take = 100: accepted a whole number 1 to 99"),
    ('[cues.c002]\nwas = "Good morning."\ntake = "2"\n', "take = '2': accepted a whole number 1 to 99"),
    ('[cues.c002]\nwas = "Good morning."\ntake = true\n', "take = True: accepted a whole number"),
    ('[cues.c002]\nwas = "Good morning."\ntext = 5\n', "[cues.c002] text must be the line to say"),
    ('[cues.c002]\nwas = "Good morning."\ntext = "  "\n', "[cues.c002] text must be the line to say"),
    ('[cues.c002]\nwas = "Good morning."\ntxt = "Hi"\n',
     "unknown key(s) 'txt' in [cues.c002]: accepted at, was, text, take"),
    ('[cues.c002]\ntext = "Hi"\n', "[cues.c002] needs was = "),
    ('[cues.c002]\nwas = "Good morning."\n', "[cues.c002] has neither text nor take"),
    ('[cues.cue2]\nwas = "Good morning."\ntake = 2\n', "a cue id is 'c' and its number"),
    ('casting = 1\n', "unknown key(s) 'casting' in the top level: accepted version, cues"),
    ('version = 2\n', "version = 2: this takefit reads version 1"),
    ('cues = "c002"\n', "'cues' must hold one table per cue"),
    ('[cues.c002]\nwas = "a"\ntake = 2\n[cues.c002]\nwas = "b"\ntake = 3\n', "declare ('cues', 'c002') twice"),
])
def test_a_bad_sidecar_stops_the_run_naming_the_file_the_entry_and_the_fix(tmp_path, body, expected):
    tl = timeline(tmp_path)
    path = write_sidecar(tl, body)
    with pytest.raises(InputError) as e:
        plan(tl)
    msg = str(e.value)
    assert msg.startswith(f"sidecar {path}") and expected in msg, msg
    assert "--no-sidecar" in msg and "docs/cues.md" in msg


def test_limits_on_the_file_and_the_line(tmp_path):
    tl = timeline(tmp_path)
    path = write_sidecar(tl, f'[cues.c002]\nwas = "Good morning."\ntext = "{"a" * (MAX_TEXT_CHARS + 1)}"\n')
    with pytest.raises(InputError, match=f"text is {MAX_TEXT_CHARS + 1} characters; one line may have at most"):
        plan(tl)
    path.write_bytes(b"# " + b"x" * sidecar.MAX_BYTES + b"\n")
    with pytest.raises(InputError, match="is over 4 MiB"):
        plan(tl)
    path.write_bytes(b'[cues.c002]\nwas = "\xff"\ntake = 2\n')
    with pytest.raises(InputError, match="is not UTF-8 text"):
        plan(tl)


def test_the_dub_command_stops_on_a_bad_sidecar_and_runs_with_no_sidecar(tmp_path, capsys):
    tl = timeline(tmp_path)
    write_sidecar(tl, '[cues.c002]\nwas = "Good morning."\ntake = 0\n')
    assert cli.main(["dub", str(tl), "--rate", "25"]) == 2
    err = capsys.readouterr().err
    assert "take = 0" in err and "--no-sidecar" in err
    assert not (tmp_path / "scene_dub.srt").exists()
    with pytest.raises(SystemExit):
        cli.main(["dub", "--help"])
    helptext = " ".join(capsys.readouterr().out.split())
    assert "--no-sidecar ignore INPUT.takefit.toml" in helptext and "fix or delete it, or dub with --no-sidecar" \
        in helptext


# ------------------------------------------------------------------ the panel's session (no Qt)
def test_the_panel_session_loads_edits_picks_saves_and_reloads(tmp_path):
    tl = timeline(tmp_path)
    s = Session(rate="25")
    s.open(tl)
    assert not s.dirty and s.save() == [] and not sidecar.path_for(tl).exists()
    key = render_key(s.rows[0].cue)
    s.set_pick("c001", 2)
    s.set_text("c002", "Good morning, everyone.")
    assert s.rows[0].cue.variant == 2 and render_key(s.rows[0].cue) != key   # another read loses the old take
    assert s.dirty and s.sidecar_dirty and not s.cast_dirty
    with pytest.raises(InputError, match="take = 0"):
        s.set_pick("c001", 0)
    assert s.save() == [sidecar.path_for(tl)] and not s.dirty

    again = Session(rate="25")
    again.open(tl)
    assert again.picks == {"c001": 2} and again.edits == {"c002": "Good morning, everyone."}
    assert [r.cue.text for r in again.rows][1] == "Good morning, everyone." and not again.dirty
    # back to the timeline's own line and the standard read: nothing to keep, the file goes
    again.set_text("c002", "Good morning.")
    again.set_pick("c001", 1)
    assert again.dirty and again.save() == [] and not sidecar.path_for(tl).exists() and not again.dirty


def test_a_drop_frame_timeline_s_entries_are_labelled_as_it_labels_its_frames(tmp_path):
    """Captions at 29.97 drop-frame (SCC): `at` reads as the editor's timecode (`;`) and finds its cue again."""
    tl = tmp_path / "episode.scc"
    shutil.copy(Path(__file__).parent / "fixtures" / "timelines" / "episode.scc", tl)
    s = Session()
    s.open(tl)
    cue = s.rows[0].cue
    s.set_text(cue.id, "Said otherwise.")
    (entry,) = s.sidecar_entries()
    assert entry.at == s.timecode(cue.start) == "01:00:01;00"
    assert sidecar._frame_of(entry.at, cue.rate, s.plan.start) == cue.start
    s.save()
    assert 'at = "01:00:01;00"' in sidecar.path_for(tl).read_text("utf-8")
    again = Session()
    again.open(tl)
    assert again.rows[0].cue.text == "Said otherwise." and not again.dirty


def test_the_panel_keeps_stale_entries_and_its_dub_plan_records_the_sidecar(tmp_path):
    tl = timeline(tmp_path)
    edit_and_pick(tl)
    tl.write_text(srt(LINES[0], (3.0, 4.5, "Good evening."), LINES[2]), "utf-8")
    s = Session(rate="25")
    s.open(tl)
    assert [e.id for e in s.stale] == ["c002"] and any("c002 'Good morning.' edited" in n for n in s.plan.notes)
    assert s.rows[1].cue.text == "Good evening."
    s.set_text("c003", "Bye-bye.")
    s.save()
    doc = tomllib.loads(sidecar.path_for(tl).read_text("utf-8"))["cues"]
    assert doc["c002"]["was"] == "Good morning." and doc["c003"]["text"] == "Bye-bye."
    assert s.dub_plan().sidecar.to_json()["edited"] == {"c003": "Bye-bye."}


# ------------------------------------------------------------------ rendering (the real model)
class Recording(render.InProcessRenderer):
    """The in-process renderer, keeping every request it was given."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.requests = []

    def render(self, request, progress=None):
        self.requests.append(request)
        return super().render(request, progress)


@pytest.fixture(scope="module")
def renderer(engine, tmp_path_factory):
    from takefit.engine.cache import TakeCache

    return Recording(engine=engine, cache=TakeCache(tmp_path_factory.mktemp("take-cache")))


@pytest.mark.slow
def test_dub_speaks_the_edited_line_and_renders_the_picked_take(tmp_path, renderer, monkeypatch, capsys):
    tl = Path(shutil.copy(FIXTURES / "dialogue.srt", tmp_path / "dialogue.srt"))
    path = edit_and_pick(tl)
    report = dub.run(DubOptions(tl, rate="25"), renderer).to_json()
    by_id = {c["id"]: c for c in report["cues"]}
    asked = {r.text: r for r in renderer.requests}
    assert by_id["c002"]["text"] == "Good morning, everyone." and by_id["c002"]["raw_text"] == "<i>Good morning.</i>"
    assert asked["Good morning, everyone."].variant == 1 and asked["Hello there."].variant == 2
    assert report["sidecar"] == {"path": str(path), "ignored": False, "edited": {"c002": "Good morning, everyone."},
                                 "picked": {"c001": 2}, "moved": {}, "stale": []}
    assert sf.info(by_id["c002"]["take"]).frames == by_id["c002"]["requested"]["samples"]

    plain = dub.run(DubOptions(tl, rate="25", no_sidecar=True), renderer).to_json()
    same = {c["id"]: c for c in plain["cues"]}
    # the longer edited line really was spoken: its natural reading is longer than the timeline's
    assert by_id["c002"]["natural_seconds"] > same["c002"]["natural_seconds"] + 0.2
    assert by_id["c001"]["take"] != same["c001"]["take"]                         # take 2 is its own file

    monkeypatch.setattr(render, "make_renderer", lambda **kw: renderer)
    assert cli.main(["dub", str(tl), "--rate", "25", "--list"]) == 0
    out = capsys.readouterr().out
    assert "✎ Good morning, everyone." in out and "[take 2]" in out and "sidecar: 1 edited line" in out


@pytest.mark.slow
def test_the_watch_folder_applies_the_sidecar_dropped_with_its_timeline(tmp_path, renderer):
    w = Watcher(tmp_path / "watch", renderer=renderer, settle=0.5, poll=0.05, rescan=1.0).start()
    try:
        inbox = w.layout.inbox
        write_sidecar(inbox / "lines.srt", '[cues.c001]\nwas = "Hi."\ntext = "Hi there."\n')
        (inbox / "lines.srt").write_text(srt((1.0, 2.0, "Hi.")), "utf-8")
        deadline = time.monotonic() + 120
        while not ((w.layout.done / "lines.srt").exists() and w.idle) and time.monotonic() < deadline:
            time.sleep(0.05)
        report = json.loads((w.layout.outbox / "lines" / "lines_report.json").read_text("utf-8"))
        assert report["cues"][0]["text"] == "Hi there." and report["sidecar"]["edited"] == {"c001": "Hi there."}
        # the sidecar is no input: not dubbed, not failed; it stays for the next drop of its timeline
        assert [p.name for p in inbox.iterdir()] == ["lines.srt.takefit.toml"]
        assert list(w.layout.failed.iterdir()) == [] and [o.name for o in w.history] == ["lines.srt"]
    finally:
        assert w.stop(timeout=60)


# ------------------------------------------------------------------ Resolve (the stand-in)
def resolve_timeline(app):
    tl = app.project.new_timeline("Scene 1", "25", "01:00:00:00")
    for offset, frames, note in [(24, 40, "Hello there."), (100, 48, "Good morning.")]:
        tl.AddMarker(float(offset), "Blue", "Marker", note, frames)
    return tl


def resolve_sidecar(folder: Path) -> Path:
    """Beside the takes folder, named after the timeline as the takes are (a Resolve timeline has no file)."""
    path = folder / "Scene-1.takefit.toml"
    path.write_text('[cues.c002]\nat = "01:00:04:00"\nwas = "Good morning."\ntext = "Good morning, all."\ntake = 2\n'
                    '[cues.c005]\nwas = "Gone."\ntake = 3\n', "utf-8")
    return path


def test_resolve_preview_applies_the_sidecar_beside_its_takes(tmp_path, monkeypatch):
    monkeypatch.setenv("TAKEFIT_RESOLVE_SETTINGS", str(tmp_path / "settings.json"))
    app = rs.Resolve()
    resolve_timeline(app)
    path = resolve_sidecar(tmp_path)
    opts = resolve_dub.Options(takes_dir=str(tmp_path / "takes"), worker="inprocess")
    doc = resolve_dub.preview(app, opts)
    assert [(c["id"], c["text"], c["take"], c["edited"]) for c in doc["cues"]] == [
        ("c001", "Hello there.", 1, False), ("c002", "Good morning, all.", 2, True)]
    assert doc["sidecar"]["path"] == str(path) and doc["sidecar"]["stale"] == ["c005"]
    assert any("c005 'Gone.' take 3 picked in the panel" in n and "there is no cue c005 now" in n
               for n in doc["notes"])


@pytest.mark.slow
def test_resolve_dub_renders_the_edited_line_and_the_picked_take(tmp_path, monkeypatch, daemon):  # noqa: F811
    monkeypatch.setenv("TAKEFIT_RESOLVE_SETTINGS", str(tmp_path / "settings.json"))
    app = rs.Resolve()
    tl = resolve_timeline(app)
    resolve_sidecar(tmp_path)
    opts = resolve_dub.Options(takes_dir=str(tmp_path / "takes"), home=str(daemon.home), worker="inprocess",
                               timeout=60.0)
    report = resolve_dub.dub(app, opts)
    rows = {r["id"]: r for r in report.rows}
    assert [r["placed"] for r in report.rows] == ["placed", "placed"], report.lines()
    assert (rows["c002"]["text"], rows["c002"]["variant"]) == ("Good morning, all.", 2)
    assert (rows["c001"]["text"], rows["c001"]["variant"]) == ("Hello there.", 1)
    assert any(n.startswith("sidecar: 1 edited line, 1 picked take applied") for n in report.notes)
    items = tl.audio_items("takefit")
    assert sf.info(items[1].GetMediaPoolItem().GetClipProperty("File Path")).frames == fr.samples_for(48, tl.rate)

    # the same edited line without the pick is another take: the pick reached the render
    (tmp_path / "Scene-1.takefit.toml").write_text('[cues.c002]\nwas = "Good morning."\ntext = "Good morning, all."\n',
                                                   "utf-8")
    again = {r["id"]: r for r in resolve_dub.dub(app, opts).rows}
    assert (again["c001"]["placed"], again["c002"]["placed"]) == ("unchanged", "replaced")
    assert again["c002"]["variant"] == 1 and again["c002"]["path"] != rows["c002"]["path"]
