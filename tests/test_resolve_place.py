"""The Resolve bridge against the stand-in (tests/resolve_standin.py), with a stand-in daemon client:
every take at its exact frame with its exact length, whatever the rate, the start timecode, the
endFrame convention; replace in place; skipped and refused cues; the dialog; the OTIO round trip.

The real daemon is exercised in test_resolve_daemon.py; here the client hands back silent takes of
exactly the requested length, through the same worker code (cast, take folder, WAV writing)."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import resolve_standin as rs
from takefit.bridges.resolve import api, dub, frames as fr, ui, worker
from takefit.engine.cache import request_key
from takefit.engine.take import Take


class FakeClient:
    """takefit.daemon.Client's render/voices/hello, answering at once with silent exact-length takes."""

    endpoint = "fake://daemon"
    renders: list = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def close(self):
        pass

    server = {"version": "test", "protocol": 1}

    def health(self):
        return {"engine": "ready"}

    def voices(self, language=None):
        return [{"name": "af_heart"}, {"name": "am_michael"}, {"name": "zf_xiaobei"}]

    def render(self, req, inline=False, progress=None, **kw):
        natural = 0.05 * len(req.text) + 0.3
        n = req.target.samples(req.sample_rate, natural) or int(natural * req.sample_rate)
        FakeClient.renders.append(req)
        buf = io.BytesIO()
        sf.write(buf, np.full(n, 0.01, np.float32), req.sample_rate, subtype="PCM_24", format="WAV")
        return Take(None, req.sample_rate, natural, n / req.sample_rate / natural, "model",
                    req.voice if req.voice != "auto" else "af_heart", [], [], text=req.text, samples=n,
                    wav=buf.getvalue(), key=request_key(req), job="j")


@pytest.fixture
def fake_daemon(monkeypatch):
    FakeClient.renders = []
    monkeypatch.setattr(worker, "client_for", lambda job, timeout=None: FakeClient())
    return FakeClient


@pytest.fixture
def opts(tmp_path, monkeypatch):
    monkeypatch.setenv("TAKEFIT_RESOLVE_SETTINGS", str(tmp_path / "settings.json"))
    return dub.Options(takes_dir=str(tmp_path / "takes"), worker="inprocess")


def timeline(app, rate="25", start="01:00:00:00", name="Scene 1", drop_setting=None):
    return app.project.new_timeline(name, rate, start, drop_setting)


def assert_exact(tl, report, markers):
    """Every marker's take: on a takefit track, at start + offset, as long as the marker, WAV sample-exact."""
    placed = {r["id"]: r for r in report.rows}
    items = [i for t in tl.tracks["audio"] if t.name.startswith("takefit") for i in t.items]
    assert len(items) == len(markers) == len(placed)
    for offset, frames in markers:
        item = next(i for i in items if i.GetStart() == tl.GetStartFrame() + offset)
        assert item.GetDuration() == frames
        path = item.GetMediaPoolItem().GetClipProperty("File Path")
        assert sf.info(path).frames == fr.samples_for(frames, tl.rate)
    for r in report.rows:
        assert r["placed"] == "placed" and r["got_start"] == r["record_frame"] and r["got_frames"] == r["frames"]


RATES = [("23.976", "01:00:00:00", 86400), ("25", "01:00:00:00", 90000), ("29.97 DF", "01:00:00;00", 107892),
         ("29.97", "01:00:00:00", 108000), ("59.94 DF", "01:00:00;00", 215784), ("24", "00:59:50:00", 86160)]


