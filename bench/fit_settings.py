#!/usr/bin/env python3
"""Fit settings: which stretcher options and in-model splits make takefit's fit sound best.

A small dev subset (default 6 en + 6 zh sentences drawn with --seed from bench/data, two voices
per language alternating, ratios 0.7 0.8 1.25 1.4), every candidate fitting set-up rendered from the
same plan, and each take measured like ``takefit-eval`` does: Whisper base WER (en) / CER (zh) and
DNSMOS OVRL at 16 kHz (takefit.evaluation). ffmpeg ``atempo`` on the natural take is the rival
every candidate is compared with, pairwise (Δ OVRL per line, mean and 95 % bootstrap interval).

Candidates (``method:stretch``):

* methods — ``stretch`` (natural frames, all time change stretched), ``hybrid`` (engine's
  ``fitting.hybrid``: pauses and long vowels moved in whole frames, the rest stretched), ``splitF``
  (a fraction F of the change done in-model with ``fitting.allocate`` and the direction's weights,
  the rest stretched), ``model`` (all in-model, nothing stretched);
* stretch settings — pedalboard ``time_stretch`` (Rubber Band R3): ``fmt`` = the engine's setting
  before this benchmark (high_quality, transient_mode "mixed", preserve_formants=True), ``nf`` the
  same without formant preservation, ``crisp`` / ``smooth`` other transient modes (no formant
  preservation), ``engine`` = whatever ``takefit.engine.audio.stretch`` does today.

The takefit candidates are assembled from the engine's own parts (``Engine.plan``,
``_render_frames``, ``fitting``, ``audio``); the script checks once that ``hybrid:engine`` equals
``Engine.render(method="hybrid")`` bit for bit. Results are cached per take in
``bench/results/fit_settings.jsonl`` (adding a candidate measures only the new takes);
the table goes to stdout and ``bench/results/fit_settings.md``.

    nice -n 5 .venv/bin/python bench/fit_settings.py                  # ~500 takes, ~20 CPU-min
    .venv/bin/python bench/fit_settings.py --variants atempo stretch:nf hybrid:nf --ratios 0.7
"""
from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
MODEL_RATE, RATE = 24000, 16000

# Without a pitch shift, R3 (high_quality) ignores transient_mode and preserve_formants (measured:
# bit-identical output), so fmt = nf = crisp = smooth; only use_long_fft_window=False ("short") and
# the R2 engine (high_quality=False) sound different.
STRETCH = {
    "fmt": dict(high_quality=True, transient_mode="mixed", preserve_formants=True),
    "short": dict(high_quality=True, use_long_fft_window=False, preserve_formants=False),
    "r2smooth": dict(high_quality=False, transient_mode="smooth", preserve_formants=False),
    "r2mixed": dict(high_quality=False, transient_mode="mixed", preserve_formants=False),
    "nf": dict(high_quality=True, transient_mode="mixed", preserve_formants=False),
    "crisp": dict(high_quality=True, transient_mode="crisp", preserve_formants=False),
    "smooth": dict(high_quality=True, transient_mode="smooth", preserve_formants=False),
}
SHORTEN = ["atempo", "stretch:fmt", "stretch:nf", "stretch:smooth", "hybrid:nf", "split0.5:nf", "model",
           "stretch:short", "hybrid:short", "split0.5:short", "vsplit0.5:short"]
LENGTHEN = ["atempo", "hybrid:fmt", "hybrid:nf", "hybrid:smooth", "model", "hybrid:short", "split0.5:fmt",
            "split0.75:fmt"]


def stretcher(name: str):
    from takefit.engine import audio as eaudio

    if name == "engine":
        return eaudio.stretch

    def run(wav: np.ndarray, rate: int, n: int) -> np.ndarray:
        from pedalboard import time_stretch

        return time_stretch(wav.reshape(1, -1).astype(np.float32), float(rate),
                            stretch_factor=float(len(wav) / n), **STRETCH[name]).reshape(-1)
    return run


