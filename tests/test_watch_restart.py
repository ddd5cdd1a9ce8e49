"""Kill the watcher (SIGKILL) in the middle of a job, start it again: the job completes once, with
no take duplicated or lost and no temporary file left. The watcher runs as `takefit watch` in a
subprocess, with the real engine and its own take cache."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf

from takefit.bridges import cli
from takefit.bridges.watch.journal import DONE, RUNNING, Journal

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

# four different short lines: the engine renders each (a few seconds apiece), so the job is killable
LINES = ["Yes.", "No.", "Okay.", "Sure."]
SRT = "\n".join(f"{i}\n00:00:0{2 * i - 1},000 --> 00:00:0{2 * i},500\n{t}\n" for i, t in enumerate(LINES, 1))


def watch_cmd(folder: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "takefit.bridges.cli", "watch", str(folder), "--settle", "0.3",
            "--daemon", "off", *extra]


def rows(folder: Path):
    j = Journal(folder / ".takefit-watch" / "journal.sqlite3", readonly=True)
    try:
        return j.all()
    finally:
        j.close()


@pytest.mark.slow
def test_kill_mid_job_and_restart_completes_it_once(tmp_path, capsys):
    folder = tmp_path / "watch"
    env = dict(os.environ, TAKEFIT_CACHE=str(tmp_path / "cache"), TAKEFIT_DAEMON_HOME=str(tmp_path / "daemon"),
               PYTHONUNBUFFERED="1")
    first_log = tmp_path / "first.log"
    with open(first_log, "wb") as logf:
        proc = subprocess.Popen(watch_cmd(folder), env=env, stdout=logf, stderr=subprocess.STDOUT)
    try:
        inbox = folder / "inbox"
        deadline = time.monotonic() + 60
        while not inbox.is_dir() and time.monotonic() < deadline:
            time.sleep(0.05)
        (inbox / "ep.srt").write_text(SRT, "utf-8")
        takes = folder / "outbox" / "ep" / "ep_takes"
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if takes.is_dir() and any(takes.glob("*.wav")):
                break
            time.sleep(0.02)
        assert proc.poll() is None, first_log.read_text()
        assert any(takes.glob("*.wav")), f"no take within 240 s:\n{first_log.read_text()}"
        os.kill(proc.pid, signal.SIGKILL)       # mid-job: a take written, the others not yet
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    report = folder / "outbox" / "ep" / "ep_report.json"
    assert not report.exists(), "the job finished before the kill; nothing was tested"
    assert (inbox / "ep.srt").exists()
    (row,) = rows(folder)
    assert (row.state, row.attempts) == (RUNNING, 1)

    # the status command sees the interrupted job
    assert cli.main(["watch", "--status", str(folder)]) == 0
    assert "interrupted (resume on the next start): ep.srt" in capsys.readouterr().out

    second = subprocess.run(watch_cmd(folder, "--once"), env=env, capture_output=True, text=True, timeout=400)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "resuming ep.srt" in second.stderr

    assert sorted(p.name for p in (folder / "done").iterdir()) == ["ep.srt"]
    assert not any((folder / "inbox").iterdir()) and not any((folder / "failed").iterdir())
    wavs = sorted(p.name for p in takes.glob("*.wav"))
    assert wavs == [f"ep_c00{i}_default_t1.wav" for i in range(1, 5)]     # each take once, none lost
    assert not [p for p in (folder / "outbox").rglob("*") if p.name.endswith(".partial")]
    manifest = json.loads((takes / ".takefit-takes.json").read_text("utf-8"))["takes"]
    assert sorted(manifest) == wavs
    for w in wavs:
        assert sf.info(str(takes / w)).frames == 72000                    # 1.5 s slots at 48 kHz
    doc = json.loads(report.read_text("utf-8"))
    assert doc["summary"]["cues"] == 4 and doc["summary"]["failed"] == 0
    assert {c["take"] for c in doc["cues"]} == {str(takes / w) for w in wavs}
    (row,) = rows(folder)
    assert (row.state, row.attempts, row.dest) == (DONE, 2, "done/ep.srt")


@pytest.mark.slow
def test_a_file_whose_runs_keep_dying_goes_to_failed_instead_of_killing_every_restart(tmp_path):
    """#20.3: a file that crashes its reader took the watcher down on every restart (the job resumes).
    Two runs in a row that end in a crash or kill (here SIGKILL mid-job) → the third start gives up on it."""
    folder = tmp_path / "watch"
    env = dict(os.environ, TAKEFIT_CACHE=str(tmp_path / "cache"), TAKEFIT_DAEMON_HOME=str(tmp_path / "daemon"),
               PYTHONUNBUFFERED="1")
    (folder / "inbox").mkdir(parents=True)
    (folder / "inbox" / "ep.srt").write_text(SRT, "utf-8")
    for crash in (1, 2):
        proc = subprocess.Popen(watch_cmd(folder), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline and proc.poll() is None:
                journal = folder / ".takefit-watch" / "journal.sqlite3"
                try:
                    if journal.exists() and any(r.state == RUNNING and r.attempts == crash for r in rows(folder)):
                        break
                except sqlite3.OperationalError:      # the watcher has created the file, not yet its tables
                    pass
                time.sleep(0.02)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        (row,) = rows(folder)
        assert (row.state, row.attempts, row.crashes) == (RUNNING, crash, crash - 1)
    third = subprocess.run(watch_cmd(folder, "--once"), env=env, capture_output=True, text=True, timeout=400)
    assert third.returncode == 1, third.stdout + third.stderr          # --once: a failed file is exit 1
    (row,) = rows(folder)
    assert (row.state, row.crashes, row.dest) == ("failed", 2, "failed/ep.srt")
    reason = (folder / "failed" / "ep.srt.error.txt").read_text("utf-8")
    assert "the watcher ended 2 times while dubbing ep.srt" in reason and "put it back into inbox/" in reason
