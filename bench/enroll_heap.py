"""Enrollment with the heap kept during its gradient steps (engine/enroll/heap.py) against glibc's
defaults, side by side: alternating rounds, each in a fresh process (first touches are the cost).

    nice -n 5 python bench/enroll_heap.py [--rounds 2] [--steps 10] [--threads 2]

The reference is a built-in voice (af_nicole, excluded from the start pick) reading one sentence, as in
tests/test_enroll.py; quality fast. Prints wall time, the steps' mean, minor page faults and kernel time.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import json, os, resource, sys, tempfile, time
from pathlib import Path
import soundfile as sf
from takefit.engine import Engine
from takefit.engine.enroll import heap
from takefit.engine.enroll.index import render_natural
from takefit.engine.enroll.pipeline import enroll_voice
from takefit.engine.profiles import ProfileStore

kept, steps, threads = sys.argv[1] == "kept", int(sys.argv[2]), int(sys.argv[3])
if not kept:
    heap._libc = lambda: None             # glibc's defaults throughout (and no trim at the end)
text = "She walked slowly along the quiet harbour, counting the little boats that rocked in the light."
engine = Engine(threads=threads)
ref = Path(tempfile.mkdtemp()) / "ref.flac"
sf.write(ref, render_natural(engine, text, engine.voice_bank.table("af_nicole"), "af_nicole"), 24000)
before = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.perf_counter()
profile = enroll_voice("bench", ref, text=text, quality="fast", consent="bench", engine=engine,
                       store=ProfileStore(Path(tempfile.mkdtemp())), exclude=("af_nicole",), steps=steps)
after = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"wall": time.perf_counter() - t0, "step": profile.stats["step_seconds"],
                  "faults": after.ru_minflt - before.ru_minflt, "sys": after.ru_stime - before.ru_stime,
                  "user": after.ru_utime - before.ru_utime, "final": profile.stats["objective_final"]}))
"""


def child(code: str, *args: str) -> dict:
    """Run `code` (an enrollment script printing one JSON line) in a fresh process with a private voices folder."""
    voices = tempfile.mkdtemp(prefix="takefit-bench-voices-")      # never the user's own voices folder
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         env={**os.environ, "TAKEFIT_VOICES_DIR": voices}, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def alternating(rounds: int, variants: dict, key: str) -> list[dict]:
    """Each variant (name → a function returning its row) once per round, the order reversed every other
    round; each row gets `key` = the variant's name and its round."""
    rows, names = [], list(variants)
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            t = time.perf_counter()
            row = variants[name]() | {key: name, "round": r + 1}
            rows.append(row)
            print(f"round {r + 1} {name:>13}: {row['wall']:.1f} s ({time.perf_counter() - t:.0f} s with "
                  f"start-up)", file=sys.stderr, flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    args = (str(a.steps), str(a.threads))
    rows = alternating(a.rounds, {"glibc default": lambda: child(CHILD, "default", *args),
                                  "kept": lambda: child(CHILD, "kept", *args)}, "heap")
    print(f"\nfast enrollment, {a.steps} steps, {a.threads} threads, {a.rounds} rounds alternating\n")
    print("| heap | round | wall s | s per step | minor faults | kernel s | user s | objective |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in sorted(rows, key=lambda r: (r["heap"], r["round"])):
        print(f"| {row['heap']} | {row['round']} | {row['wall']:.1f} | {row['step']:.2f} | {row['faults']:,} | "
              f"{row['sys']:.1f} | {row['user']:.1f} | {row['final']:.4f} |")


if __name__ == "__main__":
    main()
