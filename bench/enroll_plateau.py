"""Issue #23's plateau: two probes on enrolled voices already in bench/enroll_real.py's cache, no new enrollment.

Every recipe change measured on the wideband real speakers lands at a held-out d-vector mean of 0.74–0.75
(bench/results/enroll_real.md). These two probes ask whether something the optimiser does not touch moves it:

- `f0-range`: the enrolled voice reading the test sentences with its predicted log-F0 spread scaled by k around
  its median (k = 1: as it speaks). If the d-vector heard intonation range, some k ≠ 1 would score higher.
- `soup`: the parameters (Δ in the table, pitch ratio, decoder offsets) of several enrollments of the same
  speaker from the same start averaged, then rendered. If the spread between recipes were noise around a
  better centre, the average would score above its members.

    .venv/bin/python bench/enroll_plateau.py f0-range --profile best_adapt01 --k 0.6,0.8,1,1.25,1.5
    .venv/bin/python bench/enroll_plateau.py soup --sets best_adapt01,best_adapt01+best_adapt01_lr03+best_adapt01_x3

Profiles are named as bench/enroll_real.py stores them: real_<speaker>_<quality>_<variant>.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import enroll_real as er  # noqa: E402  (the real-speech bench's clips, encoders and renders)

SPEAKERS = "allison_wb,june,allison_es"


def held_out(bench, speaker_id: str) -> tuple[list[dict], int]:
    """The speaker's held-out recordings, embedded, and their sample rate."""
    data = er.manifest()
    speaker = next(s for s in data["speakers"] if s["id"] == speaker_id)
    _, held = er.speaker_clips(speaker, data["packages"])
    return [bench.embed(*c.read()) for c in held], held[0].read()[1]


def spread_f0(k: float):
    """A prosody shaper: voiced log-F0 scaled by k around its median (kokoro/model.py's `shape` hook)."""
    def shape(f0, energy, _f0_ref, _energy_ref):
        f = np.asarray(f0, np.float64).copy()
        voiced = f > 10.0
        if k != 1.0 and voiced.sum() > 3:
            logf = np.log(f[voiced])
            centre = np.median(logf)
            f[voiced] = np.exp(centre + k * (logf - centre))
        return f.astype(np.float32), energy
    return shape


def f0_range(bench, store, speakers: list[str], profile: str, ks: list[float]) -> None:
    from takefit.engine.enroll.index import render_natural

    for sid in speakers:
        held, rate = held_out(bench, sid)
        prof = store.load(f"real_{sid}_{profile}")
        cells = []
        for k in ks:
            takes = [render_natural(bench.engine, t, prof.table, prof.base_voice, prof.pitch_ratio, prof.language,
                                    prof.adapt, spread_f0(k)) for t in er.TESTS[prof.language]]
            cells.append(f"k={k:g}: {bench.score(takes, held, rate)['raw']['dvector']:.3f}")
        print(f"{sid:<11} {profile:<14} " + "  ".join(cells), flush=True)


def averaged(profiles: list):
    """(table, pitch ratio, adaptation) averaged over enrollments from the same starting voice."""
    from takefit.engine.adaptation import Adaptation

    if len({p.base_voice for p in profiles}) != 1:
        raise SystemExit("a soup needs enrollments from the same starting voice")
    table = np.mean([p.table for p in profiles], axis=0).astype(np.float32)
    pitch = float(np.mean([p.pitch_ratio for p in profiles]))
    adapts = [p.adapt for p in profiles if p.adapt is not None]
    if not adapts:
        return table, pitch, None
    shared = set.intersection(*[set(a.offsets) for a in adapts])
    return table, pitch, Adaptation({k: np.mean([a.offsets[k] for a in adapts], axis=0).astype(np.float32)
                                     for k in adapts[0].offsets if k in shared})


def soup(bench, store, speakers: list[str], sets: list[list[str]]) -> None:
    for sid in speakers:
        held, rate = held_out(bench, sid)
        for names in sets:
            profiles = [store.load(f"real_{sid}_{n}") for n in names]
            table, pitch, adapt = averaged(profiles)
            takes = bench.takes(profiles[0].language, table, profiles[0].base_voice, pitch, adapt)
            heard = bench.listener.measure(takes, profiles[0].language)
            print(f"{sid:<11} {'+'.join(names):<58} d-vector {bench.score(takes, held, rate)['raw']['dvector']:.3f}  "
                  f"DNSMOS {heard['dnsmos']:.2f}  WER {heard['wer']:.3f}", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="probe", required=True)
    f0 = sub.add_parser("f0-range", help="score one profile per speaker with its F0 spread scaled")
    f0.add_argument("--profile", default="best_adapt01", help="<quality>_<variant> of the cached profiles")
    f0.add_argument("--k", default="0.6,0.8,1,1.25,1.5", help="spread factors, comma-separated")
    sp = sub.add_parser("soup", help="score averages of several profiles per speaker")
    sp.add_argument("--sets", required=True, help="comma-separated sets, each a '+'-joined list of <quality>_<variant>")
    for p in (f0, sp):
        p.add_argument("--speakers", default=SPEAKERS, help=f"manifest speaker ids (default {SPEAKERS})")
    args = ap.parse_args(argv)
    from takefit.engine.profiles import ProfileStore

    bench, store = er.Bench(), ProfileStore(er.cache_dir() / "profiles")
    speakers = args.speakers.split(",")
    if args.probe == "f0-range":
        f0_range(bench, store, speakers, args.profile, [float(k) for k in args.k.split(",")])
    else:
        soup(bench, store, speakers, [s.split("+") for s in args.sets.split(",")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
