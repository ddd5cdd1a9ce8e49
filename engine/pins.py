"""Hit points: `{@1.2s}`, `{@1200ms}` or `{@30f}` right before a word pins that word's onset to a
time inside the slot (from the slot's first frame; frames at the timeline's rate).

    "Ready? {@1.5s}Go!"        the word "Go" starts 1.5 s after the slot starts
    "三，二，一，{@48f}开始！"     "开始" starts at frame 48 of the slot

The markup is removed before anything reads the text; each pin keeps the offset of the word it
stands before in the cleaned text (what the frontend reads), so the engine can find that word's
first phoneme.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from .errors import InputError

PIN = re.compile(r"\{@\s*([^{}]*?)\s*\}")
_VALUE = re.compile(r"^(\d+(?:\.\d+)?|\.\d+)\s*(s|ms|f)?$", re.I)
MAX_PINS = 64
_SENTINEL = "\ue000"   # private use: the cleaner keeps it, no text contains it
SYNTAX = "write {@1.2s}, {@1200ms} or {@30f} (frames at the timeline rate) right before the word"


@dataclass(frozen=True)
class Pin:
    offset: int          # character offset of the pinned word in the cleaned text
    seconds: Fraction    # from the slot's start
    written: str         # as the user wrote it, for messages

    def __post_init__(self):
        if self.seconds < 0:
            raise InputError(f"hit point {self.written}: the time must not be negative")


def frame_rate(target, given: Fraction | None) -> Fraction | None:
    """The rate hit points in frames count in: a frames target's own rate, else the one given."""
    return target.rate if target is not None and target.kind == "frames" else given


def _seconds(value: str, rate: Fraction | None, written: str) -> Fraction:
    m = _VALUE.match(value)
    if not m:
        raise InputError(f"bad hit point {written}: {SYNTAX}")
    number, unit = Fraction(m[1]), (m[2] or "s").lower()
    if unit == "ms":
        return number / 1000
    if unit == "f":
        if rate is None:
            raise InputError(f"hit point {written} is in frames but no frame rate is known: give the target as "
                             f"frames@rate (--frames N@RATE), the timeline's rate (--rate), or write seconds")
        if number.denominator != 1:
            raise InputError(f"hit point {written}: frames are whole numbers")
        return number / rate
    return number


def extract(text: str, rate: Fraction | None, clean) -> tuple[str, list[Pin]]:
    """(the text without pin markup, the pins in order). `clean` is the frontend's text cleaner, so
    each pin's offset refers to the text the frontend will read."""
    pins, plain, pos = [], "", 0
    marks = list(PIN.finditer(text))
    if len(marks) > MAX_PINS:
        raise InputError(f"{len(marks)} hit points in one line; at most {MAX_PINS}")
    stripped_marks = []
    for m in marks:
        plain += text[pos:m.start()]
        stripped_marks.append((len(plain), m[0], _seconds(m[1], rate, m[0])))
        pos = m.end()
    plain += text[pos:]
    if "{@" in plain:
        raise InputError(f"unclosed hit point in {text!r}: {SYNTAX}")
    cleaned = clean(plain) if plain.strip() else ""
    for at, written, seconds in stripped_marks:
        rest = plain[at:]
        if not rest.strip():
            raise InputError(f"hit point {written} stands at the end of the line: {SYNTAX}")
        # the cleaned prefix plus a sentinel: its position is where the rest starts in `cleaned`
        offset = len(clean(plain[:at] + _SENTINEL)) - 1 if plain[:at].strip() else 0
        while offset < len(cleaned) and cleaned[offset] == " ":
            offset += 1
        pins.append(Pin(offset, seconds, written))
    return plain, pins


@dataclass(frozen=True)
class PinnedWord:
    pin: Pin
    word: str            # the word as the frontend read it
    phoneme: int         # offset of its first phoneme in the reading's phoneme string


def locate(reading, pins: list[Pin]) -> tuple[list[PinnedWord], list[str]]:
    """Each pin's word in the reading: words are found in order in the cleaned text and their
    phonemes in order in the phoneme string, so repeated words resolve to the right occurrence.
    A pin inside a word (Chinese words are segmented by jieba) moves to the word's start, with a note."""
    words, cursor_t, cursor_p = [], 0, 0
    for seg in reading.segments:
        for w in seg.words:
            if isinstance(w, str) or not w.phonemes.strip() or not re.search(r"\w", w.text):
                continue
            at = reading.text.find(w.text, cursor_t)
            ph = reading.phonemes.find(w.phonemes, cursor_p)
            if at < 0 or ph < 0:
                continue
            words.append((at, at + len(w.text), ph, w.text))
            cursor_t, cursor_p = at + len(w.text), ph + len(w.phonemes)
    out, notes = [], []
    for pin in pins:
        hit = next((w for w in words if w[1] > pin.offset), None)
        if hit is None:
            raise InputError(f"hit point {pin.written} stands before no word that is spoken: {SYNTAX}")
        start, end, ph, text = hit
        if start < pin.offset:
            notes.append(f"hit point {pin.written} falls inside the word {text!r}; it pins the word's start")
        out.append(PinnedWord(pin, text, ph))
    return out, notes
