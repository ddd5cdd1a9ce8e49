"""Reference-clip voices (#25.3): a cast file, a tag, `takefit dub` and the casting panel can name an audio
file as the voice. A backend that clones clips (IndexTTS2) renders it; Kokoro refuses it with the two ways
to use that recording (engine/backend.py clip_refusal)."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
import soundfile as sf

from test_daemon_support import DaemonProc, daemon  # noqa: F401 (fixture)

from takefit.bridges.dub import pipeline as dub
from takefit.bridges.dub.render import DaemonRenderer, InProcessRenderer
from takefit.engine.backend import clip_refusal
from takefit.engine.errors import InputError, UnknownVoiceError
from takefit.engine.request import RenderRequest
from takefit.engine.target import Target
from takefit.otio_adapters import cast as castfile, rates
from takefit.otio_adapters.cue import Cue

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")     # the panel tests: no display needed

try:       # the tiny IndexTTS2 checkpoint and its clip writer; without torch or upstream's package, skipped
    from test_indextts import _clip, tiny  # tiny: a module fixture
except pytest.skip.Exception:
    _clip = tiny = None

SRT = """1
00:00:01,000 --> 00:00:02,200
[alice] HELLO WORLD.

2
00:00:03,000 --> 00:00:04,500
ROLL CAMERA.
"""


def _wav(path: Path) -> Path:
    """A short real WAV (what the cast file and the renderers see is only that it is a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, [0.0] * 2205, 22050)
    return path


def _project(folder: Path, voice: str = "refs/anna.wav") -> Path:
    """A timeline (SRT) with a cast beside it whose alice speaks with the clip `voice`."""
    _wav(folder / "refs" / "anna.wav")
    (folder / "lines.srt").write_text(SRT, "utf-8")
    (folder / castfile.CAST_FILE).write_text(f'[characters.alice]\nvoice = "{voice}"\n', "utf-8")
    return folder / "lines.srt"


# ------------------------------------------------------------------ the cast file
def test_a_cast_clip_voice_is_relative_to_the_cast_file_and_stored_absolute(tmp_path, monkeypatch):
    _wav(tmp_path / "refs" / "anna.wav")
    path = tmp_path / "ep1.cast.toml"
    path.write_text('[defaults]\nvoice = "refs/anna.wav"\n\n[characters.bob]\nvoice = "refs/ANNA.WAV"\n'
                    '\n[characters.carol]\nvoice = "af_heart"\n', "utf-8")
    (tmp_path / "refs" / "ANNA.WAV").write_bytes((tmp_path / "refs" / "anna.wav").read_bytes())
    monkeypatch.chdir(tempfile.gettempdir())           # not the cast file's folder
    cast = castfile.load(path)
    clip = str((tmp_path / "refs" / "anna.wav").resolve())
    assert cast.defaults.voice == clip
    assert cast.character("bob").voice == str((tmp_path / "refs" / "ANNA.WAV").resolve())   # any case of suffix
    assert cast.character("carol").voice == "af_heart"                                      # names untouched
    resolved = cast.resolve(Cue(id="c001", start=0, duration=25, rate=25, raw_text="Hello."))
    assert resolved.voice == clip and not resolved.problems


def test_a_missing_clip_voice_names_the_path_and_where_paths_are_relative_to(tmp_path):
    path = tmp_path / "takefit.cast.toml"
    path.write_text('[characters.alice]\nvoice = "refs/gone.flac"\n', "utf-8")
    with pytest.raises(InputError) as e:
        castfile.load(path)
    msg = str(e.value)
    assert str(tmp_path / "refs" / "gone.flac") in msg and "relative to the cast file" in msg
    assert "[characters.alice]" in msg and str(path) in msg


