"""One onnxruntime session setup shared by the three stages."""
from __future__ import annotations

import os

import onnxruntime as ort


def open_session(path, threads: int | None = None) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or int(os.environ.get("TAKEFIT_THREADS", 0)) or (os.cpu_count() or 1)
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # the int8 graph triggers harmless shape-merge warnings
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
