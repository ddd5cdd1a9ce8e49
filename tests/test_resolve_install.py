"""`takefit resolve install|uninstall`: the launchers land in Resolve's per-OS Scripts folders (tested
against temporary folders for every layout), carry what they need to find takefit, and run."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from takefit.bridges.cli import main
from takefit.bridges.resolve import install
from takefit.engine.errors import OutputError

HERE = Path(__file__).parent
NAMES = {("Edit", "takefit – Dub timeline.py"), ("Edit", "takefit – Re-render selected cue.py"),
         ("Utility", "takefit – Open casting panel.py")}


def layout(tmp_path, os_name, scope):
    """(env, home, destdir, the Scripts folder Resolve reads) for one OS layout under tmp_path."""
    home = tmp_path / "home"
    env = {"APPDATA": str(tmp_path / "AppData" / "Roaming"), "PROGRAMDATA": str(tmp_path / "ProgramData")}
    destdir = str(tmp_path / "root")
    expected = {
        ("macos", "user"): home / "Library/Application Support/Blackmagic Design/DaVinci Resolve/Fusion/Scripts",
        ("macos", "system"): Path(destdir) / "Library/Application Support/Blackmagic Design/DaVinci Resolve/Fusion/Scripts",
        ("windows", "user"): tmp_path / "AppData/Roaming/Blackmagic Design/DaVinci Resolve/Support/Fusion/Scripts",
        ("windows", "system"): Path(destdir, env["PROGRAMDATA"].lstrip("/"), "Blackmagic Design/DaVinci Resolve/Fusion/Scripts"),
        ("linux", "user"): home / ".local/share/DaVinciResolve/Fusion/Scripts",
        ("linux", "system"): Path(destdir) / "opt/resolve/Fusion/Scripts",
    }[(os_name, scope)]
    return env, str(home), destdir, expected


@pytest.mark.parametrize("os_name", install.OS_NAMES)
@pytest.mark.parametrize("scope", install.SCOPES)
def test_install_and_uninstall_per_os_layout(os_name, scope, tmp_path):
    env, home, destdir, root = layout(tmp_path, os_name, scope)
    assert install.scripts_dir(os_name, scope, env, home, destdir) == root
    dry = install.install(scope, os_name, env, home, destdir, dry_run=True)
    assert {(a.path.parent.name, a.path.name) for a in dry} == NAMES and not root.exists()
    assert all(a.describe(True).startswith("would write ") for a in dry)

    done = install.install(scope, os_name, env, home, destdir)
    assert [a.path for a in done] == [a.path for a in dry]
    for a in done:
        assert a.path.is_file() and a.path.parent.parent == root
        text = a.path.read_text("utf-8")
        assert install.MARKER in text and install.PLACEHOLDER not in text
        compile(text, str(a.path), "exec")
        assert repr(sys.executable) in text and repr(str(Path(install.__file__).parent)) in text
    # again: replaces its own launchers
    assert all("replacing" in a.note for a in install.install(scope, os_name, env, home, destdir))

    assert [a.kind for a in install.uninstall(scope, os_name, env, home, destdir, dry_run=True)] == ["remove"] * 3
    assert all(a.path.exists() for a in done)
    assert [a.kind for a in install.uninstall(scope, os_name, env, home, destdir)] == ["remove"] * 3
    assert not any(a.path.exists() for a in done)
    assert install.uninstall(scope, os_name, env, home, destdir) == []


def test_linux_iso_install_uses_home_resolve(tmp_path):
    destdir = tmp_path / "root"
    (destdir / "home/resolve").mkdir(parents=True)
    assert install.scripts_dir("linux", "system", {}, str(tmp_path), str(destdir)) == \
        destdir / "home/resolve/Fusion/Scripts"
    (destdir / "opt/resolve").mkdir(parents=True)
    assert install.scripts_dir("linux", "system", {}, str(tmp_path), str(destdir)) == destdir / "opt/resolve/Fusion/Scripts"


def test_someone_elses_file_is_neither_overwritten_nor_removed(tmp_path):
    env, home, destdir, root = layout(tmp_path, "linux", "user")
    mine = root / "Edit" / "takefit – Dub timeline.py"
    mine.parent.mkdir(parents=True)
    mine.write_text("print('not takefit')\n", "utf-8")
    with pytest.raises(OutputError, match="not a takefit launcher"):
        install.install("user", "linux", env, home, destdir)
    actions = install.uninstall("user", "linux", env, home, destdir)
    assert [(a.kind, a.path) for a in actions] == [("keep", mine)]
    assert mine.read_text("utf-8") == "print('not takefit')\n"


@pytest.mark.skipif(os.name == "nt" or os.geteuid() == 0, reason="needs a non-root POSIX user for permissions")
def test_permission_denied_says_what_to_do(tmp_path):
    env, home, destdir, root = layout(tmp_path, "linux", "system")
    root.mkdir(parents=True)
    root.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="--user"):
            install.install("system", "linux", env, home, destdir)
    finally:
        root.chmod(0o700)


def test_cli_dry_run_lists_what_goes_where(tmp_path, capsys):
    assert main(["resolve", "install", "--system", "--os", "macos", "--dry-run", "--destdir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    base = tmp_path / "Library/Application Support/Blackmagic Design/DaVinci Resolve/Fusion/Scripts"
    assert lines == ["would write {}".format(base / sub / name) for sub, name in
                     [("Edit", "takefit – Dub timeline.py"), ("Edit", "takefit – Re-render selected cue.py"),
                      ("Utility", "takefit – Open casting panel.py")]]
    assert not tmp_path.joinpath("Library").exists()


def test_cli_install_and_uninstall(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["resolve", "install", "--os", "linux"]) == 0
    out = capsys.readouterr().out
    assert "wrote {}".format(tmp_path / ".local/share/DaVinciResolve/Fusion/Scripts/Edit/takefit – Dub timeline.py") in out
    assert "restart DaVinci Resolve" in out
    assert main(["resolve", "uninstall", "--os", "linux"]) == 0
    assert capsys.readouterr().out.count("removed ") == 3


def test_installed_launcher_without_a_daemon(tmp_path):
    """In a Python that cannot import takefit: the launcher boots, its worker (takefit's Python) finds no
    daemon, the console says so, nothing is placed."""
    env, home, destdir, root = layout(tmp_path, "linux", "user")
    install.install("user", "linux", env, home, destdir)
    launcher = root / "Edit" / "takefit – Dub timeline.py"
    code = f"""
import sys, runpy
sys.path.insert(0, {str(HERE)!r})
import resolve_standin as rs
app = rs.Resolve()
tl = app.project.new_timeline("Scene 1", "25", "01:00:00:00")
tl.AddMarker(24.0, "Blue", "Marker 1", "Hello.", 40)
runpy.run_path({str(launcher)!r}, init_globals={{"resolve": app}})
print("APPENDS", len(app.appends), "TRACKS", tl.GetTrackCount("audio"), "BINS", len(app.project.pool.root.subfolders))
"""
    run_env = dict(os.environ, TAKEFIT_DAEMON_HOME=str(tmp_path / "no-daemon"), TAKEFIT_RESOLVE_AUTOSTART="0",
                   TAKEFIT_RESOLVE_SETTINGS=str(tmp_path / "settings.json"))
    run_env.pop("TAKEFIT_DAEMON_ENDPOINT", None)
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, env=run_env,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "takefit: error: the takefit daemon is not running: start it with `takefit daemon start`" in out.stdout
    assert "Nothing was placed." in out.stdout
    assert "APPENDS 0 TRACKS 1 BINS 0" in out.stdout


def test_a_launcher_copied_by_hand_says_how_to_install(tmp_path, capsys):
    import runpy

    runpy.run_path(str(Path(install.__file__).with_name("scripts") / "takefit – Dub timeline.py"))
    assert "takefit resolve install" in capsys.readouterr().out
