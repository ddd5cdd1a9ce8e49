"""Run the takefit daemon as a per-user service: a systemd user unit (Linux), a launchd agent (macOS),
or — documented, not written — a Task Scheduler logon task (Windows).

    path = install(base=None)          # write the unit/agent for this platform; returns its path
    uninstall(base=None)               # remove it; returns the path removed (or None)
    enable_commands(path) / disable_commands(path)   # what to run to (de)activate it

`base` is the home directory the files go under (default: the real one); tests pass a temp dir.
"""
from __future__ import annotations

import os
import plistlib
import shlex
import subprocess
import sys
from pathlib import Path

UNIT_NAME = "takefit-daemon.service"
AGENT_LABEL = "org.takefit.daemon"
TASK_NAME = "takefit-daemon"


def _platform(platform: str | None) -> str:
    p = platform or sys.platform
    if p.startswith("linux") or p.startswith("freebsd"):
        return "linux"
    if p == "darwin":
        return "darwin"
    if p.startswith("win"):
        return "windows"
    raise NotImplementedError(f"no user-service support for platform {p!r}")


def daemon_argv(extra: list[str] | None = None, python: str | None = None) -> list[str]:
    return [python or sys.executable, "-m", "takefit.daemon", *(extra or [])]


def unit_path(base: str | os.PathLike | None = None, platform: str | None = None) -> Path:
    plat = _platform(platform)
    if plat == "linux":
        if base is None:
            cfg = os.environ.get("XDG_CONFIG_HOME")
            root = Path(cfg) if cfg else Path.home() / ".config"
        else:
            root = Path(base) / ".config"
        return root / "systemd" / "user" / UNIT_NAME
    if plat == "darwin":
        return Path(base or Path.home()) / "Library" / "LaunchAgents" / f"{AGENT_LABEL}.plist"
    raise NotImplementedError("Windows: no file to write; use a Task Scheduler logon task "
                              "(see `windows_task_command()` and docs/protocol.md)")


def _systemd_quote(arg: str) -> str:
    if arg and all(c.isalnum() or c in "/._-=:+,@%" for c in arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def systemd_unit(argv: list[str], env: dict[str, str] | None = None) -> str:
    lines = ["[Unit]",
             "Description=takefit daemon: exactly fitted speech takes as a local service",
             "After=default.target",
             "",
             "[Service]",
             "Type=simple",
             "ExecStart=" + " ".join(_systemd_quote(a).replace("%", "%%") for a in argv)]
    for k, v in sorted((env or {}).items()):
        lines.append(f"Environment={_systemd_quote(f'{k}={v}')}")
    lines += ["Restart=on-failure",
              "RestartSec=2",
              "# SIGTERM: the running take may finish; queued jobs stay in the journal",
              "KillSignal=SIGTERM",
              "TimeoutStopSec=45",
              "",
              "[Install]",
              "WantedBy=default.target",
              ""]
    return "\n".join(lines)


def launchd_plist(argv: list[str], env: dict[str, str] | None = None, log_path: str | None = None) -> bytes:
    doc = {"Label": AGENT_LABEL, "ProgramArguments": list(argv), "RunAtLoad": True,
           "KeepAlive": {"SuccessfulExit": False}, "ProcessType": "Background", "ExitTimeOut": 45}
    if env:
        doc["EnvironmentVariables"] = dict(env)
    if log_path:
        doc["StandardOutPath"] = log_path
        doc["StandardErrorPath"] = log_path
    return plistlib.dumps(doc)


def windows_task_command(argv: list[str] | None = None) -> list[str]:
    """schtasks arguments for a logon task running the daemon (pythonw.exe avoids a console window)."""
    argv = list(argv or daemon_argv())
    exe = argv[0]
    if exe.lower().endswith("python.exe"):
        exe = exe[:-len("python.exe")] + "pythonw.exe"
    tr = subprocess.list2cmdline([exe, *argv[1:]])
    return ["schtasks", "/Create", "/TN", TASK_NAME, "/SC", "ONLOGON", "/RL", "LIMITED", "/F", "/TR", tr]


def install(base: str | os.PathLike | None = None, platform: str | None = None, extra_args: list[str] | None = None,
            env: dict[str, str] | None = None, python: str | None = None) -> Path:
    """Write the unit/agent (atomically, replacing an older one); returns its path."""
    plat = _platform(platform)
    argv = daemon_argv(extra_args, python)
    path = unit_path(base, plat)
    path.parent.mkdir(parents=True, exist_ok=True)
    if plat == "linux":
        data = systemd_unit(argv, env).encode("utf-8")
    else:
        logs = Path(base or Path.home()) / "Library" / "Logs" / "takefit-daemon.log"
        data = launchd_plist(argv, env, str(logs))
    tmp = path.with_name(path.name + ".partial")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def uninstall(base: str | os.PathLike | None = None, platform: str | None = None) -> Path | None:
    path = unit_path(base, platform)
    if path.exists():
        path.unlink()
        return path
    return None


def enable_commands(path: Path, platform: str | None = None) -> list[list[str]]:
    plat = _platform(platform)
    if plat == "linux":
        return [["systemctl", "--user", "daemon-reload"], ["systemctl", "--user", "enable", "--now", UNIT_NAME]]
    if plat == "darwin":
        return [["launchctl", "bootstrap", f"gui/{os.getuid()}", str(path)]]
    return [windows_task_command(), ["schtasks", "/Run", "/TN", TASK_NAME]]


def disable_commands(path: Path, platform: str | None = None) -> list[list[str]]:
    plat = _platform(platform)
    if plat == "linux":
        return [["systemctl", "--user", "disable", "--now", UNIT_NAME], ["systemctl", "--user", "daemon-reload"]]
    if plat == "darwin":
        return [["launchctl", "bootout", f"gui/{os.getuid()}", str(path)]]
    return [["schtasks", "/End", "/TN", TASK_NAME], ["schtasks", "/Delete", "/TN", TASK_NAME, "/F"]]


def run_commands(cmds: list[list[str]]) -> list[tuple[str, int, str]]:
    out = []
    for c in cmds:
        try:
            p = subprocess.run(c, capture_output=True, text=True, timeout=60)
            out.append((shlex.join(c), p.returncode, (p.stderr or p.stdout).strip()))
        except (OSError, subprocess.TimeoutExpired) as e:
            out.append((shlex.join(c), -1, str(e)))
    return out
