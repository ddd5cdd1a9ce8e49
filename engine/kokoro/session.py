"""One onnxruntime session setup shared by the three stages."""
from __future__ import annotations

import os
import threading

import onnxruntime as ort


class StageSession:
    """An onnxruntime session that runs one call at a time: its thread pool is sized for the machine, and
    two calls at once would only split it. Different stages still run side by side, so with two lines
    in flight one line's decoder overlaps the next line's duration and prosody (and its frontend, fit
    and output, which hold no lock at all)."""

    def __init__(self, session: ort.InferenceSession):
        self.session = session
        self._lock = threading.Lock()

    def run(self, outputs, feeds):
        with self._lock:
            return self.session.run(outputs, feeds)

    def __getattr__(self, name):
        return getattr(self.session, name)


def open_session(path, threads: int | None = None) -> StageSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or int(os.environ.get("TAKEFIT_THREADS", 0)) or (os.cpu_count() or 1)
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # the int8 graph triggers harmless shape-merge warnings
    return StageSession(ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"]))
