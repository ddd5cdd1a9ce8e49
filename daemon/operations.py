"""The operations clients may ask for, as an explicit handler table: one function per message type.

Each handler runs on the server loop with the loop's state (`d`, the Daemon), the peer and the checked
message (protocol.OPS gives its schema); it answers with `d.reply` or raises ProtocolError/TakefitError,
which the loop turns into a typed error. Anything slow goes to a worker (runner.py).
"""
from __future__ import annotations

import os
import time
import uuid
from typing import TYPE_CHECKING, Callable

from takefit.engine import __version__
from takefit.engine.backend import DEFAULT_BACKEND
from takefit.engine.backend import resident_bytes as rss_bytes
from takefit.engine.errors import AssetError, InputError, TakefitError
from takefit.engine.profiles import ProfileStore

from . import protocol
from .admission import admit, lookup
from .protocol import FINAL_STATES, MAX_INLINE_BYTES, MAX_MESSAGE_BYTES, PRIORITIES, PROTOCOL, SUPPORTED_PROTOCOLS, \
    ProtocolError
from .scheduler import PRIORITY_NAMES
from .streams import client_result

if TYPE_CHECKING:
    from .server import Daemon

CAPABILITIES = ["render", "render_batch", "watch", "job", "jobs", "cancel", "voices", "explain", "cache_clear",
                "voice_enroll", "voice_list", "voice_show", "voice_remove",
                "shutdown", "inline_audio", "priorities", "heartbeat", "journal", "dictionary"]


# ------------------------------------------------------------------------------------------- session
def hello(d: Daemon, peer, msg) -> None:
    if msg["protocol"] not in SUPPORTED_PROTOCOLS:
        raise ProtocolError("unsupported_version", f"protocol {msg['protocol']} is not supported; this daemon "
                            f"speaks {', '.join(map(str, SUPPORTED_PROTOCOLS))}",
                            {"supported": list(SUPPORTED_PROTOCOLS)})
    limits = {"max_message_bytes": MAX_MESSAGE_BYTES, "max_batch": protocol.MAX_BATCH,
              "max_text_chars": protocol.MAX_TEXT_CHARS, "max_queue": d.config.max_queue,
              "max_inline_bytes": MAX_INLINE_BYTES, "max_id_chars": protocol.MAX_ID_CHARS,
              "max_output_chars": protocol.MAX_OUTPUT_CHARS, "max_dictionary_bytes": protocol.MAX_DICT_BYTES}
    d.reply(peer, msg, protocol=PROTOCOL, protocols=list(SUPPORTED_PROTOCOLS), daemon=__version__,
            version=__version__, engine=d.backend.engine_id, engine_state=d.engine_state, pid=os.getpid(),
            capabilities=CAPABILITIES, limits=limits, backend=backend_doc(d),
            heartbeat={"interval_ms": d.config.heartbeat_ms, "liveness": d.config.liveness},
            output_root=str(d.output_root), authenticated=peer[0] > 0)


def ping(d: Daemon, peer, msg) -> None:
    d.reply(peer, msg, pong=True, time=time.time())


def heartbeat(d: Daemon, peer, msg) -> None:
    """Liveness only (the loop notes every message's peer); no reply."""


def health(d: Daemon, peer, msg) -> None:
    queue = d.runner.queue
    running = sum(1 for j in d.jobs.values() if j.state == "running")
    d.reply(peer, msg, status="stopping" if d.stopping else ("ok" if d.engine_state == "ready" else d.engine_state),
            pid=os.getpid(), version=__version__, engine=d.backend.engine_id, engine_state=d.engine_state,
            engine_error=d.engine_error, uptime=time.time() - d.started, protocol=PROTOCOL,
            queue={"queued": len(queue), "running": running, "by_priority": queue.counts(),
                   "fast_lane": d.runner.fast.qsize(), "limit": d.config.max_queue},
            workers=d.config.workers, watches=len(d.streams.watches), peers=len(d.streams.peers),
            stats=dict(d.stats), journal=d.journal.counts(),
            cache={"bytes": d.cache.approx_size(), "max_bytes": d.cache.max_bytes, "root": str(d.cache.root)},
            rss_bytes=rss_bytes(), endpoints=d.front.endpoints, remote_endpoints=d.front.remote_endpoints,
            output_root=str(d.output_root), backend=backend_doc(d))


