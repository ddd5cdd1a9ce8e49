"""GPU check of the IndexTTS backend (issue #25 item 5): RTF, exact length and slot fill, beside Kokoro.

    .venv/bin/python bench/indextts_gpu.py                              # real weights (see --model-dir)
    .venv/bin/python bench/indextts_gpu.py --tiny /tmp/tiny --device cpu --limit 3
    .venv/bin/python bench/indextts_gpu.py --voice me.wav --lines lines.txt --out /tmp/gpu.json

Each line is planned by each backend, its natural speech length asked (IndexTTS: upstream's GPT
runs; Kokoro: its duration stage predicts), and the line is rendered into slots of
``lead + natural speech × r + tail`` for r in 0.8, 1.0, 1.25 (the ratio on the speech, as
bench/fill.py; lead 0 s, tail 0.04 s), at 48 kHz, loudness-normalised as a take is.

Per take: RTF = compute seconds ÷ the take's seconds, where compute is everything one take of the
line costs from scratch with the model loaded — plan, natural length and render, the backends'
per-line caches cleared first (IndexTTS's GPT codes, Kokoro's natural take), the GPU synchronised
before each clock reading; the length error in samples (the take against the slot's exact sample
count: must be 0); the measured speech span ÷ slot (``takefit.engine.speech``: 10 ms frames within
40 dB of the loudest); and the fitting method (model, or hybrid when the slot is beyond what the
model renders by itself). A warm-up take per backend comes first and is not counted.

Voice: IndexTTS clones ``--voice`` (a reference clip); by default a clip Kokoro renders (af_heart),
so nothing else is needed. Kokoro reads with its own voice for the line's language ('auto').
With ``--tiny DIR`` the IndexTTS side is the random-weight checkpoint of tests/indextts_tiny.py
(built into DIR unless already there): its audio is noise and its GPT never stops (every line is
58 codes, ≈ 1.15 s), so only the mechanics — RTF of that tiny model, exactness, the slot layout —
mean anything; the speech span measured on noise may be meaningless. The output says so.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RATIOS = (0.8, 1.0, 1.25)
RATE = 48000
LEAD, TAIL = 0.0, 0.04
DEFAULT_OUT = Path(__file__).parent / "results" / "indextts_gpu.json"
WARM_UP = "Ready when you are."
VOICE_TEXT = "Hello, this is a short reference clip, read calmly and clearly for cloning."
LINES = [      # en and zh in turn, so that --limit N reads both
    "Roll camera, we are ready.",
    "你好，我们马上开始。",
    "Where were you last night?",
    "这是一个测试。",
    "Take five, everyone. Nice work.",
    "他还没还钱，我们去银行。",
    "Hold the door, I am right behind you.",
    "快点上车，我们要走了。",
]
TINY_NOTE = ("IndexTTS here is the tiny RANDOM-WEIGHT checkpoint (tests/indextts_tiny.py): its audio is noise and "
             "its GPT never stops (every line is 58 codes ≈ 1.15 s natural, whatever the text). Only the mechanics "
             "mean anything: RTF of this tiny model (not of IndexTTS2's real size), the length error, the slot "
             "layout and method. Speech span ÷ slot measured on noise may be meaningless.")


@dataclass
class Row:
    """One take: a line in one slot by one backend."""
    backend: str
    line: int
    text: str
    ratio: float
    natural_speech: float     # the backend's natural speech length for the line (s)
    slot_samples: int
    samples: int
    compute: float            # s: plan + natural length + render, from scratch, GPU synchronised
    span: float | None        # measured speech span ÷ slot (None: silence)
    method: str
    warnings: list[str] = field(default_factory=list)

    @property
    def error(self) -> int:
        return self.samples - self.slot_samples

    @property
    def rtf(self) -> float:
        return self.compute / (self.samples / RATE)


def read_lines(path: str | Path | None, limit: int | None = None) -> list[str]:
    """The lines to read: one per row of a UTF-8 file (blank rows and '#' comments skipped), or the
    built-in en + zh set; the first `limit` of them."""
    if path is None:
        lines = list(LINES)
    else:
        p = Path(path)
        if not p.is_file():
            raise SystemExit(f"error: --lines {path}: no such file; give a UTF-8 text file with one line per row")
        rows = [r.strip() for r in p.read_text("utf-8").splitlines()]
        lines = [r for r in rows if r and not r.startswith("#")]
        if not lines:
            raise SystemExit(f"error: --lines {path} holds no lines (blank rows and '#' comments are skipped)")
    if limit is not None:
        if limit < 1:
            raise SystemExit(f"error: --limit {limit}: give at least 1")
        lines = lines[:limit]
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", help="IndexTTS2 checkpoint folder (default: $TAKEFIT_INDEXTTS_DIR, else "
                                        "checkpoints/indextts2/)")
    ap.add_argument("--tiny", metavar="DIR", help="use the tiny random-weight checkpoint, built into DIR if absent")
    ap.add_argument("--device", help="cuda:0, cpu … (default: cuda:0 when torch sees a GPU, else cpu)")
    ap.add_argument("--voice", metavar="CLIP", help="IndexTTS's reference clip (default: one Kokoro renders)")
    ap.add_argument("--lines", metavar="FILE", help="one line per row (default: 4 en + 4 zh short lines)")
    ap.add_argument("--limit", type=int, help="only the first N lines")
    ap.add_argument("--no-kokoro", action="store_true", help="IndexTTS only")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON results (default {DEFAULT_OUT})")
    args = ap.parse_args(argv)
    if args.tiny and args.model_dir:
        ap.error("give --tiny DIR or --model-dir DIR, not both")
    if args.voice and not Path(args.voice).is_file():
        ap.error(f"--voice {args.voice}: no such file; give a reference clip (WAV, FLAC, OGG or MP3)")
    return args


# ------------------------------------------------------------------------------------------ set-up
def tiny_checkpoint(root: Path) -> Path:
    """The tiny set under `root` (built there once), with the hub cache it needs put in the environment."""
    sys.path.insert(0, str(ROOT / "tests"))
    import indextts_tiny

    built = indextts_tiny.TinySet(root / "model", root / "hub")
    if not (built.model_dir / "config.yaml").is_file() or not built.hub_cache.is_dir():
        print(f"building the tiny checkpoint in {root} …", file=sys.stderr, flush=True)
        built = indextts_tiny.build(root)
    os.environ.update(built.env())
    return built.model_dir


def kokoro_clip(kokoro, folder: Path) -> Path:
    """A reference clip for IndexTTS to clone, rendered by Kokoro: the bench then needs nothing else."""
    import soundfile as sf
    from takefit.engine import RenderRequest

    take = kokoro.render(RenderRequest(VOICE_TEXT, voice="af_heart", sample_rate=22050))
    path = folder / "kokoro_af_heart.wav"
    sf.write(path, take.audio, take.sample_rate)
    return path


def forget(backend) -> None:
    """Drop the per-line caches, so each take costs what a first render of its line costs (a dub renders
    each line once). Model weights and the voice's conditioning stay: those are loaded once per session."""
    for holder, name in ((backend, "_codes"), (getattr(backend, "engine", None), "_naturals")):
        cache = getattr(holder, name, None)
        if cache is not None:
            cache.clear()


