"""takefit.daemon — the engine as a persistent local service (ZeroMQ + msgpack) and its client.

    from takefit.daemon import Client
    with Client(autostart=True) as c:
        take = c.render("Hello there.", target="2.5s")

Modules by role: server (the loop), config, frontend, operations, admission, scheduler, runner, events,
streams; client (Client), protocol (wire format and schema; docs/protocol.md),
journal (SQLite job journal), control (lock, start/stop); the take cache is engine/cache.py,
keys (CurveZMQ), paths (state dirs, output-name checks).
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "Client": "client", "DaemonBusy": "errors", "JobCanceledError": "errors",
    "Unauthorized": "errors", "BadPathError": "errors", "make_request": "client",
    "DaemonError": "control", "DaemonUnavailable": "control", "AlreadyRunning": "control",
    "Dirs": "paths", "PROTOCOL": "protocol",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):  # lazy: importing the client must not load the engine
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'takefit.daemon' has no attribute {name!r}")

    return getattr(importlib.import_module(f"takefit.daemon.{mod}"), name)
