"""The engine's request and result types ("take")."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .emotion import Emotion
from .target import Target

FIT_METHODS = ("auto", "model", "stretch", "hybrid")
MAX_TEXT_CHARS = 2000  # one cue/line; longer scripts are split into cues by the caller


@dataclass(frozen=True)
class RenderRequest:
    text: str
    voice: str = "auto"            # a built-in voice name, or 'auto' (picked by language)
    language: str = "auto"         # 'auto' | 'zh' | 'en'
    target: Target = field(default_factory=Target.natural)
    sample_rate: int = 48000
    pre_roll: float = 0.0          # seconds of silence at the start, inside the target length
    method: str = "auto"           # duration fitting: auto | model | stretch | hybrid
    loudness: float | None = -23.0 # LUFS integrated; None leaves the level as rendered
    speed: float = 1.0             # natural speaking rate multiplier (before fitting)
    natural_range: tuple[float, float] = (0.7, 1.4)
    emotion: Emotion | None = None  # None: the voice's own neutral reading (see engine/emotion)


@dataclass(frozen=True)
class PhonemeDuration:
    phoneme: str
    start: float     # seconds from the start of the take
    duration: float  # seconds


@dataclass
class Take:
    audio: np.ndarray              # float32 mono, [-1, 1]
    sample_rate: int
    natural_seconds: float         # the line read at its own pace (before fitting)
    ratio: float                   # achieved length / natural length
    method: str                    # the fitting method actually used
    voice: str
    phonemes: list[PhonemeDuration]
    warnings: list[str]
    text: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    emotion: dict | None = None    # the emotion as rendered: resolved vector, source, delivery

    @property
    def seconds(self) -> float:
        return len(self.audio) / self.sample_rate

    @property
    def samples(self) -> int:
        return len(self.audio)
