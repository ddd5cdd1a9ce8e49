"""The engine: text → reading → planned durations → fitted audio, exactly the requested length."""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Callable
from fractions import Fraction

from collections import OrderedDict

import numpy as np

from . import assets, audio, fill, pins as hitpoints
from .emotion.delivery import Delivery, ProsodyShaper, seed_for
from .emotion.style import directions as style_directions
from .emotion.resolve import EmotionResolver, Resolved
from .errors import FitError, InputError
from .fitting import (COMPRESS_WEIGHT, FIXED, FRAME, JOIN_PAUSE, LENGTHEN_WEIGHT, Item, allocate, classify, hybrid,
                      mark_fixed, min_model_frames, natural_frames, hold_final, segment_bounds, trims)
from .frontend import Frontend, Lexicon, Reading, clean, split_chunks
from .speech import onset_after, speech_span
from .kokoro import SAMPLE_RATE, KokoroModel, VoiceBank, VoiceInfo
from .adaptation import Adaptation
from .kokoro.voices import DEFAULT_VOICE, describe
from .target import Target
from .variation import Variation, VariantShaper, vary_delivery, vary_items
from .request import AUTO_METHOD, DEFAULT_LEAD, DEFAULT_TAIL, MAX_TEXT_CHARS, RenderRequest
from .take import PhonemeDuration, PinResult, Take

# Beyond these the result is no longer speech an editor can use; the error names what would fit.
# Ratios are on speech: the file-based 3.0 of old, with a natural take's 0.3-0.9 s of silence in it,
# let a short line's speech go to about 4x (你好。 in 1.5 s is 3.1x of its 0.47 s of speech).
MIN_RATIO, MAX_RATIO = 0.4, 4.0
NATURAL_CACHE = 32          # natural renderings kept per engine: re-fitting a line to another slot is one pass
FINAL_VOICED_FRAMES = 4     # of a line's last spoken item, what the decoder voices (≈0.1 s; measured, explain)
PRECHECK_MARGIN = 0.8       # a slot refused before decoding misses the feasible range by 20 % more (_precheck)
PIN_SEARCH = (0.15, 0.06)   # a pinned word is heard up to this long before / after its first phoneme


@dataclass
class ChunkPlan:
    phonemes: str
    tokens: np.ndarray
    style: np.ndarray
    shape: ProsodyShaper | VariantShaper | None = None   # emotion, variant: between the prosody and decoder stages
    prosody_style: np.ndarray | None = None   # emotion: the row with its prosody half moved (emotion/style.py)
    source: int = 0             # where its phonemes start in the reading's phoneme string
    first_item: int = 0         # its leading pad's index in LinePlan.items


@dataclass
class LinePlan:
    reading: Reading
    voice: str
    chunks: list[ChunkPlan]
    items: list[Item]
    base_voice: str = ""         # enrolled voices: the built-in voice they stand on (language, accent)
    pitch_ratio: float = 1.0     # enrolled voices: F0 scale applied between prosody and decoder
    key: tuple = ()              # what decides the natural rendering (the natural-take cache's key)
    delivery: Delivery | None = None   # the emotion's delivery as read (a variant scales its intensity)
    adapt: Adaptation | None = None    # enrolled voices: their decoder adaptation (engine/adaptation.py)

    @property
    def natural_frames(self) -> np.ndarray:
        return natural_frames(self.items)

    @property
    def natural_seconds(self) -> Fraction:
        return Fraction(int(self.natural_frames.sum()) * FRAME, SAMPLE_RATE)


