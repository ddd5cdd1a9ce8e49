"""Text frontend: a line of text (zh, en, ja, es, fr, it, pt, hi or mixed) → language segments → Kokoro
phonemes → chunks. Which script goes to which language: engine/languages.py."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from ..errors import InputError
from .. import languages as langs
from .espeak import EspeakReader
from .ja import RUBY, JaReader
from ..languages import DEVANAGARI, ESPEAK, KANA, LATIN_LETTERS
from .overrides import HAN, INLINE_ZH, Lexicon, ZhOverride, parse_inline

__all__ = ["Frontend", "Reading", "Segment", "Chunk", "Lexicon", "split_chunks"]

MAX_CHUNK_PHONEMES = 400   # the model takes up to 510 tokens; leave room and keep prosody stable
_CJK_PUNCT = "，。！？、：；「」『』《》【】（）～…—"
_EN_LINK = r"\[[^\]\n]+\]\(/[^)\n]*/\)"
_TOKEN = re.compile(rf"[{HAN}々〆]+|[{KANA}]+|[{DEVANAGARI}]+|{_EN_LINK}"
                    rf"|[{LATIN_LETTERS}][{LATIN_LETTERS}\u0300-\u036f'’\-]*|\d[\d.,:%]*|\s+|.", re.S)


@dataclass
class Segment:
    language: str                      # 'zh' | 'en' | 'ja' | 'es' | 'fr' | 'it' | 'pt' | 'hi'
    text: str
    words: list                        # ZhWord / EnWord / punctuation strings
    phonemes: str


@dataclass
class Chunk:
    phonemes: str
    pause_after: str                   # the punctuation that ends it ('' for the last)


@dataclass
class Reading:
    text: str
    segments: list[Segment]
    phonemes: str
    warnings: list[str] = field(default_factory=list)

    @property
    def languages(self) -> list[str]:
        return sorted({s.language for s in self.segments})

    @property
    def primary_language(self) -> str:
        """The language an automatic voice is picked for: the one with the most text other than English
        (a Chinese line with English names takes a Chinese voice), else English."""
        sizes: dict[str, int] = {}
        for s in self.segments:
            if s.language != "en":
                sizes[s.language] = sizes.get(s.language, 0) + len(s.text)
        return max(sizes, key=sizes.get) if sizes else "en"


MAX_SYMBOL_RUN = 8
_SYMBOL_RUN = re.compile(r"[^\w\s]{%d,}" % (MAX_SYMBOL_RUN + 1))
_LONG_DIGITS = re.compile(r"\d{16,}")
_GROUPED_DIGITS = re.compile(r"\d+(?:,\d+)+")


def clean(text: str) -> str:
    if not isinstance(text, str):
        raise InputError(f"text must be a string, got {type(text).__name__}")
    # full-width letters/digits → ASCII; keep CJK punctuation (mapped later with its pause meaning)
    text = "".join(unicodedata.normalize("NFKC", c) if ("\uff10" <= c <= "\uff5a") else c for c in text)
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Zs", "Zl", "Zp") else c for c in text)
    # Runs nobody speaks, cut short: the English G2P merges a symbol run into one token whose cost grows
    # with the square of its length (1,000 brackets: 12 s of CPU for 1 s of audio), and a base letter
    # takes at most a few accents (2,000 combining marks cost 24 s).
    text = _SYMBOL_RUN.sub(lambda m: m.group()[:MAX_SYMBOL_RUN], text)
    # Digit strings past the trillions are serials, IDs or phone numbers: read digit by digit (a 300-digit
    # number was read as 300 words of number names, and one digit more overflowed the number speller).
    # The same past commas: the G2P reads "1,1,1,…" as one grouped number and overflowed on it.
    text = _GROUPED_DIGITS.sub(lambda m: m.group().replace(",", ", ") if sum(c.isdigit() for c in m.group()) >= 16
                               else m.group(), text)
    text = _LONG_DIGITS.sub(lambda m: " ".join(m.group()), text)
    return re.sub(r"\s+", " ", text).strip()


def _script(tok: str) -> str | None:
    if re.fullmatch(f"[{HAN}々〆]+", tok) or (len(tok) == 1 and tok in _CJK_PUNCT):
        return "han"
    if re.match(f"[{KANA}]", tok):
        return "kana"
    if re.match(f"[{DEVANAGARI}]", tok):
        return "deva"
    if re.match(f"[{LATIN_LETTERS}]", tok):
        return "latin"
    return None  # digits, spaces, punctuation, [word](/IPA/) links: follow their neighbours


def _runs(pieces: list[tuple[str, ZhOverride | None]], default: str,
          scripts: dict[str, str]) -> list[tuple[str, list]]:
    """Runs of one language; `scripts` gives the language of each script on this line."""
    toks: list[tuple[str, str | None, ZhOverride | None]] = []
    for text, ov in pieces:
        if isinstance(ov, ZhOverride):
            toks.append((ov.word, "zh", ov))
            continue
        if ov == "ja":                      # 漢字(romaji): one unit for the Japanese reader
            toks.append((text, "ja", None))
            continue
        for t in _TOKEN.findall(text):
            script = _script(t)
            toks.append((t, scripts[script] if script else None, None))
    langs = [lang for _, lang, _ in toks]
    for i, (t, lang, _) in enumerate(toks):
        if lang is not None:
            continue
        prev_adj = langs[i - 1] if i > 0 else None
        next_adj = toks[i + 1][1] if i + 1 < len(toks) else None
        if t.isspace():
            langs[i] = prev_adj or next_adj or default
            continue
        if t[0].isdigit() and next_adj in ("zh", "ja", "hi"):      # 3个, 2024年: read with the word it counts
            langs[i] = next_adj
            continue
        if prev_adj is not None:
            langs[i] = prev_adj
            continue
        later = next((x for x in langs[i + 1:] if x), None) or next((x for _, x, _ in toks[i + 1:] if x), None)
        langs[i] = later or default
    for i, (t, _, _) in enumerate(toks):     # the Mandarin reader takes no links: an IPA link is read as given
        if langs[i] == "zh" and re.fullmatch(_EN_LINK, t):
            langs[i] = "en"
    runs: list[tuple[str, list]] = []
    for (t, _, ov), lang in zip(toks, langs):
        if runs and runs[-1][0] == lang:
            runs[-1][1].append((t, ov))
        else:
            runs.append((lang, [(t, ov)]))
    # a run of only spaces/punctuation carries nothing to say on its own: fold it into its neighbour
    merged: list[tuple[str, list]] = []
    for lang, items in runs:
        if merged and not re.search(r"[^\W_]", "".join(t for t, _ in items)):
            merged[-1][1].extend(items)
        else:
            merged.append((lang, items))
    return merged


def extract_overrides(text: str) -> list[tuple[str, ZhOverride | None]]:
    pieces, pos = [], 0
    for m in INLINE_ZH.finditer(text):
        if m.start() > pos:
            pieces.append((text[pos:m.start()], None))
        prefix, override = parse_inline(m[1], m[2])
        if prefix:
            pieces.append((prefix, None))
        pieces.append((override.word, override))
        pos = m.end()
    if pos < len(text):
        pieces.append((text[pos:], None))
    return pieces


def _japanese_readings(text: str) -> list[tuple[str, str | None]]:
    """Plain pieces and `漢字(reading)` units ("ja"), so a romaji reading stays in the Japanese run."""
    pieces, pos = [], 0
    for m in RUBY.finditer(text):
        pieces += [(text[pos:m.start()], None), (m[0], "ja")]
        pos = m.end()
    return [p for p in pieces + [(text[pos:], None)] if p[0]]


class Frontend:
    def __init__(self, lexicon: Lexicon | None = None):
        self.lexicon = lexicon or Lexicon()
        self._zh_reader = None

    @property
    def _zh(self):
        """The Mandarin reader (jieba, pypinyin, misaki.zh), loaded with the first Chinese line: an
        English-only session never pays for it, nor an English one for spaCy, at start."""
        if self._zh_reader is None:
            from .zh import ZhReader

            self._zh_reader = ZhReader(self.lexicon.zh)
        return self._zh_reader

    def read(self, text: str, language: str = "auto", british: bool = False,
             voice_language: str | None = None) -> Reading:
        """`voice_language`: the language of the voice that will speak (None: picked afterwards), which
        decides Latin letters and kanji on a line of language 'auto' (engine/languages.py)."""
        langs.check(language)
        cleaned = clean(text)
        if not cleaned:
            raise InputError("text is empty: give the line to speak (text, a file with -f, or stdin)")
        has_kana = bool(re.search(f"[{KANA}]", cleaned))
        han = langs.han_language(language, voice_language, has_kana)
        scripts = {"han": han, "kana": "ja", "deva": "hi", "latin": langs.latin_language(language, voice_language)}
        first = next((_script(t) for t in _TOKEN.findall(cleaned) if _script(t)), "latin")
        default = language if language != "auto" else scripts[first]
        # on a Japanese line 漢字(…) is a reading for the Japanese reader, not pinyin
        pieces = _japanese_readings(cleaned) if han == "ja" else extract_overrides(cleaned)
        segments, warnings = [], []
        for lang, items in _runs(pieces, default, scripts):
            seg_text = "".join(t for t, _ in items)
            words, ph, note = self._read_run(lang, items, seg_text.strip(), british)
            warnings += [note] if note else []
            if ph.strip():
                segments.append(Segment(lang, seg_text.strip(), words, ph.strip()))
        phonemes = " ".join(s.phonemes for s in segments)
        if not re.search(r"[^\s;:,.!?—…\"()“”]", phonemes):
            raise InputError(f"nothing speakable in {text!r}: it has no words in a supported language "
                             f"({', '.join(langs.SPOKEN)})")
        return Reading(cleaned, segments, phonemes, warnings)

    def start_fallbacks(self) -> None:
        """Start English's espeak-ng fallback for both accents now (a daemon's warm-up): a reader starts
        it only with its first out-of-lexicon word."""
        from .en import EnReader

        for british in (False, True):
            EnReader.get(british).warm()

    def _read_run(self, lang: str, items: list, text: str, british: bool) -> tuple[list, str, str | None]:
        """(words, phonemes, a warning or None) for one run of one language. Each reader is loaded
        with the first line that needs it."""
        if lang == "zh":
            return (*self._zh.read(items), None)
        if lang == "ja":
            return (*JaReader.get().read(text, self.lexicon.for_language("ja")), None)
        if lang in ESPEAK:
            return (*EspeakReader.get(lang).read(text, self.lexicon.for_language(lang)), None)
        from .en import EnReader  # spaCy + misaki

        words, ph, unknown = EnReader.get(british).read(text, self.lexicon.for_language("en"))
        note = (f"no pronunciation found for {', '.join(unknown)}; add it to the pronunciation dictionary or "
                f"write [word](/IPA/)") if unknown else None
        return words, ph, note


def _flap_dot(text: str, i: int) -> bool:
    """The `.` at `i` is part of Hindi's flap inside a word (espeak-ng writes ड़/ढ़ as `r.`: `lˈʌr.kˌaː`),
    not a sentence's end: a sentence's `.` is followed by a space or nothing (as fitting.join_flap_dots)."""
    return (text[i] == "." and i > 0 and text[i - 1] == "r" and i + 1 < len(text)
            and not text[i + 1].isspace() and text[i + 1] not in ".!?;:,—…")


def split_chunks(phonemes: str, limit: int = MAX_CHUNK_PHONEMES) -> list[Chunk]:
    """Split at sentence ends, then clause punctuation, then spaces, so each chunk fits the model."""
    if len(phonemes) <= limit:
        return [Chunk(phonemes.strip(), "")]
    chunks: list[Chunk] = []
    rest = phonemes.strip()
    while len(rest) > limit:
        window = rest[:limit]
        cut = -1
        for marks in (".!?", ";:", ",—…", " "):
            cut = max((i for i, c in enumerate(window) if c in marks and not _flap_dot(rest, i)), default=-1)
            if cut > limit // 4:
                break
        if cut <= 0:
            cut = limit - 1
        piece, rest = rest[:cut + 1].strip(), rest[cut + 1:].strip()
        chunks.append(Chunk(piece, piece[-1] if piece and piece[-1] in ".!?;:,—…" else " "))
    if rest:
        chunks.append(Chunk(rest, ""))
    return chunks
