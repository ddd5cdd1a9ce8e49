"""Stage 2: tokens + style + whole-frame durations → F0 and energy (N) curves, 2 values per frame."""
from __future__ import annotations

import numpy as np

from .session import open_session

# The F0 curve sits at ~0-30 Hz where unvoiced; between these it fades into voicing. Anything that
# transforms F0 weights by this so the decoder's voicing decisions do not move. Deep male voices
# speak at 65-100 Hz (am_onyx: most voiced frames), so full weight must start well below 100 Hz.
VOICED_LO, VOICED_HI = 30.0, 60.0


def voicing_weight(f0: np.ndarray) -> np.ndarray:
    """0 on unvoiced frames, 1 on voiced ones, a linear fade in between (same shape as `f0`)."""
    return np.clip((np.asarray(f0, dtype=np.float64) - VOICED_LO) / (VOICED_HI - VOICED_LO), 0.0, 1.0)


DURATIONS = "/encoder/Round_output_0"
F0 = "/encoder/F0_proj/Conv_output_0"
ENERGY = "/encoder/N_proj/Conv_output_0"


class ProsodyStage:
    def __init__(self, path, threads=None, copies=1):
        self.session = open_session(path, threads, copies)

    def __call__(self, tokens: np.ndarray, style: np.ndarray, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        f0, energy = self.session.run([F0, ENERGY], {
            "tokens": tokens.reshape(1, -1).astype(np.int64),
            "style": style.reshape(1, 256).astype(np.float32),
            DURATIONS: frames.reshape(1, -1).astype(np.float32),
        })
        return f0, energy