def render(engine, plan, variant: str, ratio: float, nat24: np.ndarray) -> np.ndarray:
    """One candidate take at 16 kHz, exactly the engine's target length."""
    from takefit.engine import Target
    from takefit.engine import audio as eaudio
    from takefit.engine.fitting import COMPRESS_WEIGHT, FRAME, LENGTHEN_WEIGHT, allocate, hybrid
    from takefit.evaluation import stretchers

    body = Target.ratio(ratio).samples(RATE, plan.natural_seconds)
    target24 = body * MODEL_RATE / RATE
    nat = plan.natural_frames
    if variant == "atempo":
        out = stretchers.atempo(nat24, MODEL_RATE, int(math.floor(target24)))
        return eaudio.exact_length(eaudio.resample(out, MODEL_RATE, RATE), body)
    method, _, how = variant.partition(":")
    weights = LENGTHEN_WEIGHT if ratio >= 1 else COMPRESS_WEIGHT
    if method == "model":
        frames = allocate(plan.items, int(target24 // FRAME), weights)
    elif method == "stretch":
        frames = nat
    elif method == "hybrid":
        frames = hybrid(plan.items, target24 / FRAME)
    elif method.startswith("split") or method.startswith("vsplit"):
        f = float(method.lstrip("vsplit"))
        if method.startswith("vsplit"):     # in-model part only in pauses and vowels: consonants kept
            weights = {**{k: 0.0 for k in weights}, "pause": 1.6, "join": 1.6, "vowel": 1.0, "sonorant": 0.5}
        frames = allocate(plan.items, int(round(nat.sum() + f * (target24 / FRAME - nat.sum()))), weights)
    else:
        raise SystemExit(f"unknown variant {variant}")
    wav = nat24 if frames is nat else engine._render_frames(plan, frames)
    if method != "model":
        wav = stretcher(how)(wav, MODEL_RATE, int(math.floor(target24)))
    return eaudio.exact_length(eaudio.resample(wav, MODEL_RATE, RATE), body)


def bootstrap(xs: list[float], n: int = 2000, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    a = np.asarray(xs)
    means = a[rng.integers(0, len(a), (n, len(a)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def table(recs: list[dict], ratios, variants_for) -> str:
    from takefit.evaluation.intelligibility import pooled

    by = {}
    for r in recs:
        by.setdefault((r["ratio"], r["variant"]), []).append(r)
    nat = {(r["lang"], r["sentence"]): r for r in recs if r["variant"] == "natural"}
    out = []
    for ratio in ratios:
        base = {(r["lang"], r["sentence"]): r["ovrl"] for r in by.get((ratio, "atempo"), [])}
        out += [f"\n### ratio {ratio:g}\n", "| candidate | WER en % | CER zh % | DNSMOS OVRL | Δ OVRL vs atempo [95% CI] |",
                "|---|---|---|---|---|"]
        for v in variants_for(ratio):
            cell = by.get((ratio, v), [])
            if not cell:
                continue
            wer = pooled((r["errors"], r["ref_len"]) for r in cell if r["lang"] == "en")
            cer = pooled((r["errors"], r["ref_len"]) for r in cell if r["lang"] == "zh")
            d = [r["ovrl"] - base[(r["lang"], r["sentence"])] for r in cell if (r["lang"], r["sentence"]) in base]
            ci = bootstrap(d) if d and v != "atempo" else None
            out.append(f"| {v} | {100 * wer:.1f} | {100 * cer:.1f} | {np.mean([r['ovrl'] for r in cell]):.3f} | "
                       + (f"{np.mean(d):+.3f} [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "—") + " |")
    natc = list(nat.values())
    if natc:
        out.append(f"\nnatural takes: WER en {100 * pooled((r['errors'], r['ref_len']) for r in natc if r['lang'] == 'en'):.1f} %, "
                   f"CER zh {100 * pooled((r['errors'], r['ref_len']) for r in natc if r['lang'] == 'zh'):.1f} %, "
                   f"DNSMOS OVRL {np.mean([r['ovrl'] for r in natc]):.3f}")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sentences", type=int, default=6, help="per language (default 6)")
    ap.add_argument("--ratios", type=float, nargs="+", default=[0.7, 0.8, 1.25, 1.4])
    ap.add_argument("--variants", nargs="+", help="for every ratio (default: --shorten / --lengthen)")
    ap.add_argument("--shorten", nargs="+", default=SHORTEN, help="candidates below 1.0")
    ap.add_argument("--lengthen", nargs="+", default=LENGTHEN, help="candidates above 1.0")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", type=Path, default=RESULTS / "fit_settings.jsonl")
    ap.add_argument("--out", type=Path, default=RESULTS / "fit_settings.md")
    ap.add_argument("--report-only", action="store_true", help="tables from the cache, measure nothing")
    args = ap.parse_args(argv)

    from takefit.evaluation import experiment, intelligibility, quality

    variants_for = (lambda r: args.variants) if args.variants else (lambda r: args.shorten if r < 1 else args.lengthen)
    cache: dict[tuple, dict] = {}
    if args.cache.is_file():
        for line in args.cache.read_text("utf-8").splitlines():
            r = json.loads(line)
            cache[(r["lang"], r["sentence"], r["voice"], r["ratio"], r["variant"])] = r

    items = []
    for lang in ("en", "zh"):
        lines = experiment.load_sentences(lang)
        rng = random.Random(f"fit-settings-{args.seed}-{lang}")
        for n, idx in enumerate(sorted(rng.sample(range(len(lines)), args.sentences))):
            items.append((lang, idx, lines[idx], experiment.VOICES[lang][n % 2]))

    if not args.report_only:
        from tqdm import tqdm
        from takefit.engine import Engine, RenderRequest, Target

        engine = Engine(threads=2)
        asr = intelligibility.Asr(intelligibility.prepare_whisper(), 1, 2)
        meter = quality.DnsmosMeter(threads=2)
        checked = False
        todo = [(it, r, v) for it in items for r, vs in ((1.0, ["natural"]), *((r, variants_for(r)) for r in args.ratios))
                for v in vs if (it[0], it[1], it[3], r, v) not in cache]
        args.cache.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        with open(args.cache, "a", encoding="utf-8") as f:
            plans = {}
            for (lang, idx, text, voice), r, v in tqdm(todo, unit="take", file=sys.stderr):
                if (lang, idx) not in plans:
                    plan = engine.plan(text, voice)
                    plans = {(lang, idx): (plan, engine._render_frames(plan, plan.natural_frames))}
                plan, nat24 = plans[(lang, idx)]
                if v == "natural":
                    audio = experiment.Takes.to_16k(nat24)
                else:
                    audio = render(engine, plan, v, r, nat24)
                    if not checked and v.startswith("hybrid:"):
                        ref = engine.render(RenderRequest(text, voice=voice, target=Target.ratio(r), method="hybrid",
                                                          sample_rate=RATE, loudness=None)).audio
                        same = render(engine, plan, "hybrid:engine", r, nat24)
                        if not np.array_equal(ref, same):
                            raise SystemExit("hybrid:engine differs from Engine.render: the candidates are not the engine's")
                        checked = True
                t = intelligibility.score(asr, audio, intelligibility.normalise(text, lang), lang)
                q = meter(audio)
                rec = {"lang": lang, "sentence": idx, "voice": voice, "ratio": r, "variant": v,
                       "errors": t.errors, "ref_len": t.ref_len, "hyp": t.hyp, "ovrl": q.ovrl, "sig": q.sig,
                       "samples": len(audio)}
                cache[(lang, idx, voice, r, v)] = rec
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
                f.flush()
        print(f"measured {len(todo)} takes in {time.perf_counter() - t0:.0f} s", file=sys.stderr)

    keys = {(it[0], it[1]) for it in items}
    recs = [r for r in cache.values() if (r["lang"], r["sentence"]) in keys]
    md = (f"# Fit settings on a dev subset ({args.sentences} en + {args.sentences} zh sentences, seed {args.seed}, "
          f"Whisper base greedy, DNSMOS OVRL at 16 kHz)\n" + table(recs, args.ratios, variants_for) + "\n")
    print(md)
    if not args.report_only or args.out.exists():
        args.out.write_text(md, "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
