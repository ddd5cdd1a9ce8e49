"""Exact frame rates and frame counts for OTIO times.

OTIO keeps rates as floats, so 30000/1001 arrives as 29.97002997… (or as a literal 29.97 from some
tools). Every length takefit renders is an exact fraction, so the float is snapped back to the rate
the editor means before any arithmetic, and times are converted to whole frames at that rate.
"""
from __future__ import annotations

import math
from fractions import Fraction

import opentimelineio as otio

from takefit.engine.bwf import DROP_FRAME_RATES
from takefit.engine.errors import InputError

# The NTSC family: any float within half a hundredth of these is that rate (29.97, 29.97002997, 23.98 …)
_NTSC = tuple(Fraction(n * 1000, 1001) for n in (24, 30, 48, 60, 120))
_SNAP = 0.005


def exact_rate(rate: float | Fraction) -> Fraction:
    """The rate an editor means by an OTIO float rate: 29.97 → 30000/1001, 25.0 → 25."""
    if isinstance(rate, Fraction):
        return rate
    for r in _NTSC:
        if abs(float(r) - rate) < _SNAP:
            return r
    return Fraction(rate).limit_denominator(1001)


def parse(text) -> Fraction:
    """'25', '29.97' (→ 30000/1001), '30000/1001', 23.976 → an exact rate; ValueError if not a rate.
    (The engine's parse_rate does the same, but importing the engine would make the OTIO plugins heavy.)"""
    s = str(text).strip().lower().removesuffix("fps").strip()
    try:
        r = Fraction(s)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"bad frame rate {text!r}: use e.g. 23.976, 24, 25, 29.97 or 30000/1001") from None
    if not 0 < r <= 1000:
        raise ValueError(f"bad frame rate {text!r}: must be between 0 and 1000 fps")
    return exact_rate(float(r)) if r.denominator != 1 else r


def otio_rate(rate: Fraction) -> float:
    """The float OTIO and its adapters recognise for `rate` (30000/1001 → 29.97002997…, never 29.97)."""
    return float(rate)


def round_half_up(x: Fraction) -> int:
    return int((x + Fraction(1, 2)) // 1)


def frames(t: otio.opentime.RationalTime, rate: Fraction) -> int:
    """`t` as a whole number of frames at `rate` (nearest; times from SRT/ms sources land between)."""
    if t.value == 0:
        return 0
    if not (math.isfinite(t.value) and math.isfinite(t.rate) and t.rate > 0):
        # a damaged file (<timebase>0</timebase>, <in>nan</in>) gives the reader no number to work with
        raise InputError(f"a time in the timeline is not a number of frames (value {t.value}, rate {t.rate}): "
                         f"the file is damaged; export the timeline again from the editor")
    return round_half_up(Fraction(t.value) * rate / exact_rate(t.rate))


def rt(n: int, rate: Fraction) -> otio.opentime.RationalTime:
    return otio.opentime.RationalTime(n, otio_rate(rate))


def time_range(start: int, duration: int, rate: Fraction) -> otio.opentime.TimeRange:
    return otio.opentime.TimeRange(rt(start, rate), rt(duration, rate))


def samples(n_frames: int, rate: Fraction, sample_rate: int) -> int:
    """The exact sample count (half-up) of `n_frames` at `rate` — the engine's Target.frames rule."""
    return round_half_up(Fraction(n_frames) / rate * sample_rate)


def seconds(n_frames: int, rate: Fraction) -> Fraction:
    return Fraction(n_frames) / rate


def drop_frame(timeline, rate: Fraction) -> bool:
    """Whether the timeline shows drop-frame timecode, where its format says so (FCP7 XML's
    displayformat, a Resolve marker EDL's or an SCC file's ';'). Frame numbers are the same either way;
    only the labels (`timecode`) and iXML's TIMECODE_FLAG differ."""
    if rate not in DROP_FRAME_RATES:
        return False
    meta = timeline.metadata
    fcp = (meta.get("fcp_xml") or {}).get("timecode") or {}
    flags = ((meta.get("resolve_marker_edl") or {}).get("drop_frame"), (meta.get("timedtext") or {}).get("drop_frame"))
    return str(fcp.get("displayformat", "")).upper() == "DF" or True in flags


def timecode(n_frames: int, rate: Fraction, drop_frame: bool = False) -> str:
    """SMPTE timecode (non-drop unless asked: 29.97 and 59.94 drop-frame, written with `;`), or a frame
    count where SMPTE has no form for the rate."""
    try:
        return otio.opentime.to_timecode(rt(n_frames, rate), otio_rate(rate), drop_frame=drop_frame)
    except (ValueError, TypeError):
        return f"{n_frames}f@{rate}"


def rate_text(rate: Fraction) -> str:
    """'25', '30000/1001' — how the report and cast file write a rate."""
    return str(rate.numerator) if rate.denominator == 1 else f"{rate.numerator}/{rate.denominator}"


def timeline_rate(timeline: otio.schema.Timeline, default: Fraction = Fraction(24)) -> Fraction:
    """The timeline's frame rate: its start time, else its tracks' content, else its markers."""
    candidates = []
    if timeline.global_start_time is not None:
        candidates.append(timeline.global_start_time.rate)
    for track in timeline.tracks:
        for child in track:
            sr = getattr(child, "source_range", None)
            if sr is not None:
                candidates.append(sr.duration.rate)
                break
    for marker in timeline.tracks.markers:
        candidates.append(marker.marked_range.start_time.rate)
    for r in candidates:
        if r and r > 1:  # OTIO writes empty durations at rate 1
            return exact_rate(r)
    return default


def timeline_start(timeline: otio.schema.Timeline, rate: Fraction) -> int:
    """The timeline's first frame as an absolute timecode frame number (01:00:00:00 → 86400 at 24).

    The CMX 3600 reader leaves `global_start_time` empty and instead keeps the first record timecode
    as a negative start of each track's source range; that is read back here.
    """
    if timeline.global_start_time is not None:
        return frames(timeline.global_start_time, rate)
    for track in timeline.tracks:
        sr = track.source_range
        if sr is not None and sr.start_time.value < 0:
            return -frames(sr.start_time, rate)
    return 0
