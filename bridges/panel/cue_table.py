"""The cue table: time, slot, character, editable text, the ratio the fit asks for (colour-coded),
a small picture of the fill (the slot as a box, the take's speech as a bar in it), status and take."""
from __future__ import annotations

from PyQt6.QtCore import QAbstractTableModel, QModelIndex, QRectF, QSize, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QPainter, QPen
from PyQt6.QtWidgets import QAbstractItemView, QHeaderView, QStyledItemDelegate, QTableView, QWidget

from .session import GREEN, AMBER, Row, Session, band
from .waveform import ShapeCache, TakeShape

COLUMNS = ("Cue", "Time", "Slot", "Character", "Text", "Ratio", "Fill", "Status", "Take")
TEXT, RATIO, FILL, STATUS, TAKE = 4, 5, 6, 7, 8
FILL_WIDTH = 96
# the fill cell: slot box, the take's speech (filled), the natural length before a take (hollow, by band)
FILL_COLORS = {"box": QColor("#4a5260"), "inside": QColor("#ffffff"), "speech": QColor("#3567b0"),
               "error": QColor("#b3261e"), "green": QColor("#2f8a3a"), "amber": QColor("#a86f00"),
               "red": QColor("#b3261e"), None: QColor("#7a828f")}
BAND_COLORS = {"green": QColor("#bfe8c0"), "amber": QColor("#f6d98f"), "red": QColor("#f2a9a3")}
STATUS_COLORS = {"failed": QColor("#b3261e"), "interrupted": QColor("#b3261e"), "flagged": QColor("#8a5a00"),
                 "rendering": QColor("#1f5fbf"), "queued": QColor("#666666")}


