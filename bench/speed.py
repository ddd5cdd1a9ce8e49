"""Speed: the 3-stage split vs the unsplit single-graph model, side by side, and time to first use.

    python bench/speed.py [--sentences 20] [--threads 2]

For each of N English and N Mandarin sentences (bench/data/), both pipelines run on the same tokens
and style, interleaved so machine noise hits both alike: the unsplit graph (`kokoro-v1.0.int8.onnx`,
durations inside) and the split stages (duration → prosody → decoder, with the rounded durations fed
back, exactly as the unsplit graph rounds them, so both produce the same samples). Also the whole engine (frontend + fit + resample + loudness) at the natural length. Then a
fresh process measures time to first use: import, model load with asset verification, first take.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from takefit.engine import Engine, RenderRequest
from takefit.engine.kokoro.session import open_session

DATA = Path(__file__).parent / "data"
COLD = """
import time; t0 = time.perf_counter()
from takefit.engine import Engine, RenderRequest
t1 = time.perf_counter(); e = Engine(); t2 = time.perf_counter()
e.render(RenderRequest("First take of the day.")); t3 = time.perf_counter()
print(f"{t1 - t0:.3f} {t2 - t1:.3f} {t3 - t2:.3f}")
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sentences", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    engine = Engine(threads=args.threads)
    unsplit = open_session(engine.paths.model, args.threads)
    lines = []
    for lang, voice in (("en", "af_heart"), ("zh", "zf_xiaoxiao")):
        sents = (DATA / f"sentences_{lang}.txt").read_text("utf-8").split("\n")
        lines += [(lang, voice, s.strip()) for s in sents if s.strip()][: args.sentences]
    rows = {"unsplit": [0.0, 0.0], "split": [0.0, 0.0], "engine": [0.0, 0.0]}
    for lang, voice, text in lines:
        plan = engine.plan(text, voice)
        chunk = plan.chunks[0]
        for order in (("unsplit", "split"), ("split", "unsplit")):   # alternate who goes first
            for name in order:
                t = time.perf_counter()
                if name == "unsplit":
                    audio = unsplit.run(None, {"tokens": chunk.tokens.reshape(1, -1), "style": chunk.style,
                                               "speed": np.array([1.0], np.float32)})[0]
                else:
                    # the model's own Round + Clip(≥1) on the predicted durations: identical audio
                    frames = np.maximum(np.round(engine.model.duration(chunk.tokens, chunk.style)), 1)
                    audio = engine.model.render(chunk.tokens, chunk.style, frames)
                rows[name][0] += time.perf_counter() - t
                rows[name][1] += audio.size / 24000
        t = time.perf_counter()
        take = engine.render(RenderRequest(text, voice=voice))
        rows["engine"][0] += time.perf_counter() - t
        rows["engine"][1] += take.seconds
    print(f"\n{len(lines)} sentences ({args.sentences} en + {args.sentences} zh), {args.threads} threads, each "
          f"pipeline run twice per sentence, interleaved\n")
    print("| pipeline | compute s | audio s | real-time factor | vs unsplit |\n|---|---:|---:|---:|---:|")
    base = rows["unsplit"][0] / rows["unsplit"][1]
    for name, (sec, aud) in rows.items():
        print(f"| {name} | {sec:.2f} | {aud:.1f} | {sec / aud:.3f} | {sec / aud / base:.3f}× |")
    cold = subprocess.run([sys.executable, "-c", COLD], capture_output=True, text=True, check=True).stdout.split()
    imp, load, first = map(float, cold)
    print("\n| time to first use (fresh process) | s |\n|---|---:|")
    print(f"| import takefit.engine | {imp:.2f} |\n| load model + verify assets (sha256) | {load:.2f} |"
          f"\n| first take (incl. G2P warm-up) | {first:.2f} |\n| total | {imp + load + first:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
