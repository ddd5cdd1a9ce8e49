"""KokoroModel: the three stages plus the phoneme vocabulary, loaded once and reused."""
from __future__ import annotations

import json
import warnings
from concurrent.futures import ThreadPoolExecutor
from importlib import resources

import numpy as np

from .decoder import DecoderStage
from .duration import DurationStage
from .forms import stage_file
from .native import library, stale
from .prosody import ProsodyStage, voicing_weight
from .units import FRAME_SAMPLES, MAX_TOKENS, SAMPLE_RATE


def scale_f0(f0: np.ndarray, ratio: float) -> np.ndarray:
    """F0 × ratio on voiced frames only, so the decoder's voicing threshold does not move."""
    w = voicing_weight(f0).astype(np.float32)
    return (f0 * np.power(np.float32(ratio), w)).astype(np.float32)


def load_vocab() -> dict[str, int]:
    return json.loads(resources.files(__package__).joinpath("vocab.json").read_text("utf-8"))["vocab"]


class KokoroModel:
    def __init__(self, paths, threads: int | None = None, copies: int = 1):
        """`copies` sessions of each stage, `threads` each (session.py: parallel lines); the decoder in
        this machine's form (forms.py). The sessions load in the background: a stage's first use (or
        `wait`) waits for it."""
        self.vocab = load_vocab()
        # The three sessions load side by side: onnxruntime parses and optimises each graph in C++ without
        # the GIL, so on 2 cores this takes about the decoder's time rather than the sum, and a one-shot
        # caller reads its line (spaCy's imports) meanwhile: ≈ 0.3–0.4 s of a cold `takefit say`.
        pool = ThreadPoolExecutor(3, thread_name_prefix="takefit-load")
        self._loading = {name: pool.submit(cls, paths.stage(stage_file(name)), threads, copies) for cls, name in
                         ((DurationStage, "duration"), (ProsodyStage, "prosody"))}
        kernels = library()
        if kernels is None and stale():
            warnings.warn("takefit's compiled kernels were built for another version: the decoder runs its graph "
                          "Snakes (2× slower) until `takefit assets fetch` rebuilds them", stacklevel=2)
        self._loading["decoder"] = pool.submit(DecoderStage, paths.stage(stage_file("decoder")), threads, copies,
                                               kernels)
        pool.shutdown(wait=False)

    def __getattr__(self, name: str):
        """`duration`, `prosody`, `decoder`: the stage once loaded (a load's error is raised here)."""
        loading = self.__dict__.get("_loading", {})
        if name not in loading:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        stage = loading[name].result()
        self.__dict__[name] = stage           # later reads find the attribute and skip this
        return stage

    def wait(self) -> None:
        """Block until every stage is loaded; raise the first load error."""
        for name in self._loading:
            getattr(self, name)

    def tokenize(self, phonemes: str) -> tuple[np.ndarray, str]:
        """Token ids with the two pad tokens, and the phoneme string actually kept."""
        kept = "".join(c for c in phonemes if c in self.vocab)
        ids = [0, *(self.vocab[c] for c in kept), 0]
        return np.array(ids, dtype=np.int64), kept

    @staticmethod
    def style_row(table: np.ndarray, n_phonemes: int) -> np.ndarray:
        """Kokoro conditions on the voice's row for the utterance length: voice[n - 1]."""
        return table[max(0, min(n_phonemes, len(table)) - 1)].reshape(1, 256)

    def render(self, tokens: np.ndarray, style: np.ndarray, frames: np.ndarray, shape=None,
               f0_scale: float = 1.0, prosody_style: np.ndarray | None = None, adapt=None) -> np.ndarray:
        """`shape(f0, energy, f0_ref, energy_ref) -> (f0, energy)` reshapes the prosody curves before
        decoding (emotion); `prosody_style` is the row the predictors read instead of `style` (emotion
        moves its prosody half), and the curves of `style` itself are then the shaper's reference (None
        otherwise), so it can calibrate against the voice's own reading. `f0_scale` sets an enrolled voice's pitch
        (engine/profiles.py), applied before the emotion. The decoder always gets `style` (timbre), and an
        enrolled voice's decoder adaptation `adapt` (engine/adaptation.py) when it has one."""
        frames = np.asarray(frames, dtype=np.float32)
        f0, energy = self.prosody(tokens, style if prosody_style is None else prosody_style, frames)
        f0_ref = energy_ref = None
        if prosody_style is not None and shape is not None:
            f0_ref, energy_ref = self.prosody(tokens, style, frames)
        if f0_scale != 1.0:
            f0 = scale_f0(f0, f0_scale)
            f0_ref = None if f0_ref is None else scale_f0(f0_ref, f0_scale)
        if shape is not None:
            f0, energy = shape(f0, energy, f0_ref, energy_ref)
        return self.decoder(tokens, style, frames, f0, energy, adapt)
