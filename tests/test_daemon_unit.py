"""Daemon parts that need no running daemon: schema, paths, scheduler, journal, lock, services, keys."""
from __future__ import annotations

import os
import plistlib
import threading
from fractions import Fraction
from pathlib import Path

import pytest

from takefit.daemon import protocol
from takefit.daemon.paths import Dirs, PathEscapeError, safe_output
from takefit.daemon.protocol import ProtocolError, pack, split_frames, unpack, validate


# ------------------------------------------------------------------------------------------- protocol
def _code(fn, *a):
    with pytest.raises(ProtocolError) as e:
        fn(*a)
    return e.value.code


def test_validate_fills_defaults_and_keeps_types():
    msg = validate({"op": "render", "id": "r1", "request": {"text": "Hi.", "target": "2.5s", "pre_roll": 1}})
    assert msg["priority"] == "normal" and msg["inline"] is False and msg["progress"] is True
    req = msg["request"]
    assert req["sample_rate"] == 48000 and req["voice"] == "auto" and req["loudness"] == -23.0
    assert req["pre_roll"] == 1.0 and isinstance(req["pre_roll"], float)
    assert req["natural_range"] == [0.7, 1.4] and req["true_peak"] == -1.0


@pytest.mark.parametrize("msg,code", [
    ([], "bad_message"),
    ({}, "bad_message"),
    ({"op": 3}, "bad_message"),
    ({"op": "fly"}, "unknown_op"),
    ({"op": "ping", "extra": 1}, "unknown_field"),
    ({"op": "ping", 1: 1}, "unknown_field"),
    ({"op": "render", "request": {"text": "Hi.", "colour": "red"}}, "unknown_field"),
    ({"op": "render"}, "bad_message"),
    ({"op": "render", "request": {"text": ""}}, "bad_message"),
    ({"op": "render", "request": {"text": "x" * 2001}}, "too_large"),
    ({"op": "render", "request": {"text": "Hi.", "sample_rate": 44000}}, "bad_message"),
    ({"op": "render", "request": {"text": "Hi.", "sample_rate": True}}, "bad_message"),
    ({"op": "render", "request": {"text": "Hi.", "speed": float("nan")}}, "bad_message"),
    ({"op": "render", "request": {"text": "Hi.", "pre_roll": 11}}, "bad_message"),
    ({"op": "render", "request": {"text": "Hi.", "loudness": 3}}, "bad_message"),
    ({"op": "render", "request": {"text": "Hi.", "true_peak": -21}}, "bad_message"),
    ({"op": "render", "request": {"text": "Hi.", "true_peak": 0.5}}, "bad_message"),
    ({"op": "render", "request": {"text": "Hi.", "method": "magic"}}, "bad_message"),
    ({"op": "render", "request": {"text": "Hi."}, "priority": "urgent"}, "bad_message"),
    ({"op": "render", "request": {"text": "Hi."}, "job": "../x"}, "bad_message"),
    ({"op": "render", "request": {"text": "Hi."}, "job": "j" * 65}, "too_large"),
    ({"op": "render", "request": {"text": "Hi."}, "id": 1.5}, "bad_message"),
    ({"op": "render_batch", "items": []}, "bad_message"),
    ({"op": "render_batch", "items": [{"request": {"text": "x"}}] * 1001}, "too_large"),
    ({"op": "hello"}, "bad_message"),
    ({"op": "cancel", "jobs": "abc"}, "bad_message"),
])
def test_validate_refuses_with_typed_codes(msg, code):
    assert _code(validate, msg) == code


def test_codec_limits_and_framing():
    assert unpack(pack({"a": [1, 2.5, "x", b"y", None, True]})) == {"a": [1, 2.5, "x", b"y", None, True]}
    assert _code(unpack, b"\xc1") == "bad_frame"                         # never-used byte
    assert _code(unpack, pack({"op": "ping"})[:-1]) == "bad_frame"       # truncated
    assert _code(unpack, pack(1) + b"\x00") == "bad_frame"                # trailing bytes
    assert _code(unpack, b"\x91" * 100_000 + b"\xc0") == "bad_frame"     # nesting bomb
    assert _code(unpack, b"\xd4\x05\x00") == "bad_frame"                 # ext type
    assert _code(unpack, b"\xa2\xff\xfe") == "bad_frame"                 # invalid UTF-8
    assert _code(unpack, b"\xdd\xff\xff\xff\xff") == "bad_frame"         # array header claiming 4 G items
    assert _code(unpack, b"\x00" * (protocol.MAX_MESSAGE_BYTES + 1)) == "too_large"
    assert _code(split_frames, [b"TKF1"]) == "bad_frame"
    assert _code(split_frames, [b"XXXX", pack({})]) == "bad_frame"
    assert _code(split_frames, [b"TKF2", pack({})]) == "unsupported_version"
    assert split_frames([b"TKF1", pack({"op": "ping"})]) == {"op": "ping"}


