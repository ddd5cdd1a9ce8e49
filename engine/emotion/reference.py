"""Emotion from a reference clip: measure its delivery (pitch range in semitones, syllable rate, energy
dynamics, pauses) and transfer it, relative to a neutral reading, onto the line being rendered.

Measurement is numpy only (no Praat in the core): a normalised-autocorrelation pitch tracker
(10 ms hop, 60-600 Hz) and syllable nuclei counted as peaks of the voiced intensity contour with
a ≥ 4 dB dip between them (after de Jong & Wempe 2009, "Praat script to detect syllable nuclei").
The clip's absolute pitch and level say more about its speaker and microphone than its emotion, so
only within-clip measures are transferred; how aroused the clip sounds (range, rate, dynamics above
their neutral norms) sets the pitch-level and loudness change. The neutral norms were measured with
this same analyser on neutral takefit renderings (docs/emotion.md).
"""
from __future__ import annotations

import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .delivery import DIRECTIONS, Delivery, blend, NEUTRAL_DELIVERY
from .spec import reference_stat
from .vector import EMOTIONS, Vector

RATE = 16000
HOP = 160                    # 10 ms
WIN = 640                    # 40 ms: two periods of 50 Hz
F0_LO, F0_HI = 60.0, 600.0
MIN_SECONDS, MAX_SECONDS = 1.0, 60.0
NUCLEUS_DIP_DB = 4.0

# Neutral norms: medians of this analyser on neutral takefit renderings (6 lines, en + zh, 4 voices;
# the tracker agreed with Praat to a median 0.15-0.3 st). docs/emotion.md has the measurement.
NORM_RANGE_ST = 8.6          # 90th − 10th percentile of voiced F0, semitones
NORM_SYLLABLES = 4.0         # syllable nuclei per second of speech (pauses excluded)
NORM_DYNAMICS_DB = 7.1       # standard deviation of the active-frame level, dB
NORM_PAUSE = 0.05            # share of the active span that is pause (≥ 100 ms of silence)


@dataclass(frozen=True)
class ClipProsody:
    seconds: float
    f0_mean_hz: float
    range_st: float
    syllables_per_s: float
    dynamics_db: float
    pause_share: float

    def to_json(self) -> dict:
        return {k: round(float(v), 3) for k, v in self.__dict__.items()}


def load_clip(path) -> np.ndarray:
    import soundfile as sf
    import soxr

    p = Path(path)
    reference_stat(p)                        # a regular file of bounded size, or a clear error
    # O_NONBLOCK: should the path have become a FIFO since the check, opening it must not wait for a writer
    fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputError(f"emotion reference clip {p} is not a regular file; give a WAV, FLAC or OGG file")
        with os.fdopen(fd, "rb", closefd=False) as f, sf.SoundFile(f) as clip:
            sr = clip.samplerate
            # the first minute says enough about a delivery: never read (or hold) more
            audio = clip.read(frames=int(MAX_SECONDS * sr), dtype="float32", always_2d=True)
    except InputError:
        raise
    except Exception as e:  # soundfile raises its own error type for every unreadable format
        raise InputError(f"emotion reference clip {p} is not a readable audio file (WAV, FLAC, OGG): {e}") from None
    finally:
        os.close(fd)
    audio = audio.mean(axis=1)
    seconds = len(audio) / sr
    if seconds < MIN_SECONDS:
        raise InputError(f"emotion reference clip {p} is {seconds:.2f} s; give at least {MIN_SECONDS:g} s of speech")
    return soxr.resample(audio, sr, RATE).astype(np.float32) if sr != RATE else audio


