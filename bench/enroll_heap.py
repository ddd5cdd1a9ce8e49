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
from typing import Callable

# The measured enrollment, run after a variant's set-up; leaves its figures in `row` (steps, threads from argv).
ENROLL = r"""
import resource, sys, tempfile, time
from pathlib import Path
import soundfile as sf
from takefit.engine import Engine
from takefit.engine.enroll.index import render_natural
from takefit.engine.enroll.pipeline import enroll_voice
from takefit.engine.profiles import ProfileStore

steps, threads = int(sys.argv[2]), int(sys.argv[3])
text = "She walked slowly along the quiet harbour, counting the little boats that rocked in the light."
engine = Engine(threads=threads)
ref = Path(tempfile.mkdtemp()) / "ref.flac"
sf.write(ref, render_natural(engine, text, engine.voice_bank.table("af_nicole"), "af_nicole"), 24000)
before = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.perf_counter()
profile = enroll_voice("bench", ref, text=text, quality="fast", consent="bench", engine=engine,
                       store=ProfileStore(Path(tempfile.mkdtemp())), exclude=("af_nicole",), steps=steps)
after = resource.getrusage(resource.RUSAGE_SELF)
row = {"wall": time.perf_counter() - t0, "step": profile.stats["step_seconds"],
       "faults": after.ru_minflt - before.ru_minflt, "sys": after.ru_stime - before.ru_stime,
       "user": after.ru_utime - before.ru_utime, "rss_mib": after.ru_maxrss / 1024,
       "final": profile.stats["objective_final"]}
"""

CHILD = r"""
import json, sys
from takefit.engine.enroll import heap
if sys.argv[1] != "kept":
    heap._libc = lambda: None             # glibc's defaults throughout (and no trim at the end)
""" + ENROLL + "print(json.dumps(row))\n"


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


def compare(doc: str, code: str, variants: dict[str, str], key: str,
            extra: tuple[str, Callable[[dict], str]]) -> list[dict]:
    """Parse --rounds/--steps/--threads, run `code` once per variant (name → its first argument) per round,
    alternating, and print the table (`extra`: one more column's header and cell); returns the rows."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    run = {name: (lambda v=v: child(code, v, str(a.steps), str(a.threads))) for name, v in variants.items()}
    rows = alternating(a.rounds, run, key)
    print(f"\nfast enrollment, {a.steps} steps, {a.threads} threads, {a.rounds} rounds alternating\n")
    print(f"| {key} | round | wall s | s per step | minor faults | kernel s | {extra[0]} | objective |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in sorted(rows, key=lambda r: (r[key], r["round"])):
        print(f"| {row[key]} | {row['round']} | {row['wall']:.1f} | {row['step']:.2f} | {row['faults']:,} | "
              f"{row['sys']:.1f} | {extra[1](row)} | {row['final']:.4f} |")
    return rows


def main() -> None:
    compare(__doc__, CHILD, {"glibc default": "default", "kept": "kept"}, "heap",
            ("user s", lambda r: f"{r['user']:.1f}"))


if __name__ == "__main__":
    main()