def test_saving_a_cast_keeps_the_clip_relative_under_its_folder_absolute_outside(tmp_path):
    folder = tmp_path / "show"
    inside = _wav(folder / "refs" / "anna.wav")
    outside = _wav(tmp_path / "elsewhere" / "bob.ogg")
    doc = {"defaults": {"voice": str(outside)},
           "characters": {"alice": {"voice": str(inside), "emotion": "happy 0.3"}, "carol": {"voice": "af_heart"}}}
    saved = castfile.save(doc, folder / castfile.CAST_FILE)
    text = saved.read_text("utf-8")
    assert 'voice = "refs/anna.wav"' in text and f'voice = "{outside}"' in text
    assert doc["characters"]["alice"]["voice"] == str(inside)                  # the caller's document unchanged
    again = castfile.load(saved)
    assert again.character("alice").voice == str(inside.resolve())
    assert again.defaults.voice == str(outside.resolve()) and again.character("carol").voice == "af_heart"
    # what the panel reads back and writes again is the same file
    castfile.save(castfile.load_doc(saved), saved)
    assert saved.read_text("utf-8") == text


def test_a_tag_clip_voice_is_beside_the_timeline(tmp_path, monkeypatch):
    timeline = _project(tmp_path / "show")
    text = timeline.read_text("utf-8").replace("ROLL CAMERA.", "[bob | voice=refs/anna.wav] ROLL CAMERA.")
    timeline.write_text(text.replace("[alice]", "[alice | voice=refs/nobody.wav]"), "utf-8")
    monkeypatch.chdir(tmp_path)
    cues = dub.plan(dub.DubOptions(timeline, rate="25")).cues
    assert cues[1].voice == str(tmp_path / "show" / "refs" / "anna.wav")
    assert cues[0].voice == str(tmp_path / "show" / "refs" / "nobody.wav")     # made absolute; checked later
    checked = dub.check_voices(cues, InProcessRenderer())
    assert all(clip_refusal(c.voice) in c.problems for c in checked)


# ------------------------------------------------------------------ renderers without clip voices
def test_kokoro_here_and_a_kokoro_daemon_refuse_a_clip_with_the_two_ways_out(daemon, tmp_path):  # noqa: F811
    clip = str(_wav(tmp_path / "anna.wav"))
    with pytest.raises(UnknownVoiceError) as here:
        InProcessRenderer().check_voice(clip)
    assert str(here.value) == clip_refusal(clip)
    renderer = DaemonRenderer(daemon.client())
    try:
        with pytest.raises(UnknownVoiceError) as there:
            renderer.check_voice(clip)
        assert str(there.value) == clip_refusal(clip, "kokoro")
        assert "--backend indextts" in str(there.value) and "takefit voice enroll" in str(there.value)
        assert renderer.check_voice("af_heart") == "af_heart"          # names still go by the daemon's list
        # a dub: the cue cast with the clip fails before anything renders, with the same sentence
        cues = dub.check_voices(dub.plan(dub.DubOptions(_project(tmp_path / "show"), rate="25")).cues, renderer)
        assert clip_refusal(str((tmp_path / "show" / "refs" / "anna.wav").resolve()), "kokoro") in cues[0].problems
        assert not cues[1].problems
    finally:
        renderer.close()


# ------------------------------------------------------------------ IndexTTS2: clips render
@pytest.fixture(scope="module")
def indextts_daemon(request):
    """A daemon serving IndexTTS2 on the CPU on the tiny random-weight checkpoint (test_indextts.py's)."""
    if tiny is None:
        pytest.skip("IndexTTS2's packages (the indextts extra) are not installed")
    built = request.getfixturevalue("tiny")
    old = os.environ.get("TAKEFIT_INDEXTTS_DIR")
    os.environ["TAKEFIT_INDEXTTS_DIR"] = str(built.model_dir)
    proc = DaemonProc(Path(tempfile.mkdtemp(prefix="tfd-idx-")), "--backend", "indextts", "--device", "cpu")
    try:
        proc.start()
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()
        shutil.rmtree(proc.home, ignore_errors=True)
        os.environ.pop("TAKEFIT_INDEXTTS_DIR") if old is None else os.environ.__setitem__("TAKEFIT_INDEXTTS_DIR", old)


