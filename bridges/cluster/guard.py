"""A run whose Ray driver may be ended by Ray itself runs that driver in a child process.

With `--cluster local` or HOST:PORT this process joins the cluster as one of its own (a core worker
beside a raylet on this machine); when the cluster's processes die, Ray's core ends the process at
once (`_Exit(1)` on the lost plasma-store connection): no exception, no takefit message, only Ray's
line. So such a run re-executes itself as a child and waits: a child that ended through takefit's own
exit path says so on a pipe, and one that did not was ended under it, which the parent reports with
the fix. Everything the child filed and cached stays (whole files only), so the same command resumes.
Ray Client (`ray://`) raises a ConnectionError instead, which the renderer reports itself: no guard.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys

from takefit.bridges.cluster.address import ClusterAddress

CHILD_ENV = "TAKEFIT_CLUSTER_DRIVER"   # set for the child: the pipe's write end, where it says "finished"
_pipe: int | None = None               # in the child, once adopted
LOST = ("the Ray cluster was lost mid-run: its processes ended (killed, out of memory, or the machine's "
        "Ray stopped) and Ray ended the run with them. Takes rendered so far are filed and cached; no "
        "timeline, stem or report was written for an unfinished timeline: run the same command again to "
        "resume (only what is missing renders)")


def wanted(address: ClusterAddress) -> bool:
    """Guard a `local` or GCS-address run, unless this is the guarded child or the process already holds a
    Ray session (a test's or a tool's: that session, not a new cluster, serves the run)."""
    ray = sys.modules.get("ray")
    held = ray is not None and getattr(ray, "is_initialized", lambda: False)()
    return address.kind in ("local", "gcs") and _pipe is None and not held


def run_guarded(argv: list[str]) -> int:
    """`takefit ARGV` in a child process; its exit status, or 1 with LOST when Ray ended it."""
    read_end, write_end = os.pipe()
    env = {**os.environ, CHILD_ENV: str(write_end)}
    child = subprocess.Popen([sys.executable, "-m", "takefit.bridges.cli", *argv], env=env, pass_fds=(write_end,))
    os.close(write_end)
    forward = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda *_: child.terminate())   # a stopped run stops its driver too
    try:
        try:
            status = child.wait()
        except KeyboardInterrupt:          # Ctrl+C reached the child too (one process group): let it finish
            status = child.wait()
    finally:
        signal.signal(signal.SIGTERM, forward)
    with os.fdopen(read_end, "rb") as pipe:
        finished = pipe.read(1) == b"1"
    if finished or status < 0 and -status in (signal.SIGINT, signal.SIGTERM):
        return status if status >= 0 else 128 - status
    print(f"takefit: error: {LOST}", file=sys.stderr)
    return 1


def adopt() -> None:
    """In the guarded child, first: take the pipe out of the environment (the cluster this child starts
    would hand it down to every Ray process) and keep it for `finished`."""
    global _pipe
    fd = os.environ.pop(CHILD_ENV, None)
    if fd is not None and fd.isdigit():
        _pipe = int(fd)


def finished() -> None:
    """In the guarded child, on takefit's own way out: tell the parent the run ended by itself."""
    if _pipe is None:
        return
    try:
        os.write(_pipe, b"1")
    except OSError:
        pass
