"""Who renders the takes: a small `Renderer` interface, an in-process renderer (Engine + TakeCache),
and the hook where the daemon client plugs in.

`takefit dub` only talks to a Renderer, so the same run works against the engine in this process or
against a warm daemon.
"""
from __future__ import annotations

import difflib
import os
import queue
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Protocol

from platformdirs import user_cache_dir

from takefit.daemon.client import new_job_id
from takefit.daemon.connect import connect
from takefit.daemon.control import DaemonError
from takefit.engine import assets
from takefit.engine.backend import DEFAULT_BACKEND, checked_clip, clip_refusal, is_clip_voice
from takefit.engine.cache import TakeCache, request_key
from takefit.engine.errors import InputError, TakefitError, UnknownVoiceError
from takefit.engine.kokoro import VoiceBank
from takefit.engine.request import RenderRequest
from takefit.engine.take import Take

Progress = Callable[[float, str], None]
# A daemon's refusal of one request for its own content (a field out of range or too long, a path it
# cannot use): that cue fails, the run goes on. (Its other refusals, bad_input, unknown_voice …, already
# arrive as the engine's InputError subclasses.)
REQUEST_REFUSALS = ("bad_message", "too_large")


class Renderer(Protocol):
    """Renders takes. `render` raises the engine's errors (InputError, FitError …) unchanged."""
    def render(self, request: RenderRequest, progress: Progress | None = None) -> Take: ...

    def check_voice(self, name: str) -> str:
        """The voice name if it exists (a reference clip: its absolute path, where the backend clones
        clips); raises UnknownVoiceError naming close matches, or why a clip cannot be used."""
        ...

    def explain(self, request: RenderRequest) -> dict:
        """How the line will be read, without audio: at least `voice` and `natural_seconds`."""
        ...

    def close(self) -> None: ...


def default_cache_dir() -> Path:
    """$TAKEFIT_CACHE, else the user's cache folder (…/takefit/takes)."""
    if os.environ.get("TAKEFIT_CACHE"):
        return Path(os.environ["TAKEFIT_CACHE"]).expanduser()

    return Path(user_cache_dir("takefit")) / "takes"


