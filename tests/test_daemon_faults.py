"""Faults: clients dying mid-job, the daemon SIGKILLed with queued jobs, and hostile frames
(garbage, truncated, oversized, random msgpack — thousands of hypothesis cases, none of which render)."""
from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import msgpack
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_daemon_support import HB_MS, SESSION_LIVENESS, DaemonProc, Raw, daemon, fresh  # noqa: F401 (fixtures)

from takefit.daemon.protocol import ERROR_CODES, MAX_MESSAGE_BYTES, OPS, SIGNATURE, pack

HYPO = settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


# ------------------------------------------------------------------------------------------- clients dying
CHILD = r"""
import sys
from takefit.daemon import Client
c = Client(home=sys.argv[1])
def progress(fraction, message):
    if fraction > 0:
        print("RENDERING", flush=True)
c.render(sys.argv[2], target=sys.argv[3], progress=progress, job=sys.argv[4])
print("FINISHED", flush=True)
"""


@pytest.mark.slow
def test_client_killed_mid_job_leaves_daemon_and_job_intact(daemon):
    target, n = fresh(5.0)
    job = f"orphan-{time.time_ns()}"
    text = "A client that dies while its take renders must not hurt the daemon or lose the take."
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(daemon.home), text, target, job],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "RENDERING"      # its job is running
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    with daemon.client() as c:
        res = c.wait([job])[job]                # the job finishes; anyone can fetch it
        assert res.samples == n and res.wav.is_file()
        # the dead client's progress stream is dropped (ROUTER send fails, or heartbeats lapse)
        deadline = time.monotonic() + 4 * SESSION_LIVENESS * HB_MS / 1000     # the shared daemon's liveness
        while c.health()["peers"] > 0 and time.monotonic() < deadline:
            time.sleep(HB_MS / 1000)
        h = c.health()
        assert h["peers"] == 0 and h["watches"] == 0 and h["status"] == "ok"
        assert c.ping() < 1


@pytest.mark.slow
def test_daemon_sigkilled_with_queued_jobs_resumes_them(tmp_path):
    d = DaemonProc(tmp_path / "home").start()
    try:
        d.wait_ready()
        cues = [fresh(0.6 + 0.05 * i) for i in range(6)]
        with d.client() as c:
            batch, ids = c.submit_batch([{"text": "Resume me.", "target": t} for t, _ in cues])
            first_running = threading.Event()
            c2 = d.client(retries=40, timeout=3)
            waiter_out: dict = {}

            def wait_through_the_crash():            # a client waiting across the kill and restart
                try:
                    waiter_out.update(c2.wait(ids, progress=lambda j, f, m: first_running.set()))
                except Exception as e:  # noqa: BLE001
                    waiter_out["error"] = e

            t = threading.Thread(target=wait_through_the_crash)
            t.start()
            assert first_running.wait(60)
        old_pid = d.pid
        d.kill()                                     # SIGKILL: no goodbye, journal as it was
        d.start()
        assert d.pid != old_pid
        t.join(180)
        assert not t.is_alive() and "error" not in waiter_out, waiter_out.get("error")
        assert c2.reconnects >= 1
        c2.close()
        with d.client() as c:
            for (t_, n), j in zip(cues, ids):
                r = waiter_out[j]
                assert r.samples == n and sf.info(r.wav).frames == n
                st_ = c.job(j)
                assert st_["state"] == "done"
            attempts = [c.job(j)["attempts"] for j in ids]
            assert max(attempts) >= 1
            assert c.health()["journal"]["queued"] == 0
            log = (d.dirs.log).read_text()
            assert "resuming" in log
            assert c.shutdown()["stopping"] is True        # the shutdown op: graceful, lock released
        from takefit.daemon import control

        assert control.wait_stopped(d.dirs, 30) and control.read_info(d.dirs) is None
    finally:
        d.stop()


# ------------------------------------------------------------------------------------------- hostile frames
@pytest.fixture(scope="module")
def raw(daemon):
    r = Raw(daemon.tcp, daemon.token)
    yield r
    r.close()


def _typed(reply, expect_id=None):
    assert reply is not None, "no reply"
    assert reply["type"] in ("error", "reply"), reply
    if reply["type"] == "error":
        assert reply["code"] in ERROR_CODES, reply
        assert isinstance(reply["message"], str) and reply["message"]
    return reply


def _still_alive(daemon):
    with daemon.client(timeout=5, retries=0) as c:
        assert c.health()["status"] == "ok"


msgpack_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 63, 2 ** 64 - 1) | st.floats(allow_nan=True)
    | st.text(max_size=30) | st.binary(max_size=30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12) | st.binary(max_size=4), inner,
                                                                max_size=5),
    max_leaves=25)
