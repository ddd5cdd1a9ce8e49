"""Any emotion form → (8-vector, delivery): presets and vectors directly, descriptions and the line
itself through the text model, reference clips through prosody analysis. Heavy parts load on first use."""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from .delivery import NEUTRAL_DELIVERY, Delivery, delivery_for
from .reference import transfer
from .spec import Emotion
from .text import DEFAULT_BACKEND, TextEmotion
from .vector import Vector, scaled


@dataclass(frozen=True)
class Resolved:
    emotion: Emotion
    vector: Vector          # the effective vector (alpha applied)
    delivery: Delivery
    source: str             # how the vector was found: preset, vector, text, line, reference

    def to_json(self) -> dict:
        return {**self.emotion.to_json(), "resolved_vector": [round(v, 4) for v in self.vector],
                "source": self.source, "delivery": self.delivery.to_json()}


class EmotionResolver:
    def __init__(self):
        self._lock = threading.Lock()
        self._text_model = None

    def text_model(self):
        with self._lock:
            if self._text_model is None:
                self._text_model = TextEmotion(os.environ.get("TAKEFIT_EMOTION_TEXT_MODEL") or DEFAULT_BACKEND)
            return self._text_model

    def resolve(self, emotion: Emotion, line: str = "") -> Resolved:
        fixed = emotion.fixed_vector()
        if fixed is not None:
            return Resolved(emotion, fixed, delivery_for(fixed), emotion.kind)
        if emotion.text is not None or emotion.from_line:
            text = emotion.text if emotion.text is not None else line
            vec = scaled(self.text_model().vector(text), emotion.alpha)
            return Resolved(emotion, vec, delivery_for(vec), "text" if emotion.text is not None else "line")
        vec, delivery = transfer(emotion.reference, emotion.alpha)
        return Resolved(emotion, vec, delivery, "reference")


__all__ = ["EmotionResolver", "Resolved", "NEUTRAL_DELIVERY"]
