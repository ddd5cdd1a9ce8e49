"""The job runner: loads the engine, renders jobs on worker threads, stores takes, delivers them.

    loader    loads the engine once at start; the loop answers hello/health meanwhile.
    engine-N  take the highest-priority job from the queue and render it (the progress callback
              raises to cancel between stages), store the take in the cache, copy it to its output.
    fast      cache hits: answered at once, never queued behind a batch; also `explain`.
    enroll    one voice enrollment at a time (minutes of work, its own thread).

Workers journal a job's final state (durable before any client hears it) and report everything else
to the server loop as events (events.py); they change nothing the loop owns.
"""
from __future__ import annotations

import gc
import hashlib
import logging
import os
import queue
import threading
import time
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

from takefit.engine import bwf
from takefit.engine.backend import describe, load_backend
from takefit.engine.bwf import Broadcast
from takefit.engine.cache import TakeCache
from takefit.engine.errors import TakefitError
from takefit.engine.files import publish, temp_beside
from takefit.engine.frontend import Lexicon
from takefit.engine.take import Take

from .config import Config
from .events import Events, EventSender
from .journal import Journal
from .paths import PathEscapeError, safe_output
from .protocol import error_doc
from .scheduler import Job, JobCanceled, Scheduler

WAV_COMMENT = "synthetic speech (takefit, voice {voice})"
LEXICON_VIEWS = 8            # engines kept reading with a request's inline dictionary
log = logging.getLogger("takefit.daemon")


class TakeVanished(Exception):
    """A fast-lane job's cached take was evicted before it was copied: it must be rendered."""


def dictionary_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def stamp_cached(take: Take) -> None:
    """A fresh cache entry gets its bext once: the render's date and its R128 values (measured with the
    take: Take.measured; they are in its metadata too, so a dub files it without measuring again). Every
    delivery copies them from it, so a cache hit delivers the same bytes as the render did, and pays for
    no loudness measurement."""
    bwf.restamp(take.wav, replace(Broadcast(description=take.text), **(take.levels or {})), private=True)


def delivered_broadcast(job: Job, take: Take) -> Broadcast:
    """The bext/iXML of a delivered take: the line and its voice, the request's frame rate where it gives
    one. A request carries no timeline position (the wire form has none), so the time reference is 0;
    the date and loudness come from the cache entry (stamp_cached). The same for every delivery of the
    same request: no job id in it."""
    rate = getattr(job.request, "frame_rate", None)
    return Broadcast(description=take.text, originator_reference=f"takefit {job.key[:16]}",
                     note=f"{take.text} [{take.voice}]", timecode_rate=rate)


