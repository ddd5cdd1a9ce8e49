"""Reaching the daemon: the one place that decides which daemon a tool talks to, whether to start it,
and how to stop it (politely first).

Every tool (say --daemon, dub, the watch folder, the Resolve worker, scripts) calls `connect(mode)`:

    auto    this user's daemon when it runs and answers, else None (the caller renders in its process)
    start   the same, but a daemon that is not running is started first (DaemonError names why it could not)
    running this user's daemon, which must be running: DaemonUnavailable says how to start it otherwise
    off     None: never the daemon

An endpoint — given, or $TAKEFIT_DAEMON_ENDPOINT when no daemon home is named — means that daemon
(another machine's over CurveZMQ, or a test's), and is never started from here.
"""
from __future__ import annotations

import os
import signal

from takefit.engine.errors import InputError, TakefitError

from . import control
from .client import Client
from .control import DaemonError
from .paths import ENV_ENDPOINT, Dirs

MODES = ("auto", "start", "running", "off")


def connect(mode: str = "auto", *, endpoint: str | None = None, home: str | os.PathLike | Dirs | None = None,
            timeout: float = 10.0, retries: int = 1) -> Client | None:
    """A connected Client (hello done), or None where `mode` allows rendering without a daemon.
    `home`: a daemon home folder or its Dirs (default: $TAKEFIT_DAEMON_HOME, else this user's)."""
    if mode not in MODES:
        raise InputError(f"daemon mode {mode!r}: accepted {', '.join(MODES)}")
    if mode == "off":
        return None
    dirs = home if isinstance(home, Dirs) else Dirs.resolve(home)
    explicit = endpoint or (os.environ.get(ENV_ENDPOINT) if home is None else None)
    if not explicit and control.read_info(dirs) is None:
        if mode == "auto":
            return None
        if mode == "start":
            control.start(dirs)
    client = Client(endpoint, home_dirs=None if explicit else dirs, timeout=timeout, retries=retries,
                    autostart=mode == "start" and not explicit)
    try:
        return client.connect()
    except TakefitError:
        client.close()
        if mode == "auto":
            return None              # published but not answering: the caller renders here
        raise


def _stop_unpublished(dirs: Dirs, timeout: float) -> str:
    """A daemon holding the lock whose daemon.json is gone or unreadable (it writes it again within 10 s):
    SIGTERM to the pid in its lock file, the same graceful stop as a shutdown request."""
    pid = control.lock_owner(dirs) if control.lock_held(dirs) else None
    if not pid:
        return "not running"
    control.signal_pid(pid, signal.SIGTERM)
    if control.wait_stopped(dirs, timeout):
        return f"stopped (pid {pid}; its daemon.json was missing)"
    raise DaemonError(f"the daemon (pid {pid}) did not stop within {timeout:.0f} s of SIGTERM", code="stop_failed")


def stop(dirs: Dirs, timeout: float = 30.0, force: bool = True) -> str:
    """Ask the daemon to shut down (accepted jobs stay journaled); SIGTERM, then SIGKILL if it hangs."""
    info = control.read_info(dirs)
    if not info:
        return _stop_unpublished(dirs, timeout)
    pid = int(info.get("pid", 0))
    try:
        with Client(home_dirs=dirs, timeout=5.0, retries=0) as c:
            c.shutdown()
    except TakefitError:
        if pid:
            control.signal_pid(pid, signal.SIGTERM)
    if control.wait_stopped(dirs, timeout):
        return f"stopped (pid {pid})"
    if not force or not pid:
        raise DaemonError(f"the daemon (pid {pid}) did not stop within {timeout:.0f} s", code="stop_failed")
    control.signal_pid(pid, getattr(signal, "SIGKILL", signal.SIGTERM))
    if control.wait_stopped(dirs, 10.0):
        return f"killed (pid {pid}) after {timeout:.0f} s; its queued jobs resume on the next start"
    raise DaemonError(f"could not stop the daemon (pid {pid})", code="stop_failed")
