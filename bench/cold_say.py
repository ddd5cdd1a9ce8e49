#!/usr/bin/env python3
"""Cold start (issue 18, item 5): `takefit say "Hello there." -o x.wav` in a fresh process, no daemon.

Runs the command `--rounds` times, wall clock from the shell's point of view (process start to exit),
alternating between this checkout and, with `--before DIR`, another checkout with its own `.venv`
(side by side in one run: the machine is noisy). Then, unless --no-pieces, where a cold English take's
time goes, measured piece by piece in one fresh process of this checkout (each piece after the ones
before it, as the CLI meets them).

    .venv/bin/python bench/cold_say.py --rounds 8 --before /tmp/old-checkout
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINE = "Hello there."

PIECES = r"""
import json, sys, time
t = [time.perf_counter()]
def lap(): t.append(time.perf_counter()); return round(t[-1] - t[-2], 3)
out = {}
import takefit.bridges.cli; out["the CLI's imports"] = lap()
from takefit.engine.frontend import en; out["spaCy and misaki imports"] = lap()
en._tagger(); out["spaCy's tagger"] = lap()
en._CachedLexicon(False); out["misaki's US lexicon"] = lap()
from takefit.engine import Engine
engine = Engine(threads=2); out["engine (3 stage sessions)"] = lap()
import pedalboard; out["pedalboard (Rubber Band, limiter)"] = lap()
from takefit.engine import RenderRequest
engine.render(RenderRequest(sys.argv[1])); out["reading and rendering the line"] = lap()
print(json.dumps(out))
"""


def say_wall(python: Path, cwd: Path, out: Path) -> float:
    t0 = time.perf_counter()
    run = subprocess.run([str(python), "-m", "takefit.bridges.cli", "say", LINE, "-o", str(out)], cwd=cwd,
                         capture_output=True, text=True, timeout=300)
    wall = time.perf_counter() - t0
    if run.returncode != 0:
        raise SystemExit(f"{python} say failed: {run.stderr[-800:]}")
    return wall


def walls(checkouts: dict[str, Path], rounds: int) -> dict[str, list[float]]:
    """name → wall seconds per round; the order of the checkouts alternates from round to round."""
    got: dict[str, list[float]] = {name: [] for name in checkouts}
    names = list(checkouts)
    with tempfile.TemporaryDirectory(prefix="takefit-cold-") as tmp:
        for r in range(rounds):
            for name in names if r % 2 == 0 else names[::-1]:
                root = checkouts[name]
                got[name].append(say_wall(root / ".venv" / "bin" / "python", Path(tmp), Path(tmp) / f"{name}.wav"))
    return got


def pieces() -> dict[str, float]:
    run = subprocess.run([sys.executable, "-c", PIECES, LINE], capture_output=True, text=True, timeout=300)
    if run.returncode != 0:
        raise SystemExit(run.stderr[-800:])
    return json.loads(run.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=6, help="runs per checkout (default 6)")
    ap.add_argument("--before", type=Path, help="another checkout (with its .venv) to run alternately")
    ap.add_argument("--no-pieces", action="store_true", help="skip the piece-by-piece breakdown")
    args = ap.parse_args(argv)
    checkouts = {"now": ROOT, **({"before": args.before.resolve()} if args.before else {})}
    got = walls(checkouts, args.rounds)
    print(f"`takefit say \"{LINE}\" -o x.wav`, cold process, {args.rounds} rounds alternating\n")
    print("| checkout | min s | median s | max s | every round |\n|---|---:|---:|---:|---|")
    for name, w in got.items():
        print(f"| {name} | {min(w):.2f} | {statistics.median(w):.2f} | {max(w):.2f} | "
              f"{' '.join(f'{x:.2f}' for x in w)} |")
    if not args.no_pieces:
        print("\n| piece (one fresh process, in the CLI's order) | s |\n|---|---:|")
        for piece, s in pieces().items():
            print(f"| {piece} | {s:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
