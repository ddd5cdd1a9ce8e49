"""Look at what the compiled kernels change: one English and one Mandarin take rendered by the decoder with
its graph Snakes and with takefit's kernels (engine/kokoro/native.py), their spectrograms on one colour
scale, and the difference between them (issue #18: faster, the same sound).

Writes bench/results/native_kernels_spectrogram.png (needs matplotlib: the eval extra).

    .venv/bin/python bench/kernels_figure.py
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from takefit.engine import Engine, RenderRequest

OUT = Path(__file__).parent / "results" / "native_kernels_spectrogram.png"
LINES = (("The ferry leaves at seven, so pack tonight.", "af_heart"), ("我们明天早上一起去公园散步吧。", "zf_xiaobei"))
N_FFT, HOP = 1024, 256


def spectrogram_db(audio: np.ndarray) -> np.ndarray:
    """Power in dB, frames × bins (Hann window)."""
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(audio, N_FFT // 2), N_FFT)[::HOP]
    power = np.abs(np.fft.rfft(frames * np.hanning(N_FFT), axis=1)) ** 2
    return 10 * np.log10(power + 1e-10)


def engines() -> dict[str, Engine]:
    out = {}
    for label, native in (("graph Snakes", "off"), ("compiled kernels", "auto")):
        os.environ["TAKEFIT_NATIVE"] = native          # read when the decoder stage loads
        out[label] = Engine(threads=2)
        out[label].model.wait()
    return out


def main() -> int:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    eng = engines()
    fig, axes = plt.subplots(len(LINES), 3, figsize=(15, 3.4 * len(LINES)), squeeze=False)
    for row, (text, voice) in enumerate(LINES):
        takes = {label: e.render(RenderRequest(text, voice=voice)) for label, e in eng.items()}
        rate = next(iter(takes.values())).sample_rate
        # a natural take's edges are trimmed where its level falls below a threshold, so a rounding-sized
        # change can move them by a step (10 ms): the panels are cut to the shorter take
        frames = min(t.samples for t in takes.values())
        specs = {label: spectrogram_db(t.audio[:frames].astype(np.float64)) for label, t in takes.items()}
        top = max(s.max() for s in specs.values())
        extent = [0, frames / rate, 0, rate / 2000]
        for col, (label, spec) in enumerate(specs.items()):
            image = axes[row][col].imshow(spec.T, origin="lower", aspect="auto", extent=extent, cmap="magma",
                                          vmin=top - 80, vmax=top)
            axes[row][col].set_title(f"{label}: {voice}, line {row + 1}", fontsize=9)      # (no CJK font)
        fig.colorbar(image, ax=axes[row][1], label="dB")
        diff = specs["compiled kernels"] - specs["graph Snakes"]
        loud = specs["graph Snakes"] > top - 50
        image = axes[row][2].imshow(np.where(loud, diff, np.nan).T, origin="lower", aspect="auto", extent=extent,
                                    cmap="coolwarm", vmin=-6, vmax=6)
        axes[row][2].set_title(f"difference where within 50 dB of the peak (median |Δ| "
                               f"{np.median(np.abs(diff[loud])):.2f} dB)", fontsize=9)
        fig.colorbar(image, ax=axes[row][2], label="dB")
        for ax in axes[row]:
            ax.set_xlabel("s")
            ax.set_ylabel("kHz")
        print(f"{text[:30]}: {takes['compiled kernels'].samples} vs {takes['graph Snakes'].samples} samples, "
              f"median |Δ| {np.median(np.abs(diff[loud])):.2f} dB over the loud bins")
    fig.tight_layout()
    fig.savefig(OUT, dpi=90)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
