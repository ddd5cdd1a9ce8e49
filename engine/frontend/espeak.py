"""Spanish, French, Italian, Brazilian Portuguese and Hindi: espeak-ng through misaki's EspeakG2P, the
reader Kokoro v1.0 was trained with for these languages (the bundled espeak-ng data of
`espeakng_loader`, so nothing is installed system-wide and nothing is downloaded).

espeak-ng reads numbers itself in each language; what it misreads is the written form: the thousands
dot (`1.250` was read "uno punto doscientos…") and the decimal comma (read as a pause). Those are
rewritten first. Overrides (`[word](/IPA/)` and dictionary entries) are spliced in as written, and so
are the few words espeak-ng misreads (CORRECTIONS).
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from ..languages import ESPEAK

LINK = re.compile(r"\[([^\]\n]+)\]\(/([^)\n]*)/\)")
_DECIMAL_WORD = {"es": "coma", "fr": "virgule", "it": "virgola", "pt": "vírgula", "hi": "दशमलव"}
# espeak's own marks that Kokoro has no token for, or that mean a pause the model knows as another mark
_PUNCT = {"¿": "", "¡": "", "«": "“", "»": "”", "।": ".", "॥": "."}
# Words espeak-ng reads wrongly, said with phonemes the model knows from other words of the language.
# Italian `è` ("is") is a stressed open /ɛ/; espeak-ng reads it as the conjunction `e`, and Whisper then
# wrote `e` (4 of 8 takes of the bench's sentences with `è`; with ˈɛ: 0 of 8).
CORRECTIONS = {"it": {"è": "ˈɛ", "È": "ˈɛ"}}
# Not corrected: Hindi ँ before a cluster, which espeak-ng reads with an `n` and a schwa (पहुँचते
# pəhˈũncətˌeː, one syllable too many). Kokoro learned that reading: read as ं (pəhˈũctˌeː) or with the
# schwa dropped (pəhˈũncteː), Whisper heard such verbs worse (8 sentences, 2 voices, greedy CER 17.8 % as
# espeak-ng reads them, 22.0 % and 24.1 %), and all ँ as ं worse too (15.9 % → 17.2 %).
_lock = threading.Lock()
_readers: dict[str, EspeakReader] = {}


@dataclass
class EspeakWord:
    text: str
    phonemes: str
    overridden: bool = False


def normalize_numbers(text: str, language: str) -> str:
    """Grouped and decimal numbers in the way this language writes them → what espeak reads right."""
    if language == "hi":   # 1,25,000 (Indian grouping) and 3.5
        text = re.sub(r"(?<![\d,])\d{1,3}(?:,\d{2,3})+(?![\d,])", lambda m: m[0].replace(",", ""), text)
        return re.sub(r"(?<=\d)\.(?=\d)", f" {_DECIMAL_WORD['hi']} ", text)
    group = r"[ .]" if language == "fr" else r"\."
    text = re.sub(rf"(?<![\d.,])\d{{1,3}}(?:{group}\d{{3}})+(?!\d|\.\d)",
                  lambda m: re.sub(r"\D", "", m[0]), text)
    return re.sub(r"(?<=\d),(?=\d)", f" {_DECIMAL_WORD[language]} ", text)


class EspeakReader:
    """One language's reader; `read` is safe from several threads (one espeak call at a time)."""

    def __init__(self, language: str):
        from misaki.espeak import EspeakG2P  # loads the espeak-ng library: only with the first such line

        self.language = language
        self.g2p = EspeakG2P(language=ESPEAK[language])

    @staticmethod
    def get(language: str) -> EspeakReader:
        with _lock:
            if language not in _readers:
                _readers[language] = EspeakReader(language)
            return _readers[language]

    def phonemize(self, text: str) -> str:
        for mark, repl in _PUNCT.items():
            text = text.replace(mark, repl)
        if not re.search(r"\w", text):
            return text.strip()
        with _lock:
            phonemes, _ = self.g2p(normalize_numbers(text, self.language))
        for mark, repl in _PUNCT.items():
            phonemes = phonemes.replace(mark, repl)
        return re.sub(r"\s+", " ", phonemes).strip()

    def read(self, text: str, dictionary: dict[str, str] | None = None) -> tuple[list[EspeakWord], str]:
        """(words, phonemes). Dictionary words and `[word](/IPA/)` links are read as written."""
        words: list[EspeakWord] = []
        for piece, ipa in split_overrides(text, dictionary or {}):
            if ipa is not None:
                words.append(EspeakWord(piece, ipa, True))
                continue
            for part, fixed in corrected_pieces(piece, CORRECTIONS.get(self.language, {})):
                if fixed is not None:
                    words.append(EspeakWord(part, fixed))
                elif part.strip():
                    words.extend(_words(part, self.phonemize(part)))
        phonemes = " ".join(w.phonemes for w in words if w.phonemes)
        return words, re.sub(r" (?=[,.!?;:…])", "", phonemes).strip()


def _words(text: str, phonemes: str) -> list[EspeakWord]:
    """Word by word where espeak kept one phoneme word per written word, else the piece as one."""
    written, spoken = text.split(), phonemes.split()
    if len(written) == len(spoken):
        return [EspeakWord(w, p) for w, p in zip(written, spoken)]
    return [EspeakWord(text.strip(), phonemes)]


def corrected_pieces(text: str, corrections: dict[str, str]) -> list[tuple[str, str | None]]:
    """Plain pieces (None) and the corrected words (their phonemes). Only free-standing words: an
    elided one (`dov'è`) espeak-ng reads right as part of its word."""
    if not corrections or not text:
        return [(text, None)]
    pattern = re.compile(r"(?<![\w'’])(" + "|".join(map(re.escape, corrections)) + r")(?![\w'’])")
    out, pos = [], 0
    for m in pattern.finditer(text):
        out += [(text[pos:m.start()], None), (m[1], corrections[m[1]])]
        pos = m.end()
    return [(t, ipa) for t, ipa in [*out, (text[pos:], None)] if t or ipa is not None]


def split_overrides(text: str, dictionary: dict[str, str]) -> list[tuple[str, str | None]]:
    """Plain pieces (None) and overridden words (their IPA), in order: `[word](/IPA/)` links first,
    then dictionary words (longest first, whole words only, any case as written in the file)."""
    pieces: list[tuple[str, str | None]] = []
    pos = 0
    for m in LINK.finditer(text):
        pieces += _dictionary_pieces(text[pos:m.start()], dictionary)
        pieces.append((m[1], m[2]))
        pos = m.end()
    return pieces + _dictionary_pieces(text[pos:], dictionary)


def _dictionary_pieces(text: str, dictionary: dict[str, str]) -> list[tuple[str, str | None]]:
    if not text:
        return []
    if not dictionary:
        return [(text, None)]
    words = sorted(dictionary, key=len, reverse=True)
    pattern = re.compile(r"(?<!\w)(" + "|".join(re.escape(w) for w in words) + r")(?!\w)")
    out, pos = [], 0
    for m in pattern.finditer(text):
        out.append((text[pos:m.start()], None))
        out.append((m[1], dictionary[m[1]]))
        pos = m.end()
    out.append((text[pos:], None))
    return [(t, ipa) for t, ipa in out if t or ipa is not None]
