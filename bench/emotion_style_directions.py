"""Derive the emotion directions in the prosody half of Kokoro's style vector, and measure them.

    .venv/bin/python bench/emotion_style_directions.py            # derive, validate, write the JSON
    .venv/bin/python bench/emotion_style_directions.py --check    # only the validation table

For every built-in en and zh voice, the predictors run on 4 sentences (bench/data/sentences_*.txt,
lines 31-34: not the emotion benchmark's sentences) and three features are measured: log of the total
predicted duration, the F0 standard deviation over voiced frames (semitones, the pitch range) and the
mean N (energy) over voiced frames. Features and prosody halves are centred per language; each
direction is the covariance of the standardised feature with the prosody halves (which way in style
space that feature grows across voices), scaled to one standard deviation of the voices along it.

Validation: directions derived from half of the voices, then each voice of the other half is moved
±1.5 units along each direction with its own durations for the F0/N pass, and the feature changes are
averaged: the direction must move its own feature clearly and the others much less. The shipped file
(engine/emotion/style-directions-v1.json) is derived from all voices, with the effects matrix measured
on all voices the same way.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

from takefit.engine.emotion.style import FEATURES   # the features the shipped directions are fitted to

ROOT = Path(__file__).resolve().parent.parent
OUT_JSON = ROOT / "engine" / "emotion" / "style-directions-v1.json"
OUT_MD = ROOT / "bench" / "results" / "emotion_style.md"
STEP = 1.5


def sentences(lang: str) -> list[str]:
    rows = [s.strip() for s in (ROOT / "bench" / "data" / f"sentences_{lang}.txt").read_text("utf-8").splitlines()]
    return [s for s in rows if s][30:34]


class Probe:
    def __init__(self):
        from takefit.engine.engine import Engine

        self.engine = Engine(threads=2)
        self.model = self.engine.model
        self.lines: dict[str, list[tuple[np.ndarray, int]]] = {}
        for lang in ("en", "zh"):
            self.lines[lang] = []
            for s in sentences(lang):
                tokens, kept = self.model.tokenize(self.engine.frontend.read(s, lang).phonemes)
                self.lines[lang].append((tokens, len(kept)))

    def voices(self, lang: str) -> list[str]:
        first = ("a", "b") if lang == "en" else ("z",)
        return [v for v in self.engine.voice_bank.names if v.startswith(first)]

    def style(self, voice: str, n: int) -> np.ndarray:
        from takefit.engine.kokoro.model import KokoroModel

        return KokoroModel.style_row(self.engine.voice_bank.table(voice), n).copy()

    def features(self, tokens: np.ndarray, style: np.ndarray, frames: np.ndarray) -> np.ndarray:
        from takefit.engine.kokoro.prosody import voicing_weight

        dur = self.model.duration(tokens, style).sum()
        f0, n = self.model.prosody(tokens, style, frames)
        f0, n = f0.reshape(-1), n.reshape(-1)
        voiced = voicing_weight(f0) >= 1.0
        st = 12 * np.log2(f0[voiced])
        return np.array([np.log(dur), st.std(), n[voiced].mean(), st.mean()])

    def voice_row(self, voice: str, lang: str) -> tuple[np.ndarray, np.ndarray]:
        halves, feats = [], []
        for tokens, n in self.lines[lang]:
            style = self.style(voice, n)
            frames = np.maximum(1, np.round(self.model.duration(tokens, style)))
            halves.append(style[0, 128:])
            feats.append(self.features(tokens, style, frames))
        return np.mean(halves, 0), np.mean(feats, 0)

    def effects(self, units: np.ndarray, voices: list[tuple[str, str]]) -> np.ndarray:
        """Feature change (4 features incl. F0 mean) per unit move along each direction, mean over voices."""
        out = np.zeros((4, len(units)))
        for j, u in enumerate(units):
            deltas = []
            for voice, lang in voices:
                for tokens, n in self.lines[lang][:2]:
                    style = self.style(voice, n)
                    frames = np.maximum(1, np.round(self.model.duration(tokens, style)))
                    up, down = style.copy(), style.copy()
                    up[0, 128:] += STEP * u
                    down[0, 128:] -= STEP * u
                    deltas.append((self.features(tokens, up, frames) - self.features(tokens, down, frames)) / (2 * STEP))
            out[:, j] = np.mean(deltas, 0)
        return out


def derive(halves: np.ndarray, feats: np.ndarray, langs: np.ndarray) -> np.ndarray:
    s, f = halves.copy(), feats[:, :3].copy()
    for lang in set(langs):
        k = langs == lang
        s[k] -= s[k].mean(0)
        f[k] -= f[k].mean(0)
    z = f / f.std(0)
    units = []
    for d in z.T @ s / len(s):
        d = d / np.linalg.norm(d)
        units.append(d * (s @ d).std())
    return np.array(units)


def table(eff: np.ndarray, title: str) -> str:
    names = ("log duration", "F0 range (st)", "energy N", "F0 mean (st)")
    lines = [f"### {title}", "", "| move (+1 unit) along | " + " | ".join(names) + " |", "|---" * 5 + "|"]
    for j, feat in enumerate(FEATURES):
        lines.append(f"| {feat} | " + " | ".join(f"{eff[i, j]:+.3f}" for i in range(4)) + " |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="only validate on held-out voices; write nothing")
    args = ap.parse_args()
    t0 = time.perf_counter()
    probe = Probe()
    rows = [(v, lang) for lang in ("en", "zh") for v in probe.voices(lang)]
    measured = [probe.voice_row(v, lang) for v, lang in rows]
    halves = np.array([m[0] for m in measured])
    feats = np.array([m[1] for m in measured])
    langs = np.array([lang for _, lang in rows])
    spread = feats[:, :3].std(0)

    a = np.arange(len(rows)) % 2 == 0
    held = probe.effects(derive(halves[a], feats[a], langs[a]), [r for r, k in zip(rows, ~a) if k])
    report = [
        "# Emotion directions in the style vector's prosody half",
        "",
        f"{len(rows)} built-in voices (en + zh), 4 sentences each; feature spread across voices (1 sd): "
        f"log duration {spread[0]:.3f}, F0 range {spread[1]:.2f} st, energy N {spread[2]:.2f}. "
        "One unit = one standard deviation of the voices along the direction.",
        "",
        table(held, f"Held out: derived from {int(a.sum())} voices, measured on the other {int((~a).sum())}"),
    ]
    if not args.check:
        units = derive(halves, feats, langs)
        eff = probe.effects(units, rows)
        report += ["", table(eff, f"Shipped: derived from and measured on all {len(rows)} voices")]
        digest = hashlib.sha256(b"".join(probe.engine.voice_bank.table(v).tobytes() for v, _ in rows)).hexdigest()[:12]
        tmp = OUT_JSON.with_suffix(".tmp")
        tmp.write_text(json.dumps({
            "about": "Directions in Kokoro's style[128:] (see engine/emotion/style.py); "
                     "written by bench/emotion_style_directions.py",
            "features": list(FEATURES), "voices": [v for v, _ in rows], "voices_sha256_12": digest,
            "units": np.round(units, 6).tolist(), "effects": np.round(eff[:3], 6).tolist(),
            "effects_f0_mean_st": np.round(eff[3], 6).tolist()}, indent=1), "utf-8")
        tmp.replace(OUT_JSON)
        OUT_MD.write_text("\n".join(report) + "\n", "utf-8")
    print("\n".join(report))
    print(f"\n{time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