def _frames(x: np.ndarray) -> np.ndarray:
    n = 1 + max(0, (len(x) - WIN) // HOP)
    idx = np.arange(WIN)[None, :] + HOP * np.arange(n)[:, None]
    return np.pad(x, (0, WIN))[idx]


def pitch_track(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(F0 in Hz or 0 where unvoiced, frame level in dB) every 10 ms."""
    fr = _frames(x) * np.hanning(WIN)
    level = 10 * np.log10(np.mean(fr ** 2, axis=1) + 1e-10)
    spec = np.fft.rfft(fr, 2 * WIN, axis=1)
    ac = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, :WIN]
    # divide by the window's own autocorrelation so long lags are not penalised
    wac = np.fft.irfft(np.abs(np.fft.rfft(np.hanning(WIN), 2 * WIN)) ** 2)[:WIN]
    nccf = ac / (ac[:, :1] + 1e-12) / np.maximum(wac / wac[0], 1e-3)
    lo, hi = int(RATE / F0_HI), int(RATE / F0_LO)
    lag = lo + np.argmax(nccf[:, lo:hi], axis=1)
    peak = nccf[np.arange(len(lag)), lag]
    # parabolic interpolation around the peak lag
    a, b, c = (nccf[np.arange(len(lag)), np.clip(lag + d, 0, WIN - 1)] for d in (-1, 0, 1))
    shift = 0.5 * (a - c) / np.where(np.abs(a - 2 * b + c) > 1e-9, a - 2 * b + c, 1e-9)
    f0 = RATE / (lag + np.clip(shift, -0.5, 0.5))
    voiced = (peak > 0.6) & (level > level.max() - 35)
    # octave-jump guard: drop frames more than an octave from the running median
    f0 = np.where(voiced, f0, 0.0)
    v = f0 > 0
    if v.sum() > 5:
        med = np.median(f0[v])
        f0[v & ((f0 > 2 * med) | (f0 < med / 2))] = 0.0
    return f0, level


def measure(x: np.ndarray) -> ClipProsody:
    f0, level = pitch_track(x)
    voiced = f0 > 0
    if voiced.sum() < 20:
        raise InputError("emotion reference clip has too little voiced speech to measure (under 0.2 s); "
                         "give a clip of someone speaking")
    st = 12 * np.log2(f0[voiced])
    active = level > level.max() - 30
    first, last = np.flatnonzero(active)[[0, -1]]
    span = active[first:last + 1]
    # pauses: runs of ≥ 10 inactive frames (100 ms) inside the active span
    pause_frames, run = 0, 0
    for a in span:
        run = 0 if a else run + 1
        if run == 10:
            pause_frames += 10
        elif run > 10:
            pause_frames += 1
    speech_s = max((len(span) - pause_frames) * HOP / RATE, 0.1)
    # syllable nuclei: voiced peaks of the smoothed level with a ≥ 4 dB dip between them (4 dB and a
    # 50 ms smoother counted the same line read at different rates most consistently: ±6 %)
    sm = np.convolve(level, np.ones(5) / 5, mode="same")
    peaks, last_peak, dip = 0, None, np.inf
    for i in range(1, len(sm) - 1):
        dip = min(dip, sm[i])
        if sm[i] >= sm[i - 1] and sm[i] > sm[i + 1] and voiced[max(0, i - 2):i + 3].any() and \
                sm[i] > level.max() - 25:
            if last_peak is None or (min(sm[i], last_peak) - dip) >= NUCLEUS_DIP_DB:
                peaks += 1
                last_peak, dip = sm[i], np.inf
            elif sm[i] > last_peak:
                last_peak = sm[i]
    act = level[first:last + 1][span]
    return ClipProsody(
        seconds=len(x) / RATE, f0_mean_hz=float(2 ** (st.mean() / 12)),
        range_st=float(np.percentile(st, 90) - np.percentile(st, 10)),
        syllables_per_s=peaks / speech_s, dynamics_db=float(np.std(act)),
        pause_share=pause_frames / max(len(span), 1))


def delivery_from(p: ClipProsody) -> Delivery:
    """The clip's delivery relative to the neutral norms."""
    rng = float(np.clip(p.range_st / NORM_RANGE_ST, 0.5, 1.6))
    # syllable counts without the text are noisy (±10 % on a 5 s clip), so the rate moves less
    rate = float(np.clip(p.syllables_per_s / NORM_SYLLABLES, 0.85, 1.15))
    # a clip without pauses says nothing about pause length
    pause = float(np.clip(p.pause_share / NORM_PAUSE, 0.7, 1.5)) if p.pause_share > 0 else 1.0
    dyn = p.dynamics_db / NORM_DYNAMICS_DB
    # arousal in [-1, 1]: wide range and fast speech are aroused, narrow and slow low; the level's
    # dynamics count less (they depend on the recording as much as on the speaker)
    arousal = float(np.clip(0.6 * math.log(rng) / math.log(1.45) + 0.2 * math.log(rate) / math.log(1.12)
                            + 0.2 * math.log(max(dyn, 0.3)) / math.log(1.4), -1.0, 1.0))
    return Delivery(f0_shift=2.5 * arousal, f0_range=rng, energy=1.0 * arousal, gain_db=4.0 * arousal,
                    rate=rate, pause=pause)


def nearest_vector(d: Delivery) -> Vector:
    """The emotion mixture whose delivery points the same way (cosine over pitch level, log range,
    log rate and level), scaled by how far it goes: the 8-vector a clip maps to, for display."""
    def feats(x: Delivery) -> np.ndarray:
        return np.array([x.f0_shift / 3.0, math.log(x.f0_range) / math.log(1.4), math.log(x.rate) / math.log(1.1),
                         x.gain_db / 4.0])

    f = feats(d)
    norm = float(np.linalg.norm(f))
    if norm < 0.15:                      # barely different from neutral: calm
        return tuple(1.0 if e == "calm" else 0.0 for e in EMOTIONS)  # type: ignore[return-value]
    A = np.stack([feats(DIRECTIONS[e]) for e in EMOTIONS])
    cos = A @ f / (np.linalg.norm(A, axis=1) * norm)
    w = np.where(cos >= np.sort(cos)[-2], np.maximum(cos, 0.0) ** 2, 0.0)   # the two closest, if aligned
    if w.sum() == 0:
        return tuple(1.0 if e == "calm" else 0.0 for e in EMOTIONS)  # type: ignore[return-value]
    w = w / w.max() * min(1.0, norm / float(np.linalg.norm(A[int(np.argmax(w))])))
    return tuple(round(float(v), 4) for v in w)  # type: ignore[return-value]


def analyse(path) -> ClipProsody:
    return measure(load_clip(path))


def transfer(path, alpha: float = 1.0) -> tuple[Vector, Delivery]:
    """(the 8-vector the clip maps to, the delivery to render: neutral → the clip's by alpha)."""
    d = delivery_from(analyse(path))
    vec = nearest_vector(d)
    return tuple(round(v * alpha, 4) for v in vec), blend(NEUTRAL_DELIVERY, d, alpha)  # type: ignore[return-value]


__all__ = ["ClipProsody", "analyse", "measure", "transfer", "delivery_from", "nearest_vector", "pitch_track"]