@pytest.mark.parametrize("rate, start, start_frame", RATES)
def test_every_take_at_the_exact_frame_with_the_exact_length(rate, start, start_frame, fake_daemon, opts):
    app = rs.Resolve()
    tl = timeline(app, rate, start)
    assert tl.GetStartFrame() == start_frame
    markers = [(0, 48), (97, 61), (203, 77), (260, 30)]     # 203 + 77 overlaps 260: a second lane
    for i, (offset, frames) in enumerate(markers):
        tl.AddMarker(float(offset), "Blue", "Marker {}".format(i + 1), "Line number {}.".format(i + 1), frames)
    report = dub.dub(app, opts)
    assert_exact(tl, report, markers)
    # what was asked of Resolve: absolute recordFrame, 1-based audio track, audio only, 24 fps clip frames
    calls = [c[0] for c in app.appends]
    for (offset, frames), info in zip(markers, sorted(calls, key=lambda c: c["recordFrame"])):
        assert info["recordFrame"] == start_frame + offset
        assert info["mediaType"] == 2 and info["startFrame"] == 0
        assert info["trackIndex"] >= 2                       # Audio 1 is the editor's; takefit added after it
        # exact from the take's samples (whole samples: within half a sample of frames / rate × 24)
        assert info["endFrame"] == pytest.approx(float(fr.timeline_to_clip(frames, tl.rate, 24)), abs=24 / 48000)
    names = [t.name for t in tl.tracks["audio"]]
    assert names == ["Audio 1", "takefit", "takefit 2"]
    assert [r["track"] for r in report.rows] == ["takefit", "takefit", "takefit", "takefit 2"]
    # the takes are in the media pool bin "takefit"
    bins = app.project.pool.root.GetSubFolderList()
    assert [b.GetName() for b in bins] == ["takefit"] and len(bins[0].GetClipList()) == 4


def test_drop_frame_from_the_separate_setting(fake_daemon, opts):
    app = rs.Resolve()
    tl = timeline(app, "29.97", "01:00:00;00", drop_setting="1")
    assert tl.GetStartFrame() == 107892
    tl.AddMarker(30.0, "Blue", "Marker 1", "Hello.", 45)
    report = dub.dub(app, opts)
    assert report.drop and report.start == 107892
    assert_exact(tl, report, [(30, 45)])
    assert report.lines()[1].split()[1] == "01:00:01;00"


@pytest.mark.parametrize("knobs", [dict(end_inclusive=True, beyond_media="refuse"), dict(end_inclusive=True),
                                   dict(float_frames=False), dict(wav_fps="25"), dict(wav_fps="23.976")])
def test_end_frame_conventions_are_read_back_and_corrected(knobs, fake_daemon, opts):
    app = rs.Resolve(**knobs)
    tl = timeline(app, "29.97 DF", "01:00:00;00")
    markers = [(k * 90, 41 + 13 * k) for k in range(5)]
    for k, (offset, frames) in enumerate(markers):
        tl.AddMarker(float(offset), "Green", "M", "Line {}.".format(k), frames)
    report = dub.dub(app, opts)
    assert_exact(tl, report, markers)
    if knobs == dict(end_inclusive=True, beyond_media="refuse"):
        assert any("inclusively" in n for n in report.notes)


def test_an_unreachable_length_is_placed_closest_and_reported(fake_daemon, opts):
    # whole clip frames only, none past the media's end: at 50 fps a 41-frame take (19.68 clip frames at 24)
    # can be 40 frames at best
    app = rs.Resolve(float_frames=False, beyond_media="refuse")
    tl = timeline(app, "50")
    tl.AddMarker(0.0, "Blue", "M", "Hello there.", 41)
    report = dub.dub(app, opts)
    (row,) = report.rows
    assert row["placed"] == "inexact" and row["got_frames"] == 40 and "trim it by hand" in row["error"]
    assert report.failed and "INEXACT" in "\n".join(report.lines())


def test_marker_with_empty_note_is_skipped_and_reported(fake_daemon, opts):
    app = rs.Resolve()
    tl = timeline(app)
    tl.AddMarker(10.0, "Blue", "Marker 1", "Say this.", 50)
    tl.AddMarker(100.0, "Red", "Marker 2", "", 50)
    tl.AddMarker(200.0, "Red", "Marker 3", "   ", 50)
    report = dub.dub(app, opts)
    assert [r["id"] for r in report.rows] == ["c001"]
    assert len(tl.audio_items("takefit")) == 1
    assert [o for o, _ in report.skipped] == ["timeline marker 'Marker 2' at 01:00:04:00",
                                              "timeline marker 'Marker 3' at 01:00:08:00"]
    assert all("empty note" in why for _, why in report.skipped)
    text = "\n".join(report.lines())
    assert "skipped timeline marker 'Marker 2' at 01:00:04:00: empty note" in text
    assert "1 placed, 2 skipped" in report.summary_line()


