"""Loudness (ITU-R BS.1770-4, EBU R128) of mono audio: pyloudnorm's meter, in numpy alone, and the
rest of what R128 reports (true peak, loudness range, momentary and short-term maxima: `measure`).

pyloudnorm imports scipy.signal for its two K-weighting biquads: 1.2–1.35 s of imports that hold the GIL,
a quarter of a cold `takefit say` (bench/cold_say.py), for a filter applied once per take. Here the same
biquads — pyloudnorm's designs (RBJ cookbook, computed for the sample rate) — are applied as their impulse
response by FFT convolution, and the 400 ms blocks are gated as pyloudnorm gates them. The impulse response
is cut where it falls below float64's resolution, so the two meters agree to within 1e-6 LU
(tests/test_loudness.py measures it against pyloudnorm, which stays the reference in the dev extra) —
except on the last block: pyloudnorm rounds the number of blocks, so where the audio ends in the second
half of a 100 ms step it counts one more block, running past the end, and dilutes the mean with its
silence. BS.1770 counts whole blocks only, as libebur128 (ffmpeg, most meters) does: a 1.2 s take
leveled by pyloudnorm's count read 0.4 LU louder than its target on those meters (bench/true_peak.py).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import soxr

BLOCK_SECONDS = 0.4            # gating block
OVERLAP = 0.75                 # consecutive blocks overlap by 75 %
ABSOLUTE_GATE = -70.0          # LUFS: blocks below are silence
RELATIVE_GATE = -10.0          # LU below the absolutely gated mean
SHORT_TERM_SECONDS = 3.0       # EBU R128's short-term window, one value every 100 ms (Tech 3341)
RANGE_RELATIVE_GATE = -20.0    # loudness range: short-term values more than 20 LU below their mean left out
RANGE_PERCENTILES = (10, 95)   # EBU Tech 3342: the range is between these percentiles of what is left
# True peak (BS.1770-4 Annex 2): the samples oversampled to ≥ 192 kHz (4× at 48 kHz) before the peak is
# read, because a DAC's or a lossy decoder's output runs between the samples and can pass full scale while
# every sample is below it (by up to 3 dB, for a tone at a quarter of the sample rate)
TRUE_PEAK_RATE = 192_000
_TRUE_PEAK_CHUNK = 1 << 16     # samples per step: a long stem is not held four times over
# The Annex's example interpolator, which many meters are built on: 4 phases of 12 taps (phase 2 is
# phase 1 reversed, phase 3 phase 0). It reads up to 0.2 dB above the waveform near the band's top.
_ANNEX_0 = (0.0017089843750, 0.0109863281250, -0.0196533203125, 0.0332031250000, -0.0594482421875,
            0.1373291015625, 0.9721679687500, -0.1022949218750, 0.0476074218750, -0.0266113281250,
            0.0148925781250, -0.0083007812500)
_ANNEX_1 = (-0.0291748046875, 0.0292968750000, -0.0517578125000, 0.0891113281250, -0.1665039062500,
            0.4650878906250, 0.7797851562500, -0.2003173828125, 0.1015625000000, -0.0582275390625,
            0.0330810546875, -0.0189208984375)


def _hann_sinc_phases(taps: int = 49, factor: int = 4) -> np.ndarray:
    """libebur128's interpolator (the R128 meter of many tools): a Hann-windowed sinc of 49 taps cut at
    the input's Nyquist, as its 4 phases (13 taps, zero-padded); tests/test_loudness.py checks it reads
    what libebur128 reads."""
    m = np.arange(taps) - (taps - 1) / 2
    h = np.sinc(m / factor) * 0.5 * (1 - np.cos(2 * np.pi * np.arange(taps) / (taps - 1)))
    width = -(-taps // factor)
    return np.array([np.pad(h[p::factor], (0, width - len(h[p::factor]))) for p in range(factor)], np.float32)


# (phases, whole input samples the output lags): the Annex's 23.5 of 48 taps at 4×, libebur128's 24 of 49
_INTERPOLATORS = ((np.array([_ANNEX_0, _ANNEX_1, _ANNEX_1[::-1], _ANNEX_0[::-1]], np.float32), 5),
                  (_hann_sinc_phases(), 6))
_OFFSET = -0.691               # BS.1770's constant: 0 LUFS for a 997 Hz full-scale sine
_FFT = 1 << 15                 # convolution block: long lines cost O(n log 32768), not one huge FFT
_TAIL = 1e-12                  # impulse response kept while above this × its peak (below: rounding noise)


def _biquad(kind: str, gain_db: float, q: float, fc: float, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(b, a) normalised by a0, as pyloudnorm.iirfilter designs them."""
    big_a = 10 ** (gain_db / 40.0)
    w0 = 2.0 * np.pi * (fc / rate)
    alpha = np.sin(w0) / (2.0 * q)
    cos, root = np.cos(w0), 2 * np.sqrt(big_a) * alpha
    if kind == "high_shelf":
        b = [big_a * ((big_a + 1) + (big_a - 1) * cos + root), -2 * big_a * ((big_a - 1) + (big_a + 1) * cos),
             big_a * ((big_a + 1) + (big_a - 1) * cos - root)]
        a = [(big_a + 1) - (big_a - 1) * cos + root, 2 * ((big_a - 1) - (big_a + 1) * cos),
             (big_a + 1) - (big_a - 1) * cos - root]
    else:                                           # high_pass
        b = [(1 + cos) / 2, -(1 + cos), (1 + cos) / 2]
        a = [1 + alpha, -2 * cos, 1 - alpha]
    return np.array(b) / a[0], np.array(a) / a[0]