@dataclass(frozen=True)
class Rendered:
    """One decoder pass over a line: the audio (24 kHz), the frames it was rendered with, its measured
    speech span, and (once anchored) where its speech and pinned words must go in the take."""
    wav: np.ndarray
    frames: np.ndarray
    speech: tuple[int, int]
    anchors: tuple[fill.Anchor, ...] = ()

    def anchored(self, plan: LinePlan, pinned: list[int], places: list[float], names: list[str] = ()) -> "Rendered":
        """Anchors: the speech start, each pinned word's sound, the speech end → `places`. A segment that
        would need less than MIN_RATIO or more than MAX_RATIO of its own pace is an error naming it."""
        sources = [float(self.speech[0]), *(self.word_onset(plan, i) for i in pinned), float(self.speech[1])]
        for k, (s0, s1, p0, p1) in enumerate(zip(sources, sources[1:], places, places[1:])):
            if s1 <= s0:
                raise FitError(f"hit point {k} lands inside the line's silence: pin a spoken word")
            factor = (p1 - p0) / (s1 - s0)
            if not (MIN_RATIO <= factor <= MAX_RATIO) and len(sources) > 2:
                lo, hi = (s1 - s0) * MIN_RATIO / SAMPLE_RATE, (s1 - s0) * MAX_RATIO / SAMPLE_RATE
                what = f"from {names[k]} to {names[k + 1]}" if names else f"{k + 1} of {len(sources) - 1}"
                raise FitError(f"hit points: segment {what} reads in {(s1 - s0) / SAMPLE_RATE:.2f} s "
                               f"and is given {(p1 - p0) / SAMPLE_RATE:.2f} s ({factor:.2f}×); feasible is {lo:.2f} s "
                               f"to {hi:.2f} s. Move the pins or the slot.", min_seconds=lo, max_seconds=hi)
        return dataclasses.replace(self, anchors=tuple(fill.Anchor(s, p) for s, p in zip(sources, places)))

    def word_onset(self, plan: LinePlan, item: int) -> float:
        """Where a word starting at `item` sounds: its first phoneme's frame, or, after a pause, the rise
        of the sound out of it near there (the decoder starts a word up to ~90 ms before its frame)."""
        boundary = int(np.sum(self.frames[:item])) * FRAME
        before, after = (int(x * SAMPLE_RATE) for x in PIN_SEARCH)
        onset = onset_after(self.wav, SAMPLE_RATE, boundary - before, boundary + after)
        return float(boundary if onset is None else onset)

    def misses(self) -> float:
        """The largest gap, in samples, between a segment's length here and its place."""
        return max(abs((b.source - a.source) - (b.place - a.place)) for a, b in zip(self.anchors, self.anchors[1:]))


@dataclass(frozen=True)
class Slot:
    """Where a take's sound goes: its samples at the output rate (pre-roll, then the body), and the
    24 kHz samples its speech must fill between the lead and tail handles."""
    lead: Fraction               # seconds of handle before the first sound
    tail: Fraction               # ... after the last one
    heard: Fraction              # seconds of speech in the natural rendering
    natural_seconds: Fraction    # the take at its own pace: speech plus handles
    pre: int                     # pre-roll samples (output rate)
    total: int                   # the take's samples (output rate)
    body: int                    # total - pre
    body24: Fraction             # the body in 24 kHz samples
    speech: Fraction             # 24 kHz samples the speech must fill

    @staticmethod
    def of(req: RenderRequest, natural: Rendered, pinned: bool) -> "Slot":
        sr = req.sample_rate
        lead, tail = Fraction(str(req.lead)), Fraction(str(req.tail))
        heard = Fraction(natural.speech[1] - natural.speech[0], SAMPLE_RATE)
        natural_seconds = lead + heard + tail
        pre = int(Fraction(str(req.pre_roll)) * sr + Fraction(1, 2))
        total = req.target.samples(sr, natural_seconds)
        if total is None:                                     # natural length (plus pre-roll)
            if pinned:
                raise InputError("hit points need a slot: give the take a length (--fit, --frames) to pin words in")
            total = pre + int(natural_seconds * sr + Fraction(1, 2))
        body = total - pre
        body24 = Fraction(body * SAMPLE_RATE, sr)
        speech = body24 - (lead + tail) * SAMPLE_RATE
        if speech <= 0:
            raise FitError(f"the slot ({float(Fraction(body, sr)):.3f} s after pre-roll) leaves no room for speech "
                           f"between the lead ({float(lead):g} s) and tail ({float(tail):g} s) handles",
                           min_seconds=float(lead + tail + Fraction(str(req.pre_roll))))
        return Slot(lead, tail, heard, natural_seconds, pre, total, body, body24, speech)

    @property
    def ratio(self) -> float:
        """The slot's speech time ÷ the natural speech: computed on speech, not on the file."""
        return float(self.speech / SAMPLE_RATE / self.heard)


