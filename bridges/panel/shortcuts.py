"""The panel's commands: its menus, their keyboard shortcuts and the Help menu's list of them.

SHORTCUTS is the one table (menu label, keys, what it does); the menus, the Help box and the tests read
it. Space, Enter, Esc and the arrows are bare keys: they act on the cue table, and BareKeys hands them
back to a text field, spin box or list that has the focus.
"""
from __future__ import annotations

from PyQt6.QtCore import QEvent, QObject, Qt
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import (QAbstractSpinBox, QApplication, QComboBox, QLineEdit, QMessageBox, QPlainTextEdit,
                             QTextEdit)

# name → (menu label, keys, what it does); the Help menu's table and the menus come from here
SHORTCUTS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "open": ("&Open timeline…", ("Ctrl+O",), "read a timeline's cues (.otio .xml .fcpxml .edl .srt .vtt .ass)"),
    "open_cast": ("Open &cast…", (), "use another cast file for this timeline"),
    "save": ("&Save", ("Ctrl+S",), "write the cast file and the timeline's sidecar (edited lines, picked takes)"),
    "quit": ("&Quit", ("Ctrl+Q",), "close the panel (asks first when something is not saved)"),
    "undo": ("&Undo", ("Ctrl+Z",), "take back the last text, cast or pick edit"),
    "redo": ("&Redo", ("Ctrl+Shift+Z", "Ctrl+Y"), "do again what undo took back"),
    "audition": ("&Audition", ("Return", "Enter"), "render the selected cue in the daemon and play it"),
    "play": ("&Play / stop", ("Space",), "play the selected cue's take again, or stop playing"),
    "previous": ("Previous cue", ("Up",), "select the cue above"),
    "next": ("Next cue", ("Down",), "select the cue below"),
    "alternates": ("Render alternate &takes", ("Ctrl+T",), "render takes 2–4 of the selected cue to pick from"),
    "render_all": ("&Render all", ("Ctrl+R",), "render every cue in the daemon"),
    "cancel": ("&Cancel", ("Esc",), "stop the render or dub that is running"),
    "dub": ("&Dub timeline", ("Ctrl+D",), "write the dubbed timeline, takes, stem and report"),
    "help": ("&Keyboard shortcuts", ("F1",), "list every shortcut"),
}
MENUS = (("&File", ("open", "open_cast", "save", None, "quit")),
         ("&Edit", ("undo", "redo")),
         ("&Take", ("audition", "play", "previous", "next", None, "alternates", "render_all", "cancel", None, "dub")),
         ("&Help", ("help",)))
# keys a text field, spin box or list needs for itself: while one has the focus they are not shortcuts
_BARE = {Qt.Key.Key_Space, Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Up, Qt.Key.Key_Down,
         Qt.Key.Key_Escape}


def shortcuts_html() -> str:
    def keys_text(keys) -> str:
        return " / ".join(QKeySequence(k).toString(QKeySequence.SequenceFormat.NativeText) for k in keys) or "—"
    rows = "".join(f"<tr><td><b>{keys_text(keys)}</b></td><td>{label.replace('&', '')}</td><td>{tip}</td></tr>"
                   for label, keys, tip in SHORTCUTS.values())
    return ("<table cellspacing=6>" + rows + "</table><p>Space, Enter, Esc and the arrows act on the cue table; "
            "while a text field or list has the focus they belong to it.</p>")


class BareKeys(QObject):
    """Lets a focused text field, spin box or combo keep Space, Enter, Esc and the arrows: Qt asks the
    focus widget first (ShortcutOverride), and accepting there hands the key to the widget."""

    def install(self) -> None:
        QApplication.instance().installEventFilter(self)

    def remove(self) -> None:
        QApplication.instance().removeEventFilter(self)

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and event.key() in _BARE \
                and event.modifiers() in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.KeypadModifier) \
                and isinstance(obj, (QLineEdit, QTextEdit, QPlainTextEdit, QAbstractSpinBox, QComboBox)):
            event.accept()
        return False


class Commands:
    """The window's menu commands (mixed into PanelWindow: they call its public methods)."""

    def build_menus(self) -> None:
        """Menus hold every command with its shortcut; Help lists them (SHORTCUTS is the one table)."""
        self.actions: dict[str, QAction] = {}
        bar = self.menuBar()
        for menu_name, entries in MENUS:
            menu = bar.addMenu(menu_name)
            for name in entries:
                if name is None:
                    menu.addSeparator()
                    continue
                label, keys, tip = SHORTCUTS[name]
                act = QAction(label, self)
                act.setShortcuts([QKeySequence(k) for k in keys])
                act.setStatusTip(tip)
                act.triggered.connect(getattr(self, f"_cmd_{name}"))
                menu.addAction(act)
                self.actions[name] = act
        self.addActions(list(self.actions.values()))   # shortcuts work wherever the focus is in the window
        self.bare_keys = BareKeys(self)
        self.bare_keys.install()

    def _cmd_open(self) -> None:
        self.open_timeline()

    def _cmd_open_cast(self) -> None:
        self.open_cast()

    def _cmd_save(self) -> None:
        self.save()

    def _cmd_quit(self) -> None:
        self.close()

    def _cmd_undo(self) -> None:
        self.history.undo()

    def _cmd_redo(self) -> None:
        self.history.redo()

    def _cmd_audition(self) -> None:
        self.audition()

    def _cmd_play(self) -> None:
        """Stop what plays; else play the selected cue's take (auditioning it first if it has none)."""
        if self.player.is_playing():
            self.player.stop()
            return
        i = self.table.selected_row()
        row = self.session.rows[i] if i is not None and i < len(self.session.rows) else None
        if row is not None and row.take is not None and row.take.is_file():
            self.player.play(row.take)
        else:
            self.audition()

    def _cmd_previous(self) -> None:
        self._move(-1)

    def _cmd_next(self) -> None:
        self._move(+1)

    def _move(self, step: int) -> None:
        if not self.session.rows:
            return
        i = self.table.selected_row()
        i = 0 if i is None else min(max(i + step, 0), len(self.session.rows) - 1)
        self.table.selectRow(i)
        self.table.setFocus()

    def _cmd_alternates(self) -> None:
        self.render_alternates()

    def _cmd_render_all(self) -> None:
        self.render_all()

    def _cmd_cancel(self) -> None:
        self.cancel()

    def _cmd_dub(self) -> None:
        self.dub_timeline()

    def _cmd_help(self) -> None:
        box = QMessageBox(QMessageBox.Icon.NoIcon, "Keyboard shortcuts", shortcuts_html(),
                          QMessageBox.StandardButton.Close, self)
        box.setTextFormat(Qt.TextFormat.RichText)
        self._help_box = box               # kept so tests (and people) can look at it
        box.open()
