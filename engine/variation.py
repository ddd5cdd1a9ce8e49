"""Alternate takes: another read of the same line, drawn from a seed, the length still exact.

Rendering is deterministic, so an editor who dislikes a read needs another one to choose from.
Variant 1 is the standard read and never comes here. Variant N ≥ 2 draws, from a seed made of N and
the line's phonemes (numpy's Generator: the same line and N always read the same way, so takes are
cacheable), a small delivery change of the kind two readings by one speaker differ by:

    pause placement   each punctuation pause up to two frames longer or one shorter (whole frames
                      of the model's pause token: four more rendered a murmur, not silence, and a
                      longer word gap draws out the next sound), and its own share of the time a fit
                      adds or takes (Item.weight)
    pace split        the first part of the line faster and the rest slower (or the reverse), split
                      at the pause nearest its middle; the line's natural length is kept
    pitch contour     another key (within ±1 semitone), a livelier or flatter range, a different
                      declination and phrase-final movement, and a slow contour of its own; in a
                      tonal language (Mandarin) only the key and a gentler range: there the
                      contour carries the words (with the full change Whisper base missed more
                      characters)
    emotion intensity the line's emotion, when it has one, 0.8-1.2 times as strong

Everything here is a pure function of (Variation, input); the engine applies it where it builds the
durations (Engine.plan) and between the prosody and decoder stages (VariantShaper). The fit then
meets the slot exactly as for the standard read, and the speech fills it the same way (fill.py).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import numpy as np

from .emotion.delivery import F0_MAX, F0_MIN, Delivery, scaled_delivery
from .fitting import FIXED, Item, whole_frames
from .kokoro.prosody import voicing_weight

# The ranges each variant draws from: sized to be heard (bench/variants.py) yet stay one speaker's
# natural range of readings, which Whisper transcribes as well as the standard read.
PITCH_SHIFT = (0.35, 0.9)      # semitones, either sign: another key, within ±1 semitone
PITCH_RANGE = (0.85, 1.2)      # factor on pitch excursions around the line's mean
TONAL_RANGE = (0.92, 1.08)     # ... in a tonal language
DECLINATION = (-1.2, 0.4)      # semitones from a phrase's start to its end (speech mostly falls)
FINAL = (-1.0, 1.0)            # semitones of rise (+) or fall (−) over a phrase's last third
CONTOUR = (0.4, 0.8)           # semitones of slow movement: which words ride high or low
CONTOUR_KNOT = 32              # F0 samples between the contour's knots (2 per 25 ms frame: 0.4 s)
PACE_SPLIT = (0.05, 0.09)      # the two parts' rate differs by ±this; the sign alternates with N
PAUSE_EXTRA = (-1, 2)          # whole frames (25 ms) on a punctuation token (+4 measured: a murmur)
JOIN_EXTRA = (-2, 3)           # ... on the silence between chunks (inserted zeros: any length is silent)
FIT_SHARE = (0.4, 1.0)         # a pause's share of a fit's change (Item.weight), at most the standard's
INTENSITY = (0.8, 1.2)
SPEECH_KINDS = ("vowel", "sonorant", "fricative", "plosive", "mark")
PAUSE_KINDS = ("pause", "join")


def line_seed(variant: int, tokens) -> int:
    """The seed of one line's variant: blake2b over N and the line's phonemes (or token ids), so it
    is the same on every machine and run, and different for every line."""
    data = tokens.encode("utf-8") if isinstance(tokens, str) else np.asarray(tokens, np.int64).tobytes()
    digest = hashlib.blake2b(int(variant).to_bytes(4, "little") + data, digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1          # numpy seeds are non-negative


@dataclass(frozen=True)
class Variation:
    """One variant's delivery change for one line; `draw` makes it, the functions below apply it."""

    variant: int
    seed: int
    pitch_shift: float      # semitones on the mean pitch
    pitch_range: float      # factor on excursions
    declination: float      # semitones, phrase start → end
    final: float            # semitones over a phrase's last third
    contour: float          # semitones of slow contour
    pace_split: float       # first part this much faster (+) or slower (−); the rest the opposite
    intensity: float        # factor on the emotion's strength

    def __post_init__(self):
        if isinstance(self.variant, bool) or not isinstance(self.variant, int) or self.variant < 2:
            raise ValueError(f"a Variation is for variants 2 and up (1 is the standard read), got {self.variant!r}")
        if not abs(self.pitch_shift) <= 1.0:
            raise ValueError(f"pitch shift {self.pitch_shift} st: at most ±1 semitone")
        if not (0.5 <= self.pitch_range <= 2.0 and 0.5 <= self.intensity <= 1.5 and abs(self.pace_split) < 0.5):
            raise ValueError(f"variation out of range: {self}")

    @classmethod
    def draw(cls, variant: int, seed_tokens, tonal: bool = False) -> Variation:
        """Variant `variant` (≥ 2) of the line whose phonemes (or token ids) are `seed_tokens`;
        `tonal`: the line has a tonal language in it (its pitch shape is left to the tones)."""
        seed = line_seed(variant, seed_tokens)
        rng = np.random.default_rng(seed)
        sign = rng.choice((-1.0, 1.0))
        shape = 0.0 if tonal else 1.0
        return cls(variant=variant, seed=seed, pitch_shift=float(sign * rng.uniform(*PITCH_SHIFT)),
                   pitch_range=float(rng.uniform(*(TONAL_RANGE if tonal else PITCH_RANGE))),
                   declination=shape * float(rng.uniform(*DECLINATION)), final=shape * float(rng.uniform(*FINAL)),
                   contour=shape * float(rng.uniform(*CONTOUR)),
                   # even variants speed up first, odd ones slow down first: 2 and 3 never share the idea
                   pace_split=float((1.0 if variant % 2 == 0 else -1.0) * rng.uniform(*PACE_SPLIT)),
                   intensity=float(rng.uniform(*INTENSITY)))

    def rng(self, purpose: int) -> np.random.Generator:
        """An independent stream per use (pauses, contour of chunk k …), so one does not shift another."""
        return np.random.default_rng([self.seed, purpose])


