"""What `takefit watch --status DIR` shows, read from another process: is a watcher running, what
waits in the inbox, what ran (its status.json and journal; never its lock's owner's memory)."""
from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

from takefit.daemon.control import Lock
from takefit.engine.errors import InputError

from . import jobs
from .jobs import Layout, is_ignored
from .journal import Journal
from .watcher import read_pid


# ------------------------------------------------------------------ status (another process)
def status(root: Path, recent: int = 10) -> dict:
    """What `takefit watch --status DIR` shows: is a watcher running, what waits, what ran."""
    layout = Layout(Path(root).expanduser().absolute())
    if not layout.root.is_dir():
        raise InputError(f"{layout.root} is not a folder")
    if not layout.state.is_dir():
        raise InputError(f"{layout.root} is not a watch folder (no {jobs.STATE_DIR}/ in it): start one with "
                         f"`takefit watch {root}`")
    running: bool | None = False
    if layout.lock.exists():
        probe = Lock(layout.lock)
        try:
            if probe.acquire():
                probe.release()
            else:
                running = True
        except OSError:                      # a share that cannot lock: whether a watcher runs is unknown
            running = None
    live = None
    try:
        live = json.loads(layout.status.read_text("utf-8"))
    except (OSError, ValueError):
        pass
    inbox = sorted(e.name for e in os.scandir(layout.inbox) if e.is_file() and not is_ignored(e.name)) \
        if layout.inbox.is_dir() else []
    doc = {"folder": str(layout.root), "running": running, "pid": read_pid(layout.lock) if running else None,
           "inbox": inbox, "live": live if running else None, "counts": {}, "interrupted": [], "recent": []}
    if layout.journal.exists():
        try:
            j = Journal(layout.journal, readonly=True)
            try:
                doc["counts"] = j.counts()
                doc["interrupted"] = [x.name for x in j.in_state("running")] if running is False else []
                doc["recent"] = [_job_line(x) for x in j.recent(recent)]
            finally:
                j.close()
        except sqlite3.Error as e:  # busy, or a journal a killed watcher left mid-write (the next one repairs it)
            doc["journal_error"] = f"cannot read the journal now: {e}"
    return doc


def _job_line(job) -> dict:
    s = job.summary or {}
    return {"id": job.id, "name": job.name, "state": job.state, "attempts": job.attempts, "outbox": job.outbox,
            "dest": job.dest, "finished": job.finished, "cues": s.get("cues"), "failed_cues": s.get("failed"),
            "seconds": s.get("seconds"), "error": (job.error or "").strip().splitlines()[0] if job.error else None}


def _short(text: str | None, n: int = 90) -> str:
    text = text or ""
    return text if len(text) <= n else text[:n - 1] + "…"


def format_status(doc: dict) -> str:
    lines = [f"watch folder {doc['folder']}"]
    live = doc.get("live") or {}
    if doc["running"]:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(live.get("started", time.time())))
        lines.append(f"  watcher: running (pid {doc['pid']}) since {since}; renderer: {live.get('renderer', '?')}")
        cur = live.get("current")
        if cur:
            prog = f", cue {cur['done']}/{cur['cues']}" if cur.get("cues") else ""
            lines.append(f"  now: {cur['name']} (for {time.time() - cur['since']:.0f} s{prog})")
        if live.get("queued"):
            lines.append(f"  queued: {', '.join(live['queued'])}")
        if live.get("waiting"):
            lines.append(f"  waiting to be complete: {', '.join(w['name'] for w in live['waiting'])}")
        if live.get("stuck"):
            lines.append(f"  stuck (see the log): {', '.join(live['stuck'])}")
    else:
        lines.append("  watcher: unknown (this filesystem cannot lock its lock file; see the watch log)"
                     if doc["running"] is None else
                     "  watcher: not running (start it with `takefit watch DIR`, or install it as a service)")
        if doc["inbox"]:
            lines.append(f"  inbox: {len(doc['inbox'])} file(s) waiting: {', '.join(doc['inbox'][:10])}"
                         + (" …" if len(doc["inbox"]) > 10 else ""))
        if doc["interrupted"]:
            lines.append(f"  interrupted (resume on the next start): {', '.join(doc['interrupted'])}")
    if doc.get("journal_error"):
        lines.append(f"  {doc['journal_error']}")
    c = doc.get("counts") or {}
    lines.append(f"  jobs: {c.get('done', 0)} done, {c.get('failed', 0)} failed"
                 + (f", {c['running']} running" if c.get("running") else ""))
    if doc["recent"]:
        lines.append("recent:")
        for j in doc["recent"]:
            when = time.strftime("%m-%d %H:%M:%S", time.localtime(j["finished"])) if j["finished"] else "  (running)  "
            what = {"done": f"{j['cues']} cue(s) → {j['outbox']}/" + (f", {j['failed_cues']} failed" if j.get(
                        "failed_cues") else ""),
                    "failed": f"{_short(j['error'])} → {j['dest']}.error.txt" if j.get("dest") else _short(j["error"]),
                    "running": f"attempt {j['attempts']}"}.get(j["state"], "")
            lines.append(f"  {when}  {j['state']:<7} {j['name']}  {what}")
    return "\n".join(lines)
