"""The casting panel as an editor's tool (#21.2–4): undo/redo over text, cast and pick edits, the close
prompt, keyboard shortcuts and the Help menu, alternate takes picked and persisted.

Editing needs no daemon (a private, empty daemon home: the banner says it is down); alternates render
in the real session daemon over real ZeroMQ.
"""
from __future__ import annotations

import os
import shutil
import tomllib
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PyQt6.QtWidgets")
pytest.importorskip("pytestqt")

import soundfile as sf  # noqa: E402
from PyQt6.QtCore import Qt  # noqa: E402
from PyQt6.QtWidgets import QApplication, QLineEdit, QMessageBox  # noqa: E402

from test_daemon_support import daemon  # noqa: E402,F401 (fixture)

from takefit.bridges.panel import app, shortcuts  # noqa: E402
from takefit.daemon.paths import Dirs  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "timelines"
USER = Qt.ItemDataRole.UserRole
CTRL, SHIFT = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier


@pytest.fixture
def timeline(tmp_path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    return Path(shutil.copy(FIXTURES / "dialogue.srt", folder / "dialogue.srt"))


def open_window(qtbot, timeline: Path, dirs: Dirs):
    w = app.build(timeline, None, rate="25", dirs=dirs, poll_ms=300)
    qtbot.addWidget(w)
    w.show()
    return w


@pytest.fixture
def offline(qtbot, timeline, tmp_path):
    """A window whose daemon home has no daemon: every edit still works."""
    w = open_window(qtbot, timeline, Dirs.resolve(tmp_path / "no-daemon"))
    qtbot.waitUntil(lambda: w.daemon_ok is False, timeout=10000)
    return w


def pick_voice(w, name: str) -> None:
    box = w.cast_view.editor.voice
    i = box.findData(name, USER)
    if i < 0:                       # offline: the daemon listed no voices; the box keeps any name typed in
        box.set_voice(name)
    else:
        box.setCurrentIndex(i)


def test_undo_redo_cover_text_cast_and_pick_edits(offline):
    w = offline
    original = w.session.rows[1].cue.text
    assert w.history.isClean() and not w.actions["undo"].isEnabled()

    w.model.setData(w.model.index(1, 4), "Good morning, everyone.")
    w.cast_view.select("alice")
    pick_voice(w, "af_bella")
    w.table.selectRow(2)
    assert w.pick_take(3)
    assert w.session.rows[1].cue.text == "Good morning, everyone."
    assert w.session.rows[0].cue.voice == "af_bella"
    assert w.session.rows[2].cue.variant == 3 and w.session.picks == {"c003": 3}
    assert w.history.count() == 3 and not w.history.isClean() and w.windowTitle().endswith("*")
    assert "pick take 3" in w.actions["undo"].text()

    w.history.undo()                                      # the pick
    assert w.session.rows[2].cue.variant == 1 and w.session.picks == {}
    w.history.undo()                                      # the cast
    assert w.session.rows[0].cue.voice != "af_bella" and "voice" not in w.session.entry("alice")
    w.history.undo()                                      # the text
    assert w.session.rows[1].cue.text == original and w.history.isClean()
    assert not w.windowTitle().endswith("*") and not w.actions["undo"].isEnabled()

    w.history.redo()
    w.history.redo()
    w.history.redo()
    assert w.session.rows[1].cue.text == "Good morning, everyone."
    assert w.session.rows[0].cue.voice == "af_bella" and w.session.rows[2].cue.variant == 3
    # the table shows what the session holds after each step
    assert w.model.data(w.model.index(1, 4)) == "Good morning, everyone."


def test_a_refused_edit_is_not_an_undo_step(offline):
    w = offline
    w.cast_view.select("alice")
    w._on_character_edited("alice", {"voice": "af_bella", "speed": "sideways"})   # not a speed policy
    assert "speed" in w.last_error and w.history.count() == 0 and w.history.isClean()
    w.model.setData(w.model.index(0, 4), w.session.rows[0].cue.text)                # unchanged text
    assert w.history.count() == 0


def test_close_asks_before_discarding_and_save_writes_what_dub_reads(offline, timeline, monkeypatch):
    w = offline
    answers: list = []

    def question(parent, title, text, *args, **kwargs):
        answers.append(text)
        return reply
    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))

    reply = QMessageBox.StandardButton.Cancel
    assert w.close() is True and not answers                  # nothing edited: no question
    w.show()
    w.model.setData(w.model.index(1, 4), "Good morning, everyone.")
    w.table.selectRow(0)
    w.pick_take(2)

    assert w.close() is False and w.isVisible()               # Cancel: still open, nothing lost
    assert "not saved" in answers[-1] and w.session.rows[1].cue.text == "Good morning, everyone."
    reply = QMessageBox.StandardButton.Save
    assert w.close() is True                                   # Save, then close
    sidecar = timeline.with_name(timeline.name + ".takefit.toml")
    doc = tomllib.loads(sidecar.read_text("utf-8"))
    assert "Good morning, everyone." in sidecar.read_text("utf-8") and "c001" in str(doc) and "c002" in str(doc)

    # a fresh window reads the sidecar back: the edit and the pick are there, nothing to save
    w2 = app.build(timeline, None, rate="25", dirs=w.link.dirs, poll_ms=300)
    try:
        assert w2.session.rows[1].cue.text == "Good morning, everyone."
        assert w2.session.rows[0].cue.variant == 2 and w2.history.isClean()
        reply = QMessageBox.StandardButton.Discard
        w2.model.setData(w2.model.index(2, 4), "Something else entirely.")
        assert w2.close() is True                              # Discard: closes, the file is unchanged
        assert "Something else" not in sidecar.read_text("utf-8")
    finally:
        w2.deleteLater()


