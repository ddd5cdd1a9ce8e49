"""The panel's only way to the daemon: two worker QObjects, each in its own QThread with its own
daemon Client (a Client is not thread-safe), so the GUI thread never waits on a socket.

    quick   health checks, starting the daemon, voices, natural lengths (explain): short calls
    render  auditions, "Render all" and "Dub timeline": long calls, one at a time, cancellable
    preview voice previews: a short line rendered at the daemon's `high` (audition) priority, so a
            running "Render all" neither blocks this thread nor queues ahead of it in the daemon

The GUI asks through DaemonLink's methods (queued signals into the workers) and hears back through
the workers' signals. Cancel is a threading.Event the render worker checks on every progress
message from the daemon and between cues.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from PyQt6.QtCore import QObject, QThread, pyqtSignal, pyqtSlot

from takefit.daemon.connect import connect
from takefit.daemon.control import DaemonError, DaemonUnavailable
from takefit.daemon.paths import Dirs
from takefit.engine.errors import TakefitError
from takefit.engine.files import write_atomic
from takefit.bridges.dub import pipeline as dub
from takefit.otio_adapters.cue import Cue
from takefit.bridges.dub.pipeline import DubOptions
from takefit.bridges.dub.render import DaemonRenderer
from takefit.bridges.dub.takes import TakeFolder

log = logging.getLogger("takefit.panel")

# outcomes of a render or dub task
DONE, CANCELED, LOST, FAILED = "done", "canceled", "lost", "failed"


class Canceled(Exception):
    """Raised inside a render's progress callback to stop waiting for it."""


@dataclass
class RenderTask:
    kind: str                 # "audition", "alternates" or "all"
    cues: list[Cue]
    options: DubOptions
    folder: TakeFolder


@dataclass
class DubTask:
    options: DubOptions
    plan: dub.Plan


class _Watched:
    """A Renderer that reports each render's progress and stops when cancel is set."""

    def __init__(self, inner: DaemonRenderer, on_progress, cancel: threading.Event):
        self.inner, self.on_progress, self.cancel = inner, on_progress, cancel
        self.interrupted_job: str | None = None     # the daemon job left running when cancel came

    def render(self, request, progress=None):
        if self.cancel.is_set():
            raise Canceled()

        def report(fraction: float, message: str) -> None:
            if self.cancel.is_set():
                self.interrupted_job = self.inner.job
                raise Canceled()
            self.on_progress(float(fraction), message)
        return self.inner.render(request, progress=report)

    def check_voice(self, name: str) -> str:
        return self.inner.check_voice(name)

    def close(self) -> None:
        pass


class _Worker(QObject):
    def __init__(self, dirs: Dirs, timeout: float, retries: int):
        super().__init__()
        self.dirs, self.timeout, self.retries = dirs, timeout, retries
        self._client = None

    def client(self, mode: str = "auto"):
        """This worker's client (daemon/connect.py, like every tool); DaemonUnavailable when none runs."""
        if self._client is None:
            self._client = connect(mode, home=self.dirs, timeout=self.timeout, retries=self.retries)
        if self._client is None:
            raise DaemonUnavailable(f"The takefit daemon is not running or does not answer (looked in "
                                    f"{self.dirs.runtime}).")
        return self._client

    def drop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


class QuickWorker(_Worker):
    status = pyqtSignal(bool, str, dict)       # daemon answers?, a sentence for people, health
    voices = pyqtSignal(list)                  # the voices op's list
    natural = pyqtSignal(object, float)        # (text, voice, language), seconds
    natural_failed = pyqtSignal(object, str)

    @pyqtSlot()
    def check(self) -> None:
        try:
            health = self.client().health()
        except DaemonUnavailable as e:
            self.drop()
            self.status.emit(False, str(e), {})
            return
        except TakefitError as e:
            self.drop()
            self.status.emit(False, f"The takefit daemon does not answer: {e}", {})
            return
        self.status.emit(True, "daemon ready", dict(health))

    @pyqtSlot()
    def start_daemon(self) -> None:
        self.drop()
        try:
            self.client("start")
        except TakefitError as e:
            self.status.emit(False, f"Could not start the daemon: {e}", {})
            return
        log.info("daemon started (%s)", self.dirs.runtime)
        self.check()

    @pyqtSlot()
    def fetch_voices(self) -> None:
        try:
            self.voices.emit(list(self.client().voices()))
        except TakefitError as e:
            self.drop()
            self.status.emit(False, f"The takefit daemon does not answer: {e}", {})

    @pyqtSlot(list)
    def explain(self, keys: list) -> None:
        for key in keys:
            text, voice, language = key
            try:
                info = self.client().explain(text, voice, language)
            except DaemonError as e:
                self.drop()
                self.status.emit(False, f"The takefit daemon does not answer: {e}", {})
                return
            except TakefitError as e:          # a bad line or voice: that row says so
                self.natural_failed.emit(key, str(e))
                continue
            self.natural.emit(key, float(info.get("speech_seconds") or info["natural_seconds"]))


