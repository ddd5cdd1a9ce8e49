"""Alternate takes of the selected cue: render takes 1–4 (take 1 is the standard read), hear each, pick one.

The pick is the cue's `variant`; the window records it as an undoable edit and Save writes it to the
timeline's sidecar, where `takefit dub`, the watch folder and Resolve find it.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QButtonGroup, QHBoxLayout, QLabel, QPushButton, QRadioButton, QToolButton, QWidget

from . import session as sess
from .daemon_link import RenderTask

TAKES = (1, 2, 3, 4)        # the standard read and three alternates


class AlternatesBar(QWidget):
    render_requested = pyqtSignal()
    picked = pyqtSignal(int)          # the variant chosen for the shown cue
    play_requested = pyqtSignal(int)  # the variant to hear

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.cue_id = ""
        self.label = QLabel("Takes:")
        self.render_button = QPushButton("Render alternates")
        self.render_button.setToolTip("render takes 2–4 of the selected cue: other pauses, pitch contour, pace and "
                                      "intensity, each still fitting the slot exactly (Ctrl+T)")
        self.group = QButtonGroup(self)
        self.radios: dict[int, QRadioButton] = {}
        self.plays: dict[int, QToolButton] = {}
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.label)
        for n in TAKES:
            radio = QRadioButton(f"take {n}")
            radio.setToolTip("use this read for the cue (`takefit dub` renders it after Save)")
            play = QToolButton()
            play.setText("▶")
            play.setToolTip(f"hear take {n}")
            self.group.addButton(radio, n)
            self.radios[n], self.plays[n] = radio, play
            play.clicked.connect(lambda _c, n=n: self.play_requested.emit(n))
            lay.addWidget(radio)
            lay.addWidget(play)
        lay.addStretch(1)
        lay.addWidget(self.render_button)
        self.group.idClicked.connect(self._clicked)
        self.render_button.clicked.connect(self.render_requested.emit)
        self.show_cue("", {}, 1, busy=False, can_render=False)

    def show_cue(self, cue_id: str, takes: dict[int, Path], picked: int, busy: bool, can_render: bool) -> None:
        """What the bar shows for a cue: which takes exist (playable), which one is picked."""
        self.cue_id = cue_id
        self.label.setText(f"Takes of {cue_id}:" if cue_id else "Takes:")
        for n in TAKES:
            have = takes.get(n) is not None and Path(takes[n]).is_file()
            self.plays[n].setEnabled(have)
            self.radios[n].setEnabled(bool(cue_id) and (have or n == picked or n == 1))
            self.radios[n].blockSignals(True)
            self.radios[n].setChecked(n == picked)
            self.radios[n].blockSignals(False)
            self.radios[n].setText(f"take {n}" + ("" if have else " ·"))
        if picked not in TAKES and cue_id:
            self.label.setText(f"Takes of {cue_id} (picked: take {picked}):")
        self.render_button.setEnabled(can_render and bool(cue_id))
        self.render_button.setText("Rendering…" if busy else "Render alternates")

    def _clicked(self, n: int) -> None:
        if self.cue_id:
            self.picked.emit(n)


class Alternates:
    """The window's alternate-take commands (mixed into PanelWindow): render takes 1–4 of the selected cue,
    hear them, pick one. `self.alternates` maps (cue id, the standard read's key) → {variant: take}."""

    def _selected(self) -> tuple[int, sess.Row] | None:
        i = self.table.selected_row()
        if i is None or i >= len(self.session.rows):
            return None
        return i, self.session.rows[i]

    @staticmethod
    def _alternates_key(cue) -> tuple:
        """Takes of one line are alternates of each other while everything but the variant stays."""
        return cue.id, sess.render_key(replace(cue, variant=1))

    def render_alternates(self) -> bool:
        """Render takes 1–4 of the selected cue (take 1 usually comes from the cache) to pick from."""
        picked = self._selected()
        if picked is None or self.task is not None or not self.daemon_ok:
            return False
        _, row = picked
        if row.cue.problems:
            self._error(f"{row.cue.id}: " + "; ".join(row.cue.problems))
            return False
        cues = [replace(row.cue, variant=n) for n in TAKES]
        if not self._begin("alternates", RenderTask("alternates", cues, self.session.options(),
                                                    self.session.take_folder())):
            return False
        self._audition_cue = row.cue.id
        self._note(f"rendering takes {TAKES[0]}–{TAKES[-1]} of {row.cue.id} in the daemon…")
        self._show_alternates()
        return True

    def pick_take(self, variant: int) -> bool:
        """Use take `variant` for the selected cue: an undoable edit, saved to the sidecar by Save."""
        picked = self._selected()
        if picked is None:
            return False
        _, row = picked
        cue_id = row.cue.id
        if variant == row.cue.variant:
            return True
        if self._edit(f"pick take {variant} of {cue_id}", lambda: self.session.set_pick(cue_id, variant)):
            self._note(f"{cue_id}: take {variant} picked (not saved yet; Ctrl+S)")
        self._show_alternates()
        return True

    def play_alternate(self, variant: int) -> None:
        picked = self._selected()
        if picked is None:
            return
        path = self.alternates.get(self._alternates_key(picked[1].cue), {}).get(variant)
        if path is not None:
            self.player.play(path)

    def _reattach_alternates(self) -> None:
        """A picked take already rendered as an alternate is the row's take again (no new render)."""
        for i, row in enumerate(self.session.rows):
            path = self.alternates.get(self._alternates_key(row.cue), {}).get(row.cue.variant)
            if row.take is None and path is not None and path.is_file():
                row.take, row.status, row.message = path, "rendered", ""
                self.model.refresh_row(i)
        self._show_alternates()

    def _show_alternates(self) -> None:
        picked = self._selected()
        if picked is None:
            self.alternates_bar.show_cue("", {}, 1, busy=False, can_render=False)
            return
        _, row = picked
        takes = self.alternates.get(self._alternates_key(row.cue), {})
        self.alternates_bar.show_cue(row.cue.id, takes, row.cue.variant, busy=self.task == "alternates",
                                     can_render=bool(self.daemon_ok) and self.task is None)
