"""The watch folder end to end, with real file-system events in temporary folders and the real
engine: the watcher runs in this process (threads); see test_watch_restart.py for kill + restart.

Lines are tiny and identical ("Hi." in a one-second slot), so the take cache renders each once.
"""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
import soundfile as sf

from takefit.bridges.watch import jobs
from takefit.bridges.watch.journal import DONE, Journal
from takefit.bridges.watch.status import format_status, status
from takefit.bridges.watch.watcher import Watcher
from takefit.bridges.dub import render

SETTLE = 0.5


def srt(*cues: tuple[float, float, str]) -> str:
    def ts(t: float) -> str:
        ms = round(t * 1000)
        return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

    return "\n".join(f"{i}\n{ts(a)} --> {ts(b)}\n{text}\n" for i, (a, b, text) in enumerate(cues, 1))


HI = srt((1.0, 2.0, "Hi."))


class OneAtATime(render.InProcessRenderer):
    """The in-process renderer, recording how many renders ever ran at the same time."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.max_in_flight = 1     # one cue at a time inside a job, so `most` counts jobs running at once
        self.active = self.most = self.calls = 0
        self._count = threading.Lock()

    def render(self, request, progress=None):
        with self._count:
            self.active += 1
            self.calls += 1
            self.most = max(self.most, self.active)
        try:
            return super().render(request, progress)
        finally:
            with self._count:
                self.active -= 1


@pytest.fixture(scope="module")
def renderer(engine, tmp_path_factory):
    from takefit.engine.cache import TakeCache

    return OneAtATime(engine=engine, cache=TakeCache(tmp_path_factory.mktemp("take-cache")))


@pytest.fixture
def watcher(tmp_path, renderer):
    w = Watcher(tmp_path / "watch", renderer=renderer, settle=SETTLE, poll=0.05, rescan=1.0).start()
    yield w
    assert w.stop(timeout=60)


def wait_for(predicate, timeout: float = 120.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def journal_rows(w: Watcher):
    j = Journal(w.layout.journal, readonly=True)
    try:
        return j.all()
    finally:
        j.close()


@pytest.mark.slow
def test_a_dropped_srt_produces_outputs(watcher):
    lay = watcher.layout
    (lay.inbox / "scene1.srt").write_text(HI, "utf-8")
    wait_for(lambda: (lay.done / "scene1.srt").exists(), what="scene1.srt in done/")
    wait_for(lambda: watcher.idle, what="idle")      # the journal and history are written just after the move
    out = lay.outbox / "scene1"
    assert names(out) == ["scene1.otio", "scene1.srt", "scene1_report.json", "scene1_stem.wav", "scene1_takes"]
    (take,) = (out / "scene1_takes").glob("*.wav")
    assert take.name == "scene1_c001_default_t1.wav"
    assert sf.info(str(take)).frames == 48000                  # the one-second slot, to the sample
    report = json.loads((out / "scene1_report.json").read_text("utf-8"))
    assert report["summary"]["cues"] == 1 and report["summary"]["failed"] == 0
    assert names(lay.inbox) == [] and names(lay.failed) == []
    (row,) = journal_rows(watcher)
    assert (row.name, row.state, row.attempts, row.dest, row.outbox) == ("scene1.srt", DONE, 1, "done/scene1.srt",
                                                                         "outbox/scene1")
    assert [o.state for o in watcher.history] == [jobs.DONE]

    # the same file again: recognised by its content, not dubbed twice
    (lay.inbox / "scene1.srt").write_text(HI, "utf-8")
    wait_for(lambda: not (lay.inbox / "scene1.srt").exists(), what="the duplicate to leave the inbox")
    wait_for(lambda: watcher.idle, what="idle")
    assert [o.state for o in watcher.history] == [jobs.DONE, jobs.DUPLICATE]
    assert names(lay.done) == ["scene1.srt"] and len(journal_rows(watcher)) == 1

    doc = status(lay.root)
    assert doc["running"] and doc["counts"]["done"] == 1 and doc["recent"][0]["name"] == "scene1.srt"
    assert "watcher: running" in format_status(doc) and "1 done" in format_status(doc)


@pytest.mark.slow
def test_a_file_written_slowly_is_processed_once_when_complete(watcher):
    lay = watcher.layout
    text = srt((1, 2, "Hi."), (3, 4, "Hi."), (5, 6, "Hi.")).encode()
    chunks = [text[i:i + 12] for i in range(0, len(text), 12)]
    path = lay.inbox / "slow.srt"
    with open(path, "wb") as f:                  # a slow copy: a chunk, a pause shorter than the settle time …
        for chunk in chunks:
            f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
            assert not (lay.done / "slow.srt").exists() and not (lay.failed / "slow.srt").exists()
            time.sleep(SETTLE * 0.4)
    assert len(chunks) * SETTLE * 0.4 > 3 * SETTLE  # the copy took far longer than the settle time
    wait_for(lambda: (lay.done / "slow.srt").exists(), what="slow.srt in done/")
    wait_for(lambda: watcher.idle, what="idle")
    assert [(o.name, o.state) for o in watcher.history] == [("slow.srt", jobs.DONE)]
    report = json.loads((lay.outbox / "slow" / "slow_report.json").read_text("utf-8"))
    assert report["summary"]["cues"] == 3           # read whole, not half-way
    (row,) = journal_rows(watcher)
    assert row.attempts == 1


def test_fifty_files_dropped_at_once_are_each_processed_exactly_once(watcher, renderer):
    lay = watcher.layout
    calls = renderer.calls
    staging = lay.root / "staging"
    staging.mkdir()
    for i in range(50):
        (staging / f"f{i:02d}.srt").write_text(HI, "utf-8")
    for p in sorted(staging.iterdir()):             # dropped together, as a file manager moves a selection
        os.replace(p, lay.inbox / p.name)
    wanted = [f"f{i:02d}.srt" for i in range(50)]
    wait_for(lambda: names(lay.done) == wanted, timeout=300, what="50 files in done/")
    wait_for(lambda: watcher.idle, what="idle")
    assert sorted(o.name for o in watcher.history) == wanted           # each exactly once
    assert all(o.state == jobs.DONE for o in watcher.history)
    assert names(lay.inbox) == [] and names(lay.failed) == []
    assert names(lay.outbox) == [n[:-4] for n in wanted]
    for n in wanted:
        stem = n[:-4]
        assert (lay.outbox / stem / f"{stem}_report.json").is_file()
        assert names(lay.outbox / stem / f"{stem}_takes") == [".takefit-takes.json", f"{stem}_c001_default_t1.wav"]
    rows = journal_rows(watcher)
    assert len(rows) == 50 and {(r.state, r.attempts) for r in rows} == {(DONE, 1)}
    assert renderer.most == 1                       # queued, never two at once
    assert renderer.calls - calls == 50


@pytest.mark.slow
def test_a_malformed_file_lands_in_failed_and_the_watcher_keeps_running(watcher):
    lay = watcher.layout
    (lay.inbox / "broken.srt").write_text("this is not a subtitle file\n", "utf-8")
    (lay.inbox / "sheet.csv").write_text("start,end,character,text\n1,2,alice,Hi.\n4,3,bob,Oops.\n", "utf-8")
    (lay.inbox / "notes.txt").write_text("hello", "utf-8")
    (lay.inbox / ".hidden.srt").write_text(HI, "utf-8")             # ignored
    (lay.inbox / "copying.srt.part").write_text(HI, "utf-8")        # ignored
    wait_for(lambda: len([n for n in names(lay.failed) if not n.endswith(".error.txt")]) == 3, what="3 failures")
    # … and it goes on with the next file
    (lay.inbox / "fine.srt").write_text(HI, "utf-8")
    wait_for(lambda: (lay.done / "fine.srt").exists(), what="fine.srt in done/")
    wait_for(lambda: watcher.idle, what="idle")
    assert names(lay.failed) == ["broken.srt", "broken.srt.error.txt", "notes.txt", "notes.txt.error.txt",
                                 "sheet.csv", "sheet.csv.error.txt"]
    assert names(lay.inbox) == [".hidden.srt", "copying.srt.part"]

    broken = (lay.failed / "broken.srt.error.txt").read_text("utf-8")
    assert "What was wrong:" in broken and "How to fix it:" in broken
    assert "no subtitles in broken.srt" in broken and "00:00:01,000 --> 00:00:02,500" in broken
    sheet = (lay.failed / "sheet.csv.error.txt").read_text("utf-8")
    assert "row 3: ends (3) before it starts (4)" in sheet and "docs/watch.md" in sheet
    notes = (lay.failed / "notes.txt.error.txt").read_text("utf-8")
    assert "unsupported file type '.txt'" in notes and ".fcpxml" in notes and ".csv" in notes
    assert not (lay.outbox / "broken").exists()                     # nothing half-made is left
    assert {o.name: o.state for o in watcher.history} == {"broken.srt": jobs.FAILED, "sheet.csv": jobs.FAILED,
                                                         "notes.txt": jobs.FAILED, "fine.srt": jobs.DONE}
    log = lay.log.read_text("utf-8")
    assert "FAILED broken.srt" in log and "done fine.srt" in log

    # fixed and dropped again: a new job (new content), dubbed
    (lay.inbox / "sheet.csv").write_text("start,end,character,text\n1,2,alice,Hi.\n", "utf-8")
    wait_for(lambda: (lay.done / "sheet.csv").exists(), what="the fixed sheet in done/")
    assert (lay.outbox / "sheet" / "sheet.otio").is_file()


def test_a_timeline_without_markers_fails_naming_its_tracks(watcher):
    """A cut of clips alone: the error names where the watcher looked, the tracks the file has and the fix."""
    lay = watcher.layout
    cut = (Path(__file__).parent / "fixtures" / "timelines" / "simple_cut.otio").read_bytes()
    (lay.inbox / "cut.otio").write_bytes(cut)
    wait_for(lambda: (lay.failed / "cut.otio.error.txt").exists(), what="cut.otio in failed/")
    text = (lay.failed / "cut.otio.error.txt").read_text("utf-8")
    assert "no cues in cut.otio: looked for timeline markers or clip markers" in text
    assert "V1 'Track-001' (4 clips)" in text and "--track NAME" in text
    assert not (lay.outbox / "cut").exists()
    # markers, but nothing to say in any (only "[door slams]"): failed with the reason, nothing made
    (lay.inbox / "sounds.srt").write_text("1\n00:00:01,000 --> 00:00:02,000\n[door slams]\n", "utf-8")
    wait_for(lambda: (lay.failed / "sounds.srt.error.txt").exists(), what="sounds.srt in failed/")
    text = (lay.failed / "sounds.srt.error.txt").read_text("utf-8")
    assert "nothing to say in sounds.srt: its only cue would be skipped" in text and "[door slams]" in text
    assert not (lay.outbox / "sounds").exists()


@pytest.mark.slow
def test_a_timeline_that_would_crash_its_reader_fails_alone(watcher):
    """#20.3: 200 KB of nested brackets segfaulted OTIO's JSON reader, and the watcher with it."""
    lay = watcher.layout
    (lay.inbox / "deep.otio").write_text("[" * 100_000 + "]" * 100_000, "utf-8")
    wait_for(lambda: (lay.failed / "deep.otio.error.txt").exists(), what="deep.otio in failed/")
    assert "nests deeper than" in (lay.failed / "deep.otio.error.txt").read_text("utf-8")
    (lay.inbox / "fine.srt").write_text(HI, "utf-8")
    wait_for(lambda: (lay.done / "fine.srt").exists(), what="fine.srt in done/: the watcher lives on")


