"""The panel's picture of the take (PyQt6, offscreen): the waveform strip and the cue table's Fill column.

Pixels are read back from grab(): the slot box, the speech span (checked against engine/speech.py on
the same WAV), hit points and the playhead sit where the time axis puts them. Takes are real WAV files
(synthetic bursts for the geometry, a real daemon render for the last test). The Fill column is
painted with soundfile's readers replaced by ones that fail, so a cell that read a file would show.

Set TAKEFIT_WAVEFORM_SCREENSHOT=docs/images/panel-waveform.png to keep the last test's screenshot.
"""
from __future__ import annotations

import os
import shutil
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PyQt6.QtWidgets")
pytest.importorskip("pytestqt")

import soundfile as sf  # noqa: E402
from PyQt6.QtCore import Qt  # noqa: E402
from PyQt6.QtGui import QColor  # noqa: E402

from test_daemon_support import daemon  # noqa: E402,F401 (fixture)

from takefit.bridges.panel import app, player as player_mod, waveform  # noqa: E402
from takefit.bridges.panel.cue_table import FILL, FILL_COLORS, CueModel, CueTable  # noqa: E402
from takefit.bridges.panel.session import Session  # noqa: E402
from takefit.bridges.panel.waveform import (COLORS, ShapeCache, StripContent, WaveformView,  # noqa: E402
                                            pin_marks)
from takefit.engine.speech import onset_after, speech_span  # noqa: E402

SR = 48000
W = WaveformView
INSIDE = W.BOX_BOTTOM - 1           # a row inside the box that the waveform never reaches


def burst_take(path: Path, seconds: float = 2.0, start: float = 0.3, end: float = 1.6, amp: float = 0.4) -> Path:
    """Silence, speech-like bursts (a 170 Hz tone under a 4 Hz syllable envelope), silence."""
    t = np.arange(round(seconds * SR)) / SR
    audio = np.zeros_like(t)
    on = (t >= start) & (t < end)
    audio[on] = amp * np.sin(2 * np.pi * 170 * t[on]) * (0.3 + 0.7 * np.sin(np.pi * 4 * (t[on] - start)) ** 2)
    sf.write(path, audio.astype(np.float32), SR, subtype="PCM_24")
    return path


def strip(qtbot, content: StripContent | None, width: int = 800, shapes: ShapeCache | None = None) -> WaveformView:
    view = WaveformView(shapes)
    qtbot.addWidget(view)
    view.resize(width, waveform.STRIP_HEIGHT)
    view.show_content(content)
    return view


def columns_of(image, y: int, color: str) -> list[int]:
    want = QColor(color).rgb()
    return [x for x in range(image.width()) if image.pixel(x, y) == want]


def span_columns(image, y: int = INSIDE) -> tuple[int, int]:
    """First and last column of the shaded speech span (its fill and its edge lines)."""
    xs = sorted(columns_of(image, y, COLORS["speech"]) + columns_of(image, y, COLORS["speech_edge"]))
    assert xs, "no speech span drawn"
    return xs[0], xs[-1]


# ---------------------------------------------------------------------------------------- numbers
def test_shapes_are_read_once_per_file_version_and_match_the_audio(tmp_path, monkeypatch):
    take = burst_take(tmp_path / "take.wav")
    reads: list[str] = []
    real_read = sf.read
    monkeypatch.setattr(sf, "read", lambda f, *a, **k: (reads.append(str(f)), real_read(f, *a, **k))[1])
    cache = ShapeCache()
    shape = cache.load(take)
    audio, _ = real_read(take, dtype="float32")
    first, end = speech_span(audio, SR)
    assert shape.speech == pytest.approx((first / SR, end / SR))
    assert shape.seconds == pytest.approx(2.0) and shape.peak == pytest.approx(np.abs(audio).max(), abs=1e-6)
    # min/max per column equal the brute-force envelope of each column's samples
    n = 97
    lo, hi = shape.columns(shape.seconds, n)
    for c in (0, 20, 50, 96):
        # a column's samples, widened to whole envelope buckets
        a = int(np.floor(c * len(audio) / n / shape.bucket)) * shape.bucket
        b = min(len(audio), int(np.floor((c + 1) * len(audio) / n / shape.bucket)) * shape.bucket)
        assert (lo[c], hi[c]) == pytest.approx((audio[a:b].min(), audio[a:b].max()), abs=1e-6), c
    lo, hi = shape.columns(3.0, 30)                    # past the take's end: nothing to draw
    assert np.isnan(hi[-5:]).all() and not np.isnan(hi[:19]).any()

    assert cache.load(take) is shape and cache.peek(take) is shape and len(reads) == 1
    burst_take(take, seconds=2.5)                       # re-rendered: a new file version is read again
    os.utime(take, ns=(1, 1))
    again = cache.load(take)
    assert len(reads) == 2 and again.seconds == pytest.approx(2.5)


