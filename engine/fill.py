"""Slot filling: put the measured speech where the picture needs it.

The decoder's output is measured (engine/speech.py), never assumed: its speech span and the onsets
of pinned words are *anchors* in the rendered audio, each with a place in the take (speech start at
the lead handle, pinned words at their marks, the last sound's end at the slot end minus the tail
handle). `place` maps every anchor onto its place, piece by piece: each piece between two anchors
is time-scaled by its own factor (Rubber Band, with context on both sides so its edges are not
edges to the stretcher) and neighbouring pieces meet in a 10 ms cross-fade, so a join inside a
pause or at a phoneme boundary does not click. Positions are samples at the model's 24 kHz.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import audio

CROSSFADE = 240        # samples at 24 kHz (10 ms): where two pieces meet
CONTEXT = 2400         # samples of neighbouring audio each piece is stretched with (100 ms)
EDGE_FADE_IN = 60      # 2.5 ms: the take never starts on a step
EDGE_FADE_OUT = 240    # 10 ms: the tail handle ends in silence, not a cut


@dataclass(frozen=True)
class Anchor:
    source: float      # sample in the rendered audio
    place: float       # sample in the take's body

    def __post_init__(self):
        if not (np.isfinite(self.source) and np.isfinite(self.place)):
            raise ValueError(f"anchor {self} must be finite")


def check_anchors(anchors: list[Anchor]) -> None:
    if len(anchors) < 2:
        raise ValueError("at least two anchors (speech start and end) are needed")
    for a, b in zip(anchors, anchors[1:]):
        if not (b.source > a.source and b.place > a.place):
            raise ValueError(f"anchors out of order: {a} then {b}")


def map_position(source: float, anchors: list[Anchor]) -> float:
    """Where a sample of the rendered audio lands in the take (piecewise linear, the outer pieces
    extended with their own factor)."""
    i = int(np.clip(np.searchsorted([a.source for a in anchors], source) - 1, 0, len(anchors) - 2))
    a, b = anchors[i], anchors[i + 1]
    return a.place + (source - a.source) * (b.place - a.place) / (b.source - a.source)


def _piece(wav: np.ndarray, src0: float, src1: float, dst0: int, dst1: int, factor: float,
           pad: int) -> np.ndarray:
    """Samples dst0..dst1 of the take, taken from the source around src0..src1 scaled by `factor`
    (source positions outside the audio read as silence; `pad` zeros surround `wav`)."""
    lo = int(np.floor(src0 - CONTEXT))
    hi = int(np.ceil(src1 + CONTEXT))
    chunk = wav[pad + lo: pad + hi]
    if abs(factor - 1.0) < 1e-4:
        scaled = chunk
        factor = 1.0
    else:
        scaled = audio.stretch(chunk, 24000, max(1, int(round(len(chunk) * factor))))
    start = int(round((src0 - lo) * factor))
    out = scaled[start: start + (dst1 - dst0)]
    if len(out) < dst1 - dst0:
        out = np.concatenate([out, np.zeros(dst1 - dst0 - len(out), np.float32)])
    return out


def place(wav: np.ndarray, anchors: list[Anchor], length: int, stretch: bool = True) -> np.ndarray:
    """The take's body (`length` samples): `wav` mapped so that every anchor's source lands on its
    place. Without `stretch` each piece keeps its own pace and is only moved (whole-frame fitting
    already made it the right length); its end is cut or padded inside the join's cross-fade."""
    check_anchors(anchors)
    half = CROSSFADE // 2
    bounds = [0] + [int(round(a.place)) for a in anchors[1:-1]] + [length]
    pad = 2 * length + 4 * CONTEXT + int(max(abs(a.source - a.place) for a in anchors))
    padded = np.concatenate([np.zeros(pad, np.float32), wav.astype(np.float32), np.zeros(pad, np.float32)])
    out = np.zeros(length + 2 * half, np.float64)
    for j in range(len(anchors) - 1):
        a, b = anchors[j], anchors[j + 1]
        factor = (b.place - a.place) / (b.source - a.source) if stretch else 1.0
        d0 = bounds[j] - (half if j > 0 else 0)
        d1 = bounds[j + 1] + (half if j < len(anchors) - 2 else 0)
        s0 = a.source + (d0 - a.place) / factor
        s1 = a.source + (d1 - a.place) / factor
        piece = _piece(padded, s0, s1, d0, d1, factor, pad).astype(np.float64)
        if not stretch and j < len(anchors) - 2:
            # an unstretched piece longer than its place must not sound the next word a second time:
            # it stops (with the join's fade) where the next anchor's sound begins
            stop = int(round(b.source - s0)) + CROSSFADE // 2
            if 0 <= stop < len(piece):
                fade = min(CROSSFADE, stop)
                piece[stop - fade:stop] *= np.linspace(1.0, 0.0, fade)
                piece[stop:] = 0.0
        ramp = np.ones(len(piece))
        if j > 0:
            ramp[:CROSSFADE] = np.linspace(0.0, 1.0, CROSSFADE)
        if j < len(anchors) - 2:
            ramp[-CROSSFADE:] = np.minimum(ramp[-CROSSFADE:], np.linspace(1.0, 0.0, CROSSFADE))
        out[half + d0: half + d1] += piece * ramp
    body = out[half: half + length].astype(np.float32)
    return fade_edges(body)


def fade_edges(body: np.ndarray) -> np.ndarray:
    """A short fade at both ends, in place: a body cut out of a longer render never starts or ends on a step."""
    n_in, n_out = min(EDGE_FADE_IN, len(body)), min(EDGE_FADE_OUT, len(body))
    body[:n_in] *= np.linspace(0.0, 1.0, n_in, dtype=np.float32)
    if n_out:
        body[-n_out:] *= np.linspace(1.0, 0.0, n_out, dtype=np.float32)
    return body
