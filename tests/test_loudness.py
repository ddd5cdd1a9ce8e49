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
    """Lengths where pyloudnorm counts whole blocks (the audio ends in the first half of a 100 ms step)."""
    x = _signal(rate, seconds, int(seconds * 100) + rate)
    expected = pyloudnorm.Meter(rate).integrated_loudness(x)
    assert loudness.integrated(x, rate) == pytest.approx(expected, abs=1e-6)


def _ebur128_integrated(x: np.ndarray, rate: int) -> float:
    import pyebur128 as ebur

    meter = ebur.R128State(1, rate, ebur.MeasurementMode.MODE_I)
    meter.add_frames(np.asarray(x, np.float64), len(x))
    return ebur.get_loudness_global(meter)


@pytest.mark.parametrize("rate", (24000, 48000))
@pytest.mark.parametrize("seconds", [0.97, 1.16, 1.55, 1.96, 2.78])
def test_a_line_ending_late_in_a_step_counts_whole_blocks_as_bs1770_and_libebur128(rate, seconds):
    """pyloudnorm counts a block past the end there (its silence dilutes the mean: up to 0.4 LU on a
    short line); the engine reads what libebur128 reads, within what their K-filter designs for the rate
    differ by (0.04 LU at 48 kHz, 0.08 at 24 kHz)."""
    x = _signal(rate, seconds, int(seconds * 100) + rate)
    x[: len(x) // 4] = _signal(rate, seconds, 3)[: len(x) // 4]       # no near-silent start: every block counts
    tolerance = 0.1 if rate < 48000 else 0.05
    assert loudness.integrated(x, rate) == pytest.approx(_ebur128_integrated(x, rate), abs=tolerance)


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


# ------------------------------------------------------------------ the true-peak ceiling (engine/audio.py)
def _crested(rate: int = 48000, seconds: float = 3.0) -> np.ndarray:
    """A voiced-like line whose waveform peaks between samples: 150 Hz harmonics to 11 kHz in syllable
    bursts, with a quarter-rate component whose samples sit 3 dB under its crests."""
    t = np.arange(int(rate * seconds)) / rate
    rng = np.random.default_rng(7)
    voiced = sum(np.sin(2 * np.pi * 150 * k * t + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 74))
    bright = 0.4 * np.sin(2 * np.pi * rate / 4 * t + np.pi / 4)
    syllables = np.clip(np.sin(2 * np.pi * 2.5 * t), 0, None) ** 2
    return (0.2 * (voiced + bright) * syllables).astype(np.float32)


def _ebur128_true_peak_db(audio: np.ndarray, rate: int) -> float:
    import pyebur128 as ebur

    meter = ebur.R128State(1, rate, ebur.MeasurementMode.MODE_TRUE_PEAK)
    meter.add_frames(audio.astype(np.float64), len(audio))
    return 20 * np.log10(ebur.get_true_peak(meter, 0))


@pytest.mark.parametrize("rate", (24000, 48000))
def test_a_loud_target_holds_the_true_peak_not_only_the_samples_at_the_ceiling(rate):
    from takefit.engine import audio

    x = _crested(rate)
    out, warnings = audio.loudness_normalize(x, rate, -10.0)
    assert -1.15 < 20 * np.log10(loudness.true_peak(out, rate)) <= audio.PEAK_CEILING_DBTP - 0.05   # a hair under
    assert _ebur128_true_peak_db(out, rate) <= audio.PEAK_CEILING_DBTP            # an independent meter agrees
    assert 20 * np.log10(np.abs(out).max()) < audio.PEAK_CEILING_DBTP - 0.25         # the samples are below it
    assert len(warnings) == 1 and "true peak held at -1 dBTP" in warnings[0]


def test_the_limiter_makes_room_between_the_samples_too():
    """Limiting the samples alone left the waveform between them 2–3 dB over; oversampled, the take
    reaches its loudness with the true peak at the ceiling and no warning."""
    from takefit.engine import audio

    x, rate = _crested(), 48000
    roomy = audio.make_headroom(x, rate, -14.0)             # 14 dB louder than it came, its crest 15 dB
    out, warnings = audio.loudness_normalize(roomy, rate, -14.0)
    assert warnings == [] and loudness.integrated(out, rate) == pytest.approx(-14.0, abs=0.05)
    assert -1.5 < _ebur128_true_peak_db(out, rate) <= audio.PEAK_CEILING_DBTP      # limited no more than needed
    assert len(roomy) == len(x)


def test_a_gain_without_a_loudness_target_keeps_the_true_peak_under_the_ceiling():
    from takefit.engine import audio

    x, rate = _crested(), 48000
    out = audio.apply_gain(x, rate, 12.0)
    assert -1.15 < 20 * np.log10(loudness.true_peak(out, rate)) <= audio.PEAK_CEILING_DBTP - 0.05
    assert np.allclose(audio.apply_gain(x, rate, -3.0), x * 10 ** (-3 / 20), atol=1e-7)     # under it: as asked


def test_the_true_peak_reads_at_least_what_libebur128_and_the_annex_filter_read():
    """Its FIR readings are the meters' own: libebur128's interpolator, rebuilt, reads what libebur128
    reads (but for the ring after the last sample, which libebur128 never flushes: a line ends on a
    fade); the true peak takes the highest of them and soxr's."""
    import pyebur128 as ebur

    rng = np.random.default_rng(11)
    for n in (4800, 48000):
        x = (0.2 * rng.standard_normal(n) * np.minimum(1, np.arange(n)[::-1] / 100)).astype(np.float32)
        meter = ebur.R128State(1, 48000, ebur.MeasurementMode.MODE_TRUE_PEAK)
        meter.add_frames(x.astype(np.float64), n)
        libebur128 = ebur.get_true_peak(meter, 0)
        phases, delay = loudness._INTERPOLATORS[1]
        assert np.max(loudness._fir_levels(x, phases, delay)) == pytest.approx(libebur128, rel=1e-5)
        annex = max(np.max(np.abs(np.convolve(x, p))) for p in loudness._INTERPOLATORS[0][0])
        assert np.max(loudness._fir_levels(x, *loudness._INTERPOLATORS[0])) == pytest.approx(annex, rel=1e-5)
        assert loudness.true_peak(x, 48000) >= max(libebur128, annex) * (1 - 1e-6)


@pytest.mark.parametrize("rate", (24000, 44100, 48000))
def test_a_programme_fed_in_pieces_reads_as_the_whole(rate):
    """engine/meter.py (a stem, 30 s at a time) against loudness.measure of the same audio in one piece."""
    from takefit.engine.meter import Meter

    x = np.concatenate([_signal(rate, 4.1, 5), 0.5 * _signal(rate, 3.3, 6), _crested(rate, 2.0)]).astype(np.float32)
    meter, rng, start = Meter(rate), np.random.default_rng(rate), 0
    while start < len(x):
        size = int(rng.integers(1, rate))                    # pieces of one sample up to a second
        meter.add(x[start:start + size])
        start += size
    got, whole = meter.levels(), loudness.measure(x, rate)
    for name in ("integrated", "range", "max_momentary", "max_short_term", "true_peak"):
        assert getattr(got, name) == pytest.approx(getattr(whole, name), abs=0.011), name
    assert meter.levels() is got
    with pytest.raises(RuntimeError, match="has been read"):
        meter.add(x[:10])
