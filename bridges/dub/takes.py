"""The takes folder beside the output: `<timeline>_<cue>_<character>_t<take>.wav`.

A take file, once a timeline points at it, is never overwritten: a cue whose line changed gets the
next take number, so earlier versions of the timeline keep their audio. An unchanged cue keeps its
file. `.takefit-takes.json` in the folder remembers which content each file holds.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from platformdirs import user_cache_dir

from takefit.daemon.control import Lock
from takefit.engine.errors import OutputError
from takefit.engine.files import write_atomic

MANIFEST = ".takefit-takes.json"
TAKE_NAME = re.compile(r"_(c\d+)_.*_t(\d+)\.wav$")       # after the timeline's prefix: cue, character, take
SAVE_EVERY_SECONDS = 1.0


def safe_name(text: str, fallback: str) -> str:
    """A file-name part: letters (any script), digits, '-', '.'; the rest becomes '-'."""
    s = re.sub(r"[^\w.\-]+", "-", (text or "").strip(), flags=re.UNICODE).strip("-._")
    return s[:48] or fallback


def claim(folder: Path, outputs: str) -> Lock | None:
    """The run's hold on a takes folder (and so on the outputs beside it: a second run would number takes
    after the first one's, remove its temporaries as an interrupted run's and list over its manifest).
    The lock file lives in the user's cache, named by the folder's path, so the user's folder holds only
    outputs. Another run holding it is an OutputError naming it; None where no lock can be made (a cache
    folder that cannot be written: the run goes on as before locks). Release it when the run ends."""
    locks = Path(user_cache_dir("takefit")) / "dub-locks"
    digest = hashlib.sha256(str(Path(folder).resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:32]
    path = locks / f"{digest}.lock"
    try:
        lock = _locked(path)
    except OSError:
        return None
    if lock is None:
        try:
            who = f" (pid {int(path.read_text('ascii').strip())})"
        except (OSError, ValueError):
            who = ""
        raise OutputError(f"another takefit dub{who} is writing {outputs} and its takes folder {folder}: let it "
                          f"finish, or give this run another -o")
    lock.write_owner()
    _remove_unheld(locks, keep=path)
    return lock


def _locked(path: Path) -> Lock | None:
    """`path` locked, or None while another run holds it. A lock taken on a file another run's prune has
    just unlinked guards nothing, so it is checked to still be the file at `path`, and taken again if not."""
    for _ in range(5):
        lock = Lock(path)
        if not lock.acquire(timeout=1.0):
            return None
        if _is_file_at(lock, path):
            return lock
        lock.release()
    return None


def _remove_unheld(locks: Path, keep: Path) -> None:
    """The lock files no run holds (one per takes folder ever dubbed would pile up), each removed while
    locked by this run, so no run can be holding it."""
    for other_path in locks.glob("*.lock"):
        if other_path == keep:
            continue
        other = Lock(other_path)
        try:
            if not other.acquire():
                continue
        except OSError:
            continue
        try:
            if _is_file_at(other, other_path):
                other_path.unlink(missing_ok=True)
        finally:
            other.release()


def _is_file_at(lock: Lock, path: Path) -> bool:
    try:
        here, held = os.stat(path), os.fstat(lock.fd)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (held.st_dev, held.st_ino)


class TakeFolder:
    def __init__(self, folder: Path, timeline_name: str):
        self.folder = Path(folder)
        self.prefix = safe_name(timeline_name, "timeline")
        self._entries: dict[str, dict] = {}
        self._saved = time.monotonic()
        self.manifest_problem: str | None = None     # why the list could not be read: then nothing is removed
        try:
            entries = json.loads((self.folder / MANIFEST).read_text("utf-8")).get("takes", {})
            if not isinstance(entries, dict) or not all(isinstance(e, dict) for e in entries.values()):
                raise ValueError("its takes are not a table")
            self._entries = entries
        except FileNotFoundError:
            self.manifest_problem = "missing"
        except (OSError, ValueError, AttributeError) as e:
            self.manifest_problem = f"unreadable ({e})"

    def create(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def path_for(self, cue_id: str, character: str, key: str) -> tuple[Path, int, bool]:
        """(path, take number, already written): the file holding this content for this cue, else the
        next take number for the cue."""
        for name, entry in self._entries.items():
            if entry.get("cue") == cue_id and entry.get("key") == key and (self.folder / name).is_file():
                return self.folder / name, int(entry.get("take", 1)), True
        return *self.next_take(cue_id, character), False

    def next_take(self, cue_id: str, character: str) -> tuple[Path, int]:
        """(path, number) of a new take for the cue, after every take it has, listed or on disk."""
        number = self._last_take(cue_id) + 1
        char = safe_name(character, "default")
        return self.folder / f"{self.prefix}_{cue_id}_{char}_t{number}.wav", number

    def _last_take(self, cue_id: str) -> int:
        numbers = [int(e.get("take", 0)) for e in self._entries.values() if e.get("cue") == cue_id]
        pat = re.compile(rf"^{re.escape(self.prefix)}_{re.escape(cue_id)}_.*_t(\d+)\.wav$")
        if self.folder.is_dir():
            numbers += [int(m.group(1)) for p in self.folder.iterdir() if (m := pat.match(p.name))]
        return max(numbers, default=0)

    def record(self, path: Path, cue_id: str, key: str, take: int) -> None:
        """Remember the file; the manifest is written at most once a second as takes land (and by
        `save`), so a run cut short leaves at most that second's takes unlisted."""
        self._entries[path.name] = {"cue": cue_id, "key": key, "take": take}
        if time.monotonic() - self._saved >= SAVE_EVERY_SECONDS:
            self.save()

    def found_same(self, cue_id: str, written: Path) -> tuple[Path, int] | None:
        """(path, take number) of a take file found without its listing (`adopt_unlisted`) for this cue
        whose samples are `written`'s, bit for bit: the same take, filed before the list was lost."""
        for name, entry in self._entries.items():
            if entry.get("cue") != cue_id or entry.get("key") is not None or name == written.name:
                continue
            if _same_samples(self.folder / name, written):
                return self.folder / name, int(entry.get("take", 1))
        return None

    def _unlisted(self) -> list[tuple[Path, re.Match]]:
        """This timeline's take files the manifest does not list, with their cue and take number."""
        if not self.folder.is_dir():
            return []
        pattern = re.compile(rf"^{re.escape(self.prefix)}{TAKE_NAME.pattern}")
        return [(p, m) for p in sorted(self.folder.iterdir())
                if (m := pattern.match(p.name)) and p.name not in self._entries and p.is_file() and not p.is_symlink()]

    def remove_unlisted(self) -> list[Path]:
        """Take files of this timeline that the manifest does not list: written by a run that was cut
        short before it indexed them (no timeline points at them). Left there, the next run would number
        its takes after them: byte-identical _t2 copies beside orphan _t1 files. Only with a manifest that
        was read: without one, any file may be on an editor's timeline (`adopt_unlisted` keeps them)."""
        if self.manifest_problem:
            return []
        removed = [p for p, _ in self._unlisted()]
        for p in removed:
            p.unlink(missing_ok=True)
        return removed

    def adopt_unlisted(self) -> list[Path]:
        """Lost the manifest (deleted, damaged): list every take file there as found, its content unknown —
        kept for the timelines that may point at it, new takes numbered after it, and one that holds a
        cue's take sample for sample taken back for it (`found_same`)."""
        adopted = self._unlisted()
        for p, m in adopted:
            self._entries[p.name] = {"cue": m.group(1), "key": None, "take": int(m.group(2))}
        if adopted:
            self.save()
        return [p for p, _ in adopted]

    def save(self) -> None:
        self._saved = time.monotonic()
        self.create()
        write_atomic(self.folder / MANIFEST, json.dumps({"takes": self._entries}, ensure_ascii=False, indent=1,
                                                        sort_keys=True))


def _same_samples(a: Path, b: Path) -> bool:
    """Two WAVs hold the same samples (their metadata may differ)."""
    try:
        ia, ib = sf.info(str(a)), sf.info(str(b))
        if (ia.frames, ia.samplerate, ia.channels) != (ib.frames, ib.samplerate, ib.channels):
            return False
        return np.array_equal(sf.read(str(a), dtype="int32")[0], sf.read(str(b), dtype="int32")[0])
    except (sf.LibsndfileError, RuntimeError, OSError):
        return False
