"""Per-user services: a systemd user unit (Linux), a launchd agent (macOS), or — documented, not
written — a Task Scheduler logon task (Windows). One writer for every takefit service; a `ServiceSpec`
says which (the daemon's is `daemon_service()`, a watch folder's is in takefit.bridges.watch.service).

    spec = daemon_service(["--workers", "2"])
    path = install(spec, base=None)       # write the unit/agent for this platform; returns its path
    uninstall(spec, base=None)            # remove it; returns the path removed (or None)
    enable_commands(spec, path) / disable_commands(spec, path)   # what to run to (de)activate it

`base` is the home directory the files go under (default: the real one); tests pass a temp dir.
"""
from __future__ import annotations

import os
import plistlib
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ServiceSpec:
    name: str                    # systemd unit stem and Windows task name: takefit-daemon
    label: str                   # launchd label: org.takefit.daemon
    description: str
    argv: tuple[str, ...]        # the command the service runs
    after: str = "default.target"
    restart_seconds: int = 2
    stop_seconds: int = 45       # how long SIGTERM may take before a kill
    stop_note: str = ""          # a comment in the unit: what SIGTERM does to work in progress
    log_path: str | None = None  # macOS stdout/stderr; default ~/Library/Logs/<name>.log

    @property
    def unit_name(self) -> str:
        return f"{self.name}.service"


def daemon_argv(extra: list[str] | None = None, python: str | None = None) -> list[str]:
    return [python or sys.executable, "-m", "takefit.daemon", *(extra or [])]


def daemon_service(extra_args: list[str] | None = None, python: str | None = None) -> ServiceSpec:
    return ServiceSpec("takefit-daemon", "org.takefit.daemon",
                       "takefit daemon: exactly fitted speech takes as a local service",
                       tuple(daemon_argv(extra_args, python)),
                       stop_note="SIGTERM: the running take may finish; queued jobs stay in the journal")


def _platform(platform: str | None) -> str:
    p = platform or sys.platform
    if p.startswith(("linux", "freebsd")):
        return "linux"
    if p == "darwin":
        return "darwin"
    if p.startswith("win"):
        return "windows"
    raise NotImplementedError(f"no user-service support for platform {p!r}")


def unit_path(spec: ServiceSpec, base: str | os.PathLike | None = None, platform: str | None = None) -> Path:
    plat = _platform(platform)
    if plat == "linux":
        if base is None:
            cfg = os.environ.get("XDG_CONFIG_HOME")
            root = Path(cfg) if cfg else Path.home() / ".config"
        else:
            root = Path(base) / ".config"
        return root / "systemd" / "user" / spec.unit_name
    if plat == "darwin":
        return Path(base or Path.home()) / "Library" / "LaunchAgents" / f"{spec.label}.plist"
    raise NotImplementedError("Windows: no file to write; create a Task Scheduler logon task "
                              "(the install-service command prints it)")


def _systemd_quote(arg: str) -> str:
    if arg and all(c.isalnum() or c in "/._-=:+,@" for c in arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def systemd_unit(spec: ServiceSpec, env: dict[str, str] | None = None) -> str:
    lines = ["[Unit]", f"Description={spec.description}", f"After={spec.after}", "",
             "[Service]", "Type=simple",
             "ExecStart=" + " ".join(_systemd_quote(a).replace("%", "%%") for a in spec.argv)]
    lines += [f"Environment={_systemd_quote(f'{k}={v}')}" for k, v in sorted((env or {}).items())]
    lines += ["Restart=on-failure", f"RestartSec={spec.restart_seconds}"]
    lines += [f"# {spec.stop_note}"] if spec.stop_note else []
    lines += ["KillSignal=SIGTERM", f"TimeoutStopSec={spec.stop_seconds}", "",
              "[Install]", "WantedBy=default.target", ""]
    return "\n".join(lines)


def launchd_plist(spec: ServiceSpec, env: dict[str, str] | None = None, log_path: str | None = None) -> bytes:
    doc = {"Label": spec.label, "ProgramArguments": list(spec.argv), "RunAtLoad": True,
           "KeepAlive": {"SuccessfulExit": False}, "ProcessType": "Background", "ExitTimeOut": spec.stop_seconds}
    if env:
        doc["EnvironmentVariables"] = dict(env)
    log_path = log_path or spec.log_path
    if log_path:
        doc["StandardOutPath"] = log_path
        doc["StandardErrorPath"] = log_path
    return plistlib.dumps(doc)


def windows_task_command(spec: ServiceSpec) -> list[str]:
    """schtasks arguments for a logon task (pythonw.exe avoids a console window)."""
    exe = spec.argv[0]
    if exe.lower().endswith("python.exe"):
        exe = exe[:-len("python.exe")] + "pythonw.exe"
    tr = subprocess.list2cmdline([exe, *spec.argv[1:]])
    return ["schtasks", "/Create", "/TN", spec.name, "/SC", "ONLOGON", "/RL", "LIMITED", "/F", "/TR", tr]


def install(spec: ServiceSpec, base: str | os.PathLike | None = None, platform: str | None = None,
            env: dict[str, str] | None = None) -> Path:
    """Write the unit/agent (atomically, replacing an older one); returns its path."""
    plat = _platform(platform)
    path = unit_path(spec, base, plat)
    path.parent.mkdir(parents=True, exist_ok=True)
    if plat == "linux":
        data = systemd_unit(spec, env).encode("utf-8")
    else:
        logs = spec.log_path or str(Path(base or Path.home()) / "Library" / "Logs" / f"{spec.name}.log")
        data = launchd_plist(spec, env, logs)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def uninstall(spec: ServiceSpec, base: str | os.PathLike | None = None, platform: str | None = None) -> Path | None:
    path = unit_path(spec, base, platform)
    if path.exists():
        path.unlink()
        return path
    return None


def enable_commands(spec: ServiceSpec, path: Path, platform: str | None = None) -> list[list[str]]:
    plat = _platform(platform)
    if plat == "linux":
        return [["systemctl", "--user", "daemon-reload"], ["systemctl", "--user", "enable", "--now", spec.unit_name]]
    if plat == "darwin":
        return [["launchctl", "bootstrap", f"gui/{os.getuid()}", str(path)]]
    return [windows_task_command(spec), ["schtasks", "/Run", "/TN", spec.name]]


def disable_commands(spec: ServiceSpec, path: Path, platform: str | None = None) -> list[list[str]]:
    plat = _platform(platform)
    if plat == "linux":
        return [["systemctl", "--user", "disable", "--now", spec.unit_name], ["systemctl", "--user", "daemon-reload"]]
    if plat == "darwin":
        return [["launchctl", "bootout", f"gui/{os.getuid()}", str(path)]]
    return [["schtasks", "/End", "/TN", spec.name], ["schtasks", "/Delete", "/TN", spec.name, "/F"]]


def run_commands(cmds: list[list[str]]) -> list[tuple[str, int, str]]:
    out = []
    for c in cmds:
        try:
            p = subprocess.run(c, capture_output=True, text=True, timeout=60)
            out.append((shlex.join(c), p.returncode, (p.stderr or p.stdout).strip()))
        except (OSError, subprocess.TimeoutExpired) as e:
            out.append((shlex.join(c), -1, str(e)))
    return out
