"""Emotion, separate from timbre: IndexTTS2's 8-float vector, presets, and the request forms.

    from takefit.engine.emotion import Emotion, EMOTIONS
    Emotion("angry", 0.7).fixed_vector()   # (0.0, 0.7, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)

The data model (this package's vector, presets and spec modules) is light; rendering (delivery),
text mapping and reference analysis load on first use.
"""
from .presets import ALIASES, NAMES_ZH, canonical, preset_vector, resolve
from .spec import KINDS, WIRE_HELP, Emotion, parse_intensity, reference_identity, reference_stat
from .vector import (DIM, EMOTIONS, NEUTRAL, Vector, check_alpha, check_intensity, check_vector, dominant,
                     normalized, scaled)

__all__ = ["Emotion", "EMOTIONS", "DIM", "NEUTRAL", "Vector", "ALIASES", "NAMES_ZH", "KINDS", "WIRE_HELP",
           "canonical", "resolve", "preset_vector", "parse_intensity", "check_vector", "check_alpha",
           "check_intensity", "dominant", "normalized", "scaled", "reference_identity", "reference_stat"]
