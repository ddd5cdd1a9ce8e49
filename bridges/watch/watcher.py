"""The watcher: watchdog events on DIR/inbox → debounce → a queue → one job at a time.

    w = Watcher(Path("/jobs/ep1"), WatchOptions(cast=None), settle=3.0)
    w.start()            # returns at once; threads do the work
    ...
    w.stop()

A file is queued only once its size and modification time have stayed the same for `settle`
seconds (a slow copy is never read half-way) and it can be opened; hidden, temporary and OS files
are ignored. Besides the events, the inbox is rescanned every `rescan` seconds, so nothing is missed
where events are unreliable (network shares) and files already waiting when the watcher starts are
found. Jobs run one after another in a worker thread; one watcher per folder (a lock in
DIR/.takefit-watch/). What it is doing is published in DIR/.takefit-watch/status.json for
`takefit watch --status`, and logged to DIR/.takefit-watch/watch.log.
"""
from __future__ import annotations

import collections
import json
import logging
import logging.handlers
import os
import signal
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from takefit.daemon.control import Lock
from takefit.engine.errors import InputError

from . import jobs
from .jobs import Context, Layout, Outcome, WatchOptions, is_ignored
from .journal import Journal

log = logging.getLogger("takefit.watch")

DAEMON_MODES = ("auto", "start", "off")


class _QuietWatchdogShutdown(logging.Filter):
    """watchdog's inotify emitter logs an error when an event races its own shutdown; harmless."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "called when the thread is inactive" not in str(record.msg)


logging.getLogger("watchdog.observers.inotify").addFilter(_QuietWatchdogShutdown())
STATUS_EVERY = 5.0        # seconds between status.json heartbeats when nothing changes
HISTORY = 1000            # outcomes kept in memory (the journal keeps them all)


# ------------------------------------------------------------------ who renders
class Renderers:
    """The daemon when one runs (`auto`; `start`: start it first), else one in-process renderer kept
    for the watcher's life (the engine loads on the first take that is not in the cache)."""

    def __init__(self, mode: str = "auto", cache_dir: Path | None = None, no_cache: bool = False, renderer=None):
        if mode not in DAEMON_MODES:
            raise InputError(f"--daemon {mode!r}: accepted {', '.join(DAEMON_MODES)}")
        self.mode, self.cache_dir, self.no_cache = mode, cache_dir, no_cache
        self._given = renderer
        self._local = None
        self.last_kind = "given" if renderer is not None else None

    def describe(self) -> str:
        if self._given is not None:
            return getattr(self._given, "description", "the renderer given")
        return {"auto": "the takefit daemon when one runs, else the engine in this process",
                "start": "the takefit daemon (started if needed), else the engine in this process",
                "off": "the engine in this process"}[self.mode]

    def get(self):
        if self._given is not None:
            return self._given, "given"
        if self.mode != "off":
            r = self._daemon()
            if r is not None:
                self.last_kind = "daemon"
                return r, "daemon"
        return self.fallback()

    def fallback(self):
        if self._local is None:
            from takefit.bridges.dub.render import make_renderer

            self._local = make_renderer(use_daemon=False, cache_dir=self.cache_dir, no_cache=self.no_cache)
        self.last_kind = "in-process"
        return self._local, "in-process"

    def _daemon(self):
        from takefit.bridges.dub import render

        try:
            return render.daemon_renderer(self.mode)
        except Exception as e:  # the in-process engine is the fallback, never a failed file
            log.warning("the takefit daemon could not be %s (%s); using the engine in this process",
                        "started" if self.mode == "start" else "reached", e)
            return None

    def release(self, renderer, kind: str) -> None:
        if kind == "daemon":
            try:
                renderer.close()
            except Exception:
                pass

    def close(self) -> None:
        if self._local is not None:
            self._local.close()
            self._local = None


# ------------------------------------------------------------------ the watcher
@dataclass
class _Waiting:
    sig: tuple[int, int] | None
    since: float
    seen: float


