"""Look at an adapted voice: spectrograms of one held-out recording of a real speaker and of a new sentence
read by the starting voice, the style-only enrolled voice and the decoder-adapted one (issue #23).

Reads the profiles bench/enroll_real.py left under its cache (run it first with `--variant style_only` and
`--variant shipped`, or another adapted variant), renders TESTS[language][0] with each, and writes
bench/results/enroll_adapt_spectrogram.png: log-mel spectrograms on one colour scale, plus each panel's
long-term spectrum against the recording's (the picture behind the d-vector numbers).

    .venv/bin/python bench/enroll_adapt_figure.py --speaker june --quality fast --variant shipped
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from enroll_real import RESULTS, SR, TESTS, Bench, cache_dir, manifest, speaker_clips  # noqa: E402

OUT = RESULTS / "enroll_adapt_spectrogram.png"


def log_mel(wav: np.ndarray, sr: int) -> np.ndarray:
    import librosa

    mel = librosa.feature.melspectrogram(y=wav.astype(np.float32), sr=sr, n_fft=1024, hop_length=256, n_mels=80,
                                         fmax=8000)
    return librosa.power_to_db(mel, ref=np.max)


def panels(bench: Bench, speaker: dict, quality: str, variant: str,
           plain: str = "style_only") -> list[tuple[str, np.ndarray, int]]:
    """(label, audio, rate): the held-out recording, then the three voices reading the first test sentence."""
    from takefit.engine.enroll.index import render_natural
    from takefit.engine.profiles import ProfileStore

    store = ProfileStore(cache_dir() / "profiles")
    shipped = store.load(f"real_{speaker['id']}_{quality}_{plain}"[:40])
    adapted = store.load(f"real_{speaker['id']}_{quality}_{variant}"[:40])
    lang, text = shipped.language, TESTS[shipped.language][0]
    held, rate = speaker_clips(speaker, manifest()["packages"])[1][0].read()
    eng, base, pitch = bench.engine, shipped.base_voice, shipped.pitch_ratio
    start = render_natural(eng, text, eng.voice_bank.table(base), base, pitch, lang)
    style_only = render_natural(eng, text, shipped.table, base, pitch, lang)
    both = render_natural(eng, text, adapted.table, adapted.base_voice, adapted.pitch_ratio, lang, adapted.adapt)
    return [(f"{speaker['id']}: a held-out recording ({rate // 1000} kHz)", held, rate),
            (f"start: {base} × {pitch:.2f}", start, SR),
            (f"enrolled, {quality} ({plain})", style_only, SR),
            (f"enrolled, {quality} ({variant})", both, SR)]


def draw(rows: list[tuple[str, np.ndarray, int]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), 2, figsize=(13, 2.4 * len(rows)), gridspec_kw={"width_ratios": [4, 1]})
    ref_ltas = None
    for (label, wav, sr), (ax, bx) in zip(rows, axes):
        m = log_mel(wav, sr)
        ax.imshow(m, origin="lower", aspect="auto", vmin=-80, vmax=0, cmap="magma",
                  extent=[0, len(wav) / sr, 0, m.shape[0]])
        ax.set_title(label, fontsize=9, loc="left")
        ax.set_ylabel("mel band")
        ltas = m.mean(axis=1) - m.mean()
        ref_ltas = ltas if ref_ltas is None else ref_ltas
        bx.plot(ref_ltas, color="0.6", lw=1, label="recording")
        bx.plot(ltas, color="C3", lw=1.2, label="this")
        bx.set_title("long-term spectrum (dB)", fontsize=8)
        bx.legend(fontsize=7)
    axes[-1][0].set_xlabel("seconds")
    axes[-1][1].set_xlabel("mel band")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--speaker", default="june")
    ap.add_argument("--quality", default="fast", choices=("fast", "best"))
    ap.add_argument("--variant", default="shipped", help="the adapted profile's variant name in enroll_real.py")
    ap.add_argument("--plain", default="style_only", help="the profile to compare it with (e.g. cep0: the recipe "
                                                          "before the cepstrum term)")
    ap.add_argument("--out", type=Path, default=OUT, help="the PNG to write")
    args = ap.parse_args()
    speaker = next((s for s in manifest()["speakers"] if s["id"] == args.speaker), None)
    if speaker is None:
        raise SystemExit(f"unknown speaker {args.speaker}")
    draw(panels(Bench(), speaker, args.quality, args.variant, args.plain), args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
