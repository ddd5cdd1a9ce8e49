"""The watch folder's journal: one SQLite row per job, keyed by the input's content hash.

A job is (sha256 of the input's bytes, the input's file name, a fingerprint of everything else that
decides the outputs: the cast file's content and the watch options). The same file dropped again
with nothing changed is recognised as already dubbed; a changed file, cast or option is a new job.

A row is written when a job starts (files waiting in the inbox are not in the journal: the
watcher publishes its queue in DIR/.takefit-watch/status.json). States: running → done | failed.
A row left `running` by a watcher that was killed is resumed by the next one (attempts counts the
tries, crashes those in a row that ended in a crash or kill rather than a clean stop). The journal lives in DIR/.takefit-watch/ and is only ever written by the one watcher
holding DIR's lock; `takefit watch --status` reads it.

The database uses SQLite's default rollback journal (not WAL), which behaves on network shares too.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from takefit.engine.files import keep_aside

SCHEMA_VERSION = 1
RUNNING, DONE, FAILED = "running", "done", "failed"
STATES = (RUNNING, DONE, FAILED)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    hash TEXT NOT NULL,              -- sha256 of the input's bytes
    name TEXT NOT NULL,              -- the input's file name in inbox/
    config TEXT NOT NULL,            -- sha256 of the cast file's content and the options
    state TEXT NOT NULL,
    size INTEGER NOT NULL DEFAULT 0,
    outbox TEXT,                     -- the output folder, relative to the watch folder
    dest TEXT,                       -- where the input went (done/… or failed/…), relative
    attempts INTEGER NOT NULL DEFAULT 0,
    crashes INTEGER NOT NULL DEFAULT 0,  -- runs in a row that ended in a crash or kill (not a clean stop)
    error TEXT,
    summary TEXT,                    -- JSON: cue counts, seconds, outputs
    created REAL NOT NULL,
    updated REAL NOT NULL,
    started REAL,
    finished REAL,
    UNIQUE (hash, name, config)
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state);
CREATE INDEX IF NOT EXISTS jobs_outbox ON jobs (outbox);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""


@dataclass
class Job:
    id: int
    hash: str
    name: str
    config: str
    state: str
    size: int
    outbox: str | None
    dest: str | None
    attempts: int
    crashes: int
    error: str | None
    summary: dict
    created: float
    updated: float
    started: float | None
    finished: float | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> "Job":
        d = dict(row)
        try:
            d["summary"] = json.loads(d["summary"]) if d["summary"] else {}
        except ValueError:
            d["summary"] = {}
        return cls(**d)

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class Journal:
    """Thread-safe (one connection behind a lock); `readonly=True` for the status command."""

    def __init__(self, path: Path, readonly: bool = False):
        self.path = Path(path)
        self.moved_aside: str | None = None      # what became of a damaged journal (the watcher logs it)
        self._lock = threading.RLock()
        if readonly:
            self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10, check_same_thread=False)
            if not self.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'jobs'").fetchone():
                # a watcher that has created the file but not yet its tables: that journal holds no jobs yet
                self.db.close()
                self.db = sqlite3.connect(":memory:", check_same_thread=False)
                self.db.executescript(_SCHEMA)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self.db = self._open()
            except sqlite3.DatabaseError as e:
                if isinstance(e, sqlite3.OperationalError):      # locked, full disk, no access: not damage
                    raise
                self.moved_aside = self._move_aside(e)
                self.db = self._open()
        self.db.row_factory = sqlite3.Row

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(_SCHEMA)
            if "crashes" not in {r[1] for r in db.execute("PRAGMA table_info(jobs)")}:   # a journal from 0.1
                db.execute("ALTER TABLE jobs ADD COLUMN crashes INTEGER NOT NULL DEFAULT 0")
            db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        except BaseException:
            db.close()
            raise
        return db

    def _move_aside(self, error: Exception) -> str:
        """A journal SQLite cannot read (damaged, not a database) is kept under another name and a new
        one started: the watcher keeps serving — files in the inbox are found again — instead of
        failing on every start. What it forgets: which inputs were already dubbed, and a run to resume."""
        aside = keep_aside(self.path)
        return (f"the journal {self.path} could not be read ({error}): kept as {aside.name}, a new one started "
                f"(files already dubbed are not remembered: dropped again, they are dubbed again)")

    def close(self) -> None:
        with self._lock:
            self.db.close()

    def _tx(self):
        journal = self

        class _Tx:
            def __enter__(self):
                journal._lock.acquire()
                journal.db.execute("BEGIN IMMEDIATE")

            def __exit__(self, exc_type, *_):
                try:
                    journal.db.execute("ROLLBACK" if exc_type else "COMMIT")
                finally:
                    journal._lock.release()

        return _Tx()

    def _one(self, sql: str, args=()) -> Job | None:
        with self._lock:
            row = self.db.execute(sql, args).fetchone()
        return Job.from_row(row) if row else None

    def _all(self, sql: str, args=()) -> list[Job]:
        with self._lock:
            return [Job.from_row(r) for r in self.db.execute(sql, args).fetchall()]

    # ------------------------------------------------------------------ lookups
    def get(self, job_id: int) -> Job | None:
        return self._one("SELECT * FROM jobs WHERE id = ?", (job_id,))

    def find(self, hash_: str, name: str, config: str) -> Job | None:
        return self._one("SELECT * FROM jobs WHERE hash = ? AND name = ? AND config = ?", (hash_, name, config))

    def in_state(self, *states: str) -> list[Job]:
        marks = ",".join("?" * len(states))
        return self._all(f"SELECT * FROM jobs WHERE state IN ({marks}) ORDER BY id", states)

    def recent(self, limit: int = 20) -> list[Job]:
        return self._all("SELECT * FROM jobs ORDER BY updated DESC, id DESC LIMIT ?", (limit,))

    def all(self) -> list[Job]:
        return self._all("SELECT * FROM jobs ORDER BY id")

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self.db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
        out = {s: 0 for s in STATES}
        out.update({r[0]: r[1] for r in rows})
        return out

    def outbox_owner(self, outbox: str) -> str | None:
        """The input file name that last wrote to this output folder."""
        with self._lock:
            row = self.db.execute("SELECT name FROM jobs WHERE outbox = ? ORDER BY updated DESC LIMIT 1",
                                  (outbox,)).fetchone()
        return row[0] if row else None

    # ------------------------------------------------------------------ transitions
    def begin(self, hash_: str, name: str, config: str, size: int, outbox: str) -> Job:
        """Mark the job for this content running (a new row, or an earlier one tried again)."""
        now = time.time()
        with self._tx():
            self.db.execute(
                "INSERT INTO jobs (hash, name, config, state, size, outbox, attempts, created, updated, started) "
                "VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?) ON CONFLICT (hash, name, config) DO UPDATE SET "
                "crashes = CASE WHEN jobs.state != 'running' THEN 0 WHEN jobs.error = 'paused' THEN crashes "
                "ELSE crashes + 1 END, "
                "state = excluded.state, size = excluded.size, outbox = excluded.outbox, attempts = attempts + 1, "
                "updated = excluded.updated, started = excluded.started, error = NULL, finished = NULL, dest = NULL",
                (hash_, name, config, RUNNING, size, outbox, now, now, now))
        job = self.find(hash_, name, config)
        assert job is not None
        return job

    def paused(self, job_id: int) -> None:
        """The watcher stopped cleanly during this job (SIGTERM, Ctrl-C): the next start resumes it
        without counting a crash. A row left `running` without this mark ended in a crash or a kill
        (`crashes`; jobs.py gives up on a file after MAX_CRASHES of them in a row)."""
        with self._tx():
            self.db.execute("UPDATE jobs SET error = 'paused', updated = ? WHERE id = ?", (time.time(), job_id))

    def finish(self, job_id: int, state: str, dest: str | None, error: str | None = None,
               summary: dict | None = None) -> Job:
        assert state in (DONE, FAILED)
        now = time.time()
        with self._tx():
            self.db.execute("UPDATE jobs SET state = ?, dest = ?, error = ?, summary = ?, finished = ?, updated = ? "
                            "WHERE id = ?", (state, dest, error, json.dumps(summary or {}, ensure_ascii=False),
                                             now, now, job_id))
        return self.get(job_id)  # type: ignore[return-value]

    def set_dest(self, job_id: int, dest: str, error: str | None = None, summary: dict | None = None) -> None:
        """Where the input is about to go, and the result (written before the move, so a kill in
        between is recoverable: the next watcher finds the input there and closes the job)."""
        with self._tx():
            self.db.execute("UPDATE jobs SET dest = ?, error = ?, summary = ?, updated = ? WHERE id = ?",
                            (dest, error, json.dumps(summary or {}, ensure_ascii=False), time.time(), job_id))

    def supersede(self, name: str, job_id: int) -> int:
        """Other jobs of this file name left `running` (an older version, killed mid-job) are over."""
        with self._tx():
            cur = self.db.execute("UPDATE jobs SET state = ?, error = ?, finished = ?, updated = ? "
                                  "WHERE name = ? AND state = ? AND id != ?",
                                  (FAILED, f"interrupted; superseded by job {job_id}", time.time(), time.time(),
                                   name, RUNNING, job_id))
        return cur.rowcount
