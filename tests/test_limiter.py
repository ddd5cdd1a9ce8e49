"""engine/limiter.py: the true peak lands on the threshold, nothing under it is touched, and the gain
curve is the highest one the attack and release slopes allow."""
from __future__ import annotations

import numpy as np
import pytest

from takefit.engine import limiter, loudness


def _line(rate: int = 48000, seconds: float = 2.0) -> np.ndarray:
    """A quiet voiced line with two loud bursts (a shout), its crests between the samples."""
    t = np.arange(int(rate * seconds)) / rate
    voiced = sum(np.sin(2 * np.pi * 180 * k * t + k) / k for k in range(1, 40))
    level = 0.05 + 0.25 * (np.abs(t - 0.6) < 0.05) + 0.2 * (np.abs(t - 1.4) < 0.08)
    return (level * voiced).astype(np.float32)


def _db(x: float) -> float:
    return 20 * np.log10(x)


@pytest.mark.parametrize("rate", (24000, 44100, 48000))
@pytest.mark.parametrize("below", (0.5, 3.0, 9.0))
def test_the_true_peak_lands_on_the_threshold(rate, below):
    x = _line(rate)
    threshold = _db(loudness.true_peak(x, rate)) - below
    y = limiter.limit(x, rate, threshold)
    assert len(y) == len(x) and y.dtype == np.float32
    assert _db(loudness.true_peak(y, rate)) == pytest.approx(threshold, abs=0.03)


def test_what_is_far_from_the_peaks_is_left_as_it_was():
    rate = 48000
    x = _line(rate)
    y = limiter.limit(x, rate, _db(loudness.true_peak(x, rate)) - 6.0)
    t = np.arange(len(x)) / rate
    quiet = (t < 0.5) | ((t > 0.75) & (t < 1.28)) | (t > 1.75)   # > 25 ms before / > 100 ms after a burst
    assert np.array_equal(y[quiet], x[quiet])
    assert np.all(np.abs(y) <= np.abs(x) + 1e-7)                  # a limiter only ever turns down


def test_a_threshold_above_the_peak_changes_nothing():
    x = _line()
    assert np.array_equal(limiter.limit(x, 48000, _db(loudness.true_peak(x, 48000)) + 0.1), x)
    assert np.array_equal(limiter.limit(np.zeros(1000, np.float32), 48000, -20.0), np.zeros(1000, np.float32))


def test_the_gain_curve_is_the_highest_the_slopes_allow():
    rng = np.random.default_rng(3)
    need = np.minimum(0.0, rng.normal(0.0, 4.0, 2000))
    need[rng.random(2000) < 0.9] = 0.0
    attack, release = 0.7, 0.05
    gain = limiter.ramped(need, attack, release)
    assert np.all(gain <= need + 1e-12)                       # every instant gets at least what it needs
    steps = np.diff(gain)
    assert steps.min() >= -attack - 1e-9 and steps.max() <= release + 1e-9
    # and no higher curve exists: every point sits on its need, or on a full-slope ramp from a neighbour
    on_need = np.isclose(gain, need)
    releasing = np.r_[False, np.isclose(gain[1:], gain[:-1] + release)]
    attacking = np.r_[np.isclose(gain[:-1], gain[1:] + attack), False]
    assert np.all(on_need | releasing | attacking)
