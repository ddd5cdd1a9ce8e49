"""Which language reads which part of a line: the scripts takefit tells apart, and how a script that
several languages share (Han characters, Latin letters) is given one.

- Kana → Japanese, Devanagari → Hindi: the script decides.
- Han characters → Japanese when the line is Japanese (`language='ja'`, or kana in the line, or a
  Japanese voice with `language='auto'`), else Mandarin. Kanji-only text alone is ambiguous: without
  kana or a Japanese voice it is read as Mandarin, as before.
- Latin letters → the line's language when it is written in Latin script (es, fr, it, pt, en); else the
  voice's language when that is a Latin-script one (an `ef_` voice reads `Hola` as Spanish); else
  English. A whole Latin run follows one language: English names in a Spanish line are read with
  Spanish rules unless written with an override (`[Kokoro](/kˈOkəɹO/)` or the dictionary).
"""
from __future__ import annotations

from .errors import InputError

SPOKEN = ("zh", "en", "ja", "es", "fr", "it", "pt", "hi")   # every language some built-in voice speaks
LATIN = ("en", "es", "fr", "it", "pt")
ESPEAK = {"es": "es", "fr": "fr-fr", "it": "it", "pt": "pt-br", "hi": "hi"}   # Kokoro v1.0's own choices
NAMES = {"zh": "Mandarin", "en": "English", "ja": "Japanese", "es": "Spanish", "fr": "French", "it": "Italian",
         "pt": "Brazilian Portuguese", "hi": "Hindi"}

HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"                 # CJK ideographs: hanzi, kanji
KANA = "\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f"      # hiragana, katakana (ー, ・), half-width
DEVANAGARI = "\u0900-\u097f\ua8e0-\ua8ff"                           # with the danda । ॥
LATIN_LETTERS = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f"   # ASCII, Latin-1 and Latin Extended A/B


def check(language: str) -> str:
    if language != "auto" and language not in SPOKEN:
        raise InputError(f"unknown language {language!r}: accepted are auto, {', '.join(SPOKEN)} "
                         f"(pt is Brazilian Portuguese)")
    return language


def latin_language(language: str, voice_language: str | None) -> str:
    """The language Latin letters are read in on this line."""
    if language in LATIN:
        return language
    if language == "auto" and voice_language in LATIN:
        return voice_language
    return "en"


def han_language(language: str, voice_language: str | None, has_kana: bool) -> str:
    """The language Han characters (and CJK punctuation) are read in on this line."""
    if language == "ja":
        return "ja"
    if language == "zh":
        return "zh"
    return "ja" if has_kana or (language == "auto" and voice_language == "ja") else "zh"


def japanese_line(language: str, voice_language: str | None, has_kana: bool) -> bool:
    """Whether `漢字(reading)` is a Japanese reading here rather than pinyin."""
    return han_language(language, voice_language, has_kana) == "ja"