def test_clip_markers_and_subtitles(fake_daemon, opts):
    app = rs.Resolve()
    tl = timeline(app, "25")
    clip = tl.add_clip("video", 1, "A001.mov", start_offset=100, duration=200, left_offset=40)
    clip.AddMarker(60, "Yellow", "m", "From a clip marker.", 25)     # media frame 60 → timeline 100 + 20
    clip.AddMarker(10, "Yellow", "m", "Trimmed away.", 5)            # before the used part of the media
    tl.add_subtitle(1, "From a subtitle.", 400, 50)
    opts.sources = ("markers", "clip_markers", "subtitles")
    report = dub.dub(app, opts)
    assert [(r["start"], r["frames"], r["text"]) for r in report.rows] == [
        (120, 25, "From a clip marker."), (400, 50, "From a subtitle.")]
    assert_exact(tl, report, [(120, 25), (400, 50)])
    # a second run does not read takefit's own tag markers (on the takes) as cues
    again = dub.dub(app, opts)
    assert [r["placed"] for r in again.rows] == ["unchanged", "unchanged"]


def test_tags_and_cast_apply(fake_daemon, opts, tmp_path):
    cast = tmp_path / "takefit.cast.toml"
    cast.write_text('[characters.alice]\nvoice = "af_heart"\n[characters.bob]\nvoice = "am_michael"\n'
                    '[colors]\nred = "bob"\n', "utf-8")
    app = rs.Resolve()
    tl = timeline(app)
    tl.AddMarker(0.0, "Blue", "M", "[alice | angry 0.7] You dare?", 40)
    tl.AddMarker(50.0, "Red", "M", "Red means Bob.", 40)
    opts.cast = str(cast)
    report = dub.dub(app, opts)
    assert [(r["character"], r["voice"], r["text"]) for r in report.rows] == [
        ("alice", "af_heart", "You dare?"), ("bob", "am_michael", "Red means Bob.")]
    assert [r.voice for r in fake_daemon.renders] == ["af_heart", "am_michael"]


def test_rerun_leaves_unchanged_takes_alone(fake_daemon, opts):
    app = rs.Resolve()
    tl = timeline(app)
    tl.AddMarker(0.0, "Blue", "M", "One.", 40)
    tl.AddMarker(50.0, "Blue", "M", "Two.", 40)
    dub.dub(app, opts)
    items = tl.audio_items("takefit")
    again = dub.dub(app, opts)
    assert [r["placed"] for r in again.rows] == ["unchanged", "unchanged"]
    assert tl.audio_items("takefit") == items
    assert len(app.project.pool.root.GetSubFolderList()[0].GetClipList()) == 2


def test_rerender_selected_replaces_in_place(fake_daemon, opts):
    app = rs.Resolve()
    tl = timeline(app, "29.97 DF", "01:00:00;00")
    tl.AddMarker(48.0, "Blue", "Marker 1", "First version.", 60)
    tl.AddMarker(200.0, "Blue", "Marker 2", "Other line.", 40)
    dub.dub(app, opts)
    before = {i.GetStart(): (i.GetDuration(), i.GetName()) for i in tl.audio_items("takefit")}
    tl.markers[48.0]["note"] = "Second version, changed."
    tl.SetCurrentTimecode(fr.frame_to_timecode(107892 + 70, tl.rate, True))   # the playhead inside marker 1
    fake_daemon.renders.clear()
    report = dub.dub(app, opts, selected=True)
    assert [r.text for r in fake_daemon.renders] == ["Second version, changed."]     # only that cue rendered
    (row,) = report.rows
    assert row["id"] == "c001" and row["placed"] == "replaced"
    after = {i.GetStart(): (i.GetDuration(), i.GetName()) for i in tl.audio_items("takefit")}
    assert len(after) == 2 and set(after) == set(before)                          # nothing stacked
    assert after[107892 + 48] == (60, "Scene-1_c001_default_t2.wav")              # same frame, same length
    assert after[107892 + 200] == before[107892 + 200]                            # the other take untouched
    assert tl.tracks["audio"][1].name == "takefit" and len(tl.tracks["audio"]) == 2