def test_target_strings_round_trip_exactly():
    from takefit.engine import Target
    from takefit.engine.request import parse_target, target_string

    for t in (Target.natural(), Target.parse("2.5s"), Target.seconds(Fraction(1, 3)), Target.parse("0.9x"),
              Target.parse("77@23.976"), Target.parse("1500ms")):
        assert parse_target(target_string(t)) == t
    assert protocol.normalise_target(0.1) == "1/10s"
    from takefit.engine.errors import InputError

    with pytest.raises(InputError):            # would take minutes in Fraction(); refused up front
        parse_target("1e99999999s")
    assert protocol.normalise_target(None) == "natural"
    assert protocol.normalise_target("77@25") == "77@25"


def test_every_error_code_is_documented():
    doc = (Path(__file__).parents[1] / "docs" / "protocol.md").read_text("utf-8")
    for code in protocol.ERROR_CODES:
        assert f"`{code}`" in doc, code
    for op in protocol.OPS:
        assert f"`{op}`" in doc, op


# ------------------------------------------------------------------------------------------- paths
@pytest.mark.parametrize("name", ["../x.wav", "a/../../x.wav", "/etc/x.wav", "C:\\x.wav", "c:x.wav", "..\\x.wav",
                                  "\\\\server\\share\\x.wav", "x.txt", "", " ", "a\x00.wav", "a\n.wav", "..",
                                  "x" * 300 + ".wav", "x:y.wav", "ep\u202ewav.exe.wav", "a\u0085b.wav",
                                  "a\u200bb.wav", "é" * 101 + "/x.wav", "jobs/warm1.wav", "JOBS/x.wav"])
def test_safe_output_refuses_escapes(tmp_path, name):
    with pytest.raises(PathEscapeError):
        safe_output(tmp_path, name)


def test_safe_output_accepts_and_resolves_symlinks(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    assert safe_output(root, "ep01/cue-017.wav") == root / "ep01" / "cue-017.wav"
    assert safe_output(root, "./a/./b.WAV") == root / "a" / "b.WAV"
    assert safe_output(root, "é" * 100 + "/jobs.wav") == root / ("é" * 100) / "jobs.wav"     # 200 bytes: the limit
    assert safe_output(root, "jobs/abc.wav", daemon_named=True) == root / "jobs" / "abc.wav"
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "link").symlink_to(outside)
    with pytest.raises(PathEscapeError):
        safe_output(root, "link/x.wav")


def test_dirs_from_home_and_env(tmp_path, monkeypatch):
    d = Dirs.resolve(tmp_path)
    assert d.runtime == tmp_path / "run" and d.state == tmp_path / "state" and d.cache == tmp_path / "cache"
    monkeypatch.setenv("TAKEFIT_DAEMON_HOME", str(tmp_path / "env"))
    assert Dirs.resolve().state == tmp_path / "env" / "state"
    monkeypatch.delenv("TAKEFIT_DAEMON_HOME")
    assert "takefit" in str(Dirs.resolve().state)
    d.ensure()
    assert d.ipc_endpoint().startswith("ipc://")


# ------------------------------------------------------------------------------------------- config
def test_config_refuses_non_loopback_and_round_trips():
    from takefit.daemon.config import Config, check_config, is_loopback
    from takefit.engine.errors import InputError

    for ep in ("tcp://0.0.0.0:5000", "tcp://*:5000", "tcp://192.168.1.4:5000", "tcp://[::]:5000",
               "tcp://example.com:5000", "ws://127.0.0.1:5000", "inproc://x"):
        with pytest.raises(InputError):
            check_config(Config(binds=[ep]))
    for ep in ("tcp://127.0.0.1:5000", "tcp://127.0.0.5:*", "tcp://localhost:1", "tcp://[::1]:5000", "ipc:///tmp/x"):
        assert is_loopback(ep)
        check_config(Config(binds=[ep]))
    check_config(Config(remote_binds=["tcp://0.0.0.0:5000"]))       # allowed: CurveZMQ-only socket
    cfg = Config(home="/h", binds=["tcp://127.0.0.1:*"], workers=2, cache_bytes=1000, max_queue=5)
    from takefit.daemon.config import add_arguments, config_from_args
    import argparse

    p = argparse.ArgumentParser()
    add_arguments(p)
    assert config_from_args(p.parse_args(cfg.to_argv())) == cfg


