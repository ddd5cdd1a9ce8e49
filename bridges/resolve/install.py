"""`takefit resolve install|uninstall`: the launchers into Resolve's Fusion/Scripts folders.

Resolve lists the scripts it finds there under Workspace › Scripts (scripting README: "On startup,
DaVinci Resolve scans the subfolders in the directories shown below and enumerates the scripts found
in the Workspace application menu under Scripts. Place your script under Utility to be listed in all
pages, … or under folders for individual pages (Edit, Color or Deliver)"):

    macOS    all users      /Library/Application Support/Blackmagic Design/DaVinci Resolve/Fusion/Scripts
             this user      ~/Library/Application Support/Blackmagic Design/DaVinci Resolve/Fusion/Scripts
    Windows  all users      %PROGRAMDATA%\\Blackmagic Design\\DaVinci Resolve\\Fusion\\Scripts
             this user      %APPDATA%\\Blackmagic Design\\DaVinci Resolve\\Support\\Fusion\\Scripts
    Linux    all users      /opt/resolve/Fusion/Scripts  (/home/resolve/Fusion/Scripts on ISO installs)
             this user      ~/.local/share/DaVinciResolve/Fusion/Scripts

(The README writes the Windows user folder as "%APPDATA%\\Roaming\\Blackmagic Design\\…", but
%APPDATA% already is …\\AppData\\Roaming: the folder is %APPDATA%\\Blackmagic Design\\….)

"Dub timeline" and "Re-render selected cue" go under Edit (they work on the Edit page's timeline);
"Open casting panel" under Utility (every page). Resolve reads the folders at startup: restart it
after installing.

Each installed launcher carries its TAKEFIT config: takefit's own Python (which runs the worker as a
separate process, so Resolve's Python — any version — never imports takefit's compiled
dependencies) and the folders of takefit's Resolve-side package (standard library code).
"""
from __future__ import annotations

import os
import pprint
import sys
from dataclasses import dataclass
from pathlib import Path

from takefit.engine.errors import InputError, OutputError

# (action, file name, Scripts subfolder)
LAUNCHERS = (
    ("dub", "takefit – Dub timeline.py", "Edit"),
    ("rerender", "takefit – Re-render selected cue.py", "Edit"),
    ("cast", "takefit – Open casting panel.py", "Utility"),
)
MARKER = "# takefit-resolve-launcher"
PLACEHOLDER = "TAKEFIT = {}  # @TAKEFIT@"
OS_NAMES = ("macos", "windows", "linux")
SCOPES = ("user", "system")


@dataclass
class Action:
    kind: str        # write | remove | keep
    path: Path
    note: str = ""

    def describe(self, dry_run: bool) -> str:
        verb = {"write": ("would write", "wrote"), "remove": ("would remove", "removed"),
                "keep": ("would leave", "left")}[self.kind][0 if dry_run else 1]
        return "{} {}{}".format(verb, self.path, " ({})".format(self.note) if self.note else "")


def current_os() -> str:
    if sys.platform == "darwin":
        return "macos"
    if sys.platform.startswith("win"):
        return "windows"
    return "linux"


def _under(destdir: str | None, path: str) -> Path:
    """A system path, below `destdir` when staging (packagers, tests)."""
    if not destdir:
        return Path(path)
    drive, rest = os.path.splitdrive(path)
    return Path(destdir) / rest.lstrip("/\\")


