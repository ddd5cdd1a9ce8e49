"""Accepting jobs: retries attach to what was accepted, the queue has a limit, every item is checked
before anything is journaled (all or nothing), and only then does the client hear "accepted"."""
from __future__ import annotations

import logging
import time
import uuid
from typing import TYPE_CHECKING

from takefit.engine.backend import DEFAULT_BACKEND
from takefit.engine.cache import backend_extra, request_key
from takefit.engine.errors import AssetError, TakefitError
from takefit.engine.frontend import Lexicon
from takefit.engine.request import RenderRequest

from .paths import PathEscapeError, safe_output
from .protocol import PRIORITIES, ProtocolError, error_doc
from .runner import dictionary_hash
from .scheduler import PRIORITY_NAMES, Job, spec_hash

if TYPE_CHECKING:
    from .server import Daemon

HIGH_RESERVE = 64              # room kept for high-priority (audition) jobs when the queue is full
log = logging.getLogger("takefit.daemon")


class Refused(ProtocolError):
    """An engine-level refusal at admission (bad input, unknown voice…), with the engine's code."""

    def __init__(self, code: str, message: str, details: dict):
        Exception.__init__(self, message)
        self.code, self.message, self.details = code, message, details


def admit(d: Daemon, peer, msg: dict, items: list[dict], priority: int, batch: str | None, kind: str,
          stream: bool) -> None:
    ids = [it.get("job") or uuid.uuid4().hex for it in items]
    if len(set(ids)) != len(ids):
        raise ProtocolError("bad_message", "job ids within one batch must be unique")
    hashes = [spec_hash(it["request"], it.get("output")) for it in items]
    explicit = [j for it, j in zip(items, ids) if it.get("job")]
    existing = lookup(d, explicit) if explicit else {}
    if existing:
        rows = retried(existing, ids, hashes)        # re-attaching works while stopping too
    else:
        check_room(d, priority, batch, kind, len(items))
        jobs = [checked_job(d, it, jid, h, priority, batch, i if kind == "render_batch" else None)
                for i, (it, jid, h) in enumerate(zip(items, ids, hashes))]
        rows = accept(d, jobs, batch)
    announce(d, peer, msg, kind, ids, batch, rows)
    if stream:
        d.open_stream(peer, msg, kind, ids, rows, batch)


def lookup(d: Daemon, ids: list[str]) -> dict[str, dict]:
    """State of jobs: in memory (unfinished) first, else the journal."""
    out, rest = {}, []
    for j in ids:
        job = d.jobs.get(j)
        if job is not None:
            out[j] = {"state": job.state, "spec_hash": job.spec_hash, "result": None, "error": None}
        else:
            rest.append(j)
    if rest:
        out.update(d.journal.get_many(rest))
    return out


def retried(existing: dict[str, dict], ids: list[str], hashes: list[str]) -> dict[str, dict]:
    """A retry of accepted jobs: every id known, each for the very same request."""
    if len(existing) != len(ids):
        raise ProtocolError("conflict", "some of these job ids exist and some do not; job ids are single-use",
                            {"jobs": sorted(existing)[:20]})
    for j, h in zip(ids, hashes):
        if existing[j]["spec_hash"] != h:
            raise ProtocolError("conflict", f"job id {j!r} was used for a different request", {"job": j})
    return existing


def check_room(d: Daemon, priority: int, batch: str | None, kind: str, count: int) -> None:
    if d.stopping:
        raise ProtocolError("shutting_down", "the daemon is stopping; retry after it restarts", {"resumable": False})
    if d.engine_state == "failed":
        raise AssetError(f"the engine could not load: {d.engine_error}")
    if batch and kind == "render_batch" and d.journal.batch_exists(batch):
        raise ProtocolError("conflict", f"batch id {batch!r} is already in use", {"batch": batch})
    queued = len(d.runner.queue)
    limit = d.config.max_queue + (HIGH_RESERVE if priority >= PRIORITIES["high"] else 0)
    if queued + count > limit:
        raise ProtocolError("busy", f"the queue is full ({queued} job(s) queued, limit {limit}); retry later"
                            + (" or send fewer items" if count > 1 else ""),
                            {"queued": queued, "limit": limit, "retry_after_ms": 1000 + 200 * count})


