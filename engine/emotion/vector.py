"""The 8-float emotion vector (IndexTTS2's order) and its validation.

    [happy, angry, sad, afraid, disgusted, melancholic, surprised, calm]

Each value is a weight 0-1; several non-zero weights blend (a mixture). The all-zero vector is the
speaker's neutral reading. `alpha` (IndexTTS2's emo_alpha, 0-1) scales the whole emotion.
"""
from __future__ import annotations

import math
from typing import Iterable

from ..errors import InputError

EMOTIONS = ("happy", "angry", "sad", "afraid", "disgusted", "melancholic", "surprised", "calm")
DIM = len(EMOTIONS)
Vector = tuple[float, float, float, float, float, float, float, float]
NEUTRAL: Vector = (0.0,) * DIM  # type: ignore[assignment]


def _number(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:  # numpy scalars and numeric strings from TOML/CLI
            value = float(value)
        except (TypeError, ValueError):
            raise InputError(f"{what} must be a number, got {type(value).__name__} {value!r}"[:160]) from None
    v = float(value)
    if not math.isfinite(v):
        raise InputError(f"{what} must be a finite number, got {value!r}")
    return v


def check_vector(values: Iterable, what: str = "emotion vector") -> Vector:
    """A validated vector as a tuple of 8 floats; InputError names the problem and the accepted form."""
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
        raise InputError(f"{what} must be a list of {DIM} numbers 0-1 in the order "
                         f"[{', '.join(EMOTIONS)}], got {type(values).__name__}")
    items = list(values)
    if len(items) != DIM:
        raise InputError(f"{what} has {len(items)} value(s); it needs exactly {DIM}, in the order "
                         f"[{', '.join(EMOTIONS)}]")
    out = []
    for name, v in zip(EMOTIONS, items):
        x = _number(v, f"{what} value for {name}")
        if not 0.0 <= x <= 1.0:
            raise InputError(f"{what} value for {name} is {x:g}; each value must be 0 to 1")
        out.append(round(x, 6))
    return tuple(out)  # type: ignore[return-value]


def check_alpha(value, what: str = "emo_alpha") -> float:
    x = _number(value, what)
    if not 0.0 <= x <= 1.0:
        raise InputError(f"{what} is {x:g}; it must be 0 (no emotion) to 1 (full emotion)")
    return round(x, 6)


def check_intensity(value, what: str = "emotion intensity") -> float:
    x = _number(value, what)
    if not 0.0 <= x <= 1.0:
        raise InputError(f"{what} is {x:g}; it must be 0 to 1 (or 0% to 100%)")
    return round(x, 4)


def normalized(vector: Vector) -> Vector:
    """Weights summing to more than 1 are a mixture: keep the proportions, cap the total at 1."""
    s = sum(vector)
    return tuple(v / s for v in vector) if s > 1.0 else vector  # type: ignore[return-value]


def scaled(vector: Vector, factor: float) -> Vector:
    return tuple(round(v * factor, 6) for v in vector)  # type: ignore[return-value]


def dominant(vector: Vector) -> list[tuple[str, float]]:
    """(name, weight) pairs, strongest first."""
    return sorted(zip(EMOTIONS, vector), key=lambda p: -p[1])
