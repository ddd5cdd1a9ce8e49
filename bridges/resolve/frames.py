"""Frame arithmetic for Resolve: exact rates, timecode ↔ frame numbers (drop frame included), and
the conversion between timeline frames and a media pool clip's own frames.

Standard library only (this runs inside Resolve's Python). Every length is an exact Fraction, the
same rule the engine uses: N frames at a rate last exactly N / rate seconds, and the take holds
round-half-up(N / rate × sample_rate) samples (takefit.engine.Target.frames).
"""
from __future__ import annotations

import math
import re
from fractions import Fraction

# The NTSC family: editors (and Resolve's settings) write these as decimals and mean the /1001 rates.
_NTSC = tuple(Fraction(n * 1000, 1001) for n in (24, 30, 48, 60, 120))
_SNAP = 0.005
# Drop-frame timecode exists for the 30000/1001 family only: 2 frame numbers skipped per minute at
# 29.97, 4 at 59.94, except every tenth minute.
_DROP_RATES = {Fraction(30000, 1001): 2, Fraction(60000, 1001): 4}

_TC = re.compile(r"^\s*(-)?(\d{1,3})[:;.](\d{1,2})[:;.](\d{1,2})([:;.,])(\d{1,3})\s*$")


class RateError(ValueError):
    """Not a frame rate / timecode takefit can use."""


def round_half_up(x: Fraction) -> int:
    return int(math.floor(x + Fraction(1, 2)))


def exact_rate(value) -> Fraction:
    """A rate as the editor means it: 29.97 → 30000/1001, 25.0 → 25, Fraction unchanged."""
    if isinstance(value, Fraction):
        return value
    f = float(value)
    for r in _NTSC:
        if abs(float(r) - f) < _SNAP:
            return r
    return Fraction(f).limit_denominator(1001)


def parse_rate(text) -> tuple:
    """Resolve's `timelineFrameRate` setting (or a clip's FPS property) → (exact rate, drop frame).

    '23.976' → (24000/1001, False); '29.97 DF' → (30000/1001, True); '25' → (25, False);
    24.0 → (24, False); '30000/1001' → (30000/1001, False); '59.94 NDF' → (60000/1001, False).
    """
    if isinstance(text, Fraction):
        return text, False
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if text <= 0:
            raise RateError("bad frame rate {!r}".format(text))
        return exact_rate(text), False
    s = str(text or "").strip().lower()
    drop = False
    m = re.match(r"^(.*?)\s*(n?df|fps)?\s*(n?df)?$", s)
    if m:
        s = m.group(1).strip()
        drop = "df" in (m.group(2) or "") + (m.group(3) or "") and "ndf" not in (m.group(2) or "") + (m.group(3) or "")
    try:
        value = Fraction(s)
    except (ValueError, ZeroDivisionError):
        raise RateError("bad frame rate {!r}: expected e.g. 23.976, 25, 29.97 DF".format(text)) from None
    if not 0 < value <= 1000:
        raise RateError("bad frame rate {!r}".format(text))
    rate = value if value.denominator == 1 else exact_rate(float(value))
    return rate, bool(drop and rate in _DROP_RATES)


def rate_text(rate: Fraction) -> str:
    """'25', '30000/1001' (exact, for the worker and the report)."""
    return str(rate.numerator) if rate.denominator == 1 else "{}/{}".format(rate.numerator, rate.denominator)


def rate_label(rate: Fraction, drop: bool = False) -> str:
    """'23.976', '29.97 DF', '25' (how editors write it)."""
    if rate.denominator == 1:
        label = str(rate.numerator)
    else:
        label = "{:.3f}".format(float(rate)).rstrip("0").rstrip(".")
    return label + (" DF" if drop else "")


def nominal(rate: Fraction) -> int:
    """Timecode's frames-per-second counter: 30 for 29.97, 24 for 23.976, 25 for 25."""
    return max(1, round_half_up(Fraction(rate)))


def dropped_per_minute(rate: Fraction, drop: bool) -> int:
    return _DROP_RATES.get(rate, 0) if drop else 0


def timecode_to_frame(tc: str, rate: Fraction, drop: bool = False) -> int:
    """'01:00:00:00' → 86400 at 24; '01:00:00;00' → 107892 at 29.97 DF (108000 non-drop).

    A ';' (or ',' / '.') before the frames field means drop frame, as Resolve writes it.
    """
    m = _TC.match(str(tc or ""))
    if not m:
        raise RateError("bad timecode {!r}: expected HH:MM:SS:FF (HH:MM:SS;FF for drop frame)".format(tc))
    sign, hh, mm, ss, sep, ff = m.groups()
    hh, mm, ss, ff = int(hh), int(mm), int(ss), int(ff)
    fps = nominal(rate)
    if mm > 59 or ss > 59 or ff >= fps:
        raise RateError("bad timecode {!r} at {} fps".format(tc, rate_label(rate, drop)))
    drop = drop or (sep in ";,." and rate in _DROP_RATES)
    d = dropped_per_minute(rate, drop)
    minutes = 60 * hh + mm
    frames = fps * (3600 * hh + 60 * mm + ss) + ff - d * (minutes - minutes // 10)
    return -frames if sign else frames


def frame_to_timecode(frame: int, rate: Fraction, drop: bool = False) -> str:
    """The inverse of timecode_to_frame: 107892 at 29.97 DF → '01:00:00;00'."""
    n = int(frame)
    sign = "-" if n < 0 else ""
    n = abs(n)
    fps = nominal(rate)
    d = dropped_per_minute(rate, drop)
    if d:
        per_10min = fps * 600 - d * 9
        per_min = fps * 60 - d
        tens, rest = divmod(n, per_10min)
        n += d * 9 * tens + (d * ((rest - d) // per_min) if rest > d else 0)
    ff = n % fps
    total = n // fps
    return "{}{:02d}:{:02d}:{:02d}{}{:02d}".format(sign, total // 3600, (total // 60) % 60, total % 60,
                                                 ";" if d else ":", ff)


def samples_for(frames: int, rate: Fraction, sample_rate: int = 48000) -> int:
    """The exact sample count of `frames` at `rate` (the engine's Target.frames rule)."""
    return round_half_up(Fraction(int(frames)) / Fraction(rate) * int(sample_rate))


def clip_length(samples: int, sample_rate: int, clip_fps: Fraction) -> Fraction:
    """A WAV's length counted in its media pool clip's own frames (Resolve's FPS clip property),
    exactly: 154154 samples at 48 kHz in a 24 fps clip = 77.077 clip frames."""
    return Fraction(int(samples), int(sample_rate)) * Fraction(clip_fps)


def clip_to_timeline(clip_frames, clip_fps: Fraction, rate: Fraction) -> Fraction:
    """Clip frames → timeline frames (exact)."""
    return Fraction(clip_frames) / Fraction(clip_fps) * Fraction(rate)


def timeline_to_clip(frames, rate: Fraction, clip_fps: Fraction) -> Fraction:
    return Fraction(frames) / Fraction(rate) * Fraction(clip_fps)
