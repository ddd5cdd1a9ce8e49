"""Security: loopback-only by default, a token for every local peer, CurveZMQ for anything else, output
paths confined to the root."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import threading
import time
import uuid

import pytest

from test_daemon_support import DaemonProc, client, daemon, fresh  # noqa: F401 (fixtures)

from takefit.daemon.client import BadPathError, Client, Unauthorized
from takefit.daemon.paths import Dirs


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


def test_local_peers_must_present_the_token(daemon, tmp_path):
    stranger = Dirs.resolve(tmp_path / "elsewhere")              # no daemon.json there: no token
    with Client(daemon.tcp, home_dirs=stranger, timeout=5, retries=0) as c:
        with pytest.raises(Unauthorized) as e:
            c.ping()
    assert "token" in str(e.value) and "--remote-bind" in str(e.value)
    with Client(daemon.tcp, home_dirs=stranger, token="guess" * 8, timeout=5, retries=0) as c:
        with pytest.raises(Unauthorized):
            c.jobs()
    with Client(daemon.tcp, home_dirs=daemon.dirs, timeout=10) as c:   # the owner's token, read from daemon.json
        assert c.ping() >= 0



class LateHello(Client):
    """A client whose first message leaves after its handshake has already failed: ZeroMQ has dropped
    the connection's pipe by then, and a DEALER with no pipe blocks on send."""
    def _hello(self) -> None:
        time.sleep(1.0)
        super()._hello()


def test_a_refused_client_is_told_so_even_when_its_first_message_leaves_late(daemon, tmp_path):
    stranger = Dirs.resolve(tmp_path / "elsewhere")
    outcome = []

    def call():
        try:
            with LateHello(daemon.tcp, home_dirs=stranger, token="guess" * 8, timeout=3, retries=0) as c:
                c.jobs()
        except Exception as e:            # noqa: BLE001 — the test looks at which
            outcome.append(e)

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "the client blocked in send (froze) instead of reporting the refusal"
    assert isinstance(outcome[0], Unauthorized) and "token" in str(outcome[0])


PROBE = """
import json, site, sys
from pathlib import Path
site.addsitedir(sys.argv[4])          # this venv's packages, from an interpreter that user may run
from takefit.daemon.client import Client, Unauthorized
from takefit.daemon.paths import Dirs
endpoint, runtime, state = sys.argv[1:4]
seen = {}
for name, path in (("info", Path(runtime) / "daemon.json"), ("journal", Path(state) / "jobs.sqlite3"),
                   ("log", Path(state) / "daemon.log")):
    try:
        path.read_bytes()
        seen[name] = "read"
    except PermissionError:
        seen[name] = "denied"
for name, token in (("no_token", None), ("guessed", "x" * 43)):
    try:
        with Client(endpoint, home_dirs=Dirs.resolve("/tmp/tfprobe-none"), token=token, timeout=5, retries=0) as c:
            c.jobs()
        seen[name] = "answered"
    except Unauthorized:
        seen[name] = "refused"
    except Exception as e:
        seen[name] = type(e).__name__
print(json.dumps(seen))
"""


@pytest.fixture
def other_user():
    """A second Unix user, created for the test and removed after (#20.6 is about other local users)."""
    if os.name == "nt" or os.geteuid() != 0 or not shutil.which("useradd") or not shutil.which("runuser"):
        pytest.skip("creating a second Unix user needs root, useradd and runuser")
    name = f"tfp{uuid.uuid4().hex[:8]}"
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)
    try:
        python = _python_for(name)
        if python is None:
            pytest.skip(f"no Python {sys.version_info[0]}.{sys.version_info[1]} that another user may run "
                        f"(this one, {sys.executable}, is in a folder they cannot enter)")
        yield name, python
    finally:
        subprocess.run(["userdel", name], check=False)


def _as_user(user: str, argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([shutil.which("runuser"), "-u", user, "--", *argv], capture_output=True, text=True,
                          timeout=timeout, cwd="/", env={"HOME": "/tmp", "PATH": "/usr/bin:/bin"})


def _python_for(user: str) -> str | None:
    """This interpreter, or the system's build of the same version (the venv's compiled packages fit both)."""
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    for python in (sys.executable, f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"):
        probe = [python, "-c", f"import sys; assert sys.version.startswith('{version}')"]
        if os.path.exists(python) and _as_user(user, probe, timeout=30).returncode == 0:
            return python
    return None


def test_another_local_user_reaches_nothing(daemon, other_user):
    user, python = other_user
    out = _as_user(user, [python, "-c", PROBE, daemon.tcp, str(daemon.dirs.runtime), str(daemon.dirs.state),
                          sysconfig.get_paths()["purelib"]])
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert seen == {"info": "denied", "journal": "denied", "log": "denied", "no_token": "refused",
                    "guessed": "refused"}, seen


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
        # no keys at all against the CURVE endpoint: the handshake is refused
        with Client(remote, timeout=5, retries=0) as c:
            with pytest.raises(Unauthorized):
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
