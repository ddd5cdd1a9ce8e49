"""The cast list and the editor for the selected character: voice, language, default emotion,
speed policy and the marker colours mapped to it."""
from __future__ import annotations

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QColor, QFont, QStandardItem, QStandardItemModel
from PyQt6.QtWidgets import (QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLineEdit,
                             QListWidget, QListWidgetItem, QSplitter, QVBoxLayout, QWidget)

from takefit.engine.request import DEFAULT_LEAD, DEFAULT_TAIL, MAX_HANDLE_SECONDS
from takefit.otio_adapters import cast as castfile

from .emotion import KEYS as EMOTION_KEYS, EmotionSetting
from .emotion_editor import EmotionEditor
from .session import DEFAULTS, Session

_LANG_NAMES = {"en": "English", "zh": "Mandarin Chinese"}
_MANAGED = ("voice", "language", "speed", "max_ratio", "lead", "tail") + EMOTION_KEYS
# swatches for the colour names OTIO and Resolve use
SWATCHES = {"red": "#e0443e", "pink": "#e66fb0", "orange": "#e8892d", "yellow": "#e5c53a", "green": "#3faa52",
            "cyan": "#3cc1c9", "blue": "#3f7fe0", "purple": "#8e5fd0", "magenta": "#c94fc9", "black": "#222222",
            "white": "#eeeeee", "sky": "#7cc7ee", "mint": "#77d6b0", "lavender": "#b6a3e6", "rose": "#eea1b0",
            "fuchsia": "#d14fa8", "lemon": "#eee877", "sand": "#d8c28c", "cocoa": "#8a6248", "cream": "#f4ecd0"}


def group_voices(voices: list[dict]) -> list[tuple[str, list[str]]]:
    """(header, names) groups: enrolled voices first, then by language (zh, en first) and gender."""
    enrolled = sorted(v["name"] for v in voices if v.get("enrolled") or v.get("kind") == "enrolled")
    groups: dict[tuple, list[str]] = {}
    for v in voices:
        if v["name"] in enrolled:
            continue
        lang = v.get("language", "?")
        groups.setdefault((lang, v.get("accent") or _LANG_NAMES.get(lang, lang), v.get("gender", "")), []).append(v["name"])
    order = {"zh": 0, "en": 1}
    out = [("Enrolled voices", enrolled)] if enrolled else []
    for (lang, accent, gender) in sorted(groups, key=lambda k: (order.get(k[0], 2), k[1], k[2])):
        out.append((f"{accent} · {gender}" if gender else accent, sorted(groups[(lang, accent, gender)])))
    return out