# ------------------------------------------------------------------------------------------ measuring
def measure_line(backend, index: int, text: str, voice: str, sync) -> list[Row]:
    """The line in each slot: plan, natural length and render timed together, caches cleared first."""
    from takefit.engine import RenderRequest, Target
    from takefit.engine.speech import speech_span

    natural = backend.natural_length(backend.plan(RenderRequest(text, voice=voice)))
    rows = []
    for r in RATIOS:
        slot = int((Fraction(natural.speech_seconds) * Fraction(str(r)) + Fraction(str(LEAD)) + Fraction(str(TAIL)))
                   * RATE + Fraction(1, 2))
        req = RenderRequest(text, voice=voice, target=Target.seconds(Fraction(slot, RATE)), sample_rate=RATE,
                            lead=LEAD, tail=TAIL)
        forget(backend)
        sync()
        t0 = time.perf_counter()
        backend.natural_length(backend.plan(req))
        take = backend.render(req)
        sync()
        compute = time.perf_counter() - t0
        span = speech_span(take.audio, RATE)
        rows.append(Row(backend.name, index, text, r, natural.speech_seconds, slot, len(take.audio), compute,
                        None if span is None else (span[1] - span[0]) / slot, take.method, list(take.warnings)))
    return rows


def run_backend(backend, lines: list[str], voice: str, sync) -> list[Row]:
    from takefit.engine import RenderRequest

    backend.render(RenderRequest(WARM_UP, voice=voice))        # first-use costs (kernels, readers): not counted
    sync()
    rows = []
    for i, text in enumerate(lines, 1):
        print(f"  {backend.name}: line {i}/{len(lines)}", file=sys.stderr, flush=True)
        rows += measure_line(backend, i, text, voice, sync)
    return rows


