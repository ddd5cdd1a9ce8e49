"""Where the seconds of one enrollment go: phases from the progress messages, plus timers on the pieces.

    nice -n 5 python bench/enroll_profile.py [--voices af_bella,am_adam] [--quality fast]

Each held-out voice reads the benchmark's reference sentence (bench/enroll_bench.py, ≥ 5 s of speech)
and is enrolled with the transcript given, in a warm engine (as the daemon or the benchmark runs it).
Prints a table per voice and writes bench/results/enroll_profile.md. Timings are wall clock; the load
average at the end of each enrollment is printed with it (a shared machine slows everything).
"""
from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import enroll_bench as eb                                                # noqa: E402

REPORT = eb.RESULTS / "enroll_profile.md"


def _timed(owner, attr: str, label: str, acc: dict) -> None:
    f = getattr(owner, attr)

    @functools.wraps(f)
    def g(*a, **k):
        t = time.perf_counter()
        try:
            return f(*a, **k)
        finally:
            acc[label] += time.perf_counter() - t
    setattr(owner, attr, g)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--voices", default="af_bella,am_adam,zf_xiaoyi")
    ap.add_argument("--quality", default="fast", choices=("fast", "best"))
    args = ap.parse_args()
    import soundfile as sf
    from takefit.engine.enroll import graph, index, pipeline
    from takefit.engine.profiles import ProfileStore

    acc: dict[str, float] = defaultdict(float)
    _timed(graph.TorchDecoder, "__init__", "differentiable decoder built from the ONNX graph", acc)
    _timed(graph.TorchDecoder, "prepare", "onnxruntime pass for the style-independent tensors", acc)
    _timed(pipeline, "prepare", "alignment (duration, prosody, first render, DTW, F0)", acc)
    _timed(index, "render_natural", "gate renders (int8 model)", acc)
    bench = eb.Bench()
    out = [f"# Enrollment profile ({args.quality})", "", "Wall clock per phase (progress messages) on a shared 2-core machine.", ""]
    for v in args.voices.split(","):
        lang = eb.lang_of(v)
        ref = bench.render(eb.REFERENCE[lang], bench.engine.voice_bank.table(v), v)
        acc.clear()
        marks: list[tuple[float, str]] = []
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "ref.wav"
            sf.write(path, ref, eb.SR, subtype="PCM_24")
            t0 = time.perf_counter()
            prof = pipeline.enroll_voice(f"p_{v}", path, text=eb.REFERENCE[lang], quality=args.quality,
                                         no_consent_record=True, engine=bench.engine, store=ProfileStore(Path(d) / "v"),
                                         exclude=(v,), progress=lambda f, m: marks.append((time.perf_counter() - t0, m)))
            total = time.perf_counter() - t0
        phases: list[tuple[str, float]] = []
        for (t, m), (t_next, _) in zip(marks, marks[1:] + [(total, "")]):
            # the first step (with first-touch memory) falls in "loading the differentiable decoder"
            label = "optimisation steps after the first (fwd+bwd)" if m.startswith("step") else m
            if phases and phases[-1][0] == label:
                phases[-1] = (label, phases[-1][1] + t_next - t)
            else:
                phases.append((label, t_next - t))
        out += [f"## {v} ({prof.stats['steps']} steps on {prof.stats['optimised_audio_s']} s, start {prof.base_voice}): "
                f"{total:.1f} s at load {os.getloadavg()[0]:.1f}", "", "| phase | s |", "|---|---|"]
        out += [f"| {label} | {s:.1f} |" for label, s in phases if s >= 0.05]
        out += ["", "| piece (inside the phases) | s |", "|---|---|"] + [f"| {k} | {s:.1f} |" for k, s in acc.items()] + [""]
        print("\n".join(out[-(len(phases) + len(acc) + 8):]), flush=True)
    REPORT.write_text("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
