"""The daemon: a ZeroMQ ROUTER front end, engine worker threads, a journaled priority queue.

Threads and sockets (named by role, as in the ZeroMQ guide):

    main      the socket loop: `frontend` (ROUTER, loopback tcp + ipc, no auth), `remote` (ROUTER,
              CurveZMQ, only with --remote-bind) and `events` (PULL, inproc). It validates every frame,
              journals accepted jobs, routes events to watching clients and sends heartbeats. It never
              renders and never waits on the engine.
    engine-N  engine workers: take the highest-priority job, render it (the progress callback raises
              to cancel between stages), store it in the take cache, write the output, journal the
              result, and push events to the loop over their own PUSH socket.
    aux       cache hits (a cached take is answered at once, never queued behind a batch) and `explain`.
    loader    loads the engine once at start; the loop answers hello/health meanwhile.
    zap       zmq.auth's authenticator (only with --remote-bind).

Wire format, messages and error codes: docs/protocol.md (and protocol.py).
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import heapq
import ipaddress
import itertools
import logging
import logging.handlers
import os
import queue
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from takefit.engine import ENGINE_ID, __version__
from takefit.engine.errors import AssetError, FitError, InputError, TakefitError

from . import control, keys
from .cache import DEFAULT_MAX_BYTES, TakeCache, request_key
from .journal import Journal
from .paths import Dirs, PathEscapeError, safe_output
from .protocol import (FINAL_STATES, MAX_INLINE_BYTES, MAX_MESSAGE_BYTES, PRIORITIES, PROTOCOL, SIGNATURE,
                       SUPPORTED_PROTOCOLS, ProtocolError, pack, request_id, split_frames, to_render_request,
                       unpack, validate)
from . import protocol

DEFAULT_PORT = 47321
DEFAULT_BIND = f"tcp://127.0.0.1:{DEFAULT_PORT}"
ANY_LOOPBACK_PORT = "tcp://127.0.0.1:*"
ZAP_DOMAIN = "takefit"
HIGH_RESERVE = 64              # room kept for high-priority (audition) jobs when the queue is full
CAPABILITIES = ["render", "render_batch", "watch", "job", "jobs", "cancel", "voices", "explain", "cache_clear",
                "voice_enroll", "voice_list", "voice_show", "voice_remove",
                "shutdown", "inline_audio", "priorities", "heartbeat", "journal", "dictionary"]
PRIORITY_NAMES = {v: k for k, v in PRIORITIES.items()}
WAV_COMMENT = "synthetic speech (takefit, voice {voice})"

log = logging.getLogger("takefit.daemon")


# ------------------------------------------------------------------------------------------- config
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


def config_from_args(args) -> Config:
    binds = args.bind if args.bind else [DEFAULT_BIND]
    if binds == ["none"]:
        binds = []
    cfg = Config(home=args.home, binds=binds, remote_binds=list(args.remote_bind or []), ipc=not args.no_ipc,
                 output_root=args.output_root, workers=args.workers, threads=args.threads,
                 max_queue=args.max_queue, cache_bytes=parse_size(args.cache_size), heartbeat_ms=args.heartbeat_ms,
                 liveness=args.liveness, retention_days=args.retention_days, shutdown_grace=args.shutdown_grace,
                 log_level=args.log_level)
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
            raise InputError(f"refusing to bind {ep}: it is not a loopback address, and --bind endpoints have no "
                             f"authentication. For access from other machines use CurveZMQ: run "
                             f"`takefit daemon keys init`, authorise clients with `takefit daemon keys new-client "
                             f"NAME`, then start with --remote-bind {ep}")
    for ep in cfg.remote_binds:
        ep = normalise_endpoint(ep)
        if not ep.startswith("tcp://"):
            raise InputError(f"--remote-bind takes tcp://HOST:PORT, got {ep!r}")
        _tcp_host_port(ep)
    if not cfg.binds and not cfg.remote_binds and not cfg.ipc:
        raise InputError("no endpoint to listen on: give --bind, --remote-bind or allow ipc")
    for name, lo, hi in (("workers", 1, 64), ("max_queue", 1, 1_000_000), ("heartbeat_ms", 20, 60_000),
                         ("liveness", 1, 100)):
        if not (lo <= getattr(cfg, name) <= hi):
            raise InputError(f"--{name.replace('_', '-')} {getattr(cfg, name)} out of range [{lo}, {hi}]")


# ------------------------------------------------------------------------------------------- jobs
class JobCanceled(Exception):
    """Raised from the engine's progress callback to stop a running render between stages."""


@dataclass
class Job:
    id: str
    batch: str | None
    priority: int
    seq: int
    spec: dict
    spec_hash: str
    key: str
    output: str | None
    created: float
    state: str = "queued"
    lane: str = "engine"
    fraction: float = 0.0
    message: str = ""
    started: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)


class Scheduler:
    """A thread-safe priority queue (highest priority, then oldest) with O(1) lazy removal."""

    def __init__(self):
        self._heap: list[list] = []
        self._entries: dict[str, list] = {}
        self._cv = threading.Condition()
        self._closed = False

    def put(self, job: Job) -> None:
        with self._cv:
            entry = [-job.priority, job.seq, job]
            self._entries[job.id] = entry
            heapq.heappush(self._heap, entry)
            self._cv.notify()

    def get(self, timeout: float | None = None) -> Job | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cv:
            while True:
                if self._closed:
                    return None
                while self._heap:
                    entry = heapq.heappop(self._heap)
                    job = entry[2]
                    if job is not None:
                        del self._entries[job.id]
                        return job
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cv.wait(remaining)

    def remove(self, job_id: str) -> bool:
        """True if the job was still queued (and now is not); False if a worker already took it."""
        with self._cv:
            entry = self._entries.pop(job_id, None)
            if entry is None:
                return False
            entry[2] = None
            return True

    def position(self, job_id: str) -> int | None:
        with self._cv:
            e = self._entries.get(job_id)
            if e is None:
                return None
            return sum(1 for o in self._entries.values() if (o[0], o[1]) < (e[0], e[1]))

    def counts(self) -> dict[str, int]:
        with self._cv:
            out = {name: 0 for name in PRIORITIES}
            for e in self._entries.values():
                out[PRIORITY_NAMES[-e[0]]] += 1
            return out

    def __len__(self) -> int:
        with self._cv:
            return len(self._entries)

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()


@dataclass
class Watch:
    """A client waiting on jobs: progress and results go to (socket, routing id) under request id `rid`."""

    wid: int
    peer: tuple[int, bytes]
    rid: Any
    kind: str                   # render | render_batch | watch
    pending: set[str]
    inline: bool
    phonemes: bool
    progress: bool
    batch: str | None = None
    summary: dict = field(default_factory=lambda: {"done": 0, "failed": 0, "canceled": 0})


