"""Damaged state (issue #20's standard, applied to what takefit keeps between runs): each file takefit
writes for itself — a takes folder's list, a filed take, the watch folder's and the daemon's journals, the
lexicon and graph caches, the take cache, the daemon's info file — damaged as a disk, an editor or a
tidy-up would, then the command that reads it run again through the real CLI (~2 min).

    python bench/damaged_state.py [--case NAME]... [--out FILE.md]

A failure is a hang (over 120 s), a crash (a signal), a traceback, a refusal where the work can go on, or
a loss (a take file an editor may use deleted or rewritten, a finished output missing). Each case runs in
its own folders (caches, voices, daemon home); nothing of the user's is read or written.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from hostile import TAKEFIT, WALL_BOUND, excerpt                               # noqa: E402

SRT = "1\n00:00:01,000 --> 00:00:02,000\nGood morning.\n\n2\n00:00:03,000 --> 00:00:04,000\nSee you soon.\n\n"
SLOT_SAMPLES = 48000                        # each cue's 1 s slot at the dub's 48 kHz
GARBAGE = bytes((i * 131 + 7) % 251 for i in range(4096))


@dataclass
class Case:
    name: str
    damage: Callable[["Run"], None]             # after a first, clean run of `args`
    args: list[list[str]]                       # the commands run before and after the damage
    check: Callable[["Run"], list[str]]         # what must hold afterwards: the problems found
    again: list[list[str]] | None = None        # after the damage, these instead of `args`


class Run:
    """One case's folders and environment; `cli` runs takefit there and records what went wrong."""

    def __init__(self, root: Path):
        self.root, self.problems, self.output = root, [], ""
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("TAKEFIT_")},
                    "XDG_CACHE_HOME": str(root / "cache"), "TAKEFIT_CACHE": str(root / "take-cache"),
                    "TAKEFIT_VOICES_DIR": str(root / "voices"), "TAKEFIT_DAEMON_HOME": str(root / "daemon")}
        root.mkdir(parents=True)
        (root / "ep.srt").write_text(SRT, "utf-8")

    def cli(self, args: list[str]) -> int | None:
        try:
            p = subprocess.run([str(TAKEFIT), *args], cwd=self.root, env=self.env, capture_output=True, text=True,
                               errors="replace", timeout=WALL_BOUND)
        except subprocess.TimeoutExpired:
            self.problems.append(f"hang: `takefit {' '.join(args)}` still running after {WALL_BOUND:.0f} s")
            return None
        out = p.stdout + p.stderr
        self.output += out
        last = (out.strip().splitlines() or [""])[-1][:160]
        if "Traceback" in out:
            self.problems.append(f"traceback: `takefit {' '.join(args[:2])}`: {excerpt(out) or last}")
        elif p.returncode < 0:
            self.problems.append(f"crash: `takefit {' '.join(args[:2])}` killed by signal {-p.returncode}")
        elif p.returncode != 0:
            self.problems.append(f"refused: `takefit {' '.join(args[:2])}` exit {p.returncode}: {last}")
        return p.returncode

    def takes(self) -> dict[str, tuple]:
        """Each take file's identity: its bytes, inode and mtime (a file deleted and written again within the
        same second can come back byte for byte; an editor's timeline still lost the one it pointed at)."""
        return {p.name: (p.read_bytes(), (st := p.stat()).st_ino, st.st_mtime_ns)
                for p in sorted((self.root / "ep_dub_takes").glob("*.wav"))}


# ------------------------------------------------------------------------------------------- the cases
DUB = ["dub", "ep.srt", "--rate", "25"]
SAY = ["say", "Good morning, everyone.", "-o", "say.wav"]


def _report(run: Run) -> dict:
    return json.loads((run.root / "ep_dub_report.json").read_text("utf-8"))


def _takes_kept(before: dict[str, tuple], expect_new: int = 0) -> Callable[[Run], list[str]]:
    def check(run: Run) -> list[str]:
        after = run.takes()
        lost = [n for n, b in before.items() if after.get(n) != b]
        new = sorted(set(after) - set(before))
        return ([f"loss: take files deleted or rewritten: {lost}"] * bool(lost)
                + [f"wrong: {len(new)} new take file(s) {new[:3]}, expected {expect_new}"] * (len(new) != expect_new))
    return check