def test_parse_size():
    from takefit.daemon.config import parse_size

    assert parse_size("2G") == 2 * 1024 ** 3 and parse_size("500M") == 500 * 1024 ** 2 and parse_size("77") == 77
    assert parse_size("1.5kb") == 1536


# ------------------------------------------------------------------------------------------- scheduler
def _job(i, prio, jid=None):
    from takefit.daemon.scheduler import Job

    return Job(id=jid or f"j{i}", batch=None, priority=prio, seq=i, spec={}, spec_hash="", key="", output=None,
               created=0.0)


def test_scheduler_priority_fifo_remove_and_close():
    from takefit.daemon.scheduler import Scheduler

    s = Scheduler()
    for i in range(5):
        s.put(_job(i, 0))
    s.put(_job(10, 2, "audition"))
    s.put(_job(11, 1, "normal"))
    assert s.position("audition") == 0 and s.position("normal") == 1 and s.position("j0") == 2
    assert s.counts() == {"low": 5, "normal": 1, "high": 1}
    assert s.remove("j1") and not s.remove("j1")
    order = [s.get(0).id for _ in range(6)]
    assert order == ["audition", "normal", "j0", "j2", "j3", "j4"]
    assert s.get(0.01) is None
    got = []
    t = threading.Thread(target=lambda: got.append(s.get()))
    t.start()
    s.close()
    t.join(5)
    assert got == [None]


# ------------------------------------------------------------------------------------------- journal
def test_journal_recovers_running_jobs_and_gives_up_after_three_crashes(tmp_path):
    from takefit.daemon.journal import Journal

    j = Journal(tmp_path / "j.sqlite3")
    rows = [{"id": f"j{i}", "batch": "b", "seq": i, "priority": i % 2, "spec": {"text": f"t{i}"},
             "spec_hash": "h", "output": f"jobs/j{i}.wav", "cache_key": "k"} for i in range(4)]
    j.insert(rows)
    j.mark_running("j0")
    assert j.finish("j1", "done", result={"path": "p"})
    assert not j.finish("j1", "canceled")                  # already final: first outcome wins
    for _ in range(3):
        j.mark_running("j2")
    j.close()
    j = Journal(tmp_path / "j.sqlite3")                   # "restart"
    queued, failed = j.recover()
    assert failed == ["j2"] and j.get("j2")["state"] == "failed"
    assert [r["id"] for r in queued] == ["j3", "j0"]      # priority first, then order
    assert j.get("j1")["result"] == {"path": "p"} and j.get("j0")["attempts"] == 1
    assert j.counts()["queued"] == 2 and j.batch_exists("b")
    assert [r["id"] for r in j.list(state="queued")] == ["j3", "j0"]
    gone = j.prune(older_than=9e18)
    assert {r["id"] for r in gone} == {"j1", "j2"} and j.get("j1") is None


def test_journal_insert_is_all_or_nothing(tmp_path):
    import sqlite3

    from takefit.daemon.journal import Journal

    j = Journal(tmp_path / "j.sqlite3")
    row = {"id": "a", "seq": 1, "priority": 0, "spec": {}, "spec_hash": "h", "cache_key": "k"}
    j.insert([row])
    with pytest.raises(sqlite3.IntegrityError):
        j.insert([{**row, "id": "b"}, row])
    assert j.get("b") is None


def test_a_home_that_is_a_file_is_named_with_the_fix(tmp_path, capsys):
    from takefit.bridges.cli import main

    home = tmp_path / "home"
    home.write_text("a file", "utf-8")
    assert main(["daemon", "start", "--home", str(home), "--no-warm"]) == 5
    err = capsys.readouterr().err
    assert f"cannot make the daemon's folder {home / 'run'} (Not a directory)" in err and "--home" in err
    assert home.read_text("utf-8") == "a file"


def test_a_socket_file_that_is_gone_is_passed_over_for_tcp(tmp_path):
    from takefit.daemon.control import pick_endpoint

    sock = tmp_path / "daemon.sock"
    info = {"endpoints": [f"ipc://{sock}", "tcp://127.0.0.1:5000"]}
    assert pick_endpoint(info) == "tcp://127.0.0.1:5000"
    sock.touch()
    assert pick_endpoint(info) == f"ipc://{sock}"
    assert pick_endpoint({"endpoints": ["ipc://@takefit-abstract"]}) == "ipc://@takefit-abstract"
    assert pick_endpoint({"endpoints": [f"ipc://{tmp_path}/gone.sock"]}) == f"ipc://{tmp_path}/gone.sock"


