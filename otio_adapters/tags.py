"""The inline cue tag: `[alice | angry 0.7] You dare say that to me?` (see docs/cues.md).

A tag is a `[...]` (or `【...】`) at the very start of the cue text that is NOT followed by `(`:
`[Kokoro](/kˈOkəɹO/)` is the engine's own English pronunciation syntax and must reach it intact.
Fields are separated by `|`:

    alice               the character (a bare word that is not an emotion)
    angry 0.7           an emotion preset with an intensity 0-1 (or 70%); alone it means full intensity
    voice=af_bella      the voice, overriding the cast (also v=)
    lang=zh             the language: zh, en or auto
    emotion=calm 0.3    explicit forms: character=, voice=, emotion=, language=
    行=xíng              any other key=value: a pronunciation override (pinyin, or /IPA/ for English)
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from takefit.engine.errors import InputError

from takefit.otio_adapters.cue import Emotion

# IndexTTS2's eight emotion presets (its emo_vector order), plus the names editors also use.
EMOTIONS = ("happy", "angry", "sad", "afraid", "disgusted", "melancholic", "surprised", "calm")
EMOTION_ALIASES = {
    "neutral": "calm",
    # the Chinese names IndexTTS2 itself uses, and common synonyms
    "高兴": "happy", "开心": "happy", "愤怒": "angry", "生气": "angry", "悲伤": "sad", "伤心": "sad",
    "恐惧": "afraid", "害怕": "afraid", "反感": "disgusted", "厌恶": "disgusted", "低落": "melancholic",
    "忧郁": "melancholic", "惊讶": "surprised", "自然": "calm", "平静": "calm",
}
LANGUAGES = ("auto", "zh", "en")
_KEYS = {"character": "character", "char": "character", "who": "character",
         "voice": "voice", "v": "voice",
         "emotion": "emotion", "emo": "emotion",
         "language": "language", "lang": "language"}

# `[` … `]` at the start, not followed by `(`; full-width 【】 too. `\[` at the start escapes.
_TAG = re.compile(r"^\s*(?:\[(?P<a>[^\[\]]*)\]|【(?P<b>[^【】]*)】)(?!\s*[(（])")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")  # + CJK punctuation
_NUMBER = re.compile(r"^(?P<v>\d+(?:\.\d+)?|\.\d+)\s*(?P<pct>%?)$")


@dataclass(frozen=True)
class Tag:
    character: str | None = None
    voice: str | None = None
    language: str | None = None
    emotion: Emotion | None = None
    pronunciations: tuple[tuple[str, str], ...] = ()


def split(text: str) -> tuple[str | None, str]:
    """(the tag's inside or None, the rest of the text)."""
    s = text or ""
    if s.lstrip().startswith("\\[") or s.lstrip().startswith("\\【"):
        return None, s.lstrip()[1:]
    m = _TAG.match(s)
    if not m:
        return None, s
    inner = m.group("a") if m.group("a") is not None else m.group("b")
    return inner, s[m.end():]


def parse_emotion(text: str) -> Emotion:
    """'angry 0.7', 'angry 70%', 'angry:0.7', 'Angry', 'neutral', '生气 0.5' → an Emotion."""
    s = str(text).strip()
    parts = re.split(r"[\s:]+", s, maxsplit=1)
    name = parts[0].lower()
    preset = EMOTION_ALIASES.get(name, name)
    if preset not in EMOTIONS:
        raise InputError(f"unknown emotion {parts[0]!r}: accepted {', '.join(EMOTIONS)} (or neutral = calm)")
    intensity = 1.0
    if len(parts) > 1 and parts[1].strip():
        intensity = parse_intensity(parts[1], preset)
    return Emotion(preset, intensity)


def parse_intensity(text: str, preset: str = "") -> float:
    m = _NUMBER.match(text.strip())
    if not m:
        raise InputError(f"bad emotion intensity {text!r}{' for ' + preset if preset else ''}: "
                         f"give a number from 0 to 1 (0.7) or a percentage (70%)")
    v = float(m.group("v")) / (100 if m.group("pct") else 1)
    if not 0 <= v <= 1:
        raise InputError(f"emotion intensity {text.strip()} out of range: 0 to 1 (or 0% to 100%)")
    return round(v, 4)


def _is_emotion(field: str) -> bool:
    name = re.split(r"[\s:]+", field.strip(), maxsplit=1)[0].lower()
    return EMOTION_ALIASES.get(name, name) in EMOTIONS


def parse(inner: str) -> Tag:
    """The fields of a tag's inside; raises InputError naming the bad field and what is accepted."""
    character = voice = language = None
    emotion = None
    prons: list[tuple[str, str]] = []
    for raw in inner.split("|"):
        field = raw.strip()
        if not field or field == "-":
            continue
        if "=" in field:
            key, value = (x.strip() for x in field.split("=", 1))
            if not key or not value:
                raise InputError(f"tag field {field!r} needs both a key and a value, e.g. voice=af_bella")
            kind = _KEYS.get(key.lower())
            if kind == "character":
                character = value
            elif kind == "voice":
                voice = value
            elif kind == "emotion":
                emotion = parse_emotion(value)
            elif kind == "language":
                if value.lower() not in LANGUAGES:
                    raise InputError(f"tag language {value!r}: accepted {', '.join(LANGUAGES)}")
                language = value.lower()
            else:
                prons.append((key, value))
        elif _is_emotion(field):
            if emotion is not None:
                raise InputError(f"tag has two emotions ({emotion.preset}, {field}): give one")
            emotion = parse_emotion(field)
        else:
            if character is not None:
                raise InputError(
                    f"tag field {field!r} is neither an emotion ({', '.join(EMOTIONS)}) nor key=value, and "
                    f"the character is already {character!r}; separate fields with '|'")
            character = field
    return Tag(character, voice, language, emotion, tuple(prons))


def apply_pronunciations(text: str, pronunciations) -> tuple[str, list[str]]:
    """Rewrite `text` into the engine's inline override syntax: 行 → 行(xíng), takefit → [takefit](/…/).

    Words already carrying an inline override are left alone. Returns the text and a note for
    every word that does not occur (usually a typo in the tag or cast).
    """
    notes = []
    for word, pron in pronunciations:
        if _HAN.search(word):
            pat = re.compile(re.escape(word) + r"(?!\s*[(（])")
            new, n = pat.subn(lambda m: f"{m.group(0)}({pron.strip()})", text)
        else:
            ipa = pron.strip().strip("/")
            pat = re.compile(r"(?<![\w\[])" + re.escape(word) + r"(?![\w\]])", re.IGNORECASE)
            new, n = pat.subn(lambda m: f"[{m.group(0)}](/{ipa}/)", text)
        if n == 0 and word not in text:
            notes.append(f"pronunciation for {word!r} unused: the word is not in the line")
        text = new
    return text, notes


_MARKUP = re.compile(r"</?[a-zA-Z][^<>]*>|\{\\[^{}]*\}")  # SRT <i>…</i>, <font …>, ASS {\an8}


def clean(text: str) -> str:
    """Spoken text: subtitle markup removed, lines joined, whitespace collapsed."""
    s = _MARKUP.sub("", text or "")
    lines = [ln.strip() for ln in s.splitlines() if ln.strip()]
    out = ""
    for ln in lines:
        # Chinese lines join without a space; other scripts with one
        joiner = "" if (out and _CJK.match(out[-1]) and _CJK.match(ln[0])) else " "
        out = ln if not out else out + joiner + ln
    return re.sub(r"[ \t]+", " ", out).strip()
