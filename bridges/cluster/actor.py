"""EngineActor: one warm speech backend (engine/backend.py: Kokoro, IndexTTS2 …) in a Ray worker process.

A request comes in as RenderRequest's wire form, plus the bytes of the files it names (no shared
filesystem is assumed): an emotion reference clip, and a voice that is a reference clip. The take goes
back as its wire form and its float32 samples as bytes — exactly the samples a local backend hands the
cache, so the files written from them on the dubbing machine are bit-identical to a local run's. The
backend's own errors come back as data (a FitError keeps its feasible range), so they fail their cue
alone, as they would locally; so does a backend that could not load, which `info` reports instead.

This module imports no ray: renderer.py wraps the class with ray.remote when a run uses a cluster.
"""
from __future__ import annotations

import hashlib
import os
import socket
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from takefit.engine import RENDER_REVISION, __version__
from takefit.engine.backend import DEFAULT_BACKEND, backend_entry, is_clip_voice, load_backend
from takefit.engine.errors import FitError, InputError, UnknownVoiceError
from takefit.engine.kokoro.forms import decoder_form
from takefit.engine.kokoro.native import snake_form
from takefit.engine.request import RenderRequest

ERRORS = {"InputError": InputError, "UnknownVoiceError": UnknownVoiceError, "FitError": FitError}


def identity(backend: str = DEFAULT_BACKEND, engine_id: str | None = None) -> dict:
    """What decides a take's bytes besides its request: the backend, its engine id (default: the registry's),
    takefit's version and rendering revision, and for Kokoro the decoder's form on this CPU and whether it
    runs the compiled Snakes (engine/kokoro/native.py). Compared between every actor and the dubbing machine
    (renderer.py), or the cluster's takes would not be a local run's."""
    doc = {"backend": backend, "engine": engine_id or backend_entry(backend).engine_id, "version": __version__,
           "revision": RENDER_REVISION}
    if backend == DEFAULT_BACKEND:
        doc["decoder"] = decoder_form()
        doc["snake"] = snake_form()
    return doc


class EngineActor:
    """One backend, loaded when the actor starts (Kokoro: `threads` CPU threads per model call, `sessions`
    lines at once, engine/kokoro/session.py; IndexTTS2: `device`, its checkpoint from the worker's
    $TAKEFIT_INDEXTTS_DIR or checkpoints/indextts2/). A backend that cannot load here is kept as
    `load_error`, so the dubbing machine hears why from `info` rather than from a dead actor."""

    def __init__(self, backend: str = DEFAULT_BACKEND, threads: int = 1, sessions: int = 1,
                 device: str | None = None):
        self.name, self.backend, self.load_error = backend, None, None
        t0 = time.perf_counter()
        try:
            self.backend = load_backend(backend, threads=threads, sessions=sessions, device=device)
        except Exception as e:  # noqa: BLE001 — not installed, no checkpoint, no CUDA here …: said by `info`,
            self.load_error = f"{type(e).__name__}: {e}"   # not as a dead actor's traceback
        self.load_seconds = time.perf_counter() - t0
        self._files = Path(tempfile.mkdtemp(prefix="takefit-actor-refs-"))

    def info(self) -> dict:
        where = {"host": socket.gethostname(), "pid": os.getpid(), "load_seconds": self.load_seconds}
        if self.backend is None:
            return {**where, "error": self.load_error}
        return {**identity(self.name, self.backend.engine_id), **where}

    def render(self, wire: dict, reference: bytes | None = None, suffix: str = ".wav",
               voice_clip: bytes | None = None) -> dict:
        """{"take": wire form, "audio": float32 bytes, "seconds": render wall time}, or {"error": …}."""
        try:
            request = self._with_reference(RenderRequest.from_wire(wire), reference, suffix)
            request = self._with_voice_clip(request, voice_clip)
            t0 = time.perf_counter()
            take = self._loaded().render(request).measured()   # its bext's R128 values: here, not on the
            audio = take.audio.astype("float32", copy=False)      # one dubbing machine every take goes through
            return {"take": take.to_wire(), "audio": audio.tobytes(), "seconds": time.perf_counter() - t0}
        except InputError as e:
            return {"error": error_doc(e)}

    def explain(self, wire: dict) -> dict:
        r = RenderRequest.from_wire(wire)
        return self._loaded().explain(r.text, r.voice, r.language, r.speed)

    def voice(self, name: str) -> dict:
        """A listed voice as this backend knows it: {"voice": its name, "identity": what besides the name
        sets its sound (the cache key's, engine/backend.py voice_identity)}, or {"error": …}."""
        try:
            backend = self._loaded()
            checked = backend.check_voice(name)
            return {"voice": checked, "identity": backend.voice_identity(checked)}
        except InputError as e:
            return {"error": error_doc(e)}

    def _loaded(self):
        if self.backend is None:
            raise RuntimeError(f"the {self.name} backend did not load on {socket.gethostname()}: {self.load_error}")
        return self.backend

    def _with_reference(self, request: RenderRequest, reference: bytes | None, suffix: str) -> RenderRequest:
        """The request reading its emotion reference clip from this worker's copy of the bytes sent."""
        if reference is None or request.emotion is None or request.emotion.reference is None:
            return request
        path = self._stored(reference, hashlib.sha256(reference).hexdigest()[:32] + suffix)
        return replace(request, emotion=replace(request.emotion, reference=str(path)))

    def _with_voice_clip(self, request: RenderRequest, clip: bytes | None) -> RenderRequest:
        """The request cloning its voice clip from this worker's copy of the bytes sent. The copy keeps the
        clip's file name (in a folder named by its content), since a clip voice is called by its stem in
        the take, as on the dubbing machine."""
        if clip is None or not is_clip_voice(request.voice):
            return request
        name = Path(request.voice).name
        return replace(request, voice=str(self._stored(clip, f"{hashlib.sha256(clip).hexdigest()[:32]}/{name}")))

    def _stored(self, data: bytes, name: str) -> Path:
        """`data` as a file under this actor's folder, written once (whole, then renamed)."""
        path = self._files / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".partial")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        return path


def error_doc(e: InputError) -> dict:
    return {"type": type(e).__name__, "message": str(e), "min_seconds": getattr(e, "min_seconds", None),
            "max_seconds": getattr(e, "max_seconds", None)}


def error_from(doc: dict) -> InputError:
    """The engine's error an actor returned as data, rebuilt as the same class."""
    kind = ERRORS.get(doc.get("type"), InputError)
    if kind is FitError:
        return FitError(doc["message"], doc.get("min_seconds"), doc.get("max_seconds"))
    return kind(doc["message"])
