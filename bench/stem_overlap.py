#!/usr/bin/env python3
"""Overlapping takes in the dub stem: does the mix keep the true-peak ceiling, and what does it cost?

    .venv/bin/python bench/stem_overlap.py                      # this checkout
    PYTHONPATH=/tmp/oldpkg .venv/bin/python bench/stem_overlap.py --label before   # an older worktree

12 real takes (bench/fill.py's English lines, 4 voices, natural length, `--loudness` -14 LUFS under
-1 dBTP: their peaks at the ceiling, as loud targets and loud emotions put them) are
laid on a 10-minute timeline, one every 3.2 s; `--overlap` of them (default 0.25) start 1 s before
the previous one ends (two characters talking over each other). The stem is written with the public
`write_stem`, as `takefit dub` writes it, at 48 kHz 24-bit, and measured with libebur128 (pyebur128:
an independent meter): its true peak, samples at full scale, integrated loudness; the share of
samples that differ from the plain sum of the takes, inside and away from the overlaps; and the wall
time of the write (median of `--rounds`). Prints a Markdown table row.
"""
from __future__ import annotations

import argparse
import inspect
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyebur128 as ebur
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fill import LINES_EN  # noqa: E402

from takefit.bridges.dub.stem import StemItem, write_stem  # noqa: E402
from takefit.engine import Engine, RenderRequest  # noqa: E402

SR = 48000
VOICES = ("af_heart", "am_michael", "bf_emma", "bm_george")


def render_takes(folder: Path, count: int, lufs: float) -> list[Path]:
    engine = Engine()
    paths = []
    for i, text in enumerate(LINES_EN[:count]):
        take = engine.render(RenderRequest(text=text, voice=VOICES[i % len(VOICES)], sample_rate=SR, loudness=lufs))
        path = folder / f"take{i}.wav"
        sf.write(path, take.audio, SR, subtype="PCM_24")
        paths.append(path)
    return paths


def layout(paths: list[Path], minutes: float, overlap: float, seed: int = 7) -> tuple[list[StemItem], int]:
    rng = np.random.default_rng(seed)
    items, t, end = [], SR, int(minutes * 60 * SR)
    while True:
        path = paths[len(items) % len(paths)]
        n = sf.info(str(path)).frames
        if items and rng.random() < overlap:
            t = items[-1].start + items[-1].samples - SR          # one second over the previous take
        if t + n > end:
            return items, end
        items.append(StemItem(t, n, path))
        t += int(3.2 * SR)


def plain_sum(items: list[StemItem], total: int) -> tuple[np.ndarray, np.ndarray]:
    mix, cover = np.zeros(total, np.float64), np.zeros(total, np.int16)
    for it in items:
        mix[it.start:it.start + it.samples] += sf.read(str(it.path), dtype="float32")[0]
        cover[it.start:it.start + it.samples] += 1
    return mix, cover


def meter(audio: np.ndarray) -> tuple[float, float]:
    mode = ebur.MeasurementMode
    state = ebur.R128State(1, SR, mode.MODE_I | mode.MODE_TRUE_PEAK)
    state.add_frames(audio.astype(np.float64), len(audio))
    return ebur.get_loudness_global(state), 20 * np.log10(max(ebur.get_true_peak(state, 0), 1e-12))


def figure(path: Path, stem: np.ndarray, plain: np.ndarray, cover: np.ndarray, title: str) -> None:
    """The overlap the stem limited most: 5 ms true-peak envelopes of the plain sum and the stem (2 s
    around it), where two takes sound, the ceiling; and the stem's spectrogram there."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import soxr

    centre = int(np.argmax(np.abs(plain) - np.abs(stem)))
    lo = max(0, centre - SR)
    span = slice(lo, lo + 2 * SR)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True)
    t0 = lo / SR
    for audio, label, colour in ((plain[span], "the takes summed (before)", "0.6"),
                                 (stem[span], "the stem (limited where they overlap)", "tab:blue")):
        up = np.abs(soxr.resample(audio.astype(np.float32), SR, 4 * SR))
        env = up[: len(up) // 960 * 960].reshape(-1, 960).max(axis=1)
        top.plot(t0 + np.arange(len(env)) * 0.005, 20 * np.log10(np.maximum(env, 1e-6)), color=colour, lw=1,
                 label=label)
    both = cover[span] >= 2
    top.fill_between(t0 + np.arange(len(both)) / SR, -40, 6, where=both, color="tab:orange", alpha=0.15,
                     label="two takes sound")
    top.axhline(-1.0, color="tab:red", ls="--", lw=1, label="-1 dBTP")
    top.set(ylim=(-40, 6), ylabel="true-peak envelope, dB", title=title)
    top.legend(loc="lower right", fontsize=8)
    bottom.specgram(stem[span], NFFT=1024, Fs=SR, noverlap=768, cmap="magma", vmin=-140, xextent=(t0, t0 + 2))
    bottom.set(ylabel="Hz", xlabel="seconds into the stem", ylim=(0, 12000))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--overlap", type=float, default=0.25, help="share of takes that overlap the previous one")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--loudness", type=float, default=-14.0,
                    help="the takes' LUFS (default -14, streaming: peaks at the ceiling, where overlaps go over)")
    ap.add_argument("--label", default="this checkout")
    ap.add_argument("--figure", type=Path, metavar="PNG", help="also draw the overlap limited most")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="takefit-stem-overlap-"))
    items, total = layout(render_takes(root, 12, args.loudness), args.minutes, args.overlap)
    plain, cover = plain_sum(items, total)
    times = []
    for k in range(args.rounds):
        t0 = time.perf_counter()
        write_stem(root / "stem.wav", items, total, SR)
        times.append(time.perf_counter() - t0)
    stem = sf.read(root / "stem.wav", dtype="float64")[0]
    quantised = np.round(np.clip(plain, -1, 1 - 2 ** -23) * 2 ** 23) / 2 ** 23   # what a 24-bit sum holds
    changed = np.abs(stem - quantised) > 2 ** -23
    loud, peak = meter(stem)
    overlapping = cover >= 2
    ceiling = "ceiling" in inspect.signature(write_stem).parameters
    print(f"takes at {args.loudness:g} LUFS; {len(items)} takes over {args.minutes:g} min, {int(overlapping.sum()) / SR:.1f} s where two sound at once; "
          f"plain sum: true peak {meter(plain)[1]:+.2f} dBTP, {int((np.abs(plain) > 1).sum())} samples past full scale")
    print("| checkout | stem true peak dBTP | samples at full scale | integrated LUFS | samples changed in overlaps "
          "| changed away from them (s) | write s (median) | limits overlaps |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    print(f"| {args.label} | {peak:+.2f} | {int((np.abs(stem) >= 1 - 2 ** -22).sum())} | {loud:.2f} | "
          f"{changed[overlapping].mean():.1%} | {changed[~overlapping].sum() / SR:.2f} | "
          f"{statistics.median(times):.2f} | {'yes' if ceiling else 'no'} |")
    if args.figure:
        figure(args.figure, stem, plain, cover, f"two takes at {args.loudness:g} LUFS over each other, the stem "
                                                f"at the ceiling ({args.label})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
