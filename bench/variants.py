#!/usr/bin/env python3
"""Alternate takes (issue #21 item 2): are variants 2 and 3 other reads, and still good takes?

    .venv/bin/python bench/variants.py                  # 3 lines × 2 slots × variants 1-3, with Whisper
    .venv/bin/python bench/variants.py --variants 1-5 --no-asr

Each line is rendered at its natural pace (variant 1) to measure its speech, then into slots of
lead + speech × ratio + tail (ratios 1.0 and 1.3; lead 0, tail 0.04) as variants 1, 2, 3. Per take:

    f0 corr     correlation of the pitch contour (Praat autocorrelation, 10 ms, semitones) with
                variant 1's take of the same slot, over the frames voiced in both (1.000 = the same)
    pitch st    median F0 difference from variant 1, semitones
    onset ms    mean |shift| of the word onsets (first phoneme after each word gap or pause, from the
                take's phoneme durations) against variant 1; `max` the largest
    span        measured speech span ÷ slot (engine/speech.py's 40 dB rule); `end ms` the speech end's
                distance from slot − tail; `len` the length error in samples (must be 0)
    WER         Whisper base (evaluation/intelligibility.py: int8, greedy, language forced), pooled
                word (en) / character (zh) errors over the variant's takes

The line's emotion, where it has one, exercises the intensity change. Rows are variants; every
value is the mean over lines and slots unless named otherwise.
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys
from fractions import Fraction

import numpy as np
from takefit.engine import Engine, RenderRequest, Target
from takefit.engine import audio as eaudio
from takefit.engine.emotion import Emotion
from takefit.engine.speech import speech_span
from takefit.engine.take import word_onsets as take_onsets

SR = 48000
TAIL = 0.04
RATIOS = (1.0, 1.3)
LINES = (   # (text, language, voice, emotion)
    ("Well, I did not expect that. Did you?", "en", "af_heart", None),
    ("The package arrives tomorrow morning, right after the meeting.", "en", "am_michael", None),
    ("我们明天早上出发，好吗？", "zh", "zf_xiaoxiao", "happy 0.6"),
)


def pitch_track(audio: np.ndarray, voice: str) -> np.ndarray:
    """F0 every 10 ms in semitones re 100 Hz, NaN where unvoiced."""
    import parselmouth

    floor, ceiling = (100.0, 500.0) if voice[1:2] == "f" else (60.0, 350.0)
    snd = parselmouth.Sound(audio.astype(np.float64), sampling_frequency=SR)
    f0 = snd.to_pitch_ac(time_step=0.01, pitch_floor=floor, pitch_ceiling=ceiling).selected_array["frequency"]
    return np.where(f0 > 0, 12.0 * np.log2(np.maximum(f0, 1.0) / 100.0), np.nan)


def f0_compare(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(correlation, median difference b − a in semitones) over the frames voiced in both."""
    n = min(len(a), len(b))
    both = ~np.isnan(a[:n]) & ~np.isnan(b[:n])
    if both.sum() < 10:
        return float("nan"), float("nan")
    return float(np.corrcoef(a[:n][both], b[:n][both])[0, 1]), float(np.median(b[:n][both] - a[:n][both]))


def word_onsets(take) -> np.ndarray:
    return take_onsets(take.phonemes)


def measure(take, base, slot: float, voice: str, tracks: dict) -> dict:
    span = speech_span(take.audio, SR)
    a, b = tracks.setdefault(id(base), pitch_track(base.audio, voice)), pitch_track(take.audio, voice)
    corr, shift = f0_compare(a, b)
    on_a, on_b = word_onsets(base), word_onsets(take)
    n = min(len(on_a), len(on_b))
    moved = np.abs(on_a[:n] - on_b[:n]) if n else np.zeros(1)
    return {"corr": corr, "pitch": shift, "onset": float(moved.mean()), "onset_max": float(moved.max()),
            "span": (span[1] - span[0]) / SR / slot, "end": span[1] / SR - (slot - TAIL),
            "len": len(take.audio) - round(slot * SR)}


def transcribe_errors(asr, take, text: str, lang: str) -> tuple[int, int, str]:
    from takefit.evaluation.intelligibility import count_errors, normalise

    hyp = asr(eaudio.resample(take.audio, SR, 16000), lang)
    errors, length, _ = count_errors(normalise(text, lang), normalise(hyp, lang), lang)
    return errors, length, hyp


def variant_list(spec: str) -> list[int]:
    lo, _, hi = spec.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def run(args) -> dict[int, list[dict]]:
    engine = Engine(threads=args.threads)
    asr = None
    if not args.no_asr:
        from takefit.evaluation.intelligibility import Asr, prepare_whisper

        asr = Asr(prepare_whisper(log=lambda *a: None), beam_size=1, threads=args.threads)
    rows: dict[int, list[dict]] = {v: [] for v in args.variants}
    for text, lang, voice, emotion in LINES:
        emo = Emotion.parse(emotion) if emotion else None
        natural = engine.render(RenderRequest(text, voice=voice, language=lang, emotion=emo))
        speech = natural.speech_end - natural.speech_start
        for ratio in RATIOS:
            slot = float(Fraction(round((speech * ratio + TAIL) * SR), SR))
            req = {"text": text, "voice": voice, "language": lang, "emotion": emo,
                   "target": Target.parse(f"{slot}s"), "tail": TAIL}
            base = engine.render(RenderRequest(**req))
            tracks: dict = {}
            for v in args.variants:
                take = base if v == 1 else engine.render(RenderRequest(**req, variant=v))
                row = measure(take, base, slot, voice, tracks)
                if asr is not None:
                    row["errors"], row["words"], heard = transcribe_errors(asr, take, text, lang)
                    if row["errors"]:
                        print(f"  variant {v} ratio {ratio}: heard {heard!r}", file=sys.stderr)
                rows[v].append(row)
                print(f"  variant {v} ratio {ratio} {text[:28]!r}: " + ", ".join(
                    f"{k} {x:.3f}" if isinstance(x, float) else f"{k} {x}" for k, x in row.items()), file=sys.stderr)
    return rows


def table(rows: dict[int, list[dict]]) -> str:
    out = ["| variant | f0 corr | |pitch| st | onset ms (max) | span | end ms (max abs) | len | WER |",
           "|---|---|---|---|---|---|---|---|"]
    for v, rs in rows.items():
        col = {k: np.array([r[k] for r in rs], float) for k in rs[0]}
        wer = (f"{col['errors'].sum() / col['words'].sum():.3f} ({int(col['errors'].sum())}/{int(col['words'].sum())})"
               if "errors" in col else "–")
        out.append(f"| {v} | {np.nanmean(col['corr']):.3f} | {np.nanmean(np.abs(col['pitch'])):.2f} | "
                   f"{1000 * col['onset'].mean():.0f} ({1000 * col['onset_max'].max():.0f}) | "
                   f"{col['span'].mean():.3f} | {1000 * col['end'].mean():+.0f} ({1000 * np.abs(col['end']).max():.0f}) | "
                   f"{int(np.abs(col['len']).max())} | {wer} |")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variants", type=variant_list, default=variant_list("1-3"), help="e.g. 1-3 or 1-6")
    ap.add_argument("--no-asr", action="store_true", help="skip Whisper")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if args.variants[0] != 1:
        args.variants = [1, *args.variants]
    rows = run(args)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"bench/variants.py, {datetime.date.today()}, load {load:.1f}; {len(LINES)} lines × {len(RATIOS)} slots "
          f"(ratios {', '.join(map(str, RATIOS))} of the natural speech)")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
