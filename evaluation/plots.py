"""PNG plots of the experiment: one panel per measure, one line per method, ratio on the x axis."""
from __future__ import annotations

import math
from pathlib import Path

from .experiment import Design

STYLE = {"takefit-auto": ("o-", "C0"), "takefit-model": ("^-", "C2"), "atempo": ("s--", "C3"),
         "rubberband": ("D--", "C1")}
PANELS = (("wer_en", "WER, English (%)", 100.0), ("cer_zh", "CER, Mandarin (%)", 100.0),
          ("dnsmos_ovrl", "DNSMOS OVRL (1–5)", 1.0), ("drift_abs_st", "pitch drift |Δ median F0| (st)", 1.0),
          ("sim_resemblyzer", "speaker similarity (resemblyzer cos)", 1.0),
          ("rate_ratio", "articulation rate / natural", 1.0))
NATURAL = {"drift_abs_st": 0.0, "sim_resemblyzer": 1.0, "rate_ratio": 1.0}


def plot(summary: dict, design: Design, path: Path, title: str) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ratios = list(design.ratios)
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    for ax, (key, label, scale) in zip(axes.flat, PANELS):
        nat = NATURAL.get(key, summary[1.0]["natural"][key])
        for m in design.methods:
            ys = [nat if r == 1.0 else summary[r][m][key] for r in ratios]
            ys = [y * scale if y is not None and math.isfinite(y) else float("nan") for y in ys]
            marker, color = STYLE.get(m, ("x-", None))
            ax.plot(ratios, ys, marker, color=color, label=m, alpha=0.9)
        if key == "rate_ratio":
            ax.plot(ratios, [1 / r for r in ratios], ":", color="0.5", label="1/ratio (all in the speech)")
        ax.axvline(1.0, color="0.85", lw=0.8, zorder=0)
        ax.set_title(label)
        ax.set_xlabel("target length / natural length")
        ax.set_xticks(ratios)
        ax.set_xticklabels([f"{r:g}" for r in ratios], rotation=60, fontsize=8)
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    axes.flat[-1].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
    return path
