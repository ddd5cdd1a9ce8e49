"""Emotion in the prosody half of the style vector.

Kokoro's predictors (durations, F0, energy) read style[:, 128:], the decoder reads style[:, :128]. The
built-in voices differ in that prosody half in ways that carry delivery: across the en + zh voices,
directions exist along which the predictors speak slower, with a wider pitch range, or with more
vocal effort (bench/emotion_style_directions.py derives them and measures their effect on voices it
did not derive them from). An emotion moves the prosody half along these directions, so the model
itself places the livelier or flatter contour, the longer or shorter segments, the stronger or
weaker syllables; the explicit transforms in delivery.py then calibrate each line's totals to the
documented table. The timbre half is never moved.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from .delivery import Delivery

DIRECTIONS_FILE = "style-directions-v1.json"
FEATURES = ("log_duration", "f0_range_st", "energy_n")   # what each direction was fitted to change
SHARE = 0.6        # the share of each documented change the style is asked to produce (the rest: calibration)
MAX_MOVE = 2.0     # per direction, in standard deviations of the built-in voices along it (stays on-manifold)
F0_SPREAD_ST = 3.0  # typical F0 standard deviation of a neutral line (semitones): f0_range → Δ st


@dataclass(frozen=True)
class StyleDirections:
    units: np.ndarray      # (3, 128): one voice-spread standard deviation along each direction
    effects: np.ndarray    # (3, 3): feature change (rows: FEATURES) per unit move (columns: directions)

    def move(self, d: Delivery) -> np.ndarray:
        """The prosody-half offset (128,) asking the predictors for SHARE of the delivery's changes."""
        want = SHARE * np.array([-math.log(d.rate), (d.f0_range - 1.0) * F0_SPREAD_ST, d.energy])
        if not np.any(want):
            return np.zeros(self.units.shape[1], np.float32)
        coef = np.linalg.solve(self.effects, want)
        coef = np.clip(coef, -MAX_MOVE, MAX_MOVE)
        return (coef @ self.units).astype(np.float32)

    def apply(self, style: np.ndarray, d: Delivery) -> np.ndarray:
        """A copy of a (1, 256) style row with the prosody half moved; the timbre half is kept bit-exact."""
        out = np.array(style, dtype=np.float32, copy=True).reshape(1, 256)
        out[0, 128:] += self.move(d)
        return out


@lru_cache(maxsize=1)
def directions() -> StyleDirections:
    data = json.loads(resources.files(__package__).joinpath(DIRECTIONS_FILE).read_text("utf-8"))
    return StyleDirections(units=np.asarray(data["units"], np.float32),
                           effects=np.asarray(data["effects"], np.float64))


__all__ = ["StyleDirections", "directions", "FEATURES", "SHARE", "MAX_MOVE"]
