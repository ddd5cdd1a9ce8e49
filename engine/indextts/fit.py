"""Exact length for IndexTTS: the slot's speech span becomes the S2Mel's mel-frame count, so the model
itself speaks at the slot's pace; only the sub-frame rest (under one hop, 256 samples at 22.05 kHz)
is padded or trimmed after resampling. Pure arithmetic: no torch, no model.

The model's own edge silence is not speech: the take's speech must run from the lead handle to the
tail handle, as Kokoro's do (engine/fill.py). The render's speech span is measured (engine/speech.py)
and, when it falls short of the slot's, the S2Mel renders again at a length scaled by what the span
lacked (`next_frames`: the edges scale with the length asked for), at most PASSES times; the measured
span is then cut out and placed at the lead handle.

Upstream's S2Mel interpolates the GPT's semantic codes to any length; IndexTTS-2.5's duration_factor
spans 0.5–2.0 (users report it saturating below ~0.78). Beyond FEASIBLE the S2Mel renders at the
nearest feasible length and the rest is time-stretched (a hybrid fit, said in a warning).
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ..errors import FitError

SAMPLE_RATE = 22050       # BigVGAN v2 22 kHz, 80 bands, 256× (upstream's vocoder)
HOP = 256                 # samples per mel frame (config s2mel.preprocess_params.spect_params.hop_length)
FRAMES_PER_CODE = 1.72    # upstream's S2Mel frames per semantic code (22050 / 256 / 50 Hz ≈ 1.7227)
FEASIBLE = (0.5, 2.0)     # S2Mel frames ÷ upstream's natural frames rendered by the model alone
PASSES = 3                # S2Mel renders at most per take (the first, then two refinements)
SPAN_TOLERANCE = 0.010    # seconds: a measured speech span this close to the slot's needs no other pass


@dataclass(frozen=True)
class Layout:
    """Where a take's samples go (at the request's rate): lead silence, speech, tail silence."""
    total: int
    rate: int
    lead: int                 # pre-roll + lead handle
    speech: int               # the speech span, exactly
    frames: int               # mel frames the S2Mel renders
    natural_frames: int       # upstream's own length for these codes (codes × 1.72)
    method: str               # 'model', or 'hybrid' when the pace is beyond FEASIBLE

    @property
    def tail(self) -> int:
        return self.total - self.lead - self.speech

    @property
    def ratio(self) -> float:
        """Speech span ÷ upstream's natural speech (1 = its own pace)."""
        return self.speech / self.rate / max(1e-9, self.natural_speech)

    @property
    def natural_speech(self) -> float:
        return self.natural_frames * HOP / SAMPLE_RATE


def natural_samples(frames: int, rate: int) -> int:
    return int(Fraction(frames * HOP * rate, SAMPLE_RATE) + Fraction(1, 2))


def handles(pre_roll: float, lead: float, tail: float, rate: int) -> tuple[int, int]:
    """(samples before the speech, samples after it) at `rate`."""
    return round((pre_roll + lead) * rate), round(tail * rate)


def layout(total: int, rate: int, before: int, after: int, natural_frames: int) -> Layout:
    """The S2Mel length for a take of exactly `total` samples at `rate` (handles `before`/`after`)."""
    speech = total - before - after
    if speech < rate // 20:
        raise FitError(f"the slot leaves {max(speech, 0) / rate * 1000:.0f} ms for speech after the handles "
                       f"({before / rate:.3f} s before, {after / rate:.3f} s after): lengthen the slot or shorten "
                       f"lead/tail", min_seconds=(before + after) / rate + 0.05)
    exact = Fraction(speech * SAMPLE_RATE, rate * HOP)        # mel frames the speech span needs
    frames, method = feasible(max(1, int(exact + Fraction(1, 2))), natural_frames)
    return Layout(total, rate, before, speech, frames, natural_frames, method)


def feasible(frames: int, natural_frames: int) -> tuple[int, str]:
    """(frames the S2Mel renders, 'model') within FEASIBLE of upstream's natural length, else the nearest
    feasible length and 'hybrid' (the rest is time-stretched)."""
    natural = max(1, natural_frames)
    lo, hi = FEASIBLE
    if lo <= frames / natural <= hi:
        return frames, "model"
    return max(1, round(natural * min(hi, max(lo, frames / natural)))), "hybrid"


def span_done(measured: int, wanted: float) -> bool:
    """A measured speech span (samples at SAMPLE_RATE) close enough to the wanted one to keep."""
    return abs(measured - wanted) <= SPAN_TOLERANCE * SAMPLE_RATE


def next_frames(frames: int, measured: int, wanted: float) -> int:
    """The S2Mel length whose speech span should last `wanted` samples, when `frames` gave `measured`:
    the codes are interpolated to the length asked for, so speech and edge silence scale together."""
    return max(1, round(frames * wanted / max(1, measured)))


__all__ = ["FEASIBLE", "FRAMES_PER_CODE", "HOP", "PASSES", "SAMPLE_RATE", "SPAN_TOLERANCE", "Layout", "feasible",
           "handles", "layout", "natural_samples", "next_frames", "span_done"]
