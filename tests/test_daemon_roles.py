"""The daemon's parts one by one (docs/protocol.md, daemon/*.py): each role works on its own, with real
zmq sockets, a real journal and cache in a temporary home; no model is loaded."""
from __future__ import annotations

import ast
import time
from pathlib import Path

import numpy as np
import pytest
import zmq

from takefit.daemon import operations, protocol
from takefit.engine.cache import TakeCache
from takefit.daemon.config import Config
from takefit.daemon.control import DaemonUnavailable
from takefit.daemon.events import Events
from takefit.daemon.frontend import FrontEnd, bind_local, read_frames
from takefit.daemon.journal import Journal
from takefit.daemon.paths import Dirs
from takefit.daemon.protocol import SIGNATURE, pack
from takefit.daemon.runner import Runner
from takefit.daemon.scheduler import Job, spec_hash
from takefit.daemon.streams import Streams
from takefit.engine.request import RenderRequest
from takefit.engine.take import Take

DAEMON = Path(__file__).resolve().parents[1] / "daemon"


@pytest.fixture
def ctx():
    c = zmq.Context()
    yield c
    c.term()


# ------------------------------------------------------------------------------------------- events
def test_events_travel_from_a_worker_thread_to_the_loop_in_order(ctx):
    import threading

    events = Events(ctx)

    def worker():
        with events.sender() as out:
            for i in range(50):
                out.emit("progress", job="j", fraction=i / 50, message=str(i))
            out.emit("finished", job="j", state="done", result={"x": 1}, error=None)

    t = threading.Thread(target=worker)
    t.start()
    t.join(10)
    got = []
    deadline = time.monotonic() + 10
    while len(got) < 51 and time.monotonic() < deadline:
        got += list(events.receive())
    assert [e["message"] for e in got[:50]] == [str(i) for i in range(50)]
    assert got[-1] == {"ev": "finished", "job": "j", "state": "done", "result": {"x": 1}, "error": None}
    with events.sender() as out, pytest.raises(AssertionError):
        out.emit("state_change")                       # only the declared kinds
    events.close()


# ------------------------------------------------------------------------------------------- front end
def test_frames_are_checked_before_the_loop_sees_them():
    good = read_frames(0, [b"peer", SIGNATURE, pack({"op": "ping", "id": 7})])
    assert good.error is None and good.msg == {"op": "ping", "id": 7} and good.peer == (0, b"peer")
    for frames, code in (([b"p", b"XXXX", pack({"op": "ping"})], "bad_frame"),
                         ([b"p", SIGNATURE, pack({"op": "launch", "id": 3})], "unknown_op"),
                         ([b"p", SIGNATURE, b"\xc1"], "bad_frame")):
        bad = read_frames(1, frames)
        assert bad.msg is None and bad.error.code == code, (frames, bad.error)
    assert read_frames(0, [b"p", SIGNATURE, pack({"op": "launch", "id": 3})]).rid == 3   # echoed in the error


def test_front_end_binds_answers_and_notices_a_peer_gone(ctx, tmp_path):
    gone = []
    front = FrontEnd(ctx, Config(binds=["tcp://127.0.0.1:*"], ipc=False), Dirs.resolve(tmp_path / "h"),
                     lambda peer, why: gone.append((peer, why)))
    front.bind()
    try:
        (ep,) = front.endpoints
        assert ep.startswith("tcp://127.0.0.1:") and not ep.endswith(":*")
        dealer = ctx.socket(zmq.DEALER)
        dealer.plain_username, dealer.plain_password = b"takefit", front.token.encode()
        dealer.connect(ep)
        dealer.send_multipart([SIGNATURE, pack({"op": "ping", "id": 1})])
        assert front.sockets[0].poll(10_000)
        (incoming,) = list(front.receive(0))
        assert incoming.msg["op"] == "ping"
        assert front.send(incoming.peer, {"type": "reply", "id": 1})
        assert dealer.poll(10_000) and dealer.recv_multipart()[0] == SIGNATURE
        dealer.close(linger=0)
        assert not front.send((0, b"nobody-here"), {"type": "heartbeat"})
        assert gone == [((0, b"nobody-here"), "disconnected")]
    finally:
        front.close()


