"""The casting panel's main window: daemon banner, toolbar, cast list + editor, cue table.

Everything slow happens in the daemon through DaemonLink; this class only reacts to its signals, so
the window stays live while takes render, and a daemon that dies mid-render leaves a clear state
(rows marked interrupted, buttons back, the banner offering to start it again).
"""
from __future__ import annotations

import logging
from pathlib import Path

from PyQt6 import sip
from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtWidgets import (QComboBox, QFileDialog, QFrame, QHBoxLayout, QLabel, QMainWindow, QMessageBox,
                             QProgressBar, QPushButton, QSplitter, QVBoxLayout, QWidget)

from takefit.bridges import delivery_menu
from takefit.engine.delivery_specs import menu_entries
from takefit.engine.errors import TakefitError

from . import session as sess
from .alternates import Alternates, AlternatesBar
from .cast_view import CastView
from .cue_table import BAND_COLORS, CueModel, CueTable
from .daemon_link import CANCELED, DONE, LOST, DaemonLink, DubTask, RenderTask
from .history import History
from .player import Player
from .session import Session
from .shortcuts import Commands
from .waveform import WaveformView, content_of

log = logging.getLogger("takefit.panel")

BANNER_STYLE = {"down": "background:#f8d7d4; color:#5c1610; border:1px solid #d9877f; border-radius:4px;",
                "busy": "background:#fff1c2; color:#4d3800; border:1px solid #e0c060; border-radius:4px;",
                "ok": "background:#dcefdc; color:#1d4d1f; border:1px solid #9fcf9f; border-radius:4px;"}


def legend_html() -> str:
    def chip(color, text):
        return f'<span style="background:{color.name()}; color:#111">&nbsp;{text}&nbsp;</span>'
    return ("Ratio = the slot (less handles) ÷ the natural speech: " + chip(BAND_COLORS["green"], f"{sess.GREEN[0]}–{sess.GREEN[1]} inaudible")
            + " " + chip(BAND_COLORS["amber"], f"{sess.AMBER[0]}–{sess.AMBER[1]} audible")
            + " " + chip(BAND_COLORS["red"], "outside: rewrite the line or move the marker")
            + " · double-click a text to edit it, a cue to audition it")


