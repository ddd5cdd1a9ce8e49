"""Jobs and the queue they wait in: highest priority first, then oldest; removable while queued."""
from __future__ import annotations

import hashlib
import heapq
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .protocol import PRIORITIES, pack

PRIORITY_NAMES = {v: k for k, v in PRIORITIES.items()}


class JobCanceled(Exception):
    """Raised from the engine's progress callback to stop a running render between stages."""


@dataclass
class Job:
    """One accepted render. Worker threads read it; only the server loop changes it (from their events)."""

    id: str
    batch: str | None
    priority: int
    seq: int
    spec: dict
    spec_hash: str
    key: str
    output: str | None
    created: float
    request: Any = None                 # the parsed engine RenderRequest (parsed once, at admission)
    state: str = "queued"
    lane: str = "engine"                # engine: waits for a render worker; fast: a cache hit, answered at once
    fraction: float = 0.0
    message: str = ""
    cancel: threading.Event = field(default_factory=threading.Event)   # the one thing a worker watches live

    @property
    def output_name(self) -> str:
        return self.output or f"jobs/{self.id}.wav"


class Scheduler:
    """A thread-safe priority queue (highest priority, then oldest) with O(1) lazy removal."""

    def __init__(self):
        self._heap: list[list] = []
        self._entries: dict[str, list] = {}
        self._cv = threading.Condition()
        self._closed = False

    def put(self, job: Job) -> None:
        with self._cv:
            entry = [-job.priority, job.seq, job]
            self._entries[job.id] = entry
            heapq.heappush(self._heap, entry)
            self._cv.notify()

    def get(self, timeout: float | None = None) -> Job | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cv:
            while True:
                if self._closed:
                    return None
                while self._heap:
                    entry = heapq.heappop(self._heap)
                    job = entry[2]
                    if job is not None:
                        del self._entries[job.id]
                        return job
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cv.wait(remaining)

    def remove(self, job_id: str) -> bool:
        """True if the job was still queued (and now is not); False if a worker already took it."""
        with self._cv:
            entry = self._entries.pop(job_id, None)
            if entry is None:
                return False
            entry[2] = None
            return True

    def position(self, job_id: str) -> int | None:
        with self._cv:
            e = self._entries.get(job_id)
            if e is None:
                return None
            return sum(1 for o in self._entries.values() if (o[0], o[1]) < (e[0], e[1]))

    def counts(self) -> dict[str, int]:
        with self._cv:
            out = {name: 0 for name in PRIORITIES}
            for e in self._entries.values():
                out[PRIORITY_NAMES[-e[0]]] += 1
            return out

    def __len__(self) -> int:
        with self._cv:
            return len(self._entries)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()



def spec_hash(spec: dict, output: str | None) -> str:
    """What a retried job id must match: the request map and the output name it was accepted with."""
    return hashlib.sha256(pack([spec, output]) if output is not None else pack(spec)).hexdigest()