def test_a_chosen_port_that_is_taken_is_an_error_naming_the_fix(ctx):
    from takefit.daemon.control import DaemonError

    holder = ctx.socket(zmq.ROUTER)
    holder.bind("tcp://127.0.0.1:*")
    taken = holder.getsockopt_string(zmq.LAST_ENDPOINT)
    sock = ctx.socket(zmq.ROUTER)
    try:
        with pytest.raises(DaemonError) as e:
            bind_local(sock, taken)
        assert "in use" in str(e.value) and "--bind" in str(e.value)
    finally:
        sock.close(0)
        holder.close(0)


# ------------------------------------------------------------------------------------------- streams
class Wire:
    def __init__(self):
        self.sent: list[tuple[tuple, dict]] = []

    def __call__(self, peer, doc):
        self.sent.append((peer, doc))
        return True

    def types(self):
        return [d["type"] for _, d in self.sent]


def test_a_stream_answers_final_jobs_at_once_and_ends_with_done():
    wire = Wire()
    streams = Streams(wire, heartbeat_s=1.0, liveness=3)
    peer = (0, b"a")
    rows = {"old": {"state": "done", "result": {"path": "/x", "phonemes": [1]}},
            "new": {"state": "queued", "result": None, "error": None}}
    streams.open(peer, {"id": 5, "progress": True}, "render_batch", ["old", "new"], rows, "b1")
    assert wire.types() == ["result"] and "phonemes" not in wire.sent[0][1]["result"]
    streams.progress("new", 0.5, "half")
    streams.finished("new", "failed", None, {"code": "bad_input", "message": "no", "details": {}})
    assert wire.types() == ["result", "progress", "error", "done"]
    assert wire.sent[-1][1]["summary"] == {"done": 1, "failed": 1, "canceled": 0}
    assert not streams.watches and not streams.by_job and not streams.peers


def test_a_silent_peer_is_dropped_and_hears_no_done():
    wire = Wire()
    streams = Streams(wire, heartbeat_s=0.01, liveness=2)
    peer = (0, b"quiet")
    streams.open(peer, {"id": 1}, "watch", ["j"], {"j": {"state": "running"}}, None)
    streams.heartbeat()
    assert wire.types() == ["heartbeat"]
    time.sleep(0.05)
    streams.heartbeat()
    assert wire.types() == ["heartbeat"] and not streams.watches and not streams.peers
    streams.finished("j", "done", {"path": "/x"}, None)            # the job went on; nobody to tell
    assert wire.types() == ["heartbeat"]


# ------------------------------------------------------------------------------------------- operations
def test_every_message_type_has_exactly_one_handler():
    assert set(operations.HANDLERS) == set(protocol.OPS)
    assert all(callable(h) for h in operations.HANDLERS.values())
    server = (DAEMON / "server.py").read_text()
    assert "getattr(self" not in server and "HANDLERS[" in server


# ------------------------------------------------------------------------------------------- runner
def _job(jid: str, key: str, output: str | None = None) -> Job:
    req = RenderRequest("Hi.", target=RenderRequest("x").target)
    return Job(id=jid, batch=None, priority=1, seq=0, spec=req.to_wire(), spec_hash=spec_hash(req.to_wire(), output),
               key=key, output=output, created=time.time(), request=req)


KEY_HIT, KEY_GONE = "a" * 64, "b" * 64


def _runner(ctx, tmp_path):
    journal = Journal(tmp_path / "jobs.sqlite3")
    cache = TakeCache(tmp_path / "cache")
    events = Events(ctx)
    return Runner(Config(), cache, journal, tmp_path / "out", events), journal, cache, events


def _drain(events, n, timeout=10.0):
    got, deadline = [], time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        got += list(events.receive())
        time.sleep(0.01)
    return got