def test_every_cue_failing_fails_the_file_with_the_cues_listed(watcher):
    lay = watcher.layout
    (lay.inbox / "voices.srt").write_text(srt((1, 2, "[voice=zz_nobody] Hi.")), "utf-8")
    wait_for(lambda: (lay.failed / "voices.srt.error.txt").exists(), what="the error file")
    text = (lay.failed / "voices.srt.error.txt").read_text("utf-8")
    assert "1 of 1 cue could not be dubbed" in text and "c001" in text and "zz_nobody" in text
    assert "takefit voices" in text


class Gated:
    """Delegates to the shared renderer; the second render waits until the test opens the gate."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0
        self.entered, self.gate = threading.Event(), threading.Event()

    def render(self, request, progress=None):
        self.calls += 1
        if self.calls == 2:
            self.entered.set()
            assert self.gate.wait(60)
        return self.inner.render(request, progress)

    def check_voice(self, name):
        return self.inner.check_voice(name)

    def close(self):
        pass


@pytest.mark.slow
def test_a_stop_mid_job_resumes_on_the_next_start(tmp_path, renderer):
    root = tmp_path / "watch"
    gated = Gated(renderer)
    w = Watcher(root, renderer=gated, settle=SETTLE, poll=0.05, rescan=1.0).start()
    lay = w.layout
    (lay.inbox / "three.srt").write_text(srt((1, 2, "Hi."), (3, 4, "Hi."), (5, 6, "Hi.")), "utf-8")
    assert gated.entered.wait(120)
    stopper = threading.Thread(target=w.stop, kwargs={"timeout": 60})
    stopper.start()
    wait_for(lambda: w._stop.is_set(), what="the stop flag")
    gated.gate.set()                         # the cue in progress finishes; the job stops before the next
    stopper.join(60)
    assert not stopper.is_alive()
    takes = lay.outbox / "three" / "three_takes"
    # the takes filed before the stop stay listed (pipeline.run saves the list however it ends)
    listed = json.loads((takes / ".takefit-takes.json").read_text("utf-8"))["takes"]
    assert sorted(listed) == sorted(p.name for p in takes.glob("*.wav")) and len(listed) == 2
    assert (lay.inbox / "three.srt").exists() and not (lay.done / "three.srt").exists()
    (row,) = journal_rows(w)
    assert (row.state, row.attempts, row.error) == ("running", 1, "paused")       # a clean stop: no crash

    w2 = Watcher(root, renderer=renderer, settle=SETTLE, poll=0.05, rescan=1.0).start()
    try:
        wait_for(lambda: (lay.done / "three.srt").exists(), what="three.srt in done/")
        wait_for(lambda: w2.idle, what="idle")
    finally:
        assert w2.stop(timeout=60)
    assert names(takes) == [".takefit-takes.json"] + [f"three_c00{i}_default_t1.wav" for i in (1, 2, 3)]
    (row,) = journal_rows(w2)
    assert (row.state, row.attempts, row.crashes) == (DONE, 2, 0)
    assert "resuming three.srt" in lay.log.read_text("utf-8")
