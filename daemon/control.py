"""Lifecycle: the per-user lock, the published daemon.json, starting (daemonized), stopping, logs.

One daemon per user and machine: the daemon holds an exclusive lock on <runtime>/daemon.lock for its
whole life (the OS drops it if the process dies, even on SIGKILL). daemon.json, written once the
sockets are bound, says where it listens; it counts only while the lock is held.
"""
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from takefit.engine.errors import TakefitError

from .paths import ENV_HOME, Dirs

START_TIMEOUT = 60.0   # the engine loads in the background; the sockets answer within seconds


class DaemonError(TakefitError):
    """A daemon-side problem (or one talking to it). `code` is the protocol error code."""

    code = "daemon"

    def __init__(self, message: str, code: str | None = None, details: dict | None = None, job: str | None = None):
        super().__init__(message)
        if code:
            self.code = code
        self.details = details or {}
        self.job = job


class DaemonUnavailable(DaemonError):
    code = "unavailable"


class AlreadyRunning(DaemonError):
    code = "already_running"

    def __init__(self, info: dict | None):
        self.info = info or {}
        where = ", ".join(self.info.get("endpoints", [])) or "(endpoints not published yet)"
        super().__init__(f"a takefit daemon is already running (pid {self.info.get('pid', '?')}) at {where}")


# ------------------------------------------------------------------------------------------- lock
HELD = {errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES, errno.EDEADLK}   # flock's and msvcrt's "someone has it"


class Lock:
    """An exclusive, non-blocking, process-lifetime lock file (fcntl on POSIX, msvcrt on Windows)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.fd: int | None = None

    def acquire(self, timeout: float = 0.0) -> bool:
        """Try for up to `timeout` seconds. (Probes — lock_held — hold the lock for microseconds, so
        the daemon itself waits a little instead of mistaking a probe for a running daemon.) A filesystem
        that cannot lock raises its OSError rather than passing for a lock someone holds."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if os.name == "nt":
                    import msvcrt

                    os.lseek(fd, 0, os.SEEK_SET)
                    msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
                else:
                    import fcntl

                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in HELD:           # this filesystem cannot lock at all (some network shares)
                    os.close(fd)
                    raise
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                time.sleep(0.01)
        self.fd = fd
        return True

    def write_owner(self) -> None:
        """Record the holder's pid in the lock file (only the daemon does this, never a probe)."""
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            os.lseek(self.fd, 0, os.SEEK_SET)
            os.write(self.fd, f"{os.getpid()}\n".encode())

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            if os.name == "nt":
                import msvcrt

                os.lseek(self.fd, 0, os.SEEK_SET)
                msvcrt.locking(self.fd, msvcrt.LK_UNLCK, 1)
            else:
                import fcntl

                fcntl.flock(self.fd, fcntl.LOCK_UN)
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None


def lock_owner(dirs: Dirs) -> int | None:
    """The pid the running daemon wrote into the lock file (None if unknown or unreadable)."""
    try:
        text = dirs.lock.read_text("ascii").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


def lock_held(dirs: Dirs) -> bool:
    """Is some process holding the daemon lock (i.e. is a daemon alive)?"""
    if not dirs.lock.exists():
        return False
    probe = Lock(dirs.lock)
    if acquire_daemon_lock(probe, dirs):
        probe.release()
        return False
    return True


def acquire_daemon_lock(lock: Lock, dirs: Dirs, timeout: float = 0.0) -> bool:
    """lock.acquire, a filesystem that cannot lock (a network share) named with the fix."""
    try:
        return lock.acquire(timeout)
    except OSError as e:
        raise DaemonError(f"cannot lock {dirs.lock} on this filesystem ({e.strerror or e}): the daemon's home "
                          f"must be on a local disk (--home, ${ENV_HOME})", code="start_failed") from None