def test_runner_delivers_a_cached_take_and_reports_only_through_events(ctx, tmp_path):
    runner, journal, cache, events = _runner(ctx, tmp_path)
    try:
        take = Take(np.zeros(4800, np.float32), 48000, 0.1, 1.0, "natural", "af_heart", [], [], text="Hi.")
        cache.put(KEY_HIT, take)
        hit, gone = _job("hit", KEY_HIT, "scene/a.wav"), _job("gone", KEY_GONE)
        journal.insert([{"id": j.id, "batch": None, "seq": 0, "priority": 1, "spec": j.spec, "spec_hash": j.spec_hash,
                         "output": j.output_name, "cache_key": j.key} for j in (hit, gone)])
        with events.sender() as out:
            runner.run(hit, out, fast=True)
            runner.run(gone, out, fast=True)          # evicted since accepted: the loop must requeue it
        got = _drain(events, 2)
        assert [e["ev"] for e in got] == ["finished", "requeue"]
        result = got[0]["result"]
        assert got[0]["state"] == "done" and result["cached"] and result["samples"] == 4800
        assert Path(result["path"]) == tmp_path / "out" / "scene" / "a.wav" and Path(result["path"]).exists()
        assert journal.get("hit")["state"] == "done" and journal.get("gone")["state"] == "queued"
        for job in (hit, gone):                       # the worker changed nothing the loop owns
            assert (job.state, job.lane, job.fraction) == ("queued", "engine", 0.0)
        assert not list((tmp_path / "out").rglob("*.partial"))
    finally:
        journal.close()
        events.close()


def test_workers_never_assign_what_the_loop_owns():
    """Only the server loop changes jobs, the queue's lanes and the daemon's state (workers emit events)."""
    tree = ast.parse((DAEMON / "runner.py").read_text())
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else []
        for t in targets:
            if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name):
                assert t.value.id != "job", f"runner.py:{node.lineno} assigns job.{t.attr}"


# ------------------------------------------------------------------------------------------- connect
def test_connect_chooses_the_daemon_in_one_place(tmp_path, monkeypatch):
    from takefit.daemon.connect import connect
    from takefit.engine.errors import InputError

    monkeypatch.delenv("TAKEFIT_DAEMON_ENDPOINT", raising=False)
    home = tmp_path / "nobody-runs-here"
    assert connect("off", home=home) is None
    assert connect("auto", home=home) is None                  # not running: the caller renders itself
    assert not (home / "run" / "daemon.json").exists()         # and nothing was started
    with pytest.raises(DaemonUnavailable, match="takefit daemon start"):
        connect("running", home=home)                           # must run: the error says how to start it
    assert not (home / "run" / "daemon.json").exists()
    with pytest.raises(InputError, match="auto, start, running, off"):
        connect("always", home=home)


def test_one_take_shape_travels_the_wire_and_the_cache(tmp_path):
    from takefit.engine.take import PhonemeDuration, PinResult

    take = Take(np.full(2400, 0.25, np.float32), 48000, 0.5, 1.1, "hybrid", "af_heart",
                [PhonemeDuration("h", 0.0, 0.05)], ["a warning"], text="Hi.", timings={"total": 0.2},
                emotion={"vector": [0.0] * 8}, speech_start=0.01, speech_end=0.04,
                pins=[PinResult("Hi", 0.01, 0.012)])
    doc = protocol.unpack(pack(take.to_wire()))                   # what the daemon sends and the cache keeps
    back = Take.from_wire(doc, wav=b"RIFF", key="k" * 64, cached=True, job="j1")
    for name in ("sample_rate", "samples", "natural_seconds", "ratio", "method", "voice", "phonemes", "warnings",
                 "text", "timings", "emotion", "speech_start", "speech_end", "pins"):
        assert getattr(back, name) == getattr(take, name), name
    assert back.audio is None and back.wav_bytes() == b"RIFF"
    assert back.engine_seconds == 0.0 and take.engine_seconds == 0.2         # a cache hit cost the engine nothing
    cache = TakeCache(tmp_path)
    take.wav = cache.put("a" * 64, take)
    hit = cache.get("a" * 64)
    assert hit.cached and hit.key == "a" * 64 and hit.to_wire() == take.to_wire()
    assert np.allclose(hit.audio, take.audio, atol=1e-6)
    with pytest.raises(ValueError, match="audio or the WAV"):
        Take(None, 48000, 0.5, 1.0, "natural", "af_heart", [], [])