@pytest.mark.slow
def test_an_indextts_daemon_takes_a_clip_voice_and_dubs_it_exactly(indextts_daemon, tmp_path, monkeypatch):
    folder = tmp_path / "a project folder with a longer name" / "show"
    timeline = _project(folder)
    _clip(folder / "refs" / "anna.wav", 200, 4)                  # a voice-like clip, not silence
    renderer = DaemonRenderer(indextts_daemon.client(timeout=120))
    try:
        monkeypatch.chdir(folder)                                  # a relative clip is relative to here …
        assert renderer.check_voice("refs/anna.wav") == str((folder / "refs" / "anna.wav").resolve())  # … sent whole
        with pytest.raises(UnknownVoiceError, match="no such file"):
            renderer.check_voice("refs/gone.wav")
        assert renderer.check_voice("alice") == "alice"           # the daemon's listed clips go by name
        monkeypatch.chdir(tmp_path)
        report = dub.run(dub.DubOptions(timeline, rate="25"), renderer)
    finally:
        renderer.close()
    # flagged: rendered, but read outside 0.7–1.4× its own pace (the tiny model's length is fixed)
    assert all(r.status in ("rendered", "flagged") and r.take for r in report.results), \
        [r.error for r in report.results]
    alice, other = report.results
    assert alice.cue.voice == str((folder / "refs" / "anna.wav").resolve()) and other.cue.voice == "auto"
    assert alice.voice == "anna" and other.voice == "alice"       # the clip's stem; 'auto': the first listed clip
    for r in report.results:                                      # exact to the sample: frames × 48000 / 25
        assert r.samples == sf.info(str(r.take)).frames == rates.samples(r.cue.duration, r.cue.rate, 48000)
    assert [r.cue.duration for r in report.results] == [30, 38]


@pytest.mark.slow
def test_a_clip_voice_is_cached_by_its_file_and_the_daemon_reports_its_backend(indextts_daemon, tmp_path):
    clip = tmp_path / "a project folder with a longer name" / "refs" / "anna.wav"
    clip.parent.mkdir(parents=True)
    _clip(clip, 200, 4)
    assert len(str(clip.resolve())) > 64                          # a real project's path, not a short name
    with indextts_daemon.client(timeout=120) as c:
        backend = c.health()["backend"]
        assert backend["name"] == "indextts" and backend["device"] == "cpu" and not backend["gpu"]
        assert "reference_clip_voices" in backend["capabilities"] and backend["load"]["load_seconds"] > 0
        assert backend["load"]["device_peak_bytes"] is None       # asked of CUDA only
        req = RenderRequest("HELLO WORLD.", voice=str(clip.resolve()), target=Target.parse("1.2s"))
        first, again = c.render(req, inline=True), c.render(req, inline=True)
        assert not first.cached and again.cached and again.key == first.key
        assert first.samples == round(1.2 * 48000)
        _clip(clip, 320, 9)                                       # the same path, another voice recorded over it
        os.utime(clip, ns=(1, 1))
        anew = c.render(req, inline=True)
        assert not anew.cached and anew.key != first.key


# ------------------------------------------------------------------ the panel's voice picker
KOKORO = {"name": "kokoro", "capabilities": ["exact_length", "enrolled_voices", "pinyin"]}
INDEXTTS = {"name": "indextts", "capabilities": ["exact_length", "reference_clip_voices"]}


@pytest.fixture
def qt(request):
    pytest.importorskip("PyQt6.QtWidgets")
    pytest.importorskip("pytestqt")
    return request.getfixturevalue("qtbot")


def _items(box) -> list[tuple[str, object, bool]]:
    """(text, data, selectable) of every row of the box."""
    from PyQt6.QtCore import Qt

    m = box.model()
    return [(m.item(i).text(), m.item(i).data(Qt.ItemDataRole.UserRole), m.item(i).isEnabled())
            for i in range(m.rowCount())]


