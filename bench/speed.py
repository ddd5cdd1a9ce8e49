"""Speed: the engine before vs after the speed work, side by side in one run, against the original model.

    python bench/speed.py [--sentences 20] [--rounds 2] [--dub-cues 100] [--no-dub]

Configs, each in its own fresh process (an idle thread pool of another open session would steal
cores), rotated every round so machine noise hits all alike:

  unsplit   the original single-graph Kokoro int8 model (kokoro-v1.0.int8.onnx) run directly by
            onnxruntime with its defaults, on the same tokens and style (model time only)
  before    the engine as it was: shipped decoder, spinning thread pools (TAKEFIT_DECODER=shipped
            TAKEFIT_SPINNING=1)
  vnni      only the decoder's VNNI form (engine/kokoro/int8.py), pools still spinning (VNNI CPUs only)
  no-spin   only the sleeping pools, shipped decoder
  graph-snake  the engine today with its graph Snakes (TAKEFIT_NATIVE=off): what `after` was before
            the compiled Snake kernel (engine/kokoro/native.py)
  after     the engine today (its defaults: the compiled Snake kernel where `assets fetch` built it)

For each: per stage (duration, prosody, decoder: time in the stage's session) and the whole engine
(frontend + fitting + resampling + loudness, a natural-length take per sentence), as real-time
factors and as a ratio to the unsplit graph; peak RSS of the process. Then per config, in a fresh
process: time to first take (import, load, first render; `takefit say` without a daemon does the
same), and, unless --no-dub, a cold `takefit dub` of a generated 100-cue timeline (--jobs 2),
audio seconds per wall second. Sentences: bench/data (N English + N Mandarin).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))   # the other benches' helpers: dub_bench, cost_model
DATA = Path(__file__).parent / "data"
CONFIGS = {   # name: environment of the worker process
    "unsplit": {},
    "before": {"TAKEFIT_DECODER": "shipped", "TAKEFIT_SPINNING": "1", "TAKEFIT_NATIVE": "off"},
    "vnni": {"TAKEFIT_DECODER": "vnni", "TAKEFIT_SPINNING": "1", "TAKEFIT_NATIVE": "off"},
    "no-spin": {"TAKEFIT_DECODER": "shipped", "TAKEFIT_SPINNING": "0", "TAKEFIT_NATIVE": "off"},
    "graph-snake": {"TAKEFIT_DECODER": "auto", "TAKEFIT_SPINNING": "0", "TAKEFIT_NATIVE": "off"},
    "after": {"TAKEFIT_DECODER": "auto", "TAKEFIT_SPINNING": "0"},
}
STAGES = ("duration", "prosody", "decoder")
COLD = """
import time; t0 = time.perf_counter()
from takefit.engine import Engine, RenderRequest
t1 = time.perf_counter(); e = Engine(); t2 = time.perf_counter()
e.render(RenderRequest("Hello there.")); t3 = time.perf_counter()
print(f"{t1 - t0:.3f} {t2 - t1:.3f} {t3 - t2:.3f}")
"""


def sentences(n: int) -> list[tuple[str, str]]:
    out = []
    for lang, voice in (("en", "af_heart"), ("zh", "zf_xiaoxiao")):
        lines = [s.strip() for s in (DATA / f"sentences_{lang}.txt").read_text("utf-8").split("\n") if s.strip()]
        out += [(voice, s) for s in lines[:n]]
    return out


def warm_up_lines(n: int) -> list[tuple[str, str]]:
    """The sentence after the measured ones, per language: never measured (the engine would serve a
    repeated line from its cache)."""
    extra = sentences(n + 1)
    return [extra[n], extra[-1]]


def timed_stages(engine) -> dict[str, float]:
    """Wrap each stage session's run with a clock (the bench's own instrumentation); 'audio' counts
    the decoder's samples: the take itself is trimmed to its speech plus handles, the unsplit graph's
    output is not, so both are compared per second the model rendered."""
    spent = dict.fromkeys((*STAGES, "audio"), 0.0)
    for name in STAGES:
        session = getattr(engine.model, name).session
        run = session.run

        def clocked(outputs, feeds, run=run, name=name):
            t = time.perf_counter()
            out = run(outputs, feeds)
            spent[name] += time.perf_counter() - t
            if name == "decoder":
                spent["audio"] += out[0].size / 24000
            return out
        session.run = clocked
    return spent


def worker(config: str, n: int, threads: int) -> dict:
    """One config, this process: every sentence once after a warm-up line per language (the first use
    of a language loads its reader: a cold start's cost, measured apart). Seconds and audio seconds."""
    from takefit.engine import Engine, RenderRequest
    from takefit.engine.kokoro.session import open_session

    engine = Engine(threads=threads)
    lines = sentences(n)
    if config == "unsplit":
        graph = open_session(engine.paths.model, threads)
        for warm in warm_up_lines(n):
            graph.session.run(None, feeds_unsplit(engine, *warm))
        spent, audio = 0.0, 0.0
        for voice, text in lines:
            for feeds in feeds_unsplit(engine, voice, text, all_chunks=True):
                t = time.perf_counter()
                out = graph.session.run(None, feeds)[0]
                spent += time.perf_counter() - t
                audio += out.size / 24000
        return {"model": spent, "audio": audio, "rss_mb": peak_rss_mb()}
    spent = timed_stages(engine)
    for voice, text in warm_up_lines(n):          # one line per language loads its reader
        engine.render(RenderRequest(text, voice=voice))
    for k in spent:
        spent[k] = 0.0
    total = 0.0
    for voice, text in lines:
        t = time.perf_counter()
        engine.render(RenderRequest(text, voice=voice))
        total += time.perf_counter() - t
    return {**spent, "model": sum(spent[s] for s in STAGES), "engine": total, "rss_mb": peak_rss_mb()}


def feeds_unsplit(engine, voice: str, text: str, all_chunks: bool = False):
    chunks = engine.plan(text, voice).chunks
    feeds = [{"tokens": c.tokens.reshape(1, -1), "style": c.style, "speed": np.array([1.0], np.float32)}
             for c in chunks]
    return feeds if all_chunks else feeds[0]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_subprocess(config: str, args: list[str]) -> str:
    env = dict(os.environ, **CONFIGS.get(config, {}))
    out = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"{config}: {' '.join(args[:2])} failed:\n{out.stderr[-3000:]}")
    return out.stdout.strip().splitlines()[-1]


