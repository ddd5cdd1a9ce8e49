"""An R128 meter fed block by block: the five values a stem's bext carries (integrated loudness, range,
true peak, loudest momentary and short-term loudness) for a programme too long to hold whole.

`loudness.measure` reads a take in one piece; a timeline's stem is written 30 s at a time and may run
for hours (an hour of 48 kHz audio is 0.7 GB as float32, 1.4 GB K-weighted). Every R128 value is made of
100 ms energies — a 400 ms block is four, a 3 s window thirty — so this keeps one running energy per
100 ms step (36 000 an hour) and the filters' state between blocks: the K-weighting's overlap-add tail,
soxr's stream and the last input samples the meters' 4× interpolators reach back to. Fed in any
pieces, it reads what `loudness.measure` reads of the whole (tests/test_loudness.py).
"""
from __future__ import annotations


import numpy as np
import soxr

from . import loudness
from .loudness import Levels

_STEP_SECONDS = loudness.BLOCK_SECONDS * (1.0 - loudness.OVERLAP)     # 100 ms
_BLOCK_STEPS = round(loudness.BLOCK_SECONDS / _STEP_SECONDS)           # 4
_SHORT_STEPS = round(loudness.SHORT_TERM_SECONDS / _STEP_SECONDS)      # 30


class Meter:
    """Feed it with `add`, read it once with `levels` (which flushes the filters: nothing is added after)."""

    def __init__(self, rate: int):
        self.rate, self.n, self.total, self.result = rate, 0, 0.0, None
        self.tail = np.zeros(len(loudness._k_weighting(rate)) - 1)   # the K-weighting's ring into the next block
        self.at_steps = [0.0]                                     # running energy at each 100 ms boundary
        factor = loudness.oversampling(rate)
        self.stream = soxr.ResampleStream(rate, rate * factor, 1, dtype="float32", quality="HQ") if factor > 1 else None
        self.history = [np.zeros(phases.shape[1] - 1, np.float32) for phases, _ in loudness._INTERPOLATORS]
        self.peak = 0.0

    def add(self, block: np.ndarray) -> None:
        if self.result is not None:
            raise RuntimeError("this meter has been read: a new programme needs a new Meter")
        x = np.asarray(block, np.float32).reshape(-1)
        if not len(x):
            return
        self._energy(self._k_weighted(x))
        self._true_peak(x, last=False)
        self.n += len(x)

    def levels(self) -> Levels:
        """The programme's values (the interpolators' rings after its last sample counted)."""
        if self.result is None:
            self._true_peak(np.zeros(0, np.float32), last=True)
            self.result = self._levels()
        return self.result

    def _levels(self) -> Levels:
        steps = np.diff(np.asarray(self.at_steps))
        momentary = _windows(steps, _BLOCK_STEPS) / (loudness.BLOCK_SECONDS * self.rate)
        short = _windows(steps, _SHORT_STEPS) / (loudness.SHORT_TERM_SECONDS * self.rate)
        return loudness.levels_of(self.peak, momentary, short)

    def _k_weighted(self, x: np.ndarray) -> np.ndarray:
        y = loudness.k_convolved(x.astype(np.float64), self.rate)
        y[: len(self.tail)] += self.tail
        self.tail = y[len(x):].copy()
        return y[: len(x)]

    def _energy(self, weighted: np.ndarray) -> None:
        """The running energy at every 100 ms boundary this block reaches (boundaries as window_powers
        places them: int(seconds × rate))."""
        running = self.total + np.cumsum(np.square(weighted))
        while True:
            boundary = int(len(self.at_steps) * _STEP_SECONDS * self.rate)
            if boundary > self.n + len(weighted):
                break
            self.at_steps.append(float(running[boundary - self.n - 1]) if boundary > self.n else self.total)
        self.total = float(running[-1])

    def _true_peak(self, x: np.ndarray, last: bool) -> None:
        if self.stream is not None and (len(x) or last):
            up = self.stream.resample_chunk(x, last=last)
            self.peak = max(self.peak, float(np.max(np.abs(up), initial=0.0)))
        self.peak = max(self.peak, float(np.max(np.abs(x), initial=0.0)))
        for i, (phases, _) in enumerate(loudness._INTERPOLATORS):
            seg = np.concatenate([self.history[i], x if not last else np.zeros(phases.shape[1] - 1, np.float32)])
            self.peak = max(self.peak, float(np.max(loudness.fir_outputs(seg, phases), initial=0.0)))
            self.history[i] = seg[len(seg) - (phases.shape[1] - 1):]


def _windows(steps: np.ndarray, width: int) -> np.ndarray:
    """Energy of every run of `width` consecutive 100 ms steps (whole windows only; none if fewer)."""
    if len(steps) < width:
        return np.zeros(0)
    running = np.concatenate([[0.0], np.cumsum(steps)])
    return np.maximum(running[width:] - running[:-width], 0.0)
