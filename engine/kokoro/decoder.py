"""Stage 3: tokens + style + durations + F0 + energy → 24 kHz audio of exactly sum(frames) * 600 samples."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ..adaptation import Adaptation, adaptable_model
from .prosody import DURATIONS, ENERGY, F0
from .session import open_session


class DecoderStage:
    def __init__(self, path, threads=None, copies=1, kernels: Path | None = None):
        self.path = Path(path)          # the shipped graph or its VNNI form (forms.py)
        self.kernels = kernels          # the compiled Snake kernel, if built (native.py)
        self.session = open_session(path, threads, copies, kernels)
        self._sizes = (threads, copies, kernels)
        self._biases = None             # the AdaIN fc biases, once the session takes adaptations
        self._lock = threading.Lock()

    def __call__(self, tokens, style, frames, f0, energy, adapt: Adaptation | None = None) -> np.ndarray:
        feeds = {
            "tokens": tokens.reshape(1, -1).astype(np.int64),
            "style": style.reshape(1, 256).astype(np.float32),
            DURATIONS: frames.reshape(1, -1).astype(np.float32),
            F0: f0.astype(np.float32),
            ENERGY: energy.astype(np.float32),
        }
        session = self.session
        if adapt is not None and adapt.offsets:
            session, biases = self.adapted()
            feeds.update(adapt.feeds(biases))
        audio = session.run(["audio"], feeds)[0]
        return audio.reshape(-1).astype(np.float32)

    def adapted(self):
        """(session, base biases) of the graph whose AdaIN fc biases are inputs (engine/adaptation.py), opened
        at the first adapted voice's render. It then *replaces* the plain session: fed nothing, its biases keep
        their values and it renders every other voice bit for bit as the plain graph did (both forms,
        tests/test_adapt.py), and beside it the plain session would hold ≈ 250 MB more (bench/adapt_cost.py)."""
        with self._lock:
            if self._biases is None:
                from .snake import fuse_kernels    # onnx, only for an adapted voice's first render

                graph, biases = adaptable_model(self.path, fuse_kernels if self.kernels else None)
                self.session = open_session(graph, *self._sizes)
                self._biases = biases
            return self.session, self._biases
