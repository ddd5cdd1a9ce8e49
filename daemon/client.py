"""`takefit.daemon.Client` — a synchronous client for the takefit daemon.

    from takefit.daemon import Client
    with Client(autostart=True) as c:
        r = c.render("Hello there.", target="2.5s", progress=lambda f, m: print(f"{f:4.0%} {m}"))
        print(r.wav, r.samples, r.ratio)       # an engine Take; wav: the file the daemon wrote

Reliability (the ZeroMQ guide's lazy pirate, plus heartbeats):
  * every request is idempotent — job ids are chosen here, so re-sending a render after a timeout
    re-attaches to the same job instead of rendering twice;
  * no answer within `timeout` → close the socket, reconnect (re-reading daemon.json, so a
    restarted daemon on a new port is found; with autostart, a dead daemon is started again) and
    re-send, up to `retries` times;
  * while a render runs, the daemon sends heartbeats and so does the client: silence for
    interval × liveness means the daemon is gone → reconnect and re-attach (`watch`).

A Client is not thread-safe: use one per thread (they are cheap; they share one ZeroMQ context).
"""
from __future__ import annotations

import itertools
import math
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import zmq

from takefit.engine.emotion import Emotion
from takefit.engine.errors import InputError, TakefitError
from takefit.engine.request import RenderRequest, parse_target
from takefit.engine.take import Take
from takefit.engine.target import parse_rate

from . import control, keys
from .control import DaemonError, DaemonUnavailable
from .errors import BadPathError, DaemonBusy, JobCanceledError, Unauthorized, remote_error  # noqa: F401 (public here)
from .paths import ENV_ENDPOINT, Dirs
from .protocol import (MAX_CLIENT_MESSAGE_BYTES, PROTOCOL, SIGNATURE, TOKEN_USER, ProtocolError, normalise_target, pack,
                       unpack)

ENV_SERVER_KEY = "TAKEFIT_DAEMON_SERVER_KEY"
ENV_CLIENT_KEY = "TAKEFIT_DAEMON_CLIENT_KEY"


def take_from_result(doc: dict) -> Take:
    """A job's result (docs/protocol.md, "The result") as the engine's Take: its sound is the WAV's bytes
    when they came inline, else the file the daemon wrote; the daemon's own timings join the engine's."""
    wav = doc.get("audio") if isinstance(doc.get("audio"), bytes) else Path(doc["path"])
    take = Take.from_wire(doc, wav=wav, key=doc.get("key", ""), cached=bool(doc.get("cached")), job=doc["job"])
    for name, seconds in (doc.get("daemon_timings") or {}).items():
        take.timings[f"daemon_{name}"] = seconds
    if doc.get("inline_error"):
        take.warnings.append(f"not sent inline: {doc['inline_error']}")
    return take


def make_request(text, *, target=None, emotion=None, frame_rate=None, natural_range=None,
                 dictionary: str | None = None, **fields: Any) -> dict:
    """The protocol's request map (RenderRequest's wire form, checked here before it travels); `text`
    may also be an engine RenderRequest. Other fields are RenderRequest's (voice, language, sample_rate,
    pre_roll, method, loudness, true_peak, speed, lead, tail), with its defaults. `emotion`: an engine Emotion, its
    wire map, or the string form ("angry 0.7"). `target`: a Target, seconds, or the CLI syntax."""
    if not isinstance(text, RenderRequest):
        for name, kind in NUMERIC_FIELDS.items():
            if fields.get(name) is not None:
                fields[name] = kind(fields[name])
        if natural_range is not None:
            fields["natural_range"] = tuple(float(x) for x in natural_range)
        text = RenderRequest(text, target=parse_target(normalise_target(target)),
                             emotion=None if emotion is None else Emotion.from_json(emotion),
                             frame_rate=None if frame_rate is None else parse_rate(frame_rate), **fields)
    doc = text.to_wire()
    if dictionary:
        doc["dictionary"] = dictionary
    return doc


NUMERIC_FIELDS = {"sample_rate": int, "pre_roll": float, "loudness": float, "speed": float, "lead": float,
                  "tail": float, "true_peak": float}


def new_job_id() -> str:
    return uuid.uuid4().hex


