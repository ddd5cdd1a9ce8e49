"""A character's default emotion as the editor holds it, and its cast-file keys.

The cast file says it one of four ways (per character or in [defaults]):

    emotion = "angry 0.7"                         a preset and its intensity
    emotion = [0.0, 0.8, 0, 0, 0, 0, 0.1, 0.1]    the 8-vector, IndexTTS2's order (EMOTIONS)
    emotion_text = "愤怒地质问，语气急促"            a description
    emotion_ref = "refs/angry.wav"                a clip whose emotion is copied
    emotion = "from_line"                         what the line itself suggests
    emo_alpha = 0.8                               how strongly (0-1) for the vector, text, clip, line

The editor's sliders are the vector and its intensity; a vector with one emotion at full strength
is written back as the preset form, so files people wrote by hand stay as they were.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from takefit.engine.emotion import Emotion
from takefit.engine.emotion.presets import NAMES_ZH
from takefit.otio_adapters import tags

EMOTIONS = tags.EMOTIONS                     # happy angry sad afraid disgusted melancholic surprised calm
MODES = ("none", "sliders", "text", "reference", "from_line")
KEYS = ("emotion", "intensity", "emotion_text", "emotion_ref", "emo_alpha")


def _zeros() -> tuple[float, ...]:
    return (0.0,) * len(EMOTIONS)


@dataclass(frozen=True)
class EmotionSetting:
    mode: str = "none"                       # a MODES name; none: inherit ([defaults], else neutral)
    vector: tuple[float, ...] = field(default_factory=_zeros)
    alpha: float = 1.0                       # the preset's intensity, or emo_alpha
    text: str = ""
    reference: str = ""

    @staticmethod
    def from_entry(entry: dict) -> "EmotionSetting":
        """From a cast table (a [characters.X] or [defaults] dict)."""
        alpha = float(entry.get("emo_alpha", 1.0))
        if entry.get("emotion_text"):
            return EmotionSetting("text", alpha=alpha, text=str(entry["emotion_text"]))
        if entry.get("emotion_ref"):
            return EmotionSetting("reference", alpha=alpha, reference=str(entry["emotion_ref"]))
        emo = entry.get("emotion")
        if isinstance(emo, list) and len(emo) == len(EMOTIONS):
            return EmotionSetting("sliders", tuple(float(x) for x in emo), alpha)
        if isinstance(emo, str) and emo.strip():
            parsed = Emotion.parse(emo)
            if parsed.from_line:
                return EmotionSetting("from_line", alpha=alpha)
            if parsed.vector is not None:
                return EmotionSetting("sliders", tuple(parsed.vector), alpha)
            # a preset is one slider at full strength, its intensity the editor's intensity
            # (a preset's emo_alpha scales it the same way, so the two fold into one)
            intensity = float(entry.get("intensity", parsed.intensity)) * alpha
            vec = tuple(1.0 if name == parsed.preset else 0.0 for name in EMOTIONS)
            return EmotionSetting("sliders", vec, round(intensity, 4))
        return EmotionSetting()

    def to_entry(self, entry: dict) -> dict:
        """`entry` with its emotion keys replaced by this setting's."""
        out = {k: v for k, v in entry.items() if k not in KEYS}
        alpha = round(float(self.alpha), 4)
        if self.mode == "sliders":
            vec = [round(float(x), 4) for x in self.vector]
            nonzero = [i for i, x in enumerate(vec) if x]
            if len(nonzero) == 1 and vec[nonzero[0]] == 1.0:
                out["emotion"] = f"{EMOTIONS[nonzero[0]]} {alpha:g}"
            elif nonzero:
                out["emotion"] = vec
                out["emo_alpha"] = alpha
        elif self.mode == "text" and self.text.strip():
            out["emotion_text"] = self.text.strip()
            out["emo_alpha"] = alpha
        elif self.mode == "reference" and self.reference.strip():
            out["emotion_ref"] = self.reference.strip()
            out["emo_alpha"] = alpha
        elif self.mode == "from_line":
            out["emotion"] = "from_line"
            out["emo_alpha"] = alpha
        return out

    def summary(self) -> str:
        """A few words for the cast list."""
        if self.mode == "sliders":
            parts = [(name, x) for name, x in zip(EMOTIONS, self.vector) if x]
            if len(parts) == 1 and parts[0][1] == 1.0:
                return f"{parts[0][0]} {self.alpha:g}"
            return (", ".join(f"{n} {x:g}" for n, x in parts) + f" ×{self.alpha:g}") if parts else ""
        if self.mode == "from_line":
            return f"from the line ×{self.alpha:g}"
        if self.mode == "text" and self.text:
            return f"“{self.text[:24]}”"
        if self.mode == "reference" and self.reference:
            return f"like {self.reference.rsplit('/', 1)[-1]}"
        return ""


def label(name: str) -> str:
    """A slider's label: the English name and IndexTTS2's Chinese one."""
    return f"{name} {NAMES_ZH.get(name, '')}".strip()
