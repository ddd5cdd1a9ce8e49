"""Japanese: misaki's cutlet reader — the one Kokoro v1.0 was trained with (`misaki.ja.JAG2P()` defaults to
it): MeCab (fugashi) tokens with their UniDic pronunciations, mapped kana by kana to Kokoro's IPA
(`koɲɲiʨiβa`). The dictionary is unidic-lite, inside its PyPI package, so nothing is downloaded at run
time (misaki's `unidic` requirement downloads 770 MB on first use; the lite edition reads the same way).

Differences from misaki, on purpose:
- numbers become kanji numerals before tagging (`3日` → 三日 → mikka; misaki's own converter read
  "san nichi"), so the dictionary picks the counter readings;
- readings can be given: `漢字(かんじ)` or `漢字(kanji)` inline, or in the dictionary file (kana or romaji),
  and `[word](/phonemes/)` links as everywhere.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass

import jaconv
from num2words import num2words

from ..errors import InputError
from .espeak import LINK
from ..languages import HAN, KANA

_HAN_JA = HAN + "々〆ヵヶ"
_ROMAJI = r"[A-Za-zāēīōūâêîôû' -]+"
RUBY = re.compile(rf"([{_HAN_JA}]+)\s*[(（]\s*([{KANA}]+|{_ROMAJI})\s*[)）]")
_lock = threading.Lock()
_reader: list[JaReader] = []


@dataclass
class JaWord:
    text: str
    phonemes: str
    reading: str = ""          # the kana it was read from, for overridden words
    overridden: bool = False


_ROWS = {"あ": "あかがさざただなはばぱまやゃらわぁ", "い": "いきぎしじちぢにひびぴみりぃ",
         "う": "うくぐすずつづぬふぶぷむゆゅるぅ", "え": "えけげせぜてでねへべぺめれぇ",
         "お": "おこごそぞとどのほぼぽもよょろをぉ"}


def spoken_kana(hiragana: str) -> str:
    """Written kana → as said, the way UniDic's pronunciations write long vowels: おう, おお → oː,
    えい → eː, a vowel after its own row → ː (とうきょう → トーキョー, おおさか → オーサカ, せんせい →
    センセー), so a given reading sounds like the dictionary's."""
    after = {**{v: rows for v, rows in _ROWS.items()}, "う": _ROWS["う"] + _ROWS["お"], "い": _ROWS["い"] + _ROWS["え"]}
    out = ""
    for ch in hiragana:
        out += "ー" if out and ch in after and out[-1] in after[ch] else ch
    return out


def kana_reading(word: str, reading: str) -> str:
    """A reading written in kana or romaji (macrons for long vowels: tōkyō) → hiragana as said;
    InputError naming what is accepted otherwise."""
    r = reading.strip()
    if re.fullmatch(f"[{KANA}]+", r):
        return spoken_kana(jaconv.kata2hira(r))
    if re.fullmatch(_ROMAJI, r):
        romaji = r.lower().replace(" ", "")
        for long, plain in zip("āēīōūâêîôû", "aeiouaeiou"):
            romaji = romaji.replace(long, plain + "-")
        kana = jaconv.alphabet2kana(romaji)
        if re.fullmatch(f"[{KANA}]+", kana):
            return spoken_kana(kana)
    raise InputError(f"reading {reading!r} for {word!r} is not kana or romaji: write it in hiragana or katakana "
                     f"(東京(とうきょう)) or Hepburn romaji (東京(toukyou))")


def normalize_numbers(text: str) -> str:
    """Digits → kanji numerals (1,000 → 千, 3.5 → 三点五), so MeCab reads counters (三日 mikka, 一人 hitori)."""
    text = re.sub(r"(?<![\d,])\d{1,3}(?:,\d{3})+(?![\d,])", lambda m: m[0].replace(",", ""), text)
    text = re.sub(r"(\d+)\.(\d+)", lambda m: num2words(int(m[1]), lang="ja") + "点" +
                  "".join(num2words(int(d), lang="ja") for d in m[2]), text)
    text = re.sub(r"\d{1,15}", lambda m: num2words(int(m[0]), lang="ja"), text)
    return text.replace("%", "パーセント").replace("％", "パーセント")


