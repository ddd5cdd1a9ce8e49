"""The take: one rendered line, exactly `samples` long, and what the engine says about it.

One type everywhere: the engine returns it, the take cache stores it (WAV + `to_wire()` as JSON), the
daemon sends `to_wire()` in a job's result and the client rebuilds it with `from_wire`, the dub
pipeline places it. Where it came from travels with it: its content `key`, whether it was `cached`,
the daemon `job` that delivered it, and `wav` (a file holding exactly it, or those bytes inline).
"""
from __future__ import annotations

import io
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .bwf import checked_level_fields, level_fields

# numpy is imported where the sound is touched: a daemon's client rebuilds takes from metadata and WAV
# files, and a cached audition from the shell (≈ 0.27 s on AVX2) ends before numpy would load (0.17 s)
if TYPE_CHECKING:
    import numpy as np


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


# phonemes that end a word (a word gap, punctuation, a pause) and those that make no sound of their own
WORD_BREAKS = frozenset({" ", ",", ".", "?", "!", ";", ":", "<pause>"})
SILENT = WORD_BREAKS | {"ˈ", "ˌ", "<sil>"}


def word_onsets(phonemes: list[PhonemeDuration]) -> np.ndarray:
    """When each word starts (seconds): its first sounding phoneme after a word gap or pause."""
    import numpy as np

    out, after_break = [], True
    for p in phonemes:
        if p.phoneme in WORD_BREAKS:
            after_break = True
        elif p.phoneme not in SILENT and after_break:
            out.append(p.start)
            after_break = False
    return np.array(out)


# What `to_wire` writes besides the lists, and `from_wire` reads back (docs/protocol.md, "The result").
_SCALARS = ("sample_rate", "samples", "natural_seconds", "ratio", "method", "voice", "text", "speech_start",
            "speech_end", "emotion")


@dataclass
class Take:
    audio: np.ndarray | None       # float32 mono, [-1, 1]; None until `load()` reads `wav`
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
    samples: int = 0               # its length; set from `audio` when that is given
    wav: Path | bytes | None = None   # a WAV holding exactly this take: a file, or its bytes sent inline
    key: str = ""                  # the request's content address (engine/cache.py request_key)
    cached: bool = False           # answered from a take cache, not rendered now
    job: str = ""                  # the daemon job that delivered it
    levels: dict | None = None     # its five R128 values (bwf.level_fields' names), measured where it was made

    def __post_init__(self):
        if self.audio is not None:
            self.samples = len(self.audio)
        elif self.wav is None:
            raise ValueError("a take needs its audio or the WAV that holds it")

    @property
    def seconds(self) -> float:
        return self.samples / self.sample_rate

    @property
    def engine_seconds(self) -> float:
        """What the engine spent on this take now: its own total, nothing for a cache hit."""
        return 0.0 if self.cached else float(self.timings.get("total", 0.0))

    def load(self) -> np.ndarray:
        """The samples, read from `wav` the first time they are needed."""
        if self.audio is None:
            # soundfile loads libsndfile: imported here so the daemon's client starts without it
            import numpy as np
            import soundfile as sf

            source = io.BytesIO(self.wav) if isinstance(self.wav, bytes) else self.wav
            self.audio = np.asarray(sf.read(source, dtype="float32", always_2d=False)[0], np.float32)
        return self.audio

    def wav_bytes(self) -> bytes:
        """The WAV file's exact bytes (the cache entry's, with its INFO chunk)."""
        if isinstance(self.wav, bytes):
            return self.wav
        if self.wav is None:
            raise ValueError("this take has no WAV file yet (engine.audio.write_wav writes one)")
        return Path(self.wav).read_bytes()

    def to_wire(self) -> dict:
        """Everything but the sound, as JSON/msgpack types: the cache's metadata, a daemon result's body."""
        doc = {name: getattr(self, name) for name in _SCALARS}
        doc.update(seconds=self.seconds, warnings=list(self.warnings), timings=dict(self.timings),
                   phonemes=[asdict(p) for p in self.phonemes], pins=[p.to_json() for p in self.pins])
        if self.levels is not None:
            doc["levels"] = dict(self.levels)
        return doc

    @classmethod
    def from_wire(cls, doc: dict, audio: np.ndarray | None = None, wav: Path | bytes | None = None,
                  **origin) -> "Take":
        """A take from `to_wire`'s map (keys it does not know are ignored), its sound given as `audio` or
        `wav`; `origin`: key, cached, job."""
        return cls(audio=audio, sample_rate=int(doc["sample_rate"]), natural_seconds=float(doc["natural_seconds"]),
                   ratio=float(doc["ratio"]), method=doc["method"], voice=doc["voice"],
                   phonemes=[PhonemeDuration(**p) for p in doc.get("phonemes") or []],
                   warnings=list(doc.get("warnings") or []), text=doc.get("text", ""),
                   timings=dict(doc.get("timings") or {}), emotion=doc.get("emotion"),
                   speech_start=float(doc.get("speech_start", 0.0)), speech_end=float(doc.get("speech_end", 0.0)),
                   pins=[PinResult(**p) for p in doc.get("pins") or []], samples=int(doc.get("samples", 0)),
                   levels=checked_level_fields(doc.get("levels")), wav=wav, **origin)

    def measured(self) -> "Take":
        """This take with its R128 values measured, where it is made (an engine thread, a cluster's
        actor): the dubbing machine's filing then only copies them into the take's bext."""
        from .loudness import measure       # soxr: loaded with the engine that made the take

        self.levels = level_fields(measure(self.load(), self.sample_rate))
        return self