def scripts_dir(os_name: str, scope: str, env=None, home: str | None = None, destdir: str | None = None) -> Path:
    """Resolve's Fusion/Scripts folder for `os_name` ("macos" | "windows" | "linux") and `scope`."""
    env = os.environ if env is None else env
    home = home or os.path.expanduser("~")
    if os_name not in OS_NAMES:
        raise InputError("unknown OS {!r}: accepted {}".format(os_name, ", ".join(OS_NAMES)))
    if scope not in SCOPES:
        raise InputError("unknown scope {!r}: accepted {}".format(scope, ", ".join(SCOPES)))
    if os_name == "macos":
        if scope == "system":
            return _under(destdir, "/Library/Application Support/Blackmagic Design/DaVinci Resolve/Fusion/Scripts")
        return Path(home, "Library", "Application Support", "Blackmagic Design", "DaVinci Resolve", "Fusion", "Scripts")
    if os_name == "windows":
        if scope == "system":
            base = env.get("PROGRAMDATA") or env.get("ALLUSERSPROFILE") or r"C:\ProgramData"
            return _under(destdir, base) / "Blackmagic Design" / "DaVinci Resolve" / "Fusion" / "Scripts"
        base = env.get("APPDATA") or os.path.join(home, "AppData", "Roaming")
        return Path(base, "Blackmagic Design", "DaVinci Resolve", "Support", "Fusion", "Scripts")
    if scope == "system":
        opt, iso = _under(destdir, "/opt/resolve"), _under(destdir, "/home/resolve")
        base = iso if (not opt.exists() and iso.exists()) else opt
        return base / "Fusion" / "Scripts"
    return Path(home, ".local", "share", "DaVinciResolve", "Fusion", "Scripts")


def config(python: str | None = None) -> dict:
    """What an installed launcher needs to find takefit."""
    import takefit.bridges
    import takefit.bridges.resolve
    from takefit.engine import __version__
    from takefit.engine.delivery_specs import menu_entries

    return {
        "python": os.path.abspath(python or sys.executable),
        "packages": {"takefit.bridges": os.path.dirname(os.path.abspath(takefit.bridges.__file__)),
                     "takefit.bridges.resolve": os.path.dirname(os.path.abspath(takefit.bridges.resolve.__file__))},
        "version": __version__,
        "worker": "auto",
        "autostart": True,
        # the dialog's Delivery list (Resolve's side has only the standard library: it cannot import them)
        "deliveries": menu_entries(),
    }


def template(name: str) -> str:
    path = Path(__file__).with_name("scripts") / name
    return path.read_text("utf-8")


def render(name: str, cfg: dict) -> str:
    text = template(name)
    if PLACEHOLDER not in text:
        raise OutputError("launcher template {} lost its {!r} line".format(name, PLACEHOLDER))
    return text.replace(PLACEHOLDER, "TAKEFIT = " + pprint.pformat(cfg, width=100, sort_dicts=True), 1)


def install(scope: str = "user", os_name: str | None = None, env=None, home: str | None = None,
            destdir: str | None = None, dry_run: bool = False, python: str | None = None) -> list:
    """Write the three launchers; returns what was (or, with dry_run, would be) done."""
    root = scripts_dir(os_name or current_os(), scope, env, home, destdir)
    cfg = config(python)
    actions = []
    for _, name, sub in LAUNCHERS:
        target = root / sub / name
        text = render(name, cfg)
        note = "replacing an earlier takefit launcher" if target.exists() else ""
        if target.exists() and MARKER not in _read(target):
            raise OutputError("{} exists and is not a takefit launcher; move it away first".format(target))
        actions.append(Action("write", target, note))
        if dry_run:
            continue
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".partial")
            tmp.write_text(text, "utf-8")
            os.replace(tmp, target)
        except PermissionError:
            raise OutputError("cannot write {}: permission denied. Installing for all users needs an administrator "
                              "(sudo takefit resolve install --system, or an elevated prompt on Windows), or "
                              "install for yourself with --user".format(target)) from None
        except OSError as e:
            raise OutputError("cannot write {}: {}".format(target, e.strerror or e)) from None
    return actions


def uninstall(scope: str = "user", os_name: str | None = None, env=None, home: str | None = None,
              destdir: str | None = None, dry_run: bool = False) -> list:
    """Remove the launchers takefit installed (files without takefit's marker are left alone)."""
    root = scripts_dir(os_name or current_os(), scope, env, home, destdir)
    actions = []
    for _, name, sub in LAUNCHERS:
        target = root / sub / name
        if not target.exists():
            continue
        if MARKER not in _read(target):
            actions.append(Action("keep", target, "not a takefit launcher"))
            continue
        actions.append(Action("remove", target))
        if dry_run:
            continue
        try:
            target.unlink()
        except PermissionError:
            raise OutputError("cannot remove {}: permission denied (an all-users install needs an administrator)"
                              .format(target)) from None
    return actions


def _read(path: Path) -> str:
    try:
        return path.read_text("utf-8", errors="replace")
    except OSError:
        return ""