def test_unsaved_is_what_the_session_derives(offline, monkeypatch):
    w = offline
    asked: list = []
    monkeypatch.setattr(QMessageBox, "question",
                        staticmethod(lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.Cancel))
    w.model.setData(w.model.index(1, 4), "Good morning, everyone.")
    w.history.undo()                                  # back to what is on disk: nothing to lose
    assert not w.session.dirty and not w.windowTitle().endswith("*")
    w.cast_view.select("alice")
    pick_voice(w, "af_bella")
    assert w.windowTitle().endswith("*")
    assert w.save_cast() is not None                  # saved by the cast-only path: nothing left to ask about
    assert not w.windowTitle().endswith("*") and w.close() is True and not asked


def test_opening_another_timeline_asks_too(offline, timeline, monkeypatch):
    w = offline
    monkeypatch.setattr(QMessageBox, "question",
                        staticmethod(lambda *a, **k: QMessageBox.StandardButton.Cancel))
    w.model.setData(w.model.index(1, 4), "Good morning, everyone.")
    assert w.open_timeline(timeline) is False and w.session.rows[1].cue.text == "Good morning, everyone."
    monkeypatch.setattr(QMessageBox, "question",
                        staticmethod(lambda *a, **k: QMessageBox.StandardButton.Discard))
    assert w.open_timeline(timeline) is True
    assert w.session.rows[1].cue.text != "Good morning, everyone." and w.history.count() == 0