class PanelWindow(Commands, Alternates, QMainWindow):
    def __init__(self, session: Session, link: DaemonLink | None = None, poll_ms: int = 2000):
        super().__init__()
        self.session = session
        self.link = link or DaemonLink()
        self.player = Player(self)
        self.daemon_ok: bool | None = None       # None: not asked yet
        self.task: str | None = None             # "audition" | "all" | "dub" while one runs
        self.last_report = None
        self.last_error = ""
        self._checking = False
        self._audition_cue = ""
        self._lost = False                       # the daemon died under a render (until it is back)
        self.voices: list = []
        self._pending: set[tuple] = set()        # natural lengths asked for
        self.alternates: dict[tuple, dict[int, Path]] = {}   # (cue id, standard read's key) → take per variant
        self.history = History(session, self._changed, self)
        self.setWindowTitle("takefit – casting panel")
        self.resize(1280, 760)
        self._build()
        self.build_menus()
        self._wire()
        self.timer = QTimer(self)
        self.timer.setInterval(poll_ms)
        self.timer.timeout.connect(self.check_daemon)
        self.timer.start()
        self.reload()
        self.check_daemon()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.banner = QFrame()
        self.banner.setObjectName("banner")
        self.banner_label = QLabel("Looking for the takefit daemon…")
        self.banner_label.setWordWrap(True)
        self.start_button = QPushButton("Start daemon")
        self.start_button.setToolTip("run `takefit daemon start`: the engine stays loaded for every render")
        b = QHBoxLayout(self.banner)
        b.addWidget(self.banner_label, 1)
        b.addWidget(self.start_button)

        split = QSplitter(Qt.Orientation.Horizontal)
        self.cast_view = CastView()
        split.addWidget(self.cast_view)
        split.addWidget(self._build_cues())
        split.setStretchFactor(1, 3)
        split.setSizes([420, 860])

        central = QWidget()
        lay = QVBoxLayout(central)
        lay.addWidget(self.banner)
        lay.addLayout(self._build_toolbar())
        lay.addWidget(split, 1)
        self.setCentralWidget(central)
        self._set_banner("busy", "Looking for the takefit daemon…", offer_start=False)

    def _build_toolbar(self) -> QHBoxLayout:
        self.open_button = QPushButton("Open timeline…")
        self.open_cast_button = QPushButton("Open cast…")
        self.save_button = QPushButton("Save")
        self.save_button.setToolTip("write the cast file and the sidecar beside the timeline (edited lines, "
                                    "picked takes): Ctrl+S")
        self.audition_button = QPushButton("▶ Audition")
        self.audition_button.setToolTip("render the selected cue in the daemon and play it")
        self.render_all_button = QPushButton("Render all")
        self.cancel_button = QPushButton("Cancel")
        self.dub_button = QPushButton("Dub timeline")
        self.dub_button.setToolTip("write the dubbed timeline, takes, stem and report, like `takefit dub`")
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setMinimumWidth(180)
        self.delivery_box = QComboBox()
        self.delivery_box.setToolTip("the loudness and true-peak ceiling every take is leveled to (auditions, "
                                     "Render all, Dub); the dub report says whether the stem meets it")
        self._fill_delivery()
        bar = QHBoxLayout()
        for w in (self.open_button, self.open_cast_button, self.save_button, QLabel("Deliver to"),
                  self.delivery_box):
            bar.addWidget(w)
        bar.addStretch(1)
        for w in (self.audition_button, self.render_all_button, self.progress, self.cancel_button, self.dub_button):
            bar.addWidget(w)
        return bar

    def _fill_delivery(self) -> None:
        lv = self.session.levels
        self._delivery_menu = delivery_menu.choices(menu_entries(), lv["loudness"], lv["true_peak"], lv["delivery"])
        for label, *_ in self._delivery_menu:
            self.delivery_box.addItem(label)
        self.delivery_box.setCurrentIndex(delivery_menu.chosen(self._delivery_menu, lv["loudness"],
                                                               lv["true_peak"], lv["delivery"]) or 0)

    def _build_cues(self) -> QWidget:
        """The right-hand pane: the cue table, the selected cue's strip and takes, the legend, notes."""
        self.model = CueModel(self.session, self)
        self.table = CueTable(self.model)
        self.table.setObjectName("cue_table")
        self.info = QLabel("")
        self.info.setWordWrap(True)
        self.legend = QLabel(legend_html())
        right = QWidget()
        r = QVBoxLayout(right)
        r.setContentsMargins(0, 0, 0, 0)
        r.addWidget(self.table, 1)
        self.strip = WaveformView(self.model.shapes)          # the selected cue's slot and take
        r.addWidget(self.strip)
        self.alternates_bar = AlternatesBar()
        r.addWidget(self.alternates_bar)
        r.addWidget(self.legend)
        r.addWidget(self.info)
        return right

    def _wire(self) -> None:
        q, rw = self.link.quick, self.link.render
        q.status.connect(self._on_status)
        q.voices.connect(self._on_voices)
        q.natural.connect(self._on_natural)
        q.natural_failed.connect(self._on_natural_failed)
        rw.cue_started.connect(self._on_cue_started)
        rw.progress.connect(self._on_progress)
        rw.cue_done.connect(self._on_cue_done)
        rw.dubbed.connect(self._on_dubbed)
        rw.finished.connect(self._on_finished)
        self.start_button.clicked.connect(self.start_daemon)
        self.open_button.clicked.connect(lambda: self.open_timeline())
        self.open_cast_button.clicked.connect(lambda: self.open_cast())
        self.save_button.clicked.connect(lambda: self.save())
        self.audition_button.clicked.connect(self.audition)
        self.render_all_button.clicked.connect(self.render_all)
        self.cancel_button.clicked.connect(self.cancel)
        self.dub_button.clicked.connect(self.dub_timeline)
        self.delivery_box.currentIndexChanged.connect(self.set_delivery)
        self.cast_view.editor.preview.attach(self.link, self.player, lambda m: self.statusBar().showMessage(m, 8000))
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._show_alternates())
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._show_strip())
        self.model.dataChanged.connect(lambda *_: self._show_strip())       # a take, natural length or text
        self.model.modelReset.connect(self._show_strip)
        self.player.position.connect(lambda seconds: self.strip.set_playhead(seconds, self.player.last))
        self.player.stopped.connect(lambda: self.strip.set_playhead(None))
        self.alternates_bar.render_requested.connect(self.render_alternates)
        self.alternates_bar.picked.connect(self.pick_take)
        self.alternates_bar.play_requested.connect(self.play_alternate)
        self.history.cleanChanged.connect(self._on_history)
        self.history.indexChanged.connect(self._on_history)
        self.cast_view.editor.edited.connect(self._on_character_edited)
        self.cast_view.editor.colors_edited.connect(self._on_colors_edited)
        self.model.text_edited.connect(self._on_text_edited)
        self.player.message.connect(lambda m: self.statusBar().showMessage(m, 8000))
        self.table.doubleClicked.connect(lambda ix: ix.column() != 4 and self.audition())

    # ------------------------------------------------------------------ state shown
    def _set_banner(self, kind: str, text: str, offer_start: bool) -> None:
        self.banner.setStyleSheet("QFrame#banner {" + BANNER_STYLE[kind] + "}")
        self.banner_label.setText(text)
        self.start_button.setVisible(offer_start)
        self.start_button.setEnabled(offer_start)

    def _update_buttons(self) -> None:
        loaded = self.session.timeline is not None and bool(self.session.rows)
        idle = self.task is None
        can = bool(self.daemon_ok) and loaded and idle
        self.audition_button.setEnabled(can)
        self.render_all_button.setEnabled(can)
        self.dub_button.setEnabled(can)
        self.cancel_button.setEnabled(not idle)
        self.save_button.setEnabled(self.session.timeline is not None)
        if hasattr(self, "actions"):
            self.actions["undo"].setEnabled(self.history.canUndo())
            self.actions["redo"].setEnabled(self.history.canRedo())
            self.actions["undo"].setText(f"&Undo {self.history.undoText()}".strip())
            self.actions["redo"].setText(f"&Redo {self.history.redoText()}".strip())
        self.open_button.setEnabled(idle)
        self.delivery_box.setEnabled(idle)
        self.open_cast_button.setEnabled(idle and self.session.timeline is not None)
        self.audition_button.setText("Rendering…" if self.task == "audition" else "▶ Audition")
        if hasattr(self, "alternates_bar"):
            self._show_alternates()

    def _error(self, text: str) -> None:
        self.last_error = text
        self.info.setStyleSheet("color:#b3261e;")
        self.info.setText(text)
        log.warning("%s", text)

    def _note(self, text: str) -> None:
        self.info.setStyleSheet("")
        self.info.setText(text)

    def reload(self) -> None:
        """Everything again from the session (after opening a timeline or cast)."""
        self.model.reset()
        self.cast_view.refresh(self.session)
        tl = self.session.timeline
        self._update_title()
        if tl is not None:
            notes = [*self.session.plan.notes]
            self._note(f"{len(self.session.rows)} cue(s) in {tl.name}; cast: {self.session.cast_path}"
                       + (" (not saved yet)" if not self.session.doc else "")
                       + ("\n" + "\n".join(notes) if notes else ""))
        else:
            self._note("Open a timeline (.otio .xml .fcpxml .edl .srt .vtt .ass) to cast its lines.")
        self._update_buttons()
        self._ask_naturals()

    def _changed(self) -> None:
        """After a cast, text or pick edit (or its undo): same cues, new values."""
        self._reattach_alternates()
        if self.cast_view.names()[1:] != self.session.characters():
            self.cast_view.refresh(self.session)
        else:
            self.cast_view._update_labels(self.session)
        self.model.refresh()
        self._ask_naturals()

    def _ask_naturals(self) -> None:
        if not self.daemon_ok:
            return
        keys = [k for k in self.session.missing_naturals() if k not in self._pending]
        self._pending.update(keys)
        self.link.explain(keys)

    # ------------------------------------------------------------------ daemon
    def check_daemon(self) -> None:
        if not self._checking:
            self._checking = True
            self.link.check()

    def start_daemon(self) -> None:
        self._set_banner("busy", "Starting the takefit daemon (the engine loads once, a few seconds)…", False)
        self._checking = True
        self.link.start_daemon()

    def _on_status(self, ok: bool, message: str, health: dict) -> None:
        self._checking = False
        was = self.daemon_ok
        self.daemon_ok = ok
        if ok:
            self._lost = False
            pid = health.get("pid", "?")
            self._set_banner("ok", f"Daemon ready (pid {pid}): renders run there; this window never waits on them.",
                             False)
            if not was:
                self._pending.clear()
                self.link.fetch_voices()
                self._ask_naturals()
        elif not self._lost:   # after a loss mid-render its banner stays until the daemon is back
            self._set_banner("down", f"{message}  Renders need it: start it here or run `takefit daemon start`.",
                             True)
        self._update_buttons()

    def _on_voices(self, voices: list) -> None:
        self.voices = voices
        ed = self.cast_view.editor
        ed._quiet = True
        try:
            ed.voice.set_voices(voices)
        finally:
            ed._quiet = False

    def _on_natural(self, key, seconds: float) -> None:
        self._pending.discard(tuple(key))
        for i in self.session.set_natural(tuple(key), seconds):
            self.model.refresh_row(i)

    def _on_natural_failed(self, key, message: str) -> None:
        self._pending.discard(tuple(key))
        for i in self.session.set_natural(tuple(key), 0.0):
            self.session.rows[i].message = message
            self.model.refresh_row(i)

    # ------------------------------------------------------------------ editing (each edit one undo step)
    def _edit(self, label: str, change) -> bool:
        try:
            done = self.history.edit(label, change)
        except TakefitError as e:
            self._error(str(e))
            return False
        if done:
            self._changed()
        return done

    def _on_character_edited(self, name: str, entry: dict) -> None:
        who = "[defaults]" if name == sess.DEFAULTS else name
        if self._edit(f"cast {who}", lambda: self.session.set_entry(name, entry)):
            self._note(f"{who}: cast changed (not saved yet)")

    def _on_colors_edited(self, name: str, colors: list) -> None:
        self._edit(f"colours of {name}", lambda: self.session.set_colors(name, colors))

    def _on_text_edited(self, cue_id: str, text: str) -> None:
        if self._edit(f"text of {cue_id}", lambda: self.session.set_text(cue_id, text)):
            self._note(f"{cue_id}: line edited (not saved yet; Ctrl+S writes it beside the timeline)")

    def _on_history(self, *_) -> None:
        if not sip.isdeleted(self.history):     # a closing window's stack empties itself on the way out
            self._update_title()
            self._update_buttons()

    def _update_title(self) -> None:
        tl = self.session.timeline
        base = f"takefit – {tl.name}" if tl else "takefit – casting panel"
        self.setWindowTitle(base + (" *" if self.session.dirty else ""))

    # ------------------------------------------------------------------ files
    def open_timeline(self, path: Path | None = None, cast: Path | None = None) -> bool:
        if not self._may_discard("open another timeline"):
            return False
        if path is None:
            name, _ = QFileDialog.getOpenFileName(
                self, "Open timeline", "",
                "Timelines (*.otio *.xml *.fcpxml *.edl *.srt *.vtt *.ass *.ssa *.ttml *.dfxp *.itt *.scc *.stl);;"
                "All files (*)")
            if not name:
                return False
            path = Path(name)
        try:
            self.session.open(Path(path), cast)
        except TakefitError as e:
            self._error(f"cannot open {path}: {e}")
            return False
        self._pending.clear()
        self.history.reset()
        self.reload()
        return True

    def open_cast(self, path: Path | None = None) -> bool:
        if not self._may_discard("open another cast"):
            return False
        if path is None:
            name, _ = QFileDialog.getOpenFileName(self, "Open cast file", str(self.session.cast_path or ""),
                                                  "Cast files (*.toml)")
            if not name:
                return False
            path = Path(name)
        try:
            self.session.open_cast(Path(path))
        except TakefitError as e:
            self._error(str(e))
            return False
        self.history.reset()
        self.reload()
        return True

    def save_cast(self, path: Path | None = None) -> Path | None:
        try:
            saved = self.session.save_cast(path)
        except (TakefitError, OSError) as e:
            self._error(f"cast not saved: {e}")
            return None
        self._note(f"cast saved: {saved}")
        self.statusBar().showMessage(f"saved {saved}", 8000)
        self._update_title()
        return saved

    def save(self) -> bool:
        """Ctrl+S: the cast file and the timeline's sidecar (edited lines, picked takes), so `takefit dub`,
        the watch folder and Resolve render what was edited here."""
        if self.session.timeline is None:
            return False
        try:
            written = self.session.save()
        except (TakefitError, OSError) as e:
            self._error(f"not saved: {e}")
            return False
        self.history.setClean()               # undo still works; the title and prompt follow the session
        self._update_title()
        text = "saved " + (", ".join(str(p) for p in written) if written else "(nothing to write)")
        self._note(text)
        self.statusBar().showMessage(text, 8000)
        return True

    def _may_discard(self, doing: str) -> bool:
        """True when nothing is unsaved, or the editor saved or chose to discard it. Unsaved is what the
        session derives (its cast and sidecar against the files), so an edit undone or saved by another
        path (Save cast) is not asked about."""
        if not self.session.dirty:
            return True
        buttons = QMessageBox.StandardButton
        answer = QMessageBox.question(
            self, "Unsaved changes",
            f"Edited lines, picks or cast changes are not saved. Save them before you {doing}?\n"
            f"(Saving writes the cast file and the sidecar beside the timeline; `takefit dub` reads both.)",
            buttons.Save | buttons.Discard | buttons.Cancel, buttons.Save)
        if answer == buttons.Save:
            return self.save()
        return answer == buttons.Discard

    # ------------------------------------------------------------------ rendering
    def _begin(self, kind: str, task) -> bool:
        if not self.link.submit(task):
            return False
        self.task = kind
        self.progress.setValue(0)
        if kind == "audition":
            self.progress.setRange(0, 0)           # busy: no steps to count for one take
        self.setCursor(Qt.CursorShape.BusyCursor)
        self._update_buttons()
        return True

    def set_delivery(self, index: int) -> None:
        """The "Deliver to" pick: every take is leveled to it from now on (rendered takes go, as after a
        voice change)."""
        if not 0 <= index < len(self._delivery_menu):
            return
        label, name, loudness, peak = self._delivery_menu[index]
        if self.session.set_levels(loudness, peak, name):
            self.model.refresh()
            self._note(f"delivering to {label}: takes render again at these levels")

    def audition(self) -> bool:
        """Render the selected cue (the first if none) in the daemon, then play it."""
        if not self.session.rows or self.task is not None or not self.daemon_ok:
            return False
        i = self.table.selected_row()
        i = 0 if i is None else i
        row = self.session.rows[i]
        if row.cue.problems:
            self._error(f"{row.cue.id}: " + "; ".join(row.cue.problems))
            return False
        task = RenderTask("audition", [row.cue], self.session.options(), self.session.take_folder())
        if not self._begin("audition", task):
            return False
        row.status, row.message = sess.QUEUED, ""
        self._audition_cue = row.cue.id
        self.model.refresh_row(i)
        self._note(f"auditioning {row.cue.id}: rendering in the daemon…")
        return True

    def render_all(self) -> bool:
        if not self.session.rows or self.task is not None or not self.daemon_ok:
            return False
        task = RenderTask("all", [r.cue for r in self.session.rows], self.session.options(),
                          self.session.take_folder())
        if not self._begin("all", task):
            return False
        for r in self.session.rows:
            r.status, r.message = sess.QUEUED, ""
        self.model.refresh()
        self._note(f"rendering {len(self.session.rows)} cue(s) in the daemon…")
        return True

    def dub_timeline(self) -> bool:
        if not self.session.rows or self.task is not None or not self.daemon_ok:
            return False
        try:
            outputs = self.session.outputs()
            task = DubTask(self.session.options(), self.session.dub_plan())
        except TakefitError as e:
            self._error(str(e))
            return False
        if not self._begin("dub", task):
            return False
        self._note(f"dubbing into {outputs.timeline} …")
        return True

    def _show_strip(self) -> None:
        picked = self._selected()
        self.strip.show_content(content_of(picked[1], self.session.timecode) if picked else None)

    def cancel(self) -> None:
        if self.task is not None:
            self.link.cancel()
            self._note("canceling…")

    def _on_cue_started(self, cue_id: str) -> None:
        i, row = self.session.row(cue_id)
        row.status = sess.RENDERING
        self.model.refresh_row(i)

    def _on_progress(self, fraction: float) -> None:
        if self.task not in (None, "audition"):
            self.progress.setValue(int(round(100 * min(max(fraction, 0.0), 1.0))))

    def _on_cue_done(self, result) -> None:
        try:
            i, row = self.session.row(result.cue.id)
        except KeyError:
            return
        if self.task == "alternates":
            if result.take is not None:
                self.alternates.setdefault(self._alternates_key(result.cue), {})[result.cue.variant] = \
                    Path(result.take)
            self._show_alternates()
            if result.cue.variant != row.cue.variant:
                return          # another read than the one the cue uses: offered in the bar only
        row.status = result.status
        if result.take is not None:
            row.take = Path(result.take)
            row.pins = list(result.pins or [])
        row.message = result.error or "; ".join(result.warnings)
        self.model.refresh_row(i)

    def _on_dubbed(self, report) -> None:
        self.last_report = report
        out = (report.outputs or {}).get("timeline", "")
        self._note(f"{report.summary_line()}  →  {out}")

    def _on_finished(self, kind: str, outcome: str, message: str) -> None:
        self.task = None
        self.unsetCursor()
        self.progress.setRange(0, 100)
        left = sess.CANCELED if outcome == CANCELED else sess.INTERRUPTED
        for i, r in enumerate(self.session.rows):
            if r.status in (sess.QUEUED, sess.RENDERING):
                r.status, r.message = left, message
                self.model.refresh_row(i)
        if outcome == DONE:
            if kind == "audition":
                self.progress.setValue(100)
                self._play_audition()
            elif kind == "alternates":
                got = self.alternates.get(self._alternates_key(self.session.row(self._audition_cue)[1].cue), {})
                self._note(f"{self._audition_cue}: takes {', '.join(map(str, sorted(got)))} ready: ▶ to hear "
                           f"each, pick one (Save writes the pick for `takefit dub`)")
            elif kind == "all":
                done = sum(1 for r in self.session.rows if r.status in ("rendered", "cached", "flagged"))
                self._note(f"rendered {done} of {len(self.session.rows)} cue(s); double-click a cue to hear it")
        elif outcome == LOST:
            self.daemon_ok = False
            self._lost = True
            self._set_banner("down", f"The takefit daemon stopped while rendering ({message}). Nothing is "
                                     f"lost: start it again and render the interrupted cues.", True)
            self._error(f"{kind}: the daemon was lost: {message}")
            self.check_daemon()
        elif outcome == CANCELED:
            self._note(message)
        else:
            self._error(f"{kind} failed: {message}")
        self._update_buttons()

    def _play_audition(self) -> None:
        i, row = self.session.row(self._audition_cue)
        if row.take is None or row.status not in ("rendered", "cached", "flagged"):
            self._error(f"audition: {row.cue.id} {row.status or 'not rendered'}: {row.message}")
            return
        self._note(f"{row.cue.id}: {row.status}; {row.message or 'no warnings'}")
        self.player.play(row.take)

    # ------------------------------------------------------------------ closing
    def closeEvent(self, event) -> None:
        if not self._may_discard("close the panel"):
            event.ignore()
            return
        self.bare_keys.remove()
        self.timer.stop()
        self.player.stop()
        self.link.close()
        super().closeEvent(event)
