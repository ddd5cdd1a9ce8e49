"""The cue table: time, slot, character, editable text, the ratio the fit asks for (colour-coded),
status and take."""
from __future__ import annotations

from PyQt6.QtCore import QAbstractTableModel, QModelIndex, Qt, pyqtSignal
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from takefit.otio_adapters import rates

from .session import GREEN, AMBER, Session, band

COLUMNS = ("Cue", "Time", "Slot", "Character", "Text", "Ratio", "Status", "Take")
TEXT, RATIO, STATUS, TAKE = 4, 5, 6, 7
BAND_COLORS = {"green": QColor("#bfe8c0"), "amber": QColor("#f6d98f"), "red": QColor("#f2a9a3")}
STATUS_COLORS = {"failed": QColor("#b3261e"), "interrupted": QColor("#b3261e"), "flagged": QColor("#8a5a00"),
                 "rendering": QColor("#1f5fbf"), "queued": QColor("#666666")}


class CueModel(QAbstractTableModel):
    text_edited = pyqtSignal(str, str)        # cue id, the new spoken text

    def __init__(self, session: Session, parent=None):
        super().__init__(parent)
        self.session = session

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.session.rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole and section == RATIO:
            return (f"slot ÷ natural length: green {GREEN[0]}–{GREEN[1]} (inaudible), amber {AMBER[0]}–{AMBER[1]} "
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
                return rates.timecode(self.session.plan.start + cue.start, cue.rate)
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
                return (f"slot {row.slot_seconds:.2f} s ÷ natural {row.natural:.2f} s = {row.ratio:.2f} "
                        f"({band(row.ratio)}); voice {cue.voice}, speed {cue.speed}")
            if col == STATUS:
                return "\n".join([*cue.problems, row.message, *cue.notes]).strip() or None
            if col == TAKE and row.take:
                return str(row.take)
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
        if self.rowCount():
            self.dataChanged.emit(self.index(0, 0), self.index(self.rowCount() - 1, len(COLUMNS) - 1))

    def reset(self) -> None:
        """After a new timeline."""
        self.beginResetModel()
        self.endResetModel()

    def refresh_row(self, i: int) -> None:
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

    def selected_row(self) -> int | None:
        rows = self.selectionModel().selectedRows()
        return rows[0].row() if rows else None
