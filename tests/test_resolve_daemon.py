"""The Resolve bridge end to end with a real takefit daemon (real model, very short lines): timelines
at 23.976, 25 and 29.97 DF starting at 01:00:00:00 get every take at the exact frame with the exact
length; re-render replaces in place; the free-edition OTIO round trip; the installed launcher running
takefit's worker as a separate process from a Python that cannot import takefit."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

import resolve_standin as rs
from takefit.bridges.resolve import dub, frames as fr, install

HERE = Path(__file__).parent
LINES = [(24, 40, "Hello there."), (100, 48, "Good morning.")]     # (offset, frames, note)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    from takefit.daemon import connect, control
    from takefit.daemon.paths import Dirs

    home = tmp_path_factory.mktemp("daemon")
    dirs = Dirs.resolve(str(home))
    control.start(dirs, ["--bind", "tcp://127.0.0.1:*", "--workers", "1", "--threads", "2"], timeout=120)
    yield str(home)
    connect.stop(dirs, timeout=30)


@pytest.fixture
def opts(daemon, tmp_path, monkeypatch):
    monkeypatch.setenv("TAKEFIT_RESOLVE_SETTINGS", str(tmp_path / "settings.json"))
    return dub.Options(takes_dir=str(tmp_path / "takes"), home=daemon, worker="inprocess", timeout=60.0)


def marked(app, rate, start):
    tl = app.project.new_timeline("Scene 1", rate, start)
    for offset, frames, note in LINES:
        tl.AddMarker(float(offset), "Blue", "Marker", note, frames)
    return tl


def check_exact(tl, report):
    assert [r["placed"] for r in report.rows] == ["placed"] * len(LINES), report.lines()
    items = tl.audio_items("takefit")
    assert [(i.GetStart() - tl.GetStartFrame(), i.GetDuration()) for i in items] == [(o, f) for o, f, _ in LINES]
    for item, (_, frames, _) in zip(items, LINES):
        info = sf.info(item.GetMediaPoolItem().GetClipProperty("File Path"))
        assert (info.frames, info.samplerate) == (fr.samples_for(frames, tl.rate), 48000)


@pytest.mark.slow
@pytest.mark.parametrize("rate, start, start_frame", [("23.976", "01:00:00:00", 86400), ("25", "01:00:00:00", 90000),
                                                      ("29.97 DF", "01:00:00;00", 107892)])
def test_dub_with_the_daemon(rate, start, start_frame, opts):
    app = rs.Resolve()
    tl = marked(app, rate, start)
    assert tl.GetStartFrame() == start_frame
    report = dub.dub(app, opts)
    check_exact(tl, report)
    assert [c[0]["recordFrame"] for c in app.appends] == [start_frame + o for o, _, _ in LINES]


@pytest.mark.slow
def test_rerender_replaces_in_place_with_the_daemon(opts):
    app = rs.Resolve()
    tl = marked(app, "25", "01:00:00:00")
    dub.dub(app, opts)
    first = tl.audio_items("takefit")
    tl.markers[100.0]["note"] = "Good evening."
    tl.SetCurrentTimecode("01:00:04:10")             # frame 110: inside the second marker
    report = dub.dub(app, opts, selected=True)
    assert [(r["id"], r["placed"]) for r in report.rows] == [("c002", "replaced")]
    items = tl.audio_items("takefit")
    assert len(items) == 2 and items[0] is first[0]
    assert (items[1].GetStart(), items[1].GetDuration()) == (90000 + 100, 48)
    assert items[1].GetName().endswith("_c002_default_t2.wav")
    assert sf.info(items[1].GetMediaPoolItem().GetClipProperty("File Path")).frames == fr.samples_for(48, 25)


def test_free_edition_otio_round_trip_with_the_daemon(opts, tmp_path):
    app = rs.Resolve(studio=False, version=(19, 2, 0))
    tl = marked(app, "25", "01:00:00:00")
    report = dub.dub_via_otio(app, opts, workdir=str(tmp_path / "otio"))
    new = app.project.timelines[-1]
    assert report.new_timeline == new.GetName() == "Scene 1 (takefit)"
    assert [(i.GetStart(), i.GetDuration()) for i in new.audio_items("takefit")] == [(90000 + o, f) for o, f, _ in LINES]
    assert tl.audio_items("takefit") == []


def test_installed_launcher_runs_the_worker_in_takefits_python(daemon, tmp_path):
    """Resolve's Python here cannot import takefit (-I -S: no site-packages); the launcher loads only the
    Resolve-side package and runs the worker with the Python the installer recorded."""
    home = tmp_path / "home"
    install.install("user", "linux", env={}, home=str(home))
    launcher = home / ".local/share/DaVinciResolve/Fusion/Scripts/Edit/takefit – Dub timeline.py"
    takes = tmp_path / "takes"
    code = f"""
import sys, runpy
sys.path.insert(0, {str(HERE)!r})
import resolve_standin as rs
app = rs.Resolve()
tl = app.project.new_timeline("Scene 1", "25", "01:00:00:00")
for offset, frames, note in {LINES!r}:
    tl.AddMarker(float(offset), "Blue", "Marker", note, frames)
try:
    import takefit
    raise SystemExit("takefit must not be importable here")
except ImportError:
    pass
runpy.run_path({str(launcher)!r}, init_globals={{"resolve": app}})
print("PLACED", [(i.GetStart(), i.GetDuration()) for i in tl.audio_items("takefit")])
print("HEAVY", [m for m in ("numpy", "zmq", "opentimelineio", "takefit.engine") if m in sys.modules])
"""
    env = dict(os.environ, TAKEFIT_DAEMON_HOME=daemon, TAKEFIT_RESOLVE_AUTOSTART="0",
               TAKEFIT_RESOLVE_SETTINGS=str(tmp_path / "settings.json"))
    env.pop("PYTHONPATH", None)
    (tmp_path / "settings.json").write_text(json.dumps({"last": {"takes_dir": str(takes)}}), "utf-8")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "PLACED [(90024, 40), (90100, 48)]" in out.stdout, out.stdout + out.stderr
    assert "HEAVY []" in out.stdout, out.stdout
    assert sorted(p.name for p in takes.glob("*.wav")) == ["Scene-1_c001_default_t1.wav", "Scene-1_c002_default_t1.wav"]