def test_a_damaged_journal_is_kept_aside_and_the_daemon_starts_a_new_one(tmp_path):
    from takefit.daemon.journal import Journal

    path = tmp_path / "j.sqlite3"
    damaged = b"SQLite format 3\x00" + bytes(range(256)) * 16                # the header, then garbage
    path.write_bytes(damaged)
    (tmp_path / "j.sqlite3-wal").write_bytes(b"wal")
    j = Journal(path)
    assert j.moved_aside and "could not be read" in j.moved_aside and "submit them again" in j.moved_aside
    (aside,) = tmp_path.glob("j.sqlite3.damaged-*[0-9]")
    assert aside.read_bytes() == damaged and aside.with_name(aside.name + "-wal").read_bytes() == b"wal"
    j.insert([{"id": "a", "seq": 1, "priority": 0, "spec": {}, "spec_hash": "h", "cache_key": "k"}])
    j.close()
    again = Journal(path)
    assert again.moved_aside is None and again.get("a")["state"] == "queued"
    assert (path.stat().st_mode & 0o777) == 0o600                      # every job's text: owner only
    again.close()


# ------------------------------------------------------------------------------------------- lock, errors
def test_lock_is_exclusive(tmp_path):
    from takefit.daemon.control import Lock, lock_held

    d = Dirs.resolve(tmp_path).ensure()
    a, b = Lock(d.lock), Lock(d.lock)
    assert a.acquire() and not b.acquire() and lock_held(d)
    a.release()
    assert not lock_held(d) and b.acquire()
    b.release()


@pytest.mark.skipif(os.name == "nt", reason="flock: POSIX")
def test_a_home_on_a_filesystem_that_cannot_lock_is_named_not_taken_for_a_running_daemon(tmp_path, monkeypatch):
    import errno
    import fcntl

    from takefit.daemon.control import DaemonError, Lock, lock_held

    d = Dirs.resolve(tmp_path).ensure()
    d.lock.touch()

    def no_locks(fd, op):
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")
    monkeypatch.setattr(fcntl, "flock", no_locks)
    with pytest.raises(OSError):
        Lock(d.lock).acquire()
    with pytest.raises(DaemonError, match=r"cannot lock .*daemon.lock on this filesystem \(Operation not "
                                          r"supported\): the daemon's home must be on a local disk"):
        lock_held(d)


def test_remote_errors_keep_engine_classes():
    from takefit.daemon.client import DaemonBusy, remote_error
    from takefit.engine.errors import FitError, InputError, UnknownVoiceError

    e = remote_error({"code": "impossible_fit", "message": "m", "details": {"min_seconds": 1.0}, "job": "j"})
    assert isinstance(e, FitError) and e.min_seconds == 1.0 and e.job == "j" and e.code == "impossible_fit"
    assert isinstance(remote_error({"code": "unknown_voice", "message": "m"}), UnknownVoiceError)
    assert isinstance(remote_error({"code": "bad_path", "message": "m"}), InputError)
    b = remote_error({"code": "busy", "message": "m", "details": {"limit": 3}})
    assert isinstance(b, DaemonBusy) and b.details["limit"] == 3


# ------------------------------------------------------------------------------------------- services
def test_systemd_unit_install_and_uninstall(tmp_path):
    from takefit.installer import service

    spec = service.daemon_service(["--workers", "2"], python="/opt/py/bin/python3")
    path = service.install(spec, tmp_path, platform="linux", env={"TAKEFIT_DAEMON_HOME": "/srv/take fit"})
    assert path == tmp_path / ".config" / "systemd" / "user" / "takefit-daemon.service"
    text = path.read_text()
    assert "ExecStart=/opt/py/bin/python3 -m takefit.daemon --workers 2" in text
    assert 'Environment="TAKEFIT_DAEMON_HOME=/srv/take fit"' in text
    assert "Restart=on-failure" in text and "WantedBy=default.target" in text
    assert service.enable_commands(spec, path, "linux")[-1][-2:] == ["--now", "takefit-daemon.service"]
    assert service.uninstall(spec, tmp_path, platform="linux") == path and not path.exists()
    assert service.uninstall(spec, tmp_path, platform="linux") is None


