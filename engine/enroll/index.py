"""The built-in voices as enrollment starting points: speaker embeddings and median F0 of each.

Computed once from two renders per voice (deterministic: the model and voices are fixed by hash) and
cached as JSON next to the enrolled voices; an enrollment then only compares numbers.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .. import assets
from ..languages import SPOKEN
from ..kokoro import SAMPLE_RATE, KokoroModel
from ..kokoro.voices import describe
from ..speaker import cosine, encoder
from .align import median_f0

VERSION = 2                  # 2: the voices of all eight languages (1: en, zh)
LANGUAGES = SPOKEN
SENTENCES = {
    "en": ("The old lighthouse keeper watched the storm roll in from the sea.",
           "Please remember to bring your notebook to the meeting tomorrow morning."),
    "zh": ("今天的天气非常好，我们一起去公园散步吧。", "这本书讲述了一个关于勇气和友谊的动人故事。"),
    "ja": ("古い灯台の番人は海から来る嵐をじっと見ていた。", "明日の会議にはノートを忘れずに持ってきてください。"),
    "es": ("El viejo farero miraba cómo la tormenta llegaba desde el mar.",
           "Recuerda traer tu cuaderno a la reunión de mañana por la mañana."),
    "fr": ("Le vieux gardien du phare regardait la tempête arriver de la mer.",
           "N'oublie pas d'apporter ton carnet à la réunion de demain matin."),
    "it": ("Il vecchio guardiano del faro guardava la tempesta arrivare dal mare.",
           "Ricordati di portare il quaderno alla riunione di domani mattina."),
    "pt": ("O velho faroleiro olhava a tempestade chegando do mar.",
           "Lembre de trazer o seu caderno para a reunião de amanhã de manhã."),
    "hi": ("पुराना प्रकाशस्तंभ रक्षक समुद्र से आते तूफ़ान को देख रहा था।",
           "कल सुबह की बैठक में अपनी नोटबुक लाना मत भूलना।"),
}
F0_GATE = (0.8, 1.25)        # a starting voice's median F0 must lie within this ratio of the reference's


@dataclass(frozen=True)
class VoiceEntry:
    name: str
    language: str
    resemblyzer: np.ndarray
    dvector: np.ndarray
    median_f0: float


def _key(engine) -> str:
    return json.loads(engine.paths.manifest.read_text("utf-8")).get("model_sha256", "")[:16] if \
        engine.paths.manifest.is_file() else assets.sources()["model"]["sha256"][:16]


def render_natural(engine, text: str, table: np.ndarray, base_voice: str, f0_scale: float = 1.0,
                   language: str = "auto", adapt=None, shape=None) -> np.ndarray:
    """A plain natural-length render of `text` with any style table (and decoder adaptation), no fitting, 24 kHz;
    `shape` reshapes the prosody curves as KokoroModel.render's does."""
    from ..kokoro.duration import natural_frames

    plan = engine.plan(text, base_voice, language)
    parts = []
    for ch in plan.chunks:
        style = KokoroModel.style_row(table, len(ch.phonemes))
        frames = natural_frames(engine.model.duration(ch.tokens, style))
        parts.append(engine.model.render(ch.tokens, style, frames, shape=shape, f0_scale=f0_scale, adapt=adapt))
    return np.concatenate(parts)


def build(engine, progress: Callable[[float, str], None] | None = None) -> list[VoiceEntry]:
    names = [n for n in engine.voice_bank.names if describe(n).language in LANGUAGES]
    out = []
    for i, name in enumerate(names):
        lang = describe(name).language
        wavs = [render_natural(engine, s, engine.voice_bank.table(name), name, language=lang) for s in SENTENCES[lang]]
        r = np.mean([encoder("resemblyzer").embed(w, SAMPLE_RATE) for w in wavs], axis=0)
        d = np.mean([encoder("dvector").embed(w, SAMPLE_RATE) for w in wavs], axis=0)
        out.append(VoiceEntry(name, lang, r / np.linalg.norm(r), d / np.linalg.norm(d),
                              float(np.nanmedian([median_f0(w) for w in wavs]))))
        if progress:
            progress((i + 1) / len(names), f"indexed built-in voice {name} ({i + 1}/{len(names)})")
    return out


def _read(path: Path) -> list[VoiceEntry] | None:
    try:
        raw = json.loads(Path(path).read_text("utf-8"))
        return [VoiceEntry(e["name"], e["language"], np.array(e["resemblyzer"], np.float32),
                           np.array(e["dvector"], np.float32), e["median_f0"]) for e in raw]
    except (OSError, ValueError, KeyError):
        return None


def load(engine, cache_dir: Path, progress=None) -> list[VoiceEntry]:
    """The shipped index (engine/enroll/builtin_index-*.json, same model hash), else a cached one, else built."""
    name = f"builtin-index-v{VERSION}-{_key(engine)}.json"
    shipped = _read(Path(__file__).with_name(name))
    if shipped:
        return shipped
    path = Path(cache_dir) / f".{name}"
    cached = _read(path)
    if cached:
        return cached
    entries = build(engine, progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.partial")
    tmp.write_text(json.dumps([{"name": e.name, "language": e.language, "resemblyzer": e.resemblyzer.tolist(),
                                "dvector": e.dvector.tolist(), "median_f0": e.median_f0} for e in entries]), "utf-8")
    os.replace(tmp, path)
    return entries


def nearest(entries: list[VoiceEntry], embedding: np.ndarray, language: str, f0: float,
            exclude: tuple[str, ...] = ()) -> tuple[VoiceEntry, bool]:
    """The closest built-in voice of the reference's language, preferring voices whose median F0 is
    within 0.8–1.25× of the reference's (an ungated pick can choose a male voice for a female speaker).
    Returns (entry, passed_gate)."""
    pool = [e for e in entries if e.language == language and e.name not in exclude]
    gated = [e for e in pool if np.isfinite(f0) and F0_GATE[0] <= f0 / e.median_f0 <= F0_GATE[1]]
    best = max(gated or pool, key=lambda e: cosine(e.resemblyzer, embedding))
    return best, bool(gated)