def checked_job(d: Daemon, item: dict, jid: str, h: str, priority: int, batch: str | None,
                index: int | None) -> Job:
    """One item as a Job, its request parsed and checked once; a refusal names the item."""
    where = {} if index is None else {"index": index}
    spec = item["request"]
    try:
        req = RenderRequest.from_wire(spec)      # it checks itself
        voice = spec["voice"]
        if d.voice_names is not None and voice not in ("auto", "") and voice not in d.voice_names:
            d.runner.backend.check_voice(voice)              # raises UnknownVoiceError with hints
        extra = {"dictionary": checked_dictionary(d, spec["dictionary"])} if spec.get("dictionary") else {}
        if d.backend.name != DEFAULT_BACKEND:    # (Kokoro: no fields, and no clip stat asked for)
            loaded = d.runner.backend        # loaded: its renders wait for it (operations.py render)
            extra.update(backend_extra(loaded.name, loaded.engine_id, loaded.voice_identity(voice)))
        if item.get("output") is not None:
            safe_output(d.output_root, item["output"])
        key = request_key(req, extra or None)    # inside: an emotion clip that is gone is bad input
    except PathEscapeError as e:
        raise ProtocolError("bad_path", str(e), {**where, "output": item.get("output")}) from None
    except TakefitError as e:
        doc = error_doc(e)
        raise Refused(doc["code"], (f"item {index}: " if where else "") + doc["message"],
                      {**doc["details"], **where}) from None
    return Job(id=jid, batch=batch, priority=priority, seq=d.next_seq(), spec=spec, spec_hash=h, key=key,
               output=item.get("output"), created=time.time(), request=req)


def checked_dictionary(d: Daemon, text: str) -> str:
    """A request's inline dictionary, refused now if it does not parse; its hash (for the cache key)."""
    h = dictionary_hash(text)
    if h not in d.dictionaries_ok:
        Lexicon.parse(text)
        d.dictionaries_ok.add(h)
    return h


def accept(d: Daemon, jobs: list[Job], batch: str | None) -> dict[str, dict]:
    """Journal the jobs (durable before anyone hears "accepted"), then queue them."""
    d.journal.insert([{"id": j.id, "batch": batch, "seq": j.seq, "priority": j.priority, "spec": j.spec,
                       "spec_hash": j.spec_hash, "output": j.output_name, "named": j.output is not None,
                       "cache_key": j.key, "created": j.created} for j in jobs])
    d.stats["accepted"] += len(jobs)
    (log.info if len(jobs) > 1 else log.debug)("accepted %d job(s)%s, priority %s", len(jobs),
                                               f" (batch {batch})" if batch else f" ({jobs[0].id})",
                                               PRIORITY_NAMES[jobs[0].priority])
    for job in jobs:
        d.jobs[job.id] = job
        d.enqueue(job)
    return {j.id: {"state": "queued", "spec_hash": j.spec_hash, "result": None, "error": None} for j in jobs}


def announce(d: Daemon, peer, msg: dict, kind: str, ids: list[str], batch: str | None, rows: dict) -> None:
    if kind == "render":
        j = ids[0]
        job = d.jobs.get(j)
        d.send(peer, {"type": "accepted", "id": msg["id"], "job": j, "state": rows[j]["state"],
                      "position": d.runner.queue.position(j), "cached": bool(job and job.lane == "fast")})
    else:
        d.send(peer, {"type": "accepted", "id": msg["id"], "batch": batch, "jobs": ids,
                      "queued": len(d.runner.queue)})
