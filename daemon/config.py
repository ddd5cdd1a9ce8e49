"""The daemon's configuration: options, their command-line form, and the endpoint rules checked before binding."""
from __future__ import annotations

import argparse
import ipaddress
import re
from dataclasses import dataclass, field

import zmq

from takefit.engine.backend import DEFAULT_BACKEND, backend_names, check_backend
from takefit.engine.cache import DEFAULT_MAX_BYTES
from takefit.engine.errors import InputError

DEFAULT_PORT = 47321
DEFAULT_BIND = f"tcp://127.0.0.1:{DEFAULT_PORT}"
ANY_LOOPBACK_PORT = "tcp://127.0.0.1:*"


@dataclass
class Config:
    home: str | None = None                   # else $TAKEFIT_DAEMON_HOME, else platformdirs
    binds: list[str] = field(default_factory=lambda: [DEFAULT_BIND])
    remote_binds: list[str] = field(default_factory=list)   # CurveZMQ only
    ipc: bool = True
    output_root: str | None = None
    workers: int = 1
    threads: int | None = None                # onnxruntime threads per engine call
    max_queue: int = 1000
    cache_bytes: int = DEFAULT_MAX_BYTES
    heartbeat_ms: int = 1000
    liveness: int = 3
    retention_days: float = 7.0
    shutdown_grace: float = 30.0
    log_level: str = "INFO"
    log_stderr: bool = False
    backend: str = DEFAULT_BACKEND            # the speech model (engine/backend.py registry)
    device: str | None = None                 # where it runs; None: the backend's own default
    warm: bool = True                         # once loaded, prepare what first auditions would wait for

    def to_argv(self) -> list[str]:
        """Command-line options that reproduce this config (for spawning and service units)."""
        argv: list[str] = []
        if self.home:
            argv += ["--home", str(self.home)]
        if self.binds != [DEFAULT_BIND]:
            for b in self.binds:
                argv += ["--bind", b]
            if not self.binds:
                argv += ["--bind", "none"]
        for b in self.remote_binds:
            argv += ["--remote-bind", b]
        if not self.ipc:
            argv.append("--no-ipc")
        if self.output_root:
            argv += ["--output-root", str(self.output_root)]
        if self.backend != DEFAULT_BACKEND:
            argv += ["--backend", self.backend]
        if self.device:
            argv += ["--device", self.device]
        if not self.warm:
            argv.append("--no-warm")
        d = Config()
        for opt, attr in (("--workers", "workers"), ("--threads", "threads"), ("--max-queue", "max_queue"),
                          ("--cache-size", "cache_bytes"), ("--heartbeat-ms", "heartbeat_ms"),
                          ("--liveness", "liveness"), ("--retention-days", "retention_days"),
                          ("--shutdown-grace", "shutdown_grace"), ("--log-level", "log_level")):
            v = getattr(self, attr)
            if v != getattr(d, attr) and v is not None:
                argv += [opt, str(v)]
        return argv


def parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", str(text).lower())
    if not m:
        raise InputError(f"bad size {text!r}: use e.g. 500M, 2G, 1048576")
    return int(float(m.group(1)) * 1024 ** " kmgt".index(m.group(2) or " "))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--home", metavar="DIR", help="keep runtime/state/cache under DIR (default: $TAKEFIT_DAEMON_HOME "
                                                 "or the platform's user dirs)")
    p.add_argument("--bind", action="append", metavar="ENDPOINT",
                   help=f"local endpoint, repeatable: loopback tcp or ipc (default {DEFAULT_BIND}, or a free "
                        "port when another program holds it; tcp://127.0.0.1:* picks a free port; 'none' for ipc "
                        "only; takefit's clients find the daemon through its daemon.json either way)")
    p.add_argument("--remote-bind", action="append", metavar="ENDPOINT", default=[],
                   help="endpoint for other machines, CurveZMQ-authenticated (needs `takefit daemon keys init`)")
    p.add_argument("--no-ipc", action="store_true", help="no ipc:// endpoint in the runtime dir")
    p.add_argument("--output-root", metavar="DIR", help="where takes are written (default: <state>/takes)")
    p.add_argument("--workers", type=int, default=1, help="lines rendered at once, each with its own model "
                   "sessions (default 1: fastest single audition; 2 dubs ≈ 1.3× faster on 2 cores, more memory)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads per model call (default: all cores)")
    p.add_argument("--max-queue", type=int, default=1000, help="queued jobs before answering 'busy' (default 1000)")
    p.add_argument("--cache-size", default=str(DEFAULT_MAX_BYTES), help="take cache bound, e.g. 2G (LRU on disk)")
    p.add_argument("--heartbeat-ms", type=int, default=1000, help="heartbeat interval (default 1000 ms)")
    p.add_argument("--liveness", type=int, default=3, help="missed heartbeats before a peer counts as dead (3)")
    p.add_argument("--retention-days", type=float, default=7.0, help="keep finished jobs fetchable this long (7)")
    p.add_argument("--shutdown-grace", type=float, default=30.0, help="seconds to let a running render finish on stop")
    p.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    p.add_argument("--backend", default=DEFAULT_BACKEND, metavar="NAME",
                   help=f"the speech model: {', '.join(backend_names())} (default {DEFAULT_BACKEND}; "
                        "`takefit daemon info` shows what it can do)")
    p.add_argument("--device", metavar="DEVICE", help="where the backend runs: cpu, cuda:0 … (default: the "
                   "backend's own; kokoro runs on the CPU)")
    p.add_argument("--no-warm", action="store_true", help="do not prepare every language's reader (and adapted "
                   "voices' decoder) once loaded: ≈ 450 MB less while idle, but the first audition in English or "
                   "Mandarin then waits ≈ 2 s for its reader")