def test_waveform_coverage_is_the_envelope_band():
    lo = np.array([0.0, -0.5, -1.0, np.nan])
    hi = np.array([0.0, 0.25, 1.0, np.nan])
    cover = waveform.coverage(lo, hi, rows=40, gain=18.0)
    assert cover.shape == (40, 4)
    # each column covers (max - min)·gain + 1 pixels (a silent column is a 1 px line), centred on row 20
    assert cover.sum(axis=0)[:3] == pytest.approx([1.0, 0.75 * 18 + 1, 2 * 18 + 1])
    assert cover[19:21, 0].sum() == pytest.approx(1.0) and cover[:, 3].sum() == 0.0
    assert cover[:20, 1].sum() == pytest.approx(0.25 * 18 + 0.5)          # above the middle: the max


def test_hit_points_from_the_text_or_as_the_render_placed_them():
    assert pin_marks("Ready? {@1.5s}Go!", None) == (waveform.PinMark("Go", 1.5),)
    assert pin_marks("Three, two, one, {@36f}开始！", Fraction(24)) == (waveform.PinMark("开始", 1.5),)
    assert pin_marks("{@1.5s}", None) == ()                # unparseable: the row names the problem instead
    placed = pin_marks("Ready? {@1.5s}Go!", None, [{"word": "Go", "asked": 1.5, "placed": 1.52}])
    assert placed == (waveform.PinMark("Go", 1.5, 1.52),)


# ---------------------------------------------------------------------------------------- the strip
@pytest.mark.parametrize("slot, natural", [(2.0, None), (1.2, 3.0), (4.0, 2.0)])
def test_strip_draws_the_slot_box_at_its_pixels(qtbot, slot, natural):
    view = strip(qtbot, StripContent("c001", slot, lead=0.1, tail=0.04, natural=natural))
    image = view.grab().toImage()
    plot = view.width() - 14 - 14                          # the axis runs between 14 px margins
    axis = max(slot, 0.1 + (natural or 0)) * 1.04         # the natural speech starts at the lead
    left, right = 14, round(14 + plot * slot / axis)
    border = columns_of(image, W.BOX_TOP, COLORS["border"])
    assert border[0] == left and border[-1] == right
    assert len(border) >= right - left - 2                  # the top edge runs the whole slot (pins may cross)
    assert image.pixel(right + 3, W.BOX_TOP) == QColor(COLORS["background"]).rgb()
    middle = (W.BOX_TOP + W.BOX_BOTTOM) // 2
    assert image.pixel(left, middle) == image.pixel(right, middle) == QColor(COLORS["border"]).rgb()
    handles = [x for y in range(middle - 5, middle + 5) for x in columns_of(image, y, COLORS["handle"])]
    assert {round(14 + plot * 0.1 / axis), round(14 + plot * (slot - 0.04) / axis)} <= set(handles)
    if natural:                                            # the natural length as a ghost bar, past the slot if long
        y = W.GHOST + 2
        ghost = columns_of(image, y, COLORS["ghost"]) + columns_of(image, y, COLORS["ghost_over"])
        assert abs(min(ghost) - (14 + plot * 0.1 / axis)) <= 2
        assert abs(max(ghost) - (14 + plot * (0.1 + natural) / axis)) <= 2
        assert bool(columns_of(image, y, COLORS["ghost_over"])) == (0.1 + natural > slot - 0.04)
    assert view.message == "audition to see the take"


def test_speech_span_is_shaded_where_engine_speech_finds_it(qtbot, tmp_path):
    take = burst_take(tmp_path / "take.wav", seconds=2.0, start=0.27, end=1.73)
    audio, _ = sf.read(take, dtype="float32")
    first, end = speech_span(audio, SR)
    view = strip(qtbot, StripContent("c001", 2.0, lead=0.1, tail=0.04, take=take), width=900)
    assert view.message == ""
    lay = view.layout_now()
    x0, x1 = span_columns(view.grab().toImage())
    assert abs(x0 - lay.x(first / SR)) <= 1 and abs(x1 - lay.x(end / SR)) <= 1
    # the waveform itself: drawn over the bursts, flat (a 1 px line) over the silence
    image = view.grab().toImage()
    top = W.BOX_TOP + 8
    wave = columns_of(image, top, COLORS["wave"])
    assert wave and min(wave) >= x0 - 1 and max(wave) <= x1 + 1