def test_rerender_with_the_playhead_off_any_cue(fake_daemon, opts):
    app = rs.Resolve()
    tl = timeline(app)
    tl.AddMarker(48.0, "Blue", "M", "Line.", 20)
    tl.SetCurrentTimecode("01:00:10:00")
    with pytest.raises(api.BridgeError, match="not on a cue"):
        dub.dub(app, opts, selected=True)
    assert fake_daemon.renders == [] and len(tl.tracks["audio"]) == 1


def test_no_daemon_is_a_clear_message_and_nothing_is_placed(opts, tmp_path, monkeypatch):
    monkeypatch.setenv("TAKEFIT_DAEMON_HOME", str(tmp_path / "no-daemon-here"))
    monkeypatch.delenv("TAKEFIT_DAEMON_ENDPOINT", raising=False)
    app = rs.Resolve()
    tl = timeline(app)
    tl.AddMarker(48.0, "Blue", "M", "Line.", 20)
    with pytest.raises(api.NoDaemon) as e:
        dub.dub(app, opts)
    msg = str(e.value)
    assert "daemon is not running" in msg and "takefit daemon start" in msg and "Nothing was placed" in msg
    assert app.appends == [] and len(tl.tracks["audio"]) == 1 and app.project.pool.root.GetSubFolderList() == []


def test_resolve_before_18_5_is_told_why(fake_daemon, opts):
    app = rs.Resolve(version=(18, 1, 4))
    tl = timeline(app)
    tl.AddMarker(48.0, "Blue", "M", "Line.", 20)
    with pytest.raises(api.TooOld, match=r"18\.5 or later; this is 18\.1\.4.*trackIndex.*recordFrame"):
        dub.dub(app, opts)
    assert app.appends == []


def test_no_cues_is_said_plainly(fake_daemon, opts):
    app = rs.Resolve()
    timeline(app)
    report = dub.dub(app, opts)
    assert report.rows == [] and "no cues on this timeline" in report.notes[0]


# ------------------------------------------------------------------ the dialog and the console
def test_dialog_with_uimanager(fake_daemon, opts, monkeypatch):
    manager = rs.UIManager(script=[("Dub", "Clicked"), ("CloseButton", "Clicked")])
    app = rs.Resolve(ui=manager)
    tl = timeline(app)
    tl.AddMarker(48.0, "Blue", "M", "From the dialog.", 30)
    lines = []
    code = ui.dub_dialog(app, opts, api.uimanager(app), {"bmd": rs.bmd}, ui.Console(lines.append))
    assert code == 0
    win = manager.windows[0]
    items = win.GetItems()
    assert items["Track"].Text == "takefit" and items["src_markers"].Checked and not items["src_subtitles"].Checked
    assert "1 placed" in items["Progress"].Text and "From the dialog." in items["Log"].PlainText
    assert len(tl.audio_items("takefit")) == 1
    assert dub.load_settings("Dub test")["track_name"] == "takefit"      # remembered for the next run


