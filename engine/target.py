"""Target lengths: none, seconds, a ratio of the natural length, or frames at a frame rate.

Everything is exact rational arithmetic so that "77 frames at 23.976" is exactly
77 * 1001 / 24000 s and the sample count at any rate is one well-defined integer.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from .errors import InputError

# Editors write NTSC rates as decimals; they always mean the /1001 rates.
_NTSC = {
    "23.976": Fraction(24000, 1001), "23.98": Fraction(24000, 1001),
    "29.97": Fraction(30000, 1001), "47.952": Fraction(48000, 1001),
    "59.94": Fraction(60000, 1001), "119.88": Fraction(120000, 1001),
}

SYNTAX_HELP = ("accepted: '3.2s' or '3.2' (seconds), '1500ms', '0.9x' (ratio of the natural length), "
               "'77@23.976' or '77@24000/1001' (frames at a frame rate)")


def parse_rate(text: str | int | float | Fraction) -> Fraction:
    """A frame rate as an exact fraction: '23.976' → 24000/1001, '25' → 25, '30000/1001'."""
    if isinstance(text, Fraction):
        rate = text
    elif isinstance(text, (int, float)):
        rate = _NTSC.get(f"{text:g}") or Fraction(str(text))
    else:
        s = str(text).strip().lower().removesuffix("fps").strip()
        s = s.replace(" df", "").replace(" ndf", "")
        try:
            rate = _NTSC.get(s) or Fraction(s)
        except (ValueError, ZeroDivisionError):
            raise InputError(f"bad frame rate {text!r}: use e.g. 23.976, 24, 25, 29.97 or 30000/1001") from None
    if rate <= 0 or rate > 1000:
        raise InputError(f"bad frame rate {text!r}: must be between 0 and 1000 fps")
    return rate


@dataclass(frozen=True)
class Target:
    """What length the take must have. kind: 'natural' | 'seconds' | 'ratio' | 'frames'."""

    kind: str = "natural"
    value: Fraction = Fraction(0)
    rate: Fraction | None = None  # frame rate, for kind == 'frames'

    @staticmethod
    def natural() -> "Target":
        return Target()

    @staticmethod
    def seconds(s: float | str | Fraction) -> "Target":
        v = Fraction(str(s)) if not isinstance(s, Fraction) else s
        if v <= 0:
            raise InputError(f"target length must be positive, got {s} s")
        return Target("seconds", v)

    @staticmethod
    def ratio(r: float | str | Fraction) -> "Target":
        v = Fraction(str(r)) if not isinstance(r, Fraction) else r
        if v <= 0:
            raise InputError(f"ratio must be positive, got {r}")
        return Target("ratio", v)

    @staticmethod
    def frames(n: int, rate) -> "Target":
        if int(n) != n or n <= 0:
            raise InputError(f"frame count must be a positive whole number, got {n}")
        return Target("frames", Fraction(int(n)), parse_rate(rate))

    @staticmethod
    def parse(text: str) -> "Target":
        """Parse the CLI/cue syntax; see SYNTAX_HELP."""
        s = str(text).strip().lower()
        try:
            if not s:
                raise ValueError
            if "@" in s:
                n, rate = s.split("@", 1)
                n = n.strip().removesuffix("f").strip()
                if not re.fullmatch(r"\d+", n):
                    raise ValueError
                return Target.frames(int(n), rate)
            if s.endswith("x"):
                return Target.ratio(Fraction(s[:-1].strip()))
            if s.endswith("ms"):
                return Target.seconds(Fraction(s[:-2].strip()) / 1000)
            return Target.seconds(Fraction(s.removesuffix("s").strip()))
        except InputError as e:
            raise InputError(f"bad target {text!r}: {e}; {SYNTAX_HELP}") from None
        except (ValueError, ZeroDivisionError):
            raise InputError(f"bad target {text!r}: {SYNTAX_HELP}") from None

    def resolve_seconds(self, natural_seconds: Fraction | float) -> Fraction | None:
        """The target in exact seconds, or None for 'natural'."""
        if self.kind == "natural":
            return None
        if self.kind == "seconds":
            return self.value
        if self.kind == "ratio":
            return Fraction(natural_seconds) * self.value
        return self.value / self.rate

    def samples(self, sample_rate: int, natural_seconds: Fraction | float = 0) -> int | None:
        """The exact sample count at `sample_rate` (half-up rounding), or None for natural."""
        sec = self.resolve_seconds(natural_seconds)
        if sec is None:
            return None
        return int(sec * sample_rate + Fraction(1, 2))

    def __str__(self) -> str:
        return self._form(lambda v: f"{float(v):g}")

    def exact(self) -> str:
        """The form Target.parse reads back to this very target (fractions kept, no float rounding)."""
        return self._form(str)

    def _form(self, number) -> str:
        if self.kind == "natural":
            return "natural"
        if self.kind in ("seconds", "ratio"):
            return number(self.value) + ("s" if self.kind == "seconds" else "x")
        return f"{self.value}@{self.rate}"