# ------------------------------------------------------------------------------------------- info
def write_info(dirs: Dirs, info: dict) -> None:
    tmp = dirs.info.with_suffix(f".json.{os.getpid()}.partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(info, f, indent=1)
    os.replace(tmp, dirs.info)


def read_info(dirs: Dirs, require_lock: bool = True) -> dict | None:
    """daemon.json of the live daemon, or None (no daemon, or a stale file from a killed one)."""
    try:
        info = json.loads(dirs.info.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict):
        return None
    if require_lock:
        if not lock_held(dirs):
            return None
        owner = lock_owner(dirs)
        if owner is not None and owner != info.get("pid"):
            return None          # a stale file from a killed daemon, while a new one is starting
    return info


def remove_info(dirs: Dirs, pid: int) -> None:
    info = read_info(dirs, require_lock=False)
    if info and info.get("pid") == pid:
        dirs.info.unlink(missing_ok=True)


def pick_endpoint(info: dict) -> str | None:
    """ipc first (owner-only socket file, no TCP stack) while its socket file is there, then local TCP."""
    eps = info.get("endpoints") or []
    for ep in eps:
        if ep.startswith("ipc://") and (ep.startswith("ipc://@") or os.path.exists(ep.removeprefix("ipc://"))):
            return ep
    return next((ep for ep in eps if not ep.startswith("ipc://")), eps[0] if eps else None)


# ------------------------------------------------------------------------------------------- start / stop
def daemon_command(argv: list[str]) -> list[str]:
    return [sys.executable, "-m", "takefit.daemon", *argv]


def start(dirs: Dirs, argv: list[str] | None = None, timeout: float = START_TIMEOUT, env: dict | None = None) -> dict:
    """Start a daemon in the background (its own session, no terminal) and wait until it answers.

    Returns daemon.json. If one is already running, returns its info without starting another (two
    racing starters are fine: the loser exits on the lock)."""
    info = read_info(dirs)
    if info:
        return info
    dirs.ensure()
    argv = list(argv or [])
    child_env = dict(os.environ if env is None else env)
    err = open(dirs.stderr_log, "ab")
    kwargs: dict = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": err, "env": child_env,
                    "cwd": str(dirs.state), "close_fds": True}
    if os.name == "nt":
        kwargs["creationflags"] = subprocess.DETACHED_PROCESS | subprocess.CREATE_NEW_PROCESS_GROUP  # type: ignore[attr-defined]
    else:
        kwargs["start_new_session"] = True
    home_args = ["--home", str(dirs.runtime.parent)] if _single_home(dirs) else []
    with err:
        proc = subprocess.Popen(daemon_command([*home_args, *argv]), **kwargs)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = read_info(dirs)
        if info and info.get("ready") and (info.get("pid") == proc.pid or proc.poll() is not None):
            return info
        code = proc.poll()
        if code is not None:
            info = read_info(dirs)
            if info:      # another starter won the race
                if info.get("ready"):
                    return info
                continue
            if lock_held(dirs):   # a running daemon whose daemon.json is gone: it writes it again within 10 s
                time.sleep(0.2)
                continue
            raise DaemonError(f"the daemon exited during start (status {code}); see {dirs.stderr_log} and "
                              f"{dirs.log}:\n{tail(dirs.stderr_log, 15) or tail(dirs.log, 15)}", code="start_failed")
        time.sleep(0.05)
    raise DaemonError(f"the daemon did not come up within {timeout:.0f} s; see {dirs.log}", code="start_failed")


def _single_home(dirs: Dirs) -> bool:
    base = dirs.runtime.parent
    return dirs.state == base / "state" and dirs.cache == base / "cache" and dirs.runtime == base / "run"


def wait_stopped(dirs: Dirs, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not lock_held(dirs):
            return True
        time.sleep(0.05)
    return not lock_held(dirs)


def signal_pid(pid: int, sig) -> None:
    try:
        os.kill(pid, sig)
    except (OSError, ProcessLookupError):
        pass


# ------------------------------------------------------------------------------------------- logs
def tail(path: Path, lines: int = 50) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 256 * 1024))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def follow(path: Path, out=None, poll: float = 0.25, stop_after: float | None = None) -> None:
    """`tail -f`: print what gets appended (survives rotation)."""
    out = out or sys.stdout
    deadline = None if stop_after is None else time.monotonic() + stop_after
    pos = path.stat().st_size if path.exists() else 0
    while deadline is None or time.monotonic() < deadline:
        try:
            size = path.stat().st_size
        except OSError:
            size = 0
        if size < pos:
            pos = 0
        if size > pos:
            with open(path, "rb") as f:
                f.seek(pos)
                chunk = f.read()
            pos += len(chunk)
            out.write(chunk.decode("utf-8", "replace"))
            out.flush()
        time.sleep(poll)
