"""Where the sound is: the speech span of a take, measured on the audio, not on the token lengths.

Speech is every 10 ms frame whose energy lies within FLOOR_DB of the loudest frame (the same rule
bench/fill.py and the issue's measurements use), so a phrase-final vowel the decoder renders as
near-silence does not count, and neither does a breath 50 dB down.
"""
from __future__ import annotations

import numpy as np

HOP_SECONDS = 0.01
FLOOR_DB = 40.0
_EPS = 1e-20


def frame_levels(audio: np.ndarray, rate: int, hop_seconds: float = HOP_SECONDS) -> np.ndarray:
    """Energy per hop in dB (mean square), the last partial hop included."""
    hop = max(1, int(round(rate * hop_seconds)))
    n = -(-len(audio) // hop)
    padded = np.zeros(n * hop, np.float64)
    padded[:len(audio)] = audio
    return 10.0 * np.log10(np.mean(padded.reshape(n, hop) ** 2, axis=1) + _EPS)


def speech_span(audio: np.ndarray, rate: int, floor_db: float = FLOOR_DB,
                hop_seconds: float = HOP_SECONDS) -> tuple[int, int] | None:
    """(first, end) sample of the speech: first sample of the first loud hop, end of the last one
    (clamped to the audio). None for silence."""
    if len(audio) == 0 or not np.any(np.abs(audio) > 1e-7):
        return None
    levels = frame_levels(audio, rate, hop_seconds)
    loud = np.nonzero(levels >= levels.max() - floor_db)[0]
    hop = max(1, int(round(rate * hop_seconds)))
    return int(loud[0] * hop), int(min(len(audio), (loud[-1] + 1) * hop))


def onset_after(audio: np.ndarray, rate: int, start: int, stop: int, floor_db: float = FLOOR_DB,
                hop_seconds: float = 0.0025, quiet_seconds: float = 0.015, held_seconds: float = 0.01) -> int | None:
    """The first sample in [start, stop) where the sound rises above the speech floor after at least
    `quiet_seconds` below it and stays above for `held_seconds`: the onset of a word that follows a
    pause (a blip in the pause is not one). None if the stretch holds no such rise."""
    if len(audio) == 0:
        return None
    ref = frame_levels(audio, rate).max() - floor_db     # the floor of the whole take, 10 ms hops
    hop = max(1, int(round(rate * hop_seconds)))
    start, stop = max(0, start), min(len(audio), stop)
    if stop - start < 2 * hop:
        return None
    loud = frame_levels(audio[start:stop], rate, hop_seconds) >= ref
    need_quiet, need_held = max(1, round(quiet_seconds / hop_seconds)), max(1, round(held_seconds / hop_seconds))
    quiet = 0
    for i, is_loud in enumerate(loud):
        if not is_loud:
            quiet += 1
        elif quiet >= need_quiet and loud[i:i + need_held].all():
            return start + i * hop
        elif quiet:
            quiet = 0 if loud[i:i + need_held].all() else quiet
    return None
