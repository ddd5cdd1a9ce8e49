"""Gradient style inversion: move the starting voice's timbre half toward the reference speaker.

An unconstrained Δ ∈ R¹²⁸ is added to style[:128] (the half the decoder reads) and optimised with Adam
through the float torch execution of the int8 decoder graph. Everything the decoder reads besides the
style — tokens, durations, F0, energy — is fixed beforehand, one `Setup` per utterance.

What the decoder reads while learning decides what is learned. Re-synthesising only the reference
(its durations, its own F0 track: `prepare`) hands the optimiser the speaker's timing and intonation,
and with them a shortcut: the speaker encoder is satisfied on that one clip (Resemblyzer 0.94–0.97,
as high as the true voice scores) by a timbre that does not carry over to other sentences. The
profile will always speak other words, at the starting voice's pace, with predicted F0 × pitch ratio,
so the steps take turns (`invert` cycles through its setups): the reference re-synthesised, then the
starting voice reading practice sentences the reference never said (`practice`), each pushed toward
the reference's speaker embedding. Only the timbre makes all of them sound like the speaker.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from ..kokoro import FRAME_SAMPLES, SAMPLE_RATE, KokoroModel
from ..adaptation import Adaptation
from ..kokoro.duration import natural_frames
from .align import decoder_f0, integer_durations, median_f0, refine
from .graph import TorchDecoder
from .objective import ChannelCurve, Objective, Terms

TIMBRE = 128
LEARNING_RATE = 0.01
CHANNEL_LR = 0.5            # Adam moves a gain ≤ 0.5 dB a step: ±5 dB in fast's 10 steps (at Δ's lr 0.03, 0.3 dB)


# Practice sentences (never the benchmark's test sentences), shortest first (fast reads the first two):
# 3.3–5 s as read by the built-in voices.
PRACTICE = {
    "en": ("Which of these paintings would you choose for the hallway?",
           "My brother fixed the broken fence before his friends arrived.",
           "The old lighthouse keeper watched the storm roll in from the sea.",
           "Please remember to bring your notebook to the meeting tomorrow morning.",
           "A gentle breeze carried the smell of fresh bread down the narrow street."),
    "zh": ("你知道这条河最后流向哪里吗？", "他每天早上都会骑自行车去学校上课。", "今天的天气非常好，我们一起去公园散步吧。",
           "妈妈在厨房里给我们做了一顿丰盛的晚饭。", "这本书讲述了一个关于勇气和友谊的动人故事。"),
    "ja": ("この道をまっすぐ行くと海に出ます。", "兄は友達が来る前に壊れた棚を直しました。",
           "古い灯台の番人は海から来る嵐をじっと見ていた。", "明日の会議にはノートを忘れずに持ってきてください。",
           "やわらかい風が焼きたてのパンの香りを運んできた。"),
    "es": ("¿Cuál de estos cuadros elegirías para el pasillo?",
           "Mi hermano arregló la valla antes de que llegaran sus amigos.",
           "El viejo farero miraba cómo la tormenta llegaba desde el mar.",
           "Recuerda traer tu cuaderno a la reunión de mañana por la mañana.",
           "Una brisa suave llevaba el olor del pan recién hecho por la calle estrecha."),
    "fr": ("Lequel de ces tableaux choisirais-tu pour le couloir ?",
           "Mon frère a réparé la clôture avant l'arrivée de ses amis.",
           "Le vieux gardien du phare regardait la tempête arriver de la mer.",
           "N'oublie pas d'apporter ton carnet à la réunion de demain matin.",
           "Une brise légère portait l'odeur du pain frais dans la rue étroite."),
    "it": ("Quale di questi quadri sceglieresti per il corridoio?",
           "Mio fratello ha riparato il recinto prima che arrivassero i suoi amici.",
           "Il vecchio guardiano del faro guardava la tempesta arrivare dal mare.",
           "Ricordati di portare il quaderno alla riunione di domani mattina.",
           "Una brezza leggera portava il profumo del pane fresco lungo la strada stretta."),
    "pt": ("Qual destes quadros você escolheria para o corredor?",
           "Meu irmão consertou a cerca antes de os amigos chegarem.",
           "O velho faroleiro olhava a tempestade chegando do mar.",
           "Lembre de trazer o seu caderno para a reunião de amanhã de manhã.",
           "Uma brisa suave trazia o cheiro de pão fresco pela rua estreita."),
    "hi": ("इनमें से कौन सी तस्वीर तुम गलियारे के लिए चुनोगे?",
           "मेरे भाई ने दोस्तों के आने से पहले टूटी हुई बाड़ ठीक कर दी।",
           "पुराना प्रकाशस्तंभ रक्षक समुद्र से आते तूफ़ान को देख रहा था।",
           "कल सुबह की बैठक में अपनी नोटबुक लाना मत भूलना।",
           "हल्की हवा तंग गली में ताज़ी रोटी की खुशबू ले आई।"),
}


@dataclass
class Setup:
    tokens: np.ndarray
    row: np.ndarray                # the starting style row used for this utterance length (256,)
    frames: np.ndarray             # per-token durations (sum = audio length / 600)
    f0: np.ndarray                 # decoder F0 input (1, 2·frames)
    energy: np.ndarray             # decoder energy input
    reference: np.ndarray | None   # reference re-synthesis: the reference cut to exactly sum(frames)·600 samples
    pitch_ratio: float             # reference median F0 ÷ starting voice's

    @property
    def seconds(self) -> float:
        return float(self.frames.sum()) * FRAME_SAMPLES / SAMPLE_RATE


@dataclass
class Inversion:
    delta: np.ndarray              # (128,) the final Δ
    start: Terms                   # loss terms of the starting voice (Δ = 0)
    final: Terms                   # … and of the last step (its Δ before the final update)
    history: list[Terms] = field(default_factory=list)
    seconds: float = 0.0
    step_seconds: float = 0.0
    channel: ChannelCurve | None = None     # the channel learned with Δ (the objective's channel_bands > 0)
    adapt: Adaptation | None = None         # the decoder adaptation learned with Δ (adapt_lr > 0)


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
    return Setup(tokens, row, frames, decoder_f0(f0, ratio, ref), energy, ref, ratio)


def _sentences(language: str) -> tuple[str, ...]:
    return PRACTICE.get(language, PRACTICE["en"])


def practice(engine, voice: str, table: np.ndarray, pitch_ratio: float, language: str, count: int) -> list[Setup]:
    """The starting voice (`voice`, style `table`) reading `count` practice sentences as the profile will speak: its own
    durations, its predicted F0 × `pitch_ratio`."""
    model = engine.model
    out = []
    for sentence in _sentences(language)[:count]:
        phonemes = " ".join(ch.phonemes for ch in engine.plan(sentence, voice, language).chunks)
        tokens, kept = model.tokenize(phonemes)
        row = KokoroModel.style_row(table, len(kept)).reshape(-1)
        style = row.reshape(1, 256)
        frames = natural_frames(model.duration(tokens, style))
        f0, energy = model.prosody(tokens, style, frames)
        out.append(Setup(tokens, row, frames, (np.asarray(f0) * pitch_ratio).astype(np.float32), energy, None, pitch_ratio))
    return out


def unseen_sentence(language: str, used: int) -> str:
    """The first practice sentence after the `used` ones the optimiser hears."""
    sentences = _sentences(language)
    return sentences[min(used, len(sentences) - 1)]


def excerpt(setup: Setup, seconds: float, center: float = 0.5) -> Setup:
    """The stretch of about `seconds` centred at `center` (0–1) of the reference, cut at token boundaries
    (fast mode optimises on less audio; the target embedding still comes from the whole reference)."""
    total = float(setup.frames.sum()) * FRAME_SAMPLES / 24000
    if total <= seconds * 1.15:
        return setup
    starts = np.concatenate([[0], np.cumsum(setup.frames)])
    want = seconds * 24000 / FRAME_SAMPLES
    best = (0, len(setup.frames))
    mid = starts[-1] * center
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


def excerpts(setup: Setup, seconds: float, count: int) -> list[Setup]:
    """`count` stretches of about `seconds` spread over the reference (one: the middle), so the steps
    taking turns hear all of it rather than one part."""
    cuts = [excerpt(setup, seconds, (k + 0.5) / count) for k in range(count)]
    return [c for k, c in enumerate(cuts) if all(c is not d for d in cuts[:k])]     # a short clip: once


def _learned(decoder: TorchDecoder, objective: Objective, lr: float, adapt_lr: float):
    """(Δ, the fc bias offsets — empty without adapt_lr —, their Adam): each group at its own rate."""
    delta = torch.zeros(TIMBRE, requires_grad=True)
    offsets = {name: torch.zeros_like(b, requires_grad=True) for name, b in decoder.biases.items()} if adapt_lr else {}
    groups = [{"params": [delta], "lr": lr}]
    if offsets:                             # gains and shifts move on the biases' scale (≈ 0.06–0.1), not Δ's
        groups.append({"params": list(offsets.values()), "lr": adapt_lr})
    if objective.channel is not None:        # its own rate: gains in dB move on another scale than Δ
        groups.append({"params": [objective.channel.raw], "lr": CHANNEL_LR})
    return delta, offsets, torch.optim.Adam(groups, lr=lr)


def invert(decoder: TorchDecoder, setups: list[Setup], objective: Objective, steps: int,
           progress: Callable[[int, int, Terms], None] | None = None, lr: float = LEARNING_RATE,
           adapt_lr: float = 0.0) -> Inversion:
    """Adam on Δ (and, with `adapt_lr`, on offsets to the decoder's AdaIN biases: no penalty holds them,
    the practice sentences taking turns keep them general), step i on utterance i mod len(setups); the
    final Δ is kept (the utterances' losses are not comparable from step to step, so there is no "best
    step" to pick). `final` is the last step's terms, measured just before its update."""
    if steps < 1:
        raise ValueError(f"steps must be ≥ 1, got {steps}")
    t0 = time.perf_counter()
    utterances = []
    for i, s in enumerate(setups[:steps]):      # fewer steps than utterances: the unvisited are not decoded
        start = decoder.prepare(s.tokens, s.row, s.frames, s.f0, s.energy)   # the starting voice, int8
        objective.anchor(i, torch.from_numpy(np.ascontiguousarray(start, np.float32)))
        utterances.append((decoder.fixed, torch.from_numpy(s.row.astype(np.float32))))
    delta, offsets, opt = _learned(decoder, objective, lr, adapt_lr)
    history: list[Terms] = []
    t_steps = time.perf_counter()
    for step in range(steps):
        decoder.fixed, row = utterances[step % len(utterances)]
        style = torch.cat([row[:TIMBRE] + delta, row[TIMBRE:]])
        loss, terms = objective(decoder(style, offsets), step % len(utterances))
        history.append(terms)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if progress:
            progress(step + 1, steps, terms)
    # no forward pass only to score the final Δ (a full step's forward, ~1.5 s): the gate judges it
    t1 = time.perf_counter()
    channel = objective.channel.curve() if objective.channel is not None else None
    adapt = Adaptation({n: o.detach().numpy().astype(np.float32) for n, o in offsets.items()}) if offsets else None
    return Inversion(delta.detach().numpy().copy(), history[0], history[-1], history, t1 - t0,
                     (t1 - t_steps) / max(1, steps), channel, adapt)