# ------------------------------------------------------------------ durations
def vary_items(items: list[Item], v: Variation) -> list[Item]:
    """The line's items with this variant's pauses and pace; fixed items (edges, tails) untouched.
    The movable frames keep their natural total, so the line's natural length stays as it was."""
    out = [replace(it) for it in items]
    movable = [i for i, it in enumerate(out) if it.kind not in FIXED]
    if not movable:
        return out
    total = sum(out[i].rendered for i in movable)
    _vary_pauses(out, v.rng(1))
    speech = [i for i in movable if out[i].kind in SPEECH_KINDS]
    if speech:
        budget = total - sum(out[i].rendered for i in movable if out[i].kind not in SPEECH_KINDS)
        frames = _paced_frames(np.array([out[i].predicted for i in speech]), _split_point(out, speech),
                               v.pace_split, max(budget, len(speech)))
        for i, f in zip(speech, frames):
            out[i].predicted = float(f)
    return out


def _paced_frames(d: np.ndarray, cut: int, split: float, budget: int) -> np.ndarray:
    """Whole frames (≥ 1 each, `budget` in all) for speech durations `d`, the items before `cut`
    read (1 + split) times as fast and the rest (1 − split) times. Each part gets its own whole
    frames: most phonemes last one or two frames, so a line-wide rounding would lose the split."""
    wanted = d * np.where(np.arange(len(d)) < cut, 1.0 / (1.0 + split), 1.0 / (1.0 - split))
    parts = [p for p in (wanted[:cut], wanted[cut:]) if len(p)]
    sums = np.array([p.sum() for p in parts])
    shares = whole_frames(sums * budget / max(sums.sum(), 1e-9), budget, np.array([len(p) for p in parts]))
    return np.concatenate([whole_frames(p * n / max(p.sum(), 1e-9), int(n), np.ones(len(p), np.int64))
                           for p, n in zip(parts, shares)])


def _vary_pauses(items: list[Item], rng: np.random.Generator) -> None:
    """Each punctuation pause (a model token) up to two frames longer or one shorter, never past
    twice its own length, and each its own share of what a fit adds or takes (Item.weight) — small
    enough that a fit, too, keeps a token within twice the model's own length (hybrid's cap for
    the standard read): longer, the model fills it with a murmur. Word gaps are left alone: a longer
    space token draws out the next consonant rather than opening a silence."""
    for it in items:
        if it.kind not in PAUSE_KINDS:
            continue
        own = it.rendered
        lo, hi = PAUSE_EXTRA if it.kind == "pause" else JOIN_EXTRA
        extra = int(rng.integers(lo, hi + 1))
        if it.kind == "pause":
            extra = min(extra, own)
        it.predicted = float(max(1, own + extra))
        share = float(rng.uniform(*FIT_SHARE))
        it.weight = share if it.kind == "join" else max(0.0, min(share, (2 * own - it.rendered) / it.rendered))


