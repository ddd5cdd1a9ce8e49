"""Emotion presets: the eight names in English and Chinese, and the aliases editors use."""
from __future__ import annotations

from ..errors import InputError
from .vector import DIM, EMOTIONS, Vector, check_intensity

# Chinese names first: IndexTTS2's own labels (高兴 愤怒 悲伤 恐惧 反感 低落 惊讶 自然).
NAMES_ZH = {"happy": "高兴", "angry": "愤怒", "sad": "悲伤", "afraid": "恐惧", "disgusted": "反感",
            "melancholic": "低落", "surprised": "惊讶", "calm": "自然"}

ALIASES = {
    # English
    "neutral": "calm", "relaxed": "calm", "serene": "calm", "peaceful": "calm",
    "happiness": "happy", "joy": "happy", "joyful": "happy", "glad": "happy", "cheerful": "happy",
    "excited": "happy",
    "anger": "angry", "mad": "angry", "annoyed": "angry", "irritated": "angry",
    "sadness": "sad", "unhappy": "sad", "sorrowful": "sad", "grief": "sad",
    "fear": "afraid", "fearful": "afraid", "scared": "afraid", "frightened": "afraid", "anxious": "afraid",
    "disgust": "disgusted", "contempt": "disgusted", "contemptuous": "disgusted", "scornful": "disgusted",
    "melancholy": "melancholic", "gloomy": "melancholic", "depressed": "melancholic", "wistful": "melancholic",
    "surprise": "surprised", "astonished": "surprised", "amazed": "surprised", "shocked": "surprised",
    # Chinese
    "高兴": "happy", "开心": "happy", "快乐": "happy", "喜悦": "happy", "兴奋": "happy",
    "愤怒": "angry", "生气": "angry", "恼火": "angry", "气愤": "angry",
    "悲伤": "sad", "伤心": "sad", "难过": "sad", "悲痛": "sad",
    "恐惧": "afraid", "害怕": "afraid", "惊恐": "afraid", "紧张": "afraid",
    "反感": "disgusted", "厌恶": "disgusted", "恶心": "disgusted", "轻蔑": "disgusted", "鄙视": "disgusted",
    "低落": "melancholic", "忧郁": "melancholic", "惆怅": "melancholic", "沮丧": "melancholic",
    "惊讶": "surprised", "吃惊": "surprised", "惊奇": "surprised", "震惊": "surprised",
    "自然": "calm", "平静": "calm", "冷静": "calm", "中性": "calm", "淡定": "calm",
}


def canonical(name: str) -> str | None:
    """'Angry', 'anger', '生气', 'neutral' → the canonical English name, or None if unknown."""
    key = str(name).strip().lower()
    if key in EMOTIONS:
        return key
    return ALIASES.get(key)


def resolve(name: str) -> str:
    found = canonical(name)
    if found is None:
        raise InputError(f"unknown emotion {str(name).strip()!r}: accepted {', '.join(EMOTIONS)} "
                         f"(or {', '.join(NAMES_ZH[e] for e in EMOTIONS)}; aliases such as neutral = calm, "
                         f"contempt = disgusted)")
    return found


def preset_vector(name: str, intensity: float = 1.0) -> Vector:
    """A one-hot vector for the preset, at the given intensity."""
    idx = EMOTIONS.index(resolve(name))
    v = [0.0] * DIM
    v[idx] = check_intensity(intensity)
    return tuple(v)  # type: ignore[return-value]
