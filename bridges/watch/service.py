"""Run a watcher as a per-user service: one systemd user unit (Linux) or launchd agent (macOS) per
watch folder, named after it, so several folders can each have one.

    path = install(Path("/jobs/ep1"), ["--cast", "/jobs/cast.toml"])    # → the unit/agent file
    enable_commands(path, folder)                                         # what activates it

The daemon's own unit lives in takefit.installer.service; its install() is written for the one
daemon unit (fixed name, label and command), so the watcher writes its files here and shares only
the command runner.
"""
from __future__ import annotations

import hashlib
import os
import plistlib
import re
import sys
from pathlib import Path


def _platform(platform: str | None = None) -> str:
    p = platform or sys.platform
    if p.startswith(("linux", "freebsd")):
        return "linux"
    if p == "darwin":
        return "darwin"
    if p.startswith("win"):
        return "windows"
    raise NotImplementedError(f"no user-service support for platform {p!r}")


def slug(folder: Path) -> str:
    """A stable, file-name-safe id for a watch folder: its name plus a hash of its absolute path."""
    folder = Path(folder).expanduser().absolute()
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", folder.name).strip("-.") or "folder"
    return f"{name[:40]}-{hashlib.sha1(str(folder).encode()).hexdigest()[:8]}"


def unit_name(folder: Path) -> str:
    return f"takefit-watch-{slug(folder)}.service"


def agent_label(folder: Path) -> str:
    return f"org.takefit.watch.{slug(folder)}"


def task_name(folder: Path) -> str:
    return f"takefit-watch-{slug(folder)}"


def watch_argv(folder: Path, extra: list[str] | None = None, python: str | None = None) -> list[str]:
    return [python or sys.executable, "-m", "takefit.bridges.cli", "watch",
            str(Path(folder).expanduser().absolute()), *(extra or [])]


def unit_path(folder: Path, base: str | os.PathLike | None = None, platform: str | None = None) -> Path:
    plat = _platform(platform)
    if plat == "linux":
        if base is None:
            cfg = os.environ.get("XDG_CONFIG_HOME")
            root = Path(cfg) if cfg else Path.home() / ".config"
        else:
            root = Path(base) / ".config"
        return root / "systemd" / "user" / unit_name(folder)
    if plat == "darwin":
        return Path(base or Path.home()) / "Library" / "LaunchAgents" / f"{agent_label(folder)}.plist"
    raise NotImplementedError("Windows: no file to write; create a Task Scheduler logon task "
                              "(`takefit watch install-service` prints the command)")


def _quote(arg: str) -> str:
    if arg and all(c.isalnum() or c in "/._-=:+,@" for c in arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def systemd_unit(folder: Path, argv: list[str], env: dict[str, str] | None = None) -> str:
    lines = ["[Unit]",
             f"Description=takefit watch folder {Path(folder).expanduser().absolute()}",
             # ordering only: the watcher uses the daemon when it runs, and the engine in-process otherwise
             "After=default.target takefit-daemon.service",
             "",
             "[Service]",
             "Type=simple",
             "ExecStart=" + " ".join(_quote(a).replace("%", "%%") for a in argv)]
    for k, v in sorted((env or {}).items()):
        lines.append(f"Environment={_quote(f'{k}={v}')}")
    lines += ["Restart=on-failure",
              "RestartSec=5",
              "# SIGTERM: the job in progress stops after its current cue and resumes on the next start",
              "KillSignal=SIGTERM",
              "TimeoutStopSec=60",
              "",
              "[Install]",
              "WantedBy=default.target",
              ""]
    return "\n".join(lines)


def launchd_plist(folder: Path, argv: list[str], env: dict[str, str] | None = None) -> bytes:
    log = str(Path(folder).expanduser().absolute() / ".takefit-watch" / "service.log")
    doc = {"Label": agent_label(folder), "ProgramArguments": list(argv), "RunAtLoad": True,
           "KeepAlive": {"SuccessfulExit": False}, "ProcessType": "Background", "ExitTimeOut": 60,
           "StandardOutPath": log, "StandardErrorPath": log}
    if env:
        doc["EnvironmentVariables"] = dict(env)
    return plistlib.dumps(doc)


def windows_task_command(folder: Path, argv: list[str]) -> list[str]:
    import subprocess

    exe = argv[0]
    if exe.lower().endswith("python.exe"):
        exe = exe[:-len("python.exe")] + "pythonw.exe"
    return ["schtasks", "/Create", "/TN", task_name(folder), "/SC", "ONLOGON", "/RL", "LIMITED", "/F", "/TR",
            subprocess.list2cmdline([exe, *argv[1:]])]


def install(folder: Path, extra_args: list[str] | None = None, base: str | os.PathLike | None = None,
            platform: str | None = None, env: dict[str, str] | None = None, python: str | None = None) -> Path:
    """Write the unit/agent for `folder` (atomically, replacing an older one); returns its path."""
    plat = _platform(platform)
    argv = watch_argv(folder, extra_args, python)
    path = unit_path(folder, base, plat)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = systemd_unit(folder, argv, env).encode("utf-8") if plat == "linux" else launchd_plist(folder, argv, env)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def uninstall(folder: Path, base: str | os.PathLike | None = None, platform: str | None = None) -> Path | None:
    path = unit_path(folder, base, platform)
    if path.exists():
        path.unlink()
        return path
    return None


def enable_commands(path: Path, folder: Path, platform: str | None = None) -> list[list[str]]:
    plat = _platform(platform)
    if plat == "linux":
        return [["systemctl", "--user", "daemon-reload"], ["systemctl", "--user", "enable", "--now", unit_name(folder)]]
    if plat == "darwin":
        return [["launchctl", "bootstrap", f"gui/{os.getuid()}", str(path)]]
    return [["schtasks", "/Run", "/TN", task_name(folder)]]


def disable_commands(path: Path, folder: Path, platform: str | None = None) -> list[list[str]]:
    plat = _platform(platform)
    if plat == "linux":
        return [["systemctl", "--user", "disable", "--now", unit_name(folder)], ["systemctl", "--user", "daemon-reload"]]
    if plat == "darwin":
        return [["launchctl", "bootout", f"gui/{os.getuid()}", str(path)]]
    return [["schtasks", "/End", "/TN", task_name(folder)], ["schtasks", "/Delete", "/TN", task_name(folder), "/F"]]


def run_commands(cmds: list[list[str]]) -> list[tuple[str, int, str]]:
    from takefit.installer.service import run_commands as run

    return run(cmds)
