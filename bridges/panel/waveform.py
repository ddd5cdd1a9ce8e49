"""A picture of the take: the selected cue's slot as a box, the take's waveform inside it, its speech
span, hit points, lead/tail handles, the natural length as a ghost bar, and a playhead.

The numbers are Qt-free (TakeShape, ShapeCache, StripContent, StripLayout): a take's WAV is read once
per file version — keyed by (path, mtime, size) — into a min/max envelope and its speech span
(engine/speech.py, the rule the engine fills the slot by), so a redraw or a cue-table cell reads no
file. WaveformView paints that; the cue table's bar column (cue_table.py) paints from the same cache.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf
from PyQt6.QtCore import QPointF, QRect, QRectF, Qt
from PyQt6.QtGui import QColor, QFont, QImage, QPainter, QPen, QPolygonF
from PyQt6.QtWidgets import QSizePolicy, QWidget

from takefit.engine import pins as hitpoints
from takefit.engine.errors import InputError
from takefit.engine.speech import speech_span
from takefit.otio_adapters import rates

BUCKETS = 4096          # envelope resolution per take: finer than any strip is wide
CACHE_LIMIT = 1024      # takes kept (≈ 32 KB each)
STRIP_HEIGHT = 110

COLORS = {"background": "#f7f8fa", "box": "#ffffff", "border": "#4a5260", "handle": "#9aa4b2",
          "wave": "#3567b0", "speech": "#dde9fb", "speech_edge": "#1f5fbf", "pin": "#d9480f",
          "ghost": "#c3cad6", "ghost_over": "#e8a39c", "ruler": "#6b7380", "text": "#2b2f36",
          "hint": "#7a828f", "error": "#b3261e", "playhead": "#d6336c"}


# ---------------------------------------------------------------------------------------- the take
@dataclass(frozen=True)
class TakeShape:
    """What a take looks like: its min/max envelope, length and measured speech span; or why not."""
    path: Path
    seconds: float = 0.0
    sample_rate: int = 0
    bucket: int = 1                                  # samples per envelope bucket
    lo: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32), repr=False)
    hi: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32), repr=False)
    speech: tuple[float, float] | None = None        # seconds from the take's start
    error: str = ""

    def __post_init__(self):
        if len(self.lo) != len(self.hi):
            raise ValueError(f"envelope halves differ in length ({len(self.lo)} vs {len(self.hi)})")
        if not self.error and (self.sample_rate <= 0 or self.seconds <= 0):
            raise ValueError(f"a readable take needs a length and a rate, got {self.seconds} s at {self.sample_rate}")

    @property
    def peak(self) -> float:
        return float(max(np.max(self.hi, initial=0.0), -np.min(self.lo, initial=0.0)))

    def columns(self, seconds: float, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(min, max) per column for `n` equal columns covering the take's first `seconds`; columns past
        its end are NaN."""
        lo, hi = np.full(n, np.nan, np.float32), np.full(n, np.nan, np.float32)
        if n <= 0 or not len(self.hi):
            return lo, hi
        per_bucket = self.bucket / self.sample_rate
        edges = np.floor(np.linspace(0.0, seconds, n + 1) / per_bucket).astype(np.int64)
        starts, ends = np.minimum(edges[:-1], len(self.hi)), np.clip(edges[1:], 0, len(self.hi))
        inside = starts < len(self.hi)
        ends = np.maximum(ends, starts + 1)[inside]   # a column narrower than a bucket shows that bucket
        pairs = np.ravel(np.column_stack([starts[inside], np.minimum(ends, len(self.hi))]))
        # reduceat over [start, end) pairs; the appended element lets `end` be the array's length
        lo[inside] = np.minimum.reduceat(np.append(self.lo, 0.0), pairs)[::2]
        hi[inside] = np.maximum.reduceat(np.append(self.hi, 0.0), pairs)[::2]
        return lo, hi