class PreviewWorker(_Worker):
    """Renders a voice's preview line as an ordinary request (natural length, −23 LUFS, 48 kHz), so the
    daemon's take cache answers a repeat; writes it into a folder of this session's previews."""
    previewed = pyqtSignal(str, dict)          # voice, {path, cached, seconds, engine_seconds, job}
    failed = pyqtSignal(str, str)              # voice, a sentence for the status bar

    def __init__(self, dirs: Dirs, timeout: float, retries: int):
        super().__init__(dirs, timeout, retries)
        self.folder: Path | None = None

    @pyqtSlot(str, str, str)
    def preview(self, voice: str, text: str, language: str) -> None:
        try:
            take = self.client().render(text, voice=voice, language=language, inline=True, priority="high")
            path = self._keep(voice, take)
        except DaemonError as e:
            self.drop()
            self.failed.emit(voice, f"preview of {voice}: the takefit daemon does not answer: {e}")
        except TakefitError as e:
            self.failed.emit(voice, f"preview of {voice} failed: {e}")
        except Exception as e:  # a bug must not leave the preview button busy forever
            log.exception("preview of %s failed", voice)
            self.failed.emit(voice, f"preview of {voice} failed: {type(e).__name__}: {e}")
        else:
            self.previewed.emit(voice, {"path": str(path), "cached": take.cached, "seconds": take.seconds,
                                        "engine_seconds": take.engine_seconds, "job": take.job})

    def _keep(self, voice: str, take) -> Path:
        if self.folder is None:
            self.folder = Path(tempfile.mkdtemp(prefix="takefit-previews-"))
        return write_atomic(self.folder / f"{voice}-{take.key[:12] or take.job}.wav", take.wav_bytes())

    def remove_files(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


class RenderWorker(_Worker):
    cue_started = pyqtSignal(str)              # cue id
    progress = pyqtSignal(float)               # 0-1 over the whole task
    cue_done = pyqtSignal(object)              # a dub CueResult
    dubbed = pyqtSignal(object)                # the DubReport
    finished = pyqtSignal(str, str, str)       # task kind, outcome (DONE …), message

    def __init__(self, dirs: Dirs, timeout: float, retries: int, cancel: threading.Event):
        super().__init__(dirs, timeout, retries)
        self.cancel = cancel
        self._current: _Watched | None = None

    def _renderer(self, on_progress, priority: str = "normal") -> _Watched:
        self._current = _Watched(DaemonRenderer(self.client(), priority=priority), on_progress, self.cancel)
        return self._current

    def _cancel_in_daemon(self) -> str:
        """Cancel the daemon job the task was waiting for (it stops at its next stage)."""
        job = self._current.interrupted_job if self._current is not None else None
        if not job:
            return "canceled between takes"
        try:
            answer = self.client().cancel(job)
        except TakefitError as e:
            return f"canceled here; the daemon did not confirm ({e})"
        return "canceled" + (" (the take in progress was stopped in the daemon)" if answer.get("canceling")
                             or answer.get("canceled") else "")

    def _guard(self, kind: str, work) -> None:
        """Run one task; every way it can end becomes one `finished` signal."""
        self._current = None
        try:
            work()
        except Canceled:
            self.finished.emit(kind, CANCELED, self._cancel_in_daemon())
        except DaemonError as e:
            self.drop()
            self.finished.emit(kind, LOST, str(e))
        except TakefitError as e:
            self.finished.emit(kind, FAILED, str(e))
        except Exception as e:  # a bug must not leave the window busy forever
            log.exception("panel task %s failed", kind)
            self.finished.emit(kind, FAILED, f"{type(e).__name__}: {e}")
        else:
            self.finished.emit(kind, DONE, "")

    @pyqtSlot(object)
    def render(self, task: RenderTask) -> None:
        def work() -> None:
            n = len(task.cues)
            step = {"i": 0}
            # an editor waits on an audition and its alternates: ahead of batches in the daemon's queue
            priority = "high" if task.kind in ("audition", "alternates") else "normal"
            renderer = self._renderer(lambda f, m: self.progress.emit((step["i"] + min(f, 1.0)) / n), priority)
            cues = dub.check_voices(task.cues, renderer)
            task.folder.create()
            for i, cue in enumerate(cues):
                if self.cancel.is_set():
                    raise Canceled()
                step["i"] = i
                self.cue_started.emit(cue.id)
                result, _ = dub.render_cue(cue, renderer, task.folder, task.options)
                task.folder.save()
                self.cue_done.emit(result)
                self.progress.emit((i + 1) / n)
        self._guard(task.kind, work)

    @pyqtSlot(object)
    def dub(self, task: DubTask) -> None:
        def work() -> None:
            n = max(len(task.plan.cues), 1)
            done = {"n": 0}

            def on_cue(i: int, total: int, result) -> None:
                done["n"] = i
                self.cue_done.emit(result)
                self.progress.emit(i / total)
                if self.cancel.is_set():
                    raise Canceled()
            renderer = self._renderer(lambda f, m: self.progress.emit((done["n"] + min(f, 1.0)) / n))
            report = dub.run(task.options, renderer, progress=on_cue, the_plan=task.plan)
            self.dubbed.emit(report)
        self._guard("dub", work)


class DaemonLink(QObject):
    """The GUI side: ask with the methods, listen to `.quick` and `.render`'s signals."""

    _check = pyqtSignal()
    _start = pyqtSignal()
    _voices = pyqtSignal()
    _explain = pyqtSignal(list)
    _render = pyqtSignal(object)
    _dub = pyqtSignal(object)
    _preview = pyqtSignal(str, str, str)

    def __init__(self, dirs: Dirs | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.dirs = dirs or Dirs.resolve()
        self.cancel_event = threading.Event()
        self.busy = False                       # a render/dub task is running
        self.quick = QuickWorker(self.dirs, timeout=5.0, retries=0)
        self.render = RenderWorker(self.dirs, timeout=10.0, retries=1, cancel=self.cancel_event)
        self.previews = PreviewWorker(self.dirs, timeout=10.0, retries=1)
        self._threads = []
        for worker, name in ((self.quick, "takefit-quick"), (self.render, "takefit-render"),
                             (self.previews, "takefit-preview")):
            t = QThread()
            t.setObjectName(name)
            worker.moveToThread(t)
            t.start()
            self._threads.append(t)
        self._check.connect(self.quick.check)
        self._start.connect(self.quick.start_daemon)
        self._voices.connect(self.quick.fetch_voices)
        self._explain.connect(self.quick.explain)
        self._render.connect(self.render.render)
        self._dub.connect(self.render.dub)
        self._preview.connect(self.previews.preview)
        self.render.finished.connect(self._task_over)

    def check(self) -> None:
        self._check.emit()

    def start_daemon(self) -> None:
        self._start.emit()

    def fetch_voices(self) -> None:
        self._voices.emit()

    def explain(self, keys: list) -> None:
        if keys:
            self._explain.emit(list(keys))

    def submit(self, task: RenderTask | DubTask) -> bool:
        """Queue a render or dub task; False when one is already running."""
        if self.busy:
            return False
        self.busy = True
        self.cancel_event.clear()
        (self._dub if isinstance(task, DubTask) else self._render).emit(task)
        return True

    def preview(self, voice: str, text: str, language: str) -> None:
        """Render `voice` reading `text`; `.previews` answers with `previewed` or `failed`."""
        self._preview.emit(voice, text, language)

    def cancel(self) -> None:
        self.cancel_event.set()

    def _task_over(self, *_) -> None:
        self.busy = False

    def close(self) -> None:
        """Stop both threads (a render in flight is abandoned: it finishes in the daemon's cache)."""
        self.cancel_event.set()
        for t in self._threads:
            t.quit()
        for t in self._threads:
            t.wait(15000)
        self.quick.drop()
        self.render.drop()
        self.previews.drop()
        self.previews.remove_files()
