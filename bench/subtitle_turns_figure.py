#!/usr/bin/env python3
"""A picture of subtitles dubbed as a studio receives them: SDH lines with speaker labels, a direction,
a sound and two named speakers in one subtitle — the stem, each cue's slot, who reads it, and the
spectrogram (each voice's speech from its share's first frame to its last).

    .venv/bin/python bench/subtitle_turns_figure.py [--out bench/results/subtitle_turns.png]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

SRT = """1
00:00:01,000 --> 00:00:04,000
JOHN: Where were you last night?
MARY: At home, where else?

2
00:00:04,500 --> 00:00:05,500
[door slams]

3
00:00:05,500 --> 00:00:07,500
MARY: (angrily) Don't you dare follow me!
"""
CAST = '[characters.john]\nvoice = "am_adam"\n[characters.mary]\nvoice = "af_bella"\n'


def dub(folder: Path) -> tuple[dict, np.ndarray, int]:
    from takefit.bridges import cli

    src = folder / "scene.srt"
    src.write_text(SRT, "utf-8")
    (folder / "takefit.cast.toml").write_text(CAST, "utf-8")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(["dub", str(src), "--rate", "25", "--no-cache", "--json"])
    if code not in (0, 3):
        raise SystemExit(f"takefit dub exited {code}")
    report = json.loads(out.getvalue())
    audio, rate = sf.read(folder / "scene_dub_stem.wav", dtype="float32")
    return report, audio, rate


def figure(report: dict, audio: np.ndarray, rate: int, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (wave, spec) = plt.subplots(2, 1, figsize=(11, 5.2), sharex=True, height_ratios=[1, 1.3])
    t = np.arange(len(audio)) / rate
    wave.plot(t, audio, lw=0.4, color="0.25")
    top = float(np.abs(audio).max()) or 1.0
    for k, cue in enumerate(report["cues"]):
        start = cue["position"]["start_frame"] / 25
        end = start + cue["position"]["duration_frames"] / 25
        said = cue["text"] or cue.get("error", "")
        who = f"{cue['character'] or '-'} / {cue.get('voice_used') or '—'}"
        wave.axvspan(start, end, color=f"C{k}", alpha=0.18)
        wave.text(start + 0.03, top * (0.92 if k % 2 == 0 else 0.62), f"{who}\n{said[:34]}", fontsize=7.5)
    wave.set_ylabel("stem")
    wave.set_title("SDH subtitles dubbed: labels cast, [sounds] unsaid, two speakers in one subtitle split")
    spec.specgram(audio.astype(np.float64) + 1e-9, NFFT=1024, Fs=rate, noverlap=768, cmap="magma")
    spec.set_ylim(0, 8000)
    spec.set_ylabel("Hz")
    spec.set_xlabel("seconds from the timeline's start")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("bench/results/subtitle_turns.png"))
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        report, audio, rate = dub(Path(d))
    figure(report, audio, rate, args.out)
    for cue in report["cues"]:
        print(cue["id"], cue["status"], cue["position"]["start_frame"], cue["position"]["duration_frames"],
              cue["character"], cue.get("voice_used"), repr(cue["text"]), cue.get("error") or "")
    print(f"→ {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