class JaReader:
    """Reads a Japanese run; safe from several threads (MeCab is called under a lock)."""

    def __init__(self):
        from misaki.cutlet import Cutlet, Word  # MeCab + the dictionary: only with the first Japanese line

        self.cutlet, self._word = Cutlet(), Word
        self._spell = self.cutlet._romaji_word
        self._heard: list[tuple[str, str]] = []
        # cutlet groups MeCab's words (its word list) and spells each group; recording what it spells
        # gives the words with their phonemes, for explain and for hit points
        self.cutlet._romaji_word = self._spell_and_record

    def _spell_and_record(self, word) -> str:
        phonemes = self._spell(word)
        self._heard.append((word.surface, phonemes))
        return phonemes

    @staticmethod
    def get() -> JaReader:
        with _lock:
            if not _reader:
                _reader.append(JaReader())
            return _reader[0]

    def phonemes_of(self, word: str, hiragana: str) -> str:
        return self._spell(self._word(word, hiragana, 6))

    def read(self, text: str, dictionary: dict[str, str] | None = None) -> tuple[list[JaWord], str]:
        """(words, phonemes): plain text through cutlet, given readings and links as written."""
        words: list[JaWord] = []
        parts: list[str] = []
        for piece, reading, phonemes in self._pieces(text, dictionary or {}):
            if phonemes is None and reading is not None:
                phonemes = self.phonemes_of(piece, reading)
            if phonemes is not None:
                words.append(JaWord(piece, phonemes, reading or "", True))
                parts.append(phonemes)
            elif piece.strip():
                said, heard = self._read_plain(piece)
                words += heard
                parts.append(said)
        out = " ".join(p for p in parts if p.strip())
        return words, re.sub(r"\s+(?=[,.!?;:…”)])", "", re.sub(r"\s+", " ", out)).strip()

    def _read_plain(self, piece: str) -> tuple[str, list[JaWord]]:
        with _lock:
            self._heard = []
            said, _ = self.cutlet(normalize_numbers(piece))
            heard = self._heard
        said = said.replace("«", "“").replace("»", "”")
        words = [JaWord(surface, ps.replace("っ", "")) for surface, ps in heard if ps.strip()]
        return said, words or [JaWord(piece.strip(), said)]

    @staticmethod
    def _pieces(text: str, dictionary: dict[str, str]) -> list[tuple[str, str | None, str | None]]:
        """(text, hiragana reading or None, phonemes or None) in order: links, inline readings, then
        dictionary words (longest first; Japanese has no spaces, so anywhere in the text)."""
        spans: list[tuple[int, int, str, str | None, str | None]] = []
        for m in LINK.finditer(text):
            spans.append((m.start(), m.end(), m[1], None, m[2]))
        for m in RUBY.finditer(text):
            spans.append((m.start(), m.end(), m[1], kana_reading(m[1], m[2]), None))
        for word in sorted(dictionary, key=len, reverse=True):
            given = dictionary[word]        # hiragana, or /phonemes/ as written
            phonemes = given[1:-1] if given.startswith("/") else None
            for m in re.finditer(re.escape(word), text):
                spans.append((m.start(), m.end(), word, None if phonemes is not None else given, phonemes))
        pieces, pos = [], 0
        for start, end, word, reading, phonemes in sorted(spans, key=lambda s: (s[0], -s[1])):
            if start < pos:      # inside an earlier override
                continue
            pieces.append((text[pos:start], None, None))
            pieces.append((word, reading, phonemes))
            pos = end
        pieces.append((text[pos:], None, None))
        return [p for p in pieces if p[0] or p[2] is not None]