class CueModel(QAbstractTableModel):
    text_edited = pyqtSignal(str, str)        # cue id, the new spoken text

    def __init__(self, session: Session, parent=None, shapes: ShapeCache | None = None):
        super().__init__(parent)
        self.session = session
        self.shapes = shapes or ShapeCache()     # take shapes, loaded when a take arrives (never in paint)

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.session.rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole and section == FILL:
            return ("the slot (box) and where the take's speech sits in it (filled bar); before a take, the natural "
                    "length against the slot (hollow bar, coloured like the ratio)")
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole and section == RATIO:
            return (f"the slot less its lead and tail handles ÷ the line's natural speech (what the render flags "
                    f"against): green {GREEN[0]}–{GREEN[1]} (inaudible), amber {AMBER[0]}–{AMBER[1]} "
                    f"(audible), red outside (rewrite the line or move the marker)")
        return None

    def flags(self, index):
        f = super().flags(index)
        return f | Qt.ItemFlag.ItemIsEditable if index.column() == TEXT else f

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self.session.rows[index.row()]
        cue, col = row.cue, index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            if col == 0:
                return cue.id
            if col == 1:
                return self.session.timecode(cue.start)
            if col == 2:
                return f"{row.slot_seconds:.2f} s ({cue.duration} f)" if cue.duration else "point"
            if col == 3:
                how = ", ".join([cue.voice] + ([str(cue.emotion)] if cue.emotion is not None else []))
                return f"{cue.character or '[defaults]'} ({how})"
            if col == TEXT:
                return cue.text
            if col == RATIO:
                if row.ratio is not None:
                    return f"{row.ratio:.2f}×"
                return "…" if row.natural is None and cue.duration and cue.text else ""
            if col == STATUS:
                return row.status or ("problem" if cue.problems else "")
            if col == TAKE:
                return row.take.name if row.take else ""
        if role == Qt.ItemDataRole.BackgroundRole and col == RATIO:
            b = band(row.ratio)
            return BAND_COLORS[b] if b else None
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == RATIO and band(row.ratio):
                return QColor("#111111")
            if col == STATUS:
                return STATUS_COLORS.get(row.status)
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == RATIO and row.ratio is not None:
                room = row.slot_seconds - cue.lead - cue.tail
                return (f"room {room:.2f} s ÷ natural speech {row.natural:.2f} s = {row.ratio:.2f} "
                        f"({band(row.ratio)}); voice {cue.voice}, speed {cue.speed}")
            if col == STATUS:
                return "\n".join([*cue.problems, row.message, *cue.notes]).strip() or None
            if col == TAKE and row.take:
                return str(row.take)
            if col == FILL:
                return fill_tooltip(row, self.shapes.peek(row.take))
            if col in (0, 1):
                return cue.origin
        return None

    def setData(self, index, value, role=Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.EditRole or index.column() != TEXT:
            return False
        text = str(value).strip()
        cue = self.session.rows[index.row()].cue
        if not text or text == cue.text:
            return False
        self.text_edited.emit(cue.id, text)
        return True

    def refresh(self) -> None:
        """After the session's rows changed (same cues, new values)."""
        for row in self.session.rows:
            self._load_shape(row)
        if self.rowCount():
            self.dataChanged.emit(self.index(0, 0), self.index(self.rowCount() - 1, len(COLUMNS) - 1))

    def _load_shape(self, row: Row) -> None:
        """A take that arrived (or changed on disk) is read here, once, so painting never reads it."""
        if row.take is not None:
            self.shapes.load(row.take)

    def reset(self) -> None:
        """After a new timeline."""
        self.beginResetModel()
        self.endResetModel()

    def refresh_row(self, i: int) -> None:
        self._load_shape(self.session.rows[i])
        self.dataChanged.emit(self.index(i, 0), self.index(i, len(COLUMNS) - 1))


class CueTable(QTableView):
    def __init__(self, model: CueModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.setModel(model)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked | QAbstractItemView.EditTrigger.EditKeyPressed
                             | QAbstractItemView.EditTrigger.AnyKeyPressed)
        self.verticalHeader().setVisible(False)
        self.setAlternatingRowColors(True)
        h = self.horizontalHeader()
        for col in range(len(COLUMNS)):
            h.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        h.setSectionResizeMode(TEXT, QHeaderView.ResizeMode.Stretch)
        h.setSectionResizeMode(FILL, QHeaderView.ResizeMode.Fixed)
        h.resizeSection(FILL, FILL_WIDTH)
        self.setItemDelegateForColumn(FILL, FillDelegate(self))

    def selected_row(self) -> int | None:
        rows = self.selectionModel().selectedRows()
        return rows[0].row() if rows else None


def fill_tooltip(row: Row, shape: TakeShape | None) -> str | None:
    slot = row.slot_seconds
    if shape is not None and shape.error:
        return shape.error
    if shape is not None:
        speech = (f"speech {shape.speech[0]:.2f}–{shape.speech[1]:.2f} s" if shape.speech else "no speech heard")
        return f"take {shape.seconds:.2f} s: {speech}" + (f" in a {slot:.2f} s slot" if slot else "")
    if row.natural and slot:
        return f"natural speech {row.natural:.2f} s against a {slot:.2f} s slot (audition to see the take)"
    return None


class FillDelegate(QStyledItemDelegate):
    """Paints the Fill column from the shape cache only: a cell never reads a file, so scrolling a
    long timeline stays as fast as the text columns."""

    def sizeHint(self, option, index) -> QSize:
        return QSize(FILL_WIDTH, super().sizeHint(option, index).height())

    def paint(self, painter: QPainter, option, index) -> None:
        super().paint(painter, option, index)              # background and selection
        model = index.model()
        row = model.session.rows[index.row()]
        shape = model.shapes.peek(row.take) if row.take is not None else None
        slot = row.slot_seconds or 0.0
        take_s = shape.seconds if shape is not None and not shape.error else 0.0
        lead = row.cue.lead
        axis = max(slot, lead + (row.natural or 0.0), take_s)
        if axis <= 0:
            return
        r = QRectF(option.rect).adjusted(4, 5, -4, -5)

        def x(t: float) -> float:
            return round(r.left() + t / axis * r.width())
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)   # crisp 1 px boxes at this size
        if slot:
            painter.fillRect(QRectF(x(0), r.top(), x(slot) - x(0), r.height()), FILL_COLORS["inside"])
        if shape is not None and shape.error:
            painter.setPen(FILL_COLORS["error"])
            painter.drawText(r, int(Qt.AlignmentFlag.AlignCenter), "!")
        elif shape is not None and shape.speech is not None:
            s0, s1 = shape.speech
            painter.fillRect(QRectF(x(s0), r.top() + 2, max(x(s1) - x(s0), 1), r.height() - 4), FILL_COLORS["speech"])
        elif shape is None and row.natural:
            painter.setPen(QPen(FILL_COLORS[band(row.ratio)], 1))
            painter.drawRect(QRectF(x(lead) + 1, r.top() + 3, max(x(lead + row.natural) - x(lead) - 2, 1),
                                    r.height() - 7))
        if slot:
            painter.setPen(QPen(FILL_COLORS["box"], 1))
            painter.drawRect(QRectF(x(0), r.top(), x(slot) - x(0), r.height() - 1))
        painter.restore()