def _spec_hash(spec: dict, output: str | None, batch: str | None = None) -> str:
    return hashlib.sha256(pack([spec, output]) if output is not None else pack(spec)).hexdigest()


def error_doc(err: BaseException) -> dict:
    if isinstance(err, ProtocolError):
        return {"code": err.code, "message": err.message, "details": err.details}
    if isinstance(err, TakefitError):
        details = {}
        if isinstance(err, FitError):
            details = {k: v for k, v in (("min_seconds", err.min_seconds), ("max_seconds", err.max_seconds))
                       if v is not None}
        code = err.code if err.code in protocol.ERROR_CODES else "internal"
        return {"code": code, "message": str(err), "details": details}
    return {"code": "internal", "message": f"{type(err).__name__}: {err}"[:500], "details": {}}


def rss_bytes() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import resource

        r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return r if sys.platform == "darwin" else r * 1024
    except (ImportError, OSError):
        return 0


def parse_dictionary(text: str, workdir: Path):
    """An inline pronunciation dictionary (the `--dict` file format) → engine Lexicon."""
    from takefit.engine.frontend import Lexicon

    fd, tmp = tempfile.mkstemp(prefix=".dict-", suffix=".txt", dir=workdir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        try:
            return Lexicon.load(tmp)
        except InputError as e:
            raise InputError(str(e).replace(tmp, "dictionary")) from None
    finally:
        Path(tmp).unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------- daemon
class Daemon:
    def __init__(self, config: Config):
        check_config(config)
        self.config = config
        self.dirs = Dirs.resolve(config.home)
        self.output_root = Path(config.output_root).expanduser().absolute() if config.output_root \
            else self.dirs.outputs
        self.hb = config.heartbeat_ms / 1000.0
        self.dead_after = self.hb * config.liveness
        self.lock = control.Lock(self.dirs.lock)
        self.started = time.time()
        self.engine = None
        self.engine_state = "loading"
        self.engine_error: str | None = None
        self.engine_ready = threading.Event()
        self.voice_names: set[str] | None = None
        self.jobs: dict[str, Job] = {}
        self.queue = Scheduler()
        self.aux: queue.Queue = queue.Queue()
        self.watches: dict[int, Watch] = {}
        self.job_watches: dict[str, set[int]] = {}
        self.peers: dict[tuple[int, bytes], float] = {}    # peers with watches → last heard (monotonic)
        self.waiting_engine: list[tuple[tuple[int, bytes], dict]] = []
        self.stopping = False
        self.stop_reason = ""
        self.stop_deadline = 0.0
        self._signal_stop = False
        self._wids = itertools.count(1)
        self._seq = 0
        self._lex_engines: OrderedDict[str, Any] = OrderedDict()
        self._lex_lock = threading.Lock()
        self._dictionaries_ok: set[str] = set()
        self._enrolling: threading.Thread | None = None
        self._threads: list[threading.Thread] = []
        self.endpoints: list[str] = []
        self.remote_endpoints: list[str] = []
        self.sockets: list[zmq.Socket] = []
        self.auth = None
        self.stats = {"accepted": 0, "cache_hits": 0, "rendered": 0, "failed": 0, "canceled": 0, "bad_frames": 0}

    # ------------------------------------------------------------------ setup
    def _setup_logging(self) -> None:
        root = logging.getLogger("takefit")
        root.setLevel(self.config.log_level)
        fmt = logging.Formatter("%(asctime)s %(levelname)s [%(threadName)s] %(message)s")
        os.close(os.open(self.dirs.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))   # owner only, as the folder
        fh = logging.handlers.RotatingFileHandler(self.dirs.log, maxBytes=5 * 1024 * 1024, backupCount=3,
                                                  encoding="utf-8")
        fh.setFormatter(fmt)
        root.addHandler(fh)
        self._log_handlers = [fh]
        if self.config.log_stderr:
            sh = logging.StreamHandler(sys.stderr)
            sh.setFormatter(fmt)
            root.addHandler(sh)
            self._log_handlers.append(sh)

    def _bind(self) -> None:
        ctx = self.ctx
        front = ctx.socket(zmq.ROUTER)
        self.sockets.append(front)       # before binding: teardown must close it even when a bind fails,
        self._configure_router(front)    # or the context's term() waits for it forever (#20.2)
        local = [normalise_endpoint(e) for e in self.config.binds]
        ipc = self.dirs.ipc_endpoint() if self.config.ipc else None
        if ipc:
            self.dirs.ipc.unlink(missing_ok=True)    # a stale socket file from a killed daemon (we hold the lock)
            local.insert(0, ipc)
        for ep in local:
            self.endpoints.append(self._bind_local(front, ep))
        if ipc:
            try:
                os.chmod(self.dirs.ipc, 0o600)
            except OSError:
                pass
        self.frontend = front
        if self.config.remote_binds:
            server = keys.load_server(self.dirs)
            if server is None:
                raise control.DaemonError("--remote-bind needs the daemon's CurveZMQ key pair: run "
                                          "`takefit daemon keys init` (then authorise clients with "
                                          "`takefit daemon keys new-client NAME`)", code="no_keys")
            from zmq.auth.thread import ThreadAuthenticator

            keys.authorized_dir(self.dirs).mkdir(parents=True, exist_ok=True)
            self.auth = ThreadAuthenticator(ctx, log=logging.getLogger("takefit.daemon.auth"))
            self.auth.start()
            self.auth.configure_curve_callback(domain=ZAP_DOMAIN,
                                               credentials_provider=keys.AuthorizedKeys(keys.authorized_dir(self.dirs)))
            remote = ctx.socket(zmq.ROUTER)
            self.sockets.append(remote)
            self._configure_router(remote)
            remote.curve_publickey, remote.curve_secretkey = server
            remote.curve_server = True
            remote.zap_domain = ZAP_DOMAIN.encode()
            for ep in self.config.remote_binds:
                ep = normalise_endpoint(ep)
                try:
                    remote.bind(ep)
                except zmq.ZMQError as e:
                    raise control.DaemonError(f"cannot bind {ep}: {e}", code="bind_failed") from None
                self.remote_endpoints.append(remote.getsockopt_string(zmq.LAST_ENDPOINT))
            self.remote = remote
            self.server_public = server[0].decode()
        self.events = ctx.socket(zmq.PULL)
        self.events_addr = f"inproc://events-{uuid.uuid4().hex}"
        self.events.bind(self.events_addr)

    @staticmethod
    def _bind_local(front: zmq.Socket, ep: str) -> str:
        """Bind one local endpoint; returns the endpoint bound. The default port is a preference:
        another user's daemon (or any program) may hold it, and this user's clients find their daemon
        through its daemon.json (ipc first), so any free loopback port serves. An endpoint the user
        chose that is taken ends the start at once, with the fix."""
        try:
            front.bind(ep)
        except zmq.ZMQError as e:
            if e.errno != zmq.EADDRINUSE:
                raise control.DaemonError(f"cannot bind {ep}: {e}", code="bind_failed") from None
            if ep != DEFAULT_BIND:
                raise control.DaemonError(
                    f"port {ep.rsplit(':', 1)[-1]} is in use ({ep}: by another program, or another user's "
                    f"takefit daemon?). Start with --bind tcp://127.0.0.1:PORT (or tcp://127.0.0.1:* for any "
                    f"free port), or --bind none to listen only on this user's ipc socket; takefit's own "
                    f"clients find the daemon either way", code="bind_failed") from None
            front.bind(ANY_LOOPBACK_PORT)
            log.warning("port %d is in use (by another program, or another user's takefit daemon?); listening on "
                        "%s instead", DEFAULT_PORT, front.getsockopt_string(zmq.LAST_ENDPOINT))
        return front.getsockopt_string(zmq.LAST_ENDPOINT)

    @staticmethod
    def _configure_router(sock: zmq.Socket) -> None:
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES + 64)
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, 100_000)
        sock.setsockopt(zmq.RCVHWM, 100_000)

    def _event_socket(self) -> zmq.Socket:
        s = self.ctx.socket(zmq.PUSH)
        s.setsockopt(zmq.LINGER, 1000)
        s.setsockopt(zmq.SNDHWM, 0)
        s.connect(self.events_addr)
        return s

    # ------------------------------------------------------------------ run
    def run(self) -> int:
        self.dirs.ensure()
        if not self.lock.acquire(timeout=2.0):
            raise control.AlreadyRunning(control.read_info(self.dirs, require_lock=False))
        self.lock.write_owner()
        self.dirs.info.unlink(missing_ok=True)          # a stale one from a killed daemon
        try:
            self._setup_logging()
            self.output_root.mkdir(parents=True, exist_ok=True)
            self.tmpdir = self.dirs.state / "tmp"
            self.tmpdir.mkdir(exist_ok=True)
            self.cache = TakeCache(self.dirs.take_cache, self.config.cache_bytes)
            self.journal = Journal(self.dirs.journal)
            self.ctx = zmq.Context()
            try:
                self._bind()
                self._recover()
                self._start_threads()
                self._publish()
                self._install_signals()
                log.info("takefit daemon %s (protocol %d, pid %d) listening on %s%s; output root %s", __version__,
                         PROTOCOL, os.getpid(), ", ".join(self.endpoints),
                         f"; CurveZMQ on {', '.join(self.remote_endpoints)}" if self.remote_endpoints else "",
                         self.output_root)
                self._loop()
            finally:
                self._teardown()
        finally:
            control.remove_info(self.dirs, os.getpid())
            self.lock.release()
            log.info("stopped (%s)", self.stop_reason or "done")
            for h in getattr(self, "_log_handlers", []):
                logging.getLogger("takefit").removeHandler(h)
                h.close()
        return 0

    def _publish(self) -> None:
        info = {"pid": os.getpid(), "endpoints": self.endpoints, "remote_endpoints": self.remote_endpoints,
                "protocol": PROTOCOL, "version": __version__, "engine": ENGINE_ID, "started": self.started,
                "output_root": str(self.output_root), "log": str(self.dirs.log), "ready": True}
        if self.remote_endpoints:
            info["server_key"] = self.server_public
        control.write_info(self.dirs, info)

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def handler(signum, frame):
            if self._signal_stop:            # a second Ctrl-C: stop now (running jobs resume on next start)
                self.stop_deadline = 0.0
            self._signal_stop = True

        for name in ("SIGTERM", "SIGINT", "SIGHUP"):
            if hasattr(signal, name):
                try:
                    signal.signal(getattr(signal, name), handler)
                except (ValueError, OSError):
                    pass

    def _recover(self) -> None:
        queued, failed = self.journal.recover()
        for jid in failed:
            log.warning("job %s failed: it was running each time the daemon died", jid)
        self._seq = self.journal.next_seq()
        for row in queued:
            job = Job(id=row["id"], batch=row["batch"], priority=row["priority"], seq=row["seq"], spec=row["spec"],
                      spec_hash=row["spec_hash"], key=row["cache_key"], output=row["output"], created=row["created"])
            self.jobs[job.id] = job
            self._enqueue(job)
        if queued:
            log.info("resuming %d queued job(s) from the journal", len(queued))
        self._prune()

    def _prune(self) -> None:
        self._last_prune = time.monotonic()
        gone = self.journal.prune(time.time() - self.config.retention_days * 86400)
        for row in gone:
            if not row["named"] and row["output"]:          # default-named outputs go with their job
                try:
                    (self.output_root / row["output"]).unlink(missing_ok=True)
                except OSError:
                    pass
        if gone:
            log.info("pruned %d finished job(s) older than %g days", len(gone), self.config.retention_days)

    def _start_threads(self) -> None:
        def spawn(name, target, *args):
            t = threading.Thread(target=target, args=args, name=name, daemon=True)
            t.start()
            self._threads.append(t)

        spawn("loader", self._load_engine)
        for i in range(self.config.workers):
            spawn(f"engine-{i + 1}", self._engine_worker)
        spawn("aux", self._aux_worker)

    def _loop(self) -> None:
        poller = zmq.Poller()
        for s in self.sockets:
            poller.register(s, zmq.POLLIN)
        poller.register(self.events, zmq.POLLIN)
        next_tick = time.monotonic() + self.hb
        while True:
            if self._signal_stop and not self.stopping:
                self._begin_shutdown("signal")
            now = time.monotonic()
            if self.stopping and (not any(t.is_alive() for t in self._threads if t.name != "loader")
                                  or now > self.stop_deadline):
                self._drain_events()         # results that finished during the grace period
                break
            timeout = max(0.0, min(next_tick - now, 0.25))
            ready = dict(poller.poll(int(timeout * 1000)))
            if self.events in ready:
                self._drain_events()
            for si, sock in enumerate(self.sockets):
                if sock in ready:
                    for _ in range(1000):   # bounded, so events and heartbeats are never starved
                        try:
                            frames = sock.recv_multipart(zmq.NOBLOCK, copy=True)
                        except zmq.Again:
                            break
                        try:
                            self._on_message(si, frames)
                        except Exception:  # noqa: BLE001
                            log.exception("message handling failed")
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + self.hb
                self._tick()

    def _teardown(self) -> None:
        self.queue.close()
        self.aux.put(None)
        for t in self._threads:
            if t.name != "loader":
                t.join(timeout=0.5)
        for s in self.sockets:
            s.close(linger=500)              # let the last replies (e.g. to `shutdown`) leave
        if getattr(self, "events", None) is not None:
            self.events.close(linger=0)
        if self.auth is not None:
            self.auth.stop()
        if self.config.ipc:
            ipc = self.dirs.ipc_endpoint()
            if ipc and ipc in self.endpoints:
                self.dirs.ipc.unlink(missing_ok=True)
        self.ctx.term() if not any(t.is_alive() for t in self._threads) else None
        self.journal.close()

    # ------------------------------------------------------------------ worker threads
    def _load_engine(self) -> None:
        try:
            from takefit.engine import Engine

            t0 = time.perf_counter()
            # one copy of each stage per worker, so workers render side by side (engine/kokoro/session.py)
            engine = Engine(threads=self.config.threads, log=log.info, sessions=self.config.workers)
            self.voice_list = [{"name": v.name, "language": v.language, "accent": v.accent, "gender": v.gender}
                               for v in engine.voices()]
            self.voice_names = {v["name"] for v in self.voice_list}
            self.engine = engine
            self.engine_state = "ready"
            log.info("engine %s ready in %.1f s (%d voices)", ENGINE_ID, time.perf_counter() - t0, len(self.voice_list))
        except BaseException as e:  # noqa: BLE001 - reported, daemon keeps answering
            self.engine_state = "failed"
            self.engine_error = str(e) or type(e).__name__
            log.error("engine failed to load: %s", self.engine_error)
        finally:
            self.engine_ready.set()
            push = self._event_socket()
            push.send(pack({"ev": "engine"}))
            push.close()

    def _engine_worker(self) -> None:
        while not self.engine_ready.wait(0.2):
            if self.stopping:
                return
        if self.engine_state != "ready":
            return
        push = self._event_socket()
        try:
            while True:
                job = self.queue.get()
                if job is None:
                    break
                self._run_job(job, push)
        finally:
            push.close()

    def _aux_worker(self) -> None:
        push = self._event_socket()
        try:
            while True:
                item = self.aux.get()
                if item is None:
                    break
                if item[0] == "job":
                    self._run_job(item[1], push)
                elif item[0] == "explain":
                    self._explain(item[1], item[2], push)
        finally:
            push.close()

    def _emit(self, push: zmq.Socket, doc: dict) -> None:
        push.send(pack(doc))

    def _engine_for(self, dictionary: str | None):
        if not dictionary:
            return self.engine
        h = hashlib.sha256(dictionary.encode("utf-8", "surrogatepass")).hexdigest()
        with self._lex_lock:
            view = self._lex_engines.get(h)
            if view is not None:
                self._lex_engines.move_to_end(h)
                return view
        from takefit.engine.frontend import Frontend

        view = copy.copy(self.engine)          # shares the model, voices and the engine's lock
        view.frontend = Frontend(parse_dictionary(dictionary, self.tmpdir))
        with self._lex_lock:
            self._lex_engines[h] = view
            while len(self._lex_engines) > 8:
                self._lex_engines.popitem(last=False)
        return view

    def _run_job(self, job: Job, push: zmq.Socket) -> None:
        def finish(state: str, result: dict | None = None, error: dict | None = None) -> None:
            if self.journal.finish(job.id, state, result=result, error=error):
                self._emit(push, {"ev": "finished", "job": job.id, "state": state, "result": result, "error": error})

        if job.cancel.is_set():
            finish("canceled", error={"code": "canceled", "message": "canceled before it started", "details": {}})
            return
        hit = self.cache.lookup(job.key)
        if hit is None and job.lane == "fast":
            job.lane = "engine"                     # evicted since it was accepted: render it after all
            self.queue.put(job)
            return
        started = time.time()
        job.started = started
        if hit is None:
            self.journal.mark_running(job.id)
            job.state = "running"
            self._emit(push, {"ev": "running", "job": job.id})
        take = None
        try:
            if hit is not None:
                meta, wav = hit
                cached = True
            else:
                req = to_render_request(job.spec)
                engine = self._engine_for(job.spec.get("dictionary"))
                last = [-1.0]

                def progress(fraction: float, message: str) -> None:
                    if job.cancel.is_set():
                        raise JobCanceled()
                    if fraction - last[0] >= 0.01 or fraction >= 1.0:
                        last[0] = fraction
                        job.fraction, job.message = float(fraction), str(message)
                        self._emit(push, {"ev": "progress", "job": job.id, "fraction": float(fraction),
                                          "message": str(message)})

                take = engine.render(req, progress=progress)
                wav = self.cache.put(job.key, take, comment=WAV_COMMENT.format(voice=take.voice),
                                     title=take.text[:200])
                from .cache import take_metadata

                meta = take_metadata(take)
                cached = False
                if job.cancel.is_set():
                    raise JobCanceled()          # finished anyway: kept in the cache, result dropped
            try:
                out = self._deliver(job, wav, take)
            except FileNotFoundError:
                if take is None:                 # the cached file went between lookup and copy
                    job.lane = "engine"
                    self.queue.put(job)
                    return
                raise
            now = time.time()
            result = {"job": job.id, "path": str(out), "output": self._output_name(job),
                      "samples": int(meta["samples"]), "sample_rate": int(meta["sample_rate"]),
                      "seconds": meta["samples"] / meta["sample_rate"], "natural_seconds": meta["natural_seconds"],
                      "ratio": meta["ratio"], "method": meta["method"], "voice": meta["voice"], "text": meta["text"],
                      "warnings": list(meta["warnings"]), "timings": dict(meta.get("timings", {})),
                      "daemon_timings": {"queued": started - job.created, "total": now - job.created},
                      "phonemes": meta.get("phonemes", []), "cached": cached, "key": job.key,
                      "speech_start": meta.get("speech_start", 0.0), "speech_end": meta.get("speech_end", 0.0),
                      "pins": list(meta.get("pins", [])),
                      "bytes": out.stat().st_size}
            finish("done", result=result)
        except JobCanceled:
            finish("canceled", error={"code": "canceled", "message": "canceled while rendering", "details": {}})
        except TakefitError as e:
            finish("failed", error=error_doc(e))
        except PathEscapeError as e:
            finish("failed", error={"code": "bad_path", "message": str(e), "details": {}})
        except OSError as e:                         # disk full, permissions, a vanished folder …
            log.warning("job %s: cannot write its take: %s", job.id, e)
            finish("failed", error={"code": "output", "message": f"cannot write the take: {e.strerror or e}"
                                    f"{f' ({e.filename})' if getattr(e, 'filename', None) else ''}", "details": {}})
        except Exception as e:  # noqa: BLE001 - a bug must not take the daemon down
            log.exception("job %s failed", job.id)
            finish("failed", error=error_doc(e))

    def _output_name(self, job: Job) -> str:
        return job.output or f"jobs/{job.id}.wav"

    def _deliver(self, job: Job, wav: Path, take) -> Path:
        """Copy the take into the output root (atomically; re-checking containment after mkdir)."""
        target = safe_output(self.output_root, self._output_name(job))
        target.parent.mkdir(parents=True, exist_ok=True)
        target = safe_output(self.output_root, self._output_name(job))   # symlinks made meanwhile
        fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".wav.partial", dir=target.parent)
        os.close(fd)
        try:
            try:
                shutil.copyfile(wav, tmp)
            except FileNotFoundError:
                if take is None:
                    raise
                from takefit.engine.audio import write_wav

                write_wav(tmp + ".wav", take.audio, take.sample_rate, comment=WAV_COMMENT.format(voice=take.voice),
                          title=take.text[:200])
                os.replace(tmp + ".wav", tmp)
            os.replace(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return target

    def _explain(self, peer, msg: dict, push: zmq.Socket) -> None:
        try:
            engine = self._engine_for(msg.get("dictionary"))
            info = engine.explain(msg["text"], msg["voice"], msg["language"], msg["speed"])
            doc = {"type": "reply", "id": msg["id"], "explain": info}
        except Exception as e:  # noqa: BLE001
            if not isinstance(e, TakefitError):
                log.exception("explain failed")
            doc = {"type": "error", "id": msg["id"], **error_doc(e)}
        self._emit(push, {"ev": "reply", "peer": [peer[0], peer[1]], "doc": doc})

    # ------------------------------------------------------------------ events from threads
    def _drain_events(self) -> None:
        for _ in range(10_000):
            try:
                raw = self.events.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                self._on_event(unpack(raw, 1 << 31))
            except Exception:  # noqa: BLE001 - the loop must survive its own bugs
                log.exception("event handling failed")

    def _on_event(self, ev: dict) -> None:
        kind = ev["ev"]
        if kind == "progress":
            self._forward_progress(ev["job"], ev["fraction"], ev["message"])
        elif kind == "running":
            job = self.jobs.get(ev["job"])
            if job is not None:
                job.state = "running"
            self._forward_progress(ev["job"], 0.0, "started")
        elif kind == "finished":
            self._on_finished(ev["job"], ev["state"], ev["result"], ev["error"])
        elif kind == "reply":
            self._send((ev["peer"][0], ev["peer"][1]), ev["doc"])
        elif kind == "engine":
            waiting, self.waiting_engine = self.waiting_engine, []
            for peer, msg in waiting:
                self._dispatch(peer, msg)

    def _forward_progress(self, job_id: str, fraction: float, message: str) -> None:
        for wid in list(self.job_watches.get(job_id, ())):
            w = self.watches.get(wid)
            if w is not None and w.progress:
                self._send(w.peer, {"type": "progress", "id": w.rid, "job": job_id, "fraction": fraction,
                                    "message": message})

    def _on_finished(self, job_id: str, state: str, result: dict | None, error: dict | None) -> None:
        job = self.jobs.pop(job_id, None)
        if job is not None:
            job.state = state
        if state == "failed":
            log.info("job %s failed: %s: %s", job_id, (error or {}).get("code"), (error or {}).get("message"))
        else:
            log.debug("job %s %s", job_id, state)
        key = {"done": "rendered", "failed": "failed", "canceled": "canceled"}[state]
        if state == "done" and result and result.get("cached"):
            key = "cache_hits"
        self.stats[key] += 1
        for wid in list(self.job_watches.pop(job_id, ())):
            w = self.watches.get(wid)
            if w is not None:
                self._deliver_final(w, job_id, state, result, error)
        self._notify_stopping()

    # ------------------------------------------------------------------ messages from clients
    def _on_message(self, si: int, frames: list[bytes]) -> None:
        peer = (si, frames[0])
        if peer in self.peers:
            self.peers[peer] = time.monotonic()
        rid = None
        try:
            body = split_frames(frames[1:])
            rid = request_id(body)
            msg = validate(body)
        except ProtocolError as e:
            self.stats["bad_frames"] += 1
            self._send(peer, {"type": "error", "id": rid, "code": e.code, "message": e.message, "details": e.details})
            return
        self._dispatch(peer, msg)

    def _dispatch(self, peer, msg: dict) -> None:
        try:
            getattr(self, "op_" + msg["op"])(peer, msg)
        except (ProtocolError, TakefitError, PathEscapeError) as e:
            doc = error_doc(e) if not isinstance(e, PathEscapeError) else \
                {"code": "bad_path", "message": str(e), "details": {}}
            if isinstance(e, (ProtocolError, TakefitError)) and getattr(e, "job", None):
                doc["job"] = e.job
            self._send(peer, {"type": "error", "id": msg.get("id"), **doc})
        except Exception as e:  # noqa: BLE001
            log.exception("op %s failed", msg.get("op"))
            self._send(peer, {"type": "error", "id": msg.get("id"), **error_doc(e)})

    def _send(self, peer: tuple[int, bytes], doc: dict) -> bool:
        sock = self.sockets[peer[0]]
        try:
            sock.send_multipart([peer[1], SIGNATURE, pack(doc)], zmq.NOBLOCK)
            return True
        except zmq.Again:
            log.warning("peer %s is not reading (send queue full); dropped a %s message", peer[1].hex(),
                        doc.get("type"))
        except zmq.ZMQError as e:
            if e.errno == zmq.EHOSTUNREACH:
                self._drop_peer(peer, "disconnected")
            else:
                log.warning("send to %s failed: %s", peer[1].hex(), e)
        return False

    def _reply(self, peer, msg: dict, **fields) -> None:
        self._send(peer, {"type": "reply", "id": msg["id"], **fields})

    # ------------------------------------------------------------------ operations
    def op_hello(self, peer, msg) -> None:
        if msg["protocol"] not in SUPPORTED_PROTOCOLS:
            raise ProtocolError("unsupported_version", f"protocol {msg['protocol']} is not supported; this daemon "
                                f"speaks {', '.join(map(str, SUPPORTED_PROTOCOLS))}",
                                {"supported": list(SUPPORTED_PROTOCOLS)})
        self._reply(peer, msg, protocol=PROTOCOL, protocols=list(SUPPORTED_PROTOCOLS), daemon=__version__,
                    version=__version__,
                    engine=ENGINE_ID, engine_state=self.engine_state, pid=os.getpid(), capabilities=CAPABILITIES,
                    limits={"max_message_bytes": MAX_MESSAGE_BYTES, "max_batch": protocol.MAX_BATCH,
                            "max_text_chars": protocol.MAX_TEXT_CHARS, "max_queue": self.config.max_queue,
                            "max_inline_bytes": MAX_INLINE_BYTES, "max_id_chars": protocol.MAX_ID_CHARS,
                            "max_output_chars": protocol.MAX_OUTPUT_CHARS,
                            "max_dictionary_bytes": protocol.MAX_DICT_BYTES},
                    heartbeat={"interval_ms": self.config.heartbeat_ms, "liveness": self.config.liveness},
                    output_root=str(self.output_root), authenticated=peer[0] > 0)

    def op_ping(self, peer, msg) -> None:
        self._reply(peer, msg, pong=True, time=time.time())

    def op_heartbeat(self, peer, msg) -> None:
        pass                                   # liveness only (noted in _on_message); no reply

    def op_health(self, peer, msg) -> None:
        counts = self.queue.counts()
        running = sum(1 for j in self.jobs.values() if j.state == "running")
        self._reply(peer, msg, status="stopping" if self.stopping else
                    ("ok" if self.engine_state == "ready" else self.engine_state),
                    pid=os.getpid(), version=__version__, engine=ENGINE_ID, engine_state=self.engine_state,
                    engine_error=self.engine_error, uptime=time.time() - self.started, protocol=PROTOCOL,
                    queue={"queued": len(self.queue), "running": running, "by_priority": counts,
                           "fast_lane": self.aux.qsize(), "limit": self.config.max_queue},
                    workers=self.config.workers, watches=len(self.watches), peers=len(self.peers),
                    stats=dict(self.stats), journal=self.journal.counts(),
                    cache={"bytes": self.cache.approx_size(), "max_bytes": self.cache.max_bytes, "root": str(self.cache.root)},
                    rss_bytes=rss_bytes(), endpoints=self.endpoints, remote_endpoints=self.remote_endpoints,
                    output_root=str(self.output_root))

    def op_voices(self, peer, msg) -> None:
        if self._need_engine(peer, msg):
            voices = self.voice_list
            voices = voices + [{"name": v.name, "language": v.language, "accent": v.accent, "gender": v.gender}
                               for v in self.engine.voice_bank.enrolled_info()]
            if msg.get("language"):
                voices = [v for v in voices if v["language"] == msg["language"]]
            self._reply(peer, msg, voices=voices)

    # ------------------------------------------------------------------ enrolled voices
    def op_voice_enroll(self, peer, msg) -> None:
        """Runs on its own thread (one enrollment at a time); progress and the reply go through events."""
        if not self._need_engine(peer, msg):
            return
        if self._enrolling is not None and self._enrolling.is_alive():
            raise ProtocolError("busy", "an enrollment is already running; retry when it has finished",
                                {"retry_after_ms": 10_000})
        self._enrolling = threading.Thread(target=self._enroll, args=(peer, msg), name="enroll", daemon=True)
        self._enrolling.start()

    def _enroll(self, peer, msg: dict) -> None:
        push = self._event_socket()
        where = [peer[0], peer[1]]

        def progress(fraction: float, message: str) -> None:
            if msg["progress"]:
                self._emit(push, {"ev": "reply", "peer": where, "doc": {
                    "type": "progress", "id": msg["id"], "job": f"enroll:{msg['name']}",
                    "fraction": float(fraction), "message": message}})
        try:
            from takefit.engine.enroll import enroll_voice

            profile = enroll_voice(msg["name"], msg["reference"], text=msg["text"], quality=msg["quality"],
                                   consent=msg["consent"], no_consent_record=msg["no_consent_record"],
                                   prosody_from=msg["prosody_from"], force=msg["force"], progress=progress,
                                   engine=self.engine, denoise=msg["denoise"])
            doc = {"type": "reply", "id": msg["id"], "voice": profile.summary()}
        except Exception as e:  # noqa: BLE001
            if not isinstance(e, TakefitError):
                log.exception("enrollment failed")
            doc = {"type": "error", "id": msg["id"], **error_doc(e)}
        self._enrolling = None                 # free before the client hears the outcome (it may enroll again)
        self._emit(push, {"ev": "reply", "peer": where, "doc": doc})
        push.close()

    def op_voice_list(self, peer, msg) -> None:
        from takefit.engine.profiles import ProfileStore

        store = ProfileStore()
        out = []
        for n in store.names():
            try:
                out.append(store.load(n).summary())
            except TakefitError as e:
                out.append({"name": n, "error": str(e)})
        self._reply(peer, msg, voices=out)

    def op_voice_show(self, peer, msg) -> None:
        from takefit.engine.profiles import ProfileStore

        self._reply(peer, msg, voice=ProfileStore().load(msg["name"]).summary())

    def op_voice_remove(self, peer, msg) -> None:
        from takefit.engine.profiles import ProfileStore

        ProfileStore().remove(msg["name"])
        self._reply(peer, msg, removed=msg["name"])

    def op_explain(self, peer, msg) -> None:
        if self._need_engine(peer, msg):
            self.aux.put(("explain", peer, msg))

    def _need_engine(self, peer, msg) -> bool:
        if self.engine_state == "ready":
            return True
        if self.engine_state == "loading":
            self.waiting_engine.append((peer, msg))      # answered when the engine is up
            return False
        raise AssetError(f"the engine could not load: {self.engine_error}")

    def op_cache_clear(self, peer, msg) -> None:
        self._reply(peer, msg, removed=self.cache.clear())

    def op_shutdown(self, peer, msg) -> None:
        self._reply(peer, msg, stopping=True, queued=len(self.queue))
        self._begin_shutdown("shutdown requested")

    def _begin_shutdown(self, reason: str) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.stop_reason = reason
        self.stop_deadline = time.monotonic() + self.config.shutdown_grace
        log.info("stopping (%s): %d job(s) stay queued in the journal", reason, len(self.queue))
        self.queue.close()
        self.aux.put(None)
        self._notify_stopping()

    def _notify_stopping(self) -> None:
        """Streams left waiting only on jobs that will not run before exit: tell them, and end them."""
        if not self.stopping:
            return
        for w in list(self.watches.values()):
            waiting = sorted(j for j in w.pending if j in self.jobs and self.jobs[j].state != "running")
            if waiting and len(waiting) == len(w.pending):
                self._send(w.peer, {"type": "error", "id": w.rid, "code": "shutting_down",
                                    "message": "the daemon is stopping; these jobs stay queued and resume on the next "
                                               "start (fetch them later with `job` or `watch`)",
                                    "details": {"jobs": waiting, "resumable": True}})
                w.kind = "render"                     # no `done` after this
                self._end_watch(w)

    def _check_accepting(self) -> None:
        if self.stopping:
            raise ProtocolError("shutting_down", "the daemon is stopping; retry after it restarts",
                                {"resumable": False})
        if self.engine_state == "failed":
            raise AssetError(f"the engine could not load: {self.engine_error}")

    def op_render(self, peer, msg) -> None:
        item = {"request": msg["request"], "job": msg["job"], "output": msg["output"]}
        self._submit(peer, msg, [item], PRIORITIES[msg["priority"]], None, "render", stream=True)

    def op_render_batch(self, peer, msg) -> None:
        self._submit(peer, msg, msg["items"], PRIORITIES[msg["priority"]], msg["batch"] or uuid.uuid4().hex,
                     "render_batch", stream=msg["stream"])

    def op_watch(self, peer, msg) -> None:
        ids = list(dict.fromkeys(msg["jobs"]))
        rows = self._lookup(ids)
        missing = [j for j in ids if j not in rows]
        if missing:
            raise ProtocolError("not_found", f"no such job(s): {', '.join(missing[:10])}", {"jobs": missing})
        self._send(peer, {"type": "accepted", "id": msg["id"], "jobs": ids,
                          "states": {j: rows[j]["state"] for j in ids}})
        self._attach(peer, msg, ids, rows, "watch", None)

    def _lookup(self, ids: list[str]) -> dict[str, dict]:
        """State of jobs: in-memory (unfinished) first, else the journal."""
        out = {}
        rest = []
        for j in ids:
            job = self.jobs.get(j)
            if job is not None:
                out[j] = {"state": job.state, "spec_hash": job.spec_hash, "result": None, "error": None}
            else:
                rest.append(j)
        if rest:
            for j, row in self.journal.get_many(rest).items():
                out[j] = row
        return out

    def _submit(self, peer, msg, items: list[dict], priority: int, batch: str | None, kind: str,
                stream: bool) -> None:
        ids = [it.get("job") or uuid.uuid4().hex for it in items]
        if len(set(ids)) != len(ids):
            raise ProtocolError("bad_message", "job ids within one batch must be unique")
        hashes = [_spec_hash(it["request"], it.get("output")) for it in items]
        explicit = [j for it, j in zip(items, ids) if it.get("job")]
        existing = self._lookup(explicit) if explicit else {}
        if existing:                                        # a retry: attach to what was accepted before
            if len(existing) != len(ids):
                raise ProtocolError("conflict", "some of these job ids exist and some do not; job ids are single-use",
                                    {"jobs": sorted(existing)[:20]})
            for j, h in zip(ids, hashes):
                if existing[j]["spec_hash"] != h:
                    raise ProtocolError("conflict", f"job id {j!r} was used for a different request", {"job": j})
            self._accepted(peer, msg, kind, ids, batch, existing)
            if stream:
                self._attach(peer, msg, ids, existing, kind, batch)
            return
        self._check_accepting()                         # (re-attaching, above, works while stopping too)
        if batch and kind == "render_batch" and self.journal.batch_exists(batch):
            raise ProtocolError("conflict", f"batch id {batch!r} is already in use", {"batch": batch})
        queued = len(self.queue)
        limit = self.config.max_queue + (HIGH_RESERVE if priority >= PRIORITIES["high"] else 0)
        if queued + len(items) > limit:
            raise ProtocolError("busy", f"the queue is full ({queued} job(s) queued, limit {limit}); retry later"
                                + (" or send fewer items" if len(items) > 1 else ""),
                                {"queued": queued, "limit": limit, "retry_after_ms": 1000 + 200 * len(items)})
        now = time.time()
        jobs, rows = [], []
        for i, (it, jid, h) in enumerate(zip(items, ids, hashes)):
            where = {"index": i} if kind == "render_batch" else {}
            try:
                spec = it["request"]
                req = to_render_request(spec)
                from takefit.engine import Engine

                Engine._validate(req)
                if self.voice_names is not None and spec["voice"] not in ("auto", "") \
                        and spec["voice"] not in self.voice_names:
                    self.engine.voice_bank.check(spec["voice"])         # raises UnknownVoiceError with hints
                extra = {}
                if spec.get("dictionary"):
                    dh = hashlib.sha256(spec["dictionary"].encode("utf-8", "surrogatepass")).hexdigest()
                    if dh not in self._dictionaries_ok:
                        parse_dictionary(spec["dictionary"], self.tmpdir)   # refuse a bad dictionary now
                        self._dictionaries_ok.add(dh)
                    extra["dictionary"] = dh
                if it.get("output") is not None:
                    safe_output(self.output_root, it["output"])
                key = request_key(req, extra or None)     # inside: an emotion clip that is gone is bad input
            except PathEscapeError as e:
                raise ProtocolError("bad_path", str(e), {**where, "output": it.get("output")}) from None
            except TakefitError as e:
                doc = error_doc(e)
                raise _Refused(doc["code"], (f"item {i}: " if where else "") + doc["message"],
                               {**doc["details"], **where}) from None
            job = Job(id=jid, batch=batch, priority=priority, seq=self._seq, spec=spec, spec_hash=h, key=key,
                      output=it.get("output"), created=now)
            self._seq += 1
            jobs.append(job)
            rows.append({"id": jid, "batch": batch, "seq": job.seq, "priority": priority, "spec": spec,
                         "spec_hash": h, "output": self._output_name(job), "named": it.get("output") is not None,
                         "cache_key": key, "created": now})
        self.journal.insert(rows)                      # durable before anyone hears "accepted"
        self.stats["accepted"] += len(jobs)
        (log.info if len(jobs) > 1 else log.debug)("accepted %d job(s)%s, priority %s", len(jobs),
                                                   f" (batch {batch})" if batch else f" ({jobs[0].id})",
                                                   PRIORITY_NAMES[priority])
        states = {}
        for job in jobs:
            self.jobs[job.id] = job
            self._enqueue(job)
            states[job.id] = {"state": "queued", "spec_hash": job.spec_hash, "result": None, "error": None}
        self._accepted(peer, msg, kind, ids, batch, states)
        if stream:
            self._attach(peer, msg, ids, states, kind, batch)

    def _enqueue(self, job: Job) -> None:
        if self.cache.wav_path(job.key) is not None:
            job.lane = "fast"
            self.aux.put(("job", job))
        else:
            job.lane = "engine"
            self.queue.put(job)

    def _accepted(self, peer, msg, kind, ids, batch, rows) -> None:
        if kind == "render":
            j = ids[0]
            job = self.jobs.get(j)
            self._send(peer, {"type": "accepted", "id": msg["id"], "job": j, "state": rows[j]["state"],
                              "position": self.queue.position(j), "cached": bool(job and job.lane == "fast")})
        else:
            self._send(peer, {"type": "accepted", "id": msg["id"], "batch": batch, "jobs": ids,
                              "queued": len(self.queue)})

    def _attach(self, peer, msg, ids, rows, kind, batch) -> None:
        w = Watch(next(self._wids), peer, msg["id"], kind, set(), msg.get("inline", False),
                  msg.get("phonemes", False), msg.get("progress", True), batch)
        finished = []
        for j in ids:
            row = rows[j]
            if row["state"] in FINAL_STATES:
                finished.append((j, row))
            else:
                w.pending.add(j)
                self.job_watches.setdefault(j, set()).add(w.wid)
        self.watches[w.wid] = w
        self.peers[peer] = time.monotonic()
        for j, row in finished:
            self._deliver_final(w, j, row["state"], row.get("result"), row.get("error"), pending=False)
        if not w.pending:
            self._end_watch(w)
        else:
            self._notify_stopping()

    def _deliver_final(self, w: Watch, job_id: str, state: str, result, error, pending: bool = True) -> None:
        w.pending.discard(job_id)
        w.summary[state] = w.summary.get(state, 0) + 1
        if state == "done":
            self._send(w.peer, {"type": "result", "id": w.rid, "job": job_id,
                                "result": self._client_result(result, w.inline, w.phonemes)})
        else:
            err = error or {"code": "internal", "message": "no error recorded", "details": {}}
            self._send(w.peer, {"type": "error", "id": w.rid, "job": job_id, "code": err["code"],
                                "message": err["message"], "details": err.get("details", {})})
        if pending and not w.pending:
            self._end_watch(w)

    def _end_watch(self, w: Watch) -> None:
        if self.watches.pop(w.wid, None) is None:
            return
        for j in w.pending:
            s = self.job_watches.get(j)
            if s is not None:
                s.discard(w.wid)
                if not s:
                    del self.job_watches[j]
        if w.kind != "render" and not w.pending:
            self._send(w.peer, {"type": "done", "id": w.rid, "batch": w.batch, "summary": dict(w.summary)})
        if not any(o.peer == w.peer for o in self.watches.values()):
            self.peers.pop(w.peer, None)

    def _drop_peer(self, peer, why: str) -> None:
        gone = [w for w in self.watches.values() if w.peer == peer]
        for w in gone:
            w.kind = "render"                         # no "done" to a dead peer
            self._end_watch(w)
        self.peers.pop(peer, None)
        if gone:
            log.info("client %s %s: dropped %d progress stream(s); its jobs continue", peer[1].hex(), why, len(gone))

    def _client_result(self, result: dict, inline: bool, phonemes: bool) -> dict:
        out = {k: v for k, v in result.items() if k != "phonemes"}
        if phonemes:
            out["phonemes"] = result.get("phonemes", [])
        if inline:
            path = Path(result["path"])
            try:
                size = path.stat().st_size
                if size > MAX_INLINE_BYTES:
                    out["inline_error"] = f"the take is {size} bytes, over the inline limit {MAX_INLINE_BYTES}; read {path}"
                else:
                    out["audio"] = path.read_bytes()
            except OSError as e:
                out["inline_error"] = f"cannot read {path}: {e.strerror or e}"
        return out

    def _status(self, job_id: str, inline: bool = False, phonemes: bool = False) -> dict | None:
        job = self.jobs.get(job_id)
        row = self.journal.get(job_id)
        if row is None and job is None:
            return None
        doc = {"job": job_id}
        if row is not None:
            doc.update({"batch": row["batch"], "state": row["state"], "priority": PRIORITY_NAMES[row["priority"]],
                        "created": row["created"], "started": row["started"], "finished": row["finished"],
                        "attempts": row["attempts"], "output": row["output"], "request": row["spec"]})
        if job is not None:
            doc.update({"state": job.state, "fraction": job.fraction, "message": job.message})
            if job.state == "queued":
                doc["position"] = self.queue.position(job_id) if job.lane == "engine" else 0
        if row is not None and row["state"] in FINAL_STATES and (job is None):
            if row["result"] is not None:
                doc["result"] = self._client_result(row["result"], inline, phonemes)
            if row["error"] is not None:
                doc["error"] = row["error"]
        return doc

    def op_job(self, peer, msg) -> None:
        doc = self._status(msg["job"], msg["inline"], msg["phonemes"])
        if doc is None:
            raise ProtocolError("not_found", f"no such job {msg['job']!r} (finished jobs are kept "
                                f"{self.config.retention_days:g} days)", {"job": msg["job"]})
        self._reply(peer, msg, job=doc)

    def op_jobs(self, peer, msg) -> None:
        rows = self.journal.list(msg["state"], msg["batch"], msg["limit"])
        out = []
        for r in rows:
            d = {"job": r["id"], "batch": r["batch"], "state": r["state"], "priority": PRIORITY_NAMES[r["priority"]],
                 "created": r["created"], "finished": r["finished"], "output": r["output"],
                 "text": r["spec"]["text"][:80]}
            job = self.jobs.get(r["id"])
            if job is not None:
                d["state"], d["fraction"] = job.state, job.fraction
            if r["error"]:
                d["error"] = r["error"]
            out.append(d)
        self._reply(peer, msg, jobs=out)

    def op_cancel(self, peer, msg) -> None:
        ids = list(dict.fromkeys(msg["jobs"]))
        if msg["batch"]:
            ids += [j.id for j in self.jobs.values() if j.batch == msg["batch"] and j.id not in ids]
            if not ids and not self.journal.batch_exists(msg["batch"]):
                raise ProtocolError("not_found", f"no such batch {msg['batch']!r}", {"batch": msg["batch"]})
        canceled, canceling, finished, unknown = [], [], [], []
        for j in ids:
            job = self.jobs.get(j)
            if job is None:
                (finished if self.journal.get(j) else unknown).append(j)
                continue
            job.cancel.set()
            if job.lane == "engine" and self.queue.remove(j):
                err = {"code": "canceled", "message": "canceled while queued", "details": {}}
                if self.journal.finish(j, "canceled", error=err):
                    self._on_finished(j, "canceled", None, err)
                canceled.append(j)
            else:
                canceling.append(j)                 # running (or in the fast lane): stops at the next stage
        self._reply(peer, msg, canceled=canceled, canceling=canceling, finished=finished, unknown=unknown)

    # ------------------------------------------------------------------ heartbeats and housekeeping
    def _tick(self) -> None:
        now = time.monotonic()
        for peer, last in list(self.peers.items()):
            if now - last > self.dead_after:
                self._drop_peer(peer, f"silent for {now - last:.1f} s")
            else:
                self._send(peer, {"type": "heartbeat"})
        if now - self._last_prune > 3600:
            self._prune()


class _Refused(ProtocolError):
    """An engine-level refusal at admission (bad input, unknown voice…), with the engine's code."""

    def __init__(self, code: str, message: str, details: dict):
        Exception.__init__(self, message)
        self.code, self.message, self.details = code, message, details


# ------------------------------------------------------------------------------------------- entry
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m takefit.daemon",
                                description="Run the takefit daemon in the foreground (what `takefit daemon start` "
                                            "spawns, and what service units run).")
    add_arguments(p)
    p.add_argument("--log-stderr", action="store_true", help="also log to standard error")
    args = p.parse_args(argv)
    try:
        cfg = config_from_args(args)
        cfg.log_stderr = args.log_stderr
        return Daemon(cfg).run()
    except control.AlreadyRunning as e:
        print(f"takefit daemon: {e}", file=sys.stderr)
        return 3
    except TakefitError as e:
        print(f"takefit daemon: error: {e}", file=sys.stderr)
        return 2
