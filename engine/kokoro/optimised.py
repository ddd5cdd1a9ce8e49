"""onnxruntime's optimised form of a stage graph, kept in the user's cache.

Opening a stage graph, onnxruntime first rewrites it (constant folding, fusions, layouts). The first
load writes the rewritten graph (`optimized_model_filepath`); later loads open that with the rewriting
off: the same graph, the same takes bit for bit (tests/test_engine.py). The three stages, opened one
after another, took 0.79–1.02 s and take 0.40–0.45 s; the engine's load (stages side by side) 0.94–1.14 s
and now 0.43–0.62 s, which every cold `takefit say`, daemon start and `dub` pays. The rewritten graph may hold
kernels' layouts for this CPU, so its name carries onnxruntime's version, the CPU's features and the
source file's size and mtime: another CPU, an upgrade or a refetched asset writes a new one (and the copy
it replaces is removed); one that does not open is removed and rewritten.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import onnxruntime as ort
from platformdirs import user_cache_dir

from ..files import publish, remove_others, temp_beside
from .forms import cpu_features

DIGEST = 16                       # hex digits of the key in a cached graph's name


def cached_path(source: Path, rewrite: Rewrite | None = None) -> Path:
    """Where the optimised form of `source` (rewritten by `rewrite`) is kept, named for everything it
    depends on."""
    st = source.stat()
    key = f"{ort.__version__}|{','.join(sorted(cpu_features()))}|{st.st_size}|{st.st_mtime_ns}"
    stem = source.stem
    if rewrite is not None:
        key, stem = f"{key}|{rewrite.key}", f"{stem}+{rewrite.name}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:DIGEST]
    return Path(user_cache_dir("takefit")) / "graphs" / f"{stem}-{digest}.onnx"


@dataclass(frozen=True)
class Rewrite:
    """A change made to a graph before onnxruntime loads it: `apply(ModelProto)` in place; `name` goes
    into the cached graph's file name, `key` (what the change depends on) into its digest."""
    name: str
    key: str
    apply: Callable


def _source_graph(source: Path, rewrite: Rewrite | None):
    if rewrite is None:
        return source
    import onnx                           # only when a graph is rewritten: its first load

    model = onnx.load(str(source))
    rewrite.apply(model)
    return model.SerializeToString()


def open_sessions(source: Path, options, copies: int, rewrite: Rewrite | None = None) -> list[ort.InferenceSession]:
    """`copies` sessions of the graph at `source` (rewritten by `rewrite`); `options()` makes fresh
    SessionOptions."""
    cached = cached_path(source, rewrite)
    if cached.is_file():
        try:
            return [_session(cached, _without_rewriting(options())) for _ in range(copies)]
        except Exception:                 # damaged or unreadable: write it again below
            cached.unlink(missing_ok=True)
    first, part = options(), None
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        part = temp_beside(cached)
        first.optimized_model_filepath = str(part)
    except OSError:
        pass                              # no cache folder: load as before
    graph = _source_graph(source, rewrite)
    try:
        sessions = [_session(graph, first)]
        if part is not None:
            _keep(part, cached, cached.stem[:-DIGEST - 1])
    finally:
        if part is not None:
            part.unlink(missing_ok=True)
    return sessions + [_session(graph, options()) for _ in range(copies - 1)]


def _keep(part: Path, cached: Path, stem: str) -> None:
    """Put the written graph in place (a reader never sees half a file) and remove what it replaces."""
    try:
        if part.stat().st_size == 0:      # onnxruntime wrote nothing
            return
        publish(part, cached, private=True)
        remove_others(cached, f"{stem}-{'?' * DIGEST}.onnx")
    except OSError:
        pass


def _without_rewriting(opts):
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return opts


def _session(graph: Path | bytes, opts) -> ort.InferenceSession:
    return ort.InferenceSession(graph if isinstance(graph, bytes) else str(graph), sess_options=opts,
                                providers=["CPUExecutionProvider"])