# ------------------------------------------------------------------------------------------ reporting
def _cell(row: Row | None) -> str:
    if row is None:
        return "– | – | – | – | –"
    span = "–" if row.span is None else f"{row.span:.3f}"
    return f"{row.slot_samples / RATE:.2f} | {row.rtf:.3f} | {row.error:+d} | {span} | {row.method}"


def table(rows: list[Row], names: list[str]) -> list[str]:
    """Side by side: per line and slot ratio, each backend's slot, RTF, length error, span ÷ slot, method."""
    heads = " | ".join(f"{n} slot s | {n} RTF | {n} err (samples) | {n} span÷slot | {n} method" for n in names)
    out = [f"| line | × natural | {heads} |", "|---|---:|" + "---:|---:|---:|---:|---|" * len(names)]
    keyed = {(r.backend, r.line, r.ratio): r for r in rows}
    for line, ratio in sorted({(r.line, r.ratio) for r in rows}):
        cells = " | ".join(_cell(keyed.get((n, line, ratio))) for n in names)
        out.append(f"| {line} | {ratio:g} | {cells} |")
    return out


def summarise(rows: list[Row]) -> dict:
    spans = [r.span for r in rows if r.span is not None]
    methods: dict[str, int] = {}
    for r in rows:
        methods[r.method] = methods.get(r.method, 0) + 1
    audio = sum(r.samples for r in rows) / RATE
    compute = sum(r.compute for r in rows)
    return {"takes": len(rows), "audio_seconds": round(audio, 3), "compute_seconds": round(compute, 3),
            "rtf": round(compute / audio, 4) if audio else None,
            "rtf_median": round(float(np.median([r.rtf for r in rows])), 4) if rows else None,
            "max_abs_error_samples": max((abs(r.error) for r in rows), default=None),
            "span_mean": round(float(np.mean(spans)), 4) if spans else None,
            "span_min": round(float(min(spans)), 4) if spans else None, "methods": methods,
            "warnings": sum(len(r.warnings) for r in rows)}


def summary_table(summaries: dict[str, dict]) -> list[str]:
    out = [("| backend | takes | audio s | compute s | RTF (total) | RTF median | max \\|err\\| samples "
            "| span÷slot mean | span÷slot min | methods | warnings |"), "|---|" + "---:|" * 10]
    for name, s in summaries.items():
        methods = ", ".join(f"{k} {v}" for k, v in s["methods"].items())
        out.append(f"| {name} | {s['takes']} | {s['audio_seconds']:.2f} | {s['compute_seconds']:.2f} | {s['rtf']:.3f} "
                   f"| {s['rtf_median']:.3f} | {s['max_abs_error_samples']} | {s['span_mean']} | {s['span_min']} "
                   f"| {methods} | {s['warnings']} |")
    return out


def environment(device: str) -> dict:
    """Device, torch version, GPU name and peak GPU memory (on CUDA)."""
    import torch

    env = {"device": device, "torch": torch.__version__, "python": platform.python_version(),
           "machine": platform.machine(), "cpus": os.cpu_count(), "load_average": round(os.getloadavg()[0], 2)}
    if device.startswith("cuda"):
        dev = torch.device(device)
        env["gpu"] = torch.cuda.get_device_name(dev)
        env["cuda"] = torch.version.cuda
        env["peak_gpu_memory_bytes"] = int(torch.cuda.max_memory_allocated(dev))
    return env


