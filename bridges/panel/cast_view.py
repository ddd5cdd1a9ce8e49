"""The cast list and the editor for the selected character: voice, language, default emotion,
speed policy and the marker colours mapped to it."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QColor, QFont, QStandardItem, QStandardItemModel
from PyQt6.QtWidgets import (QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout,
                             QLineEdit, QListWidget, QListWidgetItem, QPushButton, QSplitter, QVBoxLayout, QWidget)

from takefit.engine.backend import CLIP_SUFFIXES, is_clip_voice
from takefit.engine.request import DEFAULT_LEAD, DEFAULT_TAIL, MAX_HANDLE_SECONDS
from takefit.otio_adapters import cast as castfile

from .emotion import KEYS as EMOTION_KEYS, EmotionSetting
from .emotion_editor import EmotionEditor
from .session import DEFAULTS, Session

_LANG_NAMES = {"en": "English", "zh": "Mandarin Chinese"}
CLIPS_HEADER = "Reference clips"
CLIP_PICK = "\x00reference-clip"    # the "Reference clip…" entry's data: no voice is named so
_MANAGED = ("voice", "language", "speed", "max_ratio", "lead", "tail") + EMOTION_KEYS
# swatches for the colour names OTIO and Resolve use
SWATCHES = {"red": "#e0443e", "pink": "#e66fb0", "orange": "#e8892d", "yellow": "#e5c53a", "green": "#3faa52",
            "cyan": "#3cc1c9", "blue": "#3f7fe0", "purple": "#8e5fd0", "magenta": "#c94fc9", "black": "#222222",
            "white": "#eeeeee", "sky": "#7cc7ee", "mint": "#77d6b0", "lavender": "#b6a3e6", "rose": "#eea1b0",
            "fuchsia": "#d14fa8", "lemon": "#eee877", "sand": "#d8c28c", "cocoa": "#8a6248", "cream": "#f4ecd0"}


def group_voices(voices: list[dict]) -> list[tuple[str, list[str]]]:
    """(header, names) groups: enrolled voices first, then by language (zh, en first) and gender, then the
    reference clips a clip-cloning backend lists (their language and gender are the clip's, unknown)."""
    enrolled = sorted(v["name"] for v in voices if v.get("enrolled") or v.get("kind") == "enrolled")
    clips = sorted(v["name"] for v in voices if v.get("kind") == "reference_clip" and v["name"] not in enrolled)
    groups: dict[tuple, list[str]] = {}
    for v in voices:
        if v["name"] in enrolled or v["name"] in clips:
            continue
        lang = v.get("language", "?")
        group = (lang, v.get("accent") or _LANG_NAMES.get(lang, lang), v.get("gender", ""))
        groups.setdefault(group, []).append(v["name"])
    order = {"zh": 0, "en": 1}
    out = [("Enrolled voices", enrolled)] if enrolled else []
    for (lang, accent, gender) in sorted(groups, key=lambda k: (order.get(k[0], 2), k[1], k[2])):
        out.append((f"{accent} · {gender}" if gender else accent, sorted(groups[(lang, accent, gender)])))
    return out + ([(CLIPS_HEADER, clips)] if clips else [])


def voice_label(v: dict) -> str:
    """'af_heart — American English · female · grade A, …': what the voice is, on one line."""
    if v.get("kind") == "reference_clip":
        return f"{v['name']} — reference clip" + (f" ({Path(v['path']).name})" if v.get("path") else "")
    where = v.get("accent") if v.get("kind", "builtin") == "builtin" else _LANG_NAMES.get(v.get("language"), "")
    bits = [b for b in (where or v.get("language", ""), v.get("gender", ""), v.get("note", "")) if b]
    return f"{v['name']} — {' · '.join(bits)}" if bits else v["name"]


def voice_tooltip(v: dict) -> str:
    """The note again (the item may be cut short), then what a preview reads."""
    if v.get("kind") == "reference_clip":
        return f"clones the voice of the reference clip {v.get('path') or v['name']}"
    grade = v.get("grade") or ("none published" if v.get("kind", "builtin") == "builtin" else "")
    lines = [v.get("note") or v["name"],
             f"{v.get('accent', '')}, {v.get('gender', '')}" + (f"; upstream grade {grade}" if grade else "")]
    preview = v.get("preview")
    if preview:
        lines.append(f"▶ previews: “{preview['text']}”" + (f" ({preview['note']})" if preview.get("note") else ""))
    return "\n".join(lines)


class VoiceBox(QComboBox):
    """Voices grouped under non-selectable headers; 'auto' first. Each item says what the voice is
    (language · gender · note); its tooltip adds the grade and the preview line. Where the daemon's
    backend clones reference clips, a last entry "Reference clip…" asks for an audio file: its path is
    the voice. `voice_changed` says which voice was picked (never that entry itself)."""
    listed = pyqtSignal()                  # a new voice list is in
    voice_changed = pyqtSignal(str)        # a voice was picked (by hand, or set_voice)

    POPUP_MAX_WIDTH = 760

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setModel(QStandardItemModel(self))
        self.entries: dict[str, dict] = {}             # name → the voices op's entry
        self.clip_voices = False                       # the daemon's backend has reference_clip_voices
        self.start_dir = ""                            # where the clip dialog opens (the cast file's folder)
        self.ask_clip: Callable[[str], str] = self._ask_clip   # start folder → a path, or "" (tests replace it)
        self._last = -1                                # the index before "Reference clip…" was chosen
        # the long items must not widen the editor: the closed box elides, the open list is wider
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(24)
        self.currentIndexChanged.connect(self._changed)
        self.set_voices([])

    def set_backend(self, backend: dict | None) -> None:
        """The daemon's backend (`health`'s `backend` map): whether "Reference clip…" is offered."""
        clips = "reference_clip_voices" in ((backend or {}).get("capabilities") or [])
        if clips != self.clip_voices:
            self.clip_voices = clips
            self.set_voices(list(self.entries.values()))

    def set_voices(self, voices: list[dict]) -> None:
        current = self.currentData()
        self.entries = {v["name"]: v for v in voices}
        model: QStandardItemModel = self.model()
        self.blockSignals(True)            # the same voice stays picked: nothing to tell
        try:
            model.clear()
            model.appendRow(self._item("auto (by the line's language)", "auto"))
            groups = group_voices(voices)
            if self.clip_voices and CLIPS_HEADER not in (h for h, _ in groups):
                groups.append((CLIPS_HEADER, []))
            for header, names in groups:
                model.appendRow(self._header(header))
                for n in names:
                    it = self._item(f"   {voice_label(self.entries[n])}", n)
                    it.setToolTip(voice_tooltip(self.entries[n]))
                    model.appendRow(it)
            if self.clip_voices:
                it = self._item("   Reference clip… (an audio file whose voice is cloned)", CLIP_PICK)
                it.setToolTip(f"pick an audio file ({', '.join(CLIP_SUFFIXES)}): the daemon's backend clones "
                              f"its voice; the cast file keeps its path")
                model.appendRow(it)
            metrics = self.view().fontMetrics()
            widest = max(metrics.horizontalAdvance(model.item(i).text()) for i in range(model.rowCount()))
            self.view().setMinimumWidth(min(widest + 40, self.POPUP_MAX_WIDTH))
            self.set_voice(current if current not in (None, CLIP_PICK) else "auto")
        finally:
            self.blockSignals(False)
        self._last = self.currentIndex()
        self.listed.emit()

    def preview_line(self, name: str | None) -> dict | None:
        """{text, language, note} the voice's preview reads; None for 'auto' or a daemon that sends none."""
        return self.entries.get(name or "", {}).get("preview")

    @staticmethod
    def _item(text: str, name: str) -> QStandardItem:
        it = QStandardItem(text)
        it.setData(name, Qt.ItemDataRole.UserRole)
        return it

    @staticmethod
    def _header(text: str) -> QStandardItem:
        h = QStandardItem(text)
        h.setFlags(Qt.ItemFlag.NoItemFlags)
        font = QFont()
        font.setBold(True)
        h.setFont(font)
        return h

    def set_voice(self, name: str) -> None:
        i = self.findData(name or "auto", Qt.ItemDataRole.UserRole)
        if i < 0:   # a voice the daemon did not list (yet), or a clip picked by path: keep it, marked
            label = (f"{Path(name).name} — reference clip" if is_clip_voice(name)
                     else f"{name} (not listed by the daemon)")
            it = self._item(label, name)
            it.setToolTip(name)
            self.model().appendRow(it)
            i = self.count() - 1
        self.setCurrentIndex(i)

    def _changed(self, i: int) -> None:
        name = self.itemData(i, Qt.ItemDataRole.UserRole) if i >= 0 else None
        if name == CLIP_PICK:
            self._pick_clip()
        elif name is not None:
            self._last = i
            self.voice_changed.emit(name)

    def _pick_clip(self) -> None:
        """"Reference clip…" was chosen: the file picked becomes the voice; cancelled, the voice before stays."""
        path = self.ask_clip(self.start_dir)
        self.blockSignals(True)
        try:
            if path:
                self.set_voice(path)
            else:
                self.setCurrentIndex(self._last)
        finally:
            self.blockSignals(False)
        self.listed.emit()                 # the ▶ button follows the box
        if path:
            self._last = self.currentIndex()
            self.voice_changed.emit(path)

    def _ask_clip(self, start: str) -> str:
        pattern = " ".join(f"*{s}" for s in CLIP_SUFFIXES)
        path, _ = QFileDialog.getOpenFileName(self, "Reference clip: the voice to clone", start,
                                              f"Audio ({pattern})")
        return path


class PreviewButton(QPushButton):
    """▶ beside the voice combo: the selected voice reads its preview line, rendered in the daemon as an
    ordinary request at audition priority (DaemonLink.preview), then plays. Takes are kept per session
    (voice → file), and the daemon's take cache answers a voice previewed in an earlier session."""
    played = pyqtSignal(str, str)          # voice, the take's path (once it was handed to the player)

    IDLE, BUSY = "▶", "…"

    def __init__(self, box: VoiceBox, parent: QWidget | None = None):
        super().__init__(self.IDLE, parent)
        self.box = box
        self.takes: dict[str, Path] = {}          # voice → its preview take, this session
        self.busy_voice: str | None = None
        self._link = self._player = None
        self._say: Callable[[str], None] = lambda text: None
        self.setFixedWidth(self.fontMetrics().horizontalAdvance("…") + 32)
        self.clicked.connect(self.press)
        box.currentIndexChanged.connect(self._update)
        box.listed.connect(self._update)
        self._update()

    def attach(self, link, player, say: Callable[[str], None]) -> None:
        """Render through `link` (a DaemonLink), play with `player` (`.play(path)` → a sentence), report with `say`."""
        self._link, self._player, self._say = link, player, say
        link.quick.status.connect(self._status)
        link.previews.previewed.connect(self._ready)
        link.previews.failed.connect(self._failed)
        self._update()

    def _status(self, ok: bool, _message: str, health: dict) -> None:
        """The daemon's health names its backend: whether the box offers reference clips."""
        if ok:
            self.box.set_backend(health.get("backend"))

    def press(self) -> bool:
        """Preview the combo's voice: this session's take at once, else ask the daemon. False when it cannot."""
        voice = self.box.currentData()
        line = self.box.preview_line(voice)
        if self._link is None or self.busy_voice is not None or line is None:
            return False
        kept = self.takes.get(voice)
        if kept is not None and kept.is_file():
            self._play(voice, kept, "kept from this session")
            return True
        self.busy_voice = voice
        self._update()
        self._say(f"previewing {voice}: rendering in the daemon…")
        self._link.preview(voice, line["text"], line["language"])
        return True

    def _ready(self, voice: str, info: dict) -> None:
        if voice != self.busy_voice:           # another editor's preview on the same link
            return
        self.busy_voice = None
        self.takes[voice] = Path(info["path"])
        self._update()
        origin = ("from the daemon's take cache" if info["cached"]
                  else f"rendered in {info['engine_seconds']:.1f} s")
        self._play(voice, self.takes[voice], origin)

    def _failed(self, voice: str, message: str) -> None:
        if voice == self.busy_voice:
            self.busy_voice = None
            self._update()
            self._say(message)

    def _play(self, voice: str, path: Path, origin: str) -> None:
        said = self._player.play(path)
        note = (self.box.preview_line(voice) or {}).get("note")
        self._say(f"{voice} preview, {origin}" + (f" ({note})" if note else "") + f": {said}")
        self.played.emit(voice, str(path))

    def _update(self, *_) -> None:
        voice = self.box.currentData()
        line = self.box.preview_line(voice)
        busy = self.busy_voice is not None
        self.setText(self.BUSY if busy else self.IDLE)
        self.setEnabled(self._link is not None and not busy and line is not None)
        if busy:
            tip = f"rendering the preview of {self.busy_voice} in the daemon…"
        elif voice in (None, "auto"):
            tip = "pick a voice to hear it"
        elif line is None and (is_clip_voice(voice) or self.box.entries.get(voice, {}).get("kind") == "reference_clip"):
            tip = f"{voice} is a reference clip: play the clip itself, or audition a line in its voice"
        elif line is None:
            tip = f"the daemon sends no preview line for {voice} (a daemon older than this panel?)"
        else:
            tip = f"hear {voice} read: “{line['text']}”" + (f" ({line['note']})" if line.get("note") else "")
        self.setToolTip(tip)


class CharacterEditor(QGroupBox):
    edited = pyqtSignal(str, dict)           # character (DEFAULTS for [defaults]), its new cast table
    colors_edited = pyqtSignal(str, list)

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Character", parent)
        self.name: str | None = None
        self._base: dict = {}
        self._quiet = False
        self.voice = VoiceBox()
        self.preview = PreviewButton(self.voice)
        voice_row = QHBoxLayout()
        voice_row.addWidget(self.voice, 1)
        voice_row.addWidget(self.preview)
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
        form.addRow("Voice", voice_row)
        form.addRow("Language", self.language)
        form.addRow("Emotion", self.emotion)
        form.addRow("Speed", speed_row)
        form.addRow("Handles", handles_row)
        form.addRow("Colours", self.colors)
        self.voice.voice_changed.connect(self._emit)
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
            self.voice.start_dir = str(session.cast_path.parent) if session.cast_path else ""
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
        voice = entry.get("voice", "auto")
        bits = [Path(voice).name if is_clip_voice(voice) else voice]
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