class VoiceBox(QComboBox):
    """Voices grouped under non-selectable headers; 'auto' first."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setModel(QStandardItemModel(self))
        self.set_voices([])

    def set_voices(self, voices: list[dict]) -> None:
        current = self.currentData()
        model: QStandardItemModel = self.model()
        model.clear()
        model.appendRow(self._item("auto (by the line's language)", "auto"))
        for header, names in group_voices(voices):
            h = QStandardItem(header)
            h.setFlags(Qt.ItemFlag.NoItemFlags)
            font = QFont()
            font.setBold(True)
            h.setFont(font)
            model.appendRow(h)
            for n in names:
                model.appendRow(self._item(f"   {n}", n))
        self.set_voice(current or "auto")

    @staticmethod
    def _item(text: str, name: str) -> QStandardItem:
        it = QStandardItem(text)
        it.setData(name, Qt.ItemDataRole.UserRole)
        return it

    def set_voice(self, name: str) -> None:
        i = self.findData(name or "auto", Qt.ItemDataRole.UserRole)
        if i < 0:   # a voice the daemon did not list (yet): keep it, marked
            self.model().appendRow(self._item(f"{name} (not listed by the daemon)", name))
            i = self.count() - 1
        self.setCurrentIndex(i)


class CharacterEditor(QGroupBox):
    edited = pyqtSignal(str, dict)           # character (DEFAULTS for [defaults]), its new cast table
    colors_edited = pyqtSignal(str, list)

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Character", parent)
        self.name: str | None = None
        self._base: dict = {}
        self._quiet = False
        self.voice = VoiceBox()
        self.language = QComboBox()
        for code, label in (("auto", "auto (detected per line)"), ("zh", "Chinese"), ("en", "English")):
            self.language.addItem(label, code)
        self.emotion = EmotionEditor()
        self.speed = QComboBox()
        for code, label in (("", "as [defaults] (exact fit)"), ("exact", "exact fit"), ("natural", "natural pace")):
            self.speed.addItem(label, code)
        self.max_ratio = QDoubleSpinBox()
        self.max_ratio.setRange(*castfile.MAX_RATIO_RANGE)
        self.max_ratio.setSingleStep(0.05)
        self.max_ratio.setValue(castfile.DEFAULT_MAX_RATIO)
        self.max_ratio.setPrefix("max ")
        self.max_ratio.setSuffix("× slot")
        self.max_ratio.setToolTip("natural pace: a take may last up to this many times its slot (overrunning "
                                  "it); a longer one is fitted to the slot after all")
        speed_row = QHBoxLayout()
        speed_row.addWidget(self.speed, 1)
        speed_row.addWidget(self.max_ratio)
        self.lead, self.tail = (self._handle_box(prefix, tip) for prefix, tip in (
            ("lead ", "seconds from the slot's first frame to the first sound (default 0)"),
            ("tail ", "seconds from the last sound's end to the slot's last frame: its decay, so nothing "
                      "clicks and no final consonant is cut (default 0.04)")))
        handles_row = QHBoxLayout()
        handles_row.addWidget(self.lead)
        handles_row.addWidget(self.tail)
        self.colors = QLineEdit()
        self.colors.setPlaceholderText("marker colours for this character, e.g. red, blue")

        form = QFormLayout(self)
        form.addRow("Voice", self.voice)
        form.addRow("Language", self.language)
        form.addRow("Emotion", self.emotion)
        form.addRow("Speed", speed_row)
        form.addRow("Handles", handles_row)
        form.addRow("Colours", self.colors)
        self.voice.currentIndexChanged.connect(self._emit)
        self.language.currentIndexChanged.connect(self._emit)
        self.speed.currentIndexChanged.connect(self._emit)
        self.max_ratio.valueChanged.connect(self._emit)
        self.lead.valueChanged.connect(self._emit)
        self.tail.valueChanged.connect(self._emit)
        self.emotion.changed.connect(self._emit)
        self.colors.editingFinished.connect(self._emit_colors)
        self.setEnabled(False)

    @staticmethod
    def _handle_box(prefix: str, tip: str) -> QDoubleSpinBox:
        box = QDoubleSpinBox()
        box.setRange(0.0, MAX_HANDLE_SECONDS)
        box.setDecimals(3)
        box.setSingleStep(0.01)
        box.setPrefix(prefix)
        box.setSuffix(" s")
        box.setToolTip(tip)
        return box

    def show_character(self, session: Session, name: str) -> None:
        self._quiet = True
        try:
            self.name = name
            self._base = session.entry(name)
            self.setTitle("[defaults]" if name == DEFAULTS else name)
            self.voice.set_voice(self._base.get("voice", "auto"))
            self.language.setCurrentIndex(max(self.language.findData(self._base.get("language", "auto")), 0))
            self.speed.setCurrentIndex(max(self.speed.findData(self._base.get("speed", "")), 0))
            self.max_ratio.setValue(float(self._base.get("max_ratio", castfile.DEFAULT_MAX_RATIO)))
            self.max_ratio.setEnabled(self.speed.currentData() == "natural")
            self.lead.setValue(float(castfile.tags.parse_handle(self._base.get("lead", DEFAULT_LEAD), "lead")))
            self.tail.setValue(float(castfile.tags.parse_handle(self._base.get("tail", DEFAULT_TAIL), "tail")))
            self.emotion.set_setting(EmotionSetting.from_entry(self._base))
            self.colors.setEnabled(name != DEFAULTS)
            self.colors.setText(", ".join(session.colors_of(name)) if name != DEFAULTS else "")
            found = session.marker_colors()
            self.colors.setToolTip("colours on this timeline's markers: " + (", ".join(found) or "none"))
            self.setEnabled(True)
        finally:
            self._quiet = False

    def entry(self) -> dict:
        e = {k: v for k, v in self._base.items() if k not in _MANAGED}
        if self.voice.currentData() not in (None, "auto"):
            e["voice"] = self.voice.currentData()
        if self.language.currentData() != "auto":
            e["language"] = self.language.currentData()
        if self.speed.currentData():
            e["speed"] = self.speed.currentData()
        if self.speed.currentData() == "natural":
            e["max_ratio"] = round(self.max_ratio.value(), 2)
        for key, box, default in (("lead", self.lead, DEFAULT_LEAD), ("tail", self.tail, DEFAULT_TAIL)):
            if abs(box.value() - default) > 1e-9:
                e[key] = round(box.value(), 3)
        return self.emotion.setting().to_entry(e)

    def _emit(self, *_) -> None:
        self.max_ratio.setEnabled(self.speed.currentData() == "natural")
        if not self._quiet and self.name is not None:
            entry = self.entry()
            self._base = entry
            self.edited.emit(self.name, entry)

    def _emit_colors(self) -> None:
        if not self._quiet and self.name not in (None, DEFAULTS):
            self.colors_edited.emit(self.name, [c.strip() for c in self.colors.text().split(",") if c.strip()])


class CastView(QSplitter):
    """The cast list above the selected character's editor."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(Qt.Orientation.Vertical, parent)
        self.list = QListWidget()
        self.list.setObjectName("cast_list")
        self.editor = CharacterEditor()
        top = QWidget()
        lay = QVBoxLayout(top)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.list)
        self.addWidget(top)
        self.addWidget(self.editor)
        self.setStretchFactor(1, 3)
        self._session: Session | None = None
        self.list.currentItemChanged.connect(self._selected)

    def names(self) -> list[str]:
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())]

    def select(self, name: str) -> None:
        for i, n in enumerate(self.names()):
            if n.lower() == name.lower():
                self.list.setCurrentRow(i)
                return
        raise KeyError(name)

    def refresh(self, session: Session) -> None:
        """The list again from the session, keeping the selection."""
        self._session = session
        current = self.list.currentItem().data(Qt.ItemDataRole.UserRole) if self.list.currentItem() else None
        self.list.blockSignals(True)
        self.list.clear()
        for name in [DEFAULTS] + session.characters():
            self.list.addItem(self._item(session, name))
        self.list.blockSignals(False)
        names = self.names()
        if current in names:
            self.list.setCurrentRow(names.index(current))
        elif names:
            self.list.setCurrentRow(0)
        self._update_labels(session)

    def _update_labels(self, session: Session) -> None:
        for i in range(self.list.count()):
            it = self.list.item(i)
            fresh = self._item(session, it.data(Qt.ItemDataRole.UserRole))
            it.setText(fresh.text())
            it.setIcon(fresh.icon())

    @staticmethod
    def _item(session: Session, name: str) -> QListWidgetItem:
        entry = session.entry(name)
        lines = sum(1 for r in session.rows if r.cue.character.lower() == name.lower()) if name else \
            sum(1 for r in session.rows if not r.cue.character)
        bits = [entry.get("voice", "auto")]
        emo = EmotionSetting.from_entry(entry).summary() if _parses(entry) else "?"
        if emo:
            bits.append(emo)
        if entry.get("speed") == "natural":
            bits.append(f"natural ≤{entry.get('max_ratio', castfile.DEFAULT_MAX_RATIO)}×")
        colors = session.colors_of(name) if name else []
        if colors:
            bits.append("● " + ", ".join(colors))
        label = "[defaults]" if name == DEFAULTS else name
        it = QListWidgetItem(f"{label}  —  {' · '.join(bits)}  ({lines} line{'s' if lines != 1 else ''})")
        it.setData(Qt.ItemDataRole.UserRole, name)
        if colors:
            from PyQt6.QtGui import QIcon, QPixmap

            pix = QPixmap(12, 12)
            pix.fill(QColor(SWATCHES.get(colors[0], "#888888")))
            it.setIcon(QIcon(pix))
        return it

    def _selected(self, item: QListWidgetItem | None, _prev=None) -> None:
        if item is not None and self._session is not None:
            self.editor.show_character(self._session, item.data(Qt.ItemDataRole.UserRole))


def _parses(entry: dict) -> bool:
    try:
        EmotionSetting.from_entry(entry)
        return True
    except Exception:  # a hand-written value the editor cannot show: the list shows '?'
        return False
