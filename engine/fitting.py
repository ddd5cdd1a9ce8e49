"""Duration fitting: whole-frame durations chosen inside the model, Rubber Band stretching, or both.

A line is a flat sequence of items (every token of every chunk, plus the pauses joining chunks),
each with a predicted float duration in frames of 25 ms. Fitting decides integer frames per item
(`model`), keeps the natural frames and time-scales the rendering (`stretch`), or moves pauses and
long segments in whole frames where nothing gets clamped and stretches only the rest (`hybrid`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FRAME = 600  # samples at 24 kHz per duration unit
# The model needs its own durations for the leading pad and the closing punctuation (shortening them
# in its input swallows the first phoneme: Whisper lost the first word of every take). So those
# tokens render at their predicted length and whole frames of silence are cut from the audio instead.
LEAD_KEEP_FRAMES = 6       # speech starts up to ~4 frames before the pad's end: keep 150 ms
TAIL_KEEP_FRAMES = 6       # after the last phoneme, keep 150 ms of the closing pause
FIXED = ("edge", "tail", "final")   # never moved by fitting (edges and tails are trimmed in the audio)
JOIN_PAUSE = {".": 10, "!": 10, "?": 10, ";": 8, ":": 8, ",": 6, "—": 6, "…": 8, " ": 3}

# Every symbol Kokoro's readers emit, in all eight languages, is in one class (tests/test_languages.py):
# the nasal tilde (French, Portuguese, Hindi) lengthens with its vowel, palatal/labial glides (Japanese
# kʲ, kᵝ) with the sonorants, Italian's long S with the fricatives, aspiration (Hindi kʰ) with its stop.
VOWELS = set("aeiouyɑɐɒæɔəɚɛɜɪʊʌɤɨɯøœAIOQWYᵊᵻ↓→↗↘ː\u0303")
SONORANTS = set("lmnŋɲɳɴɹɻɾrwjɥʋɰʎʲᵝ")
FRICATIVES = set("fvszʃʒθðhxɕʂçɣχʁβɸʝS")
PLOSIVES = set("pbtdkgɡcɟqʈɖʔTʦʣʧʤʨʥꭧʰ")   # and affricates: classify's default
PAUSES = set(";:,.!?—…\"()“”«»")

# How readily each class absorbs a change of length (lengthening: pauses and vowels take most,
# plosives almost none, as in slowed natural speech). Compression in-model stays near uniform,
# because shortening already-short consonants is what hurts intelligibility.
LENGTHEN_WEIGHT = {"pause": 4.0, "join": 4.0, "space": 1.0, "vowel": 2.0, "sonorant": 1.0,
                   "fricative": 0.6, "plosive": 0.15, "mark": 0.3, "edge": 0.0, "tail": 0.0, "final": 0.0}
COMPRESS_WEIGHT = {"pause": 1.6, "join": 1.6, "space": 1.0, "vowel": 1.0, "sonorant": 0.9,
                   "fricative": 0.9, "plosive": 0.8, "mark": 0.8, "edge": 0.0, "tail": 0.0, "final": 0.0}


def classify(ch: str) -> str:
    if ch in PAUSES:
        return "pause"
    if ch == " ":
        return "space"
    if ch in "ˈˌ":
        return "mark"
    if ch in VOWELS:
        return "vowel"
    if ch in SONORANTS:
        return "sonorant"
    if ch in FRICATIVES:
        return "fricative"
    return "plosive"


@dataclass
class Item:
    label: str          # the phoneme character, '<sil>' for chunk edges, '<pause>' between chunks
    kind: str           # see classify(), plus 'edge', 'tail' and 'join'
    predicted: float    # the duration stage's float prediction, frames
    chunk: int          # chunk index, -1 for a join pause
    keep: int | None = None  # for fixed items: frames kept in the output (the rest is trimmed)
    weight: float = 1.0      # its share of a fit's change, relative to its class (alternate takes vary it)

    @property
    def rendered(self) -> int:
        """Frames fed to the model: its own Round + Clip(≥1) (ONNX Round is half-to-even)."""
        return max(1, int(np.round(self.predicted)))

    @property
    def natural(self) -> int:
        """Frames this item occupies in the output at the natural pace."""
        return self.rendered if self.keep is None else min(self.rendered, self.keep)


def join_flap_dots(items: list[Item]) -> None:
    """A `.` inside a word after `r` is part of Hindi's flap (espeak-ng writes ड़/ढ़ as `r.`, which Kokoro
    learned): a sonorant, not a pause to stretch. A sentence's `.` is followed by a space or nothing."""
    for before, dot, after in zip(items, items[1:], items[2:]):
        if dot.label == "." and before.label == "r" and after.kind not in ("pause", "space") \
                and after.label != "<sil>":
            dot.kind = "sonorant"


def mark_fixed(items: list[Item]) -> None:
    """Leading pad → 'edge' keeping LEAD_KEEP_FRAMES; closing punctuation + trailing pad → 'tail'
    keeping TAIL_KEEP_FRAMES in all (the punctuation first). `items` is one chunk's tokens; a flap's
    `.` is classed with its `r` first (join_flap_dots)."""
    join_flap_dots(items)
    items[0].kind, items[0].keep = "edge", LEAD_KEEP_FRAMES
    i = len(items) - 1
    while i > 1 and (items[i].kind in ("pause", "space") or i == len(items) - 1):
        i -= 1
    budget = TAIL_KEEP_FRAMES
    for it in items[i + 1:]:
        it.kind = "tail"
        it.keep = min(it.rendered, budget)
        budget -= it.keep