def _split_point(items: list[Item], speech: list[int]) -> int:
    """Where the pace changes, as an index into `speech`: the pause nearest the middle of the speech
    time when one lies in its middle 40 %, else the middle itself."""
    d = np.array([items[i].predicted for i in speech])
    mid = d.sum() / 2
    elapsed = np.cumsum(d) - d
    after_pause = [k for k in range(1, len(speech))
                   if any(items[j].kind in PAUSE_KINDS for j in range(speech[k - 1] + 1, speech[k]))]
    near = [k for k in after_pause if abs(elapsed[k] - mid) <= 0.2 * d.sum()]
    return min(near, key=lambda k: abs(elapsed[k] - mid)) if near else int(np.searchsorted(elapsed, mid))


# ------------------------------------------------------------------ pitch and emotion
def vary_delivery(d: Delivery | None, v: Variation) -> Delivery | None:
    """The emotion's delivery `v.intensity` times as strong; no emotion stays none."""
    if d is None or d.is_neutral:
        return d
    return scaled_delivery(d, v.intensity)


def vary_f0(f0: np.ndarray, v: Variation, chunk: int = 0) -> np.ndarray:
    """The F0 curve (Hz, the prosody stage's output) with this variant's key, range, declination,
    phrase-final movement and slow contour, in log frequency; unvoiced frames untouched (weighted
    by voicing, as emotion's shape_f0, so the decoder's voicing decisions do not move)."""
    f = np.asarray(f0, dtype=np.float64)
    flat = f.reshape(-1)
    w = voicing_weight(flat)
    if w.max() < 1.0:
        return f0
    voiced = w >= 1.0
    idx = np.flatnonzero(voiced)
    st = 12.0 * np.log2(np.maximum(flat, 1.0))
    mu = float(np.mean(st[voiced]))
    pos = np.clip((np.arange(len(flat)) - idx[0]) / max(idx[-1] - idx[0], 1), 0.0, 1.0)   # 0 → 1 over the phrase
    target = (mu + v.pitch_shift + v.pitch_range * (st - mu) + v.declination * (pos - 0.5)
              + v.final * np.clip(3.0 * pos - 2.0, 0.0, 1.0) + _slow_contour(len(flat), v.contour, v.rng(100 + chunk)))
    new = st + w * (target - st)
    out = np.where(w > 0, np.clip(2.0 ** (new / 12.0), min(F0_MIN, flat.max()), F0_MAX), flat)
    return out.reshape(f.shape).astype(np.float32)


def _slow_contour(n: int, amount: float, rng: np.random.Generator) -> np.ndarray:
    """A smooth random contour, knots every CONTOUR_KNOT samples (cosine-eased between them)."""
    knots = rng.uniform(-1.0, 1.0, n // CONTOUR_KNOT + 2)
    x = np.arange(n) / CONTOUR_KNOT
    k = np.floor(x).astype(int)
    ease = (1.0 - np.cos(np.pi * (x - k))) / 2.0
    return amount * (knots[k] + (knots[k + 1] - knots[k]) * ease)


@dataclass(frozen=True)
class VariantShaper:
    """What KokoroModel.render applies between the prosody and decoder stages for a variant: the
    emotion's shaping first (when the line has one), then the variant's pitch."""

    variation: Variation
    chunk: int = 0
    inner: object | None = None      # the emotion's ProsodyShaper, or None

    def __call__(self, f0: np.ndarray, energy: np.ndarray, f0_ref: np.ndarray | None = None,
                 energy_ref: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        if self.inner is not None:
            f0, energy = self.inner(f0, energy, f0_ref, energy_ref)
        return vary_f0(f0, self.variation, self.chunk), energy


__all__ = ["VariantShaper", "Variation", "line_seed", "vary_delivery", "vary_f0", "vary_items"]