def header(meta: dict) -> list[str]:
    env = meta["environment"]
    gpu = (f", GPU {env['gpu']} (CUDA {env['cuda']}), peak GPU memory {env['peak_gpu_memory_bytes'] / 2**20:.0f} MiB"
           if "gpu" in env else "")
    out = [(f"IndexTTS GPU check, {meta['date']}: device {env['device']}, torch {env['torch']}{gpu}; "
            f"{env['cpus']} CPUs, load average {env['load_average']} at the end"),
           (f"IndexTTS: {meta['indextts']['engine']} from {meta['indextts']['model_dir']} "
            f"(loaded in {meta['indextts']['load_seconds']:.1f} s), voice clip {meta['voice']}"),
           (f"{len(meta['lines'])} lines × slots {', '.join(f'{r:g}' for r in RATIOS)}× the natural speech "
            f"(+ lead {LEAD:g} s, tail {TAIL:g} s), {RATE} Hz. RTF = (plan + natural length + render, per-line "
            f"caches cleared, GPU synchronised) ÷ take seconds; err = take − slot samples (0 = exact)."),
           "Kokoro runs on the CPU (onnxruntime) whatever --device says."]
    if meta["tiny"]:
        out.append("NOTE: " + TINY_NOTE)
    return out


# ------------------------------------------------------------------------------------------ main
def checkpoint_dir(args) -> Path:
    """The IndexTTS checkpoint folder, checked whole before anything heavy loads (CheckpointMissing names
    what is missing and where upstream documents it)."""
    from takefit.engine.backend import backend_entry

    backend_entry("indextts").check()        # upstream's code and torch installed, or the pip command
    from takefit.engine.indextts.checkpoint import locate

    model_dir = tiny_checkpoint(Path(args.tiny).resolve()) if args.tiny else args.model_dir
    return locate(model_dir).model_dir


def sync_for(device: str):
    import torch

    if device.startswith("cuda"):
        dev = torch.device(device)
        return lambda: torch.cuda.synchronize(dev)
    return lambda: None


def run(args) -> dict:
    lines = read_lines(args.lines, args.limit)
    model_dir = checkpoint_dir(args)
    import torch
    from takefit.engine.backend import load_backend

    device = args.device or ("cuda:0" if torch.cuda.is_available() else "cpu")
    kokoro = load_backend("kokoro")
    with tempfile.TemporaryDirectory(prefix="takefit-gpu-") as tmp:
        voice = str(Path(args.voice).resolve()) if args.voice else str(kokoro_clip(kokoro, Path(tmp)))
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats(torch.device(device))
        index = load_backend("indextts", model_dir=model_dir, device=device)
        rows = run_backend(index, lines, voice, sync_for(device))
        if not args.no_kokoro:
            rows += run_backend(kokoro, lines, "auto", lambda: None)
    names = ["indextts"] + ([] if args.no_kokoro else ["kokoro"])
    report = index.report()
    meta = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "environment": environment(device),
            "tiny": bool(args.tiny), "voice": voice if args.voice else "Kokoro af_heart (rendered for this run)",
            "lines": lines, "ratios": list(RATIOS), "sample_rate": RATE, "lead": LEAD, "tail": TAIL,
            "indextts": {"engine": index.engine_id, "model_dir": str(index.checkpoint.model_dir),
                         "load_seconds": report.load_seconds, "device_memory_bytes": report.device_memory_bytes,
                         "notes": list(report.notes)},
            "note": TINY_NOTE if args.tiny else "real weights"}
    return {"meta": meta, "summary": {n: summarise([r for r in rows if r.backend == n]) for n in names},
            "rows": [{**asdict(r), "error": r.error, "rtf": round(r.rtf, 4)} for r in rows], "names": names,
            "_rows": rows}


def main(argv: list[str] | None = None) -> int:
    from takefit.engine.errors import TakefitError

    args = parse_args(argv)
    try:
        result = run(args)
    except TakefitError as e:         # a missing checkpoint file, a bad voice …: the message names the fix
        print(f"error: {e}", file=sys.stderr)
        return 2
    rows, names = result.pop("_rows"), result.pop("names")
    print("\n".join(header(result["meta"])), end="\n\n")
    print("\n".join(table(rows, names)), end="\n\n")
    print("\n".join(summary_table(result["summary"])))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", "utf-8")
    print(f"\nwritten {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