def test_dialog_deliver_to_sets_levels_and_remembers_them(fake_daemon, opts, monkeypatch):
    """"Deliver to" lists the launcher config's specs (install.config, from engine.delivery_specs): picking
    Netflix renders at -27 LUFS under -2 dBTP, and the next dialog opens on it."""
    from takefit.bridges.resolve import install

    opts.deliveries = tuple(tuple(d) for d in install.config()["deliveries"])
    labels = [label for label, *_ in ui.level_choices(opts)]
    netflix = next(i for i, label in enumerate(labels) if label.startswith("Netflix"))
    manager = rs.UIManager(script=[("Dub", "Clicked"), ("CloseButton", "Clicked")])
    app = rs.Resolve(ui=manager)
    tl = timeline(app)
    tl.AddMarker(48.0, "Blue", "M", "Deliver this.", 30)
    real_fill = ui._fill_levels

    def fill_then_pick(items, o):
        real_fill(items, o)
        assert items["Delivery"].CurrentText.startswith("EBU R128")    # the defaults, -23 / -1
        items["Delivery"].CurrentIndex = netflix       # the editor picks Netflix
    monkeypatch.setattr(ui, "_fill_levels", fill_then_pick)
    assert ui.dub_dialog(app, opts, api.uimanager(app), {"bmd": rs.bmd}, ui.Console([].append)) == 0
    monkeypatch.setattr(ui, "_fill_levels", real_fill)
    (req,) = fake_daemon.renders
    assert (req.loudness, req.true_peak) == (-27.0, -2.0)
    again = dub.Options(deliveries=opts.deliveries).update(dub.load_settings("Dub test"))
    assert (again.delivery, again.loudness, again.true_peak) == ("netflix", -27.0, -2.0)
    manager2 = rs.UIManager(script=[("CloseButton", "Clicked")])
    ui.dub_dialog(rs.Resolve(ui=manager2), again, manager2, {"bmd": rs.bmd}, ui.Console([].append))
    assert manager2.windows[0].GetItems()["Delivery"].CurrentText.startswith("Netflix")


def test_saved_levels_outside_the_list_are_offered_as_saved(opts):
    opts.update({"loudness": -20.0, "true_peak": -1.5, "delivery": None})
    choices = ui.level_choices(opts)              # an older launcher: no specs in its config
    assert choices[0] == ("As set: -20 LUFS, true peak ≤ -1.5 dBTP", None, -20.0, -1.5)
    assert choices[-1][2] is None                 # the raw level is always there
    opts.update({"loudness": None})
    assert ui.level_choices(opts)[0][1:] == (None, None, -1.5)     # off is remembered, as set
    opts.update({"loudness": "loud", "true_peak": 3.0, "delivery": ["x"]})   # a damaged settings file
    assert (opts.loudness, opts.true_peak, opts.delivery) == (None, -1.5, None)


def test_free_edition_runs_in_the_console(fake_daemon, opts, monkeypatch, capsys):
    app = rs.Resolve(version=(19, 1, 2), studio=False, ui=rs.UIManager())
    assert api.uimanager(app) is None                 # 19.1+ free edition: no UIManager
    tl = timeline(app)
    tl.AddMarker(48.0, "Blue", "M", "From the console.", 30)
    monkeypatch.setattr(dub, "options_for", lambda resolve, config=None: opts)
    from takefit.bridges.resolve import launch

    assert launch.launch("dub", {"resolve": app}, {}) == 0
    out = capsys.readouterr().out
    assert "no UIManager" in out and "takefit Qt panel" in out and "1 placed" in out
    assert len(tl.audio_items("takefit")) == 1


def test_casting_panel_in_the_console(fake_daemon, opts, tmp_path, monkeypatch):
    cast = tmp_path / "takefit.cast.toml"
    cast.write_text('[characters.alice]\nvoice = "af_heart"\n', "utf-8")
    app = rs.Resolve(studio=False)
    tl = timeline(app)
    tl.AddMarker(0.0, "Blue", "M", "[alice] Hi.", 30)
    opts.cast = str(cast)
    lines = []
    assert ui.casting_panel(app, opts, None, {}, ui.Console(lines.append)) == 0
    text = "\n".join(lines)
    assert "alice" in text and "af_heart" in text and "c001 01:00:00:00" in text and "Hi." in text