def test_launchd_agent_install_and_uninstall(tmp_path):
    from takefit.installer import service

    spec = service.daemon_service(python="/usr/bin/python3")
    path = service.install(spec, tmp_path, platform="darwin")
    assert path == tmp_path / "Library" / "LaunchAgents" / "org.takefit.daemon.plist"
    doc = plistlib.loads(path.read_bytes())
    assert doc["Label"] == "org.takefit.daemon"
    assert doc["ProgramArguments"] == ["/usr/bin/python3", "-m", "takefit.daemon"]
    assert doc["RunAtLoad"] is True and doc["KeepAlive"] == {"SuccessfulExit": False}
    assert doc["StandardOutPath"] == str(tmp_path / "Library" / "Logs" / "takefit-daemon.log")
    assert service.uninstall(spec, tmp_path, platform="darwin") == path and not path.exists()


def test_windows_task_command():
    from takefit.installer import service

    cmd = service.windows_task_command(service.daemon_service(python=r"C:\Py\python.exe"))
    assert cmd[:3] == ["schtasks", "/Create", "/TN"] and cmd[-1].startswith(r"C:\Py\pythonw.exe -m takefit.daemon")
    with pytest.raises(NotImplementedError):
        service.unit_path(service.daemon_service(), None, "win32")


def test_cli_install_service_writes_under_base(tmp_path, capsys):
    from takefit.bridges.cli import main

    if os.name == "nt":
        pytest.skip("POSIX service files")
    assert main(["daemon", "install-service", "--base", str(tmp_path), "--daemon-args", "--workers 2"]) == 0
    out = capsys.readouterr().out
    path = next(tmp_path.rglob("*.service"), None) or next(tmp_path.rglob("*.plist"))
    assert str(path) in out and "--workers" in path.read_text()
    assert main(["daemon", "uninstall-service", "--base", str(tmp_path)]) == 0
    assert not path.exists()


# ------------------------------------------------------------------------------------------- keys
def test_keys_init_new_client_authorize_revoke(tmp_path):
    from takefit.daemon import keys

    d = Dirs.resolve(tmp_path)
    pub = keys.init_server(d)
    assert pub.exists() and keys.init_server(d) == pub and keys.load_server(d) is not None
    assert (os.stat(keys.server_files(d)[1]).st_mode & 0o077) == 0
    cpub, csec = keys.new_client(d, "bay-2")
    assert [n for n, _ in keys.list_authorized(d)] == ["bay-2"]
    assert keys.read_secret(csec)[0] == keys.read_public(cpub)
    z85 = keys.read_public(cpub).decode()
    keys.authorize(d, "laptop", z85)
    assert {n for n, _ in keys.list_authorized(d)} == {"bay-2", "laptop"}
    assert keys.revoke(d, "laptop") and not keys.revoke(d, "laptop")
    out = keys.export_client(d, "bay-2", tmp_path / "export")
    assert {p.name for p in out} == {"bay-2.key", "bay-2.key_secret", "server.key"}
    from takefit.engine.errors import InputError

    with pytest.raises(InputError):
        keys.new_client(d, "../evil")


# ------------------------------------------------------------------------------------------- cache
def test_take_cache_lookup_lru_bound_and_clear(tmp_path):
    import numpy as np
    import soundfile as sf

    from takefit.engine.cache import TakeCache, request_key
    from takefit.engine import RenderRequest, Target
    from takefit.engine.take import Take

    def take(n):
        return Take(audio=np.full(n, 0.1, np.float32), sample_rate=48000, natural_seconds=1.0, ratio=1.0,
                    method="model", voice="af_heart", phonemes=[], warnings=[], text="t")

    keys = [request_key(RenderRequest("Hi.", target=Target.parse(f"{i + 1}s"))) for i in range(4)]
    assert len(set(keys)) == 4
    one = TakeCache(tmp_path, max_bytes=10 ** 9).put(keys[0], take(48000), comment="synthetic speech")
    entry = one.stat().st_size + one.with_suffix(".json").stat().st_size
    cache = TakeCache(tmp_path, max_bytes=int(entry * 2.5))            # room for two
    hit = cache.lookup(keys[0])
    wav = hit.wav
    assert hit.samples == 48000 and hit.audio is None and hit.cached and hit.key == keys[0]
    assert wav == one and sf.info(str(wav)).frames == 48000
    assert "synthetic speech" in (sf.SoundFile(str(wav)).comment or "")
    os.utime(one, (1, 1))                                            # make it the least recently used
    cache.put(keys[1], take(48000))
    cache.put(keys[2], take(48000))
    assert cache.lookup(keys[0]) is None and cache.lookup(keys[1]) and cache.lookup(keys[2])
    assert cache.approx_size() == cache.size() <= cache.max_bytes
    got = cache.get(keys[2])
    assert got.cached and got.samples == 48000 and abs(float(got.audio[100]) - 0.1) < 1e-4
    assert cache.clear() == 2 and cache.approx_size() == 0 and cache.get(keys[1]) is None
