"""Gradient style inversion: move the starting voice's timbre half toward the reference speaker.

An unconstrained Δ ∈ R¹²⁸ is added to style[:128] (the half the decoder reads) and optimised with Adam
through the float torch execution of the int8 decoder graph; the step with the lowest loss is kept.
Everything the decoder reads besides the style — tokens, durations aligned to the reference, the
reference's F0, the energy curve — is fixed beforehand (`prepare`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from ..kokoro import FRAME_SAMPLES, KokoroModel
from .align import decoder_f0, integer_durations, median_f0, refine
from .graph import TorchDecoder
from .objective import Objective, Terms

TIMBRE = 128
LEARNING_RATE = 0.01


@dataclass
class Setup:
    tokens: np.ndarray
    row: np.ndarray                # the starting style row used for this utterance length (256,)
    frames: np.ndarray             # per-token durations aligned to the reference (sum = len(reference)/600)
    f0: np.ndarray                 # decoder F0 input (1, 2·frames)
    energy: np.ndarray             # decoder energy input
    reference: np.ndarray          # the reference cut to exactly sum(frames)·600 samples
    pitch_ratio: float             # reference median F0 ÷ starting voice's
    first: np.ndarray | None = None  # the starting voice reading the transcript (int8 model), 24 kHz


@dataclass
class Inversion:
    delta: np.ndarray              # (128,) best Δ
    start: Terms                   # loss terms of the starting voice (Δ = 0)
    best: Terms
    best_step: int
    history: list[Terms] = field(default_factory=list)
    seconds: float = 0.0
    step_seconds: float = 0.0


def prepare(engine, phonemes: str, table: np.ndarray, reference: np.ndarray) -> Setup:
    """Tokens, aligned durations, pitch ratio and decoder F0 for `reference` read by the starting voice."""
    model = engine.model
    tokens, kept = model.tokenize(phonemes)
    row = KokoroModel.style_row(table, len(kept)).reshape(-1)
    n_frames = len(reference) // FRAME_SAMPLES
    ref = reference[: n_frames * FRAME_SAMPLES]
    style = row.reshape(1, 256)
    frames = integer_durations(model.duration(tokens, style), n_frames)
    f0, energy = model.prosody(tokens, style, frames)
    first = model.decoder(tokens, style, frames, f0, energy)
    ratio = median_f0(ref) / median_f0(first)
    ratio = float(np.clip(ratio, 0.5, 2.0)) if np.isfinite(ratio) else 1.0
    frames = refine(frames, first, ref)
    f0, energy = model.prosody(tokens, style, frames)
    return Setup(tokens, row, frames, decoder_f0(f0, ratio, ref), energy, ref, ratio, first.reshape(-1))


def excerpt(setup: Setup, seconds: float) -> Setup:
    """The middle stretch of about `seconds`, cut at token boundaries (fast mode optimises on less audio;
    the target embedding still comes from the whole reference)."""
    total = float(setup.frames.sum()) * FRAME_SAMPLES / 24000
    if total <= seconds * 1.15:
        return setup
    starts = np.concatenate([[0], np.cumsum(setup.frames)])
    want = seconds * 24000 / FRAME_SAMPLES
    best = (0, len(setup.frames))
    mid = starts[-1] / 2
    score = None
    for i in range(1, len(setup.frames) - 1):
        j = int(np.searchsorted(starts, starts[i] + want))
        j = min(j, len(setup.frames) - 1)
        s = abs((starts[i] + starts[j]) / 2 - mid)
        if score is None or s < score:
            score, best = s, (i, j)
    i, j = best
    tokens = np.concatenate([[0], setup.tokens[i:j], [0]])
    frames = np.concatenate([[1], setup.frames[i:j], [1]]).astype(np.float32)
    a, b = int(starts[i]), int(starts[j])
    f0 = setup.f0.reshape(-1)[2 * (a - 1): 2 * (b + 1)] if a >= 1 else None
    energy = setup.energy.reshape(-1)[2 * (a - 1): 2 * (b + 1)] if a >= 1 else None
    if f0 is None or len(f0) != 2 * int(frames.sum()):
        return setup
    ref = setup.reference[(a - 1) * FRAME_SAMPLES: (b + 1) * FRAME_SAMPLES]
    return Setup(tokens, setup.row, frames, f0.reshape(1, 1, -1), energy.reshape(1, 1, -1), ref, setup.pitch_ratio)


def invert(decoder: TorchDecoder, setup: Setup, objective: Objective, steps: int,
           progress: Callable[[int, int, Terms], None] | None = None, lr: float = LEARNING_RATE) -> Inversion:
    t0 = time.perf_counter()
    decoder.prepare(setup.tokens, setup.row, setup.frames, setup.f0, setup.energy)
    row = torch.from_numpy(setup.row.astype(np.float32))
    delta = torch.zeros(TIMBRE, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=lr)
    history: list[Terms] = []
    best_delta, best, best_step = np.zeros(TIMBRE, np.float32), None, 0
    t_steps = time.perf_counter()
    for step in range(steps + 1):
        style = torch.cat([row[:TIMBRE] + delta, row[TIMBRE:]])
        loss, terms = objective(decoder(style))
        history.append(terms)
        if best is None or terms.total < best.total:
            best, best_step, best_delta = terms, step, delta.detach().numpy().copy()
        if progress:
            progress(step, steps, terms)
        if step == steps:                      # the last evaluation only scores the final Δ
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    t1 = time.perf_counter()
    return Inversion(best_delta, history[0], best, best_step, history, t1 - t0, (t1 - t_steps) / max(1, steps))
