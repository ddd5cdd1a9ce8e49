#!/usr/bin/env python3
"""Slot fill and hit points: does the measured speech fill the slot, and do pinned words land on their marks?

    .venv/bin/python bench/fill.py                    # 44 slot-fill lines + 24 hit-point lines, auto method
    .venv/bin/python bench/fill.py --quick            # a smoke run: 4 + 4 lines
    .venv/bin/python bench/fill.py --methods auto,model,stretch --out /tmp/fill_png

Everything is measured on the rendered audio with the engine's own definition of speech
(``takefit.engine.speech``): the speech span is the run of 10 ms frames within 40 dB of the loudest
frame; a word's onset after a pause is where the level rises above that floor after ≥ 15 ms below it
and stays above for 10 ms (``onset_after``). The engine's own report (``take.speech_start`` /
``speech_end`` / ``pins``) is printed beside it, never used as the measurement.

Slot fill
    Each line (English and Mandarin, 22 each; voices af_heart / am_michael and zf_xiaoxiao /
    zm_yunxi, alternating) is first rendered at its natural length to measure its natural speech
    span. The slot is then ``lead + natural speech × ratio + tail`` seconds (ratio on the *speech*,
    cycling 0.7 0.85 1.0 1.2 1.4 over the lines; lead 0, tail 0.04 by default) and the line is
    rendered into it. Per take: onset (speech start − lead), end error (speech end − (slot − tail)),
    span ÷ slot, trailing silence (slot − speech end, the tail handle plus whatever the fit left
    empty), length error in samples (must be 0) and the render time of the fitted take (the natural
    rendering is cached by the engine, so this is the fit alone). Goals: span ÷ slot ≥ 0.95 mean
    and ≥ 0.90 worst; onset ≤ 30 ms at p95; |end error| ≤ 80 ms at p95. ``--all-ratios`` renders
    every line at every ratio instead of cycling.

    Extra check: the span cannot see a word the decoder swallowed (a near-silent syllable is not
    speech to the 40 dB rule, and the fit stretches what is left over the slot). With the eval
    extra installed, Whisper base (as in bench/fit_quality.py) transcribes the natural and the
    fitted take of each line; a fitted take with ≥ 2 more word (en) / character (zh) errors than
    its natural take is flagged (``--no-asr`` skips it). Whisper still hears words ~50 dB down, so
    this catches lost words, not merely faint ones.

Hit points
    24 lines with one or two ``{@…}`` pins, each before a word that follows a comma or a sentence
    end (so its onset follows a pause and can be found by energy; Kokoro does not pause at every
    comma, so the lines and voices were picked where it does, and the table says whether the natural
    take has that pause). The pinned word's natural onset is found in the natural take (the first
    phoneme after the k-th punctuation item in ``take.phonemes``, moved to the first rise out of a
    pause from 120 ms before that punctuation item); each line gets a scale factor between 0.8 and
    1.3, the pin goes to ``lead + natural position × factor`` plus a small seeded offset (±30 ms),
    written in seconds, milliseconds or frames (25 fps and 23.976 fps, given as ``frame_rate``) in
    turn, the slot to ``natural speech × factor + handles`` ± 50 ms. The pinned word's onset is
    measured in asked ± 150 ms by ``onset_after`` with the strictest rule that finds a rise there: a 15 ms
    pause under the 40 dB floor, else a 5 ms pause (a pause the fit shortened), else a 15 ms pause
    under a 30 dB, then 20 dB floor (a pause filled by a breath or the previous word's decay); the
    window never widens (a wider one finds stop releases inside the word). Goals: |measured − asked|
    median ≤ 30 ms and max ≤ 60 ms.

``--out DIR`` writes spectrograms (PNG) of a few takes with the slot, the tail handle, the measured
speech span and the pins (asked dashed, measured solid). The header gives the date and the load
average; the CPU is often shared, so render times are indicative only.
"""
from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import random
import sys
import time
import traceback
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

SR = 48000
RATIOS = (0.7, 0.85, 1.0, 1.2, 1.4)
FACTORS = (0.8, 1.1, 0.9, 1.3, 1.0, 1.2, 0.85, 1.15)     # hit-point lines, per line in turn
VOICES = {"en": ("af_heart", "am_michael"), "zh": ("zf_xiaoxiao", "zm_yunxi")}
PUNCT_TEXT = ",.?!;:，。？！；："
PUNCT_PHONEMES = set(",.?!;:")
SKIP_PHONEMES = {" ", "ˈ", "ˌ", "<sil>"}

# Goals
GOAL_SPAN_MEAN, GOAL_SPAN_WORST = 0.95, 0.90
GOAL_ONSET_P95 = 0.030
GOAL_END_P95 = 0.080
GOAL_PIN_MEDIAN, GOAL_PIN_MAX = 0.030, 0.060
# Extra check (not a span measure): a word rendered near-silent is not "speech" to the 40 dB rule, so
# the span can fill the slot without it. Whisper base transcribes the natural and the fitted take; a
# fitted take with this many more word (en) / character (zh) errors than its natural take is flagged.
ASR_EXTRA_FLAG = 2