def _takes_list(content: bytes | None) -> Case:
    state: dict = {}

    def damage(run: Run) -> None:
        state["before"] = run.takes()
        listing = run.root / "ep_dub_takes" / ".takefit-takes.json"
        listing.unlink() if content is None else listing.write_bytes(content)

    return Case(f"takes_list_{'deleted' if content is None else 'garbage'}", damage, [DUB],
                lambda run: _takes_kept(state["before"])(run))


def _cut_take() -> Case:
    state: dict = {}

    def damage(run: Run) -> None:
        take = run.root / "ep_dub_takes" / "ep_c001_default_t1.wav"
        take.write_bytes(take.read_bytes()[:-3000])             # an editor's trim, a full disk
        state["before"] = run.takes()

    def check(run: Run) -> list[str]:
        notes = " ".join(w for c in _report(run)["cues"] for w in c["warnings"])
        return _takes_kept(state["before"], expect_new=1)(run) + (
            [] if "filed anew" in notes else ["wrong: no warning that the cut take was filed anew"])
    return Case("kept_take_cut_short", damage, [DUB], check)


def _watch_journal() -> tuple[Case, Callable[[Run], None]]:
    watch = ["watch", "w", "--once", "--daemon=off", "--settle=0", "--rate=25"]

    def damage(run: Run) -> None:
        (run.root / "w" / ".takefit-watch" / "journal.sqlite3").write_bytes(GARBAGE)
        shutil.copy(run.root / "ep.srt", run.root / "w" / "inbox" / "ep2.srt")

    def check(run: Run) -> list[str]:
        done = sorted(p.name for p in (run.root / "w" / "done").iterdir())
        kept = list((run.root / "w" / ".takefit-watch").glob("journal.sqlite3.damaged-*"))
        return ([f"wrong: done/ holds {done}"] * (done != ["ep.srt", "ep2.srt"])
                + ["loss: the damaged journal was not kept"] * (not kept))

    def first(run: Run) -> None:
        (run.root / "w" / "inbox").mkdir(parents=True)
        shutil.copy(run.root / "ep.srt", run.root / "w" / "inbox" / "ep.srt")
    return Case("watch_journal_garbage", damage, [watch], check), first


def _daemon_journal() -> Case:
    home = "daemon"
    start = ["daemon", "start", "--home", home, "--bind", "tcp://127.0.0.1:*", "--no-warm"]
    cycle = [start, ["say", "Good morning.", "--daemon", "-o", "d.wav"], ["daemon", "stop", "--home", home]]

    def damage(run: Run) -> None:
        (run.root / home / "state" / "jobs.sqlite3").write_bytes(GARBAGE)

    def check(run: Run) -> list[str]:
        log = (run.root / home / "state" / "daemon.log").read_text("utf-8", "replace")
        return (["wrong: the take was not written"] * (not (run.root / "d.wav").is_file())
                + ["wrong: the log does not say the journal was kept aside"] * ("kept as" not in log))
    return Case("daemon_journal_garbage", damage, cycle, check)


def _daemon_runtime(name: str, bind: str, lost: str) -> Case:
    """A file of a running daemon's runtime folder taken away (a tidy-up): it must still answer and stop."""
    home = "daemon"
    start = ["daemon", "start", "--home", home, "--bind", bind, "--no-warm"]

    def damage(run: Run) -> None:
        (run.root / home / "run" / lost).unlink()

    def check(run: Run) -> list[str]:
        return (["wrong: the take was not written"] * (not (run.root / "d.wav").is_file())
                + ["wrong: `daemon stop` did not stop it"] * ("stopped (pid" not in run.output))
    return Case(name, damage, [start], check,
                again=[["say", "Good morning.", "--daemon", "-o", "d.wav"], ["daemon", "stop", "--home", home]])


def _cache_files(name: str, pattern: str, damage_bytes: Callable[[bytes], bytes]) -> Case:
    """A file of the user's cache (XDG_CACHE_HOME/takefit) damaged; `say` again must still speak."""
    def damage(run: Run) -> None:
        found = list((run.root / "cache" / "takefit").glob(pattern))
        if not found:
            run.problems.append(f"wrong: nothing matched {pattern} to damage")
        for p in found:
            p.write_bytes(damage_bytes(p.read_bytes()))
        (run.root / "say.wav").unlink()

    def check(run: Run) -> list[str]:
        return [] if _frames(run.root / "say.wav") > 0 else ["wrong: no take after the damage"]
    return Case(name, damage, [SAY], check)