# ops that are harmless and cheap whatever the fields (no shutdown, no rendering or text analysis;
# heartbeat has no reply)
SAFE_OPS = sorted(set(OPS) - {"shutdown", "render", "render_batch", "heartbeat", "cache_clear", "explain"}) + ["bogus", ""]
field_names = st.sampled_from(["id", "job", "jobs", "request", "items", "text", "protocol", "inline", "limit",
                               "state", "batch", "priority", "output", "x"])


@pytest.mark.slow
@HYPO
@given(body=msgpack_values)
def test_random_msgpack_values_get_typed_errors(raw, body):
    raw.send([SIGNATURE, msgpack.packb(body, use_bin_type=True)])
    reply = _typed(raw.recv())
    assert reply["type"] == "error"


@pytest.mark.slow
@HYPO
@given(op=st.sampled_from(SAFE_OPS), fields=st.dictionaries(field_names, msgpack_values, max_size=4),
       rid=st.one_of(st.none(), st.text(min_size=1, max_size=8, alphabet="abc123"), st.integers(0, 99)))
def test_random_requests_get_typed_answers(raw, op, fields, rid):
    body = {"op": op, **fields}
    if rid is not None:
        body["id"] = rid
    raw.send([SIGNATURE, pack(body)])
    reply = _typed(raw.recv())
    if isinstance(body.get("id"), (str, int)) and reply.get("id") is not None:
        assert reply["id"] == body["id"]


@HYPO
@given(data=st.binary(max_size=200))
def test_garbage_bytes_get_typed_errors(raw, data):
    raw.send([SIGNATURE, data])
    reply = _typed(raw.recv())
    if reply["type"] == "error":
        assert reply["code"] in ("bad_frame", "bad_message", "unknown_op", "unknown_field", "too_large")


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(cut=st.integers(0, 10_000), which=st.integers(0, 3))
def test_truncated_messages_get_typed_errors(raw, cut, which):
    bodies = [pack({"op": "ping", "id": "p"}),
              pack({"op": "job", "id": "q", "job": "x" * 40}),
              pack({"op": "render", "id": "r", "request": {"text": "Hi. " * 50, "target": "2s"}}),
              pack({"op": "render_batch", "id": "s", "items": [{"request": {"text": "x"}}] * 5})]
    body = bodies[which]
    n = cut % len(body)                       # a strict prefix: never the whole (valid) message
    raw.send([SIGNATURE, body[:n]])
    assert _typed(raw.recv())["code"] == "bad_frame"


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(frames=st.lists(st.binary(max_size=20), min_size=0, max_size=5))
def test_wrong_framing_gets_typed_errors(raw, frames):
    if len(frames) == 2 and frames[0] == SIGNATURE:
        return
    if not frames:
        frames = [b""]
    raw.send(frames)
    reply = _typed(raw.recv())
    assert reply["code"] in ("bad_frame", "unsupported_version")


def test_oversized_and_bomb_frames(daemon, raw):
    # over ZMQ_MAXMSGSIZE: the socket drops that connection without reading the body
    big = Raw(daemon.tcp, daemon.token)
    try:
        big.send([SIGNATURE, b"\x00" * (MAX_MESSAGE_BYTES + 1024)])
        assert big.recv(timeout=1.0) is None
    finally:
        big.close()
    _still_alive(daemon)
    # under the socket limit but over a field limit: typed errors
    raw.send([SIGNATURE, pack({"op": "render", "id": 1, "request": {"text": "x" * 5000}})])
    assert _typed(raw.recv())["code"] == "too_large"
    raw.send([SIGNATURE, pack({"op": "jobs", "id": 2, "limit": 10 ** 9})])
    assert _typed(raw.recv())["code"] == "bad_message"
    raw.send([SIGNATURE, b"\x91" * 200_000 + b"\xc0"])                 # nesting bomb
    assert _typed(raw.recv())["code"] == "bad_frame"
    raw.send([SIGNATURE, b"\xdd\x7f\xff\xff\xff"])                     # claims 2 G array items
    assert _typed(raw.recv())["code"] == "bad_frame"
    raw.send([SIGNATURE, b"\xdb\x7f\xff\xff\xff" + b"a" * 10])         # claims a 2 GB string
    assert _typed(raw.recv())["code"] == "bad_frame"
    raw.send([SIGNATURE, pack({"op": "ping", "id": "x" * 100})])        # a bad id is not echoed
    r = _typed(raw.recv())
    assert r["code"] == "too_large" and r["id"] is None
    _still_alive(daemon)