# ------------------------------------------------------------------ the free-edition path: OTIO out and back
def test_free_edition_otio_round_trip(fake_daemon, opts, tmp_path):
    app = rs.Resolve(studio=False, version=(19, 1, 3))
    tl = timeline(app, "29.97 DF", "01:00:00;00")
    tl.AddMarker(30.0, "Blue", "Marker 1", "Through OTIO.", 45)
    tl.AddMarker(120.0, "Blue", "Marker 2", "", 45)                  # empty note: skipped, not "Marker 2"
    report = dub.dub_via_otio(app, opts, workdir=str(tmp_path / "otio"))
    assert report.new_timeline == "Scene 1 (takefit)"
    new = app.project.timelines[-1]
    assert new.GetName() == "Scene 1 (takefit)" and new.GetStartFrame() == 107892
    (take,) = new.audio_items("takefit")
    assert (take.GetStart(), take.GetDuration()) == (107892 + 30, 45)
    assert sf.info(take.GetMediaPoolItem().GetClipProperty("File Path")).frames == fr.samples_for(45, tl.rate)
    assert [t.text for t in fake_daemon.renders] == ["Through OTIO."]
    assert any("Marker 2" in s for _, s in report.skipped)
    assert tl.audio_items("takefit") == []                         # the source timeline is untouched


# ------------------------------------------------------------------ `takefit resolve dub` / `otio` (external scripting)
@pytest.fixture
def studio(monkeypatch, tmp_path):
    """A running "Resolve Studio" reachable through DaVinciResolveScript.scriptapp, as external scripts see it."""
    import sys
    import types

    app = rs.Resolve()
    module = types.ModuleType("DaVinciResolveScript")
    module.scriptapp = lambda name: app if name == "Resolve" else None
    monkeypatch.setitem(sys.modules, "DaVinciResolveScript", module)
    monkeypatch.setenv("TAKEFIT_RESOLVE_SETTINGS", str(tmp_path / "settings.json"))
    return app


