"""Shared helpers for the daemon tests (no tests here).

Every daemon runs as a real subprocess with its own temp home (TAKEFIT_DAEMON_HOME layout) and a
random free loopback port (tcp://127.0.0.1:*), so tests never meet each other or a user's daemon.
The session daemon is shared through a module-level singleton (several test modules import the
fixture), and stopped at the end of the session.
"""
from __future__ import annotations

import itertools
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import pytest
import zmq

for _var in ("TAKEFIT_DAEMON_ENDPOINT", "TAKEFIT_DAEMON_SERVER_KEY", "TAKEFIT_DAEMON_CLIENT_KEY"):
    os.environ.pop(_var, None)          # never talk to a user's daemon from the tests

HB_MS = 200            # fast heartbeats: dead peers are noticed within 0.6 s
SESSION_MAX_QUEUE = 40
# The shared daemon serves every test module while the other pytest-xdist worker loads both cores, so
# its silences (a stage session opening, a reader loading under the GIL) can pass 0.6 s: its clients
# wait 3 s before they call it lost. The fault tests' own daemons keep the fast liveness.
SESSION_LIVENESS = 15


class DaemonProc:
    """A real daemon in its own home. `warm`: prepare readers after loading, as users' daemons do (the
    session's shared daemon; the others start without, to keep the suite's CPU for what they test)."""
    def __init__(self, home: Path, *extra: str, warm: bool = False, liveness: int = 3):
        from takefit.daemon.paths import Dirs

        self.home = Path(home)
        self.dirs = Dirs.resolve(self.home)
        self.extra = ["--bind", "tcp://127.0.0.1:*", "--heartbeat-ms", str(HB_MS), "--liveness", str(liveness), *extra,
                      *([] if warm else ["--no-warm"])]
        self.info: dict = {}

    def start(self) -> "DaemonProc":
        from takefit.daemon import control

        self.info = control.start(self.dirs, self.extra, timeout=120)
        return self

    @property
    def pid(self) -> int:
        return int(self.info["pid"])

    @property
    def token(self) -> str:
        return self.info["token"]

    @property
    def tcp(self) -> str:
        return next(e for e in self.info["endpoints"] if e.startswith("tcp://"))

    def client(self, **kw):
        from takefit.daemon.client import Client

        kw.setdefault("timeout", 10.0)
        return Client(home_dirs=self.dirs, **kw)

    def wait_ready(self) -> None:
        with self.client(timeout=120) as c:
            c.voices()              # answered once the engine has loaded

    def kill(self) -> None:
        from takefit.daemon import control

        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        assert control.wait_stopped(self.dirs, 30)

    def stop(self) -> None:
        from takefit.daemon import connect, control

        if control.lock_held(self.dirs):
            connect.stop(self.dirs, timeout=30)

    def output_root(self) -> Path:
        return Path(self.info["output_root"])


_session: DaemonProc | None = None


def session_daemon() -> DaemonProc:
    global _session
    if _session is None:
        home = Path(tempfile.mkdtemp(prefix="tfd-"))
        _session = DaemonProc(home, "--max-queue", str(SESSION_MAX_QUEUE), warm=True, liveness=SESSION_LIVENESS).start()
        _session.wait_ready()
    return _session


@pytest.fixture(scope="session")
def daemon():
    d = session_daemon()
    yield d
    global _session
    if _session is not None:
        _session.stop()
        shutil.rmtree(_session.home, ignore_errors=True)
        _session = None


@pytest.fixture
def client(daemon):
    c = daemon.client()
    yield c
    c.close()


class Raw:
    """A bare DEALER socket for sending arbitrary frames (with the daemon's token: the frames are the test)."""

    def __init__(self, endpoint: str, token: str | None, timeout: float = 5.0):
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        if token:
            self.sock.plain_username, self.sock.plain_password = b"takefit", token.encode()
        self.sock.connect(endpoint)
        self.timeout = timeout

    def send(self, frames: list[bytes]) -> None:
        self.sock.send_multipart(frames)

    def recv(self, timeout: float | None = None):
        from takefit.daemon.protocol import SIGNATURE, unpack

        if not self.sock.poll(int((self.timeout if timeout is None else timeout) * 1000)):
            return None
        frames = self.sock.recv_multipart()
        assert len(frames) == 2 and frames[0] == SIGNATURE, frames
        return unpack(frames[1], 1 << 30)

    def close(self) -> None:
        self.sock.close(linger=0)


def unique(prefix: str = "") -> str:
    return f"{prefix}{time.time_ns()}"


_fresh = itertools.count(1)


def fresh(seconds: float, rate: int = 48000) -> tuple[str, int]:
    """A target no earlier request in this session used (so the take cache cannot answer it):
    `seconds` plus n × 0.1 ms. Returns (target string, exact sample count)."""
    from fractions import Fraction

    value = Fraction(str(seconds)) + Fraction(next(_fresh), 10000)
    return f"{value}s", int(value * rate + Fraction(1, 2))


PYTHON = sys.executable
