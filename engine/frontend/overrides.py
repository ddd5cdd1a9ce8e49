"""Pronunciation overrides: inline `行(xíng)` / `行(xing2)` for Chinese, `[word](/IPA/)` for every other
language, `漢字(かんじ)` for Japanese, and a user pronunciation dictionary (word → pinyin for Chinese,
kana or romaji for Japanese, IPA for the others)."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from .ja import kana_reading
from ..languages import HAN, KANA, SPOKEN

_PINYIN_CHARS = "a-zA-ZüÜvV:āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜĀÁǍÀĒÉĚÈĪÍǏÌŌÓǑÒŪÚǓÙǕǗǙǛńňǹḿ0-9"
# 行(xíng), 银行（yin2 hang2） — ASCII or full-width parentheses, syllables separated by spaces/commas/'
INLINE_ZH = re.compile(rf"([{HAN}]+)\s*[(（]\s*([{_PINYIN_CHARS}][{_PINYIN_CHARS}\s,'’-]*)\s*[)）]")


def normalize_syllable(syllable: str) -> str:
    """'XÍNG', 'xíng', 'Xing2', 'lü4', 'LV4', 'de' → tone-number form 'xing2', 'lv4', 'de5'.

    Case is irrelevant (IndexTTS2 mishandled uppercase); a missing tone means the neutral tone.
    """
    s = unicodedata.normalize("NFC", syllable.strip()).lower()
    s = s.replace("u:", "ü").replace("ü", "v")
    from pypinyin.contrib.tone_convert import to_tone3  # 0.7 s of imports: only when pinyin is written
    # tone marks on ü: map ǖǘǚǜ to v + number via to_tone3 (it understands them)
    s = to_tone3(s.replace("v", "ü"), neutral_tone_with_five=True, v_to_u=False) if not s[-1:].isdigit() else s
    s = s.replace("ü", "v")
    if not s[-1:].isdigit():
        s += "5"
    if not re.fullmatch(r"[a-z]+[1-5]", s):
        raise ValueError(syllable)
    return s


def check_pinyin(syllable: str, word: str) -> str:
    from misaki.zh import ZHG2P

    try:
        s = normalize_syllable(syllable)
        ZHG2P.py2ipa(s)
        return s
    except Exception:
        raise InputError(
            f"invalid pinyin {syllable!r} for {word!r}: write a syllable with tone marks (xíng) or a tone "
            f"number 1-5 (xing2); ü as ü, v or u:") from None


def split_syllables(text: str) -> list[str]:
    """'yin2 hang2' / 'yin2hang2' / 'yínháng' → syllables (tone digits end a syllable)."""
    parts = [p for p in re.split(r"[\s,'’-]+", text.strip()) if p]
    out: list[str] = []
    for p in parts:
        if re.search(r"\d", p):
            out.extend(re.findall(r"[^\d]+[1-5]", p) or [p])
            if "".join(re.findall(r"[^\d]+[1-5]", p)) != p:
                raise InputError(f"invalid pinyin {text!r}: tone numbers must be 1-5 after each syllable")
        else:
            out.append(p)
    return out


@dataclass(frozen=True)
class ZhOverride:
    word: str
    pinyin: tuple[str, ...]  # one tone-number syllable per character


def parse_zh_override(word: str, pinyin_text: str) -> ZhOverride:
    """An override for exactly `word`: one syllable per character."""
    syllables = split_syllables(pinyin_text)
    if len(syllables) == 1 and len(word) > 1:
        syllables = _split_joined(pinyin_text, len(word))  # 'yínháng' written without separators
    if len(syllables) != len(word):
        raise InputError(f"pinyin override {word}({pinyin_text}) has {len(syllables)} syllable(s) for "
                         f"{len(word)} character(s); give one syllable per character, e.g. 银行(yin2 hang2)")
    return ZhOverride(word, tuple(check_pinyin(s, word) for s in syllables))


def parse_inline(han_run: str, pinyin_text: str) -> tuple[str, ZhOverride]:
    """`这个行(xíng)`: the syllables cover the last characters before the parenthesis.
    Returns (the plain prefix, the override)."""
    n = len(split_syllables(pinyin_text))
    if n == 1:
        n = max(1, len(_split_joined(pinyin_text, 0)))
    if n > len(han_run):
        raise InputError(f"pinyin override {han_run}({pinyin_text}) has {n} syllables for {len(han_run)} "
                         f"character(s); give one syllable per character, e.g. 银行(yin2 hang2)")
    return han_run[:-n], parse_zh_override(han_run[-n:], pinyin_text)


def _split_joined(text: str, n: int) -> list[str]:
    # tone-marked syllables each contain exactly one marked vowel; split before each consonant cluster
    # that starts a new syllable. Good enough for the common two/three-character case; otherwise the
    # caller's count check reports the problem clearly.
    marks = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ"
    idx = [i for i, ch in enumerate(text.lower()) if ch in marks]
    if len(idx) < 2 or (n and len(idx) != n):
        return [text]
    bounds = [0]
    for a, b in zip(idx, idx[1:]):
        seg = text[a + 1:b]
        # the next syllable starts at the first consonant after the vowel cluster (keep n/ng codas)
        j = 0
        while j < len(seg) and seg[j].lower() in "aeiouvü":
            j += 1
        rest = seg[j:]
        if rest.lower().startswith("ng") and len(rest) > 2:
            j += 2
        elif rest.lower().startswith(("n", "r")) and len(rest) > 1 and rest[1].lower() not in "aeiouvü" + marks:
            j += 1
        bounds.append(a + 1 + j)
    bounds.append(len(text))
    return [text[x:y] for x, y in zip(bounds, bounds[1:])]


class Lexicon:
    """A user pronunciation dictionary: one entry per line, `word  pronunciation`, `#` comments.

    A word with Chinese characters takes pinyin (tone marks or numbers, one syllable per character);
    a word or reading with kana is Japanese (the reading in kana); any other word takes IPA in Kokoro's
    phoneme set, optionally between slashes, for every Latin-script language (en, es, fr, it, pt) and
    Hindi. A line `[ja]` (any language code) starts a section whose entries are for that language
    only: kana or romaji readings for ja, pinyin for zh, IPA for the others.
    """

    def __init__(self, zh: dict[str, ZhOverride] | None = None, en: dict[str, str] | None = None,
                 languages: dict[str, dict[str, str]] | None = None):
        self.zh = dict(zh or {})
        self.en = dict(en or {})           # IPA, any language but zh/ja (the file's entries without a section)
        self.languages = {k: dict(v) for k, v in (languages or {}).items()}   # per-language sections

    def for_language(self, language: str) -> dict[str, str]:
        """The entries a reader of `language` applies: its section over the shared IPA entries."""
        shared = {} if language in ("ja", "zh") else self.en
        return {**shared, **self.languages.get(language, {})}

    @staticmethod
    def load(path: str | Path) -> "Lexicon":
        p = Path(path)
        try:
            text = p.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"cannot read pronunciation dictionary {p}: {e}") from None
        return Lexicon.parse(text, str(p))

    @staticmethod
    def parse(text: str, source: str = "dictionary") -> "Lexicon":
        """The dictionary file's format from a string (a request's inline dictionary); errors name
        `source` and the line."""
        lex, section = Lexicon(), None
        for no, raw in enumerate(text.splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if SECTION.fullmatch(line):
                section = _section(line[1:-1].strip().lower(), f"{source}:{no}")
                continue
            parts = re.split(r"\t+|\s{2,}|\s*=\s*", line, maxsplit=1)
            if len(parts) != 2 or not parts[1].strip():
                parts = line.split(None, 1)
            if len(parts) != 2:
                raise InputError(f"{source}:{no}: expected `word  pronunciation`, got {raw!r}")
            word, pron = parts[0].strip(), parts[1].strip()
            try:
                lex.add(word, pron, section)
            except InputError as e:
                raise InputError(f"{source}:{no}: {e}") from None
        return lex

    def add(self, word: str, pronunciation: str, language: str | None = None) -> None:
        if language == "ja" or (language is None and re.search(f"[{KANA}]", word + pronunciation)):
            pron = pronunciation.strip()
            reading = pron if len(pron) > 2 and pron[0] == pron[-1] == "/" else kana_reading(word, pron)
            self.languages.setdefault("ja", {})[word] = reading
        elif language not in (None, "zh"):
            self.languages.setdefault(language, {})[word] = pronunciation.strip().strip("/")
        elif re.search(f"[{HAN}]", word):
            if not re.fullmatch(f"[{HAN}]+", word):
                raise InputError(f"dictionary word {word!r} mixes Chinese characters with other characters")
            self.zh[word] = parse_zh_override(word, pronunciation)
        else:
            self.en[word] = pronunciation.strip().strip("/")

    def __bool__(self) -> bool:
        return bool(self.zh or self.en or any(self.languages.values()))


SECTION = re.compile(r"\[\s*[A-Za-z-]+\s*\]")


def _section(code: str, where: str) -> str:
    code = {"pt-br": "pt", "en-us": "en", "en-gb": "en"}.get(code, code)
    if code not in SPOKEN:
        raise InputError(f"{where}: unknown dictionary section [{code}]: accepted are {', '.join(SPOKEN)}")
    return code
