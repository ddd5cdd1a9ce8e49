#!/usr/bin/env python3
"""The stem's R128 meter (engine/meter.py): time per hour of programme, this checkout against another,
rounds interleaved in fresh processes, and whether both read the same five values.

    .venv/bin/python bench/stem_meter.py                               # this checkout alone
    .venv/bin/python bench/stem_meter.py --against /tmp/oldpkg         # a dir holding takefit/ (a worktree)

A stem is metered as write_stem feeds it (30 s blocks): K-weighting, 100 ms energies, and the true peak
by soxr and the two 4× FIR interpolators. The programme is speech-like noise (bursts of shaped noise and
pauses): the meter's cost depends on the length, not on the level or on what is said.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

BLOCK_SECONDS = 30
RATE = 48000


def programme(minutes: float):
    import numpy as np

    rng = np.random.default_rng(7)
    n = int(minutes * 60 * RATE)
    noise = np.convolve(rng.standard_normal(n), np.ones(8) / 8, mode="same")      # a duller, speech-like tilt
    gate = np.repeat(rng.random(n // 4800 + 1) < 0.7, 4800)[:n]                   # 100 ms on/off: words, pauses
    return (0.05 * noise * gate).astype(np.float32)


def measure(minutes: float) -> dict:
    """One timing in this process (the checkout on sys.path): seconds of metering, and the values read."""
    from takefit.engine.meter import Meter

    audio = programme(minutes)
    step = BLOCK_SECONDS * RATE
    t0 = time.process_time()
    meter = Meter(RATE)
    for start in range(0, len(audio), step):
        meter.add(audio[start:start + step])
    levels = meter.levels()
    seconds = time.process_time() - t0
    return {"cpu_s": seconds, "per_hour_s": seconds * 60 / minutes, "levels": levels.__dict__}


def run(pythonpath: str | None, minutes: float) -> dict:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    out = subprocess.run([sys.executable, __file__, "--one", str(minutes)], env=env, capture_output=True,
                         text=True, timeout=1800, check=True)
    return json.loads(out.stdout)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="programme length (default 10)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--against", metavar="DIR", help="PYTHONPATH of the checkout to compare with")
    ap.add_argument("--one", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one is not None:
        print(json.dumps(measure(args.one)))
        return 0
    sides = {"this checkout": None} | ({"against": args.against} if args.against else {})
    runs: dict[str, list[dict]] = {name: [] for name in sides}
    for r in range(args.rounds):
        for name in (list(sides) if r % 2 == 0 else list(sides)[::-1]):
            runs[name].append(run(sides[name], args.minutes))
    print(f"\n{args.minutes:g} min programme in {BLOCK_SECONDS} s blocks, {args.rounds} interleaved rounds, CPU s\n")
    print(f"{'checkout':16} {'s per hour (median)':>20} {'rounds':>30}  integrated / true peak")
    for name, rows in runs.items():
        hours = [r["per_hour_s"] for r in rows]
        lv = rows[0]["levels"]
        print(f"{name:16} {statistics.median(hours):20.2f} {' '.join(f'{h:.2f}' for h in hours):>30}  "
              f"{lv['integrated']} LUFS / {lv['true_peak']} dBTP")
    if args.against:
        ratio = statistics.median(a["per_hour_s"] / b["per_hour_s"] for a, b in zip(runs["this checkout"],
                                                                                    runs["against"]))
        same = all(a["levels"] == b["levels"] for a, b in zip(runs["this checkout"], runs["against"]))
        print(f"\nthis checkout / against: {ratio:.3f}× (median of the rounds' ratios); five values equal: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
