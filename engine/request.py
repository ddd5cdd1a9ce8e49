"""The engine's request and result types ("take")."""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from .emotion import Emotion
from .target import Target

FIT_METHODS = ("auto", "model", "stretch", "hybrid")
MAX_TEXT_CHARS = 2000  # one cue/line; longer scripts are split into cues by the caller
# The speech fills the slot between two handles: `lead` before the first sound, `tail` after the
# last one's end (a short decay, so no final consonant or breath is cut and nothing clicks).
DEFAULT_LEAD, DEFAULT_TAIL = 0.0, 0.04
MAX_HANDLE_SECONDS = 2.0
# One take is one line: ten minutes is longer than any read, and bounds what a request may cost in
# memory and disk (an hour-long slot held 1.4 GB while rendering).
MAX_TAKE_SECONDS = 600


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
    lead: float = DEFAULT_LEAD     # seconds from the slot's start to the first sound
    tail: float = DEFAULT_TAIL     # seconds from the last sound's end to the slot's end
    frame_rate: Fraction | None = None  # the timeline's rate, for hit points in frames ({@30f})


@dataclass(frozen=True)
class PhonemeDuration:
    phoneme: str
    start: float     # seconds from the start of the take
    duration: float  # seconds


@dataclass(frozen=True)
class PinResult:
    word: str
    asked: float     # seconds from the take's start (pre-roll included), as the pin said
    placed: float    # where the word's sound was put

    def to_json(self) -> dict:
        return {"word": self.word, "asked": round(self.asked, 6), "placed": round(self.placed, 6)}


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
    speech_start: float = 0.0      # seconds from the take's start to the first sound (measured)
    speech_end: float = 0.0        # ... to the end of the last sound (before the tail handle)
    pins: list[PinResult] = field(default_factory=list)  # hit points: where each pinned word was put

    @property
    def seconds(self) -> float:
        return len(self.audio) / self.sample_rate

    @property
    def samples(self) -> int:
        return len(self.audio)
