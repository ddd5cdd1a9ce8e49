"""One onnxruntime session setup shared by the three stages."""
from __future__ import annotations

import os
import queue
from pathlib import Path

import onnxruntime as ort

from .native import FUSION
from .optimised import Rewrite, open_sessions



class StageSession:
    """One or more onnxruntime sessions of a stage; each runs one call at a time (its thread pool is
    sized for the machine, two calls at once would only split it). With one copy, lines in flight
    still overlap stage by stage (one line's decoder with the next line's duration and prosody, and
    with every line's frontend, fit and output, which hold no lock). With two copies of one thread
    each, two lines decode at once: 0.82× the time per second of audio of one 2-thread copy on
    2 cores, measured on 12 lines (a dub; a single audition is faster on the 2-thread copy)."""

    def __init__(self, sessions: list[ort.InferenceSession]):
        self.session = sessions[0]
        self._idle: queue.SimpleQueue = queue.SimpleQueue()
        for s in sessions:
            self._idle.put(s)

    def run(self, outputs, feeds):
        session = self._idle.get()          # blocks while every copy is busy
        try:
            return session.run(outputs, feeds)
        finally:
            self._idle.put(session)

    def __getattr__(self, name):
        return getattr(self.session, name)


def open_session(path, threads: int | None = None, copies: int = 1, kernels: Path | None = None) -> StageSession:
    """`path`: a graph file (its optimised form kept in the user's cache: optimised.py), or a serialised
    graph (bytes: the decoder with adaptable biases, rewritten at each load). `kernels`: takefit's compiled
    Snake kernel (native.py), the graph's Snakes fused into its nodes (snake.py)."""
    copies = max(1, copies)

    def options() -> ort.SessionOptions:
        opts = ort.SessionOptions()
        # default: the machine's cores (or $TAKEFIT_THREADS) shared by the copies
        opts.intra_op_num_threads = threads or max(1, (int(os.environ.get("TAKEFIT_THREADS", 0)) or os.cpu_count()
                                                       or 1) // copies)
        opts.inter_op_num_threads = 1
        # Pool threads sleep between ops instead of spinning: the decoder's ~1,500 small elementwise ops
        # leave spinning threads burning the core the other thread (or the next line's stage) needs.
        # Same audio; the 3 stages at 0.89× the time idle (VNNI decoder), 0.65–0.78× with other jobs
        # running (bench/results/decoder_variants.md). TAKEFIT_SPINNING=1 restores onnxruntime's default.
        opts.add_session_config_entry("session.intra_op.allow_spinning",
                                      "1" if os.environ.get("TAKEFIT_SPINNING") == "1" else "0")
        opts.log_severity_level = 3  # the int8 graph triggers harmless shape-merge warnings
        if kernels is not None:
            opts.register_custom_ops_library(str(kernels))
        return opts

    if isinstance(path, bytes):
        return StageSession([ort.InferenceSession(path, sess_options=options(), providers=["CPUExecutionProvider"])
                             for _ in range(copies)])
    return StageSession(open_sessions(Path(path), options, copies, kernels and snake_rewrite(kernels)))


def snake_rewrite(kernels: Path) -> Rewrite:
    """The graph's Snakes as the compiled kernel's nodes; cached per build of the library."""
    st = kernels.stat()
    return Rewrite("snake", f"{kernels}|{st.st_size}|{st.st_mtime_ns}|{FUSION}", _fuse_snakes)


def _fuse_snakes(model) -> int:
    from .snake import fuse_kernels      # onnx (0.7 s to import): only when the cached graph is written

    return fuse_kernels(model)
