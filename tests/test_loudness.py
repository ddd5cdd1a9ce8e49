"""engine/loudness.py against pyloudnorm, the meter it replaces on the render path (without its
scipy.signal import): the same K-weighting, the same blocks and gates, the same LUFS."""
from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest
import scipy.signal

from takefit.engine import loudness

RATES = (8000, 16000, 22050, 24000, 44100, 48000, 96000)


def _signal(rate: int, seconds: float, seed: int) -> np.ndarray:
    """Speech-like: tone bursts and noise at changing levels, a near-silent stretch that the gates drop."""
    rng = np.random.default_rng(seed)
    n = int(rate * seconds)
    t = np.arange(n) / rate
    bursts = (t % 0.9 < 0.55) * rng.uniform(0.05, 0.6)
    x = bursts * np.sin(2 * np.pi * rng.uniform(90, 3000) * t) + rng.uniform(0.001, 0.1) * rng.standard_normal(n)
    x[: n // 4] *= 1e-3
    return x


@pytest.mark.parametrize("rate", RATES)
def test_the_filter_is_scipys_lfilter_of_pyloudnorms_biquads(rate):
    x = _signal(rate, 2.3, rate)
    meter = pyloudnorm.Meter(rate)
    expected = x
    for stage in meter._filters.values():
        expected = scipy.signal.lfilter(stage.b, stage.a, expected)
    got = loudness.k_weighted(x, rate)
    assert np.max(np.abs(got - expected)) <= 1e-9 * np.max(np.abs(expected))


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("seconds", [0.4, 0.43, 1.0, 3.7, 31.0])
def test_integrated_loudness_is_pyloudnorms(rate, seconds):
    x = _signal(rate, seconds, int(seconds * 100) + rate)
    expected = pyloudnorm.Meter(rate).integrated_loudness(x)
    assert loudness.integrated(x, rate) == pytest.approx(expected, abs=1e-6)


def test_silence_and_what_the_absolute_gate_drops_read_minus_infinity():
    assert loudness.integrated(np.zeros(48000), 48000) == float("-inf")
    whisper = 1e-5 * np.sin(2 * np.pi * 1000 * np.arange(48000) / 48000)       # ≈ −100 LUFS
    assert pyloudnorm.Meter(48000).integrated_loudness(whisper) == float("-inf")
    assert loudness.integrated(whisper, 48000) == float("-inf")


def test_a_full_scale_997_hz_sine_reads_about_minus_3_lufs():
    """BS.1770's calibration: a 0 dBFS sine at 997 Hz in one channel reads −3.01 LKFS; the RBJ-designed
    filters (pyloudnorm's default, kept here) read it 0.04 LU lower, as pyloudnorm does."""
    t = np.arange(48000 * 3) / 48000
    assert loudness.integrated(np.sin(2 * np.pi * 997 * t), 48000) == pytest.approx(-3.01, abs=0.05)


def test_shorter_than_one_block_is_a_clear_error():
    with pytest.raises(ValueError, match=r"at least 0.4 s of audio; got 0.200 s"):
        loudness.integrated(np.ones(9600), 48000)


def test_the_input_is_left_as_it_was():
    x = _signal(48000, 1.5, 7)
    before = x.copy()
    loudness.integrated(x, 48000)
    assert np.array_equal(x, before)