def backend_doc(d: Daemon) -> dict:
    """The speech model serving this daemon (engine/backend.py): name, engine, device, sample rate,
    capabilities, emotion inputs, languages; once it has loaded, also `load` (seconds, memory)."""
    if d.backend_loaded is None or d.runner.backend is None:
        return d.backend_loaded or d.backend.to_wire(d.config.device)
    return {**d.backend_loaded, "load": d.runner.backend.report().to_wire()}    # a GPU's peak changes as it renders


def shutdown(d: Daemon, peer, msg) -> None:
    d.reply(peer, msg, stopping=True, queued=len(d.runner.queue))
    d.begin_shutdown("shutdown requested")


# ------------------------------------------------------------------------------------------- voices, text
def voices(d: Daemon, peer, msg) -> None:
    if need_engine(d, peer, msg):
        # Kokoro: built-in, then enrolled, each with its note and preview line
        found = [v.to_wire() for v in d.runner.backend.voices()]
        if msg.get("language"):
            found = [v for v in found if v["language"] == msg["language"]]
        d.reply(peer, msg, voices=found, backend=backend_doc(d))


def voice_enroll(d: Daemon, peer, msg) -> None:
    """One enrollment at a time, on its own thread; progress and the reply come back as events."""
    if not need_engine(d, peer, msg):
        return
    if not d.runner.backend.capabilities.enrolled_voices:
        raise InputError(f"backend {d.backend.name!r} does not render enrolled voices; enroll with a daemon "
                         f"started with --backend kokoro")
    if d.enrolling:
        raise ProtocolError("busy", "an enrollment is already running; retry when it has finished",
                            {"retry_after_ms": 10_000})
    d.enrolling = True
    d.runner.enroll(peer, msg)


def voice_list(d: Daemon, peer, msg) -> None:
    store = ProfileStore()
    out = []
    for n in store.names():
        try:
            out.append(store.load(n).summary())
        except TakefitError as e:
            out.append({"name": n, "error": str(e)})
    d.reply(peer, msg, voices=out)


def voice_show(d: Daemon, peer, msg) -> None:
    d.reply(peer, msg, voice=ProfileStore().load(msg["name"]).summary())


def voice_remove(d: Daemon, peer, msg) -> None:
    ProfileStore().remove(msg["name"])
    d.reply(peer, msg, removed=msg["name"])


def explain(d: Daemon, peer, msg) -> None:
    if need_engine(d, peer, msg):
        d.runner.explain(peer, msg)


def need_engine(d: Daemon, peer, msg) -> bool:
    """True when the engine is up; while it loads the message waits (answered when it is); else an error."""
    if d.engine_state == "ready":
        return True
    if d.engine_state == "loading":
        d.waiting_engine.append((peer, msg))
        return False
    raise AssetError(f"the engine could not load: {d.engine_error}")


# ------------------------------------------------------------------------------------------- jobs
def keyable(d: Daemon, peer, msg) -> bool:
    """Kokoro's cache keys are known before it loads; another backend's name its checkpoint (the loaded
    engine id) and its clip voices' files, so its renders wait for the load as `explain` does."""
    return d.backend.name == DEFAULT_BACKEND or need_engine(d, peer, msg)


def render(d: Daemon, peer, msg) -> None:
    if not keyable(d, peer, msg):
        return
    item = {"request": msg["request"], "job": msg["job"], "output": msg["output"]}
    admit(d, peer, msg, [item], PRIORITIES[msg["priority"]], None, "render", stream=True)


def render_batch(d: Daemon, peer, msg) -> None:
    if not keyable(d, peer, msg):
        return
    admit(d, peer, msg, msg["items"], PRIORITIES[msg["priority"]], msg["batch"] or uuid.uuid4().hex,
          "render_batch", stream=msg["stream"])


def watch(d: Daemon, peer, msg) -> None:
    ids = list(dict.fromkeys(msg["jobs"]))
    rows = lookup(d, ids)
    missing = [j for j in ids if j not in rows]
    if missing:
        raise ProtocolError("not_found", f"no such job(s): {', '.join(missing[:10])}", {"jobs": missing})
    d.send(peer, {"type": "accepted", "id": msg["id"], "jobs": ids, "states": {j: rows[j]["state"] for j in ids}})
    d.open_stream(peer, msg, "watch", ids, rows, None)


