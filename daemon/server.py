"""The daemon's server loop: the one thread that owns the daemon's state.

    main      this loop: reads the front end's sockets (frontend.py), dispatches each checked message
              through the handler table (operations.py), applies the events worker threads send
              (events.py: progress, results, requeues), streams them to clients (streams.py) and sends
              heartbeats. It never renders and never waits on the engine or on a file a client names.
    workers   runner.py: the loader, engine-N, the fast lane, enrollment.
    zap       zmq.auth's authenticator: the local token (PLAIN) and, with --remote-bind, CurveZMQ keys.

Only this loop changes jobs, the queue's membership, streams and counters; workers journal outcomes and
send events. Wire format, messages and error codes: docs/protocol.md (and protocol.py).
"""
from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import signal
import sys
import threading
import time
from pathlib import Path

import zmq

from takefit.engine import __version__
from takefit.engine.backend import backend_entry
from takefit.engine.cache import TakeCache
from takefit.engine.errors import TakefitError
from takefit.engine.request import RenderRequest

from . import control
from .config import Config, add_arguments, check_config, config_from_args
from .events import Events
from .frontend import FrontEnd, Incoming
from .journal import Journal
from .operations import HANDLERS
from .paths import Dirs, PathEscapeError, check_private_root
from .protocol import PROTOCOL, ProtocolError, error_doc
from .runner import Runner
from .scheduler import Job
from .streams import Streams

log = logging.getLogger("takefit.daemon")
PRUNE_EVERY_S = 3600
INFO_CHECK_S = 10.0           # how often the loop checks that daemon.json is still there and its own