class InProcessRenderer:
    """The engine in this process, behind the content-addressed take cache.
    The engine loads on the first cache miss, so a re-run where nothing changed never loads it.
    The engine it loads keeps `parallel` copies of each model stage, `threads` ÷ `parallel` threads
    each, so `parallel` cues render at once (`max_in_flight`, used by dub.renderings): on 2 cores two
    1-thread copies dub 0.82× the time per second of audio of one 2-thread copy (engine/kokoro/session.py).
    A given engine renders as many lines at once as its sessions allow (overlapped stage by stage).
    """
    def __init__(self, engine=None, cache=None, threads: int | None = 2, cache_extra: dict | None = None,
                 parallel: int = 2):
        self._engine = engine
        self._threads = threads
        self._parallel = max(1, parallel)
        self.max_in_flight = self._parallel if engine is None else 2
        self.cache = cache            # a TakeCache, or None for no caching
        self.cache_extra = cache_extra or {}
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[threading.Lock, int]] = {}   # cache key → (its lock, users)
        self.engine_load_seconds = 0.0

    @property
    def engine(self):
        with self._lock:
            if self._engine is None:
                from takefit.engine import Engine

                t0 = time.perf_counter()
                threads = max(1, self._threads // self._parallel) if self._threads else None
                self._engine = Engine(threads=threads, sessions=self._parallel)
                self.engine_load_seconds = time.perf_counter() - t0
            return self._engine

    def render(self, request: RenderRequest, progress: Progress | None = None) -> Take:
        key = request_key(request, {**self.cache_extra, **self.key_extra(request)})
        if self.cache is None:
            return self._render(request, key, progress)
        with self._one_at_a_time(key):    # the same line twice in flight: the second is a cache hit
            hit = self.cache.get(key)
            if hit is not None:
                return hit
            return self._render(request, key, progress)

    def key_extra(self, request: RenderRequest) -> dict:
        """The cache key's fields beyond the request for this take: none for Kokoro in this process (a
        renderer of another backend adds engine/cache.py backend_extra's)."""
        return {}

    @contextmanager
    def _one_at_a_time(self, key: str):
        with self._lock:
            lock, users = self._keys.get(key, (threading.Lock(), 0))
            self._keys[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._lock:
                lock, users = self._keys[key]
                if users == 1:
                    del self._keys[key]
                else:
                    self._keys[key] = (lock, users - 1)

    def _render(self, request: RenderRequest, key: str, progress: Progress | None) -> Take:
        engine = self.engine
        take = engine.render(request, progress=progress).measured()   # in the session's thread, cached with it
        take.key = key
        if self.cache is not None:
            take.wav = self.cache.put(key, take)
        return take

    def explain(self, request: RenderRequest) -> dict:
        return self.engine.explain(request.text, request.voice, request.language, request.speed)

    def check_voice(self, name: str) -> str:
        if is_clip_voice(name):            # Kokoro in this process: no clip voices
            raise UnknownVoiceError(clip_refusal(name))
        if self._engine is not None:
            return self._engine.voice_bank.check(name)
        # without loading the model: the voice tables on disk are the list
        return VoiceBank(assets.AssetPaths(assets.default_dir()).voices).check(name)

    def close(self) -> None:
        pass


class DaemonRenderer:
    """A Renderer on a takefit.daemon.Client. The audio comes back inline, so a daemon on another
    machine (CURVE-authenticated) works the same as a local one.

    A client's socket serves one thread; with `make_client` (another client to the same daemon) and
    `max_in_flight` > 1, as many renders as the daemon has workers run at once (`dub.renderings`)."""

    def __init__(self, client, make_client: Callable[[], object] | None = None, max_in_flight: int = 1,
                 priority: str = "normal"):
        self.client = client
        self.priority = priority          # "high" for an editor waiting on an audition (docs/protocol.md)
        self._make_client = make_client
        self.max_in_flight = max_in_flight if make_client is not None else 1
        self._idle = queue.SimpleQueue()   # clients not rendering right now
        self._idle.put(client)
        self._extra: list = []
        self._voices: list[str] | None = None
        self._backend: dict | None = None  # hello's `backend` map, asked once
        self.engine_load_seconds = 0.0
        self.job: str | None = None       # the daemon job of the latest render (to cancel it)

    def render(self, request: RenderRequest, progress: Progress | None = None) -> Take:
        try:
            client = self._idle.get_nowait()
        except queue.Empty:
            client = self._make_client()   # only reached with a factory: without one, one thread renders
            self._extra.append(client)
        try:
            return self._render(client, request, progress)
        finally:
            self._idle.put(client)

    def _render(self, client, request: RenderRequest, progress: Progress | None) -> Take:
        self.job = new_job_id()
        try:
            r = client.render(request, inline=True, progress=progress, job=self.job, priority=self.priority)
        except DaemonError as e:
            if e.code in REQUEST_REFUSALS:    # this request's own fault: its cue fails, the run goes on
                raise InputError(str(e)) from None
            raise
        r.load()       # inline bytes; over the inline limit, the file a local daemon wrote
        return r

    def explain(self, request: RenderRequest) -> dict:
        return self.client.explain(request.text, request.voice, request.language, request.speed)

    def check_voice(self, name: str) -> str:
        if is_clip_voice(name):
            return self._check_clip(name)
        if self._voices is None:
            self._voices = [v["name"] for v in self.client.voices()]
        if name in self._voices:
            return name
        close = difflib.get_close_matches(name, self._voices, n=4, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UnknownVoiceError(f"unknown voice {name!r}.{hint} `takefit voices` lists all {len(self._voices)}.")

    def backend(self) -> dict:
        """The daemon's backend as `hello` states it; a daemon that predates the field serves Kokoro."""
        if self._backend is None:
            self._backend = dict(self.client.hello().get("backend") or {"name": DEFAULT_BACKEND, "capabilities": []})
        return self._backend

    def _check_clip(self, name: str) -> str:
        """A reference clip as a voice, if the daemon's backend clones clips (engine/backend.py checked_clip)."""
        b = self.backend()
        return checked_clip(name, b.get("name", DEFAULT_BACKEND), "reference_clip_voices" in b.get("capabilities", []))

    def close(self) -> None:
        for c in [self.client, *self._extra]:
            c.close()


def daemon_renderer(mode: str = "auto", timeout: float = 5.0) -> Renderer | None:
    """A DaemonRenderer on this user's daemon (daemon/connect.py: `auto` never starts one, `start`
    does), else None: `make_renderer` then renders with the engine in this process."""

    client = connect(mode, timeout=timeout)
    if client is None:
        return None
    try:
        workers = int(client.health().get("workers") or 1)
    except TakefitError:     # it answered hello, then went: render here instead
        client.close()
        return None
    return DaemonRenderer(client, client.twin, max_in_flight=workers)


def make_renderer(use_daemon: bool = True, cache_dir: Path | None = None, no_cache: bool = False,
                  engine=None, threads: int | None = 2, parallel: int = 2) -> Renderer:
    """This user's daemon when one answers, else the engine here (`parallel` lines at once)."""
    if use_daemon and engine is None:
        r = daemon_renderer()
        if r is not None:
            return r
    cache = None
    if not no_cache:
        cache = TakeCache(cache_dir or default_cache_dir())
    return InProcessRenderer(engine=engine, cache=cache, threads=threads, parallel=parallel)
