"""IndexTTS2 behind the backend seam (engine/backend.py), from a local checkpoint in upstream's layout.

A voice is a reference clip (engine/indextts/voices.py); its speaker conditioning is computed once per
clip content (sha256). Emotion: a preset or 8-vector goes through upstream's feat1/feat2 mixing; a
reference clip through its emotion encoder with alpha; a description or the line itself through
upstream's Qwen text-emotion model (or takefit's own text → vector, engine/emotion, with
TAKEFIT_INDEXTTS_TEXT_EMOTION=takefit). Length: engine/indextts/fit.py.
"""
from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from ..audio import exact_length, loudness_normalize, resample, stretch
from ..backend import (Capabilities, LoadReport, NaturalLength, Progress, backend_entry, clip_identity,
                       resident_bytes)
from ..emotion import Emotion
from ..emotion.resolve import EmotionResolver
from ..errors import InputError
from ..fill import fade_edges
from ..request import RenderRequest
from ..speech import speech_span
from ..take import Take
from .checkpoint import locate
from .fit import HOP, PASSES, SAMPLE_RATE, feasible, handles, layout, next_frames, span_done
from .model import IndexModel, load_upstream, natural_frames
from .voices import ClipVoice, find_voice, list_voices

NAME = "indextts"
CODES_PER_SECOND = 50      # semantic codes per second of speech (w2v-BERT's 20 ms hop)
TEXT_EMOTION_ENV = "TAKEFIT_INDEXTTS_TEXT_EMOTION"   # 'takefit': takefit's own text → vector, not upstream's Qwen
_KEPT_CODES = 32           # GPT outputs kept for a plan's render after its natural length was asked


@dataclass(frozen=True)
class Spoken:
    """A render's measured speech: its samples at the model's rate, the S2Mel length that gave them, the
    fit ('model', or 'hybrid' beyond FEASIBLE) and how much edge silence was cut away (samples)."""
    audio: np.ndarray
    frames: int
    method: str
    edges: int


@dataclass(frozen=True)
class IndexPlan:
    """A line as IndexTTS will read it: text tokens, the voice clip, the emotion as upstream takes it."""
    voice: str
    clip: str
    text: str
    tokens: tuple[int, ...]
    vector: tuple[float, ...] | None     # upstream's emo_vector (after normalize_emo_vec), or None
    emotion_clip: str | None             # emo_audio_prompt
    alpha: float
    emotion_source: str                  # none, preset, vector, text, line, reference
    seed: int


