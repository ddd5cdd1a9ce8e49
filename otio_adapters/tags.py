"""The inline cue tag: `[alice | angry 0.7] You dare say that to me?` (see docs/cues.md).

A tag is a `[...]` (or `【...】`) at the very start of the cue text that is NOT followed by `(`:
`[Kokoro](/kˈOkəɹO/)` is the engine's own English pronunciation syntax and must reach it intact.
Fields are separated by `|`:

    alice               the character (a bare word that is not an emotion)
    angry 0.7           an emotion preset with an intensity 0-1 (or 70%); alone it means full intensity
    voice=af_bella      the voice, overriding the cast (also v=)
    lang=ja             the language: auto, zh, en, ja, es, fr, it, pt (Brazilian) or hi
    emotion=calm 0.3    explicit forms: character=, voice=, emotion=, language=
    emotion=0,0.8,0,0,0,0,0.1,0.1   an 8-float emotion vector [happy, angry, sad, afraid, disgusted,
                        melancholic, surprised, calm] (brackets optional)
    emotion=from_line   the emotion the line itself suggests
    emotion_text=愤怒地质问  a description of the emotion (also emo_text=)
    emotion_ref=a.wav   a reference clip whose delivery is transferred (also emo_ref=)
    emo_alpha=0.8       how much of the emotion to apply, 0-1 (also alpha=)
    lead=0.1            seconds from the slot's start to the first sound (also 100ms; default 0)
    tail=40ms           seconds from the last sound's end to the slot's end (default 0.04)
    take=2              which read: 1 the standard one, 2-99 alternate reads of the line (also variant=)
    行=xíng              any other key=value: a pronunciation override (pinyin; kana or romaji for a
                        Japanese word on a Japanese line; /IPA/ for the other languages)
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

from takefit.engine.errors import InputError
from takefit.engine.request import LANGUAGES, MAX_HANDLE_SECONDS, MAX_VARIANT, check_variant

from takefit.engine.emotion import presets as emotion_presets
from takefit.engine.emotion.spec import parse_intensity
from takefit.otio_adapters.cue import Emotion

# IndexTTS2's eight emotion presets (its emo_vector order), plus the names editors also use
# (Chinese and English aliases: neutral → calm, 生气 → angry, contempt → disgusted …).
EMOTIONS = emotion_presets.EMOTIONS
EMOTION_ALIASES = emotion_presets.ALIASES
_KEYS = {"character": "character", "char": "character", "who": "character",
         "voice": "voice", "v": "voice",
         "emotion": "emotion", "emo": "emotion",
         "emotion_text": "emotion_text", "emo_text": "emotion_text",
         "emotion_ref": "emotion_ref", "emo_ref": "emotion_ref",
         "emo_alpha": "emo_alpha", "alpha": "emo_alpha",
         "language": "language", "lang": "language",
         "lead": "lead", "tail": "tail", "take": "take", "variant": "take"}

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
    emo_alpha: float | None = None      # applies to the tag's emotion, or the cast's
    lead: float | None = None           # handles (seconds); None: the cast's
    tail: float | None = None
    variant: int | None = None          # take=N: which read (engine/variation.py); None: the cue's own


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


def parse_emotion(text: str, alpha: float = 1.0) -> Emotion:
    """'angry 0.7', 'angry 70%', 'angry:0.7', 'Angry', 'neutral', '生气 0.5', '0,0.8,0,0,0,0,0.1,0.1',
    'from_line' → an Emotion."""
    return Emotion.parse(text, alpha)


_VECTOR = re.compile(r"^[\[(]?\s*[\d.]+(\s*,\s*[\d.]+){7}\s*[\])]?$")


def _is_emotion(field: str) -> bool:
    if _VECTOR.match(field.strip()):
        return True
    name = re.split(r"[\s:]+", field.strip(), maxsplit=1)[0].lower()
    return emotion_presets.canonical(name) is not None


def parse(inner: str) -> Tag:
    """The fields of a tag's inside; raises InputError naming the bad field and what is accepted."""
    character = voice = language = None
    emotion = None
    alpha = None
    prons: list[tuple[str, str]] = []
    handles: dict[str, float] = {}
    variant = None
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
                emotion = _one(emotion, parse_emotion(value))
            elif kind == "emotion_text":
                emotion = _one(emotion, Emotion(text=value))
            elif kind == "emotion_ref":
                emotion = _one(emotion, Emotion(reference=value))
            elif kind == "emo_alpha":
                try:
                    alpha = parse_intensity(value)
                except InputError:
                    raise InputError(f"tag emo_alpha {value!r}: give 0 to 1 (0.8) or a percentage (80%)") from None
            elif kind in ("lead", "tail"):
                handles[kind] = parse_handle(value, f"tag {kind}")
            elif kind == "take":
                variant = parse_take(value, f"tag {key}=")
            elif kind == "language":
                if value.lower() not in LANGUAGES:
                    raise InputError(f"tag language {value!r}: accepted {', '.join(LANGUAGES)}")
                language = value.lower()
            else:
                prons.append((key, value))
        elif _is_emotion(field):
            emotion = _one(emotion, parse_emotion(field))
        else:
            if character is not None:
                raise InputError(
                    f"tag field {field!r} is neither an emotion ({', '.join(EMOTIONS)}) nor key=value, and "
                    f"the character is already {character!r}; separate fields with '|'")
            character = field
    if emotion is not None and alpha is not None:
        emotion = replace(emotion, alpha=alpha)
        alpha = None
    return Tag(character, voice, language, emotion, tuple(prons), alpha, handles.get("lead"), handles.get("tail"),
               variant)


def parse_handle(value, where: str) -> float:
    """A handle length: seconds (0.04, '0.04s') or milliseconds ('40ms'), 0 to MAX_HANDLE_SECONDS."""
    text = str(value).strip().lower()
    try:
        if isinstance(value, bool):
            raise ValueError
        seconds = float(text[:-2]) / 1000 if text.endswith("ms") else float(text.removesuffix("s"))
    except ValueError:
        seconds = float("nan")
    if not (0.0 <= seconds <= MAX_HANDLE_SECONDS):
        raise InputError(f"{where} {value!r}: give seconds (0.04) or milliseconds (40ms), 0 to "
                         f"{MAX_HANDLE_SECONDS:g} s")
    return seconds


def parse_take(value, where: str) -> int:
    """Which read: a whole number 1 (the standard read) to MAX_VARIANT (alternate reads)."""
    text = str(value).strip()
    try:
        return check_variant(int(text) if text.isdigit() and not isinstance(value, bool) else value)
    except InputError:
        raise InputError(f"{where}{value!r}: give a whole number 1 to {MAX_VARIANT} (1 is the standard read, "
                         f"2 and up are alternate reads of the line), e.g. take=2") from None


def _one(current: Emotion | None, new: Emotion) -> Emotion:
    if current is not None:
        raise InputError(f"tag has two emotions ({current}, {new}): give one")
    return new


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


MARKUP = re.compile(r"</?[a-zA-Z][^<>]*>|\{\\[^{}]*\}")  # SRT <i>…</i>, <font …>, ASS {\an8}


def clean(text: str) -> str:
    """Spoken text: subtitle markup removed, lines joined, whitespace collapsed."""
    s = MARKUP.sub("", text or "")
    lines = [ln.strip() for ln in s.splitlines() if ln.strip()]
    out = ""
    for ln in lines:
        # Chinese lines join without a space; other scripts with one
        joiner = "" if (out and _CJK.match(out[-1]) and _CJK.match(ln[0])) else " "
        out = ln if not out else out + joiner + ln
    return re.sub(r"[ \t]+", " ", out).strip()