def job(d: Daemon, peer, msg) -> None:
    doc = job_status(d, msg["job"], msg["inline"], msg["phonemes"])
    if doc is None:
        raise ProtocolError("not_found", f"no such job {msg['job']!r} (finished jobs are kept "
                            f"{d.config.retention_days:g} days)", {"job": msg["job"]})
    d.reply(peer, msg, job=doc)


def job_status(d: Daemon, job_id: str, inline: bool = False, phonemes: bool = False) -> dict | None:
    live = d.jobs.get(job_id)
    row = d.journal.get(job_id)
    if row is None and live is None:
        return None
    doc = {"job": job_id}
    if row is not None:
        doc.update({"batch": row["batch"], "state": row["state"], "priority": PRIORITY_NAMES[row["priority"]],
                    "created": row["created"], "started": row["started"], "finished": row["finished"],
                    "attempts": row["attempts"], "output": row["output"], "request": row["spec"]})
    if live is not None:
        doc.update({"state": live.state, "fraction": live.fraction, "message": live.message})
        if live.state == "queued":
            doc["position"] = d.runner.queue.position(job_id) if live.lane == "engine" else 0
    elif row is not None and row["state"] in FINAL_STATES:
        if row["result"] is not None:
            doc["result"] = client_result(row["result"], inline, phonemes)
        if row["error"] is not None:
            doc["error"] = row["error"]
    return doc


def jobs(d: Daemon, peer, msg) -> None:
    out = []
    for r in d.journal.list(msg["state"], msg["batch"], msg["limit"]):
        doc = {"job": r["id"], "batch": r["batch"], "state": r["state"], "priority": PRIORITY_NAMES[r["priority"]],
               "created": r["created"], "finished": r["finished"], "output": r["output"],
               "text": r["spec"]["text"][:80]}
        live = d.jobs.get(r["id"])
        if live is not None:
            doc["state"], doc["fraction"] = live.state, live.fraction
        if r["error"]:
            doc["error"] = r["error"]
        out.append(doc)
    d.reply(peer, msg, jobs=out)


def cancel(d: Daemon, peer, msg) -> None:
    ids = list(dict.fromkeys(msg["jobs"]))
    if msg["batch"]:
        ids += [j.id for j in d.jobs.values() if j.batch == msg["batch"] and j.id not in ids]
        if not ids and not d.journal.batch_exists(msg["batch"]):
            raise ProtocolError("not_found", f"no such batch {msg['batch']!r}", {"batch": msg["batch"]})
    canceled, canceling, finished, unknown = [], [], [], []
    for j in ids:
        live = d.jobs.get(j)
        if live is None:
            (finished if d.journal.get(j) else unknown).append(j)
            continue
        live.cancel.set()
        if live.lane == "engine" and d.runner.queue.remove(j):
            err = {"code": "canceled", "message": "canceled while queued", "details": {}}
            if d.journal.finish(j, "canceled", error=err):
                d.job_finished(j, "canceled", None, err)
            canceled.append(j)
        else:
            canceling.append(j)                 # running (or in the fast lane): stops at the next stage
    d.reply(peer, msg, canceled=canceled, canceling=canceling, finished=finished, unknown=unknown)


def cache_clear(d: Daemon, peer, msg) -> None:
    d.reply(peer, msg, removed=d.cache.clear())


Handler = Callable[["Daemon", tuple, dict], None]
HANDLERS: dict[str, Handler] = {
    "hello": hello, "ping": ping, "heartbeat": heartbeat, "health": health, "shutdown": shutdown,
    "voices": voices, "voice_enroll": voice_enroll, "voice_list": voice_list, "voice_show": voice_show,
    "voice_remove": voice_remove, "explain": explain,
    "render": render, "render_batch": render_batch, "watch": watch, "job": job, "jobs": jobs, "cancel": cancel,
    "cache_clear": cache_clear,
}
# every message type the schema accepts has exactly one handler, and no handler is unreachable
assert set(HANDLERS) == set(protocol.OPS), set(HANDLERS) ^ set(protocol.OPS)
