"""The job journal: every accepted job is in SQLite before the client hears "accepted".

A daemon that dies (even SIGKILL) loses nothing: on start, jobs found `running` go back to `queued`
(a job that took the daemon down MAX_ATTEMPTS times is failed instead of looping), and every queued
job is scheduled again in its original order. Finished jobs stay fetchable for `retention` seconds.

Blobs are msgpack (never pickle). One connection per thread; WAL mode; synchronous=FULL.
"""
from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from takefit.engine.files import keep_aside

from .protocol import pack, unpack

SCHEMA_VERSION = 1
MAX_ATTEMPTS = 3
_BLOB_LIMIT = 1 << 30

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id         TEXT PRIMARY KEY,
    batch      TEXT,
    seq        INTEGER NOT NULL,
    priority   INTEGER NOT NULL,
    state      TEXT NOT NULL,
    spec       BLOB NOT NULL,
    spec_hash  TEXT NOT NULL,
    output     TEXT,
    named      INTEGER NOT NULL DEFAULT 0,
    cache_key  TEXT NOT NULL,
    created    REAL NOT NULL,
    started    REAL,
    finished   REAL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    result     BLOB,
    error      BLOB
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, priority, seq);
CREATE INDEX IF NOT EXISTS jobs_batch ON jobs(batch);
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs(finished);
"""

_COLUMNS = ("id", "batch", "seq", "priority", "state", "spec", "spec_hash", "output", "named", "cache_key",
            "created", "started", "finished", "attempts", "result", "error")


class Journal:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self.moved_aside: str | None = None    # what became of a journal SQLite could not read (the server logs it)
        try:
            db = self._schema()
        except sqlite3.DatabaseError as e:
            if isinstance(e, sqlite3.OperationalError):      # locked, full disk, no access: not damage
                raise
            self.close()
            aside = keep_aside(self.path)
            self.moved_aside = (f"the journal {self.path} could not be read ({e}): kept as {aside.name}, a new "
                                f"one started (jobs queued in it are not resumed: submit them again)")
            db = self._schema()
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        elif version > SCHEMA_VERSION:
            raise RuntimeError(f"journal {self.path} was written by a newer takefit (schema {version})")

    def _schema(self) -> sqlite3.Connection:
        db = self._db()
        db.executescript(_SCHEMA)              # idempotent (IF NOT EXISTS); commits by itself
        return db

    # ------------------------------------------------------------------ connections
    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            # created owner-only (every job's text is in it); SQLite gives its -wal/-shm files the same mode
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA busy_timeout=30000")
            self._local.db = db
            with self._conns_lock:
                self._conns.append(db)
        return db

    class _Tx:
        def __init__(self, db):
            self.db = db

        def __enter__(self):
            self.db.execute("BEGIN IMMEDIATE")
            return self.db

        def __exit__(self, exc_type, exc, tb):
            self.db.execute("ROLLBACK" if exc_type else "COMMIT")
            return False

    def _tx(self):
        return self._Tx(self._db())

    def close(self) -> None:
        with self._conns_lock:
            for db in self._conns:
                try:
                    db.close()
                except sqlite3.Error:
                    pass
            self._conns.clear()
        self._local = threading.local()

    # ------------------------------------------------------------------ writes
    def insert(self, jobs: list[dict]) -> None:
        """All or nothing: a batch is journaled in one transaction."""
        rows = [(j["id"], j.get("batch"), j["seq"], j["priority"], "queued", pack(j["spec"]), j["spec_hash"],
                 j.get("output"), int(bool(j.get("named"))), j["cache_key"], j.get("created", time.time()))
                for j in jobs]
        with self._tx() as db:
            db.executemany("INSERT INTO jobs (id, batch, seq, priority, state, spec, spec_hash, output, named, "
                           "cache_key, created) VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)

    def mark_running(self, job_id: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE jobs SET state='running', started=?, attempts=attempts+1 WHERE id=? "
                       "AND state IN ('queued','running')", (time.time(), job_id))

    def finish(self, job_id: str, state: str, result: dict | None = None, error: dict | None = None) -> bool:
        """Record the outcome; False if the job had already finished (e.g. canceled meanwhile)."""
        assert state in ("done", "failed", "canceled")
        with self._tx() as db:
            cur = db.execute("UPDATE jobs SET state=?, finished=?, result=?, error=? WHERE id=? "
                             "AND state IN ('queued','running')",
                             (state, time.time(), None if result is None else pack(result),
                              None if error is None else pack(error), job_id))
            return cur.rowcount == 1

    def recover(self) -> tuple[list[dict], list[str]]:
        """After a restart: running → queued (or failed after MAX_ATTEMPTS); returns (queued jobs, failed ids)."""
        failed = []
        with self._tx() as db:
            for (jid,) in db.execute("SELECT id FROM jobs WHERE state='running' AND attempts>=?",
                                     (MAX_ATTEMPTS,)).fetchall():
                failed.append(jid)
            if failed:
                err = pack({"code": "internal", "message": f"the daemon stopped while rendering this job "
                                                           f"{MAX_ATTEMPTS} times; giving up on it", "details": {}})
                db.executemany("UPDATE jobs SET state='failed', finished=?, error=? WHERE id=?",
                               [(time.time(), err, j) for j in failed])
            db.execute("UPDATE jobs SET state='queued' WHERE state='running'")
        rows = self._db().execute(f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE state='queued' "
                                  "ORDER BY priority DESC, seq").fetchall()
        return [self._row(r) for r in rows], failed

    def prune(self, older_than: float) -> list[dict]:
        """Forget finished jobs older than `older_than` (epoch s); returns them (their outputs may go too)."""
        with self._tx() as db:
            rows = db.execute(f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE state IN ('done','failed','canceled') "
                              "AND finished < ?", (older_than,)).fetchall()
            db.execute("DELETE FROM jobs WHERE state IN ('done','failed','canceled') AND finished < ?", (older_than,))
        return [self._row(r) for r in rows]

    # ------------------------------------------------------------------ reads
    @staticmethod
    def _row(r) -> dict[str, Any]:
        d = dict(zip(_COLUMNS, r))
        d["spec"] = unpack(d["spec"], _BLOB_LIMIT)
        d["result"] = None if d["result"] is None else unpack(d["result"], _BLOB_LIMIT)
        d["error"] = None if d["error"] is None else unpack(d["error"], _BLOB_LIMIT)
        d["named"] = bool(d["named"])
        return d

    def get(self, job_id: str) -> dict | None:
        r = self._db().execute(f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE id=?", (job_id,)).fetchone()
        return None if r is None else self._row(r)

    def get_many(self, ids: list[str]) -> dict[str, dict]:
        out = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            q = f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE id IN ({','.join('?' * len(chunk))})"
            for r in self._db().execute(q, chunk).fetchall():
                row = self._row(r)
                out[row["id"]] = row
        return out

    def batch_exists(self, batch: str) -> bool:
        return self._db().execute("SELECT 1 FROM jobs WHERE batch=? LIMIT 1", (batch,)).fetchone() is not None

    def list(self, state: str | None = None, batch: str | None = None, limit: int = 100) -> list[dict]:
        where, args = [], []
        if state:
            where.append("state=?")
            args.append(state)
        if batch:
            where.append("batch=?")
            args.append(batch)
        q = (f"SELECT {', '.join(_COLUMNS)} FROM jobs" + (f" WHERE {' AND '.join(where)}" if where else "")
             + " ORDER BY seq DESC LIMIT ?")
        return [self._row(r) for r in self._db().execute(q, (*args, limit)).fetchall()]

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in ("queued", "running", "done", "failed", "canceled")}
        for state, n in self._db().execute("SELECT state, COUNT(*) FROM jobs GROUP BY state"):
            out[state] = n
        return out

    def next_seq(self) -> int:
        return int(self._db().execute("SELECT COALESCE(MAX(seq), 0) FROM jobs").fetchone()[0]) + 1