class IndexTTSBackend:
    """`model_dir`: the checkpoint folder (default $TAKEFIT_INDEXTTS_DIR or checkpoints/indextts2/)."""

    def __init__(self, model_dir: str | Path | None = None, *, device: str | None = None, log=None, **_ignored):
        self._entry = backend_entry(NAME)
        self._device = self._entry.check_device(device)
        self.checkpoint = locate(model_dir)           # missing files: CheckpointMissing, before any import
        t0, before = time.perf_counter(), resident_bytes()
        self.model = IndexModel(load_upstream(self.checkpoint, self._device))
        self._report = LoadReport(time.perf_counter() - t0, max(0, resident_bytes() - before) or None,
                                  _device_bytes(self._device), ("text unnormalised: nemo-text-processing absent",)
                                  if self.model.tts.normalizer is None else ())
        self._lock = threading.RLock()
        self._emotions = EmotionResolver()
        self._codes: OrderedDict[IndexPlan, tuple] = OrderedDict()

    # ---- what it is
    name = property(lambda self: NAME)
    engine_id = property(lambda self: self.checkpoint.engine_id)
    sample_rate = property(lambda self: SAMPLE_RATE)
    device = property(lambda self: self._device)

    @property
    def capabilities(self) -> Capabilities:
        return self._entry.capabilities

    def report(self) -> LoadReport:
        """The load as it went, with the device's peak so far (asked each time: renders raise it)."""
        return replace(self._report, device_peak_bytes=_device_bytes(self._device, peak=True))

    def warm(self) -> list[str]:
        """Nothing left to prepare: the load opened every model a render uses."""
        return []

    # ---- voices and reading
    def voices(self) -> list[ClipVoice]:
        return list_voices(self.checkpoint.model_dir)

    def check_voice(self, name: str) -> str:
        return find_voice(name, self.checkpoint.model_dir).name if name != "auto" else "auto"

    def voice_identity(self, name: str) -> str | None:
        """The clip behind the voice (a listed name or a path), as engine/backend.py clip_identity."""
        return clip_identity(find_voice(name, self.checkpoint.model_dir).path)

    def plan(self, req: RenderRequest) -> IndexPlan:
        voice = find_voice(req.voice, self.checkpoint.model_dir)
        with self._lock:
            tokens = tuple(self.model.tokens(req.text))
        if not tokens:
            raise InputError("the line has nothing to read: give some words")
        vector, clip, alpha, source = self._emotion(req.emotion, req.text)
        voice_hash = self.model.clips.content(voice.path)[1]     # bounded: a long clip is not read whole
        digest = hashlib.sha256(f"{req.text}\0{voice_hash}\0{req.variant}".encode()).digest()
        return IndexPlan(voice.name, voice.path, req.text, tokens, vector, clip, alpha, source,
                         int.from_bytes(digest[:4], "big"))

    def _emotion(self, emotion: Emotion | None, line: str):
        """(vector, emotion clip, alpha, source) in upstream's terms."""
        if emotion is None:
            return None, None, 1.0, "none"
        if emotion.reference is not None:
            if not Path(emotion.reference).is_file():
                raise InputError(f"emotion reference clip {emotion.reference!r} not found: give a WAV file's path")
            return None, str(Path(emotion.reference).resolve()), emotion.alpha, "reference"
        words = emotion.text if emotion.text is not None else line if emotion.from_line else None
        if words is not None and os.environ.get(TEXT_EMOTION_ENV, "upstream") != "takefit":
            # upstream's use_emo_text: its Qwen model's scores, scaled by alpha (infer_generator)
            with self._lock:
                scores = self.model.tts.qwen_emo.inference(words)
            vec = [float(v) * emotion.alpha for v in scores.values()]
            return tuple(vec), None, 1.0, "text (upstream)" if emotion.text is not None else "line (upstream)"
        resolved = self._emotions.resolve(emotion, line)
        # upstream's webui biases and caps a given vector (sum ≤ 0.8) before inference: so do we
        vec = self.model.tts.normalize_emo_vec(list(resolved.vector), apply_bias=True)
        return tuple(float(v) for v in vec), None, 1.0, resolved.source

    def natural_length(self, plan: IndexPlan) -> NaturalLength:
        """Upstream's own length for the line: it runs the GPT (kept for the render), so not predicted."""
        codes = self._generate(plan)[1]
        seconds = Fraction(natural_frames(codes.shape[-1]) * HOP, SAMPLE_RATE)
        return NaturalLength(seconds, float(seconds), predicted=False)

    def explain(self, text: str, voice: str = "auto", language: str = "auto", speed: float = 1.0) -> dict:
        with self._lock:
            pieces = self.model.tts.tokenizer.tokenize(text)
        return {"text": text, "tokens": pieces, "backend": NAME}

    def with_lexicon(self, lexicon) -> IndexTTSBackend:
        raise InputError("pronunciation dictionaries are Kokoro's: the IndexTTS backend reads text as written")

    # ---- the take
    def _generate(self, plan: IndexPlan) -> tuple:
        """(conditioning, codes, latent) for a plan, kept for a few plans (natural length, then render)."""
        with self._lock:
            if plan in self._codes:
                self._codes.move_to_end(plan)
                return self._codes[plan]
            cond = self.model.condition(plan.clip, list(plan.vector) if plan.vector else None, plan.emotion_clip,
                                        plan.alpha)
            cap = int(self.model.tts.cfg.gpt.max_mel_tokens)
            codes, latent = self.model.codes(list(plan.tokens), cond, cap, plan.seed)
            self._codes[plan] = (cond, codes, latent)
            while len(self._codes) > _KEPT_CODES:
                self._codes.popitem(last=False)
            return self._codes[plan]

    def render(self, req: RenderRequest, progress: Progress | None = None) -> Take:
        t0 = time.perf_counter()
        plan = self.plan(req)
        cond, codes, latent = self._generate(plan)
        natural = natural_frames(codes.shape[-1])
        if progress:
            progress(0.5, "codes")
        rate = req.sample_rate
        before, after = handles(req.pre_roll, req.lead, req.tail, rate)
        natural_take = Fraction(natural * HOP, SAMPLE_RATE) + Fraction(before + after, rate)
        total = req.target.samples(rate, natural_take)
        total = total if total is not None else int(natural_take * rate + Fraction(1, 2))
        lay = layout(total, rate, before, after, natural)
        spoken, passes = self._speech(plan, cond, codes, latent, lay)
        speech = resample(spoken.audio, SAMPLE_RATE, rate)
        rest = len(speech) - lay.speech                 # what the measured span missed the slot's by
        if spoken.method == "hybrid":
            speech = stretch(speech, rate, lay.speech)
        speech = fade_edges(exact_length(speech, lay.speech))
        audio = np.concatenate([np.zeros(lay.lead, np.float32), speech, np.zeros(lay.tail, np.float32)])
        warnings = self._warnings(replace(lay, method=spoken.method), req)
        if req.loudness is not None:
            audio, more = loudness_normalize(audio, rate, req.loudness)
            warnings += more
        timings = {"total": time.perf_counter() - t0, "rest_samples": float(rest), "frames": float(spoken.frames),
                   "passes": float(passes), "edge_seconds": spoken.edges / SAMPLE_RATE}
        found = speech_span(audio, rate) or (lay.lead, lay.lead)       # as measured in the take itself
        return Take(audio, rate, float(natural_take), float(total / rate / natural_take), spoken.method, plan.voice,
                    [], warnings, req.text, timings, self._emotion_doc(plan), found[0] / rate, found[1] / rate)

    def _speech(self, plan: IndexPlan, cond, codes, latent, lay) -> tuple[Spoken, int]:
        """The speech span of a render whose span lasts the slot's (fit.py: up to PASSES renders), cut out
        of the model's edge silence; with how many renders it took."""
        wanted = lay.speech * SAMPLE_RATE / lay.rate           # the slot's speech span at the model's rate
        frames, method = lay.frames, lay.method
        for n in range(1, PASSES + 1):
            with self._lock:
                wav = self.model.waveform(codes, latent, cond, frames, plan.seed)
            start, end = speech_span(wav, SAMPLE_RATE) or (0, len(wav))
            spoken = Spoken(wav[start:end], frames, method, len(wav) - (end - start))
            if method == "hybrid" or span_done(end - start, wanted) or n == PASSES:
                return spoken, n
            frames, method = feasible(next_frames(frames, end - start, wanted), lay.natural_frames)
        raise AssertionError("unreachable")

    @staticmethod
    def _warnings(lay, req: RenderRequest) -> list[str]:
        lo, hi = req.natural_range
        out = []
        if lay.method == "hybrid":
            out.append(f"the slot needs {lay.ratio:.2f}× IndexTTS's natural speech; the model renders at most "
                       f"0.5–2×, the rest is time-stretched (hybrid)")
        elif not lo <= lay.ratio <= hi:
            out.append(f"speech at {lay.ratio:.2f}× its natural length, outside {lo:g}–{hi:g}")
        return out

    @staticmethod
    def _emotion_doc(plan: IndexPlan) -> dict:
        return {"source": plan.emotion_source, "vector": list(plan.vector) if plan.vector else None,
                "reference": plan.emotion_clip, "alpha": plan.alpha}


def _device_bytes(device: str, peak: bool = False) -> int | None:
    """What torch holds on a CUDA device now (or at most since it started); None elsewhere."""
    if not device.startswith("cuda"):
        return None
    measure = torch.cuda.max_memory_allocated if peak else torch.cuda.memory_allocated
    return int(measure(torch.device(device)))


__all__ = ["NAME", "IndexPlan", "IndexTTSBackend"]
