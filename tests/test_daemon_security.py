"""Security: loopback-only by default, CurveZMQ for anything else, output paths confined to the root."""
from __future__ import annotations

import os

import pytest

from test_daemon_support import DaemonProc, client, daemon, fresh  # noqa: F401 (fixtures)

from takefit.daemon.client import BadPathError, Unauthorized
from takefit.daemon.control import DaemonUnavailable


def test_non_loopback_bind_refused_without_curve(tmp_path, capsys):
    from takefit.bridges.cli import main

    home = str(tmp_path / "h")
    for ep in ("tcp://0.0.0.0:*", "tcp://*:*", "tcp://[::]:*", "tcp://10.1.2.3:5000"):
        assert main(["daemon", "start", "--foreground", "--home", home, "--bind", ep]) == 2
        err = capsys.readouterr().err
        assert "not a loopback address" in err and "--remote-bind" in err
    # --remote-bind exists only with the daemon's CurveZMQ key pair
    assert main(["daemon", "start", "--foreground", "--home", home, "--bind", "tcp://127.0.0.1:*",
                 "--remote-bind", "tcp://127.0.0.1:*"]) == 1
    assert "keys init" in capsys.readouterr().err
    assert not (tmp_path / "h" / "run" / "daemon.json").exists()


def test_default_endpoints_are_loopback_and_private(daemon):
    info = daemon.info
    for ep in info["endpoints"]:
        assert ep.startswith("ipc://") or ep.startswith("tcp://127.0.0.1:")
    assert info["remote_endpoints"] == []
    if os.name != "nt":
        assert (os.stat(daemon.dirs.info).st_mode & 0o077) == 0
        assert (os.stat(daemon.dirs.runtime).st_mode & 0o077) == 0


@pytest.mark.parametrize("name", ["../escape.wav", "a/../../escape.wav", "/tmp/escape.wav", "..\\escape.wav",
                                  "C:\\escape.wav", "x.exe", "ok/\x00.wav"])
def test_output_names_that_escape_are_refused(client, name):
    with pytest.raises(BadPathError) as e:
        client.render("Hi.", output=name)
    assert e.value.code == "bad_path"


def test_symlink_out_of_the_root_is_refused(client, daemon, tmp_path):
    link = daemon.output_root() / f"link-{os.getpid()}"
    link.symlink_to(tmp_path)
    try:
        with pytest.raises(BadPathError):
            client.render("Hi.", output=f"{link.name}/x.wav")
        with pytest.raises(BadPathError):                     # also inside a batch: nothing is accepted
            client.render_batch([{"text": "Hi.", "target": fresh(1)[0]},
                                 {"text": "Hi.", "output": f"{link.name}/y.wav"}])
    finally:
        link.unlink()
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_curve_remote_endpoint_accepts_only_authorised_keys(tmp_path):
    from takefit.daemon import keys
    from takefit.daemon.paths import Dirs

    home = tmp_path / "home"
    dirs = Dirs.resolve(home)
    keys.init_server(dirs)
    good_pub, good_sec = keys.new_client(dirs, "good")
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    import zmq.auth

    _, bad_sec = zmq.auth.create_certificates(str(stranger), "stranger")
    d = DaemonProc(home, "--remote-bind", "tcp://127.0.0.1:*").start()
    try:
        remote = d.info["remote_endpoints"][0]
        server_key = keys.server_files(dirs)[0]
        from takefit.daemon.client import Client

        # an unknown key: the handshake is refused, nothing renders
        with Client(remote, server_key=server_key, client_key=bad_sec, timeout=5, retries=0) as c:
            with pytest.raises(Unauthorized):
                c.render("Hi.", target="1s")
        # no keys at all against the CURVE endpoint: no answer
        with Client(remote, timeout=1, retries=0) as c:
            with pytest.raises(DaemonUnavailable):
                c.ping()
        # the authorised key works
        with Client(remote, server_key=server_key, client_key=good_sec, timeout=60) as c:
            assert c.hello()["authenticated"] is True
            target, n = fresh(0.8)
            assert c.render("Hi.", target=target).samples == n
        # revoked → refused from the next connection on (authorized/ is checked at every handshake)
        keys.revoke(dirs, "good")
        with Client(remote, server_key=server_key, client_key=good_sec, timeout=5, retries=0) as c:
            with pytest.raises(Unauthorized):
                c.ping()
        with d.client() as local:
            jobs = local.jobs()
            assert len(jobs) == 1                      # only the authorised render was ever accepted
    finally:
        d.stop()