def test_the_reference_clip_entry_is_there_only_with_the_capability(qt, tmp_path):
    from takefit.bridges.panel.cast_view import CLIP_PICK, VoiceBox

    box = VoiceBox()
    qt.addWidget(box)
    box.set_voices([{"name": "af_heart", "language": "en", "accent": "American English", "gender": "female",
                     "kind": "builtin"}])
    box.set_backend(KOKORO)
    assert CLIP_PICK not in [d for _, d, _ in _items(box)] and "Reference clips" not in [t for t, _, _ in _items(box)]
    box.set_backend(INDEXTTS)
    rows = _items(box)
    assert ("Reference clips", None, False) in rows and rows[-1][1] == CLIP_PICK and rows[-1][0].strip() == \
        "Reference clip… (an audio file whose voice is cloned)"
    # an IndexTTS daemon lists its clips (kind reference_clip, no language): under the same header
    box.set_voices([{"name": "alice", "language": "", "gender": "", "kind": "reference_clip",
                     "path": "/ckpt/voices/alice.wav"}])
    texts = [t.strip() for t, _, _ in _items(box)]
    assert texts == ["auto (by the line's language)", "Reference clips", "alice — reference clip (alice.wav)",
                     "Reference clip… (an audio file whose voice is cloned)"]
    box.set_backend(KOKORO)                                      # the daemon restarted with Kokoro
    assert CLIP_PICK not in [d for _, d, _ in _items(box)]
    box.set_backend(None)                                        # a daemon that does not say: Kokoro's
    assert CLIP_PICK not in [d for _, d, _ in _items(box)]


def test_picking_a_reference_clip_sets_the_characters_voice_and_the_cast_keeps_it(qt, tmp_path):
    from takefit.bridges.panel.cast_view import CLIP_PICK, CharacterEditor
    from takefit.bridges.panel.session import Session

    timeline = _project(tmp_path / "show", voice="af_heart")
    clip = str((tmp_path / "show" / "refs" / "anna.wav").resolve())
    session = Session(rate="25")
    session.open(timeline)
    ed = CharacterEditor()
    qt.addWidget(ed)
    ed.voice.set_voices([{"name": "af_heart", "language": "en", "kind": "builtin"}])
    ed.voice.set_backend(INDEXTTS)
    ed.show_character(session, "alice")
    asked, edits = [], []
    ed.edited.connect(lambda name, entry: edits.append((name, entry)))
    ed.voice.ask_clip = lambda start: asked.append(start) or ""        # cancelled: nothing changes
    ed.voice.setCurrentIndex(ed.voice.findData(CLIP_PICK))
    assert asked == [str(timeline.parent)] and ed.voice.currentData() == "af_heart" and edits == []
    ed.voice.ask_clip = lambda start: clip
    ed.voice.setCurrentIndex(ed.voice.findData(CLIP_PICK))
    assert ed.voice.currentData() == clip and edits == [("alice", {"voice": clip})]
    assert "anna.wav — reference clip" in ed.voice.currentText()
    session.set_entry("alice", edits[-1][1])
    assert [r.cue.voice for r in session.rows][:1] == [clip]
    saved = session.save_cast()
    assert 'voice = "refs/anna.wav"' in saved.read_text("utf-8")         # relative: it lies beside the cast
    again = Session(rate="25")
    again.open(timeline)
    assert again.rows[0].cue.voice == clip


def _picker_after_health(health: dict, voices: list[dict]):
    """A voice box and its ▶ button as the panel wires them, after the daemon's health and voices came in."""
    from takefit.bridges.panel.cast_view import PreviewButton, VoiceBox

    box = VoiceBox()
    PreviewButton(box, box)._status(True, "daemon ready", health)   # what link.quick.status delivers (attach)
    box.set_voices(voices)
    return box


def test_a_kokoro_daemons_health_offers_no_clip_entry(qt, daemon):  # noqa: F811
    from takefit.bridges.panel.cast_view import CLIP_PICK

    with daemon.client() as c:
        box = _picker_after_health(c.health(), c.voices())
    qt.addWidget(box)
    assert box.findData("af_heart") >= 0 and box.findData(CLIP_PICK) < 0


@pytest.mark.slow
def test_an_indextts_daemons_health_offers_the_clip_entry_and_lists_its_clips(qt, indextts_daemon):
    from takefit.bridges.panel.cast_view import CLIP_PICK

    with indextts_daemon.client(timeout=120) as c:
        box = _picker_after_health(c.health(), c.voices())
    qt.addWidget(box)
    texts = [t.strip() for t, _, _ in _items(box)]
    assert texts[1:] == ["Reference clips", "alice — reference clip (alice.wav)", "bob — reference clip (bob.wav)",
                         "Reference clip… (an audio file whose voice is cloned)"]
    assert box.findData(CLIP_PICK) == box.count() - 1
