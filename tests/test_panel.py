"""The casting panel (PyQt6, offscreen) against real daemons over real ZeroMQ.

One window on the session daemon goes through an editor's session: load a timeline, assign voices
and emotions, audition a cue (a real render, a real WAV), render all to 100 %, save the cast and
reopen it, dub the timeline. A second test starts with no daemon, starts one from the panel, kills
it mid-render and checks the window comes back to a clear, usable state.

Set TAKEFIT_PANEL_SCREENSHOT=docs/panel.png to keep the screenshot the first test takes.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import tomllib
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PyQt6.QtWidgets")
pytest.importorskip("pytestqt")

import soundfile as sf  # noqa: E402
from PyQt6.QtCore import Qt  # noqa: E402

from test_daemon_support import daemon  # noqa: E402,F401 (fixture)

from takefit.daemon import connect, control  # noqa: E402
from takefit.daemon.paths import Dirs  # noqa: E402
from takefit.bridges.panel import app  # noqa: E402
from takefit.bridges.panel.cue_table import BAND_COLORS, RATIO  # noqa: E402
from takefit.bridges.panel.session import band  # noqa: E402
from takefit.engine.loudness import measure  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "timelines"
USER = Qt.ItemDataRole.UserRole
LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def timeline(tmp_path) -> Path:
    # three subtitles: [alice | happy 0.5] …, an untagged line (the defaults), [bob | lang=zh] …
    folder = tmp_path / "project"
    folder.mkdir()
    return Path(shutil.copy(FIXTURES / "dialogue.srt", folder / "dialogue.srt"))


def open_window(qtbot, timeline: Path, dirs: Dirs, cast: Path | None = None):
    w = app.build(timeline, cast, rate="25", dirs=dirs, poll_ms=300)
    qtbot.addWidget(w)
    w.show()
    return w


def naturals_known(w) -> bool:
    return all(r.natural for r in w.session.rows if r.cue.text)


def pick(box, name: str) -> None:
    i = box.findData(name, USER)
    assert i >= 0, f"{name} not offered"
    box.setCurrentIndex(i)


@pytest.mark.slow
def test_cast_audition_render_all_save_reload_and_dub(qtbot, daemon, timeline):  # noqa: F811
    w = open_window(qtbot, timeline, daemon.dirs)
    qtbot.waitUntil(lambda: w.daemon_ok is True, timeout=30000)
    assert "ready" in w.banner_label.text() and not w.start_button.isVisible()
    qtbot.waitUntil(lambda: bool(w.voices) and naturals_known(w), timeout=60000)

    # the cast list: [defaults] and the characters the cues name, in cue order
    assert w.cast_view.names() == ["", "alice", "bob"]
    rows = w.session.rows
    assert [r.cue.character for r in rows] == ["alice", "", "bob"]
    assert [r.cue.duration for r in rows] == [50, 50, 45]

    # voices are grouped by language and gender under non-selectable headers
    box = w.cast_view.editor.voice
    headers = [box.itemText(i) for i in range(box.count()) if not box.model().item(i).isEnabled()]
    assert "Mandarin Chinese · female" in headers and "American English · male" in headers

    # the ratio column: slot ÷ the natural length the daemon explains, colour by band
    with daemon.client() as c:
        for i, r in enumerate(rows):
            speech = c.explain(r.cue.text, r.cue.voice, r.cue.language)["speech_seconds"]
            assert r.ratio == pytest.approx((r.slot_seconds - r.cue.lead - r.cue.tail) / speech)
            ix = w.model.index(i, RATIO)
            assert w.model.data(ix) == f"{r.ratio:.2f}×"
            assert w.model.data(ix, Qt.ItemDataRole.BackgroundRole) == BAND_COLORS[band(r.ratio)]

    # assign voices, an emotion and a speed policy through the editor's widgets
    ed = w.cast_view.editor
    w.cast_view.select("alice")
    pick(ed.voice, "af_bella")
    w.cast_view.select("bob")
    pick(ed.voice, "zm_yunxi")
    ed.emotion.mode.setCurrentIndex(ed.emotion.mode.findData("sliders"))
    ed.emotion.sliders["angry"].setValue(100)
    ed.emotion.intensity.setValue(70)
    pick(ed.speed, "natural")
    ed.max_ratio.setValue(1.3)
    w.cast_view.select("")
    pick(ed.voice, "am_adam")
    assert w.session.entry("bob") == {"voice": "zm_yunxi", "emotion": "angry 0.7", "speed": "natural",
                                      "max_ratio": 1.3}
    assert [r.cue.voice for r in w.session.rows] == ["af_bella", "am_adam", "zm_yunxi"]
    bob = w.session.rows[2].cue
    assert (str(bob.emotion), bob.speed, bob.max_ratio) == ("angry 0.7", "natural", 1.3)
    assert "zm_yunxi" in w.cast_view.list.item(2).text() and "angry" in w.cast_view.list.item(2).text()
    qtbot.waitUntil(lambda: naturals_known(w), timeout=60000)       # new voices: natural lengths again

    # edit a line's text in the table
    w.model.setData(w.model.index(1, 4), "Good morning, everyone.")
    assert w.session.rows[1].cue.text == "Good morning, everyone."
    qtbot.waitUntil(lambda: naturals_known(w), timeout=60000)

    # audition: an obvious busy state, a real render, the take played
    w.table.selectRow(0)
    qtbot.mouseClick(w.audition_button, LEFT)
    assert w.task == "audition" and w.audition_button.text() == "Rendering…"
    assert not w.audition_button.isEnabled() and not w.render_all_button.isEnabled() and w.cancel_button.isEnabled()
    assert w.progress.maximum() == 0                            # an indeterminate (busy) bar
    qtbot.waitUntil(lambda: w.task is None, timeout=90000)
    first = w.session.rows[0]
    assert first.status in ("rendered", "flagged"), first.message      # flagged: read outside 0.7–1.4×
    assert sf.info(str(first.take)).frames == 96000 and sf.info(str(first.take)).samplerate == 48000
    assert w.player.last == first.take
    assert w.audition_button.text() == "▶ Audition" and w.audition_button.isEnabled()

    # render all: progress climbs to 100 %, every cue gets its take
    seen: list[int] = []
    w.progress.valueChanged.connect(seen.append)
    qtbot.mouseClick(w.render_all_button, LEFT)
    assert w.task == "all" and not w.render_all_button.isEnabled()
    qtbot.waitUntil(lambda: w.task is None, timeout=120000)
    assert seen and seen[-1] == 100 and seen == sorted(seen), seen
    assert all(r.status in ("rendered", "flagged") for r in w.session.rows[1:]), \
        [(r.status, r.message) for r in w.session.rows]
    assert w.session.rows[0].status in ("cached", "flagged")      # flagged: read outside 0.7–1.4× (#21.6)
    assert w.session.rows[0].take == first.take                    # the audition's take, not a new one
    for r in w.session.rows:
        assert r.take.is_file() and r.take.parent == timeline.parent / "dialogue_dub_takes"
    assert sf.info(str(w.session.rows[1].take)).frames == 96000
    assert "speed natural" in w.session.rows[2].message

    # the screenshot the README shows: bob's emotion sliders open, no row selected over the colours
    w.cast_view.select("bob")
    w.table.clearSelection()
    shot = timeline.parent / "panel.png"
    assert w.grab().save(str(shot)) and shot.stat().st_size > 10000
    if os.environ.get("TAKEFIT_PANEL_SCREENSHOT"):
        shutil.copy(shot, os.environ["TAKEFIT_PANEL_SCREENSHOT"])

    # save the cast beside the timeline and open it again in a fresh window
    saved = w.save_cast()
    assert saved == timeline.parent / "takefit.cast.toml"
    doc = tomllib.loads(saved.read_text("utf-8"))
    assert doc == {"defaults": {"voice": "am_adam"},
                   "characters": {"alice": {"voice": "af_bella"},
                                  "bob": {"voice": "zm_yunxi", "emotion": "angry 0.7", "speed": "natural",
                                          "max_ratio": 1.3}}}
    w2 = open_window(qtbot, timeline, daemon.dirs)
    assert w2.session.cast_path == saved and w2.session.doc == doc
    assert [r.cue.voice for r in w2.session.rows] == ["af_bella", "am_adam", "zm_yunxi"]
    w2.cast_view.select("bob")
    ed2 = w2.cast_view.editor
    assert ed2.voice.currentData() == "zm_yunxi" and ed2.speed.currentData() == "natural"
    assert ed2.max_ratio.value() == pytest.approx(1.3)
    assert ed2.emotion.mode.currentData() == "sliders" and ed2.emotion.sliders["angry"].value() == 100
    assert ed2.emotion.intensity.value() == 70
    w2.close()

    # dub the timeline, like `takefit dub`, with the panel's edits
    qtbot.mouseClick(w.dub_button, LEFT)
    qtbot.waitUntil(lambda: w.task is None, timeout=120000)
    report = w.last_report
    assert report is not None, w.last_error
    assert [r.cached for r in report.results] == [True] * 3       # the takes rendered above, placed
    written = json.loads(Path(report.outputs["report"]).read_text("utf-8"))
    assert [c["text"] for c in written["cues"]][1] == "Good morning, everyone."
    assert [c["voice"] for c in written["cues"]] == ["af_bella", "am_adam", "zm_yunxi"]
    assert Path(report.outputs["timeline"]).name == "dialogue_dub.srt"
    assert Path(report.outputs["stem"]).is_file()
    assert {Path(c["take"]) for c in written["cues"]} == {r.take for r in w.session.rows}
    assert written["summary"]["stem"]["delivery"]["spec"] == "ebu-r128"     # the default levels, judged

    # deliver to Netflix instead: the takes go (they were leveled for EBU R128), an audition renders anew
    labels = [w.delivery_box.itemText(i) for i in range(w.delivery_box.count())]
    assert labels[w.delivery_box.currentIndex()].startswith("EBU R128")
    w.delivery_box.setCurrentIndex(next(i for i, t in enumerate(labels) if t.startswith("Netflix")))
    assert w.session.levels == {"loudness": -27.0, "true_peak": -2.0, "delivery": "netflix"}
    assert all(r.take is None and r.status == "" for r in w.session.rows)
    w.table.selectRow(1)                                          # the untagged line: no emotion's gain
    qtbot.mouseClick(w.audition_button, LEFT)
    qtbot.waitUntil(lambda: w.task is None, timeout=90000)
    audio, sr = sf.read(str(w.session.rows[1].take))
    levels = measure(audio, sr)
    assert levels.integrated == pytest.approx(-27.0, abs=0.1) and levels.true_peak <= -2.0, levels


@pytest.mark.slow
def test_no_daemon_start_it_then_it_dies_mid_render(qtbot, timeline, tmp_path):
    dirs = Dirs.resolve(tmp_path / "daemon-home")
    w = open_window(qtbot, timeline, dirs)
    qtbot.waitUntil(lambda: w.daemon_ok is False, timeout=10000)
    assert "not running" in w.banner_label.text() and w.start_button.isVisible()
    assert not w.render_all_button.isEnabled() and not w.audition_button.isEnabled()
    assert w.render_all() is False                                  # nothing queued without a daemon

    qtbot.mouseClick(w.start_button, LEFT)
    try:
        qtbot.waitUntil(lambda: w.daemon_ok is True, timeout=90000)
        info = control.read_info(dirs)
        assert info is not None and control.lock_held(dirs)
        qtbot.waitUntil(lambda: naturals_known(w), timeout=60000)

        killed: list[int] = []

        def kill_daemon(_cue_id: str) -> None:
            if not killed:
                os.kill(int(info["pid"]), signal.SIGKILL)
                killed.append(int(info["pid"]))
        w.link.render.cue_started.connect(kill_daemon)
        assert w.render_all()
        qtbot.waitUntil(lambda: w.task is None, timeout=60000)
        assert killed
        # a clear state: the banner says what happened and offers a restart; nothing is left "rendering"
        assert w.daemon_ok is False and "stopped while rendering" in w.banner_label.text()
        assert w.start_button.isVisible() and w.start_button.isEnabled()
        statuses = [r.status for r in w.session.rows]
        assert "interrupted" in statuses and not {"queued", "rendering"} & set(statuses), statuses
        assert not w.cancel_button.isEnabled() and w.open_button.isEnabled()
        assert w.progress.maximum() == 100 and w.cursor().shape() != Qt.CursorShape.BusyCursor
        # and the window still works: edits go on while the daemon is down
        w.cast_view.select("alice")
        pick(w.cast_view.editor.voice, "af_heart")
        assert w.session.rows[0].cue.voice == "af_heart"
    finally:
        if control.lock_held(dirs):
            connect.stop(dirs, timeout=30)


def test_cancel_render_all_stops_and_leaves_a_clear_state(qtbot, daemon, timeline):  # noqa: F811
    w = open_window(qtbot, timeline, daemon.dirs)
    qtbot.waitUntil(lambda: w.daemon_ok is True and naturals_known(w), timeout=60000)
    for i, text in enumerate(("Stop right there.", "Wait for me, please.", "Not yet.")):
        w.model.setData(w.model.index(i, 4), text)            # lines no earlier test rendered
    assert w.session.rows[2].cue.text == "Not yet."
    asked: list[str] = []

    def cancel_after_first(result) -> None:
        if not asked:
            asked.append(result.cue.id)
            qtbot.mouseClick(w.cancel_button, LEFT)
    w.link.render.cue_done.connect(cancel_after_first)
    assert w.render_all()
    qtbot.waitUntil(lambda: w.task is None, timeout=60000)
    statuses = [r.status for r in w.session.rows]
    assert asked == ["c001"] and statuses[0] in ("rendered", "flagged") and statuses[-1] == "canceled", statuses
    assert not {"queued", "rendering"} & set(statuses)
    assert w.progress.value() < 100 and w.daemon_ok and w.render_all_button.isEnabled()
    assert not w.cancel_button.isEnabled()
    # the render that was in flight is canceled in the daemon too, not left to finish
    job = w.link.render._current.interrupted_job
    if job is None:             # cancel landed between two takes: nothing was left running (the next take,
        # in flight on the second client, either came back before the cancel or is marked canceled)
        assert statuses[1] in ("rendered", "flagged", "canceled") and "between takes" in w.info.text()
    else:
        assert "stopped in the daemon" in w.info.text()
        with daemon.client() as c:
            qtbot.waitUntil(lambda: c.job(job)["state"] in ("canceled", "done"), timeout=30000)
            assert c.job(job)["state"] == "canceled"


def test_player_plays_or_says_where_the_take_is(qtbot, tmp_path):
    from takefit.bridges.panel.player import Player

    take = tmp_path / "take.wav"
    sf.write(take, [0.0] * 4800, 48000, subtype="PCM_24")
    player = Player()
    said: list[str] = []
    player.message.connect(said.append)
    text = player.play(take)
    assert player.last == take and said == [text] and "take.wav" in text
    assert player.backend in ("qtmultimedia", "afplay", "paplay", "pw-play", "aplay", "ffplay", "start", "none")
    player.stop()


@pytest.mark.parametrize("entry", [
    {"emotion": "angry 0.7"},
    {"emotion": [0.0, 0.8, 0.0, 0.0, 0.0, 0.0, 0.1, 0.1], "emo_alpha": 0.9},
    {"emotion_text": "愤怒地质问，语气急促", "emo_alpha": 0.8},
    {"emotion_ref": "refs/angry.wav", "emo_alpha": 0.6},
    {"emotion": "from_line", "emo_alpha": 0.5},
    {},
])
def test_emotion_forms_round_trip_through_the_editor(qtbot, tmp_path, entry):
    from takefit.bridges.panel.emotion import EmotionSetting
    from takefit.bridges.panel.emotion_editor import EmotionEditor
    from takefit.otio_adapters import cast as castfile

    (tmp_path / "refs").mkdir()
    sf.write(tmp_path / "refs" / "angry.wav", [0.0] * 4800, 48000)
    editor = EmotionEditor()
    qtbot.addWidget(editor)
    editor.set_setting(EmotionSetting.from_entry({"voice": "af_heart", **entry}))
    back = editor.setting().to_entry({"voice": "af_heart"})
    assert back == {"voice": "af_heart", **entry}
    doc = {"characters": {"alice": back}}
    path = castfile.save(doc, tmp_path / castfile.CAST_FILE)       # checked by the real cast parser
    assert castfile.load_doc(path) == doc
    emotion = castfile.load(path).character("alice").emotion
    assert (emotion is None) == (not entry)


def test_panel_command_errors_name_the_fix(tmp_path, capsys):
    from takefit.bridges import cli

    assert "panel" in cli.COMMANDS
    assert cli.main(["panel", str(tmp_path / "missing.srt")]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "takefit.cast.toml"
    bad.write_text('[characters.alice]\nspeed = "fast"\n', "utf-8")
    shutil.copy(FIXTURES / "dialogue.srt", tmp_path / "dialogue.srt")
    assert cli.main(["panel", str(tmp_path / "dialogue.srt"), "--rate", "25"]) == 2
    assert "speed = 'fast': accepted \"exact\"" in capsys.readouterr().err
