"""The engine: text → reading → planned durations → fitted audio, exactly the requested length."""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Callable
from fractions import Fraction

import numpy as np

from . import assets, audio
from .emotion.delivery import Delivery, ProsodyShaper, seed_for
from .emotion.style import directions as style_directions
from .emotion.resolve import EmotionResolver
from .errors import FitError, InputError
from .fitting import (COMPRESS_WEIGHT, FIXED, FRAME, JOIN_PAUSE, LENGTHEN_WEIGHT, Item, allocate, classify, hybrid,
                      mark_fixed, min_model_frames, natural_frames, trims)
from .frontend import Frontend, Lexicon, Reading, split_chunks
from .kokoro import SAMPLE_RATE, KokoroModel, VoiceBank, VoiceInfo
from .kokoro.voices import DEFAULT_VOICE, describe
from .request import FIT_METHODS, MAX_TEXT_CHARS, PhonemeDuration, RenderRequest, Take

# Beyond these the result is no longer speech an editor can use; the error names what would fit.
MIN_RATIO, MAX_RATIO = 0.4, 3.0
SAMPLE_RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000, 176400, 192000)


def choose_method(ratio: float) -> str:
    """The default fitting method per direction and ratio. Lengthening: hybrid, as intelligible as
    stretch (better at 1.4x, bench/fit_quality.py) with the extra time in pauses as a speaker would.
    Shortening: hybrid too since bench/fit_settings.py: halving pauses and trimming long vowels in the
    model leaves less for Rubber Band to squeeze, +0.05-0.07 DNSMOS OVRL over stretch at 0.7-0.8x
    (23 lines), with intelligibility equal there but a few more Mandarin errors in fit_quality.py."""
    return "hybrid"


@dataclass
class ChunkPlan:
    phonemes: str
    tokens: np.ndarray
    style: np.ndarray
    shape: ProsodyShaper | None = None   # emotion, applied between the prosody and decoder stages
    prosody_style: np.ndarray | None = None   # emotion: the row with its prosody half moved (emotion/style.py)


@dataclass
class LinePlan:
    reading: Reading
    voice: str
    chunks: list[ChunkPlan]
    items: list[Item]
    base_voice: str = ""         # enrolled voices: the built-in voice they stand on (language, accent)
    pitch_ratio: float = 1.0     # enrolled voices: F0 scale applied between prosody and decoder

    @property
    def natural_frames(self) -> np.ndarray:
        return natural_frames(self.items)

    @property
    def natural_seconds(self) -> Fraction:
        return Fraction(int(self.natural_frames.sum()) * FRAME, SAMPLE_RATE)