def _take_cache_cut() -> Case:
    """The take cache's files cut short, the takes folder gone: the dub must file whole takes again."""
    def damage(run: Run) -> None:
        entries = list((run.root / "take-cache").rglob("*.wav"))
        if not entries:
            run.problems.append("wrong: no take cache entry to damage")
        for p in entries:
            p.write_bytes(p.read_bytes()[:len(p.read_bytes()) // 3])
        shutil.rmtree(run.root / "ep_dub_takes")

    def check(run: Run) -> list[str]:
        lengths = {n: _frames(run.root / "ep_dub_takes" / n) for n in run.takes()}
        return [] if lengths and set(lengths.values()) == {SLOT_SAMPLES} else [f"wrong: take lengths {lengths}"]
    return Case("take_cache_entries_cut", damage, [DUB], check)


def _frames(path: Path) -> int:
    import soundfile as sf
    return sf.info(str(path)).frames if path.is_file() else 0


def cases() -> list[tuple[Case, Callable[[Run], None] | None]]:
    """(case, what its first clean run needs beyond its commands)."""
    watch_case, watch_first = _watch_journal()
    return [(_takes_list(None), None), (_takes_list(GARBAGE), None), (_cut_take(), None),
            (watch_case, watch_first), (_daemon_journal(), None),
            (_daemon_runtime("daemon_info_deleted", "tcp://127.0.0.1:*", "daemon.json"), None),
            (_daemon_runtime("daemon_socket_deleted_ipc_only", "none", "daemon.sock"), None),
            (_cache_files("lexicon_cache_garbage", "lexicon/*.marshal", lambda b: GARBAGE), None),
            (_cache_files("graph_cache_cut_in_half", "graphs/*.onnx", lambda b: b[:len(b) // 2]), None),
            (_take_cache_cut(), None)]


# ------------------------------------------------------------------------------------------- running
def run_case(case: Case, first: Callable[[Run], None] | None, scratch: Path) -> tuple[list[str], float]:
    run, t0 = Run(scratch / case.name), time.monotonic()
    if first:
        first(run)
    for args in case.args:                                  # the clean run that leaves the state
        run.cli(args)
    if run.problems:
        return [f"set-up: {p}" for p in run.problems], time.monotonic() - t0
    case.damage(run)
    for args in case.again or case.args:
        run.cli(args)
    return run.problems + case.check(run), time.monotonic() - t0


def _stop_daemon(home: Path) -> None:
    """A case's daemon, stopped however `daemon stop` fares (a version under test may not find it)."""
    subprocess.run([str(TAKEFIT), "daemon", "stop", "--home", str(home)], capture_output=True, timeout=60)
    with contextlib.suppress(OSError, ValueError):
        pid = int((home / "run" / "daemon.lock").read_text("ascii").strip())
        if str(home) in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):   # not a reused pid
            os.kill(pid, signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", action="append", help="run only this case (repeatable)")
    ap.add_argument("--out", type=Path, help="also write the table to this .md file")
    a = ap.parse_args(argv)
    scratch, rows = Path(tempfile.mkdtemp(prefix="takefit-damaged-")), []
    try:
        for case, first in cases():
            if a.case and case.name not in a.case:
                continue
            problems, wall = run_case(case, first, scratch)
            rows.append((case.name, problems, wall))
            print(f"[{case.name}] {'; '.join(problems)[:200] or 'ok'} ({wall:.1f} s)", file=sys.stderr, flush=True)
    finally:
        for home in scratch.glob("*/daemon"):
            _stop_daemon(home)
        shutil.rmtree(scratch, ignore_errors=True)
    table = ["| case | result | wall s |", "|---|---|---:|"] + [
        f"| {n} | {'; '.join(p) or 'ok'} | {w:.1f} |" for n, p, w in rows]
    failed = sum(bool(p) for _, p, _ in rows)
    report = "\n".join(table) + f"\n\n{len(rows) - failed} of {len(rows)} cases ok"
    print(report)
    if a.out:
        a.out.write_text(f"# bench/damaged_state.py\n\n{report}\n", "utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
