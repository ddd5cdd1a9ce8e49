#!/usr/bin/env python3
"""True peak of takes: does a take leveled to a loudness target stay under EBU R128's −1 dBTP?

    .venv/bin/python bench/true_peak.py                        # 16 lines × 6 level cases, this checkout
    .venv/bin/python bench/true_peak.py --label before         # e.g. with PYTHONPATH on an older worktree
    .venv/bin/python bench/true_peak.py --quick                # 4 lines

A take's samples can sit under −1 dBFS while the waveform between them — what a DAC, a lossy encoder's
decoder or a broadcaster's meter reconstructs — passes it. Each line (8 English, 8 Mandarin, two voices
each, from bench/fill.py) is rendered at its natural length at three loudness targets (−23 LUFS:
EBU R128; −16: podcasts, Apple; −14: YouTube, Spotify) neutral and with a loud emotion (anger +5 dB,
joy +2.5 dB: the target moves with them). Measured on the take, with libebur128 (pyebur128, the dev
extra: an independent meter, not the engine's): sample peak, true peak (BS.1770-4 Annex 2),
integrated loudness against the target; whether the engine warned that it fell short of it; the render
time and the take's `post` stage (resampling to 48 kHz, exact length, the level), where the metering
and limiting run. "s per take" includes the natural rendering only for the first case of an emotion:
the engine caches it. `--dnsmos`: what the leveling did to the sound (class Sound). Only the public
API is used, so the same script measures an older checkout (the "before" column of the note).
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fill import LINES_EN, LINES_ZH  # noqa: E402

from takefit.engine import Engine, RenderRequest  # noqa: E402
from takefit.engine.emotion import Emotion  # noqa: E402

CEILING = -1.0                        # dBTP, EBU R128
OVER = 0.05                           # dB: meters differ by a few hundredths; more is an over
CASES = ((-23.0, None), (-23.0, "angry"), (-16.0, None), (-16.0, "happy"), (-14.0, None), (-14.0, "angry"))
GAIN = {None: 0.0, "angry": 5.0, "happy": 2.5}    # engine/emotion/delivery.py: the target moves with them
VOICES_EN, VOICES_ZH = ("af_heart", "am_michael"), ("zf_xiaoxiao", "zm_yunxi")


def lines(quick: bool) -> list[tuple[str, str]]:
    n = 2 if quick else 8
    return ([(t, VOICES_EN[i % 2]) for i, t in enumerate(LINES_EN[:n])]
            + [(t, VOICES_ZH[i % 2]) for i, t in enumerate(LINES_ZH[:n])])


def meter(audio: np.ndarray, rate: int) -> tuple[float, float, float]:
    """(sample peak dBFS, true peak dBTP, integrated LUFS) by libebur128."""
    import pyebur128 as ebur

    mode = ebur.MeasurementMode
    state = ebur.R128State(1, rate, mode.MODE_TRUE_PEAK | mode.MODE_SAMPLE_PEAK | mode.MODE_I)
    state.add_frames(audio.astype(np.float64), len(audio))
    db = lambda v: 20 * np.log10(max(v, 1e-12))  # noqa: E731
    return db(ebur.get_sample_peak(state, 0)), db(ebur.get_true_peak(state, 0)), ebur.get_loudness_global(state)


class Sound:
    """What the leveling did to the sound, at equal loudness: DNSMOS OVRL of the take brought to −23 LUFS
    by a plain gain, minus that of the same line rendered with `--loudness off` (never limited), brought
    there the same way (evaluation/quality.py: the speech span and a 0.3 s pause, 16 kHz)."""

    def __init__(self, engine: Engine):
        from takefit.evaluation.quality import DnsmosMeter

        self.engine, self.meter, self.plain = engine, DnsmosMeter(), {}

    def ovrl(self, audio: np.ndarray, rate: int) -> float:
        import soxr

        from takefit.evaluation.quality import speech_with_pause

        x = audio * 10 ** ((-23.0 - meter(audio, rate)[2]) / 20)
        return self.meter(speech_with_pause(soxr.resample(x, rate, 16000).astype(np.float32))).ovrl

    def delta(self, take, text: str, voice: str, emotion: str | None) -> float:
        key = (text, voice, emotion)
        if key not in self.plain:
            plain = self.engine.render(RenderRequest(text, voice=voice, loudness=None,
                                                     emotion=Emotion(emotion) if emotion else None))
            self.plain[key] = self.ovrl(plain.audio, plain.sample_rate)
        return self.ovrl(take.audio, take.sample_rate) - self.plain[key]


def run_case(engine: Engine, todo: list[tuple[str, str]], lufs: float, emotion: str | None,
             sound: Sound | None = None, ceiling: float = CEILING) -> dict:
    asked = {} if ceiling == CEILING else {"true_peak": ceiling}      # an older checkout has no such field
    rows, seconds, post, deltas = [], 0.0, 0.0, []
    for text, voice in todo:
        t0 = time.perf_counter()
        take = engine.render(RenderRequest(text, voice=voice, loudness=lufs,
                                           emotion=Emotion(emotion) if emotion else None, **asked))
        seconds += time.perf_counter() - t0
        post += take.timings["post"]             # resampling, exact length and the level: what changed
        sample, true, integrated = meter(take.audio, take.sample_rate)
        short = any("LUFS instead" in w for w in take.warnings)
        rows.append((sample, true, integrated, short))
        if sound is not None:
            deltas.append(sound.delta(take, text, voice, emotion))
    sample, true, integrated, short = (np.array(c, dtype=float) for c in zip(*rows))
    target = min(-1.0, lufs + GAIN[emotion])
    return {"case": f"{lufs:g} LUFS {emotion or 'neutral'}", "takes": len(rows),
            "sample_max": sample.max(), "true_max": true.max(), "tp_minus_sp": float(np.max(true - sample)),
            "over": int(np.sum(true > ceiling + OVER)), "ceiling": ceiling, "short": int(short.sum()),
            "loudness_err": float(np.max(np.abs(integrated - target))), "s_per_take": seconds / len(rows),
            "post_ms": 1000 * post / len(rows),
            "dnsmos": (float(np.mean(deltas)), float(np.min(deltas))) if deltas else None}


def table(results: list[dict], label: str) -> str:
    head = (f"| {label}: case | takes | max sample peak dBFS | max true peak dBTP | max (true − sample) dB | "
            f"over {results[0]['ceiling']:g} dBTP | warned short | max ∣loudness − target∣ LU | s per take | "
            "level stage ms | DNSMOS OVRL Δ mean / worst |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    body = [f"| {r['case']} | {r['takes']} | {r['sample_max']:.2f} | {r['true_max']:+.2f} | {r['tp_minus_sp']:.2f} | "
            f"{r['over']} | {r['short']} | {r['loudness_err']:.2f} | {r['s_per_take']:.2f} | {r['post_ms']:.0f} | "
            + (f"{r['dnsmos'][0]:+.3f} / {r['dnsmos'][1]:+.3f} |" if r["dnsmos"] else "– |") for r in results]
    return "\n".join([head, *body])


def figure(engine: Engine, path: Path, text: str = LINES_EN[2], voice: str = "am_michael") -> None:
    """The take at −14 LUFS angry (−9 LUFS with anger's +5 dB) over the same line rendered unlimited and
    brought to the same loudness by a plain gain: 5 ms peak envelopes of the true-peak waveform, the
    ceiling, and the take's spectrogram (what limiting would smear, it would show)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import soxr

    take = engine.render(RenderRequest(text, voice=voice, loudness=-14.0, emotion=Emotion("angry")))
    plain = engine.render(RenderRequest(text, voice=voice, loudness=None, emotion=Emotion("angry"))).audio
    rate = take.sample_rate
    plain = plain * 10 ** ((meter(take.audio, rate)[2] - meter(plain, rate)[2]) / 20)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True)
    for audio, label, colour in ((plain, "the line unlimited, same loudness", "0.6"),
                                 (take.audio, "the take (limited)", "tab:blue")):
        up = np.abs(soxr.resample(audio, rate, 4 * rate))
        env = up[: len(up) // 960 * 960].reshape(-1, 960).max(axis=1)          # 5 ms at 192 kHz
        top.plot(np.arange(len(env)) * 0.005, 20 * np.log10(np.maximum(env, 1e-6)), color=colour, lw=1, label=label)
    top.axhline(CEILING, color="tab:red", ls="--", lw=1, label=f"{CEILING:g} dBTP")
    top.set(ylim=(-40, 6), ylabel="true-peak envelope, dB",
            title=f"{text!r} ({voice}, angry, −14 LUFS target: −9 LUFS)")
    top.legend(loc="lower right", fontsize=8)
    bottom.specgram(take.audio, NFFT=1024, Fs=rate, noverlap=768, cmap="magma", vmin=-140)
    bottom.set(ylabel="Hz", xlabel="seconds", ylim=(0, 12000))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--label", default="this checkout")
    ap.add_argument("--quick", action="store_true", help="2 lines per language instead of 8")
    ap.add_argument("--out", type=Path, help="append the table to this markdown file")
    ap.add_argument("--figure", type=Path, help="draw one loud take against its line unlimited (PNG) and stop")
    ap.add_argument("--true-peak", type=float, default=CEILING, metavar="DBTP",
                    help="the ceiling asked of the engine (default -1; -2: Netflix, ATSC A/85)")
    ap.add_argument("--dnsmos", action="store_true",
                    help="also score what the leveling did to the sound (DNSMOS, the eval extra; slower)")
    args = ap.parse_args()
    engine, todo = Engine(), lines(args.quick)
    engine.render(RenderRequest("Warm up.", voice="af_heart"))
    if args.figure:
        return figure(engine, args.figure)
    sound = Sound(engine) if args.dnsmos else None
    results = []
    for lufs, emotion in CASES:
        results.append(run_case(engine, todo, lufs, emotion, sound, args.true_peak))
        print(f"  {results[-1]['case']}: max true peak {results[-1]['true_max']:+.2f} dBTP", file=sys.stderr)
    load = os.getloadavg()[0]
    text = (f"{datetime.datetime.now():%Y-%m-%d %H:%M}, load {load:.1f}, {len(todo)} lines, "
            f"libebur128 meter\n\n{table(results, args.label)}\n")
    print(text)
    if args.out:
        with args.out.open("a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
