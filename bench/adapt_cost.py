"""What a decoder-adapted voice costs at render time (engine/adaptation.py): the second session's opening
time and memory, and the render time per line against the same voice without its adaptation, side by side.

    .venv/bin/python bench/adapt_cost.py [--lines 6]
"""
from __future__ import annotations

import argparse
import gc
import resource
import sys
import time

import numpy as np

LINES = ("The harbour lights came on one by one.", "We missed the last bus and had to walk home in the rain.",
         "Could you tell me where the nearest train station is?", "Please close the window, it's far too windy.",
         "The coffee shop on the corner opens early every morning.", "She counted the boats rocking in the light.")


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2 ** 20


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=6)
    ap.add_argument("--voice", default="af_heart")
    args = ap.parse_args()
    from takefit.engine import Engine
    from takefit.engine.enroll.index import render_natural
    from takefit.engine.enroll.heap import trim as trim_heap
    from takefit.engine.adaptation import Adaptation

    eng = Engine(threads=2)
    table = eng.voice_bank.table(args.voice)
    render_natural(eng, LINES[0], table, args.voice)            # warm the plain session
    before = rss_mb()
    t0 = time.perf_counter()
    _, biases = eng.model.decoder.adapted()
    opened = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    adapt = Adaptation({n: rng.normal(0, 0.04, b.shape).astype(np.float32) for n, b in biases.items()})
    render_natural(eng, LINES[0], table, args.voice, adapt=adapt)      # warm the adapted session
    grown = rss_mb()
    gc.collect()
    trim_heap()             # what the replaced plain session freed, handed back (glibc keeps it otherwise)
    after = rss_mb()
    lines = (LINES * 4)[: args.lines]
    times = {"plain": [], "adapted": []}
    for text in lines:                                  # interleaved: both see the same machine load
        for label, a in (("plain", None), ("adapted", adapt)):
            t = time.perf_counter()
            wav = render_natural(eng, text, table, args.voice, adapt=a)
            times[label].append((time.perf_counter() - t) / (len(wav) / 24000))
    print(f"| measure | value |\n|---|---|\n| adapted session opened (once per process) | {opened:.2f} s |\n"
          f"| resident memory it adds: right after / once the freed heap is returned | {grown - before:.0f} MB / "
          f"{after - before:.0f} MB |")
    for label, v in times.items():
        print(f"| RTF {label} (median of {len(v)} lines) | {np.median(v):.3f} |")
    print(f"| ratio adapted / plain | {np.median(times['adapted']) / np.median(times['plain']):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
