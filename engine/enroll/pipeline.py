"""enroll_voice: reference clip → profile, the whole product path (checks first, heavy work after)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..errors import InputError
from ..languages import LATIN
from ..kokoro import SAMPLE_RATE
from ..adaptation import Adaptation
from ..profiles import Profile, ProfileStore, check_name
from ..speaker import cosine, encoder
from . import index as voice_index
from .invert import Inversion, Setup, excerpts, invert, practice, prepare, unseen_sentence
from .reference import Reference, load_reference
from .. import Engine
from .transcribe import spoken_language, transcribe
from .align import median_f0
from .graph import TorchDecoder
from .heap import returns_freed_memory
from .objective import CEPSTRUM_WEIGHT, FULL_BAND, Objective
import os

QUALITIES = ("fast", "best")


@dataclass(frozen=True)
class Recipe:
    steps: int                   # Adam steps on Δ
    steps_short: int             # … for references under 5 s of speech
    excerpt_s: float | None      # re-synthesise this much of the reference (None: all of it)
    practice: int                # practice sentences taking turns with it, step by step
    lr: float = 0.01             # Adam learning rate on Δ
    excerpts: int = 1            # stretches of excerpt_s spread over the reference, taking turns
    channel_bands: int = 0       # > 0: a learned EQ (this many bands) absorbs the reference's microphone (objective.py)
    adapt_lr: float = 0.0        # > 0: offsets to the decoder's AdaIN biases learned with Δ (engine/adaptation.py)
    cepstrum: float = CEPSTRUM_WEIGHT   # the cepstra's mean and spread held to the reference's (objective.py)


# Held-out d-vector similarity, leave-one-out, 10 steps (bench/enroll_bench.py's measure):
# - the reference excerpt alone, lr 0.02 (the previous recipe): am_onyx 0.516, af_nicole 0.808,
#   am_echo 0.852, bf_emma 0.873; lr 0.02 had beaten 0.01 by +0.037 on 3 voices;
# - 3 practice sentences alone, lr 0.03: 0.659 / 0.764 / 0.809 / 0.841 (the weak voices gain, the
#   good ones lose what only the reference's own words teach); on 8 voices 0.685 → 0.733 mean;
# - the excerpt and 2 practice sentences in turn, lr 0.03: 0.669 / 0.820 / 0.829 / 0.870 — kept.
# Rejected: Δ restricted to the span of the other voices (scaled by their spread, lr 0.1–0.4): the
# held-out voices lie 37–66 % outside it (bf_emma 0.873 → 0.762). fast's 3 s excerpt and 3.3–5 s
# sentences keep it ≤ 60 s; best: up to 6 s of the reference bounds the autograd memory.
# A start from a convex blend of the 4 nearest voices (weights fitted on the index's embeddings)
# measured +0.032 / −0.008 / +0.001 on 3 voices: not kept; the start is the nearest voice.
# best, tried on zf_xiaoni / zm_yunxi / am_eric / af_sky (kept: 0.786 / 0.793 / 0.772 / 0.688):
# 12 steps of 2 utterances' summed gradients, lr 0.04: 0.784 / 0.797 / 0.732 / 0.669 (worse);
# 25 steps at lr 0.03: 0.836 / 0.785 / 0.780 / 0.654 (mean +0.004, within sentence-choice noise).
# Real recordings (bench/enroll_real.py, 8 kHz telephone prompts, d-vector in the recordings' band), fast:
# 3 excerpts of 3 s spread over the reference instead of the middle one (excerpts=3, same 10 steps):
# Allison 0.818 → 0.780, Paola 0.886 → 0.874, Bruce 0.864 → 0.875: rejected (mean −0.013), default 1.
# An NNLS blend of the 4 nearest voices as the start (no optimisation): +0.011 / ±0 (one Italian female
# voice) / −0.002: not kept.
# A channel learned with Δ (channel_bands 12 / 16: a smooth EQ before the speaker and spectrum terms, meant to
# absorb the microphone; wideband allison_wb / june / allison_es): fast 0.700 → 0.715 / 0.720, best 0.714 → 0.705 /
# 0.703, the takes through the learned channel ±0.005 of those; the channel stays under 1.6 dB (0.9 at best's
# 25 steps), and a 3 % lr nudge alone moves fast by +0.013: nothing there to learn, default 0 (off).
# Decoder adaptation (adapt_lr; engine/adaptation.py): offsets to the 58 AdaIN fc biases learned with Δ, the
# same steps. Wideband real speakers (allison_wb / june / allison_es, held-out d-vector), fast: style only 0.644 /
# 0.741 / 0.715 (mean 0.700); adapt_lr 0.003: 0.675 / 0.792 / 0.690 (0.719); 0.01: 0.715 / 0.817 / 0.687 (0.740),
# DNSMOS within 0.01 of the built-ins, Whisper WER as theirs. best: style only 0.713 mean; 0.01: 0.732 / 0.814 /
# 0.712 (0.753); 0.03: 0.737 / 0.819 / 0.676 (DNSMOS −0.3 on two, +2 word errors); 40 steps instead of 25: allison_wb
# 0.733 (no gain, 1.6× the time); Δ at lr 0.03 with it: 0.760 mean, within a 3 % lr nudge's spread, allison_es DNSMOS
# −0.2: not taken. Telephone speakers (8 kHz, band-matched) fast: 0.818 / 0.886 / 0.864 → 0.803 / 0.901 / 0.878.
# best with 3 excerpts of the reference taking turns (adapt01_x3): 0.698 / 0.834 / 0.673 (0.735): rejected.
# Built-in voices left out (bench/enroll_bench.py --out, 8 voices, fast, same machine and decoder form): style only
# 0.793, adapted 0.791 mean (am_adam +0.035, am_echo −0.056): a voice inside the style space gains nothing from it;
# real speakers, outside it, do. Offsets end near rms 0.04 (the biases themselves ≈ 0.06–0.1); a step costs no more.
# Measured and not kept (bench/results/enroll_real.md, "The plateau"): the timbre half from the nearest voice of any
# language (fast 0.730), the spectrum term at 0.3 / 1.0 (fast 0.740 / worse), the Snake α and 1/α adapted too (best
# 0.753), the parameters of 3 enrollments averaged (0.740 / 0.753), the speaker term over randomly altered copies
# (fast 0.725, best 0.733): every recipe lands at 0.73–0.75.
# The cepstrum term (objective.py: the mean and covariance of c1–c20 over the speech frames held to the reference's,
# weight 0.1), 2026-12-06, wideband real speakers, held-out d-vector, the same code with the term off as control:
# fast 0.668 / 0.822 / 0.727 (0.739) → 0.686 / 0.844 / 0.743 (0.758); best 0.735 / 0.817 / 0.737 (0.763) → 0.792 /
# 0.857 / 0.762 (0.804); weight 0.3, best 0.775 / 0.833 / 0.738 (0.782). DNSMOS best 3.07 / 3.21 / 3.09 → 3.16 / 3.29 /
# 3.01 (the speakers' own recordings: 3.10 / 3.18 / 3.00), word errors
# pooled 9 → 9. Telephone speakers (8 kHz, band-matched) fast: 0.814 / 0.875 / 0.878 → 0.823 / 0.902 / 0.889.
# Kept: every speaker gains in both qualities, 2–4× the 3 % lr-nudge spread.
RECIPES = {"fast": Recipe(steps=10, steps_short=20, excerpt_s=3.0, practice=2, lr=0.03, adapt_lr=0.01),
           "best": Recipe(steps=25, steps_short=50, excerpt_s=6.0, practice=4, lr=0.02, adapt_lr=0.01)}

Progress = Callable[[float, str], None]


def check_request(name: str, reference_path, quality: str, consent: str | None, no_consent_record: bool,
                  force: bool, store: ProfileStore, builtin: list[str]) -> None:
    """Everything that can be refused before any work is done."""
    check_name(name, builtin)
    if quality not in QUALITIES:
        raise InputError(f"quality {quality!r} unknown: accepted {', '.join(QUALITIES)}")
    if consent is not None and not consent.strip():
        consent = None
    if consent is None and not no_consent_record:
        raise InputError("enrolling a voice needs a consent record: --consent \"who agreed, when\" (clone only "
                         "voices you are authorised to use), or --no-consent-record to enroll without one")
    if store.exists(name) and not force:
        raise InputError(f"an enrolled voice named {name!r} already exists; use --force to replace it or pick another name")
    if not Path(reference_path).is_file():
        raise InputError(f"reference clip not found: {reference_path}")


def _language_of(engine, text: str, ref: Reference) -> str:
    """The transcript's language: by its script (kana, Devanagari, Han); Latin letters don't tell English
    from Spanish, so then Whisper names the language it hears in the clip."""
    language = engine.frontend.read(text, "auto").primary_language
    if language == "en":
        return spoken_language(ref.wav, SAMPLE_RATE, LATIN) or "en"
    return language


def _prosody_table(engine, spec: str, entries, language: str) -> tuple[np.ndarray, str]:
    """--prosody-from: a voice name (built-in or enrolled), or a clip whose nearest built-in voice lends its delivery."""
    bank = engine.voice_bank
    if spec in bank.names or bank.profiles.exists(spec):
        return bank.table(spec), spec
    if Path(spec).is_file():
        clip = load_reference(spec)
        emb = encoder("resemblyzer").embed(clip.wav, SAMPLE_RATE)

        entry, _ = voice_index.nearest(entries, emb, language, median_f0(clip.wav))
        return bank.table(entry.name), f"{entry.name} (nearest to {Path(spec).name})"
    bank.check(spec)            # raises the unknown-voice error with suggestions
    raise InputError(f"--prosody-from {spec!r}: not a voice name or an audio file")


@dataclass(frozen=True)
class _Anchor:
    """What the reference is measured against: its embeddings and pitch, and the built-in voice
    (nearest to it) that the optimisation starts from."""
    entries: list[voice_index.VoiceEntry]
    voice: str
    table: np.ndarray
    res: np.ndarray                  # the reference's resemblyzer embedding
    dvec: np.ndarray                 # … and its d-vector
    f0: float                        # its median pitch (Hz; nan when unvoiced)
    band_hz: float = SAMPLE_RATE / 2  # the highest frequency the reference carries


@returns_freed_memory
def enroll_voice(name: str, reference_path, text: str | None = None, quality: str = "fast",
                 consent: str | None = None, no_consent_record: bool = False, prosody_from: str | None = None,
                 force: bool = False, progress: Progress | None = None, engine=None,
                 store: ProfileStore | None = None, steps: int | None = None,
                 exclude: tuple[str, ...] = (), denoise: bool = False) -> Profile:
    """Enroll `reference_path` as voice `name`. `denoise` cleans a noisy reference with DeepFilterNet3
    first; `exclude` keeps built-in voices out of the starting pick (the benchmark's leave-one-out);
    `steps` overrides the quality's step count."""
    t_start = time.perf_counter()
    say = progress or (lambda f, m: None)
    if engine is None:
        engine = Engine()
    store = store or engine.voice_bank.profiles
    check_request(name, reference_path, quality, consent, no_consent_record, force, store, engine.voice_bank.names)
    torch.set_num_threads(engine_threads())

    say(0.01, "reading the reference")
    ref: Reference = load_reference(reference_path, denoise=denoise)
    notices = list(ref.notices)
    text, language = _transcript(engine, ref, text, notices, say)
    anchor = _anchor(engine, store, ref, language, exclude, notices, say)
    recipe = RECIPES[quality]
    setup, work, n_steps = _training_work(engine, text, language, anchor, ref, recipe, steps, say)
    inv = _optimise(engine, ref, work, n_steps, recipe, say)
    table, prosody_note = _enrolled_table(engine, anchor, inv, prosody_from, language)
    table, adapt, sims, check = _gate(engine, table, inv.adapt, anchor, setup, language, recipe, prosody_from,
                                      notices, say)
    profile = Profile(
        name=name, table=table.astype(np.float32), pitch_ratio=float(setup.pitch_ratio), base_voice=anchor.voice,
        language=language, quality=quality, reference_sha256=ref.sha256,
        consent=consent.strip() if consent and consent.strip() else None,
        created=datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        embeddings={"resemblyzer": [float(v) for v in anchor.res], "dvector": [float(v) for v in anchor.dvec]},
        similarity={k: {e: round(v, 4) for e, v in d.items()} for k, d in sims.items()},
        transcript=text, prosody_from=prosody_note, notices=notices,
        stats=_stats(ref, anchor, inv, work, n_steps, denoise, check, t_start),
        reference_name=Path(reference_path).name, adapt=adapt)
    say(0.97, "saving the voice")
    store.save(profile, force=force)
    say(1.0, f"enrolled {name}")
    return profile


def _transcript(engine, ref: Reference, text: str | None, notices: list[str], say: Progress) -> tuple[str, str]:
    """(words, language) of the reference: the given text, or Whisper's when there is none or when only
    a window of the clip is used (the given text covers the whole clip)."""
    if text is not None and ref.window is None:
        return text, _language_of(engine, text, ref)
    if text is not None:
        notices.append("--text was ignored: it covers the whole clip, and only the chosen window is used")
    say(0.04, "recognising the words (Whisper base)")

    tr = transcribe(ref.wav, SAMPLE_RATE)
    notices.append(f"transcript (recognised): {tr.text}")
    return tr.text, tr.language


def _anchor(engine, store: ProfileStore, ref: Reference, language: str, exclude: tuple[str, ...],
            notices: list[str], say: Progress) -> _Anchor:
    """Embed the reference and pick the nearest built-in voice (pitch-gated) to start from."""
    say(0.08, "choosing the starting voice")
    entries = voice_index.load(engine, store.directory,
                               progress=lambda f, m: say(0.08 + 0.07 * f, m + " (once)"))

    ref_res = encoder("resemblyzer").embed(ref.wav, SAMPLE_RATE)
    ref_dvec = encoder("dvector").embed(ref.wav, SAMPLE_RATE)
    ref_f0 = median_f0(ref.wav)
    start, gated = voice_index.nearest(entries, ref_res, language, ref_f0, exclude)
    if not gated:
        notices.append(f"no {language} built-in voice has a pitch within 0.8–1.25× of the reference "
                       f"({ref_f0:.0f} Hz); starting from the closest one, {start.name}, with a pitch ratio")
    return _Anchor(entries, start.name, engine.voice_bank.table(start.name), ref_res, ref_dvec, ref_f0,
                   ref.bandwidth_hz)


def _training_work(engine, text: str, language: str, anchor: _Anchor, ref: Reference, recipe: Recipe,
                   steps: int | None, say: Progress) -> tuple[Setup, list[Setup], int]:
    """(the reference aligned to its transcript, the utterances the optimiser takes turns on, step count)."""
    say(0.16, f"aligning the transcript to the reference (start: {anchor.voice})")
    plan = engine.plan(text, anchor.voice, language)
    phonemes = " ".join(ch.phonemes for ch in plan.chunks)
    if len(phonemes) > 500:
        raise InputError(f"the transcript is {len(phonemes)} phonemes long; enrollment reads at most ~500 "
                         f"(about 30 s of speech): give a shorter clip")
    setup = prepare(engine, phonemes, anchor.table, ref.wav)
    n_steps = steps or (recipe.steps if ref.speech_seconds >= 5.0 else recipe.steps_short)
    work = excerpts(setup, recipe.excerpt_s, recipe.excerpts) if recipe.excerpt_s else [setup]
    work += practice(engine, anchor.voice, anchor.table, setup.pitch_ratio, language, recipe.practice)
    return setup, work, n_steps


def _optimise(engine, ref: Reference, work: list[Setup], n_steps: int, recipe: Recipe,
              say: Progress) -> Inversion:
    """Adam on the style's timbre half through the differentiable decoder."""
    say(0.2, "loading the differentiable decoder")

    decoder = TorchDecoder(engine.paths.stage("decoder"), threads=engine_threads())
    objective = Objective(ref.wav, ref.bandwidth_hz, encoder("resemblyzer"), channel_bands=recipe.channel_bands,
                          cepstrum_weight=recipe.cepstrum)

    def step_progress(i, n, terms):
        say(0.25 + 0.6 * i / max(1, n), f"step {i}/{n}: speaker similarity {terms.speaker:.3f}")

    return invert(decoder, work, objective, n_steps, step_progress, lr=recipe.lr, adapt_lr=recipe.adapt_lr)


def _enrolled_table(engine, anchor: _Anchor, inv: Inversion, prosody_from: str | None,
                    language: str) -> tuple[np.ndarray, str | None]:
    """The starting voice's table with the learned timbre, and --prosody-from's delivery if given."""
    table = anchor.table.copy()
    table[:, :128] += inv.delta[None, :]
    prosody_note = None
    if prosody_from:
        ptable, prosody_note = _prosody_table(engine, prosody_from, anchor.entries, language)
        table[:, 128:] = ptable[:, 128:]
    return table, prosody_note


def _gate(engine, table: np.ndarray, adapt: Adaptation | None, anchor: _Anchor, setup: Setup, language: str,
          recipe: Recipe, prosody_from: str | None, notices: list[str],
          say: Progress) -> tuple[np.ndarray, Adaptation | None, dict, str]:
    """(the table and decoder adaptation to keep, similarities, the sentence checked): the learned ones,
    or the starting voice's if the second encoder prefers that."""
    # gate on the second encoder, with the profile as it will run (int8 model, natural durations) reading
    # a practice sentence the optimiser never heard: the check the reference's own words cannot pass by
    # the optimiser's shortcut, and half the audio of re-reading the transcript
    say(0.88, "checking the result on the second encoder (d-vector)")
    check = unseen_sentence(language, recipe.practice)
    sims = _similarities(engine, table, adapt, anchor, setup, language, check)
    if sims["enrolled"]["dvector"] < sims["start_pitch"]["dvector"] and not prosody_from:
        notices.append(f"the learned timbre did not convince the second encoder (d-vector "
                       f"{sims['enrolled']['dvector']:.3f} < {sims['start_pitch']['dvector']:.3f} for {anchor.voice} "
                       f"+ pitch); kept {anchor.voice} with the reference's pitch instead")
        table, adapt = anchor.table.copy(), None
        sims["enrolled"] = dict(sims["start_pitch"])
    return table, adapt, sims, check


def _similarities(engine, table: np.ndarray, adapt: Adaptation | None, anchor: _Anchor, setup: Setup,
                  language: str, check: str) -> dict[str, dict[str, float]]:
    """Both encoders' similarity to the reference of `check` read by the starting voice (at the
    reference's pitch) and by the enrolled table."""
    sims = {}
    pitch = setup.pitch_ratio
    renders = {"start_pitch": voice_index.render_natural(engine, check, anchor.table, anchor.voice, pitch, language),
               "enrolled": voice_index.render_natural(engine, check, table, anchor.voice, pitch, language, adapt)}
    for k, w in renders.items():
        w = in_band(w, anchor.band_hz)
        sims[k] = {"resemblyzer": cosine(encoder("resemblyzer").embed(w, SAMPLE_RATE), anchor.res),
                   "dvector": cosine(encoder("dvector").embed(w, SAMPLE_RATE), anchor.dvec)}
    return sims


def in_band(wav: np.ndarray, band_hz: float) -> np.ndarray:
    """A render heard through the reference's band (a telephone clip's 4 kHz): compared unmatched, the
    d-vector scores the channel — wideband takes against 8 kHz recordings of the same speaker measured
    0.27–0.47, the same takes band-limited 0.76–0.90 (bench/enroll_real.py) — and the gate threw away a
    timbre that held-out recordings score 0.864 against the start's 0.762."""
    if band_hz >= FULL_BAND:
        return wav
    spec = np.fft.rfft(wav)
    spec[np.fft.rfftfreq(len(wav), 1 / SAMPLE_RATE) >= band_hz] = 0
    return np.fft.irfft(spec, n=len(wav)).astype(np.float32)


def _stats(ref: Reference, anchor: _Anchor, inv: Inversion, work: list[Setup], n_steps: int, denoise: bool,
           check: str, t_start: float) -> dict:
    return {"steps": n_steps, "seconds": round(time.perf_counter() - t_start, 1),
            "step_seconds": round(inv.step_seconds, 2), "optimised_audio_s": round(sum(w.seconds for w in work), 2),
            "reference_speech_s": round(ref.speech_seconds, 2), "denoised": bool(denoise),
            "bandwidth_hz": round(ref.bandwidth_hz),
            "reference_f0_hz": round(anchor.f0, 1) if np.isfinite(anchor.f0) else None,
            "objective_start": round(inv.start.speaker, 4), "objective_final": round(inv.final.speaker, 4),
            "gate_sentence": check, **_channel_stats(inv),
            **({"adapt_rms": round(inv.adapt.rms(), 4)} if inv.adapt is not None else {})}


def _channel_stats(inv: Inversion) -> dict:
    """The learned channel, when there is one (kept for the benchmark's channel-on takes; not rendered)."""
    if inv.channel is None:
        return {}
    return {"channel": {"centres_hz": [round(float(v), 1) for v in inv.channel.centres_hz],
                        "gains_db": [round(float(v), 3) for v in inv.channel.gains_db]}}


def engine_threads() -> int:
    return int(os.environ.get("TAKEFIT_THREADS", 0)) or (os.cpu_count() or 1)
