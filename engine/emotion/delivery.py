"""Emotion → delivery: how an 8-vector changes the reading on the embedded Kokoro engine.

Kokoro has no emotion input, so emotion is rendered through prosody, each channel where the model
exposes it (docs/emotion.md has the table and its sources):

    F0 level, range, contour   the prosody stage's F0 curve, reshaped in log-frequency (shape_f0)
    vocal effort / energy      the N curve (shape_energy) and the take's level (gain_db)
    rate, pause lengths        the duration stage's speed, and pause tokens lengthened or shortened
    the predictors' reading     the prosody half style[:, 128:]: moved along measured directions
                               (style.py), so the model itself places the livelier or flatter contour
                               and the longer or shorter segments; the transforms above then calibrate
                               each line's totals against the voice's own reading to this table
    timbre                     style[:, :128] (read by the decoder) is never touched, so the voice
                               stays the speaker's

Mixtures blend: additive parameters add by weight, multiplicative ones multiply in the log domain.
Intensity (and emo_alpha) scale the weights, so 0 is exactly the neutral reading.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, fields, replace

import numpy as np

from ..kokoro.prosody import voicing_weight
from .vector import EMOTIONS, Vector, normalized


@dataclass(frozen=True)
class Delivery:
    f0_shift: float = 0.0      # semitones added to the whole F0 curve (pitch level)
    f0_range: float = 1.0      # factor on F0 excursions around the line's mean, in log frequency
    f0_jitter: float = 0.0     # semitones of slow irregular wobble (fear's unsteady pitch)
    f0_final: float = 0.0      # semitones of rise (+) or fall (−) over the end of each phrase
    energy: float = 0.0        # added to the N (energy) curve on voiced frames: vocal effort
    gain_db: float = 0.0       # the take's level relative to the loudness target
    rate: float = 1.0          # speaking-rate factor (>1 faster): divides every duration
    pause: float = 1.0         # factor on pause lengths (punctuation and phrase joins)

    @property
    def is_neutral(self) -> bool:
        return self == NEUTRAL_DELIVERY

    def to_json(self) -> dict:
        return {f.name: round(getattr(self, f.name), 4) for f in fields(self)}


NEUTRAL_DELIVERY = Delivery()
_MULTIPLICATIVE = ("f0_range", "rate", "pause")

# Per-emotion directions at full intensity. Signs follow the emotional-speech literature (Murray &
# Arnott 1993 table 1; Banse & Scherer 1996; Juslin & Laukka 2003 table 7; Schröder 2001 for
# surprise); sizes were tuned by measurement (bench/emotion_bench.py) to be clearly audible yet
# keep timbre (speaker similarity ≥ 0.85) and intelligibility.
DIRECTIONS: dict[str, Delivery] = {
    "happy":       Delivery(f0_shift=+3.0, f0_range=1.40, energy=+0.6, gain_db=+2.5, rate=1.08, pause=0.90),
    "angry":       Delivery(f0_shift=+2.5, f0_range=1.45, energy=+1.5, gain_db=+5.0, rate=1.12, pause=0.80,
                            f0_final=-1.0),
    "sad":         Delivery(f0_shift=-2.0, f0_range=0.65, energy=-1.0, gain_db=-4.0, rate=0.85, pause=1.35,
                            f0_final=-1.0),
    "afraid":      Delivery(f0_shift=+4.0, f0_range=1.20, f0_jitter=0.8, energy=+0.3, gain_db=+1.5, rate=1.15,
                            pause=0.85),
    "disgusted":   Delivery(f0_shift=-2.0, f0_range=1.15, energy=-0.5, gain_db=-2.0, rate=0.85, pause=1.20,
                            f0_final=-1.5),
    "melancholic": Delivery(f0_shift=-1.5, f0_range=0.55, energy=-0.8, gain_db=-3.0, rate=0.88, pause=1.30,
                            f0_final=-0.8),
    "surprised":   Delivery(f0_shift=+4.0, f0_range=1.50, energy=+0.5, gain_db=+2.5, rate=1.05, pause=0.95,
                            f0_final=+3.0),
    "calm":        Delivery(f0_shift=-1.0, f0_range=0.85, energy=-0.3, gain_db=-1.5, rate=0.92, pause=1.10),
}


def delivery_for(vector: Vector) -> Delivery:
    """Blend the per-emotion directions by the vector's weights (weights over 1 in total are
    normalised: a mixture, not a stronger emotion)."""
    w = normalized(tuple(float(x) for x in vector))  # type: ignore[arg-type]
    out = {}
    for f in fields(Delivery):
        if f.name in _MULTIPLICATIVE:
            out[f.name] = math.exp(sum(wi * math.log(getattr(DIRECTIONS[e], f.name)) for e, wi in zip(EMOTIONS, w)))
        else:
            out[f.name] = sum(wi * getattr(DIRECTIONS[e], f.name) for e, wi in zip(EMOTIONS, w))
    return Delivery(**out)


def blend(a: Delivery, b: Delivery, t: float) -> Delivery:
    """a → b by t (0-1): emo_alpha between neutral and a transferred delivery."""
    out = {}
    for f in fields(Delivery):
        x, y = getattr(a, f.name), getattr(b, f.name)
        out[f.name] = math.exp((1 - t) * math.log(x) + t * math.log(y)) if f.name in _MULTIPLICATIVE else \
            (1 - t) * x + t * y
    return Delivery(**out)


# ------------------------------------------------------------------ applying it to the prosody curves
F0_MIN, F0_MAX = 50.0, 700.0


def _voiced_stats(st: np.ndarray, voiced: np.ndarray) -> tuple[float, float]:
    return float(np.mean(st[voiced])), float(np.std(st[voiced]))


def shape_f0(f0: np.ndarray, d: Delivery, seed: int = 0, reference: np.ndarray | None = None) -> np.ndarray:
    """The F0 curve (Hz, the prosody stage's output, any shape) reshaped by the delivery, in log
    frequency; unvoiced frames untouched. The line's mean lands `f0_shift` semitones from the
    reference's and its spread at `f0_range` times the reference's, plus the phrase-final contour and
    the wobble. The reference is the voice's own curve for the line (when emotion moved the style's
    prosody half, `f0` already carries the model's emotional contour and this only calibrates it);
    without one, `f0` is its own reference.

    An enrolled voice's pitch ratio is applied before this, by engine/kokoro/model.py scale_f0, with
    the same voicing weight."""
    f = np.asarray(f0, dtype=np.float64)
    flat = f.reshape(-1)
    w = voicing_weight(flat)
    plain = d.f0_shift == 0 and d.f0_range == 1 and d.f0_jitter == 0 and d.f0_final == 0
    if w.max() < 1.0 or (plain and reference is None):
        return f0
    st = 12.0 * np.log2(np.maximum(flat, 1.0))
    voiced = w >= 1.0
    mu, sd = _voiced_stats(st, voiced)
    mu_ref, sd_ref = mu, sd
    if reference is not None:
        ref = np.asarray(reference, dtype=np.float64).reshape(-1)
        ref_voiced = voicing_weight(ref) >= 1.0
        if ref_voiced.any():
            mu_ref, sd_ref = _voiced_stats(12.0 * np.log2(np.maximum(ref, 1.0)), ref_voiced)
    spread = d.f0_range * (sd_ref / sd if sd > 1e-3 else 1.0)
    target = mu_ref + d.f0_shift + spread * (st - mu) + _contour(voiced, d.f0_final) + _wobble(len(flat), d.f0_jitter, seed)
    new = st + w * (target - st)
    out = 2.0 ** (new / 12.0)
    out = np.where(w > 0, np.clip(out, min(F0_MIN, flat.max()), F0_MAX), flat)
    return out.reshape(f.shape).astype(np.float32)


def _contour(voiced: np.ndarray, final: float) -> np.ndarray:
    """A rise or fall over the last third of the voiced frames (phrase-final intonation)."""
    out = np.zeros(len(voiced))
    if final == 0:
        return out
    idx = np.flatnonzero(voiced)
    start = idx[int(len(idx) * 2 / 3)]
    span = max(idx[-1] - start, 1)
    ramp = np.clip((np.arange(len(voiced)) - start) / span, 0.0, 1.0)
    return final * ramp


def _wobble(n: int, amount: float, seed: int) -> np.ndarray:
    """Slow random F0 wobble (~8 Hz knots, smooth), deterministic per line so takes are cacheable."""
    if amount == 0:
        return np.zeros(n)
    rng = np.random.default_rng(seed)
    knots = rng.standard_normal(n // 10 + 2)
    return amount * np.interp(np.arange(n) / 10.0, np.arange(len(knots)), knots)


def _active(energy: np.ndarray) -> np.ndarray:
    return np.clip((energy + 2.0) / 4.0, 0.0, 1.0)      # N runs ~-9 in silence, ~+7 in vowels


def shape_energy(energy: np.ndarray, d: Delivery, reference: np.ndarray | None = None) -> np.ndarray:
    """The N curve with the delivery's vocal effort added where there is voice: its voice-weighted mean
    lands `energy` above the reference's (the voice's own curve for the line; else itself)."""
    if d.energy == 0 and reference is None:
        return energy
    e = np.asarray(energy, dtype=np.float32)
    ref = e if reference is None else np.asarray(reference, dtype=np.float32).reshape(e.shape)
    active = _active(ref)
    offset = d.energy
    if reference is not None and active.sum() > 0:
        offset -= float(np.sum(active * (e - ref)) / np.sum(active))
    return (e + offset * active).astype(np.float32)


def seed_for(tokens: np.ndarray) -> int:
    return zlib.crc32(np.asarray(tokens, dtype=np.int64).tobytes())


@dataclass(frozen=True)
class ProsodyShaper:
    """The callable KokoroModel.render applies between the prosody and decoder stages; the reference
    curves, when the style's prosody half was moved, are the voice's own reading of the line."""

    delivery: Delivery
    seed: int = 0

    def __call__(self, f0: np.ndarray, energy: np.ndarray, f0_ref: np.ndarray | None = None,
                 energy_ref: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        return shape_f0(f0, self.delivery, self.seed, f0_ref), shape_energy(energy, self.delivery, energy_ref)


def scaled_delivery(d: Delivery, t: float) -> Delivery:
    return blend(NEUTRAL_DELIVERY, d, t)


__all__ = ["Delivery", "NEUTRAL_DELIVERY", "DIRECTIONS", "delivery_for", "blend", "shape_f0", "shape_energy",
           "ProsodyShaper", "seed_for", "scaled_delivery", "replace"]
