"""The engine's request: what to say, in which voice and emotion, into which slot (its wire form too)."""
from __future__ import annotations

import math
import re
from dataclasses import MISSING, dataclass, field, fields
from fractions import Fraction

from .emotion import Emotion
from .errors import InputError
from .languages import SPOKEN
from .languages import check as check_language
from .target import SYNTAX_HELP, Target, parse_rate

FIT_METHODS = ("auto", "model", "stretch", "hybrid")
# What `auto` fits with, both directions. Lengthening: hybrid is as intelligible as stretch (better at
# 1.4x, bench/fit_quality.py) and puts the extra time in pauses as a speaker would. Shortening: hybrid
# too since bench/fit_settings.py: halving pauses and trimming long vowels in the model leaves less for
# Rubber Band to squeeze, +0.05-0.07 DNSMOS OVRL over stretch at 0.7-0.8x (23 lines), intelligibility
# equal there but a few more Mandarin errors in fit_quality.py.
AUTO_METHOD = "hybrid"
SAMPLE_RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000, 176400, 192000)
LANGUAGES = ("auto", *SPOKEN)          # pt: Brazilian Portuguese (engine/languages.py)
SPEED_RANGE = (0.5, 2.0)
MAX_PRE_ROLL = 10.0
TRUE_PEAK_RANGE = (-20.0, 0.0)   # dBTP ceilings a delivery spec may ask
MAX_TEXT_CHARS = 2000  # one cue/line; longer scripts are split into cues by the caller
# The speech fills the slot between two handles: `lead` before the first sound, `tail` after the
# last one's end (a short decay, so no final consonant or breath is cut and nothing clicks).
DEFAULT_LEAD, DEFAULT_TAIL = 0.0, 0.04
MAX_HANDLE_SECONDS = 2.0
# One take is one line: ten minutes is longer than any read, and bounds what a request may cost in
# memory and disk (an hour-long slot held 1.4 GB while rendering).
MAX_TAKE_SECONDS = 600
# Alternate takes (engine/variation.py): 1 is the standard read; 2 and up are other reads of the line.
MAX_VARIANT = 99