class Watcher:
    def __init__(self, root: Path, options: WatchOptions | None = None, *, renderer=None, daemon: str = "auto",
                 cache_dir: Path | None = None, no_cache: bool = False, settle: float = 3.0, poll: float = 0.25,
                 rescan: float = 10.0, log_file: bool = True):
        self.layout = Layout(Path(root).expanduser().absolute())
        self.options = options or WatchOptions()
        self.renderers = Renderers(daemon, cache_dir, no_cache, renderer)
        self.settle = max(0.0, float(settle))
        self.empty_settle = max(10.0, 5 * self.settle)
        self.poll = poll
        self.rescan = rescan
        self.log_file = log_file
        self.history: collections.deque[Outcome] = collections.deque(maxlen=HISTORY)  # this run's outcomes
        self.counts: collections.Counter[str] = collections.Counter()
        self.journal: Journal | None = None
        self._cv = threading.Condition()
        self._waiting: dict[Path, _Waiting] = {}
        self._queue: collections.deque[tuple[Path, tuple[int, int]]] = collections.deque()
        self._current: dict | None = None
        self._stuck: dict[Path, tuple[int, int] | None] = {}
        self._told: set[str] = set()
        self._stop = threading.Event()
        self._scanned = False
        self._threads: list[threading.Thread] = []
        self._observer = None
        self._lock = None
        self._handler: logging.Handler | None = None
        self._status_dirty = True
        self._status_at = 0.0
        self._started = time.time()
        self._worker_busy = False

    # ------------------------------------------------------------------ life
    def start(self) -> "Watcher":
        from watchdog.observers import Observer

        self.layout.ensure()
        self._lock = Lock(self.layout.lock)
        try:
            held = self._lock.acquire()
        except OSError as e:                  # a share that cannot lock: watch it, and say what is not guarded
            self._lock, held, unlocked = None, True, e
        else:
            unlocked = None
        if not held:
            pid = read_pid(self.layout.lock)
            self._lock = None
            raise InputError(f"another takefit watch is already watching {self.layout.root}"
                             f"{f' (pid {pid})' if pid else ''}: one watcher per folder")
        if self.log_file:
            self._handler = logging.handlers.RotatingFileHandler(self.layout.log, maxBytes=1 << 20, backupCount=3,
                                                                 encoding="utf-8")
            self._handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s"))
            log.addHandler(self._handler)
            if log.level == logging.NOTSET or log.level > logging.INFO:
                log.setLevel(logging.INFO)
        if unlocked is not None:
            log.warning("%s cannot be locked on this filesystem (%s): nothing stops a second watcher on this "
                        "folder, so start only one", self.layout.lock, unlocked.strerror or unlocked)
        self.journal = Journal(self.layout.journal)
        if self.journal.moved_aside:
            log.warning("%s", self.journal.moved_aside)
        for note in jobs.recover(self.layout, self.journal):
            log.info("%s", note)
        cast = jobs.cast_file(self.layout, self.options)
        log.info("watching %s: drop files into inbox/; results in outbox/<name>/, inputs then move to done/ "
                 "(or failed/ with <name>.error.txt)", self.layout.root)
        log.info("cast: %s; renderer: %s; a file is taken %.1f s after it stops changing",
                 self.layout.rel(cast) if cast else "none (takefit.cast.toml in the folder would apply)",
                 self.renderers.describe(), self.settle)
        self._observer = Observer()
        self._observer.schedule(_Handler(self), str(self.layout.inbox), recursive=False)
        self._observer.daemon = True
        self._observer.start()
        for target, name in ((self._schedule_loop, "takefit-watch-scheduler"),
                             (self._work_loop, "takefit-watch-worker")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop watching. A job in progress stops after its current cue and resumes on the next start.
        Returns False if the worker did not stop within `timeout` (it is abandoned: restart-safe)."""
        self._stop.set()
        with self._cv:
            self._cv.notify_all()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
        deadline = time.monotonic() + timeout
        clean = True
        for t in self._threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
            clean = clean and not t.is_alive()
        if clean:
            self.renderers.close()
            self._write_status(final=True)
            if self.journal is not None:
                self.journal.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        if self._handler is not None:
            log.removeHandler(self._handler)
            self._handler.close()
            self._handler = None
        return clean

    def __enter__(self) -> "Watcher":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def idle(self) -> bool:
        with self._cv:
            return self._scanned and not self._waiting and not self._queue and self._current is None \
                and not self._worker_busy

    def wait_idle(self, timeout: float = 60.0, settle_checks: int = 2) -> bool:
        """Until nothing waits, is queued or runs (seen `settle_checks` polls in a row)."""
        deadline = time.monotonic() + timeout
        streak = 0
        while time.monotonic() < deadline:
            streak = streak + 1 if self.idle else 0
            if streak >= settle_checks:
                return True
            time.sleep(self.poll)
        return False

    def run(self, once: bool = False) -> int:
        """Start, then block until stopped (Ctrl-C / SIGTERM), or with `once` until the inbox is done."""
        self.start()
        stop_signals = []

        def on_signal(signum, frame):
            log.info("stopping (signal %d)%s", signum,
                     f": {self._current['name']} resumes on the next start" if self._current else "")
            self._stop.set()
            with self._cv:
                self._cv.notify_all()

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, getattr(signal, "SIGTERM", None)):
                if sig is not None:
                    stop_signals.append((sig, signal.signal(sig, on_signal)))
        try:
            while not self._stop.is_set():
                if once and self.wait_idle(timeout=self.poll * 3, settle_checks=2):
                    break
                self._stop.wait(0.5 if not once else 0)
        finally:
            for sig, old in stop_signals:
                signal.signal(sig, old)
            self.stop()
        return 1 if once and self.counts[jobs.FAILED] else 0

    # ------------------------------------------------------------------ events → waiting
    def touch(self, path: Path) -> None:
        """A file in the inbox appeared or changed: (re)start waiting for it to settle."""
        path = Path(path)
        if path.parent != self.layout.inbox or is_ignored(path.name):
            if path.name == jobs.CAST_FILE and path.parent == self.layout.inbox:
                self._tell_once("cast-in-inbox", f"{path.name} in inbox/ is used as the cast file (it is not an "
                                                 f"input); its place is {self.layout.root}/")
            elif jobs.is_sidecar(path.name) and path.parent == self.layout.inbox:
                self._tell_once(f"sidecar:{path.name}", f"{path.name} in inbox/ is a timeline's sidecar (edited "
                                                        f"lines, picked takes): read with that timeline, not dubbed")
            return
        now = time.monotonic()
        with self._cv:
            if self._current is not None and self._current["path"] == path:
                return  # being processed: checked again when the job ends
            for i, (p, sig) in enumerate(self._queue):
                if p == path:
                    if _signature(path) == sig:
                        return
                    del self._queue[i]  # changed after it was queued: wait for it to settle again
                    log.info("%s changed after it was queued: waiting until it is complete", path.name)
                    break
            if path in self._stuck:
                if _signature(path) == self._stuck[path]:
                    return
                del self._stuck[path]
            if path not in self._waiting:
                self._waiting[path] = _Waiting(None, now, now)
                self._status_dirty = True

    def forget(self, path: Path) -> None:
        """A file left the inbox (deleted, or moved away)."""
        path = Path(path)
        with self._cv:
            if self._waiting.pop(path, None) is not None:
                self._status_dirty = True
            for i, (p, _) in enumerate(self._queue):
                if p == path:
                    del self._queue[i]
                    self._status_dirty = True
                    break
            self._stuck.pop(path, None)

    def scan(self) -> None:
        try:
            entries = list(os.scandir(self.layout.inbox))
        except OSError as e:
            log.error("cannot list %s: %s", self.layout.inbox, e.strerror or e)
            return
        for entry in entries:
            try:
                is_dir = entry.is_dir()
            except OSError:
                continue
            if is_dir:
                if not is_ignored(entry.name):
                    self._tell_once(f"dir:{entry.name}", f"inbox/{entry.name} is a folder: only files are dubbed "
                                                         f"(zip an .otiod bundle as .otioz)")
                continue
            self.touch(Path(entry.path))
        self._scanned = True

    def _tell_once(self, key: str, message: str) -> None:
        if key not in self._told:
            self._told.add(key)
            log.info("%s", message)

    # ------------------------------------------------------------------ waiting → queue
    def _schedule_loop(self) -> None:
        last_scan = -1e9
        while not self._stop.is_set():
            try:
                now = time.monotonic()
                if now - last_scan >= self.rescan:
                    self.scan()
                    last_scan = now
                self._settle(now)
                if self._status_dirty or time.time() - self._status_at > STATUS_EVERY:
                    self._write_status()
            except Exception:  # the watcher must keep running
                log.exception("watcher error (it keeps running)")
            self._stop.wait(self.poll)

    def _settle(self, now: float) -> None:
        with self._cv:
            items = list(self._waiting.items())
        for path, w in items:
            try:
                st = os.stat(path)
            except FileNotFoundError:
                self.forget(path)
                continue
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                self.forget(path)
                continue
            sig = (st.st_size, st.st_mtime_ns)
            if sig != w.sig:
                if w.sig is None:
                    log.info("found %s (%s): waiting until it is complete", path.name, _size(st.st_size))
                w.sig, w.since = sig, now
                continue
            if now - w.since < (self.settle if st.st_size else self.empty_settle):
                continue
            if not _readable(path):   # still open for writing elsewhere (Windows), or no permission yet
                w.since = now
                continue
            with self._cv:
                if self._waiting.get(path) is not w:
                    continue
                del self._waiting[path]
                self._queue.append((path, sig))
                self._status_dirty = True
                waiting = len(self._queue) - 1 + (self._current is not None)
                self._cv.notify_all()
            log.info("queued %s%s", path.name, f" ({waiting} ahead of it)" if waiting else "")

    # ------------------------------------------------------------------ queue → jobs
    def _work_loop(self) -> None:
        ctx = Context(self.layout, self.options, self.journal, self.renderers, progress=self._progress,
                      stopping=self._stop.is_set)
        while not self._stop.is_set():
            with self._cv:
                while not self._queue and not self._stop.is_set():
                    self._cv.wait(0.5)
                if self._stop.is_set():
                    return
                path, sig = self._queue.popleft()
                self._current = {"name": path.name, "path": path, "since": time.time(), "done": 0, "cues": None}
                self._worker_busy = True
                self._status_dirty = True
            again = False
            try:
                self._write_status()
                again = self._job(path, sig, ctx)
            finally:
                with self._cv:
                    self._current = None
                    self._worker_busy = False
                    self._status_dirty = True
            if again:
                self.touch(path)

    def _job(self, path: Path, sig, ctx: Context) -> bool:
        """Run one job and log its outcome; True if the file must wait to settle again."""
        t0 = time.perf_counter()
        if _signature(path) != sig:
            return path.exists()
        try:
            outcome = jobs.process(path, ctx)
        except jobs.Stopping:
            log.info("stopped during %s: it resumes on the next start", path.name)
            return False
        except Exception as e:
            # outside the file's own problems (e.g. done/ not writable): leave it, say so, go on
            log.exception("could not finish %s: %s — it stays in inbox/ until it changes or the watcher restarts",
                          path.name, e)
            with self._cv:
                self._stuck[path] = _signature(path)
            return False
        self.history.append(outcome)
        self.counts[outcome.state] += 1
        secs = time.perf_counter() - t0
        if outcome.state == jobs.DONE:
            s = outcome.summary
            failed = s.get("failed", 0)
            counts = ", ".join(f"{s[k]} {k}" for k in ("rendered", "cached", "flagged", "failed", "skipped")
                               if s.get(k))
            log.info("done %s: %d cue%s (%s) in %.1f s → %s/; input → %s%s", path.name, s.get("cues", 0),
                     "s" if s.get("cues", 0) != 1 else "", counts or "none", secs, self.layout.rel(outcome.outbox),
                     self.layout.rel(outcome.dest),
                     f" — {failed} cue(s) failed, see the report" if failed else "")
        elif outcome.state == jobs.FAILED:
            log.error("FAILED %s: %s → %s (reason and fix in %s.error.txt)", path.name, outcome.message,
                      self.layout.rel(outcome.dest), outcome.dest.name if outcome.dest else path.name)
        elif outcome.state == jobs.DUPLICATE:
            log.info("skipped %s: %s; input → %s", path.name, outcome.message, self.layout.rel(outcome.dest))
        elif outcome.state == jobs.CHANGED:
            log.info("%s: %s", path.name, outcome.message)
            return True
        elif outcome.state == jobs.VANISHED:
            log.info("%s: %s", path.name, outcome.message)
        return False

    def _progress(self, name: str, done: int, total: int) -> None:
        with self._cv:
            if self._current is not None:
                self._current["done"], self._current["cues"] = done, total
                self._status_dirty = True

    # ------------------------------------------------------------------ status.json
    def snapshot(self) -> dict:
        with self._cv:
            waiting = [{"name": p.name, "size": w.sig[0] if w.sig else None,
                        "seen_seconds_ago": round(time.monotonic() - w.seen, 1)} for p, w in self._waiting.items()]
            queued = [p.name for p, _ in self._queue]
            current = None
            if self._current is not None:
                current = {k: v for k, v in self._current.items() if k != "path"}
            stuck = [p.name for p in self._stuck]
        return {"pid": os.getpid(), "folder": str(self.layout.root), "started": self._started, "updated": time.time(),
                "settle_seconds": self.settle, "renderer": self.renderers.describe(),
                "renderer_used": self.renderers.last_kind, "waiting": waiting, "queued": queued,
                "current": current, "stuck": stuck, "this_run": dict(self.counts), "stopping": self._stop.is_set()}

    def _write_status(self, final: bool = False) -> None:
        doc = self.snapshot()
        doc["running"] = not final
        self._status_dirty = False
        self._status_at = time.time()
        tmp = self.layout.status.with_name(f".status.{os.getpid()}.{threading.get_ident()}.partial")
        try:
            tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1), "utf-8")
            os.replace(tmp, self.layout.status)
        except OSError:
            tmp.unlink(missing_ok=True)


class _Handler:
    """watchdog event handler (duck-typed: watchdog calls dispatch())."""

    def __init__(self, watcher: Watcher):
        self.w = watcher

    def dispatch(self, event) -> None:
        if getattr(event, "is_directory", False):
            return
        kind = event.event_type
        src = Path(os.fsdecode(event.src_path))
        if kind in ("created", "modified", "closed", "closed_no_write"):
            if kind != "closed_no_write":
                self.w.touch(src)
        elif kind == "deleted":
            self.w.forget(src)
        elif kind == "moved":
            self.w.forget(src)
            dest = getattr(event, "dest_path", None)
            if dest:
                self.w.touch(Path(os.fsdecode(dest)))


# ------------------------------------------------------------------ helpers
def _signature(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _readable(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            f.read(1)
        return True
    except OSError:
        return False


def read_pid(path: Path) -> int | None:
    try:
        return int(Path(path).read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None


def _size(n: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)
