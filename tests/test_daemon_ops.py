"""Round trips of every operation against one real daemon (subprocess, real engine, short lines)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import soundfile as sf

from test_daemon_support import SESSION_MAX_QUEUE, Raw, client, daemon, fresh, unique  # noqa: F401 (fixtures)

from takefit.daemon.client import DaemonBusy, JobCanceledError
from takefit.engine.take import Take
from takefit.daemon.control import DaemonError
from takefit.daemon.protocol import ERROR_CODES, PROTOCOL, SIGNATURE, pack
from takefit.engine.errors import FitError, InputError, UnknownVoiceError


# ------------------------------------------------------------------------------------------- handshake
def test_hello_states_version_capabilities_and_limits(client):
    h = client.hello()
    assert h["type"] == "reply" and h["protocol"] == PROTOCOL and PROTOCOL in h["protocols"]
    assert {"render", "render_batch", "cancel", "job", "shutdown", "voices"} <= set(h["capabilities"])
    assert h["limits"]["max_message_bytes"] >= 1 << 20 and h["limits"]["max_queue"] == SESSION_MAX_QUEUE
    assert h["heartbeat"]["interval_ms"] == 200 and h["engine_state"] == "ready"


def test_hello_with_unknown_protocol_version_is_refused(client):
    with pytest.raises(DaemonError) as e:
        client.call("hello", protocol=99)
    assert e.value.code == "unsupported_version" and e.value.details["supported"] == [PROTOCOL]


def test_ping_health_voices(client, daemon):
    assert 0 < client.ping() < 1.0
    h = client.health()
    assert h["status"] == "ok" and h["pid"] == daemon.pid and h["rss_bytes"] > 0
    assert h["queue"]["limit"] == SESSION_MAX_QUEUE
    voices = client.voices()
    assert {"af_heart", "zf_xiaoxiao"} <= {v["name"] for v in voices}
    assert all(v["language"] == "zh" for v in client.voices("zh"))


def test_explain_without_rendering(client):
    info = client.explain("Hello there.")
    assert info["voice"] == "af_heart" and info["natural_seconds"] > 0 and info["phonemes"]


# ------------------------------------------------------------------------------------------- render
def test_render_streams_progress_and_writes_exact_take(client, daemon):
    events = []
    target, n = fresh(1.2)
    r = client.render("Hello there.", target=target, progress=lambda f, m: events.append((f, m)),
                      output=f"ops/{unique('hello-')}.wav", phonemes=True)
    assert isinstance(r, Take) and not r.cached and r.job
    assert r.samples == n and r.sample_rate == 48000 and abs(r.seconds - n / 48000) < 1e-12
    assert events and events[0] == (0.0, "started") and events[-1][0] == 1.0
    assert [f for f, _ in events] == sorted(f for f, _ in events)
    path = r.wav
    assert path.is_file() and daemon.output_root() in path.parents
    info = sf.info(str(path))
    assert info.frames == r.samples and info.samplerate == 48000 and info.subtype == "PCM_24"
    assert r.phonemes and r.phonemes[0].start == 0.0
    assert {"frontend", "render", "total"} <= set(r.timings) and r.natural_seconds > 0


def test_cache_hit_returns_identical_bytes_at_once(client):
    text, (target, _) = "Cache me.", fresh(1.0)
    first = client.render(text, target=target, inline=True, method="stretch")
    t0 = time.perf_counter()
    second = client.render(text, target=target, inline=True, method="stretch")
    elapsed = time.perf_counter() - t0
    assert not first.cached and second.cached and second.job != first.job
    delivered = [Path(client.job(t.job)["result"]["path"]).read_bytes() for t in (first, second)]
    assert second.wav == first.wav == delivered[0] == delivered[1]
    assert second.samples == first.samples and second.ratio == first.ratio
    assert elapsed < max(0.5, first.timings["total"] / 2)
    assert len(second.load()) == second.samples and second.sample_rate == 48000
    # a different request (here: the voice) is not a hit
    third = client.render(text, target=target, voice="am_adam", method="stretch")
    assert not third.cached


def test_cache_clear_then_renders_again(client):
    text, (target, _) = "Clear.", fresh(0.9)
    client.render(text, target=target)
    assert client.render(text, target=target).cached
    assert client.cache_clear() >= 1
    assert not client.render(text, target=target).cached


def test_typed_errors_for_bad_requests(client):
    with pytest.raises(UnknownVoiceError) as e:
        client.render("Hi.", voice="af_hart")
    assert e.value.code == "unknown_voice" and "af_heart" in str(e.value)
    with pytest.raises(InputError) as e:
        client.render("Hi.", target="soon")
    assert e.value.code == "bad_input"
    with pytest.raises(FitError) as e:
        client.render("Hi.", target="0.01s")
    assert e.value.code == "impossible_fit" and e.value.min_seconds > 0
    with pytest.raises(DaemonError) as e:
        client.job("no-such-job")
    assert e.value.code == "not_found"


def test_inline_dictionary(client):
    d = "takefit  tˈAkfɪt\n"
    assert "tˈAkfɪt" in client.explain("takefit", dictionary=d)["phonemes"]
    assert client.render("takefit", dictionary=d, target="1s").samples == 48000
    with pytest.raises(InputError) as e:
        client.render("Hi.", dictionary="justoneword\n")
    assert "dictionary:1" in str(e.value)


# ------------------------------------------------------------------------------------------- batch, jobs
def test_batch_streams_per_job_results_and_job_status(client):
    tag = unique()
    (t1, n1), (t2, n2) = fresh(0.9), fresh(0.8)
    items = [{"text": "One.", "target": t1},
             {"text": "Two.", "target": t2, "output": f"batch/{tag}/two.wav"},
             {"text": "Hi.", "target": "0.01s"}]
    seen = []
    out = client.render_batch(items, progress=lambda j, f, m: None, on_result=lambda j, r: seen.append(j))
    assert out[0].samples == n1 and out[1].samples == n2
    assert out[1].wav.as_posix().endswith(f"batch/{tag}/two.wav")
    assert isinstance(out[2], FitError) and out[2].code == "impossible_fit"
    assert len(seen) == 3 and len(set(seen)) == 3
    st = client.job(out[0].job, inline=True)
    assert st["state"] == "done" and st["result"]["samples"] == out[0].samples and st["result"]["audio"]
    failed = client.job(out[2].job)
    assert failed["state"] == "failed" and failed["error"]["code"] == "impossible_fit"
    batch = st["batch"]
    listed = client.jobs(batch=batch)
    assert {j["job"] for j in listed} == {o.job for o in out} and len(client.jobs(limit=1)) == 1


def test_submit_now_fetch_later(client, daemon):
    target, n = fresh(0.8)
    jid = client.submit("Later.", target=target)
    with daemon.client() as other:          # any client may wait for it, or fetch it when done
        res = other.wait([jid])[jid]
    assert res.samples == n
    assert Path(client.job(jid)["result"]["path"]) == res.wav


def test_job_ids_make_retries_idempotent(client):
    jid = f"idem-{unique()}"
    target, _ = fresh(0.8)
    a = client.render("Same job.", target=target, job=jid)
    b = client.render("Same job.", target=target, job=jid)     # a lazy-pirate resend: same job, no new render
    assert a.job == b.job == jid and a.wav == b.wav
    with pytest.raises(DaemonError) as e:
        client.render("Other text.", target=target, job=jid)
    assert e.value.code == "conflict"


# ------------------------------------------------------------------------------------------- queue
def _long_text() -> str:
    return ("This line is a little longer, so that it keeps the engine busy for a while; "
            "the queue behind it has to wait.")


@pytest.mark.slow
def test_cancel_queued_and_running(daemon):
    with daemon.client() as a, daemon.client() as b:
        running_started = threading.Event()
        outcome = {}

        def render_long():
            try:
                outcome["r"] = a.render(_long_text(), target=fresh(6)[0],
                                        progress=lambda f, m: running_started.set() if f > 0 else None)
            except Exception as e:  # noqa: BLE001
                outcome["r"] = e

        t = threading.Thread(target=render_long)
        t.start()
        assert running_started.wait(60)          # the long job has planned and is rendering
        batch, ids = b.submit_batch([{"text": "Queued.", "target": fresh(1)[0]} for i in range(3)])
        running = [j for j in b.jobs(state="running")]
        assert len(running) == 1
        jid = running[0]["job"]
        r = b.cancel(*ids)
        assert sorted(r["canceled"]) == sorted(ids)
        for i in ids:
            st = b.job(i)
            assert st["state"] == "canceled" and st["error"]["code"] == "canceled"
        r = b.cancel(jid)
        assert r["canceling"] == [jid] or r["finished"] == [jid]
        t.join(60)
        if r["canceling"]:
            assert isinstance(outcome["r"], JobCanceledError) and outcome["r"].job == jid
            assert b.job(jid)["state"] == "canceled"
        res = b.wait(ids)
        assert all(isinstance(x, JobCanceledError) for x in res.values())
        assert b.cancel("nope")["unknown"] == ["nope"]


@pytest.mark.slow
def test_audition_jumps_ahead_of_a_batch(daemon):
    with daemon.client() as c:
        cues = [fresh(0.7) for i in range(6)]
        batch, ids = c.submit_batch([{"text": "Cue.", "target": t} for t, _ in cues])
        audition = c.render("Audition.", target=fresh(0.7)[0], priority="high")
        done = c.wait(ids)
        assert [done[j].samples for j in ids] == [n for _, n in cues]
        a = c.job(audition.job)
        rows = [c.job(j) for j in ids]
        # the audition waited only for the cue(s) a worker had already taken when it arrived (the one
        # running, plus at most one popped while the audition was being journaled); the rest waited for it
        before = [r for r in rows if r["started"] < a["started"]]
        after = [r for r in rows if r["started"] >= a["finished"] - 1e-3]
        assert len(before) + len(after) == len(rows)
        assert len([r for r in before if r["started"] > a["created"]]) <= 1
        assert len(after) >= 4


def test_busy_answer_when_the_queue_is_full(daemon):
    with daemon.client() as c:
        items = [{"text": "Fill.", "target": fresh(1)[0]} for i in range(SESSION_MAX_QUEUE + 1)]
        with pytest.raises(DaemonBusy) as e:
            c.submit_batch(items, priority="low")
        assert e.value.details["limit"] == SESSION_MAX_QUEUE and "retry_after_ms" in e.value.details
        # fill the queue exactly, then: normal work is refused, an audition still gets in
        batch, ids = c.submit_batch(items[:SESSION_MAX_QUEUE], priority="low")
        try:
            with pytest.raises(DaemonBusy):    # (2 more: a worker may have taken one meanwhile)
                c.submit_batch([{"text": "More.", "target": fresh(1)[0]} for i in range(2)], priority="normal")
            target, n = fresh(1)
            jid = c.submit("Audition.", target=target, priority="high")
        finally:
            r = c.cancel(batch=batch)
        assert len(r["canceled"]) + len(r["canceling"]) >= SESSION_MAX_QUEUE - 2
        assert c.wait([jid])[jid].samples == n


# ------------------------------------------------------------------------------------------- raw frames
def test_unknown_op_and_field_get_typed_errors(daemon):
    raw = Raw(daemon.tcp, daemon.token)
    try:
        raw.send([SIGNATURE, pack({"op": "teleport", "id": "a"})])
        r = raw.recv()
        assert r["type"] == "error" and r["code"] == "unknown_op" and r["id"] == "a"
        raw.send([SIGNATURE, pack({"op": "ping", "id": 7, "colour": "red"})])
        r = raw.recv()
        assert r["code"] == "unknown_field" and r["id"] == 7 and "colour" in r["message"]
        raw.send([SIGNATURE, pack({"op": "render", "id": "b", "request": {"text": "Hi."}, "output": "../../x.wav"})])
        r = raw.recv()
        assert r["code"] == "bad_path" and r["id"] == "b"
        assert all(c in ERROR_CODES for c in ("unknown_op", "unknown_field", "bad_path"))
    finally:
        raw.close()


# ------------------------------------------------------------------------------------------- CLI
def test_cli_status_second_start_and_say_daemon(daemon, tmp_path, capsys, monkeypatch):
    from takefit.bridges.cli import main

    home = str(daemon.home)
    assert main(["daemon", "status", "--home", home]) == 0
    out = capsys.readouterr().out
    assert f"pid {daemon.pid}" in out and daemon.tcp in out
    assert main(["daemon", "start", "--home", home]) == 0          # one per user: says where it is
    out = capsys.readouterr().out
    assert "already running" in out and str(daemon.pid) in out and daemon.tcp in out
    monkeypatch.setenv("TAKEFIT_DAEMON_HOME", home)
    wav = tmp_path / "say.wav"
    assert main(["say", "Hello from the daemon.", "--fit", "1.5s", "--daemon", "-o", str(wav), "--json"]) == 0
    assert sf.info(str(wav)).frames == 72000
    assert main(["daemon", "jobs", "--limit", "3"]) == 0
    assert main(["daemon", "cache", "info"]) == 0
    assert main(["daemon", "logs", "-n", "500"]) == 0
    assert "listening on" in capsys.readouterr().out
    assert main(["say", "Hi.", "--fit", "0.01s", "--daemon", "-o", str(tmp_path / "x.wav")]) == 3   # FitError
    with pytest.raises(SystemExit):
        main(["daemon", "start", "--help"])


def test_daemon_prepares_every_reader_once_loaded(daemon):
    """A daemon started as users start it prepares every language's reader after loading, while it already
    answers, so that no first audition waits seconds for one (README: Timelines, editors)."""
    deadline = time.monotonic() + 120
    while "prepared the readers of zh, en, ja, es, fr, it, pt, hi" not in daemon.dirs.log.read_text("utf-8"):
        assert time.monotonic() < deadline, "the daemon never logged its prepared readers"
        time.sleep(0.2)


# The thin client: what a shell `takefit say --daemon` may load (issue 18: the daemon holds the model).
HEAVY = ("onnxruntime", "spacy", "torch", "misaki", "jieba", "pypinyin", "cn2an", "thinc",
         "takefit.engine.frontend", "takefit.engine.kokoro.model", "takefit.engine.engine")
LIST_HEAVY = (f"HEAVY = {HEAVY!r}\n"
              "print('HEAVY=' + ','.join(sorted(m for m in sys.modules\n"
              "                                 if any(m == h or m.startswith(h + '.') for h in HEAVY))))\n")


def test_say_daemon_is_a_thin_client(daemon, tmp_path):
    """A cached audition from the shell loads no model, G2P, spaCy or torch (they cost seconds)."""
    wav = tmp_path / "thin.wav"
    env = {**os.environ, "TAKEFIT_DAEMON_HOME": str(daemon.home)}
    code = "import sys\nfrom takefit.bridges.cli import main\ncode = main(sys.argv[1:])\n" + LIST_HEAVY + "sys.exit(code)\n"
    for _ in range(2):      # the second is a cache hit
        run = subprocess.run([sys.executable, "-c", code, "say", "Thin client.", "--fit", "1.2s", "--daemon",
                              "-o", str(wav), "--json"], env=env, capture_output=True, text=True, timeout=180)
        assert run.returncode == 0, run.stderr
        assert "HEAVY=\n" in run.stdout, run.stdout.splitlines()[-1]
    assert json.loads(run.stdout.split("HEAVY=")[0])["daemon"]["cached"] is True
    assert sf.info(str(wav)).frames == 57600


def test_editor_clients_import_no_engine():
    """The panel, the Resolve worker and the dub pipeline reach the daemon without loading the model."""
    code = ("import sys\n"
            "import takefit.bridges.panel.window, takefit.bridges.resolve.worker, takefit.bridges.dub.pipeline\n"
            "import takefit.bridges.cli; takefit.bridges.cli.build_parser()\n" + LIST_HEAVY)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "HEAVY="


# ------------------------------------------------------------------------------------------- lifecycle
@pytest.mark.slow
@pytest.mark.slow
def test_a_daemon_whose_info_file_is_lost_is_found_again_and_stops(tmp_path, capsys):
    """A tidy-up of the runtime folder (or a damaged disk) takes daemon.json and the ipc socket away from a
    running daemon: it writes and binds them again within 10 s, a client waits for that instead of starting
    a second one, and `daemon stop` finds it by its lock."""
    from takefit.bridges.cli import main
    from takefit.daemon import control
    from takefit.daemon.client import Client
    from takefit.daemon.paths import Dirs

    home, args = tmp_path / "lost", ["--bind", "tcp://127.0.0.1:*", "--no-warm"]
    dirs = Dirs.resolve(home)
    pid = control.start(dirs, args, timeout=120)["pid"]
    try:
        dirs.info.write_text("{not json", "utf-8")
        dirs.ipc.unlink()                                                # … and its socket file with it
        with Client(home=home, autostart=True, autostart_args=args, timeout=60) as c:
            assert c.hello()["pid"] == pid
        assert control.read_info(dirs)["pid"] == pid and dirs.ipc.exists()      # bound again
        assert control.pick_endpoint(control.read_info(dirs)).startswith("ipc://")
        dirs.info.unlink()
        assert main(["daemon", "stop", "--home", str(home)]) == 0
        assert f"stopped (pid {pid}; its daemon.json was missing)" in capsys.readouterr().out
    finally:
        if not control.wait_stopped(dirs, 30):
            control.signal_pid(pid, 9)
    log = dirs.log.read_text("utf-8")
    assert "published again" in log and "daemon.sock was gone: bound again" in log


def test_autostart_graceful_stop_with_queued_jobs_and_resume(tmp_path, capsys):
    from takefit.bridges.cli import main
    from takefit.daemon.client import Client

    home = tmp_path / "auto"
    # heartbeats of a second: at 200 ms a loaded CI machine starved the test's client past its liveness
    # (the daemon dropped its stream, four times over, and the jobs were never watched to the end)
    args = ["--bind", "tcp://127.0.0.1:*", "--heartbeat-ms", "1000"]
    assert main(["daemon", "status", "--home", str(home)]) == 3
    assert "not running" in capsys.readouterr().out
    cues = [fresh(0.5 + 0.1 * i) for i in range(3)]
    with Client(home=home, autostart=True, autostart_args=args, timeout=60) as c:   # starts one
        pid = c.hello()["pid"]
        batch, ids = c.submit_batch([{"text": "Stop me.", "target": t} for t, _ in cues])
    assert main(["daemon", "stop", "--home", str(home)]) == 0              # graceful, jobs journaled
    assert f"stopped (pid {pid})" in capsys.readouterr().out
    assert main(["daemon", "status", "--home", str(home), "--json"]) == 3
    with Client(home=home, autostart=True, autostart_args=args, timeout=60) as c:   # starts another
        assert c.hello()["pid"] != pid
        done = c.wait(ids)
        assert [done[j].samples for j in ids] == [n for _, n in cues]
        c.shutdown()
    from takefit.daemon import control
    from takefit.daemon.paths import Dirs

    assert control.wait_stopped(Dirs.resolve(home), 30)