@dataclass(frozen=True)
class RenderRequest:
    """One line to render, checked when made (every field in range, with the accepted values named).
    `to_wire`/`from_wire` are its one map form: the daemon's protocol, the journal, the Ray workers."""

    text: str
    voice: str = "auto"            # a built-in voice name, or 'auto' (picked by language)
    language: str = "auto"         # 'auto' or one of languages.SPOKEN
    target: Target = field(default_factory=Target.natural)
    sample_rate: int = 48000
    pre_roll: float = 0.0          # seconds of silence at the start, inside the target length
    method: str = "auto"           # duration fitting: auto | model | stretch | hybrid
    loudness: float | None = -23.0 # LUFS integrated; None leaves the level as rendered
    true_peak: float = -1.0        # dBTP: the ceiling (EBU R128 −1; Netflix, ATSC A/85 −2)
    speed: float = 1.0             # natural speaking rate multiplier (before fitting)
    natural_range: tuple[float, float] = (0.7, 1.4)
    emotion: Emotion | None = None  # None: the voice's own neutral reading (see engine/emotion)
    lead: float = DEFAULT_LEAD     # seconds from the slot's start to the first sound
    tail: float = DEFAULT_TAIL     # seconds from the last sound's end to the slot's end
    frame_rate: Fraction | None = None  # the timeline's rate, for hit points in frames ({@30f})
    variant: int = 1               # 1: the standard read; 2..MAX_VARIANT: alternate reads (engine/variation.py)

    def __post_init__(self):
        if not isinstance(self.text, str) or len(self.text) > MAX_TEXT_CHARS:
            raise InputError(f"text is {len(self.text) if isinstance(self.text, str) else type(self.text).__name__}"
                             f" characters; one line may have at most {MAX_TEXT_CHARS}. Split long scripts into "
                             f"cues (one per slot).")
        check_language(self.language)
        if self.method not in FIT_METHODS:
            raise InputError(f"unknown fitting method {self.method!r}: accepted {', '.join(FIT_METHODS)}")
        if self.sample_rate not in SAMPLE_RATES:
            raise InputError(f"sample rate {self.sample_rate} not supported: accepted "
                             f"{', '.join(map(str, SAMPLE_RATES))} (video: 48000)")
        if not _number_in(self.speed, *SPEED_RANGE):
            raise InputError(f"speed {self.speed} out of range: accepted {SPEED_RANGE[0]} to {SPEED_RANGE[1]}")
        if not _number_in(self.pre_roll, 0, MAX_PRE_ROLL):
            raise InputError(f"pre-roll {self.pre_roll!r} out of range: 0 to {MAX_PRE_ROLL:g} seconds")
        for name, value in (("lead", self.lead), ("tail", self.tail)):
            if not _number_in(value, 0, MAX_HANDLE_SECONDS):
                raise InputError(f"{name} handle {value!r} out of range: 0 to {MAX_HANDLE_SECONDS:g} seconds "
                                 f"(default lead {DEFAULT_LEAD:g}, tail {DEFAULT_TAIL:g})")
        if self.loudness is not None and not _number_in(self.loudness, -70, 0):
            raise InputError(f"loudness target {self.loudness} LUFS out of range: -70 to 0, or off")
        if not _number_in(self.true_peak, *TRUE_PEAK_RANGE):
            raise InputError(f"true-peak ceiling {self.true_peak!r} dBTP out of range: {TRUE_PEAK_RANGE[0]:g} to "
                             f"{TRUE_PEAK_RANGE[1]:g} (EBU R128 -1, Netflix and ATSC A/85 -2)")
        seconds = self.target.resolve_seconds(0) if self.target.kind in ("seconds", "frames") else None
        if seconds is not None and seconds > MAX_TAKE_SECONDS:
            raise InputError(f"target {self.target} is {float(seconds):.0f} s; a take may last at most "
                             f"{MAX_TAKE_SECONDS} s ({MAX_TAKE_SECONDS // 60} min): split the line into several")
        check_variant(self.variant)
        lo, hi = self.natural_range
        if not (0 < lo <= 1 <= hi):
            raise InputError(f"natural range {self.natural_range} must satisfy 0 < low ≤ 1 ≤ high")

    def speech_ratio(self, speech: float) -> float | None:
        """For a target of fixed length (seconds, frames): the time it leaves for speech (less pre-roll
        and the lead and tail handles) ÷ `speech` seconds, as Slot.ratio; None for natural and ratio
        targets, whose length follows the speech."""
        if self.target.kind not in ("seconds", "frames"):
            return None
        total = self.target.samples(self.sample_rate)
        return (total / self.sample_rate - self.pre_roll - self.lead - self.tail) / max(speech, 1e-3)

    def to_wire(self) -> dict:
        """The request as plain data (msgpack/JSON), exact: the target keeps its fraction."""
        doc = {"text": self.text, "voice": self.voice, "language": self.language,
               "target": target_string(self.target), "sample_rate": int(self.sample_rate),
               "pre_roll": float(self.pre_roll), "method": self.method,
               "loudness": None if self.loudness is None else float(self.loudness), "speed": float(self.speed),
               "natural_range": [float(x) for x in self.natural_range], "lead": float(self.lead),
               "tail": float(self.tail), "frame_rate": None if self.frame_rate is None else str(self.frame_rate)}
        if self.emotion is not None:
            doc["emotion"] = self.emotion.to_json()
        if self.variant != 1:       # only when set: the standard read's wire form stays as it was
            doc["variant"] = self.variant
        if self.true_peak != -1.0:  # likewise for the default ceiling
            doc["true_peak"] = float(self.true_peak)
        return doc

    @classmethod
    def from_wire(cls, doc: dict) -> "RenderRequest":
        """`to_wire`'s map (missing fields take their defaults) → a checked request; InputError names what is wrong."""
        d = {**WIRE_DEFAULTS, **{k: v for k, v in doc.items() if v is not None or k in ("loudness",)}}
        return cls(text=d["text"], voice=d["voice"], language=d["language"], target=parse_target(d["target"]),
                   sample_rate=d["sample_rate"], pre_roll=float(d["pre_roll"]), method=d["method"],
                   loudness=None if d["loudness"] is None else float(d["loudness"]), speed=float(d["speed"]),
                   natural_range=tuple(float(x) for x in d["natural_range"]),
                   emotion=Emotion.from_json(d["emotion"]) if d.get("emotion") else None,
                   lead=float(d["lead"]), tail=float(d["tail"]),
                   frame_rate=parse_rate(d["frame_rate"]) if d.get("frame_rate") else None, variant=d["variant"],
                   true_peak=float(d["true_peak"]))


def check_variant(value) -> int:
    """Which read of a line: a whole number 1 (the standard read) to MAX_VARIANT; else InputError."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_VARIANT:
        raise InputError(f"variant {value!r} out of range: a whole number 1 to {MAX_VARIANT} (1 is the standard "
                         f"read, 2 and up are alternate reads of the line)")
    return value


def _number_in(value, lo: float, hi: float) -> bool:
    return isinstance(value, (int, float, Fraction)) and not isinstance(value, bool) and math.isfinite(value) \
        and lo <= value <= hi


def target_string(target: Target | None) -> str:
    """A Target in the exact string form Target.parse reads back (no float rounding)."""
    return "natural" if target is None else target.exact()


def parse_target(text: str) -> Target:
    """The wire/CLI target syntax → Target, refusing exponents: Fraction("1e99999999") takes minutes."""
    s = text.strip().lower()
    if s in ("natural", "none", ""):
        return Target.natural()
    if _EXPONENT.search(s):
        raise InputError(f"bad target {text!r}: exponent notation is not accepted; {SYNTAX_HELP}")
    if "e" in s:               # '3sec', 'secs', 'frames': a unit Target.parse does not know
        raise InputError(f"bad target {text!r}: unknown unit; {SYNTAX_HELP}")
    return Target.parse(text)


_EXPONENT = re.compile(r"[0-9.]e[+-]?[0-9]")


# the wire form's defaults are RenderRequest's own (the protocol's schema fills them in from here)
WIRE_DEFAULTS = {f.name: f.default for f in fields(RenderRequest) if f.default is not MISSING}
WIRE_DEFAULTS.update(target="natural", natural_range=list(WIRE_DEFAULTS["natural_range"]))