class Engine:
    """Loads the model once; `render` is safe to call repeatedly and from several threads."""

    def __init__(self, assets_dir=None, threads: int | None = None, lexicon: Lexicon | None = None, log=None,
                 sessions: int = 1, wait: bool = True):
        """`threads` per model call (default: all cores ÷ `sessions`); `sessions` > 1 keeps that many
        copies of each stage so as many lines render at once (a dub's throughput, more memory). `wait`
        False returns while the model's sessions still load (a one-shot command reads its first line
        meanwhile); `load_seconds` then counts only what was waited for."""
        t0 = time.perf_counter()
        self.paths = assets.ensure(assets_dir, log=log)
        self.model = KokoroModel(self.paths, threads, sessions)
        if wait:
            self.model.wait()
        self.voice_bank = VoiceBank(self.paths.voices)
        self.frontend = Frontend(lexicon)
        self.emotions = EmotionResolver()
        self._lock = threading.Lock()
        self._naturals: OrderedDict[tuple, Rendered] = OrderedDict()
        self.load_seconds = time.perf_counter() - t0

    def with_lexicon(self, lexicon: Lexicon) -> "Engine":
        """This engine reading text with another pronunciation dictionary (a request's inline one): the
        copy shares the loaded model, voices, natural-take cache and lock, so it costs no memory."""
        view = copy.copy(self)
        view.frontend = Frontend(lexicon)
        return view

    # ---------------------------------------------------------------- voices and reading
    def voices(self) -> list[VoiceInfo]:
        return self.voice_bank.info()

    def pick_voice(self, voice: str, reading: Reading) -> str:
        if voice in ("", "auto", None):
            return DEFAULT_VOICE[reading.primary_language]
        return self.voice_bank.check(voice)

    def plan(self, text: str, voice: str = "auto", language: str = "auto", speed: float = 1.0,
             delivery: Delivery | None = None, variant: int = 1) -> LinePlan:
        """How the line will be read; `variant` ≥ 2: an alternate read of it (engine/variation.py)."""
        if isinstance(text, str) and len(text) > MAX_TEXT_CHARS:
            raise InputError(f"text is {len(text)} characters; one line may have at most {MAX_TEXT_CHARS}. "
                             f"Split long scripts into cues (one per slot).")
        if not (0.5 <= speed <= 2.0):
            raise InputError(f"speed {speed} out of range: accepted 0.5 to 2.0")
        name = self.voice_bank.check(voice) if voice not in ("", "auto", None) else None
        base = self.voice_bank.base(name) if name else ""
        reading = self.frontend.read(text, language, british=base.startswith("b"),
                                     voice_language=describe(base).language if base else None)
        name = name or self.pick_voice("auto", reading)
        table = self.voice_bank.table(name)
        variation = Variation.draw(variant, reading.phonemes, tonal="zh" in reading.languages) if variant > 1 else None
        delivery = vary_delivery(delivery, variation) if variation else delivery
        # emotion's rate acts on the model's own durations, before fitting (the fit then meets the slot)
        rate = min(2.0, max(0.5, speed * delivery.rate)) if delivery else speed
        pause = delivery.pause if delivery else 1.0
        chunks, items, cursor = [], [], 0
        for ci, ch in enumerate(split_chunks(reading.phonemes)):
            tokens, kept = self.model.tokenize(ch.phonemes)
            source = max(reading.phonemes.find(ch.phonemes, cursor), cursor)
            cursor = source + len(ch.phonemes)
            if len(kept) == 0:
                continue
            style = KokoroModel.style_row(table, len(kept))
            emotional = delivery is not None and not delivery.is_neutral
            moved = style_directions().apply(style, delivery) if emotional else None
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
            first = len(items)
            items += chunk_items
            shape = ProsodyShaper(delivery, seed_for(tokens)) if emotional else None
            chunks.append(ChunkPlan(kept, tokens, style, shape, moved, source, first))
            if ch.pause_after:
                items.append(Item("<pause>", "join", float(JOIN_PAUSE.get(ch.pause_after, 4)) * pause, -1))
        if not chunks:
            raise InputError(f"nothing speakable in {text!r}")
        if variation:
            items = vary_items(items, variation)
            chunks = [dataclasses.replace(c, shape=VariantShaper(variation, i, c.shape)) for i, c in enumerate(chunks)]
        adapt = self.voice_bank.adapt(name)
        key = (reading.phonemes, name, hashlib.blake2b(table.tobytes(), digest_size=16).hexdigest(), rate, pause,
               repr(delivery)) + ((variation.seed,) if variation else ()) + ((adapt.digest(),) if adapt else ())
        return LinePlan(reading, name, chunks, items, self.voice_bank.base(name), self.voice_bank.pitch_ratio(name),
                        key, delivery, adapt)

    def item_at(self, plan: LinePlan, phoneme: int) -> int:
        """The item of the phoneme at offset `phoneme` of the reading (the first kept one from there)."""
        for chunk in reversed(plan.chunks):
            if chunk.source <= phoneme:
                text = plan.reading.phonemes[chunk.source:phoneme]
                kept = sum(1 for c in text if c in self.model.vocab)
                return chunk.first_item + 1 + min(kept, len(chunk.tokens) - 3)
        return plan.chunks[0].first_item + 1

    # ---------------------------------------------------------------- rendering
    def _render_frames(self, plan: LinePlan, frames: np.ndarray, progress=None) -> np.ndarray:
        audio.warm_imports()          # the output stage's imports, while the model holds no GIL (once)
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
            wav = self.model.render(chunk.tokens, chunk.style, model_frames, chunk.shape,   # one call per stage
                                    f0_scale=plan.pitch_ratio, prosody_style=chunk.prosody_style,  # at a time
                                    adapt=plan.adapt)
            parts.append(wav[lead * FRAME: len(wav) - tail * FRAME])
            pos += n
            if progress:
                progress(0.1 + 0.8 * (ci + 1) / len(plan.chunks), f"rendered part {ci + 1}/{len(plan.chunks)}")
        for j in range(pos, len(plan.items)):
            parts.append(np.zeros(int(frames[j]) * FRAME, np.float32))
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)

    def plan_request(self, req: RenderRequest) -> tuple[LinePlan, Resolved | None, list]:
        """A request's reading: its emotion resolved (None without one), its hit points taken out of the
        text (engine/pins.py), the rest planned. The backend seam plans with it too (kokoro/backend.py)."""
        emotion = self.emotions.resolve(req.emotion, req.text) if req.emotion is not None else None
        text, pins = hitpoints.extract(req.text, hitpoints.frame_rate(req.target, req.frame_rate), clean)
        plan = self.plan(text, req.voice, req.language, req.speed, emotion.delivery if emotion else None, req.variant)
        return plan, emotion, pins

    def render(self, req: RenderRequest, progress: Callable[[float, str], None] | None = None) -> Take:
        """Render one take. `progress(fraction, message)` is called as the work advances.

        The take is exactly the target's length; inside it the *measured* speech runs from the lead
        handle to the slot end minus the tail handle, and pinned words start at their marks."""
        t0 = time.perf_counter()
        plan, emotion, pins = self.plan_request(req)
        pinned, pin_notes = hitpoints.locate(plan.reading, pins)
        t1 = time.perf_counter()
        if progress:
            progress(0.1, f"read {len(plan.reading.phonemes)} phonemes in {len(plan.chunks)} part(s)")
        self._precheck(plan, req)
        natural = self._natural(plan, progress)
        sr = req.sample_rate
        slot = Slot.of(req, natural, bool(pinned))
        warnings = list(plan.reading.warnings) + pin_notes
        # a pin counts from the slot's start, as lead24 and the take's PinResult do (not from the lead)
        marks = [(self.item_at(plan, p.phoneme), float(p.pin.seconds) * SAMPLE_RATE, p) for p in pinned]
        lead24 = float(slot.lead * SAMPLE_RATE)
        self._check_pins(marks, [lead24, *(m for _, m, _ in marks), float(slot.lead * SAMPLE_RATE + slot.speech)])
        self._check_ratio(slot.ratio, float(slot.heard), float(slot.lead + slot.tail) + req.pre_roll, req, warnings)
        method = "natural" if req.target.kind == "natural" else (AUTO_METHOD if req.method == "auto"
                                                                 else req.method)
        fitted = self._fit(plan, natural, method, marks, lead24, float(slot.speech),
                           float(slot.lead + slot.tail) + req.pre_roll, progress)
        t2 = time.perf_counter()

        body_audio = fill.place(fitted.wav, fitted.anchors, int(round(slot.body24)), stretch=method != "model")
        out = audio.exact_length(audio.resample(body_audio, SAMPLE_RATE, sr), slot.body)
        out, loud_warn = self._level(out, sr, req, plan.delivery)
        warnings += loud_warn
        if slot.pre:
            out = np.concatenate([np.zeros(slot.pre, np.float32), out])
        assert len(out) == slot.total, (len(out), slot.total)
        lang_warn = self._voice_language_warning(plan)
        if lang_warn:
            warnings.append(lang_warn)
        t3 = time.perf_counter()
        if progress:
            progress(1.0, "done")
        seconds = self._seconds_in_take(fitted.anchors, sr, slot.body24, req.pre_roll)
        spoken = speech_span(out, sr) or (slot.pre, slot.pre)   # reported as measured in the take itself
        return Take(
            audio=out, sample_rate=sr, natural_seconds=float(slot.natural_seconds), ratio=slot.ratio, method=method,
            voice=plan.voice, phonemes=self._phoneme_durations(plan, fitted, seconds),
            warnings=warnings, text=plan.reading.text,
            timings={"frontend": t1 - t0, "render": t2 - t1, "post": t3 - t2, "total": t3 - t0},
            emotion=emotion.to_json() if emotion else None,
            speech_start=round(spoken[0] / sr, 6), speech_end=round(spoken[1] / sr, 6),
            pins=[PinResult(p.word, float(p.pin.seconds) + req.pre_roll, round(seconds(a.source), 6))
                  for (_, _, p), a in zip(marks, fitted.anchors[1:-1])],
        )

    @staticmethod
    def _seconds_in_take(anchors, sr: int, body24: Fraction, pre_roll: float):
        """Rendered sample (24 kHz) → seconds from the take's start, as the audio was placed."""
        def seconds(source: float) -> float:
            return pre_roll + min(max(fill.map_position(source, anchors), 0.0), float(body24)) / SAMPLE_RATE
        return seconds

    def _level(self, out: np.ndarray, sr: int, req: RenderRequest, delivery) -> tuple[np.ndarray, list[str]]:
        gain = delivery.gain_db if delivery else 0.0     # emotion's level rides on the loudness target
        if req.loudness is not None:
            # limited for any loud target, not only a loud emotion: a neutral read at −14 LUFS (YouTube)
            # was held back to −20…−22 by its peaks (bench/true_peak.py)
            return audio.level(out, sr, min(-1.0, req.loudness + gain), req.true_peak)
        return (audio.apply_gain(out, sr, gain, req.true_peak) if gain else out), []

    # ---------------------------------------------------------------- natural rendering and the fit
    def _natural(self, plan: LinePlan, progress=None) -> "Rendered":
        """The line at its own pace, measured (cached: re-fitting a line to another slot skips it)."""
        with self._lock:
            hit = self._naturals.get(plan.key)
            if hit is not None:
                self._naturals.move_to_end(plan.key)
                return hit
        frames = plan.natural_frames
        wav = self._render_frames(plan, frames, progress)
        span = speech_span(wav, SAMPLE_RATE)
        if span is None:
            raise InputError(f"{plan.reading.text!r} renders as silence in voice {plan.voice}; check the text's language")
        rendered = Rendered(wav, frames, span)
        with self._lock:
            self._naturals[plan.key] = rendered
            while len(self._naturals) > NATURAL_CACHE:
                self._naturals.popitem(last=False)
        return rendered

    def _fit(self, plan: LinePlan, natural: "Rendered", method: str, marks: list, lead24: float,
             speech24: float, handles: float, progress=None) -> "Rendered":
        """Render (or reuse) audio for the slot and the anchors that map it there: speech start → lead,
        each pinned word → its mark, the last sound's end → lead + speech24. `handles`: seconds of the
        slot outside the speech (lead, tail, pre-roll), for errors that name a slot length."""
        if method == "natural":
            return natural.anchored(plan, [], [lead24, lead24 + natural.speech[1] - natural.speech[0]])
        places = [lead24, *(m for _, m, _ in marks), lead24 + speech24]
        pinned = [i for i, _, _ in marks]
        names = ["the line's start", *(repr(p.word) for _, _, p in marks), "the line's end"]
        anchored = natural.anchored(plan, pinned, places, names)
        if method == "stretch":
            return anchored
        items = hold_final(plan.items, natural.frames, natural.speech[1] / FRAME)
        frames = self._allocate(items, anchored, method, pinned, handles)
        rendered = self._measure(plan, frames, progress).anchored(plan, pinned, places)
        if method == "model" and rendered.misses() > FRAME:
            # whole frames, no stretching: correct the allocation once with what this rendering measured
            frames = self._allocate(items, rendered, method, pinned, handles)
            rendered = self._measure(plan, frames, progress).anchored(plan, pinned, places)
        return rendered

    @staticmethod
    def _allocate(items: list[Item], measured: "Rendered", method: str, pinned: list[int],
                  handles: float) -> np.ndarray:
        """Frames per item, segment by segment between hit points: each segment's movable frames scaled
        by its measured speech length against its place (`model`: whole frames only; `hybrid` moves
        pauses and long vowels and leaves the rest to the stretcher)."""
        out = natural_frames(items).astype(np.int64)
        bounds = segment_bounds(items, pinned)
        for k, ((lo, hi), a, b) in enumerate(zip(bounds, measured.anchors, measured.anchors[1:])):
            seg = items[lo:hi]
            movable = np.array([it.kind not in FIXED for it in seg])
            fixed = int(out[lo:hi][~movable].sum())
            spoken = max(int(measured.frames[lo:hi][movable].sum()), 1)
            factor = (b.place - a.place) / (b.source - a.source)
            target = fixed + spoken * factor
            if method == "model":
                least = min_model_frames(seg)
                if int(round(target)) < least:
                    # unstretched, a longer rendering would overrun its place and be cut: refuse instead
                    shortest = (b.source - a.source) * (least - fixed) / spoken / SAMPLE_RATE
                    what = "the line" if len(bounds) == 1 else f"segment {k + 1} of {len(bounds)}"
                    raise FitError(f"method 'model' cannot go below one frame per phoneme: {what} needs at least "
                                   f"{shortest:.3f} s of speech (use --method stretch or auto for shorter slots)",
                                   min_seconds=shortest + handles if len(bounds) == 1 else None)
                weights = LENGTHEN_WEIGHT if target >= out[lo:hi].sum() else COMPRESS_WEIGHT
                out[lo:hi] = allocate(seg, int(round(target)), weights)
            else:
                out[lo:hi] = hybrid(seg, target)
        return out

    def _measure(self, plan: LinePlan, frames: np.ndarray, progress=None) -> "Rendered":
        wav = self._render_frames(plan, frames, progress)
        return Rendered(wav, frames, speech_span(wav, SAMPLE_RATE) or (0, len(wav)))

    @staticmethod
    def _check_pins(marks: list, places: list[float]) -> None:
        """Pinned words in order, each segment long enough for its words (MIN_RATIO of its natural pace
        is checked once the natural rendering is measured, in Rendered.anchored)."""
        for k, ((_, mark, pin), prev) in enumerate(zip(marks, places)):
            if mark <= prev:
                what = "the slot's lead handle" if k == 0 else f"the previous hit point ({marks[k - 1][2].pin.written})"
                raise FitError(f"hit point {pin.pin.written} before {pin.word!r} is not after {what}: pins must be "
                               f"in order inside the slot")
        if marks and marks[-1][1] >= places[-1]:
            pin = marks[-1][2]
            raise FitError(f"hit point {pin.pin.written} before {pin.word!r} is at or after the slot's end "
                           f"(minus the tail handle): pins must lie inside the slot")

    def _precheck(self, plan: LinePlan, req: RenderRequest) -> None:
        """A slot that no fit can reach fails before the natural reading is decoded: "9" × 306 in 2 s
        decoded 70 s of audio (21 s of CPU) only to be refused. The prediction (predicted_speech) is
        within a few percent of the measured span, so only what misses by 20 % more is refused here;
        the rest is decided on the measured speech as before."""
        speech = self.predicted_speech(plan)
        ratio = req.speech_ratio(speech)
        if ratio is not None and not MIN_RATIO * PRECHECK_MARGIN <= ratio <= MAX_RATIO / PRECHECK_MARGIN:
            self._check_ratio(ratio, speech, req.lead + req.tail + req.pre_roll, req, [])

    @staticmethod
    def _check_ratio(ratio: float, speech: float, handles: float, req: RenderRequest, warnings: list[str]) -> None:
        """`speech`: the natural speech span (s); `handles`: what the slot holds besides it (lead, tail,
        pre-roll), so the feasible range is said in slot lengths."""
        if ratio < MIN_RATIO or ratio > MAX_RATIO:
            lo, hi = speech * MIN_RATIO + handles, speech * MAX_RATIO + handles
            fix = "Shorten the text or lengthen the slot." if ratio < MIN_RATIO else \
                "Lengthen the text or shorten the slot."      # a slot far longer than the line
            raise FitError(f"cannot fit: the line's speech lasts {speech:.2f} s naturally and the slot leaves "
                           f"{ratio * speech:.2f} s for it ({ratio:.2f}×); feasible is {lo:.2f} s to {hi:.2f} s. "
                           f"{fix}", min_seconds=lo, max_seconds=hi)
        lo, hi = req.natural_range
        if ratio < lo:
            warnings.append(f"fast: {ratio:.2f}× natural ({speech:.2f} s of speech read in {ratio * speech:.2f} s), "
                            f"below {lo:g}×; would fit naturally in a slot ≥ {speech * lo + handles:.2f} s or with "
                            f"about {100 * (1 - ratio / lo):.0f}% shorter text")
        elif ratio > hi:
            warnings.append(f"slow: {ratio:.2f}× natural ({speech:.2f} s of speech stretched to {ratio * speech:.2f} s), "
                            f"above {hi:g}×; would fit naturally in a slot ≤ {speech * hi + handles:.2f} s or with "
                            f"about {100 * (ratio / hi - 1):.0f}% more text")

    @staticmethod
    def _phoneme_durations(plan: LinePlan, fitted: Rendered, seconds) -> list[PhonemeDuration]:
        """Each item where it sounds in the take (its frames mapped through the anchors)."""
        ends = np.cumsum(fitted.frames) * FRAME
        out = []
        for it, end, n in zip(plan.items, ends, fitted.frames):
            t0, t1 = seconds(float(end - n * FRAME)), seconds(float(end))
            out.append(PhonemeDuration(it.label, round(t0, 6), round(t1 - t0, 6)))
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
    def explain(self, text: str, voice: str = "auto", language: str = "auto", speed: float = 1.0,
                target: Target | None = None, lead: float = DEFAULT_LEAD, tail: float = DEFAULT_TAIL,
                frame_rate: Fraction | None = None) -> dict:
        """How the line will be read, without rendering audio (only the cheap duration stage runs).
        Hit points: the segments between them and where each pinned word starts at the natural pace
        (predicted from the durations: the rendering measures the real onsets)."""
        text, pins = hitpoints.extract(text, hitpoints.frame_rate(target, frame_rate), clean)
        plan = self.plan(text, voice, language, speed)
        pinned, notes = hitpoints.locate(plan.reading, pins)
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
                "speech_seconds": round(self.predicted_speech(plan), 3), "segments": segs,
                "phonemes": plan.reading.phonemes, "chunks": len(plan.chunks),
                "warnings": plan.reading.warnings + notes,
                **self._explain_pins(plan, pinned, target, lead, tail)}

    @staticmethod
    def predicted_speech(plan: LinePlan) -> float:
        """The speech span a rendering will measure, from the durations alone: the spoken items, the
        last one only for its voiced onset, because the decoder fades phrase-final lengthening below
        hearing (fitting.hold_final). Within about ±0.1 s of the rendered span on en and zh lines."""
        frames = plan.natural_frames
        spoken = [i for i, it in enumerate(plan.items) if it.kind not in FIXED]
        if not spoken:
            return 0.0
        first, last = spoken[0], spoken[-1]
        voiced = int(frames[first:last].sum()) + min(int(frames[last]), FINAL_VOICED_FRAMES)
        return voiced * FRAME / SAMPLE_RATE

    def _explain_pins(self, plan: LinePlan, pinned: list, target: Target | None, lead: float, tail: float) -> dict:
        if not pinned:
            return {}
        frames = plan.natural_frames
        starts = (np.cumsum(frames) - frames - frames[0]) * FRAME / SAMPLE_RATE   # from the first phoneme
        spoken = max(i for i, it in enumerate(plan.items) if it.kind not in FIXED)
        end = float(starts[spoken] + frames[spoken] * FRAME / SAMPLE_RATE)
        natural = [0.0, *(float(starts[self.item_at(plan, p.phoneme)]) for p in pinned), end]
        slot = target.resolve_seconds(plan.natural_seconds) if target is not None else None
        at = [lead, *(float(p.pin.seconds) for p in pinned), None if slot is None else float(slot) - tail]
        names = ["the start", *(repr(p.word) for p in pinned), "the end"]
        segments = []
        for k in range(len(names) - 1):
            seg = {"from": names[k], "to": names[k + 1], "natural": natural[k + 1] - natural[k]}
            if at[k + 1] is not None:
                seg["given"] = at[k + 1] - at[k]
                seg["ratio"] = seg["given"] / max(seg["natural"], 1e-9)
            segments.append(seg)
        return {"pins": [{"word": p.word, "at": float(p.pin.seconds), "natural": lead + t}
                         for p, t in zip(pinned, natural[1:-1])],
                "pin_segments": [s for s in segments if "given" in s]}
