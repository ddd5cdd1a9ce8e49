"""Stage 2: tokens + style + whole-frame durations → F0 and energy (N) curves, 2 values per frame."""
from __future__ import annotations

import numpy as np

from .session import open_session

DURATIONS = "/encoder/Round_output_0"
F0 = "/encoder/F0_proj/Conv_output_0"
ENERGY = "/encoder/N_proj/Conv_output_0"


class ProsodyStage:
    def __init__(self, path, threads=None):
        self.session = open_session(path, threads)

    def __call__(self, tokens: np.ndarray, style: np.ndarray, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        f0, energy = self.session.run([F0, ENERGY], {
            "tokens": tokens.reshape(1, -1).astype(np.int64),
            "style": style.reshape(1, 256).astype(np.float32),
            DURATIONS: frames.reshape(1, -1).astype(np.float32),
        })
        return f0, energy
