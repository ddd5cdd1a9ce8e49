"""Exactness over random targets: every take must have exactly the requested number of samples.

    python bench/exactness.py [--n 240] [--seed 7]

Targets are drawn across seconds, ratios of the natural length and frames at 23.976/24/25/29.97/
30/50/59.94 fps, at 44.1 kHz and 48 kHz, with every fitting method. Prints a table of the maximum
error in samples per target kind and method (must be 0 everywhere).
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from collections import defaultdict
from fractions import Fraction

from tqdm import tqdm

from takefit.engine import Engine, FitError, RenderRequest, Target

LINES = ["Yes.", "Hello there, how are you?", "我们开始吧。", "这是一个测试句子。", "Roll camera, and action!",
         "我们用 takefit 配音。", "Cut! That was perfect.", "慢慢来，不着急。"]
FPS = ["23.976", "24", "25", "29.97", "30", "50", "59.94"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=240)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    engine = Engine()
    naturals = {line: engine.plan(line).natural_seconds for line in LINES}
    worst = defaultdict(int)
    count = defaultdict(int)
    skipped = 0
    t0 = time.perf_counter()
    for _ in tqdm(range(args.n), desc="renders", file=sys.stderr):
        line = rng.choice(LINES)
        nat = naturals[line]
        ratio = Fraction(rng.randint(50, 250), 100)
        kind = rng.choice(["seconds", "ratio", "frames"])
        if kind == "seconds":
            target = Target.seconds((nat * ratio).limit_denominator(1000))
        elif kind == "ratio":
            target = Target.ratio(ratio)
        else:
            fps = rng.choice(FPS)
            target = Target.frames(max(1, int(nat * ratio * float(Fraction(fps)))), fps)
        rate = rng.choice([44100, 48000])
        method = rng.choice(["auto", "model", "stretch", "hybrid"])
        try:
            take = engine.render(RenderRequest(line, target=target, sample_rate=rate, method=method))
        except FitError:
            skipped += 1
            continue
        expected = target.samples(rate, nat)
        err = abs(take.samples - expected)
        key = (kind, method)
        worst[key] = max(worst[key], err)
        count[key] += 1
    elapsed = time.perf_counter() - t0
    print(f"\n| target kind | method | renders | max error (samples) |\n|---|---|---:|---:|")
    for key in sorted(worst):
        print(f"| {key[0]} | {key[1]} | {count[key]} | {worst[key]} |")
    total = sum(count.values())
    print(f"\n{total} renders ({skipped} infeasible targets skipped) in {elapsed:.0f} s; "
          f"max error over all: {max(worst.values()) if worst else 'n/a'} samples")
    return 0 if worst and max(worst.values()) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