LINES_EN = [
    "I told you already, we don't have time.",
    "Where were you last night?",
    "Get in the car. We're leaving now.",
    "Are you sure this is the right address?",
    "Thank you for coming on such short notice.",
    "Hold the door! I'm right behind you.",
    "She said she'd call back after lunch.",
    "Don't move. Nobody gets hurt.",
    "Can you hear me? Say something.",
    "The meeting has been moved to Thursday morning.",
    "I never wanted any of this to happen.",
    "Okay, let's try that one more time.",
    "Who left the lights on in the kitchen?",
    "We should go before it starts raining.",
    "Is that really all you have to say?",
    "Turn left at the bridge, then keep going.",
    "Sorry I'm late. The traffic was terrible.",
    "You look tired. Did you sleep at all?",
    "Just breathe. Everything is going to be fine.",
    "How much longer do we have to wait?",
    "Put the phone down and listen to me.",
    "Nice work, everyone. Take five.",
]
LINES_ZH = [
    "你昨天晚上到底去哪儿了？",
    "好的，我们马上准备。",
    "快点上车，我们要走了。",
    "你确定是这个地址吗？",
    "谢谢你这么晚还过来。",
    "别动！谁也不许出声。",
    "她说吃完午饭再打给你。",
    "你听得见吗？说句话呀。",
    "会议改到星期四上午了。",
    "我从来没想过会变成这样。",
    "没关系，我们再试一次。",
    "厨房的灯是谁忘了关？",
    "趁还没下雨，我们赶紧走吧。",
    "你真的就只想说这些吗？",
    "过了桥往左转，然后一直走。",
    "对不起我来晚了，路上太堵了。",
    "你看起来很累，昨晚没睡好吗？",
    "深呼吸，一切都会好起来的。",
    "我们还要等多久啊？",
    "把手机放下，听我说。",
    "辛苦了大家，休息五分钟。",
    "门别关！我马上就到。",
]
# {P} marks a hit point: the word after it is pinned (always right after a comma or a sentence end).
# Kokoro does not pause at every comma or full stop: these lines and voices were picked (by rendering
# candidates) so that every pinned word follows a pause of >= 15 ms under the 40 dB floor in its
# voice's natural reading; the script checks that again (column "natural pause").
PIN_LINES_EN = [
    ("Wait, {P}listen to me.", "af_heart"),
    ("Look out, {P}behind you! {P}Get down!", "af_heart"),
    ("Ready? {P}Go!", "af_heart"),
    ("First the car, {P}then the house, {P}then you.", "af_heart"),
    ("Okay. {P}Now we wait.", "af_heart"),
    ("Okay, everyone. {P}Places, please. {P}Thank you.", "af_heart"),
    ("Three, two, one, {P}action!", "am_michael"),
    ("Stop. {P}Not another word. {P}Go home.", "am_michael"),
    ("Hello, is anybody home? {P}Hello?", "am_michael"),
    ("I'm sorry, {P}I didn't mean it.", "am_michael"),
    ("Quiet, everyone. {P}She's coming in.", "am_michael"),
    ("Listen carefully, {P}this is important.", "am_michael"),
]
PIN_LINES_ZH = [
    ("三，二，一，{P}开始！", "zf_xiaoxiao"),
    ("等一下，{P}听我说。", "zf_xiaoxiao"),
    ("准备好了吗？{P}出发！{P}快！", "zf_xiaoxiao"),
    ("记住，{P}这件事非常重要。{P}别忘了。", "zf_xiaoxiao"),
    ("走吧。{P}别再等了。{P}天快黑了。", "zf_xiaoxiao"),
    ("谢谢。{P}今天就到这里。", "zf_xiaoxiao"),
    ("不行。{P}绝对不行。{P}听到了吗？", "zm_yunxi"),
    ("听着。{P}我们有麻烦了。{P}大麻烦。", "zm_yunxi"),
    ("快跑！{P}别回头！{P}一直跑！", "zm_yunxi"),
    ("对不起，{P}我不是故意的。", "zm_yunxi"),
    ("先吃饭，然后写作业，{P}最后睡觉。", "zm_yunxi"),
    ("站住！{P}不许动！", "zm_yunxi"),
]
QUICK_FILL = {"en": [0, 2], "zh": [0, 1]}
QUICK_PINS = {"en": [0, 7], "zh": [0, 8]}


