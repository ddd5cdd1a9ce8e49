"""Where takes overlap in a stem. Each take keeps the true-peak ceiling on its own; two characters
speaking at once sum above it — up to 6 dB, past full scale, where a 24-bit WAV clips hard. The stem
limits only there: the true-peak limiter (engine/limiter.py) holds the samples where two or more takes
sound to the ceiling, its ramps reaching a few ms before and at most MARGIN_SECONDS after, and leaves
every other sample as the takes have it (the stem still nulls against them away from overlaps).

Computed per block of the streamed mix, over the block and MARGIN_SECONDS either side, so a peak just
outside the block shapes its ramps inside it exactly as a whole-stem pass would.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from takefit.engine.audio import AIM_UNDER_DB      # the takes' own aim under the ceiling: the stem's too
from takefit.engine.limiter import RELEASE_DB_PER_MS, Limiter

MAX_REDUCTION_DB = 50.0     # 316 takes at once at the ceiling: more than any timeline stacks
MARGIN_SECONDS = MAX_REDUCTION_DB / RELEASE_DB_PER_MS / 1000.0   # the release back from that, 0.5 s

Mix = Callable[[int, int], np.ndarray]          # (first sample, end sample) → the takes summed there


def overlap_gain(spans: Sequence[tuple[int, int]], first: int, end: int, rate: int, ceiling_db: float,
                 mix: Mix) -> np.ndarray | None:
    """The linear gain for stem samples [first, end) that holds the takes' sum under `ceiling_db` where
    two or more of `spans` (each take's [start, end) in samples) sound at once; None where none overlap
    near the block or their sum stays under."""
    margin = int(MARGIN_SECONDS * rate)
    lo, hi = max(0, first - margin), end + margin
    over = coverage(spans, lo, hi) >= 2
    if not over.any():
        return None
    gain_db = np.zeros(hi - lo)
    for a, b in _runs(over, 2 * margin):
        a, b = max(0, a - margin), min(hi - lo, b + margin)
        gain_db[a:b] = Limiter(mix(lo + a, lo + b), rate).gain_db(ceiling_db - AIM_UNDER_DB, over[a:b])
    gain_db = gain_db[first - lo:end - lo]
    return None if gain_db.min() >= 0.0 else (10.0 ** (gain_db / 20.0)).astype(np.float32)


def coverage(spans: Sequence[tuple[int, int]], lo: int, hi: int) -> np.ndarray:
    """How many spans sound at each sample of [lo, hi)."""
    steps = np.zeros(hi - lo + 1, np.int32)
    for start, stop in spans:
        a, b = max(start, lo), min(stop, hi)
        if b > a:
            steps[a - lo] += 1
            steps[b - lo] -= 1
    return np.cumsum(steps[:-1])


def _runs(mask: np.ndarray, join: int) -> list[tuple[int, int]]:
    """[start, end) of each run of True in `mask`, runs less than `join` apart taken as one (their
    limiter ramps would meet)."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    runs: list[tuple[int, int]] = []
    for a, b in zip(edges[::2].tolist(), edges[1::2].tolist()):
        if runs and a - runs[-1][1] < join:
            runs[-1] = (runs[-1][0], b)
        else:
            runs.append((a, b))
    return runs
