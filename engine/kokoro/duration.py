"""Stage 1: tokens + style (+ speed) → predicted per-token durations, in 25 ms frames (float)."""
from __future__ import annotations

import numpy as np

from .session import open_session

OUTPUT = "/encoder/Div_output_0"


def natural_frames(durations: np.ndarray) -> np.ndarray:
    """Predicted float durations as whole frames, at least one per token: the voice's own pace."""
    return np.maximum(1, np.round(durations)).astype(np.float32)


class DurationStage:
    def __init__(self, path, threads=None, copies=1):
        self.session = open_session(path, threads, copies)

    def __call__(self, tokens: np.ndarray, style: np.ndarray, speed: float = 1.0) -> np.ndarray:
        """Float durations per token including the two pad tokens, shape (len(tokens),)."""
        out = self.session.run([OUTPUT], {
            "tokens": tokens.reshape(1, -1).astype(np.int64),
            "style": style.reshape(1, 256).astype(np.float32),
            "speed": np.array([speed], np.float32),
        })[0]
        return out.reshape(-1).astype(np.float64)