def config_from_args(args) -> Config:
    binds = args.bind if args.bind else [DEFAULT_BIND]
    if binds == ["none"]:
        binds = []
    cfg = Config(home=args.home, binds=binds, remote_binds=list(args.remote_bind or []), ipc=not args.no_ipc,
                 output_root=args.output_root, workers=args.workers, threads=args.threads,
                 max_queue=args.max_queue, cache_bytes=parse_size(args.cache_size), heartbeat_ms=args.heartbeat_ms,
                 liveness=args.liveness, retention_days=args.retention_days, shutdown_grace=args.shutdown_grace,
                 log_level=args.log_level, backend=args.backend, device=args.device, warm=not args.no_warm)
    check_config(cfg)
    return cfg


# ------------------------------------------------------------------------------------------- endpoints
def _tcp_host_port(ep: str) -> tuple[str, str]:
    m = re.fullmatch(r"tcp://(\[[^\]]+\]|[^:/\[\]]+|\*):(\d+|\*)", ep)
    if not m:
        raise InputError(f"bad endpoint {ep!r}: expected tcp://HOST:PORT (PORT may be * for any free port)")
    return m.group(1).strip("[]"), m.group(2)


def is_loopback(ep: str) -> bool:
    if ep.startswith("ipc://"):
        return True
    host, _ = _tcp_host_port(ep)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalise_endpoint(ep: str) -> str:
    ep = ep.strip()
    if ep.startswith("tcp://") and ep.endswith(":0"):
        ep = ep[:-2] + ":*"
    return ep


def check_config(cfg: Config) -> None:
    """Refuse what is unsafe or malformed before anything binds."""
    for ep in cfg.binds:
        ep = normalise_endpoint(ep)
        if ep.startswith("ipc://"):
            if not zmq.has("ipc"):
                raise InputError(f"cannot bind {ep}: this platform has no ipc transport")
            continue
        if not ep.startswith("tcp://"):
            raise InputError(f"cannot bind {ep!r}: only tcp:// (loopback) and ipc:// are accepted")
        if not is_loopback(ep):
            raise InputError(f"refusing to bind {ep}: it is not a loopback address; --bind endpoints serve this "
                             f"machine's own user (a token, sent in clear). For access from other machines use "
                             f"CurveZMQ: run `takefit daemon keys init`, authorise clients with `takefit daemon "
                             f"keys new-client NAME`, then start with --remote-bind {ep}")
    for ep in cfg.remote_binds:
        ep = normalise_endpoint(ep)
        if not ep.startswith("tcp://"):
            raise InputError(f"--remote-bind takes tcp://HOST:PORT, got {ep!r}")
        _tcp_host_port(ep)
    check_backend(cfg.backend, cfg.device)    # unknown, not installed, wrong device: refused before a daemon is spawned
    if not cfg.binds and not cfg.remote_binds and not cfg.ipc:
        raise InputError("no endpoint to listen on: give --bind, --remote-bind or allow ipc")
    for name, lo, hi in (("workers", 1, 64), ("max_queue", 1, 1_000_000), ("heartbeat_ms", 20, 60_000),
                         ("liveness", 1, 100)):
        if not (lo <= getattr(cfg, name) <= hi):
            raise InputError(f"--{name.replace('_', '-')} {getattr(cfg, name)} out of range [{lo}, {hi}]")

