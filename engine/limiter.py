"""A look-ahead true-peak limiter: the gain each instant needs for the waveform between the samples to
stay under a threshold, reached ahead of every peak and given back slowly after it.

Why not pedalboard's (JUCE's) Limiter alone: it is a 4:1 compressor over the top 10 dB before its
limiting stage, so asked to take 0.05 dB off a take's peaks it took 2–3 dB off its whole top
(2026-12-04), and with no look-ahead it lets an onset through before it reacts. A broadcast limiter
touches only what is over (engine/audio.py keeps JUCE's leveling for the loud lines a limiter alone
cannot make room in): here the needed gain is computed from the take oversampled to ≥ 192 kHz
(where BS.1770 reads the true peak), then spread in dB as straight ramps — down over the look-ahead
before each peak (ATTACK_DB_PER_MS), back up after it (RELEASE_DB_PER_MS) — so the gain never changes
faster than those slopes and never exceeds what any instant needs. Both ramps are running minima
(`np.minimum.accumulate`), one pass each way, no per-sample loop.
"""
from __future__ import annotations


import numpy as np
import soxr

from .loudness import fir_levels, oversampling

ATTACK_DB_PER_MS = 4.0     # 6 dB of reduction ramps in over 1.5 ms before its peak
RELEASE_DB_PER_MS = 0.1    # and out over 60 ms after it: slow enough not to ripple a voice's pitch period


def limit(audio: np.ndarray, rate: int, threshold_db: float) -> np.ndarray:
    """`audio` with its true peak brought down to `threshold_db` (dBFS of the waveform, as oversampled)
    and nothing else changed where it is under; the same length and scale."""
    return Limiter(audio, rate)(threshold_db)


class Limiter:
    """One take, oversampled and its level read once, limited at any threshold (a search tries several).
    The gain is computed per input sample from the loudest point of the waveform around it, so the
    ramps run at the take's own rate."""

    def __init__(self, audio: np.ndarray, rate: int):
        self.audio = np.asarray(audio, np.float32).reshape(-1)
        factor = oversampling(rate)
        up = self.audio if factor == 1 else soxr.resample(self.audio, rate, rate * factor, "HQ")
        level = np.maximum(_per_input_sample(np.abs(up), factor, len(self.audio)), fir_levels(self.audio))
        with np.errstate(divide="ignore"):
            self.level_db = 20.0 * np.log10(_with_neighbours(level).astype(np.float64))
        self.attack, self.release = ATTACK_DB_PER_MS * 1000.0 / rate, RELEASE_DB_PER_MS * 1000.0 / rate

    def __call__(self, threshold_db: float) -> np.ndarray:
        return self.limited(threshold_db)[0]

    def limited(self, threshold_db: float) -> tuple[np.ndarray, float]:
        """(the take limited at `threshold_db`, its true peak in dBTP as this level reads it: a search
        needs no new reading per try)."""
        gain_db = self.gain_db(threshold_db)
        peak_db = float(np.max(self.level_db + gain_db, initial=-np.inf))
        return (self.audio * 10.0 ** (gain_db / 20.0)).astype(np.float32), peak_db

    def gain_db(self, threshold_db: float, where: np.ndarray | None = None) -> np.ndarray:
        """The gain (dB per input sample) that holds the waveform under `threshold_db`; with `where`, only
        the samples it marks are held (a stem's overlaps), the ramps around them reaching past them."""
        need_db = np.minimum(0.0, threshold_db - self.level_db)       # −inf level (silence): needs nothing
        if where is not None:
            need_db = np.where(where, need_db, 0.0)
        return ramped(need_db, self.attack, self.release)


def ramped(need_db: np.ndarray, attack: float, release: float) -> np.ndarray:
    """The highest gain curve (dB) that is ≤ `need_db` everywhere, falls at most `attack` dB per
    sample and rises at most `release`: min over peaks k of need[k] + release·(n − k) after them and
    need[k] + attack·(k − n) before them."""
    k = np.arange(len(need_db), dtype=np.float64)
    after = release * k + np.minimum.accumulate(need_db - release * k)
    before = np.minimum.accumulate((need_db + attack * k)[::-1])[::-1] - attack * k
    return np.minimum(after, before)


def _per_input_sample(level: np.ndarray, factor: int, n: int) -> np.ndarray:
    """The oversampled level as one value per input sample: the most over the input sample's span."""
    if factor > 1:
        level = np.concatenate([level, np.zeros((-len(level)) % factor, level.dtype)]).reshape(-1, factor).max(axis=1)
    return np.concatenate([level[:n], np.zeros(max(0, n - len(level)), level.dtype)])


def _with_neighbours(level: np.ndarray) -> np.ndarray:
    """Each sample's level, or its neighbours' where higher: the waveform between two samples depends
    on both, and the readings place a peak to within a sample."""
    if len(level) < 2:
        return level
    before, after = np.concatenate([level[:1], level[:-1]]), np.concatenate([level[1:], level[-1:]])
    return np.maximum(level, np.maximum(before, after))