class _Lost(Exception):
    """No answer in time: reconnect and retry."""


@dataclass
class _Stream:
    """What a render, batch or watch still waits for, kept across reconnects."""

    pending: set[str]
    progress: Callable[[str, float, str], None] | None
    on_result: Callable[[str, Any], None] | None
    timeout: float | None
    accepted: bool = False
    results: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        self.deadline = math.inf if self.timeout is None else time.monotonic() + self.timeout

    def check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            raise DaemonError(f"timed out after {self.timeout:g} s waiting for {len(self.pending)} job(s); they "
                              f"continue in the daemon", code="timeout", details={"jobs": sorted(self.pending)})

    def hear(self, doc: dict) -> None:
        """One message of this stream (accepted, progress, result, error, done)."""
        kind, job = doc.get("type"), doc.get("job")
        if kind == "accepted":
            self.accepted = True
        elif kind == "progress":
            if self.progress is not None and job in self.pending:
                self.progress(job, doc.get("fraction", 0.0), doc.get("message", ""))
        elif kind in ("result", "error") and job in self.pending:
            self.pending.discard(job)
            self.results[job] = take_from_result(doc["result"]) if kind == "result" else remote_error(doc)
            if self.on_result is not None:
                self.on_result(job, self.results[job])
        elif kind == "error" and job is None:
            if doc.get("code") == "shutting_down" and (doc.get("details") or {}).get("resumable"):
                raise _Lost()              # the daemon is stopping; our jobs stay journaled
            raise remote_error(doc)
        elif kind == "done" and self.pending:
            raise DaemonError(f"the daemon ended the stream with {len(self.pending)} job(s) unanswered",
                              code="internal", details={"jobs": sorted(self.pending)})


