#!/usr/bin/env python3
"""DNSMOS on one window vs every 1 s hop of the repeated take: what the harness's shortcut changes.

``speechmos.dnsmos.run`` (like Microsoft's ``dnsmos_local.py``) doubles a short take until it is at
least 9.01 s long and scores every 1 s hop of that, so a 4 s take is scored seven times on rotated
copies of itself. ``takefit.evaluation.quality`` scores a short take's first window only. This
script renders natural takes (the first N sentences per language, two voices alternating) and their
ffmpeg atempo stretches to 0.7× and 1.4×, scores each both ways, and prints the difference and the
time each way took. Results: bench/results/dnsmos_windows.md.

    nice -n 5 .venv/bin/python bench/dnsmos_windows.py --sentences 6
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sentences", type=int, default=6, help="per language (default 6)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "dnsmos_windows.md")
    args = ap.parse_args(argv)

    from speechmos import dnsmos as reference

    from takefit.engine import Engine, RenderRequest, Target
    from takefit.engine import audio as eaudio
    from takefit.evaluation import experiment, quality, stretchers

    engine = Engine(threads=1)
    meter = quality.DnsmosMeter(threads=1)
    rows = []
    for lang in ("en", "zh"):
        for n, text in enumerate(experiment.load_sentences(lang)[: args.sentences]):
            voice = experiment.VOICES[lang][n % 2]
            nat24 = engine.render(RenderRequest(text, voice=voice, target=Target.natural(), sample_rate=24000,
                                                loudness=None)).audio
            for ratio in (1.0, 0.7, 1.4):
                x = nat24 if ratio == 1.0 else stretchers.atempo(nat24, 24000, int(math.floor(len(nat24) * ratio)))
                x16 = np.clip(eaudio.resample(x, 24000, 16000), -1, 1)
                t0 = time.process_time()
                ref = reference.run(x16, sr=16000)
                t1 = time.process_time()
                ours = meter(x16)
                t2 = time.process_time()
                rows.append((lang, ratio, len(x16) / 16000, ref["ovrl_mos"], ours.ovrl, ref["sig_mos"], ours.sig,
                             t1 - t0, t2 - t1))
    a = np.array([r[2:] for r in rows], float)
    d_ovrl, d_sig = a[:, 2] - a[:, 1], a[:, 4] - a[:, 3]
    corr = float(np.corrcoef(a[:, 1], a[:, 2])[0, 1])
    md = "\n".join([
        "# DNSMOS: first window only vs every hop of the repeated take (speechmos)\n",
        f"{len(rows)} takes ({args.sentences} en + {args.sentences} zh natural takes, and their atempo "
        f"stretches to 0.7× and 1.4×), {a[:, 0].min():.1f}–{a[:, 0].max():.1f} s long.\n",
        "| | all hops (speechmos) | first window (harness) |", "|---|---|---|",
        f"| mean OVRL | {a[:, 1].mean():.3f} | {a[:, 2].mean():.3f} |",
        f"| mean SIG | {a[:, 3].mean():.3f} | {a[:, 4].mean():.3f} |",
        f"| CPU per take | {a[:, 5].mean():.2f} s | {a[:, 6].mean():.2f} s |",
        "",
        f"OVRL difference per take: mean {d_ovrl.mean():+.3f}, mean |Δ| {np.abs(d_ovrl).mean():.3f}, "
        f"max |Δ| {np.abs(d_ovrl).max():.3f}; Pearson r of the two OVRL columns {corr:.3f}. "
        f"SIG: mean {d_sig.mean():+.3f}, mean |Δ| {np.abs(d_sig).mean():.3f}. "
        f"DNSMOS CPU time ÷ {a[:, 5].sum() / a[:, 6].sum():.1f}. Timed on a shared 2-core machine.",
        ""])
    print(md)
    args.out.write_text(md, "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
