"""Does a faster decoder sound the same? Whisper errors, DNSMOS and d-vector, side by side.

    python bench/decoder_quality.py [--sentences 10] [--ratios 0.8 1.2] [--compare vnni|kernels]

`--compare vnni` (default): the decoder's VNNI form against the shipped one (both with the graph's
Snakes). `--compare kernels`: takefit's compiled kernels (engine/kokoro/native.py) against the graph
Snakes, both in the decoder form this CPU runs. The same fit-quality sentences (bench/data, N English +
N Mandarin, default voices) are rendered by three engines in this process — the reference, the
candidate, and a control (below) — naturally and
fitted to each ratio of the natural length. Each take is scored as takefit-eval scores it (evaluation/): Whisper base
errors (English words, Mandarin characters) against the sentence, DNSMOS OVRL on the speech span plus
a 0.3 s pause, and the d-vector cosine between the two forms' takes (engine/speaker.py). Needs the
eval extra (`make eval` installs it). The issue's bar: Whisper and DNSMOS not worse, d-vector ≥ 0.98.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from takefit.engine import Engine, RenderRequest, Target
from takefit.evaluation import intelligibility, quality
from takefit.evaluation.experiment import load_sentences

COMPARISONS = {   # reference first, then the candidate: the environment each engine loads its stages in
    "vnni": {"shipped": {"TAKEFIT_DECODER": "shipped", "TAKEFIT_NATIVE": "off"},
             "vnni": {"TAKEFIT_DECODER": "vnni", "TAKEFIT_NATIVE": "off"}},
    "kernels": {"graph Snakes": {"TAKEFIT_DECODER": "auto", "TAKEFIT_NATIVE": "off"},
                "compiled kernels": {"TAKEFIT_DECODER": "auto", "TAKEFIT_NATIVE": "auto"}},
}
# The control: the reference decoder fed F0 × (1 + 1e-5), a change no ear or pitch tracker resolves
# (0.0002 semitones). This decoder turns any rounding-sized change into different noise phases, so
# whatever the control moves is the floor of these measures, not a difference in sound.
CONTROL_F0 = 1 + 1e-5


def engines(compare: str) -> dict[str, Engine]:
    settings = COMPARISONS[compare]
    out = {}
    for form, env in [*settings.items(), ("control", next(iter(settings.values())))]:
        os.environ.update(env)           # read when the stages load
        out[form] = Engine(threads=2)
    decode = out["control"].model.decoder.__call__
    out["control"].model.decoder = lambda tokens, style, frames, f0, energy, adapt=None: decode(
        tokens, style, frames, f0 * CONTROL_F0, energy, adapt)
    return out


def takes(engine: Engine, text: str, ratios: list[float]) -> dict[str, np.ndarray]:
    natural = engine.render(RenderRequest(text, sample_rate=16000))
    out = {"natural": natural.audio}
    for r in ratios:
        out[f"{r:g}×"] = engine.render(RenderRequest(text, sample_rate=16000, target=Target.parse(f"{r}x"))).audio
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sentences", type=int, default=10, help="per language")
    ap.add_argument("--ratios", type=float, nargs="*", default=[0.8, 1.2])
    ap.add_argument("--compare", choices=COMPARISONS, default="vnni")
    args = ap.parse_args()
    from takefit.engine.speaker import encoder

    eng = engines(args.compare)
    forms = list(eng)
    reference = forms[0]
    asr = intelligibility.Asr(intelligibility.prepare_whisper(intelligibility.WHISPER_DIR, lambda m: None))
    dnsmos, dvector = quality.DnsmosMeter(2), encoder("dvector")
    cells: dict[tuple[str, str], dict[str, list]] = {}
    for lang in ("en", "zh"):
        for text in load_sentences(lang)[: args.sentences]:
            ref = intelligibility.normalise(text, lang)
            by_form = {f: takes(eng[f], text, args.ratios) for f in forms}
            for kind in by_form[reference]:
                embeds = {}
                for f in forms:
                    audio = by_form[f][kind].astype(np.float32)
                    cell = cells.setdefault((f, kind), {"errors": [], "units": [], "ovrl": [], "cos": []})
                    t = intelligibility.score(asr, audio, ref, lang)
                    cell["errors"].append(t.errors)
                    cell["units"].append(t.ref_len)
                    cell["ovrl"].append(dnsmos(quality.speech_with_pause(audio), 16000).ovrl)
                    embeds[f] = dvector.embed(audio, 16000)
                for f in forms[1:]:
                    cells[(f, kind)]["cos"].append(float(np.dot(embeds[reference], embeds[f]) / (
                        np.linalg.norm(embeds[reference]) * np.linalg.norm(embeds[f]))))
            print(f"  {lang}: {text[:40]}", file=sys.stderr, flush=True)
    kinds = ["natural"] + [f"{r:g}×" for r in args.ratios]
    print(f"\n{2 * args.sentences} sentences ({args.sentences} en + {args.sentences} zh), default voices; "
          f"errors = Whisper base word (en) + character (zh) edits\n")
    print(f"| take | form | Whisper errors | DNSMOS OVRL | Δ OVRL vs {reference} (± SE, paired) "
          f"| d-vector vs {reference}, mean (min) |")
    print("|---|---|---:|---:|---:|---:|")
    for kind in kinds:
        base = cells[(reference, kind)]
        for f in forms:
            c = cells[(f, kind)]
            d = np.array(c["ovrl"]) - np.array(base["ovrl"])
            delta = f"{d.mean():+.3f} ± {d.std(ddof=1) / np.sqrt(d.size):.3f}" if f != reference else "–"
            cos = f"{np.mean(c['cos']):.4f} ({min(c['cos']):.4f})" if c["cos"] else "–"
            print(f"| {kind} | {f} | {sum(c['errors'])} of {sum(c['units'])} | {np.mean(c['ovrl']):.3f} | {delta} | {cos} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