class Engine:
    """Loads the model once; `render` is safe to call repeatedly and from several threads."""

    def __init__(self, assets_dir=None, threads: int | None = None, lexicon: Lexicon | None = None, log=None):
        t0 = time.perf_counter()
        self.paths = assets.ensure(assets_dir, log=log)
        self.model = KokoroModel(self.paths, threads)
        self.voice_bank = VoiceBank(self.paths.voices)
        self.frontend = Frontend(lexicon)
        self.emotions = EmotionResolver()
        self._lock = threading.Lock()
        self.load_seconds = time.perf_counter() - t0

    # ---------------------------------------------------------------- voices and reading
    def voices(self) -> list[VoiceInfo]:
        return self.voice_bank.info()

    def pick_voice(self, voice: str, reading: Reading) -> str:
        if voice in ("", "auto", None):
            return DEFAULT_VOICE["zh" if "zh" in reading.languages else "en"]
        return self.voice_bank.check(voice)

    def plan(self, text: str, voice: str = "auto", language: str = "auto", speed: float = 1.0,
             delivery: Delivery | None = None) -> LinePlan:
        if isinstance(text, str) and len(text) > MAX_TEXT_CHARS:
            raise InputError(f"text is {len(text)} characters; one line may have at most {MAX_TEXT_CHARS}. "
                             f"Split long scripts into cues (one per slot).")
        if not (0.5 <= speed <= 2.0):
            raise InputError(f"speed {speed} out of range: accepted 0.5 to 2.0")
        name = self.voice_bank.check(voice) if voice not in ("", "auto", None) else None
        reading = self.frontend.read(text, language, british=bool(name and self.voice_bank.base(name).startswith("b")))
        name = name or self.pick_voice("auto", reading)
        table = self.voice_bank.table(name)
        # emotion's rate acts on the model's own durations, before fitting (the fit then meets the slot)
        rate = min(2.0, max(0.5, speed * delivery.rate)) if delivery else speed
        pause = delivery.pause if delivery else 1.0
        chunks, items = [], []
        for ci, ch in enumerate(split_chunks(reading.phonemes)):
            tokens, kept = self.model.tokenize(ch.phonemes)
            if len(kept) == 0:
                continue
            style = KokoroModel.style_row(table, len(kept))
            emotional = delivery is not None and not delivery.is_neutral
            moved = style_directions().apply(style, delivery) if emotional else None
            with self._lock:
                pred = self.model.duration(tokens, style, rate)
                if moved is not None:
                    # the moved style redistributes time between segments; the total stays the
                    # documented rate (calibrated against the voice's own durations)
                    shaped = self.model.duration(tokens, moved, rate)
                    pred = shaped * (pred.sum() / shaped.sum())
            labels = ["<sil>", *kept, "<sil>"]
            chunk_items = [Item(lab, classify(lab), float(p), len(chunks)) for lab, p in zip(labels, pred)]
            mark_fixed(chunk_items)
            for it in chunk_items:
                if it.kind == "pause":
                    it.predicted *= pause
            items += chunk_items
            shape = ProsodyShaper(delivery, seed_for(tokens)) if emotional else None
            chunks.append(ChunkPlan(kept, tokens, style, shape, moved))
            if ch.pause_after:
                items.append(Item("<pause>", "join", float(JOIN_PAUSE.get(ch.pause_after, 4)) * pause, -1))
        if not chunks:
            raise InputError(f"nothing speakable in {text!r}")
        return LinePlan(reading, name, chunks, items, self.voice_bank.base(name), self.voice_bank.pitch_ratio(name))

    # ---------------------------------------------------------------- rendering
    def _render_frames(self, plan: LinePlan, frames: np.ndarray, progress=None) -> np.ndarray:
        parts, pos = [], 0
        for ci, chunk in enumerate(plan.chunks):
            while pos < len(plan.items) and plan.items[pos].chunk == -1:
                parts.append(np.zeros(int(frames[pos]) * FRAME, np.float32))
                pos += 1
            n = len(chunk.tokens)
            own = plan.items[pos:pos + n]
            # fixed items (pad, closing pause) render at the model's own length; their excess is cut
            model_frames = np.array([it.rendered if it.kind in FIXED else f for it, f in zip(own, frames[pos:pos + n])])
            lead, tail = trims(own)
            with self._lock:
                wav = self.model.render(chunk.tokens, chunk.style, model_frames, chunk.shape,
                                        f0_scale=plan.pitch_ratio, prosody_style=chunk.prosody_style)
            parts.append(wav[lead * FRAME: len(wav) - tail * FRAME])
            pos += n
            if progress:
                progress(0.1 + 0.8 * (ci + 1) / len(plan.chunks), f"rendered part {ci + 1}/{len(plan.chunks)}")
        for j in range(pos, len(plan.items)):
            parts.append(np.zeros(int(frames[j]) * FRAME, np.float32))
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)

    @staticmethod
    def _validate(req: RenderRequest) -> None:
        if req.method not in FIT_METHODS:
            raise InputError(f"unknown fitting method {req.method!r}: accepted {', '.join(FIT_METHODS)}")
        if req.sample_rate not in SAMPLE_RATES:
            raise InputError(f"sample rate {req.sample_rate} not supported: accepted "
                             f"{', '.join(map(str, SAMPLE_RATES))} (video: 48000)")
        if not (isinstance(req.pre_roll, (int, float)) and math.isfinite(req.pre_roll) and 0 <= req.pre_roll <= 10):
            raise InputError(f"pre-roll {req.pre_roll!r} out of range: 0 to 10 seconds")
        if req.loudness is not None and not (-70 <= req.loudness <= 0):
            raise InputError(f"loudness target {req.loudness} LUFS out of range: -70 to 0, or off")
        lo, hi = req.natural_range
        if not (0 < lo <= 1 <= hi):
            raise InputError(f"natural range {req.natural_range} must satisfy 0 < low ≤ 1 ≤ high")

    def render(self, req: RenderRequest, progress: Callable[[float, str], None] | None = None) -> Take:
        """Render one take. `progress(fraction, message)` is called as the work advances."""
        self._validate(req)
        t0 = time.perf_counter()
        emotion = self.emotions.resolve(req.emotion, req.text) if req.emotion is not None else None
        delivery = emotion.delivery if emotion else None
        plan = self.plan(req.text, req.voice, req.language, req.speed, delivery)
        t1 = time.perf_counter()
        if progress:
            progress(0.1, f"read {len(plan.reading.phonemes)} phonemes in {len(plan.chunks)} part(s)")
        sr = req.sample_rate
        natural = plan.natural_seconds
        pre = int(Fraction(str(req.pre_roll)) * sr + Fraction(1, 2))
        total = req.target.samples(sr, natural)
        if total is None:                                     # natural length (plus pre-roll)
            total = pre + int(natural * sr + Fraction(1, 2))
        body = total - pre
        ratio = body / (float(natural) * sr)
        warnings = list(plan.reading.warnings)
        self._check_ratio(ratio, natural, req, warnings)
        method = choose_method(ratio) if req.method == "auto" else req.method
        if req.target.kind == "natural":
            method = "natural"
        target24 = body * SAMPLE_RATE / sr                    # exact target at the model's rate (float)
        nat = plan.natural_frames

        if method == "natural":
            frames = nat
            wav = self._render_frames(plan, frames, progress)
        elif method == "model":
            units = int(target24 // FRAME)                    # floor: the sub-frame rest is padded, never cut
            if units < min_model_frames(plan.items):
                raise FitError(f"method 'model' cannot go below one frame per phoneme: at least "
                               f"{min_model_frames(plan.items) * FRAME / SAMPLE_RATE + req.pre_roll:.3f} s "
                               f"(use --method stretch or auto for shorter slots)",
                               min_seconds=min_model_frames(plan.items) * FRAME / SAMPLE_RATE + req.pre_roll)
            frames = allocate(plan.items, units, LENGTHEN_WEIGHT if units >= nat.sum() else COMPRESS_WEIGHT)
            wav = self._render_frames(plan, frames, progress)
        else:
            frames = nat if method == "stretch" else hybrid(plan.items, target24 / FRAME)
            wav = self._render_frames(plan, frames, progress)
            wav = audio.stretch(wav, SAMPLE_RATE, int(math.floor(target24)))
        t2 = time.perf_counter()

        out = audio.exact_length(audio.resample(wav, SAMPLE_RATE, sr), body)
        gain = delivery.gain_db if delivery else 0.0     # emotion's level rides on the loudness target
        if req.loudness is not None:
            if gain > 0:
                out = audio.make_headroom(out, sr, min(-1.0, req.loudness + gain))
            out, loud_warn = audio.loudness_normalize(out, sr, min(-1.0, req.loudness + gain))
            warnings += loud_warn
        elif gain:
            out = audio.apply_gain(out, gain)
        if pre:
            out = np.concatenate([np.zeros(pre, np.float32), out])
        assert len(out) == total, (len(out), total)
        lang_warn = self._voice_language_warning(plan)
        if lang_warn:
            warnings.append(lang_warn)
        t3 = time.perf_counter()
        if progress:
            progress(1.0, "done")
        return Take(
            audio=out, sample_rate=sr, natural_seconds=float(natural), ratio=ratio, method=method,
            voice=plan.voice, phonemes=self._phoneme_durations(plan, frames, body / sr, req.pre_roll),
            warnings=warnings, text=plan.reading.text,
            timings={"frontend": t1 - t0, "render": t2 - t1, "post": t3 - t2, "total": t3 - t0},
            emotion=emotion.to_json() if emotion else None,
        )

    @staticmethod
    def _check_ratio(ratio: float, natural: Fraction, req: RenderRequest, warnings: list[str]) -> None:
        nat_s = float(natural)
        if ratio < MIN_RATIO or ratio > MAX_RATIO:
            lo, hi = nat_s * MIN_RATIO + req.pre_roll, nat_s * MAX_RATIO + req.pre_roll
            raise FitError(f"cannot fit: the line reads in {nat_s:.2f} s naturally and the slot leaves "
                           f"{ratio * nat_s:.2f} s ({ratio:.2f}×); feasible is {lo:.2f} s to {hi:.2f} s. "
                           f"Shorten the text or lengthen the slot.", min_seconds=lo, max_seconds=hi)
        lo, hi = req.natural_range
        if ratio < lo:
            warnings.append(f"fast: {ratio:.2f}× natural ({nat_s:.2f} s read in {ratio * nat_s:.2f} s), below "
                            f"{lo:g}×; would fit naturally in a slot ≥ {nat_s * lo + req.pre_roll:.2f} s or with "
                            f"about {100 * (1 - ratio / lo):.0f}% shorter text")
        elif ratio > hi:
            warnings.append(f"slow: {ratio:.2f}× natural ({nat_s:.2f} s stretched to {ratio * nat_s:.2f} s), above "
                            f"{hi:g}×; would fit naturally in a slot ≤ {nat_s * hi + req.pre_roll:.2f} s or with "
                            f"about {100 * (ratio / hi - 1):.0f}% more text")

    @staticmethod
    def _phoneme_durations(plan: LinePlan, frames: np.ndarray, body_s: float, pre_roll: float) -> list[PhonemeDuration]:
        scale = body_s / max(frames.sum() * FRAME / SAMPLE_RATE, 1e-9)
        out, t = [], pre_roll
        for it, f in zip(plan.items, frames):
            d = float(f) * FRAME / SAMPLE_RATE * scale
            out.append(PhonemeDuration(it.label, round(t, 6), round(d, 6)))
            t += d
        return out

    @staticmethod
    def _voice_language_warning(plan: LinePlan) -> str | None:
        base = describe(plan.base_voice or plan.voice)
        lang = base.language
        others = [x for x in plan.reading.languages if x != lang]
        if others:
            return f"voice {plan.voice} is a {base.accent} voice; its {'/'.join(others)} parts " \
                   f"will carry that accent"
        return None

    # ---------------------------------------------------------------- explain
    def explain(self, text: str, voice: str = "auto", language: str = "auto", speed: float = 1.0) -> dict:
        """How the line will be read, without rendering audio (only the cheap duration stage runs)."""
        plan = self.plan(text, voice, language, speed)
        segs = []
        for s in plan.reading.segments:
            words = []
            for w in s.words:
                if isinstance(w, str):
                    continue
                entry = {"text": w.text, "phonemes": w.phonemes}
                if hasattr(w, "pinyin"):
                    entry["pinyin"] = " ".join(w.pinyin)
                    entry["override"] = w.overridden
                words.append(entry)
            segs.append({"language": s.language, "text": s.text, "phonemes": s.phonemes, "words": words})
        return {"text": plan.reading.text, "voice": plan.voice, "natural_seconds": round(float(plan.natural_seconds), 3),
                "segments": segs, "phonemes": plan.reading.phonemes, "chunks": len(plan.chunks),
                "warnings": plan.reading.warnings}
