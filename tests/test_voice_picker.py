"""The voice picker (#21.5): every voice says what it is (language, gender, a one-line note with
upstream's grade, or how an enrolled voice was made), and ▶ plays a short preview rendered in a real
daemon, kept for the session and answered from the daemon's take cache the next time.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PyQt6.QtWidgets")
pytest.importorskip("pytestqt")

import soundfile as sf  # noqa: E402
from PyQt6.QtCore import Qt  # noqa: E402

from test_daemon_support import daemon  # noqa: E402,F401 (fixture)

from takefit.bridges import cli  # noqa: E402
from takefit.bridges.panel import app  # noqa: E402
from takefit.bridges.panel.cast_view import PreviewButton, VoiceBox  # noqa: E402
from takefit.engine import assets  # noqa: E402
from takefit.engine.kokoro.notes import NOTES_FILE  # noqa: E402
from takefit.engine.profiles import Profile, ProfileStore  # noqa: E402
from takefit.engine.request import LANGUAGES  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "timelines"
USER = Qt.ItemDataRole.UserRole
LEFT = Qt.MouseButton.LeftButton
PREFIX_LANGUAGE = {"a": "en", "b": "en", "e": "es", "f": "fr", "h": "hi", "i": "it", "j": "ja", "p": "pt", "z": "zh"}
GRADES = {"A", "A-", "B", "B-", "C+", "C", "C-", "D+", "D", "D-", "F+"}


def builtin_names() -> list[str]:
    return sorted(assets.sources()["voices"]["files"])


@pytest.fixture(scope="module")
def listed(daemon) -> dict[str, dict]:  # noqa: F811
    with daemon.client(timeout=60) as c:
        return {v["name"]: v for v in c.voices()}


@pytest.fixture
def enrolled_voice():
    """A profile written directly (no enrollment run), as an enrollment of anna.wav leaves it."""
    table = np.fromfile(assets.default_dir() / "voices" / "af_heart.bin", dtype=np.float32).reshape(510, 256)
    store = ProfileStore()
    profile = Profile(name="anna_picker", table=table.copy(), pitch_ratio=1.0, base_voice="af_heart", language="en",
                      quality="fast", reference_sha256="0" * 64, consent="Anna Berg, test",
                      created="2026-03-02T10:00:00+00:00",
                      similarity={"enrolled": {"dvector": 0.8312, "resemblyzer": 0.9}}, reference_name="anna.wav")
    store.save(profile, force=True)
    yield profile
    store.remove(profile.name)


def test_the_notes_file_covers_exactly_the_fetched_voices():
    doc = json.loads(NOTES_FILE.read_text("utf-8"))
    assert sorted(doc["voices"]) == builtin_names()
    for name, entry in doc["voices"].items():
        assert entry["note"].strip(), name
        if entry["grade"] is None:        # upstream grades neither its Spanish nor its Portuguese voices
            assert name[0] in "ep" and "not graded" in entry["note"], name
        else:
            assert entry["grade"] in GRADES and f"grade {entry['grade']}" in entry["note"], name
    assert doc["voices"]["af_heart"]["grade"] == "A" and doc["voices"]["am_adam"]["grade"] == "F+"


def test_voices_op_says_what_every_voice_is(listed):
    builtin = [v for v in listed.values() if v["kind"] == "builtin"]
    assert sorted(v["name"] for v in builtin) == builtin_names()
    for v in builtin:
        name = v["name"]
        assert v["note"].strip() and v["accent"], name                            # old fields kept, notes filled
        assert v["language"] == PREFIX_LANGUAGE[name[0]], name
        assert v["gender"] == {"f": "female", "m": "male"}[name[1]], name
        assert v["grade"] is None or v["grade"] in GRADES, name
        preview = v["preview"]
        if v["language"] in LANGUAGES:        # the voice's own language where takefit reads it
            assert preview["language"] == v["language"] and not preview["note"], name
        else:                                 # else an English line, saying so
            assert preview["language"] == "en" and v["accent"] in preview["note"], name
    assert "default" in listed["af_heart"]["note"] and "default" in listed["zf_xiaoxiao"]["note"]
    assert listed["zf_xiaoxiao"]["preview"]["text"] != listed["af_heart"]["preview"]["text"]


def test_voices_command_prints_the_notes(capsys):
    assert cli.main(["voices", "--language", "en"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines()[1:] if line.strip()}
    builtin = [name for name in lines if name[:3] in ("af_", "am_", "bf_", "bm_")]   # enrolled ones come too
    assert len(builtin) == 28 and "note" in out.splitlines()[0]
    assert all("grade" in lines[name] for name in builtin)
    assert "grade A, the only A upstream" in lines["af_heart"] and "grade F+" in lines["am_adam"]


def test_enrolled_voice_note_says_how_it_was_made(daemon, enrolled_voice, qtbot):  # noqa: F811
    with daemon.client(timeout=60) as c:
        entry = {v["name"]: v for v in c.voices()}["anna_picker"]
    assert entry["kind"] == "enrolled" and entry["grade"] is None
    assert entry["note"].startswith("enrolled from anna.wav, 2026-03-02, similarity 0.83"), entry["note"]
    assert "af_heart" in entry["note"] and entry["accent"] == "enrolled (from af_heart)"
    box = VoiceBox()
    qtbot.addWidget(box)
    box.set_voices([entry])
    i = box.findData("anna_picker", USER)
    assert box.itemText(i - 1) == "Enrolled voices" and "enrolled from anna.wav" in box.itemText(i)


def test_combo_items_show_language_gender_and_note(listed, qtbot):
    box = VoiceBox()
    qtbot.addWidget(box)
    box.set_voices(list(listed.values()))
    headers = [box.itemText(i) for i in range(box.count()) if not box.model().item(i).isEnabled()]
    if headers[0] == "Enrolled voices":       # voices earlier tests of the session enrolled come first
        headers = headers[1:]
    assert headers[:4] == ["Mandarin Chinese · female", "Mandarin Chinese · male", "American English · female",
                           "American English · male"]
    for name, v in listed.items():
        if v.get("kind") == "enrolled":       # enrolled by earlier tests: their own test checks their line
            continue
        i = box.findData(name, USER)
        assert i > 0, name
        assert box.itemText(i).strip() == f"{name} — {v['accent']} · {v['gender']} · {v['note']}"
        tip = box.itemData(i, Qt.ItemDataRole.ToolTipRole)
        assert tip.startswith(v["note"]) and v["preview"]["text"] in tip, name
    assert "upstream grade A" in box.itemData(box.findData("af_heart", USER), Qt.ItemDataRole.ToolTipRole)
    assert box.preview_line("auto") is None and box.preview_line("bf_emma")["language"] == "en"


@pytest.mark.slow
def test_preview_renders_plays_and_comes_back_from_the_cache(qtbot, daemon, tmp_path):  # noqa: F811
    timeline = Path(shutil.copy(FIXTURES / "dialogue.srt", tmp_path / "dialogue.srt"))
    w = app.build(timeline, None, rate="25", dirs=daemon.dirs, poll_ms=300)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.daemon_ok is True and bool(w.voices), timeout=60000)
    ed = w.cast_view.editor
    button: PreviewButton = ed.preview
    w.cast_view.select("alice")
    assert not button.isEnabled() or ed.voice.currentData() != "auto"     # 'auto' has nothing to preview
    ed.voice.setCurrentIndex(ed.voice.findData("bm_fable", USER))          # a voice no other test renders
    assert button.isEnabled() and "Hello" in button.toolTip()
    played: list[tuple[str, str]] = []
    button.played.connect(lambda voice, path: played.append((voice, path)))

    def stats() -> dict:
        with daemon.client() as c:
            return c.health()["stats"]

    # first press: rendered in the daemon, the button busy meanwhile, then played
    before = stats()
    qtbot.mouseClick(button, LEFT)
    assert button.text() == PreviewButton.BUSY and not button.isEnabled()
    qtbot.waitUntil(lambda: bool(played), timeout=60000)
    voice, path = played[-1]
    info = sf.info(path)
    assert voice == "bm_fable" and info.samplerate == 48000 and info.duration > 1.0
    assert w.player.last == Path(path) and button.text() == PreviewButton.IDLE and button.isEnabled()
    assert "rendered in" in w.statusBar().currentMessage()
    first = stats()
    assert first["rendered"] == before["rendered"] + 1

    # second press: this session's take, at once, without asking the daemon
    qtbot.mouseClick(button, LEFT)
    assert len(played) == 2 and played[-1] == played[0] and stats() == first
    assert "kept from this session" in w.statusBar().currentMessage()

    # a new session (no kept take): the daemon answers from its take cache, no new render
    button.takes.clear()
    qtbot.mouseClick(button, LEFT)
    qtbot.waitUntil(lambda: len(played) == 3, timeout=30000)
    after = stats()
    assert after["rendered"] == first["rendered"] and after["cache_hits"] == first["cache_hits"] + 1
    assert "from the daemon's take cache" in w.statusBar().currentMessage()
    assert sf.read(played[2][1])[0].shape == sf.read(path)[0].shape
    w.close()