def configs_here(wanted: list[str]) -> list[str]:
    """The VNNI form only where the CPU has VNNI: elsewhere the engine refuses it (its u8×s8 kernel
    saturates, engine/kokoro/forms.py), and 'after' is the shipped decoder with sleeping pools."""
    from takefit.engine.kokoro.forms import cpu_has_vnni
    return [c for c in CONFIGS if (c != "vnni" or cpu_has_vnni()) and c in {"unsplit", "after", *wanted}]


def measure(rounds: int, n: int, threads: int, wanted: list[str]) -> dict[str, list[dict]]:
    names = configs_here(wanted)
    got: dict[str, list[dict]] = {c: [] for c in names}
    for r in range(rounds):
        for config in names[r % len(names):] + names[:r % len(names)]:
            print(f"  round {r + 1}/{rounds}: {config}", file=sys.stderr, flush=True)
            line = in_subprocess(config, [__file__, "--worker", config, "--sentences", str(n), "--threads", str(threads)])
            got[config].append(json.loads(line))
    return got


def stage_table(got: dict[str, list[dict]]) -> list[str]:
    """Per config: median RTF per stage and of the whole engine; ratio to unsplit per round, median."""
    rtf = lambda runs, key: np.array([r[key] / r["audio"] for r in runs])  # noqa: E731
    base = rtf(got["unsplit"], "model")
    rows = ["| config | duration RTF | prosody RTF | decoder RTF | 3 stages RTF | 3 stages vs unsplit "
            "| whole engine RTF | whole engine vs unsplit | peak RSS MB |", "|---|" + "---:|" * 8]
    rows.append(f"| unsplit int8 graph (original) | – | – | – | {np.median(base):.3f} | 1.00× | – | – "
                f"| {max(r['rss_mb'] for r in got['unsplit']):.0f} |")
    for config, runs in got.items():
        if config == "unsplit":
            continue
        stages = " | ".join(f"{np.median(rtf(runs, s)):.3f}" for s in STAGES)
        model, whole = rtf(runs, "model"), rtf(runs, "engine")
        rows.append(f"| {config} | {stages} | {np.median(model):.3f} | {np.median(model / base):.2f}× "
                    f"| {np.median(whole):.3f} | {np.median(whole / base):.2f}× "
                    f"| {max(r['rss_mb'] for r in runs):.0f} |")
    return rows


def cold_and_dub(configs: list[str], dub_cues: int) -> list[str]:
    from dub_bench import make_timeline, run_dub
    import opentimelineio as otio

    work = Path(tempfile.mkdtemp(prefix="takefit-speed-"))
    timeline = work / "speed_dub.otio"
    if dub_cues:
        otio.adapters.write_to_file(make_timeline(dub_cues, Fraction(25))[0], str(timeline))
    rows = ["| config | import s | load s | first take s | first take total s | "
            f"cold dub of {dub_cues} cues, wall s | audio s per wall s |", "|---|" + "---:|" * 6]
    for config in configs:
        imp, load, first = map(float, in_subprocess(config, ["-c", COLD]).split())
        dub = "– | –"
        if dub_cues:
            wall, doc = run_dub(timeline, work / f"cache-{config}", 2, CONFIGS[config])
            audio = sum(c["achieved"]["seconds"] for c in doc["cues"] if c.get("achieved"))
            dub = f"{wall:.1f} | {audio / wall:.2f}"
        rows.append(f"| {config} | {imp:.2f} | {load:.2f} | {first:.2f} | {imp + load + first:.2f} | {dub} |")
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sentences", type=int, default=20, help="per language (en + zh)")
    ap.add_argument("--rounds", type=int, default=2, help="rotated rounds; medians and per-round ratios")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dub-cues", type=int, default=100, help="cues of the cold dub per config (0: none)")
    ap.add_argument("--configs", default=",".join(CONFIGS),
                    help="comma-separated configs to run (unsplit and after always run)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.sentences, args.threads)))
        return 0
    from cost_model import cpu_line
    load = os.getloadavg()[0]
    got = measure(args.rounds, args.sentences, args.threads, args.configs.split(","))
    print(f"\n{2 * args.sentences} sentences ({args.sentences} en + {args.sentences} zh, "
          f"{got['after'][0]['audio']:.0f} s of audio), {args.threads} threads, {args.rounds} rotated rounds, "
          f"one process per config per round; load average {load:.2f} at the start; CPU: {cpu_line()}\n")
    print("\n".join(stage_table(got)))
    print()
    print("\n".join(cold_and_dub([c for c in ("before", "graph-snake", "after") if c in got], args.dub_cues)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