class Daemon:
    def __init__(self, config: Config):
        check_config(config)
        self.config = config
        self.dirs = Dirs.resolve(config.home)
        self.output_root = Path(config.output_root).expanduser().absolute() if config.output_root \
            else self.dirs.outputs
        self.lock = control.Lock(self.dirs.lock)
        self.started = time.time()
        self.engine_state = "loading"
        self.engine_error: str | None = None
        self.voice_list: list[dict] = []
        self.backend = backend_entry(config.backend)   # known before it loads: `hello` answers meanwhile
        self.backend_loaded: dict | None = None        # device, load time, memory: once it has loaded
        self.voice_names: set[str] | None = None
        self.jobs: dict[str, Job] = {}                 # accepted and not yet final
        self.waiting_engine: list[tuple[tuple[int, bytes], dict]] = []
        self.dictionaries_ok: set[str] = set()
        self.enrolling = False
        self.stopping = False
        self.stop_reason = ""
        self.stop_deadline = 0.0
        self._signal_stop = False
        self._seq = 0
        self._last_prune = 0.0
        self._last_info_check = time.monotonic()
        self.stats = {"accepted": 0, "cache_hits": 0, "rendered": 0, "failed": 0, "canceled": 0, "bad_frames": 0}
        self.streams = Streams(self.send, config.heartbeat_ms / 1000.0, config.liveness)

    # ------------------------------------------------------------------ run
    def run(self) -> int:
        self.dirs.ensure()
        if not control.acquire_daemon_lock(self.lock, self.dirs, timeout=2.0):
            raise control.AlreadyRunning(control.read_info(self.dirs, require_lock=False))
        self.lock.write_owner()
        self.dirs.info.unlink(missing_ok=True)          # a stale one from a killed daemon
        try:
            self._setup_logging()
            self._serve()
        finally:
            control.remove_info(self.dirs, os.getpid())
            self.lock.release()
            log.info("stopped (%s)", self.stop_reason or "done")
            for h in self._log_handlers:
                logging.getLogger("takefit").removeHandler(h)
                h.close()
        return 0

    def _serve(self) -> None:
        self.output_root.mkdir(parents=True, exist_ok=True)
        try:
            check_private_root(self.output_root)
        except PathEscapeError as e:
            raise control.DaemonError(str(e), code="unsafe_output_root") from None
        self.cache = TakeCache(self.dirs.take_cache, self.config.cache_bytes)
        self.journal = Journal(self.dirs.journal)
        if self.journal.moved_aside:
            log.warning("%s", self.journal.moved_aside)
        self.ctx = zmq.Context()
        self.front = FrontEnd(self.ctx, self.config, self.dirs, self.streams.drop_peer)
        self.events = Events(self.ctx)
        self.runner = Runner(self.config, self.cache, self.journal, self.output_root, self.events)
        try:
            self.front.bind()
            self._recover()
            self.runner.start()
            self._publish()
            self._install_signals()
            log.info("takefit daemon %s (protocol %d, pid %d) listening on %s%s; output root %s", __version__,
                     PROTOCOL, os.getpid(), ", ".join(self.front.endpoints),
                     f"; CurveZMQ on {', '.join(self.front.remote_endpoints)}" if self.front.remote_endpoints
                     else "", self.output_root)
            self._loop()
        finally:
            self._teardown()

    def _setup_logging(self) -> None:
        root = logging.getLogger("takefit")
        root.setLevel(self.config.log_level)
        fmt = logging.Formatter("%(asctime)s %(levelname)s [%(threadName)s] %(message)s")
        os.close(os.open(self.dirs.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))   # owner only, as the folder
        fh = logging.handlers.RotatingFileHandler(self.dirs.log, maxBytes=5 * 1024 * 1024, backupCount=3,
                                                  encoding="utf-8")
        self._log_handlers = [fh]
        if self.config.log_stderr:
            self._log_handlers.append(logging.StreamHandler(sys.stderr))
        for h in self._log_handlers:
            h.setFormatter(fmt)
            root.addHandler(h)

    def _publish(self) -> None:
        info = {"pid": os.getpid(), "endpoints": self.front.endpoints, "remote_endpoints": self.front.remote_endpoints,
                "protocol": PROTOCOL, "version": __version__, "engine": self.backend.engine_id, "started": self.started,
                "backend": self.backend.name, "output_root": str(self.output_root), "log": str(self.dirs.log),
                "ready": True, "token": self.front.token}
        if self.front.remote_endpoints:
            info["server_key"] = self.front.server_public
        control.write_info(self.dirs, info)

    def _keep_published(self) -> None:
        """Write daemon.json again when it is gone or no longer ours, and bind the ipc socket again when its
        file is gone (a tidy-up of the runtime folder, a damaged disk): without them no client finds this
        daemon, and `daemon stop` would call it not running."""
        self._last_info_check = time.monotonic()
        if self.front.restore_ipc():
            log.warning("%s was gone: bound again", self.dirs.ipc)
        info = control.read_info(self.dirs, require_lock=False)
        if not info or info.get("pid") != os.getpid() or info.get("token") != self.front.token:
            log.warning("%s was missing or not this daemon's: published again", self.dirs.info)
            self._publish()

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def handler(signum, frame):
            if self._signal_stop:            # a second Ctrl-C: stop now (running jobs resume on next start)
                self.stop_deadline = 0.0
            self._signal_stop = True         # the loop acts on it (a handler must not touch the state)

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
            try:
                request = RenderRequest.from_wire(row["spec"])
            except TakefitError as e:                # accepted by an older version that checked less
                self.journal.finish(row["id"], "failed", error=error_doc(e))
                continue
            job = Job(id=row["id"], batch=row["batch"], priority=row["priority"], seq=row["seq"], spec=row["spec"],
                      spec_hash=row["spec_hash"], key=row["cache_key"], created=row["created"],
                      output=row["output"] if row["named"] else None,      # else jobs/<id>.wav, the daemon's own
                      request=request)
            self.jobs[job.id] = job
            self.enqueue(job)
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

    def _loop(self) -> None:
        poller = zmq.Poller()
        for s in self.front.sockets:
            poller.register(s, zmq.POLLIN)
        poller.register(self.events.pull, zmq.POLLIN)
        next_tick = time.monotonic() + self.streams.heartbeat_s
        while True:
            if self._signal_stop and not self.stopping:
                self.begin_shutdown("signal")
            now = time.monotonic()
            if self.stopping and (not self.runner.busy() or now > self.stop_deadline):
                self._apply_events()         # results that finished during the grace period
                break
            ready = dict(poller.poll(int(max(0.0, min(next_tick - now, 0.25)) * 1000)))
            if self.events.pull in ready:
                self._apply_events()
            for index, sock in enumerate(self.front.sockets):
                if sock in ready:
                    for incoming in self.front.receive(index):
                        self._guarded(self._on_message, incoming)
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + self.streams.heartbeat_s
                self.streams.heartbeat()
                if time.monotonic() - self._last_prune > PRUNE_EVERY_S:
                    self._prune()
                if time.monotonic() - self._last_info_check > INFO_CHECK_S and not self.stopping:
                    self._keep_published()

    @staticmethod
    def _guarded(fn, arg) -> None:
        try:
            fn(arg)
        except Exception:  # noqa: BLE001 - the loop must survive its own bugs
            log.exception("%s failed", fn.__name__)

    def _teardown(self) -> None:
        self.runner.stop()
        joined = self.runner.join(timeout=0.5)
        self.front.close()
        self.events.close()
        if joined:                  # a thread still inside the engine keeps its socket: term() would wait for it
            self.ctx.term()
        self.journal.close()

    # ------------------------------------------------------------------ messages
    def _on_message(self, incoming: Incoming) -> None:
        self.streams.heard(incoming.peer)
        if incoming.error is not None:
            self.stats["bad_frames"] += 1
            e = incoming.error
            self.send(incoming.peer, {"type": "error", "id": incoming.rid, "code": e.code, "message": e.message,
                                      "details": e.details})
            return
        self.dispatch(incoming.peer, incoming.msg)

    def dispatch(self, peer, msg: dict) -> None:
        try:
            HANDLERS[msg["op"]](self, peer, msg)
        except (ProtocolError, TakefitError, PathEscapeError) as e:
            doc = {"code": "bad_path", "message": str(e), "details": {}} if isinstance(e, PathEscapeError) \
                else error_doc(e)
            if getattr(e, "job", None):
                doc["job"] = e.job
            self.send(peer, {"type": "error", "id": msg.get("id"), **doc})
        except Exception as e:  # noqa: BLE001
            log.exception("op %s failed", msg.get("op"))
            self.send(peer, {"type": "error", "id": msg.get("id"), **error_doc(e)})

    def send(self, peer: tuple[int, bytes], doc: dict) -> bool:
        return self.front.send(peer, doc)

    def reply(self, peer, msg: dict, **fields) -> None:
        self.send(peer, {"type": "reply", "id": msg["id"], **fields})

    # ------------------------------------------------------------------ events from workers
    def _apply_events(self) -> None:
        for ev in self.events.receive():
            self._guarded(self._on_event, ev)

    def _on_event(self, ev: dict) -> None:
        kind = ev["ev"]
        job = self.jobs.get(ev.get("job"))
        if kind == "progress":
            if job is not None:
                job.fraction, job.message = ev["fraction"], ev["message"]
            self.streams.progress(ev["job"], ev["fraction"], ev["message"])
        elif kind == "running":
            if job is not None:
                job.state = "running"
            self.streams.progress(ev["job"], 0.0, "started")
        elif kind == "requeue":
            if job is not None:
                job.lane = "engine"
                self.runner.queue.put(job)
        elif kind == "finished":
            self.job_finished(ev["job"], ev["state"], ev["result"], ev["error"])
        elif kind == "reply":
            self.send((ev["peer"][0], ev["peer"][1]), ev["doc"])
        elif kind == "enrolled":
            self.enrolling = False
        elif kind == "engine":
            self._engine_loaded(ev["state"], ev["error"], ev["voices"], ev.get("backend"))

    def _engine_loaded(self, state: str, error: str | None, voices: list[dict], backend: dict | None) -> None:
        self.engine_state, self.engine_error = state, error
        if state == "ready":
            self.voice_list = voices
            self.voice_names = {v["name"] for v in voices}
            self.backend_loaded = backend
        waiting, self.waiting_engine = self.waiting_engine, []
        for peer, msg in waiting:
            self.dispatch(peer, msg)

    # ------------------------------------------------------------------ jobs and streams
    def next_seq(self) -> int:
        self._seq += 1
        return self._seq - 1

    def enqueue(self, job: Job) -> None:
        if self.cache.wav_path(job.key) is not None:
            job.lane = "fast"
            self.runner.fast.put(("job", job))
        else:
            job.lane = "engine"
            self.runner.queue.put(job)

    def job_finished(self, job_id: str, state: str, result: dict | None, error: dict | None) -> None:
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
        self.streams.finished(job_id, state, result, error)
        self._notify_stopping()

    def open_stream(self, peer, msg: dict, kind: str, ids: list[str], rows: dict, batch: str | None) -> None:
        self.streams.open(peer, msg, kind, ids, rows, batch)
        self._notify_stopping()

    # ------------------------------------------------------------------ stopping
    def begin_shutdown(self, reason: str) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.stop_reason = reason
        self.stop_deadline = time.monotonic() + self.config.shutdown_grace
        log.info("stopping (%s): %d job(s) stay queued in the journal", reason, len(self.runner.queue))
        self.runner.stop()
        self._notify_stopping()

    def _notify_stopping(self) -> None:
        """Streams left waiting only on jobs that will not run before exit: tell them, and end them."""
        if not self.stopping:
            return
        for w in list(self.streams.watches.values()):
            waiting = sorted(j for j in w.pending if j in self.jobs and self.jobs[j].state != "running")
            if waiting and len(waiting) == len(w.pending):
                self.send(w.peer, {"type": "error", "id": w.rid, "code": "shutting_down",
                                   "message": "the daemon is stopping; these jobs stay queued and resume on the next "
                                              "start (fetch them later with `job` or `watch`)",
                                   "details": {"jobs": waiting, "resumable": True}})
                w.announce_done = False               # no `done` after this
                self.streams.close(w)


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
