"""Stage 3: tokens + style + durations + F0 + energy → 24 kHz audio of exactly sum(frames) * 600 samples."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .prosody import DURATIONS, ENERGY, F0
from .session import open_session


class DecoderStage:
    def __init__(self, path, threads=None, copies=1):
        self.path = Path(path)          # the shipped graph or its VNNI form (forms.py)
        self.session = open_session(path, threads, copies)

    def __call__(self, tokens, style, frames, f0, energy) -> np.ndarray:
        audio = self.session.run(["audio"], {
            "tokens": tokens.reshape(1, -1).astype(np.int64),
            "style": style.reshape(1, 256).astype(np.float32),
            DURATIONS: frames.reshape(1, -1).astype(np.float32),
            F0: f0.astype(np.float32),
            ENERGY: energy.astype(np.float32),
        })[0]
        return audio.reshape(-1).astype(np.float32)