class Client:
    def __init__(self, endpoint: str | None = None, *, home: str | os.PathLike | None = None,
                 home_dirs: Dirs | None = None, timeout: float = 10.0, retries: int = 3, autostart: bool = False,
                 autostart_args: list[str] | None = None, server_key: str | bytes | os.PathLike | None = None,
                 client_key: str | os.PathLike | tuple[bytes, bytes] | None = None, token: str | None = None,
                 heartbeat_ms: int | None = None, liveness: int | None = None, context: zmq.Context | None = None):
        self.dirs = home_dirs or Dirs.resolve(home)
        # $TAKEFIT_DAEMON_ENDPOINT (and its key variables) is the default only when the caller named
        # neither an endpoint nor a daemon home
        env_endpoint = None if (home is not None or home_dirs is not None) else os.environ.get(ENV_ENDPOINT)
        self._explicit = endpoint or env_endpoint or None
        remote = endpoint is not None or bool(env_endpoint)
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.autostart = autostart
        self.autostart_args = list(autostart_args or [])
        self.ctx = context or zmq.Context.instance()
        self._server_key = server_key or (os.environ.get(ENV_SERVER_KEY) if remote else None) or None
        self._client_key = client_key or (os.environ.get(ENV_CLIENT_KEY) if remote else None) or None
        self._token = token
        self._hb_override = heartbeat_ms
        self._liveness_override = liveness
        self.heartbeat = (heartbeat_ms or 1000) / 1000.0
        self.liveness = liveness or 3
        self._sock: zmq.Socket | None = None
        self._monitor: zmq.Socket | None = None
        self._greeted = False            # this socket's hello was answered
        self._ids = itertools.count(1)
        self._prefix = uuid.uuid4().hex[:8]
        self.endpoint: str | None = None
        self.server: dict = {}           # the daemon's hello reply
        self.reconnects = 0

    def twin(self) -> "Client":
        """Another client to the same daemon, alike in every setting (a socket serves one thread)."""
        return Client(self._explicit, home_dirs=self.dirs, timeout=self.timeout, retries=self.retries,
                      autostart=self.autostart, autostart_args=self.autostart_args, server_key=self._server_key,
                      client_key=self._client_key, token=self._token, heartbeat_ms=self._hb_override,
                      liveness=self._liveness_override, context=self.ctx)

    # ------------------------------------------------------------------ connection
    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._monitor is not None:
            try:
                self._sock.disable_monitor()
            except zmq.ZMQError:
                pass
            self._monitor.close(linger=0)
            self._monitor = None
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None
        self._greeted = False

    def _resolve(self) -> tuple[str, dict | None]:
        """The endpoint, and daemon.json as read for it (None for an explicit endpoint)."""
        if self._explicit:
            return self._explicit, None
        info = control.read_info(self.dirs)
        if info is None and self.autostart:
            info = control.start(self.dirs, self.autostart_args)
        if info is None:
            raise DaemonUnavailable(f"no takefit daemon is running for this user (start one with "
                                    f"`takefit daemon start`; looked in {self.dirs.runtime})")
        ep = control.pick_endpoint(info)
        if ep is None:
            raise DaemonUnavailable(f"the daemon (pid {info.get('pid')}) publishes no endpoint")
        return ep, info

    def _curve(self) -> tuple[bytes, bytes, bytes] | None:
        if not self._server_key:
            return None

        server = keys.read_public(self._server_key) if not isinstance(self._server_key, bytes) else self._server_key
        if self._client_key is None:
            raise InputError("a CurveZMQ connection needs the client's key pair too (client_key=PATH.key_secret)")
        if isinstance(self._client_key, tuple):
            public, secret = self._client_key
        else:
            public, secret = keys.read_secret(self._client_key)
        return server, public, secret

    def _local_token(self, sock: zmq.Socket, info: dict | None) -> None:
        """A local daemon admits the peers that present its token (ZeroMQ PLAIN, #20.6); the token is in
        daemon.json, which only the daemon's user can read. Read at every connect (a restarted daemon has
        a new one): `info` as `_resolve` read it, else this user's daemon.json for an explicit endpoint."""
        if info is None and not self._token:
            info = control.read_info(self.dirs)
        token = self._token or (info or {}).get("token")
        if token:
            sock.plain_username = TOKEN_USER.encode()
            sock.plain_password = token.encode()

    def _connect(self) -> zmq.Socket:
        if self._sock is not None:
            return self._sock
        ep, info = self._resolve()
        sock = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDTIMEO, max(1, int(self.timeout * 1000)))   # never blocks for good (_send)
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_CLIENT_MESSAGE_BYTES)
        sock.setsockopt(zmq.RCVHWM, 0)
        curve = self._curve()
        if curve is not None:
            sock.curve_serverkey, sock.curve_publickey, sock.curve_secretkey = curve
        else:
            self._local_token(sock, info)
        self._monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                                                | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)
        sock.connect(ep)
        self._sock = sock
        self.endpoint = ep
        try:
            self._hello()
        except BaseException:
            self.close()
            raise
        return sock

    def _hello(self) -> None:
        rid = self._rid()
        self._send({"op": "hello", "id": rid, "protocol": PROTOCOL, "client": "takefit-python",
                    "capabilities": ["heartbeat", "inline_audio"]})
        doc = self._await(rid, min(self.timeout, 10.0))
        if doc is None:
            raise _Lost()
        self.server = doc
        self._greeted = True
        hb = doc.get("heartbeat") or {}
        if self._hb_override is None and isinstance(hb.get("interval_ms"), int):
            self.heartbeat = hb["interval_ms"] / 1000.0
        if self._liveness_override is None and isinstance(hb.get("liveness"), int):
            self.liveness = hb["liveness"]

    def _refused(self, event: dict) -> str:
        why = f"handshake failed: event {event.get('event')}, {event.get('value')}"
        if self._server_key:
            return (f"the daemon at {self.endpoint} refused this client's CurveZMQ key ({why}); authorise it "
                    f"with `takefit daemon keys authorize` on the daemon's machine")
        return (f"the daemon at {self.endpoint} refused this client ({why}): a local daemon admits only the "
                f"user who started it, with the token in its daemon.json (looked in {self.dirs.runtime}). Run "
                f"as that user with the same daemon home, or reach it from elsewhere through --remote-bind "
                f"and CurveZMQ keys (docs/protocol.md, Security)")

    def _rid(self) -> str:
        return f"{self._prefix}-{next(self._ids)}"

    def _send(self, doc: dict) -> None:
        try:
            self._sock.send_multipart([SIGNATURE, pack(doc)])
        except zmq.Again:
            # No connection took the message in time: ZeroMQ drops the pipe of a peer whose handshake failed
            # (a wrong token) and a DEALER without one blocks; the monitor then says why.
            self._recv(0)                  # raises Unauthorized where the handshake was refused
            raise _Lost() from None

    def _recv(self, timeout: float) -> dict | None:
        """One message from the daemon within `timeout` seconds, or None."""
        sock = self._sock
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        if self._monitor is not None:
            poller.register(self._monitor, zmq.POLLIN)
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            remaining = deadline - time.monotonic()
            events = dict(poller.poll(max(0, int(remaining * 1000))))
            if self._monitor is not None and self._monitor in events:
                # here only: pyzmq's monitor module loads asyncio (≈ 35 ms of every client's start)
                from zmq.utils.monitor import recv_monitor_message

                event = recv_monitor_message(self._monitor)
                if self._greeted and not self._server_key:
                    raise _Lost()          # ZeroMQ reconnected by itself to a restarted daemon: a new token
                raise Unauthorized(self._refused(event))
            if sock in events:
                frames = sock.recv_multipart()
                try:
                    if len(frames) != 2 or frames[0] != SIGNATURE:
                        raise ProtocolError("bad_frame", "unexpected framing from the daemon")
                    doc = unpack(frames[1], MAX_CLIENT_MESSAGE_BYTES)
                    if not isinstance(doc, dict):
                        raise ProtocolError("bad_frame", "the daemon sent a non-map body")
                    return doc
                except ProtocolError:
                    continue                   # ignore what we cannot read; the timeout still holds
            if time.monotonic() >= deadline:
                return None

    def _await(self, rid: str, timeout: float) -> dict | None:
        """The reply to `rid` (raising its typed error), skipping stale replies and heartbeats."""
        deadline = time.monotonic() + timeout
        while True:
            doc = self._recv(deadline - time.monotonic())
            if doc is None:
                return None
            if doc.get("id") != rid:
                continue
            if doc.get("type") == "error":
                raise remote_error(doc)
            return doc

    def _backoff(self, attempt: int) -> None:
        time.sleep(min(0.05 * (2 ** attempt), 1.0))

    def call(self, op: str, timeout: float | None = None, **fields: Any) -> dict:
        """One request → its reply, with lazy-pirate retries (every op is idempotent)."""
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                self._connect()
                rid = self._rid()
                self._send({"op": op, "id": rid, **fields})
                doc = self._await(rid, self.timeout if timeout is None else timeout)
                if doc is not None:
                    return doc
                last = None
            except _Lost:
                last = None
            except DaemonUnavailable as e:
                last = e
            self.close()
            self.reconnects += 1
            if attempt < self.retries:
                self._backoff(attempt)
        raise last if last is not None else self._no_answer()

    def _no_answer(self) -> DaemonUnavailable:
        return DaemonUnavailable(f"no answer from the takefit daemon at {self.endpoint or '?'} after "
                                 f"{self.retries + 1} tries of {self.timeout:g} s; is it running? "
                                 f"(`takefit daemon status`)")

    # ------------------------------------------------------------------ simple operations
    def connect(self) -> "Client":
        """Connect and say hello now (otherwise the first request does), with the usual retries."""
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                self._connect()
                return self
            except _Lost:
                last = None
            except DaemonUnavailable as e:
                last = e
            self.close()
            if attempt < self.retries:
                self._backoff(attempt)
        raise last if last is not None else self._no_answer()

    def hello(self) -> dict:
        self.connect()
        return dict(self.server)

    def ping(self) -> float:
        """Round trip in seconds."""
        self.connect()
        t0 = time.perf_counter()
        self.call("ping")
        return time.perf_counter() - t0

    def health(self) -> dict:
        return self.call("health")

    def voices(self, language: str | None = None) -> list[dict]:
        return self.call("voices", timeout=max(self.timeout, 60.0), language=language)["voices"]

    # ---- enrolled voices
    def enroll_voice(self, name: str, reference, *, text: str | None = None, quality: str = "fast",
                     consent: str | None = None, no_consent_record: bool = False, prosody_from: str | None = None,
                     force: bool = False, progress=None, timeout: float = 3600.0, denoise: bool = False) -> dict:
        """Enroll in the daemon (the reference path must be readable there); returns the profile summary.
        `progress(fraction, message)` follows the steps. Not retried: a second send would enroll twice."""
        self._connect()
        rid = self._rid()
        self._send({"op": "voice_enroll", "id": rid, "name": name, "reference": str(Path(reference).absolute()),
                    "text": text, "quality": quality, "consent": consent, "no_consent_record": no_consent_record,
                    "prosody_from": prosody_from, "force": force, "progress": progress is not None,
                    "denoise": denoise})
        deadline = time.monotonic() + timeout
        while True:
            doc = self._recv(deadline - time.monotonic())
            if doc is None:
                raise DaemonError(f"no answer from the daemon within {timeout:g} s while enrolling {name!r}",
                                  code="timeout", details={})
            if doc.get("id") != rid:
                continue
            if doc.get("type") == "progress":
                if progress is not None:
                    progress(doc.get("fraction", 0.0), doc.get("message", ""))
            elif doc.get("type") == "error":
                raise remote_error(doc)
            else:
                return doc["voice"]

    def voice_list(self) -> list[dict]:
        return self.call("voice_list")["voices"]

    def voice_show(self, name: str) -> dict:
        return self.call("voice_show", name=name)["voice"]

    def voice_remove(self, name: str) -> str:
        return self.call("voice_remove", name=name)["removed"]

    def explain(self, text: str, voice: str = "auto", language: str = "auto", speed: float = 1.0,
                dictionary: str | None = None) -> dict:
        return self.call("explain", timeout=max(self.timeout, 60.0), text=text, voice=voice, language=language,
                         speed=float(speed), dictionary=dictionary)["explain"]

    def job(self, job_id: str, inline: bool = False, phonemes: bool = False) -> dict:
        """A job's state; finished jobs carry `result` (or `error`) — also after a restart."""
        return self.call("job", job=job_id, inline=inline, phonemes=phonemes)["job"]

    def jobs(self, state: str | None = None, batch: str | None = None, limit: int = 100) -> list[dict]:
        return self.call("jobs", state=state, batch=batch, limit=limit)["jobs"]

    def cancel(self, *jobs: str, batch: str | None = None) -> dict:
        return self.call("cancel", jobs=list(jobs), batch=batch)

    def cache_clear(self) -> int:
        return self.call("cache_clear")["removed"]

    def shutdown(self) -> dict:
        return self.call("shutdown")

    # ------------------------------------------------------------------ rendering
    def render(self, text, *, output: str | None = None, inline: bool = False, phonemes: bool = False,
               priority: str = "normal", job: str | None = None,
               progress: Callable[[float, str], None] | None = None, timeout: float | None = None,
               **request: Any) -> Take:
        """Render one take and wait for it. `request` takes make_request's fields (voice, target, …)."""
        req = make_request(text, **request)
        jid = job or new_job_id()
        msg = {"op": "render", "request": req, "job": jid, "output": output, "inline": inline,
               "phonemes": phonemes, "priority": priority, "progress": progress is not None}
        cb = None if progress is None else (lambda j, f, m: progress(f, m))
        out = self._run_jobs(msg, [jid], cb, None, timeout, inline, phonemes)[jid]
        if isinstance(out, BaseException):
            raise out
        return out

    def render_batch(self, items: list, *, priority: str = "low", batch: str | None = None, inline: bool = False,
                     phonemes: bool = False, progress: Callable[[str, float, str], None] | None = None,
                     on_result: Callable[[str, Any], None] | None = None,
                     timeout: float | None = None) -> list[Take | TakefitError]:
        """Render many takes (one journaled batch); returns results/errors in item order.

        items: dicts of make_request fields (+ optional "output", "job"), or engine RenderRequests."""
        wire, ids = self._batch_items(items)
        msg = {"op": "render_batch", "items": wire, "batch": batch or new_job_id(), "priority": priority,
               "inline": inline, "phonemes": phonemes, "progress": progress is not None, "stream": True}
        out = self._run_jobs(msg, ids, progress, on_result, timeout, inline, phonemes)
        return [out[j] for j in ids]

    def submit(self, text, *, output: str | None = None, priority: str = "normal", job: str | None = None,
               **request: Any) -> str:
        """Queue one render without waiting; returns its job id (see wait / job)."""
        return self.submit_batch([{**request, "text": text, "output": output, "job": job}], priority=priority)[1][0]

    def submit_batch(self, items: list, *, priority: str = "low", batch: str | None = None) -> tuple[str, list[str]]:
        """Queue many renders without waiting; returns (batch id, job ids)."""
        wire, ids = self._batch_items(items)
        bid = batch or new_job_id()
        self.call("render_batch", items=wire, batch=bid, priority=priority, stream=False)
        return bid, ids

    def wait(self, jobs, *, inline: bool = False, phonemes: bool = False,
             progress: Callable[[str, float, str], None] | None = None,
             on_result: Callable[[str, Any], None] | None = None,
             timeout: float | None = None) -> dict[str, Take | TakefitError]:
        """Wait for jobs accepted earlier (by anyone, before or after a daemon restart)."""
        ids = [jobs] if isinstance(jobs, str) else list(jobs)
        msg = {"op": "watch", "jobs": ids, "inline": inline, "phonemes": phonemes, "progress": progress is not None}
        return self._run_jobs(msg, ids, progress, on_result, timeout, inline, phonemes, watch_first=True)

    @staticmethod
    def _batch_items(items: list) -> tuple[list[dict], list[str]]:
        wire, ids = [], []
        for it in items:
            if isinstance(it, RenderRequest):
                it = {"text": it}
            it = dict(it)
            output = it.pop("output", None)
            jid = it.pop("job", None) or new_job_id()
            text = it.pop("text")
            wire.append({"request": make_request(text, **it), "job": jid, "output": output})
            ids.append(jid)
        return wire, ids

    def _run_jobs(self, first: dict, ids: list[str], progress, on_result, timeout: float | None, inline: bool,
                  phonemes: bool, watch_first: bool = False) -> dict[str, Any]:
        """Send `first` and collect one result or error per job, surviving daemon restarts: after a loss
        the client reconnects and watches the jobs the daemon had accepted (they are journaled)."""
        stream = _Stream(set(ids), progress, on_result, timeout, accepted=watch_first)
        msg, attempt = first, 0
        while True:
            try:
                self._connect()
                self._follow(msg, stream)
                return stream.results
            except _Lost:
                pass
            except DaemonUnavailable:
                if attempt >= self.retries:
                    raise
            self.close()
            self.reconnects += 1
            attempt += 1
            if attempt > self.retries:
                raise DaemonUnavailable(
                    f"lost the takefit daemon at {self.endpoint or '?'} ({self.retries + 1} tries); "
                    f"{len(stream.pending)} job(s) are journaled and will finish when it runs again — fetch them "
                    f"with Client.wait(...) or `takefit daemon job ID`", details={"jobs": sorted(stream.pending)})
            self._backoff(attempt)
            if stream.accepted:   # re-attach to what the daemon already journaled
                msg = {"op": "watch", "jobs": sorted(stream.pending), "inline": inline, "phonemes": phonemes,
                       "progress": progress is not None}

    def _follow(self, msg: dict, stream: "_Stream") -> None:
        """One connection: send `msg` and hear its stream until no job is pending. _Lost when the daemon
        goes silent (no heartbeat for `liveness` intervals) or says it is stopping with our jobs queued."""
        rid = self._rid()
        self._send({**msg, "id": rid})
        now = time.monotonic()
        last_heard, next_hb = now, now + self.heartbeat
        while stream.pending:
            stream.check_deadline()
            silence = self.heartbeat * self.liveness if stream.accepted else self.timeout
            doc = self._recv(max(0.0, min(next_hb, last_heard + silence, stream.deadline) - time.monotonic()))
            now = time.monotonic()
            if doc is not None:
                last_heard = now
                if doc.get("type") != "heartbeat" and doc.get("id") == rid:
                    stream.hear(doc)
            if stream.accepted and now >= next_hb:
                self._send({"op": "heartbeat"})
                next_hb = now + self.heartbeat
            if now - last_heard > (self.heartbeat * self.liveness if stream.accepted else self.timeout):
                raise _Lost()