@functools.lru_cache(maxsize=8)
def _k_weighting(rate: int) -> np.ndarray:
    """The K-weighting's impulse response at `rate`: the head's shelf (+4 dB above 1.5 kHz), then the
    38 Hz high-pass. Sampled from the frequency response on a grid of ≥ 1 s, where the high-pass has
    long decayed below 1e-100, so the time aliasing of the sampling is nil."""
    n = 1 << int(np.ceil(np.log2(rate)))
    z = np.exp(-2j * np.pi * np.arange(n // 2 + 1) / n)           # z⁻¹ on the grid
    response = np.ones_like(z)
    for b, a in (_biquad("high_shelf", 4.0, 1 / np.sqrt(2), 1500.0, rate), _biquad("high_pass", 0.0, 0.5, 38.0, rate)):
        response *= (b[0] + b[1] * z + b[2] * z * z) / (a[0] + a[1] * z + a[2] * z * z)
    ir = np.fft.irfft(response, n)
    kept = np.flatnonzero(np.abs(ir) > _TAIL * np.abs(ir).max())
    return ir[: kept[-1] + 1]


def k_weighted(audio: np.ndarray, rate: int) -> np.ndarray:
    """`audio` through the K-weighting filter (as scipy.signal.lfilter would, from rest)."""
    x = np.asarray(audio, np.float64).reshape(-1)
    return k_convolved(x, rate)[: len(x)]


def k_convolved(x: np.ndarray, rate: int) -> np.ndarray:
    """The full convolution of `x` with the K-weighting's impulse response (len(x) + its length − 1
    samples), by overlap-add in blocks of _FFT points transformed in one batch: 4–5× faster on a 30 s
    stem block than one FFT of the whole (which spills the caches) or a block at a time (Python's loop)."""
    ir, spectrum = _k_weighting(rate), _k_spectrum(rate)
    size = len(spectrum) * 2 - 2
    step, n, reach = size - len(ir) + 1, len(x), len(ir) - 1
    blocks = max(1, -(-n // step))
    padded = np.zeros(blocks * step)
    padded[:n] = x
    y = np.fft.irfft(np.fft.rfft(padded.reshape(blocks, step), size, axis=1) * spectrum, size, axis=1)
    out = np.zeros((blocks + 1) * step)
    out[: blocks * step] = y[:, :step].reshape(-1)
    out[step:].reshape(blocks, step)[:, :reach] += y[:, step:step + reach]     # each block's ring into the next
    return out[: n + reach]


@functools.lru_cache(maxsize=8)
def _k_spectrum(rate: int) -> np.ndarray:
    """The impulse response's spectrum at the block size: at least _FFT and twice its length, so a
    block's ring (its length − 1) reaches into the next block only."""
    ir = _k_weighting(rate)
    return np.fft.rfft(ir, max(_FFT, 1 << int(np.ceil(np.log2(2 * len(ir))))))


def block_powers(weighted: np.ndarray, rate: int) -> np.ndarray:
    """Mean square of each whole 400 ms block, 75 % overlapping; the bounds computed as pyloudnorm does.
    `weighted` is overwritten (its running energy: fresh pages are slow to touch on some machines)."""
    return window_powers(running_energy(weighted), rate, BLOCK_SECONDS, 1.0 - OVERLAP)


def running_energy(weighted: np.ndarray) -> np.ndarray:
    """energy[k]: the sum of squares of samples 0..k, computed in `weighted`'s own memory."""
    return np.cumsum(np.square(weighted, out=weighted), out=weighted)


def window_powers(energy: np.ndarray, rate: int, seconds: float, step: float) -> np.ndarray:
    """Mean square of each whole `seconds` window, one every `step` × `seconds`, from the running energy
    (1e-9: a length of exactly k steps is k steps, not k − 1 by rounding)."""
    n = len(energy)
    count = int(np.floor((n / rate - seconds) / (seconds * step) + 1e-9)) + 1
    j = np.arange(max(count, 0), dtype=np.float64)
    lower = np.minimum((seconds * (j * step) * rate).astype(np.int64), n)
    upper = np.minimum((seconds * (j * step + 1) * rate).astype(np.int64), n)

    def before(k: np.ndarray) -> np.ndarray:                                # energy of samples 0..k-1
        return np.where(k > 0, energy[np.maximum(k - 1, 0)], 0.0)
    return np.maximum(before(upper) - before(lower), 0.0) / (seconds * rate)   # ≥ 0: cumsum's rounding


def integrated(audio: np.ndarray, rate: int) -> float:
    """Integrated loudness in LUFS (−inf for silence). `audio`: mono, at least one 400 ms block long."""
    if len(audio) < BLOCK_SECONDS * rate:
        raise ValueError(f"loudness needs at least {BLOCK_SECONDS:g} s of audio; got {len(audio) / rate:.3f} s")
    return _gated(block_powers(k_weighted(audio, rate), rate))


def _gated(power: np.ndarray) -> float:
    """BS.1770's integrated loudness of 400 ms block powers: absolute, then relative gating."""
    with np.errstate(divide="ignore"):
        block_lufs = _OFFSET + 10.0 * np.log10(power)
    loud = block_lufs >= ABSOLUTE_GATE
    if not loud.any():
        return float("-inf")
    relative = _OFFSET + 10.0 * np.log10(np.mean(power[loud])) + RELATIVE_GATE
    gated = (block_lufs > relative) & (block_lufs > ABSOLUTE_GATE)
    mean = float(np.mean(power[gated])) if gated.any() else 0.0
    with np.errstate(divide="ignore"):
        return float(_OFFSET + 10.0 * np.log10(mean))


def true_peak(audio: np.ndarray, rate: int) -> float:
    """The waveform's peak between the samples, linear (BS.1770-4 Annex 2), as the highest of three
    readings: soxr's linear-phase interpolation to ≥ 192 kHz (close to the waveform itself), the
    Annex's own example filter and libebur128's (what meters built on them read). They differ by a
    tenth of a dB or two (bench/true_peak.py); a take held under the ceiling must pass them all."""
    x = np.asarray(audio, np.float32).reshape(-1)
    return max(_interpolated_peak(x, rate), float(np.max(fir_levels(x), initial=0.0)))


def oversampling(rate: int) -> int:
    """The factor that takes `rate` to at least TRUE_PEAK_RATE (4 at 48 kHz, 1 at 192 kHz)."""
    return max(1, math.ceil(TRUE_PEAK_RATE / rate))


def _interpolated_peak(x: np.ndarray, rate: int) -> float:
    peak = float(np.max(np.abs(x), initial=0.0))
    factor = oversampling(rate)
    if factor <= 1 or not len(x):
        return peak
    stream = soxr.ResampleStream(rate, rate * factor, 1, dtype="float32", quality="HQ")
    for start in range(0, len(x), _TRUE_PEAK_CHUNK):
        up = stream.resample_chunk(x[start:start + _TRUE_PEAK_CHUNK], last=start + _TRUE_PEAK_CHUNK >= len(x))
        peak = max(peak, float(np.max(np.abs(up), initial=0.0)))
    return peak


def fir_levels(x: np.ndarray) -> np.ndarray:
    """Per input sample, the highest output of the meters' 4× FIR interpolators at it."""
    return np.maximum(*(_fir_levels(x, phases, delay) for phases, delay in _INTERPOLATORS))


def _fir_levels(x: np.ndarray, phases: np.ndarray, delay: int) -> np.ndarray:
    """One interpolator's full convolution (the input padded with zeros by its reach on both sides),
    moved back by the filter's delay (to within a sample: a reader of this takes in the neighbours);
    what rings before the first sample or after the last counts for them."""
    pad = np.zeros(phases.shape[1] - 1, np.float32)
    out, n = fir_outputs(np.concatenate([pad, x, pad]), phases), len(x)
    levels = out[delay:delay + n].copy()
    if n:
        levels[0] = max(levels[0], out[:delay].max())
        levels[-1] = max(levels[-1], out[delay + n:].max(initial=0.0))
    return levels


def fir_outputs(seg: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """|output| of a 4× interpolator wherever its taps lie inside `seg`, the highest phase per output: a
    chunk of outputs at a time, each phase as a sum of shifted copies of the input (one multiply-add
    per tap). Not a matrix product of the input's sliding windows against the phases: as fast on one
    core, but numpy hands that to OpenBLAS, whose threads then spin on every core for a while after
    each call — 11.7 ms of CPU per 0.7 ms take (2026-12-04), taken from the engines beside it."""
    taps = phases.shape[1]
    reversed_phases = phases[:, ::-1].astype(np.float32)                     # convolution: taps reversed
    out = np.zeros(max(len(seg) - taps + 1, 0), np.float32)
    for start in range(0, len(out), _TRUE_PEAK_CHUNK):
        piece = seg[start:start + _TRUE_PEAK_CHUNK + taps - 1]
        n = len(piece) - taps + 1
        best = out[start:start + n]
        for phase in reversed_phases:
            acc = piece[:n] * phase[0]
            for k in range(1, taps):
                acc += piece[k:k + n] * phase[k]
            np.maximum(best, np.abs(acc, out=acc), out=best)
    return out


@dataclass(frozen=True)
class Levels:
    """What EBU R128 reports of a programme, as a BWF bext chunk holds it; None where the audio is too
    short (under 400 ms; under 3 s for the short-term values and the range) or silent for it."""
    integrated: float | None = None      # LUFS
    range: float | None = None           # LU (EBU Tech 3342)
    true_peak: float | None = None       # dBTP
    max_momentary: float | None = None   # LUFS, 400 ms windows
    max_short_term: float | None = None  # LUFS, 3 s windows


def measure(audio: np.ndarray, rate: int) -> Levels:
    """The five R128 values of mono `audio` (rounded to 0.01, as bext stores them)."""
    peak = true_peak(audio, rate)
    if len(audio) < BLOCK_SECONDS * rate + 1:
        return levels_of(peak)
    energy = running_energy(k_weighted(audio, rate))
    momentary = window_powers(energy, rate, BLOCK_SECONDS, 1.0 - OVERLAP)
    if len(audio) < SHORT_TERM_SECONDS * rate:
        return levels_of(peak, momentary)
    return levels_of(peak, momentary, window_powers(energy, rate, SHORT_TERM_SECONDS,
                                                    BLOCK_SECONDS * (1.0 - OVERLAP) / SHORT_TERM_SECONDS))


def levels_of(peak: float, momentary: np.ndarray | None = None, short: np.ndarray | None = None) -> Levels:
    """The five values from the linear true peak and the 400 ms and 3 s window powers (None: too short
    for any)."""
    tp = _rounded(20.0 * math.log10(peak)) if peak > 0 else None
    if momentary is None or not len(momentary):
        return Levels(true_peak=tp)
    integrated, loudest = _rounded(_gated(momentary)), _rounded(_lufs(momentary.max()))
    if short is None or not len(short):
        return Levels(integrated=integrated, true_peak=tp, max_momentary=loudest)
    return Levels(integrated, _range(short), tp, loudest, _rounded(_lufs(short.max())))


def _range(short: np.ndarray) -> float | None:
    """Loudness range (EBU Tech 3342) of the short-term window powers."""
    with np.errstate(divide="ignore"):
        lufs = _OFFSET + 10.0 * np.log10(short)
    loud = lufs >= ABSOLUTE_GATE
    if not loud.any():
        return None
    relative = _OFFSET + 10.0 * np.log10(np.mean(short[loud])) + RANGE_RELATIVE_GATE
    kept = lufs[loud & (lufs >= relative)]
    low, high = np.percentile(kept, RANGE_PERCENTILES)
    return _rounded(float(high - low))


def _lufs(power: float) -> float:
    return _OFFSET + 10.0 * math.log10(power) if power > 0 else float("-inf")


def _rounded(value: float) -> float | None:
    return round(value, 2) if math.isfinite(value) else None