def test_shortcuts_act_and_text_fields_keep_their_keys(offline, qtbot, monkeypatch):
    w = offline
    QApplication.setActiveWindow(w)
    w.table.setFocus()
    w.table.selectRow(0)
    qtbot.keyClick(w.table, Qt.Key.Key_Down)
    assert w.table.selected_row() == 1
    qtbot.keyClick(w.table, Qt.Key.Key_Up)
    qtbot.keyClick(w.table, Qt.Key.Key_Up)                     # stays on the first cue
    assert w.table.selected_row() == 0

    played: list = []
    monkeypatch.setattr(w, "audition", lambda: played.append("audition") or True)
    qtbot.keyClick(w.table, Qt.Key.Key_Return)
    qtbot.keyClick(w.table, Qt.Key.Key_Space)                  # no take yet: Space auditions
    assert played == ["audition", "audition"]

    w.model.setData(w.model.index(1, 4), "Good morning, everyone.")
    qtbot.keyClick(w.table, Qt.Key.Key_Z, CTRL)
    assert w.session.rows[1].cue.text != "Good morning, everyone."
    qtbot.keyClick(w.table, Qt.Key.Key_Z, CTRL | SHIFT)
    assert w.session.rows[1].cue.text == "Good morning, everyone."

    # Space and Enter typed in a text field go to the field, not to the shortcuts
    w.cast_view.select("alice")
    field = w.cast_view.editor.colors
    assert isinstance(field, QLineEdit) and field.isEnabled()
    field.setFocus()
    field.clear()
    qtbot.keyClicks(field, "a b")
    assert field.text() == "a b"
    qtbot.keyClick(field, Qt.Key.Key_Return)                   # ends the field's edit, auditions nothing
    assert played == ["audition", "audition"]

    saved: list = []
    monkeypatch.setattr(w, "save", lambda: saved.append(1) or True)
    qtbot.keyClick(w.table, Qt.Key.Key_S, CTRL)
    assert saved == [1]


def test_help_menu_lists_every_shortcut(offline):
    w = offline
    menus = {a.text().replace("&", ""): a.menu() for a in w.menuBar().actions()}
    assert list(menus) == ["File", "Edit", "Take", "Help"]
    w.actions["help"].trigger()
    text = w._help_box.text()
    for label, keys, _tip in shortcuts.SHORTCUTS.values():
        assert label.replace("&", "") in text
        for k in keys:
            assert k.split("+")[-1] in text
    in_menus = {a.text() for m in menus.values() for a in m.actions() if not a.isSeparator()}
    assert {a.text() for a in w.actions.values()} <= in_menus
    w._help_box.close()


@pytest.mark.slow
def test_alternates_render_pick_and_dub_uses_the_pick(qtbot, daemon, timeline):  # noqa: F811
    from takefit.bridges.dub import pipeline as dub
    from takefit.bridges.dub.render import DaemonRenderer

    w = open_window(qtbot, timeline, daemon.dirs)
    qtbot.waitUntil(lambda: w.daemon_ok is True, timeout=30000)
    w.model.setData(w.model.index(1, 4), "Take it from the top.")
    w.table.selectRow(1)
    assert w.render_alternates()
    assert w.alternates_bar.render_button.text() == "Rendering…"
    qtbot.waitUntil(lambda: w.task is None, timeout=180000)
    row = w.session.rows[1]
    takes = w.alternates[w._alternates_key(row.cue)]
    assert sorted(takes) == [1, 2, 3, 4], w.last_error
    audio = {n: sf.read(str(p))[0] for n, p in takes.items()}
    assert len({len(a) for a in audio.values()}) == 1                    # every read fills the same slot
    assert all(not (audio[1] == audio[n]).all() for n in (2, 3, 4))        # and they are other reads
    assert row.take == takes[1] and all(w.alternates_bar.plays[n].isEnabled() for n in (1, 2, 3, 4))
    with daemon.client() as c:                        # an editor is waiting: ahead of batches in the queue
        assert c.job(w.link.render._current.inner.job)["priority"] == "high"

    w.alternates_bar.radios[3].click()                                    # the editor picks take 3
    row = w.session.rows[1]
    assert row.cue.variant == 3 and row.take == takes[3] and row.status == "rendered"
    assert w.alternates_bar.radios[3].isChecked()
    if os.environ.get("TAKEFIT_ALTERNATES_SCREENSHOT"):      # the README's picture of the alternates
        assert w.grab().save(os.environ["TAKEFIT_ALTERNATES_SCREENSHOT"])
    assert w.save()
    # `takefit dub` (here its pipeline over the same daemon) renders the picked read: found in the cache
    opts = dub.DubOptions(timeline, rate="25")
    with daemon.client() as c:
        report = dub.run(opts, DaemonRenderer(c))
    second = report.results[1]
    assert second.cue.text == "Take it from the top." and second.cue.variant == 3 and second.cached, second
    assert sf.read(str(second.take))[0].tolist() == audio[3].tolist()