def test_cli_dub_list_and_selected(studio, fake_daemon, tmp_path, capsys):
    import json

    from takefit.bridges.cli import main

    tl = timeline(studio, "23.976")
    tl.AddMarker(24.0, "Blue", "Marker 1", "[bob] First.", 30)
    tl.AddMarker(100.0, "Blue", "Marker 2", "", 30)
    assert main(["resolve", "dub", "--list"]) == 0
    out = capsys.readouterr().out
    assert "c001 01:00:01:00   30f bob/auto  First." in out and "skipped timeline marker 'Marker 2'" in out
    takes = tmp_path / "cli-takes"
    assert main(["resolve", "dub", "--takes-dir", str(takes), "--json", "--no-autostart"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["start_frame"] == 86400 and doc["cues"][0]["placed"] == "placed"
    assert doc["cues"][0]["record_frame"] == 86424 and doc["cues"][0]["got_frames"] == 30
    assert Path(doc["cues"][0]["path"]).parent == takes
    tl.SetCurrentTimecode("01:00:01:05")
    assert main(["resolve", "dub", "--selected", "--no-autostart"]) == 0       # the takes dir was remembered
    assert "unchanged" in capsys.readouterr().out


def test_cli_dub_without_daemon(studio, tmp_path, monkeypatch, capsys):
    from takefit.bridges.cli import main

    monkeypatch.setenv("TAKEFIT_DAEMON_HOME", str(tmp_path / "nothing"))
    monkeypatch.delenv("TAKEFIT_DAEMON_ENDPOINT", raising=False)
    tl = timeline(studio)
    tl.AddMarker(24.0, "Blue", "Marker 1", "Hi.", 30)
    assert main(["resolve", "dub", "--no-autostart"]) == 5
    assert "the takefit daemon is not running" in capsys.readouterr().err
    assert studio.appends == []


def test_cli_without_resolve(monkeypatch, capsys):
    import sys
    import types

    from takefit.bridges.cli import main

    module = types.ModuleType("DaVinciResolveScript")
    module.scriptapp = lambda name: None                   # free edition, or external scripting off
    monkeypatch.setitem(sys.modules, "DaVinciResolveScript", module)
    assert main(["resolve", "dub"]) == 2
    assert "External scripting" in capsys.readouterr().err


def test_cli_otio_by_hand(fake_daemon, tmp_path, capsys):
    """Free edition without scripting: File › Export › Timeline (OTIO) → takefit resolve otio → import."""
    import opentimelineio as otio

    from takefit.bridges.cli import main

    app = rs.Resolve(studio=False)
    tl = timeline(app, "25")
    tl.AddMarker(10.0, "Blue", "Marker 1", "By hand.", 50)
    tl.AddMarker(80.0, "Blue", "Marker 2", "", 20)
    exported = tmp_path / "Scene 1.otio"
    assert tl.Export(str(exported), app.EXPORT_OTIO)
    assert main(["resolve", "otio", str(exported)]) == 0
    out = tmp_path / "Scene 1_dub.otio"
    assert str(out) in capsys.readouterr().out
    dubbed = otio.adapters.read_from_file(str(out))
    track = next(t for t in dubbed.tracks if t.name == "takefit")
    clips = [c for c in track if isinstance(c, otio.schema.Clip)]
    assert len(clips) == 1 and track.range_of_child(clips[0]).start_time.value == 10
    assert clips[0].metadata["takefit"]["text"] == "By hand."


def test_rerender_from_the_take_of_a_point_marker(fake_daemon, opts):
    app = rs.Resolve()
    tl = timeline(app)
    tl.AddMarker(48.0, "Blue", "Marker 1", "A point marker line.", 1)      # 1 frame: natural length
    dub.dub(app, opts)
    (take,) = tl.audio_items("takefit")
    assert take.GetDuration() > 10
    tl.markers[48.0]["note"] = "A changed point marker line."
    tl.SetCurrentTimecode(fr.frame_to_timecode(take.GetStart() + 8, tl.rate))   # on the take, past the marker
    report = dub.dub(app, opts, selected=True)
    assert [(r["id"], r["placed"]) for r in report.rows] == [("c001", "replaced")]
    (new,) = tl.audio_items("takefit")
    assert new.GetStart() == take.GetStart() and new.GetName().endswith("_t2.wav")


def test_subtitle_with_two_named_speakers_is_two_takes(fake_daemon, opts, tmp_path):
    """SDH subtitles name who speaks: a Resolve subtitle in which two characters take turns becomes one
    take per turn, each in its character's voice at its share of the slot (as `takefit dub` reads an
    SRT), keyed apart so that a second run leaves both alone and neither is reported stale."""
    cast = tmp_path / "takefit.cast.toml"
    cast.write_text('[characters.john]\nvoice = "am_michael"\n[characters.mary]\nvoice = "af_heart"\n', "utf-8")
    app = rs.Resolve()
    tl = timeline(app, "25")
    turns = tl.add_subtitle(1, "JOHN: Where were you?\nMARY: Out.", 100, 60)
    tl.add_subtitle(1, "A line nobody is named for.", 300, 50)
    opts.sources, opts.cast = ("subtitles",), str(cast)
    report = dub.dub(app, opts)
    rows = [(r["start"], r["frames"], r["character"], r["voice"], r["text"]) for r in report.rows]
    assert [r[2:] for r in rows] == [("john", "am_michael", "Where were you?"), ("mary", "af_heart", "Out."),
                                     ("", "af_heart", "A line nobody is named for.")]
    (s1, f1), (s2, f2) = [r[:2] for r in rows[:2]]
    assert s1 == 100 and s2 == s1 + f1 and s2 + f2 == 160 and f1 > f2     # the slot shared by the lines' length
    assert len({r["key"] for r in report.rows}) == 3
    assert_exact(tl, report, [(100, f1), (s2, f2), (300, 50)])
    again = dub.dub(app, opts)
    assert [r["placed"] for r in again.rows] == ["unchanged"] * 3
    assert not [n for n in again.notes if "no longer matches" in n]
    turns.name = "JOHN: Where were you?\nMARY: Out, with Bob."     # Mary's line edited
    tl.SetCurrentTimecode(fr.frame_to_timecode(tl.GetStartFrame() + 150, tl.rate, False))   # on Mary's turn
    fake_daemon.renders.clear()
    rerun = dub.dub(app, opts, selected=True)
    assert [(r["character"], r["placed"]) for r in rerun.rows] == [("john", "replaced"), ("mary", "replaced")]
    assert [r.text for r in fake_daemon.renders] == ["Where were you?", "Out, with Bob."]   # that subtitle only