def envelope(mono: np.ndarray, buckets: int = BUCKETS) -> tuple[np.ndarray, np.ndarray, int]:
    """(min, max, samples per bucket): about `buckets` buckets over the whole signal."""
    size = max(1, -(-len(mono) // buckets))
    n = -(-len(mono) // size)
    padded = np.full(n * size, mono[-1], np.float32)      # the last bucket padded with its own last value
    padded[:len(mono)] = mono
    blocks = padded.reshape(n, size)
    return blocks.min(axis=1), blocks.max(axis=1), size


def read_shape(path: Path) -> TakeShape:
    """A take's shape from its WAV; a file that cannot be read gives a shape whose `error` says why."""
    try:
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (OSError, RuntimeError, ValueError) as e:       # soundfile's LibsndfileError is a RuntimeError
        return TakeShape(Path(path), error=f"cannot read the take {Path(path).name} ({e}); render the cue again")
    if not len(audio):
        return TakeShape(Path(path), error=f"the take {Path(path).name} holds no audio; render the cue again")
    mono = audio.mean(axis=1) if audio.shape[1] > 1 else audio[:, 0]
    lo, hi, size = envelope(mono)
    span = speech_span(mono, rate)
    speech = None if span is None else (span[0] / rate, span[1] / rate)
    return TakeShape(Path(path), len(mono) / rate, rate, size, lo, hi, speech)


class ShapeCache:
    """Take shapes by file: `load` reads a file only when its (mtime, size) changed; `peek` never
    touches the disk (for painting)."""

    def __init__(self, limit: int = CACHE_LIMIT):
        self.limit = limit
        self._entries: OrderedDict[Path, tuple[tuple, TakeShape]] = OrderedDict()

    def load(self, path: Path) -> TakeShape:
        path = Path(path)
        try:
            st = path.stat()
        except OSError as e:
            shape = TakeShape(path, error=f"the take {path.name} is gone ({e.strerror}); render the cue again")
            self._keep(path, ("missing",), shape)
            return shape
        key = (st.st_mtime_ns, st.st_size)
        found = self._entries.get(path)
        if found is not None and found[0] == key:
            self._entries.move_to_end(path)
            return found[1]
        shape = read_shape(path)
        self._keep(path, key, shape)
        return shape

    def peek(self, path: Path | None) -> TakeShape | None:
        found = self._entries.get(Path(path)) if path is not None else None
        return found[1] if found is not None else None

    def _keep(self, path: Path, key: tuple, shape: TakeShape) -> None:
        self._entries[path] = (key, shape)
        self._entries.move_to_end(path)
        while len(self._entries) > self.limit:
            self._entries.popitem(last=False)


# ---------------------------------------------------------------------------------------- the cue
@dataclass(frozen=True)
class PinMark:
    word: str
    asked: float                  # seconds from the slot's start, as the pin says
    placed: float | None = None   # where the take put the word's sound, when the render tells


def pin_marks(text: str, rate: Fraction | None, reported: list[dict] | tuple = ()) -> tuple[PinMark, ...]:
    """The hit points to draw: the render's own (asked and placed) when it reported them, else the
    ones the text asks for. A text whose pins do not parse shows none (the row names the problem)."""
    if reported:
        return tuple(PinMark(str(p["word"]), float(p["asked"]), float(p["placed"])) for p in reported)
    try:
        plain, found = hitpoints.extract(text, rate, lambda s: s)
    except InputError:
        return ()
    words = [re.match(r"\W*(\w[\w'’-]*)", plain[p.offset:]) for p in found]
    return tuple(PinMark(w[1] if w else "", float(p.seconds)) for p, w in zip(found, words))


@dataclass(frozen=True)
class StripContent:
    """Everything the strip shows for one cue (seconds from the slot's start)."""
    cue_id: str
    slot: float                       # the slot's length; 0 for a point marker
    lead: float = 0.0
    tail: float = 0.0
    natural: float | None = None      # the line's speech at its own pace, when the daemon has said
    take: Path | None = None
    pins: tuple[PinMark, ...] = ()
    start_tc: str = ""
    end_tc: str = ""

    def __post_init__(self):
        if self.slot < 0 or self.lead < 0 or self.tail < 0:
            raise ValueError(f"{self.cue_id}: slot, lead and tail must not be negative "
                             f"(slot {self.slot}, lead {self.lead}, tail {self.tail})")
        if self.natural is not None and self.natural < 0:
            raise ValueError(f"{self.cue_id}: natural length {self.natural} must not be negative")


def content_of(row, timecode=None) -> StripContent:
    """The strip's content for a panel row (session.Row); `timecode(frame)` labels a cue frame (the
    session's: the timeline's start, drop-frame where it is)."""
    cue = row.cue
    label = timecode or (lambda frame: rates.timecode(frame, cue.rate))
    return StripContent(cue.id, float(row.slot_seconds or 0.0), float(cue.lead), float(cue.tail),
                        row.natural or None, row.take, pin_marks(cue.text, cue.rate, getattr(row, "pins", ())),
                        label(cue.start), label(cue.end) if cue.duration else "")


@dataclass(frozen=True)
class StripLayout:
    """Seconds → pixels: the time axis runs from the slot's start over `axis_seconds`."""
    width: int
    axis_seconds: float
    left: int = 14
    right: int = 14

    def __post_init__(self):
        if self.axis_seconds <= 0:
            raise ValueError(f"axis_seconds must be positive, got {self.axis_seconds}")

    @staticmethod
    def fitting(width: int, content: StripContent, shape: TakeShape | None) -> StripLayout:
        """Room for the slot, the take, a natural length past the slot and every hit point, plus 4 %."""
        natural_end = content.lead + content.natural if content.natural else 0.0
        longest = max([content.slot, natural_end, shape.seconds if shape else 0.0,
                       *(p.asked for p in content.pins), *(p.placed or 0.0 for p in content.pins)])
        return StripLayout(width, max(longest, 0.5) * 1.04)

    def x(self, seconds: float) -> float:
        return self.left + seconds / self.axis_seconds * (self.width - self.left - self.right)

    def px(self, seconds: float) -> int:
        """The pixel column a time is drawn in (lines and edges sit on whole pixels: crisp, testable)."""
        return round(self.x(seconds))


def ruler_step(axis_seconds: float) -> float:
    """Tick spacing giving 4–12 labelled ticks."""
    for step in (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0):
        if axis_seconds / step <= 12:
            return step
    return 120.0


def coverage(lo: np.ndarray, hi: np.ndarray, rows: int, gain: float) -> np.ndarray:
    """How much of each pixel (rows × columns, 0..1) the waveform covers: per column the band from
    max·gain above the middle to min·gain below it, at least one pixel high (silence is a line);
    fractional ends give antialiased edges. NaN columns (past the take) stay empty."""
    mid = rows / 2
    top = mid - np.maximum(np.nan_to_num(hi), 0.0) * gain - 0.5
    bottom = mid - np.minimum(np.nan_to_num(lo), 0.0) * gain + 0.5
    y = np.arange(rows, dtype=np.float64)[:, None]
    cover = np.clip(np.minimum(y + 1, bottom[None, :]) - np.maximum(y, top[None, :]), 0.0, 1.0)
    cover[:, np.isnan(hi)] = 0.0
    return cover


# ---------------------------------------------------------------------------------------- the widget
def argb_image(cover: np.ndarray, color: QColor) -> QImage:
    """`color` with `cover` as its alpha, as a QImage (a copy: it owns its pixels)."""
    rgb = (color.red() << 16) | (color.green() << 8) | color.blue()
    pixels = np.ascontiguousarray((np.round(cover * 255).astype(np.uint32) << 24) | rgb)
    rows, cols = pixels.shape
    return QImage(pixels.data, cols, rows, 4 * cols, QImage.Format.Format_ARGB32).copy()


class WaveformView(QWidget):
    """The selected cue's slot and take. `show_content` sets what to draw (reading the take once, via
    the cache); `set_playhead` moves the playhead while the take plays."""
    HEADER, BOX_TOP, BOX_BOTTOM, GHOST = 16, 20, 78, 82       # y positions; the ruler sits below the ghost

    def __init__(self, shapes: ShapeCache | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.shapes = shapes or ShapeCache()
        self.content: StripContent | None = None
        self.shape: TakeShape | None = None
        self.playhead: float | None = None
        self.setObjectName("waveform")
        self.setMinimumHeight(STRIP_HEIGHT)
        self.setMaximumHeight(STRIP_HEIGHT)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def show_content(self, content: StripContent | None) -> None:
        same_take = self.content is not None and content is not None and self.content.take == content.take
        self.content = content
        self.shape = self.shapes.load(content.take) if content is not None and content.take else None
        if not same_take:
            self.playhead = None
        self.update()

    def set_playhead(self, seconds: float | None, playing: Path | None = None) -> None:
        """The playhead at `seconds` into the take; only while `playing` (when given) is the shown take."""
        if seconds is not None and playing is not None and (self.content is None or self.content.take is None
                                                            or Path(playing) != self.content.take):
            seconds = None
        if seconds is not None and self.shape is not None and not self.shape.error:
            seconds = min(max(seconds, 0.0), self.shape.seconds)
        if seconds != self.playhead:
            self.playhead = seconds
            self.update()

    @property
    def message(self) -> str:
        """The line shown where there is no waveform (empty while a take is drawn)."""
        if self.content is None:
            return "select a cue to see its slot and take"
        if self.shape is not None and self.shape.error:
            return self.shape.error
        if self.shape is None:
            return "audition to see the take"
        return ""

    def layout_now(self) -> StripLayout | None:
        if self.content is None:
            return None
        return StripLayout.fitting(self.width(), self.content, self.shape if self.shape and not self.shape.error
                                   else None)

    # ------------------------------------------------------------------ painting
    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor(COLORS["background"]))
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        p.setFont(font)
        lay = self.layout_now()
        if lay is None:
            self._text(p, QRectF(0, 0, self.width(), self.height()), self.message, "hint")
            p.end()
            return
        c = self.content
        # the slot: columns px(0)..px(slot), rows BOX_TOP..BOX_BOTTOM, outline included
        box = QRect(lay.px(0), self.BOX_TOP, max(lay.px(c.slot) - lay.px(0), 1), self.BOX_BOTTOM - self.BOX_TOP)
        p.fillRect(box.adjusted(0, 0, 1, 1), QColor(COLORS["box"]))
        shape = self.shape if self.shape is not None and not self.shape.error else None
        if shape is None:
            self._text(p, QRectF(box), self.message, "error" if self.shape is not None else "hint")
        self._paint_speech(p, lay, shape, edges=False)
        self._paint_handles(p, lay, c)
        self._paint_speech(p, lay, shape, edges=True)      # measured edges over the handles they should meet
        if shape is not None:
            self._paint_wave(p, lay, shape)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)      # the box on whole pixels, square corners
        p.setPen(QPen(QColor(COLORS["border"]), 1))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(box)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        self._paint_ghost(p, lay, c)
        self._paint_pins(p, lay, c)
        self._paint_header(p, lay, c, shape)
        self._paint_ruler(p, lay)
        if self.playhead is not None:
            x = lay.px(self.playhead) + 0.5
            p.setPen(QPen(QColor(COLORS["playhead"]), 2))
            p.drawLine(QPointF(x, self.BOX_TOP - 3), QPointF(x, self.BOX_BOTTOM + 3))
        p.end()

    def _text(self, p: QPainter, rect: QRectF, text: str, color: str,
              align=Qt.AlignmentFlag.AlignCenter) -> None:
        p.setPen(QColor(COLORS[color]))
        p.drawText(rect, int(align | Qt.TextFlag.TextSingleLine), p.fontMetrics().elidedText(
            text, Qt.TextElideMode.ElideMiddle, int(rect.width()) - 8))

    def _paint_speech(self, p: QPainter, lay: StripLayout, shape: TakeShape | None, edges: bool) -> None:
        """The measured speech span: shaded (`edges` False) or its first and last columns as lines."""
        if shape is None or shape.speech is None:
            return
        x0, x1 = lay.px(shape.speech[0]), lay.px(shape.speech[1])
        if not edges:
            p.fillRect(QRectF(x0, self.BOX_TOP + 1, max(x1 - x0, 1), self.BOX_BOTTOM - self.BOX_TOP - 1),
                       QColor(COLORS["speech"]))
            return
        p.setPen(QPen(QColor(COLORS["speech_edge"]), 1))
        for x in (x0, x1):
            p.drawLine(QPointF(x + 0.5, self.BOX_TOP + 1), QPointF(x + 0.5, self.BOX_BOTTOM))

    def _paint_wave(self, p: QPainter, lay: StripLayout, shape: TakeShape) -> None:
        """One pixel column per envelope column, drawn as an image: a 60 s take is as cheap as a 2 s one."""
        x0 = lay.px(0)
        n = max(1, lay.px(shape.seconds) - x0)
        lo, hi = shape.columns(shape.seconds, n)             # one (min, max) per pixel column of the take
        rows = self.BOX_BOTTOM - self.BOX_TOP - 1             # the box's inside
        gain = (rows / 2 - 2) * 0.95 / max(shape.peak, 0.05)  # fit the loudest take; keep silence flat
        p.drawImage(QPointF(x0, self.BOX_TOP + 1), argb_image(coverage(lo, hi, rows, gain), QColor(COLORS["wave"])))

    def _paint_handles(self, p: QPainter, lay: StripLayout, c: StripContent) -> None:
        if c.slot <= 0:
            return
        pen = QPen(QColor(COLORS["handle"]), 1, Qt.PenStyle.DashLine)
        p.setPen(pen)
        for t in (c.lead, c.slot - c.tail):
            if 0 < t < c.slot:
                x = lay.px(t) + 0.5
                p.drawLine(QPointF(x, self.BOX_TOP + 1), QPointF(x, self.BOX_BOTTOM))

    def _paint_ghost(self, p: QPainter, lay: StripLayout, c: StripContent) -> None:
        if not c.natural:
            return
        # the speech at its own pace, from the lead handle, against the room the handles leave it
        end = c.slot - c.tail if c.slot else 0.0
        x0, xn, xs = lay.px(c.lead), lay.px(c.lead + c.natural), lay.px(end)
        y, h = self.GHOST, 5
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(COLORS["ghost"]))
        p.drawRect(QRectF(x0, y, min(xn, xs) - x0 if c.slot else xn - x0, h))
        if c.slot and xn > xs:                              # too long for the slot: the overflow in red
            p.setBrush(QColor(COLORS["ghost_over"]))
            p.drawRect(QRectF(xs, y, xn - xs, h))
        p.setPen(QPen(QColor(COLORS["ruler"]), 1))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(QRectF(x0 + 0.5, y + 0.5, xn - x0, h - 1))

    def _paint_pins(self, p: QPainter, lay: StripLayout, c: StripContent) -> None:
        color = QColor(COLORS["pin"])
        for pin in c.pins:
            x = lay.px(pin.asked) + 0.5
            p.setPen(QPen(color, 1, Qt.PenStyle.DashLine))
            p.drawLine(QPointF(x, self.BOX_TOP + 1), QPointF(x, self.BOX_BOTTOM))
            if pin.placed is not None:                      # where the word's sound was put: a solid marker
                xp = lay.px(pin.placed) + 0.5
                p.setPen(Qt.PenStyle.NoPen)
                p.setBrush(color)
                p.drawPolygon(QPolygonF([QPointF(xp - 4, self.BOX_TOP + 1), QPointF(xp + 4, self.BOX_TOP + 1),
                                         QPointF(xp, self.BOX_TOP + 7)]))
            label = f"{pin.word} @{pin.asked:.2f}"
            room = QRectF(x + 3, self.BOX_TOP + 8, p.fontMetrics().horizontalAdvance(label) + 4, 12)
            p.fillRect(room, QColor(255, 255, 255, 200))                 # readable over the waveform
            self._text(p, room.adjusted(2, 0, 8, 0), label, "pin", Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)

    def _paint_header(self, p: QPainter, lay: StripLayout, c: StripContent, shape: TakeShape | None) -> None:
        left = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        x0, xs = lay.px(0), lay.px(c.slot)
        self._text(p, QRectF(x0, 1, 240, self.HEADER), f"{c.cue_id}  {c.start_tc}", "text", left)
        if c.end_tc:
            self._text(p, QRectF(xs - 160, 1, 160, self.HEADER), c.end_tc, "text", right)
        facts = [f"slot {c.slot:.2f} s" if c.slot else "point marker (no slot)"]
        if shape is not None and shape.speech is not None:
            facts.append(f"speech {shape.speech[0]:.2f}–{shape.speech[1]:.2f} s")
        if c.natural:
            room = c.slot - c.lead - c.tail
            facts.append(f"natural speech {c.natural:.2f} s" + (f" (ratio {room / c.natural:.2f}×)" if c.slot else ""))
        self._text(p, QRectF(x0 + 150, 1, max(xs - x0 - 300, 200), self.HEADER), " · ".join(facts), "hint")

    def _paint_ruler(self, p: QPainter, lay: StripLayout) -> None:
        step = ruler_step(lay.axis_seconds)
        top = self.GHOST + 8
        p.setPen(QPen(QColor(COLORS["ruler"]), 1))
        p.drawLine(QPointF(lay.left, top + 0.5), QPointF(self.width() - lay.right, top + 0.5))
        for i in range(int(lay.axis_seconds / step) + 1):
            t = i * step
            x = lay.px(t) + 0.5
            p.drawLine(QPointF(x, top), QPointF(x, top + 4))
            label = f"{t:g} s" if i else "0"
            self._text(p, QRectF(x - 30, top + 4, 60, self.height() - top - 4), label, "ruler")
