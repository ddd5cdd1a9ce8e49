"""Line the reference up with the model: per-token durations and the F0 curve the decoder is fed.

Durations: the duration stage's prediction rescaled to the reference's length, then refined by
dynamic time warping of MFCCs between a first render and the reference (token boundaries follow the
warping path). F0: the reference's own track where it is voiced, the prosody stage's curve × the
pitch ratio elsewhere — 2 values per 25 ms frame, as the prosody stage gives it.
"""
from __future__ import annotations

import numpy as np

from ..kokoro import FRAME_SAMPLES, SAMPLE_RATE

HALF = FRAME_SAMPLES // 2          # F0 / energy hop: 12.5 ms
F0_MIN, F0_MAX = 50.0, 600.0


def integer_durations(weights: np.ndarray, total: int) -> np.ndarray:
    """Positive integer durations proportional to `weights`, summing exactly to `total` (cumulative rounding)."""
    w = np.maximum(np.asarray(weights, np.float64), 1e-6)
    edges = np.round(np.cumsum(w) / w.sum() * total).astype(int)
    d = np.diff(np.concatenate([[0], edges]))
    # every token keeps ≥ 1 frame: borrow from the longest
    while (d < 1).any():
        d[np.argmax(d)] -= 1
        d[np.argmin(d)] += 1
    return d.astype(np.float32)


def f0_track(wav: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(F0 in Hz, voiced flag) every 12.5 ms, centred like the prosody stage's curve (Praat's
    autocorrelation pitch via parselmouth: accurate and ~50× faster than pYIN)."""
    import parselmouth

    snd = parselmouth.Sound(np.asarray(wav, np.float64), sampling_frequency=SAMPLE_RATE)
    pitch = snd.to_pitch_ac(time_step=HALF / SAMPLE_RATE, pitch_floor=F0_MIN, pitch_ceiling=F0_MAX)
    n = len(wav) // HALF
    grid = (np.arange(n) + 0.5) * HALF / SAMPLE_RATE
    freq = pitch.selected_array["frequency"]
    if len(freq) == 0:
        return np.zeros(n), np.zeros(n, bool)
    f0 = np.interp(grid, pitch.xs(), freq, left=0.0, right=0.0)
    voiced = np.interp(grid, pitch.xs(), (freq > 0).astype(float), left=0.0, right=0.0) > 0.99
    return np.where(voiced, f0, 0.0), voiced


def median_f0(wav: np.ndarray) -> float:
    f0, voiced = f0_track(wav)
    return float(np.median(f0[voiced])) if voiced.sum() >= 5 else float("nan")


def _mfcc(wav: np.ndarray) -> np.ndarray:
    import librosa

    m = librosa.feature.mfcc(y=wav.astype(np.float32), sr=SAMPLE_RATE, n_mfcc=20, n_fft=4 * HALF, hop_length=HALF)[1:]
    return (m - m.mean(axis=1, keepdims=True)) / (m.std(axis=1, keepdims=True) + 1e-6)


def refine(frames: np.ndarray, render: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Move token boundaries along the MFCC DTW path from `render` (made with `frames`) to `reference`."""
    import librosa

    a, b = _mfcc(render), _mfcc(reference)
    _, path = librosa.sequence.dtw(X=a, Y=b, metric="euclidean")
    path = path[::-1]
    # for each render half-frame, the mean reference half-frame it is matched with
    to_ref = np.zeros(a.shape[1])
    for i in range(a.shape[1]):
        to_ref[i] = path[path[:, 0] == i, 1].mean()
    total = int(frames.sum())
    bounds = np.cumsum(frames)[:-1] * 2                      # token boundaries in half-frames
    mapped = np.interp(bounds, np.arange(len(to_ref)), to_ref) / 2
    edges = np.concatenate([[0.0], np.maximum.accumulate(mapped), [float(total)]])
    return integer_durations(np.maximum(np.diff(edges), 0.3), total)


def decoder_f0(predicted: np.ndarray, ratio: float, reference: np.ndarray) -> np.ndarray:
    """The decoder's F0 input (shaped as `predicted`, 2 per frame): the reference's F0 where voiced, else predicted × ratio."""
    from ..kokoro.model import scale_f0

    pred = scale_f0(np.asarray(predicted, np.float32).reshape(-1), ratio)
    f0, voiced = f0_track(reference)
    n = len(pred)
    if len(f0) < n:
        f0, voiced = np.pad(f0, (0, n - len(f0))), np.pad(voiced, (0, n - len(voiced)))
    f0, voiced = f0[:n], voiced[:n]
    out = np.where(voiced, f0, pred).astype(np.float32)
    return out.reshape(np.shape(predicted))