class Runner:
    def __init__(self, config: Config, cache: TakeCache, journal: Journal, output_root: Path, events: Events):
        self.config, self.cache, self.journal, self.output_root = config, cache, journal, output_root
        self.events = events
        self.queue = Scheduler()            # the engine lane, by priority
        self.fast: queue.Queue = queue.Queue()   # cache hits and explain: never behind a batch
        self.backend = None                 # set once by the loader, before its `engine` event (engine/backend.py)
        self.ready = threading.Event()
        self._views: OrderedDict[str, object] = OrderedDict()
        self._views_lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ threads
    def start(self) -> None:
        self._spawn("loader", self._load_engine)
        for i in range(self.config.workers):
            self._spawn(f"engine-{i + 1}", self._engine_worker)
        self._spawn("fast", self._fast_worker)

    def _spawn(self, name: str, target, *args) -> threading.Thread:
        t = threading.Thread(target=target, args=args, name=name, daemon=True)
        t.start()
        self._threads.append(t)
        return t

    def busy(self) -> bool:
        """Any render worker still running. The loader may be mid-load at shutdown and an enrollment
        takes minutes: neither holds the stop (an enrollment is redone, nothing half-written stays)."""
        return any(t.is_alive() for t in self._threads if t.name not in ("loader", "enroll"))

    def stop(self) -> None:
        """No new work: the queue stays in the journal for the next start."""
        self.queue.close()
        self.fast.put(None)

    def join(self, timeout: float) -> bool:
        """True when every thread has ended (then no socket of theirs is left open)."""
        for t in self._threads:
            if t.name not in ("loader", "enroll"):
                t.join(timeout=timeout)
        return not any(t.is_alive() for t in self._threads)

    def _load_engine(self) -> None:
        with self.events.sender() as out:
            try:
                cfg = self.config
                # one copy of each stage per worker, so workers render side by side (engine/kokoro/session.py)
                backend = load_backend(cfg.backend, threads=cfg.threads, log=log.info, sessions=cfg.workers,
                                       device=cfg.device)
                voices = [{"name": v.name, "language": v.language, "gender": v.gender}
                          for v in backend.voices() if v.kind == "builtin"]
                self.backend = backend
                report = backend.report()
                log.info("backend %s (%s on %s) ready in %.1f s (%d voices)", backend.name, backend.engine_id,
                         backend.device, report.load_seconds, len(voices))
                out.emit("engine", state="ready", error=None, voices=voices, backend=describe(backend))
            except BaseException as e:  # noqa: BLE001 - reported, the daemon keeps answering
                log.error("engine failed to load: %s", str(e) or type(e).__name__)
                out.emit("engine", state="failed", error=str(e) or type(e).__name__, voices=[], backend=None)
            finally:
                self.ready.set()
        if self.backend is not None and self.config.warm:
            self.warm()

    def warm(self) -> None:
        """After `ready` (renders go on meanwhile): what a first request would otherwise wait for. Also after
        an enrollment, whose voice may be the first that needs it."""
        try:
            for what in self.backend.warm():
                log.info("prepared %s", what)
        except Exception as e:  # noqa: BLE001 - then a first request pays for it; nothing else changes
            log.warning("could not prepare ahead: %s", str(e) or type(e).__name__)
        # The model, readers and lexicons live as long as the daemon: out of the collector's scans, a full
        # collection stops walking their ≈ 330,000 objects (0.11–0.13 s, a pause in whichever job met it).
        gc.freeze()

    def _engine_worker(self) -> None:
        while not self.ready.wait(0.2):
            if self.queue.closed:
                return
        if self.backend is None:
            return
        with self.events.sender() as out:
            while (job := self.queue.get()) is not None:
                self.run(job, out, fast=False)

    def _fast_worker(self) -> None:
        with self.events.sender() as out:
            while (item := self.fast.get()) is not None:
                if item[0] == "job":
                    self.run(item[1], out, fast=True)
                else:
                    self._explain(item[1], item[2], out)

    # ------------------------------------------------------------------ one job
    def run(self, job: Job, out: EventSender, fast: bool) -> None:
        """Render (or fetch from the cache) one job and deliver it; its outcome is journaled and emitted."""
        def finish(state: str, result: dict | None = None, error: dict | None = None) -> None:
            if self.journal.finish(job.id, state, result=result, error=error):
                out.emit("finished", job=job.id, state=state, result=result, error=error)

        if job.cancel.is_set():
            return finish("canceled", error=canceled("canceled before it started"))
        try:
            result = self._render_and_deliver(job, out, fast)
            finish("done", result=result)
        except TakeVanished:
            out.emit("requeue", job=job.id)
        except JobCanceled:
            finish("canceled", error=canceled("canceled while rendering"))
        except PathEscapeError as e:
            finish("failed", error={"code": "bad_path", "message": str(e), "details": {}})
        except TakefitError as e:
            finish("failed", error=error_doc(e))
        except OSError as e:                         # disk full, permissions, a vanished folder …
            log.warning("job %s: cannot write its take: %s", job.id, e)
            finish("failed", error={"code": "output", "message": f"cannot write the take: {e.strerror or e}"
                                    f"{f' ({e.filename})' if getattr(e, 'filename', None) else ''}", "details": {}})
        except Exception as e:  # noqa: BLE001 - a bug must not take the daemon down
            log.exception("job %s failed", job.id)
            finish("failed", error=error_doc(e))

    def _render_and_deliver(self, job: Job, out: EventSender, fast: bool) -> dict:
        started = time.time()
        take = self.cache.lookup(job.key)
        if take is None:
            if fast:
                raise TakeVanished()                 # evicted since it was accepted
            self.journal.mark_running(job.id)
            out.emit("running", job=job.id)
            take = self._render(job, out)
            if take.audio is not None:
                take.measured()                      # before the cache keeps its metadata
            take.wav = self.cache.put(job.key, take, comment=WAV_COMMENT.format(voice=take.voice),
                                      title=take.text[:200])
            stamp_cached(take)
            if job.cancel.is_set():
                raise JobCanceled()                  # finished anyway: kept in the cache, result dropped
        try:
            path = self.deliver(job, take)
        except FileNotFoundError:
            if take.cached:                          # the cached file went between lookup and copy
                raise TakeVanished() from None
            raise
        now = time.time()
        return {**take.to_wire(), "job": job.id, "path": str(path), "output": job.output_name,
                "daemon_timings": {"queued": started - job.created, "total": now - job.created},
                "cached": take.cached, "key": job.key, "bytes": path.stat().st_size}

    def _render(self, job: Job, out: EventSender):
        last = [-1.0]

        def progress(fraction: float, message: str) -> None:
            if job.cancel.is_set():
                raise JobCanceled()
            if fraction - last[0] >= 0.01 or fraction >= 1.0:
                last[0] = fraction
                out.emit("progress", job=job.id, fraction=float(fraction), message=str(message))

        return self.engine_for(job.spec.get("dictionary")).render(job.request, progress=progress)

    def deliver(self, job: Job, take: Take) -> Path:
        """Copy the take into the output root (atomically; re-checking containment after mkdir)."""
        own = job.output is None
        target = safe_output(self.output_root, job.output_name, daemon_named=own)
        target.parent.mkdir(parents=True, exist_ok=True)
        target = safe_output(self.output_root, job.output_name, daemon_named=own)   # symlinks made meanwhile
        tmp = str(temp_beside(target, ".wav.partial"))
        meta = delivered_broadcast(job, take)
        try:
            try:
                bwf.copy_with_chunks(take.wav, tmp, meta)
            except FileNotFoundError:
                if take.audio is None:
                    raise
                from takefit.engine.audio import write_wav   # the cache lost it under us: write it again

                write_wav(tmp + ".wav", take.audio, take.sample_rate, comment=WAV_COMMENT.format(voice=take.voice),
                          title=take.text[:200], broadcast=meta)
                os.replace(tmp + ".wav", tmp)
            publish(Path(tmp), target)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return target

    # ------------------------------------------------------------------ engines, explain, enroll
    def engine_for(self, dictionary: str | None):
        """The backend, reading with a request's inline dictionary when it has one (views kept LRU)."""
        if not dictionary:
            return self.backend
        h = dictionary_hash(dictionary)
        with self._views_lock:
            view = self._views.get(h)
            if view is not None:
                self._views.move_to_end(h)
                return view
        view = self.backend.with_lexicon(Lexicon.parse(dictionary))
        with self._views_lock:
            self._views[h] = view
            while len(self._views) > LEXICON_VIEWS:
                self._views.popitem(last=False)
        return view

    def explain(self, peer, msg: dict) -> None:
        self.fast.put(("explain", peer, msg))

    def _explain(self, peer, msg: dict, out: EventSender) -> None:
        try:
            info = self.engine_for(msg.get("dictionary")).explain(msg["text"], msg["voice"], msg["language"],
                                                                  msg["speed"])
            doc = {"type": "reply", "id": msg["id"], "explain": info}
        except Exception as e:  # noqa: BLE001
            if not isinstance(e, TakefitError):
                log.exception("explain failed")
            doc = {"type": "error", "id": msg["id"], **error_doc(e)}
        out.reply(peer, doc)

    def enroll(self, peer, msg: dict) -> None:
        """Enroll a voice on its own thread; progress and the reply reach the client as events."""
        self._spawn("enroll", self._enroll, peer, msg)

    def _enroll(self, peer, msg: dict) -> None:
        with self.events.sender() as out:
            def progress(fraction: float, message: str) -> None:
                if msg["progress"]:
                    out.reply(peer, {"type": "progress", "id": msg["id"], "job": f"enroll:{msg['name']}",
                                     "fraction": float(fraction), "message": message})
            try:
                from takefit.engine.enroll import enroll_voice    # torch: only when someone enrolls

                profile = enroll_voice(msg["name"], msg["reference"], text=msg["text"], quality=msg["quality"],
                                       consent=msg["consent"], no_consent_record=msg["no_consent_record"],
                                       prosody_from=msg["prosody_from"], force=msg["force"], progress=progress,
                                       engine=self.backend.engine, denoise=msg["denoise"])   # Kokoro's own
                doc = {"type": "reply", "id": msg["id"], "voice": profile.summary()}
            except Exception as e:  # noqa: BLE001
                if not isinstance(e, TakefitError):
                    log.exception("enrollment failed")
                doc = {"type": "error", "id": msg["id"], **error_doc(e)}
            out.emit("enrolled")             # the loop frees the slot before the client hears (it may enroll again)
            out.reply(peer, doc)
        if doc["type"] == "reply" and self.config.warm:
            self.warm()                      # the new voice's first audition should not open a session


def canceled(message: str) -> dict:
    return {"code": "canceled", "message": message, "details": {}}