def test_hit_points_are_drawn_where_asked_and_where_placed(qtbot):
    pins = pin_marks("Ready? {@30f}Go! {@1.8s}Now.", Fraction(25), [])
    view = strip(qtbot, StripContent("c001", 2.4, pins=pins))
    image, lay = view.grab().toImage(), view.layout_now()
    pin_cols = set()
    for y in range(W.BOX_TOP + 22, W.BOX_BOTTOM):           # below the labels
        pin_cols.update(columns_of(image, y, COLORS["pin"]))
    assert pin_cols == {lay.px(1.2), lay.px(1.8)}
    placed = pin_marks("Ready? {@30f}Go!", Fraction(25), [{"word": "Go", "asked": 1.2, "placed": 1.26}])
    view.show_content(StripContent("c001", 2.4, pins=placed))
    image = view.grab().toImage()
    tip = [x for x in columns_of(image, W.BOX_TOP + 3, COLORS["pin"]) if abs(x - lay.x(1.26)) < 8]
    assert len(tip) >= 3 and abs(np.mean(tip) - lay.x(1.26)) <= 1.5    # the placed marker: a triangle at 1.26 s


def test_playhead_moves_while_a_system_player_plays(qtbot, tmp_path, monkeypatch):
    take = burst_take(tmp_path / "take.wav")
    # a stand-in for aplay & co: a process that "plays" for 0.8 s (the position is estimated from its clock)
    monkeypatch.setattr(player_mod, "system_player",
                        lambda: (sys.executable, ["-c", "import time; time.sleep(0.8)"]))
    player = player_mod.Player()
    assert player.backend == Path(sys.executable).name
    view = strip(qtbot, StripContent("c001", 2.0, take=take))
    player.position.connect(lambda s: view.set_playhead(s, player.last))     # as the window wires it
    player.stopped.connect(lambda: view.set_playhead(None))
    seen: list[float] = []
    player.position.connect(seen.append)
    with qtbot.waitSignal(player.stopped, timeout=10000):
        player.play(take)
        assert player.is_playing()
        qtbot.waitUntil(lambda: view.playhead is not None and view.playhead > 0.3, timeout=5000)
        at = view.playhead
        image = view.grab().toImage()
        red = columns_of(image, W.BOX_TOP + 20, COLORS["playhead"])
        assert red and abs(np.mean(red) - view.layout_now().x(at)) <= 1.5
    assert view.playhead is None and not player.is_playing()
    assert len(seen) >= 5 and seen == sorted(seen) and 0.6 <= seen[-1] <= 3.0, seen
    # a position for another take than the shown one moves nothing
    view.set_playhead(0.5, tmp_path / "other.wav")
    assert view.playhead is None