def trims(items: list[Item]) -> tuple[int, int]:
    """(leading, trailing) frames to cut from one chunk's rendered audio."""
    lead = items[0].rendered - items[0].natural
    tail = sum(it.rendered - it.natural for it in items[1:] if it.kind == "tail")
    return lead, tail


def natural_frames(items: list[Item]) -> np.ndarray:
    return np.array([it.natural for it in items], dtype=np.int64)


def whole_frames(x: np.ndarray, total: int, mins: np.ndarray) -> np.ndarray:
    """Whole frames summing exactly to `total`, each ≥ its minimum, closest to x (largest remainder)."""
    x = np.maximum(x, mins)
    out = np.maximum(np.floor(x), mins).astype(np.int64)
    diff = total - int(out.sum())
    frac = x - np.floor(x)
    if diff > 0:
        order = np.argsort(-frac, kind="stable")
        k = 0
        while diff > 0:
            out[order[k % len(out)]] += 1
            diff -= 1
            k += 1
    elif diff < 0:
        order = np.argsort(frac, kind="stable")
        k, guard = 0, 0
        while diff < 0 and guard < 10 * len(out) * (1 - diff):
            i = order[k % len(out)]
            if out[i] > mins[i]:
                out[i] -= 1
                diff += 1
            k += 1
            guard += 1
    return out


def allocate(items: list[Item], total: int, weights: dict[str, float]) -> np.ndarray:
    """Integer frames per item summing to `total`: each item scaled by (1 + k·w), k found by bisection.

    Minimum one frame per token; edges stay as they are (they are silence the fit should not move).
    """
    d = np.array([max(it.predicted, 0.0) for it in items])
    nat = natural_frames(items).astype(float)
    w = np.array([weights[it.kind] * it.weight for it in items])
    fixed = np.array([it.kind in FIXED for it in items])
    mins = np.where(fixed, nat, 1).astype(np.int64)
    base = np.where(fixed, nat, np.maximum(d, 0.5))
    if total <= mins.sum():
        return mins.copy()

    def size(k: float) -> np.ndarray:
        return np.maximum(base * np.maximum(1.0 + k * w, 0.0), mins)

    lo, hi = -1.0 / max(w.max(), 1e-9), 1.0
    while size(hi).sum() < total:
        hi *= 2
    for _ in range(80):
        mid = (lo + hi) / 2
        if size(mid).sum() < total:
            lo = mid
        else:
            hi = mid
    return whole_frames(size(hi), total, mins)


def min_model_frames(items: list[Item]) -> int:
    return int(sum(it.natural if it.kind in FIXED else 1 for it in items))


def hybrid(items: list[Item], target_frames: float) -> np.ndarray:
    """Move pauses and long segments in whole frames, never below a safe size; the caller stretches
    the rest. Returns frames whose sum lies between natural and the target."""
    nat = natural_frames(items)
    delta = target_frames - nat.sum()
    kinds = [it.kind for it in items]
    cap = np.zeros(len(items))
    for i, (k, n) in enumerate(zip(kinds, nat)):
        if delta > 0:   # lengthen: pauses up to double, long vowels by a quarter
            if k in ("pause", "join"):
                cap[i] = n * items[i].weight
            elif k == "vowel" and n >= 3:
                cap[i] = np.floor(n * 0.25)
        else:           # shorten: pauses to half (≥ 2 frames), long vowels to 80 % (≥ 3 frames)
            if k in ("pause", "join") and n > 2:
                cap[i] = min(n - 2, np.floor(n * 0.5 * items[i].weight))
            elif k == "vowel" and n >= 4:
                cap[i] = min(n - 3, np.floor(n * 0.2))
    capacity = cap.sum()
    if capacity <= 0 or abs(delta) < 1:
        return nat.copy()
    move = int(np.floor(min(abs(delta), capacity)))
    share = cap * move / capacity
    steps = np.floor(share).astype(np.int64)
    rest = move - steps.sum()
    for i in np.argsort(-(share - steps), kind="stable")[:rest]:
        steps[i] += 1
    return nat + steps if delta > 0 else nat - steps


DECAY_FRAMES = 2   # frames after the last sound that still belong to its decay


def hold_final(items: list[Item], frames: np.ndarray, speech_end_frame: float) -> list[Item]:
    """Phrase-final lengthening that the decoder renders as near-silence is held at its own length.

    The duration stage gives a line's last vowel up to 30 frames; the decoder voices the start of it
    and fades the rest below hearing. Lengthening it would only add silence, and shortening it in
    the model was measured to swallow the last syllable (Whisper lost 准备 in 好的，我们马上准备。 at
    1.2× and 1.5×, kept with the item held). So the last spoken items that reach more than
    DECAY_FRAMES past where the sound really ended (`speech_end_frame`, in output frames of a
    rendering with `frames`) become 'final': fixed like the edges; the silence is then cut where
    the take is placed (fill.py), never stretched. Returns new items; the input is unchanged."""
    out = [Item(it.label, it.kind, it.predicted, it.chunk, it.keep, it.weight) for it in items]
    ends = np.cumsum(frames)
    i = max(j for j, it in enumerate(out) if it.kind not in FIXED)
    while i >= 0 and out[i].kind not in FIXED and ends[i] > speech_end_frame + DECAY_FRAMES:
        out[i].kind = "final"
        if ends[i] - frames[i] <= speech_end_frame:
            break
        i -= 1
    return out


def segment_bounds(items: list[Item], pinned: list[int]) -> list[tuple[int, int]]:
    """Item ranges [start, stop) between hit points: the first from the line's start, each later one
    from a pinned word's first phoneme, the last to the line's end."""
    cuts = [0, *pinned, len(items)]
    return list(zip(cuts, cuts[1:]))
