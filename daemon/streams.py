"""Progress streams: which client waits on which jobs, what it hears, and heartbeats to find the ones gone.

A client that sends render, render_batch or watch gets a stream (a `Watch`): progress and one result or
error per job under its request id, then `done` (batch and watch). Peers with streams hear a heartbeat
every interval and are dropped after `liveness` silent intervals; their jobs go on. Only the server
loop calls these methods.
"""
from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .protocol import FINAL_STATES, MAX_INLINE_BYTES

Peer = tuple[int, bytes]
log = logging.getLogger("takefit.daemon")


@dataclass
class Watch:
    """A client waiting on jobs: progress and results go to `peer` under request id `rid`."""

    wid: int
    peer: Peer
    rid: Any
    kind: str                   # render | render_batch | watch
    pending: set[str]
    inline: bool
    phonemes: bool
    progress: bool
    batch: str | None = None
    summary: dict = field(default_factory=lambda: {"done": 0, "failed": 0, "canceled": 0})
    announce_done: bool = True  # False once the peer is gone or told the daemon is stopping

    def __post_init__(self):
        self.announce_done = self.announce_done and self.kind != "render"


class Streams:
    def __init__(self, send: Callable[[Peer, dict], bool], heartbeat_s: float, liveness: int):
        self.send = send
        self.heartbeat_s = heartbeat_s
        self.dead_after = heartbeat_s * liveness
        self.watches: dict[int, Watch] = {}
        self.by_job: dict[str, set[int]] = {}
        self.peers: dict[Peer, float] = {}           # peers with streams → last heard (monotonic)
        self._wids = itertools.count(1)

    def heard(self, peer: Peer) -> None:
        if peer in self.peers:
            self.peers[peer] = time.monotonic()

    def open(self, peer: Peer, msg: dict, kind: str, ids: list[str], rows: dict[str, dict],
             batch: str | None) -> Watch:
        """A stream over `ids`; jobs already final (rows) are answered at once."""
        w = Watch(next(self._wids), peer, msg["id"], kind, set(), msg.get("inline", False),
                  msg.get("phonemes", False), msg.get("progress", True), batch)
        finished = []
        for j in ids:
            if rows[j]["state"] in FINAL_STATES:
                finished.append((j, rows[j]))
            else:
                w.pending.add(j)
                self.by_job.setdefault(j, set()).add(w.wid)
        self.watches[w.wid] = w
        self.peers[peer] = time.monotonic()
        for j, row in finished:
            self._final(w, j, row["state"], row.get("result"), row.get("error"))
        if not w.pending:
            self.close(w)
        return w

    def progress(self, job_id: str, fraction: float, message: str) -> None:
        for w in self._watching(job_id):
            if w.progress:
                self.send(w.peer, {"type": "progress", "id": w.rid, "job": job_id, "fraction": fraction,
                                   "message": message})

    def finished(self, job_id: str, state: str, result: dict | None, error: dict | None) -> None:
        watching = self._watching(job_id)
        self.by_job.pop(job_id, None)
        for w in watching:
            self._final(w, job_id, state, result, error)
            if not w.pending:
                self.close(w)

    def _watching(self, job_id: str) -> list[Watch]:
        return [self.watches[wid] for wid in list(self.by_job.get(job_id, ())) if wid in self.watches]

    def _final(self, w: Watch, job_id: str, state: str, result, error) -> None:
        w.pending.discard(job_id)
        w.summary[state] = w.summary.get(state, 0) + 1
        if state == "done":
            self.send(w.peer, {"type": "result", "id": w.rid, "job": job_id,
                               "result": client_result(result, w.inline, w.phonemes)})
        else:
            err = error or {"code": "internal", "message": "no error recorded", "details": {}}
            self.send(w.peer, {"type": "error", "id": w.rid, "job": job_id, "code": err["code"],
                               "message": err["message"], "details": err.get("details", {})})

    def close(self, w: Watch) -> None:
        if self.watches.pop(w.wid, None) is None:
            return
        for j in w.pending:
            s = self.by_job.get(j)
            if s is not None:
                s.discard(w.wid)
                if not s:
                    del self.by_job[j]
        if w.announce_done and not w.pending:
            self.send(w.peer, {"type": "done", "id": w.rid, "batch": w.batch, "summary": dict(w.summary)})
        if not any(o.peer == w.peer for o in self.watches.values()):
            self.peers.pop(w.peer, None)

    def drop_peer(self, peer: Peer, why: str) -> None:
        gone = [w for w in self.watches.values() if w.peer == peer]
        for w in gone:
            w.announce_done = False                   # no "done" to a dead peer
            self.close(w)
        self.peers.pop(peer, None)
        if gone:
            log.info("client %s %s: dropped %d progress stream(s); its jobs continue", peer[1].hex(), why, len(gone))

    def heartbeat(self) -> None:
        now = time.monotonic()
        for peer, last in list(self.peers.items()):
            if now - last > self.dead_after:
                self.drop_peer(peer, f"silent for {now - last:.1f} s")
            else:
                self.send(peer, {"type": "heartbeat"})


def client_result(result: dict, inline: bool, phonemes: bool) -> dict:
    """A job's stored result as one client asked for it: phonemes only on request, the WAV bytes inline."""
    out = {k: v for k, v in result.items() if k != "phonemes"}
    if phonemes:
        out["phonemes"] = result.get("phonemes", [])
    if inline:
        path = Path(result["path"])
        try:
            size = path.stat().st_size
            if size > MAX_INLINE_BYTES:
                out["inline_error"] = f"the take is {size} bytes, over the inline limit {MAX_INLINE_BYTES}; read {path}"
            else:
                out["audio"] = path.read_bytes()
        except OSError as e:
            out["inline_error"] = f"cannot read {path}: {e.strerror or e}"
    return out