def test_missing_or_corrupt_take_shows_a_message(qtbot, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really")
    view = strip(qtbot, StripContent("c001", 2.0, take=tmp_path / "gone.wav"))
    assert "gone" in view.message and "render the cue again" in view.message
    assert columns_of(view.grab().toImage(), W.BOX_TOP, COLORS["border"])    # the slot box is still drawn
    view.show_content(StripContent("c001", 2.0, take=bad))
    assert "cannot read the take bad.wav" in view.message
    image = view.grab().toImage()
    assert any(columns_of(image, y, COLORS["error"]) for y in range(W.BOX_TOP, W.BOX_BOTTOM))


# ---------------------------------------------------------------------------------------- the table
def test_fill_column_paints_from_the_cache_without_reading_files(qtbot, tmp_path, monkeypatch):
    srt = tmp_path / "lines.srt"
    srt.write_text("".join(f"{i + 1}\n00:00:{2 * i + 1:02d},000 --> 00:00:{2 * i + 3:02d},000\nLine {i}.\n\n"
                           for i in range(6)), "utf-8")
    session = Session(rate="25")
    session.open(srt)
    for i, row in enumerate(session.rows[:4]):
        row.take = burst_take(tmp_path / f"take{i}.wav", start=0.1 + 0.1 * i)
    session.rows[3].take.write_bytes(b"not a wav")             # a corrupt take: a red mark, no exception
    session.rows[4].natural = 2.6                              # no take yet: natural vs slot, hollow (amber)
    model = CueModel(session)
    model.refresh()                                            # takes arrive: read here, once each
    table = CueTable(model)
    qtbot.addWidget(table)
    table.resize(1200, 400)
    table.show()

    opened: list[str] = []

    def refuse(*args, **kwargs):
        opened.append(str(args[0]) if args else "?")
        raise AssertionError("the Fill column read a file while painting")
    for name in ("read", "SoundFile", "info", "blocks"):
        monkeypatch.setattr(sf, name, refuse)
    images = [table.viewport().grab().toImage() for _ in range(3)]
    table.scrollToBottom()
    images.append(table.viewport().grab().toImage())
    assert opened == []

    image = images[0]
    for i in range(6):
        rect = table.visualRect(model.index(i, FILL))
        cells = {QColor(image.pixel(x, y)).name() for x in range(rect.left(), rect.right())
                 for y in range(rect.top(), rect.bottom())}
        has_bar = FILL_COLORS["speech"].name() in cells
        assert has_bar == (i < 3), (i, cells)
        assert (FILL_COLORS["error"].name() in cells) == (i == 3)
        assert (FILL_COLORS["amber"].name() in cells) == (i == 4)   # 2.0 s slot ÷ 2.6 s natural: amber
        if i < 3:                                              # the bar starts where that take's speech does
            shape = model.shapes.peek(session.rows[i].take)
            xs = [x for x in range(rect.left(), rect.right())
                  if QColor(image.pixel(x, rect.center().y())).name() == FILL_COLORS["speech"].name()]
            inner = rect.adjusted(4, 5, -4, -5)
            assert abs(xs[0] - (inner.left() + shape.speech[0] / 2.0 * (inner.width()))) <= 1.5
    assert "speech" in model.data(model.index(0, FILL), Qt.ItemDataRole.ToolTipRole)   # from the cache too
    assert opened == []


# ---------------------------------------------------------------------------------------- a real take
@pytest.mark.slow
def test_real_take_in_the_panel_strip(qtbot, daemon, tmp_path):  # noqa: F811
    folder = tmp_path / "project"
    folder.mkdir()
    srt = folder / "scene.srt"
    srt.write_text("1\n00:00:01,000 --> 00:00:03,000\n[alice] Ready? {@1.1s}Go, go, go!\n\n"
                   "2\n00:00:04,000 --> 00:00:05,500\n[lead=0.15] The door is open.\n\n"
                   "3\n00:00:06,500 --> 00:00:07,700\nWe have to leave before the storm arrives tonight.\n", "utf-8")
    w = app.build(srt, rate="25", dirs=daemon.dirs, poll_ms=300)
    qtbot.addWidget(w)
    w.resize(1280, 760)
    w.show()
    qtbot.waitUntil(lambda: w.daemon_ok is True and all(r.natural for r in w.session.rows), timeout=60000)
    for i in (1, 0):                                           # audition two cues; the third stays unrendered
        w.table.selectRow(i)
        assert w.audition()
        qtbot.waitUntil(lambda: w.task is None, timeout=90000)
        assert w.session.rows[i].take is not None, w.last_error
        strip_ = w.strip
        row = w.session.rows[i]
        assert strip_.content.cue_id == row.cue.id and strip_.content.take == row.take and strip_.message == ""
        audio, rate = sf.read(row.take, dtype="float32")
        assert len(audio) == round(row.slot_seconds * rate)    # a take is exactly its slot
        first, end = speech_span(audio, rate)
        lay = strip_.layout_now()
        x0, x1 = span_columns(strip_.grab().toImage())
        assert abs(x0 - lay.x(first / rate)) <= 1 and abs(x1 - lay.x(end / rate)) <= 1
        assert abs(first / rate - row.cue.lead) < 0.03 and strip_.content.lead == row.cue.lead   # speech at the lead
    assert w.session.rows[1].cue.lead == pytest.approx(0.15)
    (pin,) = strip_.content.pins                               # the render said where "Go" went: drawn there
    assert pin.word == "Go" and pin.asked == pytest.approx(1.1) and pin.placed == pytest.approx(1.1, abs=0.05)
    heard = onset_after(audio, rate, int(0.8 * rate), int(1.5 * rate))
    assert heard is not None and abs(heard / rate - pin.placed) < 0.03      # and the audio agrees
    w.player.position.emit(1.0)                                # as a playing take reports it
    assert strip_.playhead == pytest.approx(1.0)
    w.player.stopped.emit()
    assert strip_.playhead is None
    w.table.selectRow(2)                                       # not rendered: slot, handles and natural only
    assert strip_.content.cue_id == "c003" and strip_.message == "audition to see the take"
    assert strip_.content.natural > strip_.content.slot        # too long a line for its slot, visible before a render

    if os.environ.get("TAKEFIT_WAVEFORM_SCREENSHOT"):
        w.resize(1280, 600)
        w.table.selectRow(0)
        w.player.position.emit(0.8)
        w.statusBar().clearMessage()                           # not the test's temporary path
        target = Path(os.environ["TAKEFIT_WAVEFORM_SCREENSHOT"])
        shot = tmp_path / "panel-waveform.png"
        assert w.grab().save(str(shot))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, target)


def test_timecodes_are_drop_frame_where_the_timeline_is(qtbot):
    """Captions at 29.97 drop-frame (SCC): the table and the strip label cues as the file does."""
    session = Session()
    session.open(Path(__file__).parent / "fixtures" / "timelines" / "episode.scc")
    row = session.rows[0]
    assert session.timecode(row.cue.start) == "01:00:01;00"
    assert CueModel(session).data(CueModel(session).index(0, 1)) == "01:00:01;00"
    assert waveform.content_of(row, session.timecode).start_tc == "01:00:01;00"