# ------------------------------------------------------------------------------------------------
# Small helpers
# ------------------------------------------------------------------------------------------------
def pctl(values, q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else float("nan")


def ms(x: float | None) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{1000 * x:.0f}"


def verdict(ok: bool) -> str:
    return "**PASS**" if ok else "**FAIL**"


def measure_speech(audio: np.ndarray, sr: int) -> tuple[float, float] | None:
    """(start, end) of the speech in seconds from the take's start."""
    from takefit.engine.speech import speech_span

    span = speech_span(audio, sr)
    return None if span is None else (span[0] / sr, span[1] / sr)


class Words:
    """Whisper base (takefit.evaluation, as bench/fit_quality.py: CTranslate2 int8, greedy, language
    forced): errors of a take against its text, in words (en) or characters (zh). Disabled (None
    everywhere) when the eval extra is not installed or --no-asr is given."""

    def __init__(self, enabled: bool, threads: int, log):
        self.asr, self.note = None, "off (--no-asr)"
        if not enabled:
            return
        try:
            from takefit.evaluation.intelligibility import Asr, prepare_whisper

            self.asr = Asr(prepare_whisper(log=log), beam_size=1, threads=threads)
            self.note = "Whisper base, CTranslate2 int8, beam 1, language forced"
        except (ImportError, SystemExit) as e:
            self.note = f"off ({e})"

    def errors(self, audio: np.ndarray, text: str, lang: str) -> tuple[int, str] | None:
        if self.asr is None:
            return None
        from takefit.engine import audio as eaudio
        from takefit.evaluation.intelligibility import count_errors, normalise

        hyp = self.asr(eaudio.resample(audio, SR, 16000), lang)
        errors, _, _ = count_errors(normalise(text, lang), normalise(hyp, lang), lang)
        return errors, hyp


def git_state() -> str:
    """The commit and whether the engine has uncommitted changes (read-only git calls)."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%h %ci %s"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "engine"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    head = head if len(head) <= 110 else head[:109] + "…"
    return head + ("; engine/ has uncommitted changes" if dirty else "; engine/ clean")


def short(text: str, n: int = 34) -> str:
    text = text.replace("|", "\\|")
    return text if len(text) <= n else text[: n - 1] + "…"


# ------------------------------------------------------------------------------------------------
# Slot fill
# ------------------------------------------------------------------------------------------------
@dataclass
class FillRow:
    lang: str
    line: str
    voice: str
    method: str
    ratio: float
    natural_speech: float = float("nan")
    slot: float = float("nan")
    used: str = ""
    engine_ratio: float = float("nan")
    onset: float = float("nan")           # measured speech start − lead
    end_err: float = float("nan")         # measured speech end − (slot − tail)
    span_ratio: float = float("nan")      # (end − start) / slot
    trailing: float = float("nan")        # slot − measured speech end
    samples_err: int = 0
    render_s: float = float("nan")
    engine_start: float = float("nan")
    engine_end: float = float("nan")
    asr_nat: int | None = None            # ASR errors of the natural take (words en / characters zh)
    asr_fit: int | None = None            # ... of this take
    hyp: str = ""
    error: str = ""


def fill_lines(quick: bool, all_ratios: bool = False) -> list[tuple[str, str, str, float]]:
    """(lang, line, voice, ratio) in a fixed order: the ratio cycles over all lines (or, with
    `all_ratios`, every line at every ratio), the voice alternates."""
    out = []
    for lang, lines in (("en", LINES_EN), ("zh", LINES_ZH)):
        idx = QUICK_FILL[lang] if quick else range(len(lines))
        for i in idx:
            out.append((lang, lines[i], VOICES[lang][i % 2], None))
    if all_ratios:
        return [(*item[:3], r) for item in out for r in RATIOS]
    for k, item in enumerate(out):
        out[k] = (*item[:3], RATIOS[k % len(RATIOS)])
    return out


def run_fill(engine, items, methods, lead: float, tail: float, bugs: list, log, pngs: list, png_count: int,
             words: Words):
    from takefit.engine import FitError, RenderRequest, Target

    rows = []
    for k, (lang, line, voice, ratio) in enumerate(items):
        nat = engine.render(RenderRequest(line, voice=voice, target=Target.natural(), sample_rate=SR,
                                          lead=lead, tail=tail))
        span = measure_speech(nat.audio, SR)
        nat_speech = Fraction(0) if span is None else Fraction(round((span[1] - span[0]) * SR), SR)
        slot = Fraction(str(lead)) + nat_speech * Fraction(str(ratio)) + Fraction(str(tail))
        target = Target.seconds(slot)
        expected = target.samples(SR)
        nat_words = words.errors(nat.audio, line, lang)
        for method in methods:
            row = FillRow(lang, line, voice, method, ratio, float(nat_speech), float(slot))
            rows.append(row)
            t0 = time.perf_counter()
            try:
                take = engine.render(RenderRequest(line, voice=voice, target=target, method=method, sample_rate=SR,
                                                   lead=lead, tail=tail))
            except FitError as e:
                row.error = f"FitError: {e}"
                continue
            except Exception as e:                             # an engine bug: keep going, report it
                row.error = f"{type(e).__name__}: {e}"
                bugs.append((f"fill {voice} {method} {ratio}x {line!r}", traceback.format_exc()))
                continue
            row.render_s = time.perf_counter() - t0
            row.used, row.engine_ratio = take.method, take.ratio
            row.engine_start, row.engine_end = take.speech_start, take.speech_end
            row.samples_err = len(take.audio) - expected
            fit_words = words.errors(take.audio, line, lang)
            if nat_words and fit_words:
                row.asr_nat, (row.asr_fit, row.hyp) = nat_words[0], fit_words
            got = measure_speech(take.audio, SR)
            if got is None:
                row.error = "silent take"
                continue
            s, e = got
            row.onset = s - lead
            row.end_err = e - (float(slot) - tail)
            row.span_ratio = (e - s) / float(slot)
            row.trailing = float(slot) - e
            bad = bool(fill_failing(row))
            if png_count and (len(pngs) < png_count or bad):
                name = f"fill_{k:02d}_{lang}_{voice}_{method}_{ratio:g}x" + ("_check" if bad else "")
                pngs.append(dict(name=name, audio=take.audio,
                                 slot=float(slot), tail=tail, lead=lead, span=got, pins=[],
                                 title=f"slot fill {lang} #{k} {voice} {method} {ratio:g}x"
                                       f" (slot {float(slot):.3f} s)"))
        log(f"fill {k + 1}/{len(items)} {voice} {ratio:g}x done")
    return rows


def fill_summary(rows: list[FillRow], groups) -> tuple[str, list[tuple[str, bool]]]:
    head = ("| method | set | takes | errors | span÷slot mean | span÷slot worst | onset p95 ms | onset max ms "
            "| \\|end err\\| p95 ms | \\|end err\\| max ms | trailing silence mean ms | trailing silence worst ms "
            "| max \\|length err\\| samples | ASR errors natural → fitted | takes ≥ 2 more ASR errors | render s mean "
            "| render s max |")
    lines = [head, "|---|---|" + "---:|" * 15]
    goals = []
    for method in sorted({r.method for r in rows}, key=lambda m: (m != "auto", m)):
        for name, pred in groups:
            sel = [r for r in rows if r.method == method and pred(r)]
            ok = [r for r in sel if not r.error]
            if not sel:
                continue
            sp = [r.span_ratio for r in ok]
            on = [r.onset for r in ok]
            en = [abs(r.end_err) for r in ok]
            tr = [r.trailing for r in ok]
            lerr = max((abs(r.samples_err) for r in ok), default=0)
            rt = [r.render_s for r in ok]
            extra = [r.asr_fit - r.asr_nat for r in ok if r.asr_fit is not None]
            lost = sum(x >= ASR_EXTRA_FLAG for x in extra)
            heard = [r for r in ok if r.asr_fit is not None]
            asr_cell = f"{sum(r.asr_nat for r in heard)} → {sum(r.asr_fit for r in heard)}" if extra else "—"
            lines.append(
                f"| {method} | {name} | {len(sel)} | {len(sel) - len(ok)} | {np.mean(sp):.3f} | {min(sp):.3f} "
                f"| {ms(pctl(on, 95))} | {ms(max(on))} | {ms(pctl(en, 95))} | {ms(max(en))} "
                f"| {ms(float(np.mean(tr)))} | {ms(max(tr))} | {lerr} | {asr_cell} | {lost if extra else '—'} "
                f"| {np.mean(rt):.2f} | {max(rt):.2f} |"
                if ok else f"| {method} | {name} | {len(sel)} | {len(sel)} |" + " — |" * 13)
            if name == "all":
                goals += [
                    (f"[{method}] span÷slot mean {np.mean(sp) if sp else float('nan'):.3f} ≥ {GOAL_SPAN_MEAN}",
                     bool(ok) and np.mean(sp) >= GOAL_SPAN_MEAN),
                    (f"[{method}] span÷slot worst {min(sp) if sp else float('nan'):.3f} ≥ {GOAL_SPAN_WORST}",
                     bool(ok) and min(sp) >= GOAL_SPAN_WORST),
                    (f"[{method}] onset p95 {ms(pctl(on, 95))} ms ≤ {ms(GOAL_ONSET_P95)} ms",
                     bool(ok) and pctl(on, 95) <= GOAL_ONSET_P95),
                    (f"[{method}] |last-sound end − (slot − tail)| p95 {ms(pctl(en, 95))} ms ≤ {ms(GOAL_END_P95)} ms",
                     bool(ok) and pctl(en, 95) <= GOAL_END_P95),
                    (f"[{method}] exact length: max error {lerr} samples = 0", bool(ok) and lerr == 0),
                    (f"[{method}] takes that failed to render: {len(sel) - len(ok)}", len(sel) == len(ok)),
                    *([(f"[{method}] (extra check) takes with ≥ {ASR_EXTRA_FLAG} more ASR errors than their natural "
                        f"take (words lost?): {lost}", lost == 0)] if extra else []),
                ]
    return "\n".join(lines), goals


def fill_failing(r: FillRow) -> list[str]:
    why = []
    if r.error:
        return [r.error]
    if r.span_ratio < GOAL_SPAN_WORST:
        why.append(f"span÷slot {r.span_ratio:.3f}")
    if r.onset > GOAL_ONSET_P95:
        why.append(f"onset {ms(r.onset)} ms")
    if abs(r.end_err) > GOAL_END_P95:
        why.append(f"end err {ms(r.end_err)} ms")
    if r.samples_err:
        why.append(f"length {r.samples_err} samples")
    if r.asr_fit is not None and r.asr_fit - r.asr_nat >= ASR_EXTRA_FLAG:
        why.append(f"ASR errors {r.asr_nat} → {r.asr_fit}: heard {r.hyp!r}")
    return why


def fill_table(rows: list[FillRow]) -> str:
    out = ["| # | lang | voice | method | line | ratio | natural speech s | slot s | used | engine ratio "
           "| onset ms | end err ms | span÷slot | trailing ms | engine start/end s | length err | ASR err nat→fit "
           "| render s | note |",
           "|---:|---|---|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---|"]
    for k, r in enumerate(rows):
        note = "; ".join(fill_failing(r))
        out.append(f"| {k} | {r.lang} | {r.voice} | {r.method} | {short(r.line)} | {r.ratio:g} | {r.natural_speech:.3f} "
                   f"| {r.slot:.3f} | {r.used or '—'} | {r.engine_ratio:.3f} | {ms(r.onset)} | {ms(r.end_err)} "
                   f"| {r.span_ratio:.3f} | {ms(r.trailing)} | {r.engine_start:.3f}/{r.engine_end:.3f} "
                   f"| {r.samples_err} | {'' if r.asr_fit is None else f'{r.asr_nat}→{r.asr_fit}'} | {r.render_s:.2f} "
                   f"| {short(note, 90)} |")
    return "\n".join(out)


# ------------------------------------------------------------------------------------------------
# Hit points
# ------------------------------------------------------------------------------------------------
@dataclass
class PinRow:
    lang: str
    template: str
    voice: str
    factor: float
    index: int                    # which pin of the line
    word: str = ""
    written: str = ""
    natural_at: float = float("nan")   # the word's onset in the natural take (from speech start)
    asked: float = float("nan")
    placed: float = float("nan")       # the engine's report
    measured: float | None = None
    window: str = ""
    slot: float = float("nan")
    render_s: float = float("nan")
    error: str = ""
    other_onsets: int = 0         # further pause-onsets inside the ±150 ms window (ambiguity)
    nearest: float | None = None  # the pause-onset in the ±150 ms window nearest to the asked time
    natural_pause: bool = False   # the natural reading has a measurable pause before the word
    others: str = ""              # not found in ± 150 ms: what looser rules find (information only)
    asr_nat: int | None = None    # the line's ASR errors, natural take and fitted take
    asr_fit: int | None = None
    hyp: str = ""

    @property
    def err(self) -> float | None:
        return None if self.measured is None else self.measured - self.asked


# Onset rules, strictest first, all in asked ± 150 ms. A fitted take can shorten the pause before a pinned
# word below 15 ms, or fill it with a breath or the previous word's decay; the looser rules find the word
# there. Widening the window instead finds stop releases inside the word (+185 ms on "action" once).
TIERS = ("15 ms pause", "5 ms pause", "30 dB floor", "20 dB floor")
TIER_RULES = (dict(), dict(quiet_seconds=0.005), dict(floor_db=30), dict(floor_db=20))


def measure_onset(audio: np.ndarray, asked: float) -> tuple[int | None, str]:
    """The pinned word's onset (sample) and the rule that found it, or (None, "unmeasured")."""
    from takefit.engine.speech import onset_after

    lo, hi = int(round((asked - 0.15) * SR)), int(round((asked + 0.15) * SR))
    for tier, kw in zip(TIERS, TIER_RULES):
        o = onset_after(audio, SR, lo, hi, **kw)
        if o is not None:
            return o, tier
    return None, "unmeasured"


def other_estimates(audio: np.ndarray, asked: float, used: str) -> str:
    """For a pin a looser rule measured: what every rule finds in the window (errors in ms), so a reader
    can see whether they agree."""
    from takefit.engine.speech import onset_after

    lo, hi = int(round((asked - 0.15) * SR)), int(round((asked + 0.15) * SR))
    out = []
    for tier, kw in zip(TIERS, TIER_RULES):
        o = onset_after(audio, SR, lo, hi, **kw)
        if o is not None and tier != used:
            out.append(f"{tier}: {1000 * (o / SR - asked):+.0f}")
    return "; ".join(out) or "none"


def pin_lines(quick: bool) -> list[tuple[str, str, str, float]]:
    out = []
    for lang, lines in (("en", PIN_LINES_EN), ("zh", PIN_LINES_ZH)):
        idx = QUICK_PINS[lang] if quick else range(len(lines))
        for i in idx:
            out.append((lang, *lines[i]))
    return [(*item, FACTORS[k % len(FACTORS)]) for k, item in enumerate(out)]


def natural_word_onsets(take, template: str) -> list[tuple[float, bool]]:
    """Seconds from the natural take's start at which each pinned word sounds: the first phoneme after
    the k-th punctuation item (k = punctuation marks before the pin in the text), moved to the first
    rise out of a pause between 120 ms before that punctuation item (the decoder starts a word up to
    ~90 ms before its frame) and 60 ms after the phoneme, when there is one; with whether there was."""
    from takefit.engine.speech import onset_after

    parts = template.split("{P}")
    counts = [sum(ch in PUNCT_TEXT for ch in "".join(parts[: i + 1])) for i in range(len(parts) - 1)]
    punct_items = [j for j, p in enumerate(take.phonemes) if p.phoneme in PUNCT_PHONEMES]
    out = []
    for k in counts:
        if k - 1 >= len(punct_items):
            raise RuntimeError(f"only {len(punct_items)} punctuation items in the reading of {template!r}")
        j = punct_items[k - 1] + 1
        while j < len(take.phonemes) and take.phonemes[j].phoneme in SKIP_PHONEMES | PUNCT_PHONEMES:
            j += 1
        est = take.phonemes[j].start
        sr = take.sample_rate
        lo = min(take.phonemes[punct_items[k - 1]].start, est) - 0.12
        onset = onset_after(take.audio, sr, int(lo * sr), int((est + 0.06) * sr))
        out.append((est, False) if onset is None else (onset / sr, True))
    return out


def write_pin(seconds: float, unit: str, fps: Fraction | None) -> tuple[str, float]:
    """The pin markup and the exact time it asks for."""
    if unit == "f":
        n = max(1, round(seconds * fps))
        return f"{{@{n}f}}", float(n / fps)
    if unit == "ms":
        n = round(seconds * 1000)
        return f"{{@{n}ms}}", n / 1000
    v = round(seconds, 3)
    return f"{{@{v:.3f}s}}", v


def all_onsets(audio, sr, start: int, stop: int) -> list[int]:
    """Every pause-onset in [start, stop)."""
    from takefit.engine.speech import onset_after

    found, pos = [], start
    while pos < stop:
        o = onset_after(audio, sr, pos, stop)
        if o is None:
            break
        found.append(o)
        pos = o + int(0.01 * sr)
    return found


def run_pins(engine, items, lead: float, tail: float, seed: int, bugs: list, log, pngs: list, png_count: int,
             words: Words):
    from takefit.engine import FitError, RenderRequest, Target
    from takefit.engine.speech import onset_after

    rng = random.Random(seed)
    units = [("s", None), ("ms", None), ("f", Fraction(25)), ("s", None), ("f", Fraction(24000, 1001))]
    rows = []
    for k, (lang, template, voice, factor) in enumerate(items):
        plain = template.replace("{P}", "")
        n_pins = template.count("{P}")
        base = [PinRow(lang, template, voice, factor, i) for i in range(n_pins)]
        rows += base
        unit, fps = units[k % len(units)]
        try:
            nat = engine.render(RenderRequest(plain, voice=voice, target=Target.natural(), sample_rate=SR,
                                              lead=lead, tail=tail))
            span = measure_speech(nat.audio, SR)
            onsets = natural_word_onsets(nat, template)
        except Exception as e:
            for r in base:
                r.error = f"natural take: {type(e).__name__}: {e}"
            bugs.append((f"pins natural {voice} {plain!r}", traceback.format_exc()))
            continue
        text, asked = template, []
        for r, (at, paused) in zip(base, onsets):
            r.natural_at, r.natural_pause = at - span[0], paused
            want = lead + r.natural_at * factor + rng.uniform(-0.03, 0.03)
            mark, sec = write_pin(want, unit, fps)
            text = text.replace("{P}", mark, 1)
            r.written, r.asked = mark, sec
            asked.append(sec)
        slot = Fraction(str(lead)) + Fraction(round((span[1] - span[0]) * factor * 1000), 1000) \
            + Fraction(str(tail)) + Fraction(round(rng.uniform(-0.05, 0.05) * 1000), 1000)
        for r in base:
            r.slot = float(slot)
        t0 = time.perf_counter()
        try:
            take = engine.render(RenderRequest(text, voice=voice, target=Target.seconds(slot), method="auto",
                                               sample_rate=SR, lead=lead, tail=tail, frame_rate=fps))
        except FitError as e:
            for r in base:
                r.error = f"FitError: {e}"
            continue
        except Exception as e:
            for r in base:
                r.error = f"{type(e).__name__}: {e}"
            bugs.append((f"pins {voice} {text!r} slot {float(slot):.3f}", traceback.format_exc()))
            continue
        spent = time.perf_counter() - t0
        nat_words, fit_words = words.errors(nat.audio, plain, lang), words.errors(take.audio, plain, lang)
        if nat_words and fit_words:
            for r in base:
                r.asr_nat, (r.asr_fit, r.hyp) = nat_words[0], fit_words
        if len(take.pins) != n_pins:
            bugs.append((f"pins {voice} {text!r}", f"take.pins has {len(take.pins)} entries, {n_pins} pins written"))
        for r, p in zip(base, take.pins):
            r.word, r.placed = p.word, p.placed
            if abs(p.asked - r.asked) > 1e-6:
                bugs.append((f"pins {voice} {text!r}", f"PinResult.asked {p.asked} ≠ written {r.asked}"))
        for r in base:
            r.render_s = spent
            lo, hi = int(round((r.asked - 0.15) * SR)), int(round((r.asked + 0.15) * SR))
            o, r.window = measure_onset(take.audio, r.asked)
            if r.window == TIERS[0]:
                found = all_onsets(take.audio, SR, lo, hi)
                r.other_onsets = len(found) - 1
                r.nearest = min(found, key=lambda x: abs(x / SR - r.asked)) / SR
            else:
                r.others = other_estimates(take.audio, r.asked, r.window)
            r.measured = None if o is None else o / SR
        bad = any(r.measured is None or abs(r.err) > GOAL_PIN_MAX for r in base)
        if png_count and (len(pngs) < png_count or bad):
            pngs.append(dict(name=f"pins_{k:02d}_{lang}_{voice}" + ("_check" if bad else ""), audio=take.audio,
                             slot=float(slot), tail=tail,
                             lead=lead, span=measure_speech(take.audio, SR),
                             pins=[(r.asked, r.measured) for r in base],
                             title=f"hit points {lang} #{k} {voice} ×{factor:g} "
                                   + " ".join(r.written for r in base)))
        log(f"pins {k + 1}/{len(items)} {voice} done")
    return rows


def pin_summary(rows: list[PinRow], groups) -> tuple[str, list[tuple[str, bool]]]:
    lines = ["| set | pins | natural pause | render errors | unmeasured | found by rule 15 ms / 5 ms / 30 dB / 20 dB | \\|measured − asked\\| median ms "
             "| \\|measured − asked\\| p95 ms | max ms | signed mean ms | \\|placed − asked\\| max ms "
             "| \\|measured − placed\\| median ms | max ms |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    goals, extra_rows = [], []
    for name, pred in groups:
        sel = [r for r in rows if pred(r)]
        if not sel:
            continue
        ok = [r for r in sel if not r.error]
        meas = [r for r in ok if r.measured is not None]
        errs = [abs(r.err) for r in meas]
        signed = [r.err for r in meas]
        pl = [abs(r.placed - r.asked) for r in ok]
        mp = [abs(r.measured - r.placed) for r in meas]
        lines.append(f"| {name} | {len(sel)} | {sum(r.natural_pause for r in sel)} | {len(sel) - len(ok)} "
                     f"| {len(ok) - len(meas)} "
                     f"| {' / '.join(str(sum(r.window == t for r in meas)) for t in TIERS)} | {ms(pctl(errs, 50))} | {ms(pctl(errs, 95))} "
                     f"| {ms(max(errs, default=float('nan')))} | {ms(float(np.mean(signed)) if signed else float('nan'))} "
                     f"| {ms(max(pl, default=float('nan')))} | {ms(pctl(mp, 50))} | {ms(max(mp, default=float('nan')))} |")
        if name == "all":
            lost = {r.template for r in ok if r.asr_fit is not None and r.asr_fit - r.asr_nat >= ASR_EXTRA_FLAG}
            strict = [abs(r.err) for r in meas if r.window == TIERS[0]]
            extra_rows = [f"| all, 15 ms pause rule only | {len(sel)} | {sum(r.natural_pause for r in sel)} "
                          f"| {len(sel) - len(ok)} | {len(ok) - len(strict)} | {len(strict)} / — / — / — "
                          f"| {ms(pctl(strict, 50))} | {ms(pctl(strict, 95))} | {ms(max(strict, default=float('nan')))} "
                          f"| — | — | — | — |"]
            goals += [
                (f"[auto] hit-point onset error median {ms(pctl(errs, 50))} ms ≤ {ms(GOAL_PIN_MEDIAN)} ms",
                 bool(errs) and pctl(errs, 50) <= GOAL_PIN_MEDIAN),
                (f"[auto] hit-point onset error max {ms(max(errs, default=float('nan')))} ms ≤ {ms(GOAL_PIN_MAX)} ms",
                 bool(errs) and max(errs) <= GOAL_PIN_MAX),
                (f"[auto] hit points unmeasured or not rendered: {len(sel) - len(meas)}", len(sel) == len(meas)),
                *([(f"[auto] (extra check) hit-point lines with ≥ {ASR_EXTRA_FLAG} more ASR errors than their natural "
                    f"take (words lost?): {len(lost)}", not lost)] if any(r.asr_fit is not None for r in ok) else []),
            ]
    lines += extra_rows
    return "\n".join(lines), goals


def pin_table(rows: list[PinRow]) -> str:
    out = ["| # | lang | voice | line | factor | pin | word | natural pause | natural onset s | asked s "
           "| placed (engine) s | measured s | error ms | rule | other onsets in window | nearest onset error ms "
           "| measured by a looser rule: what the others find (error ms) | slot s | ASR err nat→fit | render s | note |",
           "|---:|---|---|---|---:|---|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    for k, r in enumerate(rows):
        note = r.error or ("FAIL > 60 ms" if r.err is not None and abs(r.err) > GOAL_PIN_MAX else "")
        if r.asr_fit is not None and r.asr_fit - r.asr_nat >= ASR_EXTRA_FLAG:
            note = (note + "; " if note else "") + f"ASR heard {r.hyp!r}"
        meas = "—" if r.measured is None else f"{r.measured:.3f}"
        near = ms(r.nearest - r.asked) if r.nearest is not None and r.other_onsets else ""
        out.append(f"| {k} | {r.lang} | {r.voice} | {short(r.template.replace('{P}', '^'), 40)} | {r.factor:g} "
                   f"| {r.written.replace('|', '')} | {r.word} | {'yes' if r.natural_pause else 'no'} | {r.natural_at:.3f} "
                   f"| {r.asked:.3f} | {r.placed:.3f} | {meas} | {ms(r.err)} | {r.window} | {r.other_onsets} | {near} "
                   f"| {r.others} | {r.slot:.3f} | {'' if r.asr_fit is None else f'{r.asr_nat}→{r.asr_fit}'} "
                   f"| {r.render_s:.2f} "
                   f"| {short(note, 60)} |")
    return "\n".join(out)


# ------------------------------------------------------------------------------------------------
# Pictures
# ------------------------------------------------------------------------------------------------
def save_pngs(pngs: list[dict], out_dir: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    for p in pngs:
        audio, slot = p["audio"], p["slot"]
        fig, (ax_w, ax_s) = plt.subplots(2, 1, figsize=(11, 5.2), sharex=True, height_ratios=(1, 2.2))
        t = np.arange(len(audio)) / SR
        ax_w.plot(t, audio, lw=0.4, color="0.2")
        ax_s.specgram(audio, NFFT=1024, Fs=SR, noverlap=768, cmap="magma", vmin=-130)
        ax_s.set_ylim(0, 8000)
        for ax in (ax_w, ax_s):
            ax.axvline(0, color="c", lw=1.5)
            ax.axvline(slot, color="c", lw=1.5, label="slot")
            ax.axvline(slot - p["tail"], color="c", lw=1, ls=":", label="slot − tail")
            if p["lead"]:
                ax.axvline(p["lead"], color="c", lw=1, ls=":")
            if p["span"]:
                ax.axvspan(*p["span"], color="lime", alpha=0.12, label="speech span (measured)")
            for i, (asked, measured) in enumerate(p["pins"]):
                ax.axvline(asked, color="r", lw=1.2, ls="--", label="pin asked" if i == 0 else None)
                if measured is not None:
                    ax.axvline(measured, color="yellow" if ax is ax_s else "orange", lw=1.2,
                               label="pinned onset (measured)" if i == 0 else None)
        ax_w.set_xlim(-0.05, slot + 0.05)
        ax_w.legend(loc="upper right", fontsize=7, ncol=3)
        ax_w.set_title(p["title"], fontsize=9)
        ax_s.set_xlabel("seconds from the slot start")
        ax_s.set_ylabel("Hz")
        fig.tight_layout()
        fig.savefig(out_dir / f"{p['name']}.png", dpi=100)
        plt.close(fig)


# ------------------------------------------------------------------------------------------------
# Main
# ------------------------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="4 slot-fill and 4 hit-point lines (smoke run)")
    ap.add_argument("--methods", default="auto", help="comma-separated fitting methods for the slot-fill part "
                                                      "(auto, hybrid, model, stretch); default auto")
    ap.add_argument("--all-ratios", action="store_true", help="slot fill: every line at every ratio (5× the takes)")
    ap.add_argument("--no-asr", action="store_true", help="skip the Whisper check for lost words")
    ap.add_argument("--lead", type=float, default=0.0, help="lead handle, seconds (default 0)")
    ap.add_argument("--tail", type=float, default=0.04, help="tail handle, seconds (default 0.04)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=11, help="seed of the pin/slot offsets")
    ap.add_argument("--skip-fill", action="store_true")
    ap.add_argument("--skip-pins", action="store_true")
    ap.add_argument("--out", type=Path, help="directory for spectrogram PNGs of a few takes")
    ap.add_argument("--png-count", type=int, default=6,
                    help="PNGs per part with --out (default 6), plus one for every take that misses a goal")
    args = ap.parse_args()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    t_start = time.perf_counter()
    cpu_start = time.process_time()
    load0 = os.getloadavg()
    print(f"# Slot fill and hit points (bench/fill.py{' --quick' if args.quick else ''})\n")
    print(f"- date: {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}; machine: {platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}; engine threads {args.threads}")
    print(f"- load average at start (1/5/15 min): {load0[0]:.2f} / {load0[1]:.2f} / {load0[2]:.2f}")
    print(f"- code: {git_state()}")
    print(f"- handles: lead {args.lead:g} s, tail {args.tail:g} s; sample rate {SR} Hz; loudness −23 LUFS (default)")

    from takefit.engine import Engine

    engine = Engine(threads=args.threads)
    words = Words(not args.no_asr, args.threads, log)
    bugs: list[tuple[str, str]] = []
    goals: list[tuple[str, bool]] = []
    fill_pngs: list[dict] = []
    pin_pngs: list[dict] = []
    png_count = args.png_count if args.out else 0
    sections = []

    if not args.skip_fill:
        items = fill_lines(args.quick, args.all_ratios)
        rows = run_fill(engine, items, methods, args.lead, args.tail, bugs, log, fill_pngs, png_count, words)
        groups = [("en", lambda r: r.lang == "en"), ("zh", lambda r: r.lang == "zh"), ("all", lambda r: True)]
        groups += [(f"ratio {x:g}", (lambda x: lambda r: r.ratio == x)(x)) for x in RATIOS]
        table, g = fill_summary(rows, groups)
        goals += g
        failing = [k for k, r in enumerate(rows) if fill_failing(r)]
        sections.append(
            f"## Slot fill\n\n{len(items)} takes per method × {len(methods)} method(s); slot = lead + natural speech × ratio + "
            f"tail. onset = measured speech start − lead; end err = measured speech end − (slot − tail); "
            f"trailing silence = slot − measured speech end (its target is the tail, {1000 * args.tail:.0f} ms); "
            f"length err = samples − the slot's exact sample count; ASR errors: words (en) / characters (zh) "
            f"{words.note}, of the natural take → of the fitted take, summed (a take with ≥ {ASR_EXTRA_FLAG} more "
            f"is flagged: a word rendered near-silent does not count as speech, so the span can miss it)."
            f"\n\n{table}\n\n"
            f"Lines outside a per-take goal (span÷slot < {GOAL_SPAN_WORST}, onset > {ms(GOAL_ONSET_P95)} ms, "
            f"|end err| > {ms(GOAL_END_P95)} ms, length ≠ exact, ≥ {ASR_EXTRA_FLAG} more ASR errors): "
            f"{', '.join('#' + str(k) for k in failing) or 'none'}.\n\n"
            f"### Per take\n\n{fill_table(rows)}")

    if not args.skip_pins:
        items = pin_lines(args.quick)
        prows = run_pins(engine, items, args.lead, args.tail, args.seed, bugs, log, pin_pngs, png_count, words)
        groups = [("en", lambda r: r.lang == "en"), ("zh", lambda r: r.lang == "zh"), ("all", lambda r: True)]
        groups += [(v, (lambda v: lambda r: r.voice == v)(v)) for v in (*VOICES["en"], *VOICES["zh"])]
        table, g = pin_summary(prows, groups)
        goals += g
        sections.append(
            f"## Hit points\n\n{len(items)} lines, {len(prows)} pins, method auto. error = measured onset − asked: "
            f"`onset_after` in asked ± 150 ms with the strictest rule that finds a rise there (a 15 ms pause under "
            f"the 40 dB floor; else a 5 ms pause; else a 15 ms pause under a 30, then 20 dB floor; the window never "
            f"widens); for pins a looser rule measured, the per-pin table adds what the other rules find. placed = the engine's own `PinResult.placed` (its anchor's place: equal to "
            f"asked by construction, so it does not verify anything).\n\n{table}\n\n### Per pin\n\n{pin_table(prows)}")

    if args.out:
        save_pngs(fill_pngs + pin_pngs, args.out)

    print()
    print("\n\n".join(sections))
    print("\n## Goals\n")
    for text, ok in goals:
        print(f"- {verdict(ok)} {text}")
    if bugs:
        print("\n## Engine exceptions and inconsistencies\n")
        for what, tb in bugs:
            print(f"- {what}\n\n```\n{tb.rstrip()}\n```")
    load1 = os.getloadavg()
    wall = time.perf_counter() - t_start
    print(f"\nTotal runtime {wall:.0f} s ({wall / 60:.1f} min wall, {(time.process_time() - cpu_start) / 60:.1f} min CPU "
          f"in this process); load average at the end (1/5/15 min): {load1[0]:.2f} / {load1[1]:.2f} / {load1[2]:.2f}"
          + (f"; PNGs in {args.out}" if args.out else ""))
    main_goals = [ok for text, ok in goals if text.startswith("[auto]")] or [ok for _, ok in goals]
    return 0 if main_goals and all(main_goals) else 1      # the exit status follows the auto method


if __name__ == "__main__":
    sys.exit(main())
