"""Prosody of a take against its natural reading: F0 (Praat via parselmouth), energy, articulation rate.

* F0: Praat's autocorrelation pitch, 10 ms steps, range 100–500 Hz for female voices (Kokoro names
  ``?f_*``), 60–350 Hz for male ones; the median over voiced frames, and its spread (standard
  deviation in semitones around the median: a flattened melody shows as a smaller spread).
  Drift = 12·log2(median_fit / median_natural) semitones.
* Energy: mean level (dBFS) of the active 20 ms frames, those within 35 dB of the loudest frame;
  drift in dB against the natural take.
* Articulation rate: reference units (words for English, characters for Mandarin) per second of
  active speech (the active frames, so pauses do not count); reported as a ratio to the natural take's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

FRAME_S = 0.02
ACTIVE_DB = 35.0


@dataclass(frozen=True)
class Prosody:
    f0_median_hz: float   # NaN when nothing is voiced
    f0_spread_st: float
    energy_db: float
    active_s: float       # seconds of active (non-silent) frames


def pitch_range(voice: str) -> tuple[float, float]:
    return (100.0, 500.0) if voice[1:2] == "f" else (60.0, 350.0)


def f0_track(audio: np.ndarray, rate: int, voice: str) -> np.ndarray:
    """Voiced F0 values (Hz) every 10 ms."""
    import parselmouth

    floor, ceiling = pitch_range(voice)
    snd = parselmouth.Sound(audio.astype(np.float64), sampling_frequency=rate)
    f0 = snd.to_pitch_ac(time_step=0.01, pitch_floor=floor, pitch_ceiling=ceiling).selected_array["frequency"]
    return f0[f0 > 0]


def median_f0(audio: np.ndarray, rate: int, voice: str) -> float:
    f0 = f0_track(audio, rate, voice)
    return float(np.median(f0)) if len(f0) else float("nan")


def semitones(f: float, ref: float) -> float:
    return 12.0 * math.log2(f / ref) if f > 0 and ref > 0 else float("nan")


def frame_levels(audio: np.ndarray, rate: int) -> np.ndarray:
    """RMS level of each 20 ms frame in dBFS."""
    n = int(rate * FRAME_S)
    frames = len(audio) // n
    if frames == 0:
        return np.zeros(0)
    x = audio[: frames * n].astype(np.float64).reshape(frames, n)
    return 10.0 * np.log10(np.mean(x * x, axis=1) + 1e-12)


def measure(audio: np.ndarray, rate: int, voice: str) -> Prosody:
    f0 = f0_track(audio, rate, voice)
    if len(f0):
        med = float(np.median(f0))
        spread = float(np.std(12.0 * np.log2(f0 / med)))
    else:
        med = spread = float("nan")
    levels = frame_levels(audio, rate)
    active = levels[levels > levels.max() - ACTIVE_DB] if len(levels) else levels
    energy = float(10.0 * np.log10(np.mean(10.0 ** (active / 10.0)))) if len(active) else float("nan")
    return Prosody(med, spread, energy, len(active) * FRAME_S)


def articulation_rate(units: int, p: Prosody) -> float:
    """Words or characters per second of active speech."""
    return units / p.active_s if p.active_s > 0 else float("nan")
