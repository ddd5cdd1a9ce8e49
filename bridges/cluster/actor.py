"""EngineActor: one warm Engine in a Ray worker process.

A request comes in as RenderRequest's wire form (plus the bytes of an emotion reference clip, since
no shared filesystem is assumed); the take goes back as its wire form and its float32 samples as
bytes — exactly the samples a local engine hands the cache, so the files written from them on the
dubbing machine are bit-identical to a local run's. The engine's own errors come back as data (a
FitError keeps its feasible range), so they fail their cue alone, as they would locally.

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

from takefit.engine import ENGINE_ID, RENDER_REVISION, __version__
from takefit.engine.errors import FitError, InputError, UnknownVoiceError
from takefit.engine.kokoro.forms import decoder_form
from takefit.engine.request import RenderRequest

ERRORS = {"InputError": InputError, "UnknownVoiceError": UnknownVoiceError, "FitError": FitError}


def identity() -> dict:
    """What decides a take's bytes besides its request (the cache key's engine fields): it must be the
    same on every actor as on the dubbing machine, or the cluster's takes would not be a local run's."""
    return {"engine": ENGINE_ID, "version": __version__, "revision": RENDER_REVISION, "decoder": decoder_form()}


class EngineActor:
    """One Engine, loaded when the actor starts (`threads` CPU threads per model call, `sessions` lines
    at once: engine/kokoro/session.py)."""

    def __init__(self, threads: int = 1, sessions: int = 1):
        from takefit.engine import Engine

        t0 = time.perf_counter()
        self.engine = Engine(threads=threads, sessions=sessions)
        self.load_seconds = time.perf_counter() - t0
        self._references = Path(tempfile.mkdtemp(prefix="takefit-actor-refs-"))

    def info(self) -> dict:
        return {**identity(), "host": socket.gethostname(), "pid": os.getpid(), "load_seconds": self.load_seconds}

    def render(self, wire: dict, reference: bytes | None = None, suffix: str = ".wav") -> dict:
        """{"take": wire form, "audio": float32 bytes, "seconds": engine wall time}, or {"error": …}."""
        try:
            request = self._with_reference(RenderRequest.from_wire(wire), reference, suffix)
            t0 = time.perf_counter()
            take = self.engine.render(request)
            audio = take.audio.astype("float32", copy=False)
            return {"take": take.to_wire(), "audio": audio.tobytes(), "seconds": time.perf_counter() - t0}
        except InputError as e:
            return {"error": {"type": type(e).__name__, "message": str(e),
                              "min_seconds": getattr(e, "min_seconds", None),
                              "max_seconds": getattr(e, "max_seconds", None)}}

    def explain(self, wire: dict) -> dict:
        r = RenderRequest.from_wire(wire)
        return self.engine.explain(r.text, r.voice, r.language, r.speed)

    def _with_reference(self, request: RenderRequest, reference: bytes | None, suffix: str) -> RenderRequest:
        """The request reading its emotion reference clip from this worker's copy of the bytes sent."""
        if reference is None or request.emotion is None or request.emotion.reference is None:
            return request
        path = self._references / (hashlib.sha256(reference).hexdigest()[:32] + suffix)
        if not path.exists():
            tmp = path.with_suffix(".partial")
            tmp.write_bytes(reference)
            os.replace(tmp, path)
        return replace(request, emotion=replace(request.emotion, reference=str(path)))


def error_from(doc: dict) -> InputError:
    """The engine's error an actor returned as data, rebuilt as the same class."""
    kind = ERRORS.get(doc.get("type"), InputError)
    if kind is FitError:
        return FitError(doc["message"], doc.get("min_seconds"), doc.get("max_seconds"))
    return kind(doc["message"])
