"""takefit dub/watch --cluster on a real Ray cluster started on this machine (2 CPUs, one per module),
with the real engine in its actors: takes bit-identical to a local run and found in its cache, a
killed actor's cues retried elsewhere and delivered once, and the address rules (unreachable, ray://
refused without --trust-cluster) before anything is written.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import soundfile as sf
from takefit.bridges import cli
from takefit.bridges.cluster.address import parse
from takefit.bridges.dub import pipeline

ray = pytest.importorskip("ray")

LINES = ["Hello there.", "Good morning.", "Roll camera.", "Quiet, please.", "Action.", "Cut.", "Once more.",
         "That's a wrap."]


def srt(lines: list[str], slot: float = 1.0, gap: float = 0.4) -> str:
    def ts(t: float) -> str:
        ms = round(t * 1000)
        return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

    starts = [1.0 + i * (slot + gap) for i in range(len(lines))]
    return "\n".join(f"{i}\n{ts(a)} --> {ts(a + slot)}\n{text}\n" for i, (a, text) in enumerate(zip(starts, lines), 1))


@pytest.fixture(scope="module")
def cluster():
    """One Ray session for the module; `--cluster local` in the CLI joins it instead of starting another."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             _temp_dir=tempfile.mkdtemp(prefix="takefit-ray-test-"), namespace="takefit")
    yield
    ray.shutdown()


def timelines(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    a, b = folder / "ep1.srt", folder / "ep2.srt"
    a.write_text(srt(LINES[:3]), "utf-8")
    b.write_text(srt(LINES[3:5]), "utf-8")
    return [a, b]


def without_origination(data: bytes) -> bytes:
    """A BWF's bytes with its origination date and time (when it was written: bext and iXML) blanked."""
    data = re.sub(rb"\d{4}-\d\d-\d\d(?=\d\d:|<)", b"YYYY-MM-DD", data)
    return re.sub(rb"\d\d:\d\d:\d\d", b"hh:mm:ss", data)


def written(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def comparable(report: dict) -> dict:
    """A report less what differs run to run: timings, where it was written."""
    report = json.loads(json.dumps(report).replace(str(Path(report["input"]).parent), "DIR"))
    report["summary"] = {k: v for k, v in report["summary"].items() if "second" not in k}   # timings, cues/s
    for cue in report["cues"]:
        cue.pop("timing", None)
    return report


@pytest.mark.slow
@pytest.mark.parametrize("actors", [[], ["--actors", "1", "--lines-per-actor", "2"]], ids=["1-line", "2-lines"])
def test_cluster_takes_are_a_local_runs_and_its_cache_serves_a_local_run(cluster, tmp_path, capsys, actors):
    on_ray, here = timelines(tmp_path / "ray"), timelines(tmp_path / "local")
    cache = tmp_path / "cache"
    assert cli.main(["dub", *map(str, on_ray), "--cluster", "local", *actors, "--cache", str(cache),
                     "--rate", "25"]) == 0
    out = capsys.readouterr().out
    assert "2 timelines, 5 cues" in out and "cues/s" in out
    for src in here:          # each timeline alone, on the engine in this process, its own cold cache
        assert cli.main(["dub", str(src), "--cache", str(tmp_path / "cold"), "--rate", "25"]) == 0
    a, b = written(tmp_path / "ray"), written(tmp_path / "local")
    assert a.keys() == b.keys()
    wavs = [k for k in a if k.endswith(".wav")]
    assert len(wavs) == 5 + 2          # a take per cue, a stem per timeline
    for name in wavs:
        assert without_origination(a[name]) == without_origination(b[name]), name
    for name in a:
        if name.endswith((".srt", ".otio", ".takefit-takes.json")):
            assert a[name].decode().replace(str(tmp_path / "ray"), "") == \
                b[name].decode().replace(str(tmp_path / "local"), ""), name
    for name in [k for k in a if k.endswith("_report.json")]:
        assert comparable(json.loads(a[name])) == comparable(json.loads(b[name]))
    again = timelines(tmp_path / "again")[0]   # a later local run finds the cluster's takes in the cache
    capsys.readouterr()
    assert cli.main(["dub", str(again), "--cache", str(cache), "--rate", "25", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [c["timing"]["cached"] for c in report["cues"]] == [True] * 3


@pytest.mark.slow
def test_a_killed_actors_cues_go_elsewhere_and_each_is_delivered_once(cluster, tmp_path):
    from takefit.bridges.cluster.renderer import ClusterOptions, cluster_renderer, pids

    src = tmp_path / "season.srt"
    src.write_text(srt(LINES), "utf-8")
    renderer = cluster_renderer(ClusterOptions(parse("local"), actors=2), cache_dir=tmp_path / "cache")
    victim = pids(renderer)[0]
    killed = threading.Event()

    def progress(done: int, total: int, result) -> None:
        if done == 1:   # both actors now hold cues: one of them dies with its work
            os.kill(victim, signal.SIGKILL)
            killed.set()

    try:
        opts = pipeline.DubOptions(src, rate="25", jobs=renderer.max_in_flight)
        report = pipeline.run(opts, renderer, progress=progress)
    finally:
        renderer.close()
    assert killed.is_set() and renderer.retried >= 1
    ids = [r.cue.id for r in report.results]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == len(LINES)
    assert all(r.status in ("rendered", "flagged") for r in report.results), [r.error for r in report.results]
    assert renderer.rendered == len(LINES)        # each take delivered (and cached) once
    takes = sorted(p.name for p in Path(report.outputs["takes"]).glob("*.wav"))
    assert len(takes) == len(LINES) and all(sf.info(Path(report.outputs["takes"]) / t).frames for t in takes)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_cluster_is_named_with_the_fix_and_nothing_is_written(tmp_path, capsys):
    src = timelines(tmp_path)[0]
    before = written(tmp_path)
    address = f"ray://127.0.0.1:{free_port()}"
    t0 = time.perf_counter()
    assert cli.main(["dub", str(src), "--cluster", address, "--cache", str(tmp_path / "cache")]) != 0
    err = capsys.readouterr().err
    assert address in err and "ray start --head" in err and "--cluster local" in err
    assert written(tmp_path) == before and not (tmp_path / "cache").exists()
    assert time.perf_counter() - t0 < 30


@pytest.mark.parametrize("address", ["ray://10.20.30.40:10001", "render-farm.example:6379"])
def test_an_address_off_this_machine_needs_trust_cluster(tmp_path, capsys, address):
    src = timelines(tmp_path)[0]
    before = written(tmp_path)
    assert cli.main(["dub", str(src), "--cluster", address]) == 2
    err = capsys.readouterr().err
    assert "--trust-cluster" in err and address in err
    assert written(tmp_path) == before
    assert parse(address, trust=True).address == address


def test_cluster_addresses():
    assert parse("local").kind == "local"
    assert parse("ray://127.0.0.1:10001").on_this_machine and parse("localhost:6379").kind == "gcs"
    assert parse("auto", environ={"RAY_ADDRESS": "ray://[::1]:10001"}).on_this_machine
    for bad in ("ray://host", "http://x:1", "x:99999", ""):
        with pytest.raises(ValueError, match="not a cluster address"):
            parse(bad)
    with pytest.raises(ValueError, match="RAY_ADDRESS"):
        parse("auto", environ={})


def test_lines_per_actor_are_checked_and_ask_ray_for_their_cpus(tmp_path, capsys):
    from takefit.bridges.cluster.renderer import ClusterOptions

    opts = ClusterOptions(parse("local"), threads_per_actor=2, lines_per_actor=3)
    assert opts.cpus_per_actor == 6
    with pytest.raises(ValueError, match="1 to 64 lines"):
        ClusterOptions(parse("local"), lines_per_actor=0)
    with pytest.raises(ValueError, match="only Kokoro renders several lines"):
        ClusterOptions(parse("local"), backend="indextts", lines_per_actor=2)
    src = timelines(tmp_path)[0]
    assert cli.main(["dub", str(src), "--lines-per-actor", "2"]) != 0
    assert "go with --cluster" in capsys.readouterr().err


def test_actors_ask_ray_for_a_gpu_only_for_a_backend_that_wants_one():
    from takefit.bridges.cluster.renderer import ClusterOptions

    assert ClusterOptions(parse("local")).num_gpus == 0                       # Kokoro: CPU threads only
    assert ClusterOptions(parse("local"), backend="indextts", gpus_per_actor=0.5).num_gpus == 0.5
    with pytest.raises(ValueError, match="one of kokoro"):
        ClusterOptions(parse("local"), backend="cpu")


@pytest.mark.slow
def test_watch_sends_its_jobs_to_the_cluster(cluster, tmp_path):
    root = tmp_path / "watch"
    (root / "inbox").mkdir(parents=True)
    (root / "inbox" / "lines.srt").write_text(srt(LINES[:2]), "utf-8")
    code = cli.main(["watch", str(root), "--once", "--settle", "0", "--rate", "25", "--daemon", "off",
                     "--cluster", "local", "--cache", str(tmp_path / "cache")])
    assert code == 0
    assert (root / "done" / "lines.srt").is_file()
    takes = list((root / "outbox").rglob("*_takes/*.wav"))
    assert len(takes) == 2
    cached = [f for f in (tmp_path / "cache").rglob("*.wav")]
    assert len(cached) == 2       # rendered by the actors, cached on this machine


def descendants(pid: int) -> list[int]:
    """Every process under `pid` (Linux /proc): a `--cluster local` run's GCS, raylet, agents and actors
    are its children and theirs, so killing these loses that run's cluster and nothing else."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text() if entry.name.isdigit() else ""
        except OSError:     # gone meanwhile
            continue
        if stat:
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


@pytest.mark.slow
def test_a_process_that_starts_a_second_local_cluster_starts_it_afresh(tmp_path):
    """Ray writes each session's object-spilling folder into the system config it is given: a second
    `local` cluster in the same process (a long-lived tool, the bench) then spilled into the first's
    folder, with Ray's "unstable API" warning. Each cluster gets its own copy of the settings."""
    script = (
        "import ray\n"
        "from takefit.bridges.cluster import renderer as rr\n"
        "from takefit.bridges.cluster.address import parse\n"
        "before = dict(rr.LOCAL_SYSTEM_CONFIG)\n"
        "for _ in range(2):\n"
        "    assert rr._connect(rr.ClusterOptions(parse('local'), local_cpus=1))\n"
        "    ray.shutdown()\n"
        "assert rr.LOCAL_SYSTEM_CONFIG == before, rr.LOCAL_SYSTEM_CONFIG\n")
    env = {**os.environ, "TMPDIR": tempfile.mkdtemp(prefix="tf-", dir="/tmp")}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    shutil.rmtree(env["TMPDIR"], ignore_errors=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "unstable API" not in run.stderr, run.stderr[-2000:]


UNUSED_HELPERS = ("log_monitor", "monitor", "dashboard")   # their scripts: _private/log_monitor.py, …


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="finds the cluster's processes in /proc")
def test_a_cluster_lost_mid_run_keeps_what_was_filed_and_a_rerun_resumes_from_the_cache(tmp_path, capsys):
    """A `--cluster local` run in a process of its own (its own Ray cluster, as the CLI starts one; the
    module's cluster is untouched), its whole cluster killed once a take is filed. Ray's core ends a
    driver whose node vanished at once (_Exit(1) on the lost plasma-store connection), so the run drives
    its cluster from a child (bridges/cluster/guard.py) and names the loss with the fix; nothing may hang,
    nothing half-written may sit under a final name, and a run without a cluster renders only what the
    lost one had not."""
    src = tmp_path / "season.srt"
    src.write_text(srt(LINES), "utf-8")
    cache, takes = tmp_path / "cache", tmp_path / "season_dub_takes"
    short = tempfile.mkdtemp(prefix="tf-")             # Ray's socket paths must stay under 108 bytes
    env = {**os.environ, "TMPDIR": short}               # the cluster's temp folder, removed with it
    run = subprocess.Popen([sys.executable, "-m", "takefit.bridges.cli", "dub", str(src), "--cluster", "local",
                            "--actors", "1", "--cache", str(cache), "--rate", "25"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    cluster_pids: list[int] = []
    try:
        deadline = time.monotonic() + 300
        while run.poll() is None and not list(takes.glob("*.wav")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert run.poll() is None, f"the run ended before its cluster was lost: {run.communicate()}"
        driver = descendants(run.pid)[:1]               # the guard's child: it started the cluster
        cluster_pids = [p for p in descendants(run.pid) if p not in driver]
        assert len(driver) == 1 and len(cluster_pids) >= 3   # GCS, raylet, the actor at least
        helpers = [c for c in map(cmdline, cluster_pids) if any(f"/{n}.py" in c for n in UNUSED_HELPERS)]
        assert not helpers, f"Ray helpers a dub never uses still run beside the engines: {helpers}"
        kill_all(cluster_pids)
        lost = time.monotonic()
        _, err = run.communicate(timeout=120)            # a hang fails here
        ended = time.monotonic() - lost
    finally:
        kill_all([run.pid, *driver, *cluster_pids])
        shutil.rmtree(short, ignore_errors=True)
    assert run.returncode == 1 and ended < 120, err
    assert "Token authentication" not in err, err        # token auth asked for by name: on, and no Ray banner
    # Ray ends the driver (the guard names the loss) or, when the actor's death reaches the driver first,
    # the renderer stops the run itself: either way one takefit error with the way to resume
    assert "takefit: error: the Ray cluster was lost mid-run" in err or "the cluster is losing workers" in err, err
    assert "again to resume" in err or "same command again" in err, err

    filed = sorted(p.name for p in takes.glob("*.wav"))
    listed = json.loads((takes / ".takefit-takes.json").read_text("utf-8"))["takes"]
    assert listed and set(listed) <= set(filed)          # each listed take is there
    frames = {sf.info(takes / name).frames for name in filed}
    assert len(frames) == 1 and frames.pop() > 0         # none half-written (equal 1 s slots)
    assert not list(tmp_path.glob("season_dub*.srt")) and not list(tmp_path.glob("season_dub*_report.json"))
    in_cache = len(list(cache.rglob("*.json")))
    assert len(filed) <= in_cache < len(LINES), "every filed take is cached, and the run was lost mid-way"

    capsys.readouterr()
    assert cli.main(["dub", str(src), "--cache", str(cache), "--rate", "25", "--json"]) == 0   # no cluster
    report = json.loads(capsys.readouterr().out)
    cached = {c["id"] for c in report["cues"] if c["timing"]["cached"]}
    assert len(cached) == in_cache and {name.split("_")[1] for name in filed} <= cached
    assert all(c["status"] in ("rendered", "cached", "flagged") for c in report["cues"]), report["cues"]
    after = sorted(p.name for p in takes.glob("*.wav"))
    assert len(after) == len(LINES) and all(name.endswith("_t1.wav") for name in after)   # no orphan, no _t2
    assert not list(tmp_path.rglob("*.partial"))


def test_a_long_tmpdir_still_leaves_room_for_ray_sockets(tmp_path, monkeypatch):
    from takefit.bridges.cluster.renderer import RAY_SOCKET_SUFFIX, UNIX_PATH_MAX, ray_temp_dir

    deep = tmp_path / ("d" * 60)
    deep.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    made = Path(ray_temp_dir())
    try:
        assert made.parent == Path("/tmp") and len(str(made)) + RAY_SOCKET_SUFFIX <= UNIX_PATH_MAX
        assert made.stat().st_mode & 0o777 == 0o700                 # mkdtemp: this user's only
    finally:
        made.rmdir()
    monkeypatch.setattr(tempfile, "tempdir", "/tmp")
    short = Path(ray_temp_dir())
    assert short.parent == Path("/tmp")
    short.rmdir()


def test_the_guard_passes_on_a_finished_runs_status_and_names_a_driver_ended_under_it(tmp_path, capsys,
                                                                                      monkeypatch):
    """run_guarded re-runs takefit in a child: a child that ends through takefit's own way out (here a
    usage error, status 2) is passed on as it is; one ended from outside (SIGKILL, as Ray's core ends a
    driver whose cluster vanished) gets the lost-cluster message and status 1."""
    from takefit.bridges.cluster import guard

    assert guard.run_guarded(["dub", str(tmp_path / "none.srt"), "--no-such-flag"]) == 2
    assert "the Ray cluster was lost" not in capsys.readouterr().err

    script = tmp_path / "sitecustomize.py"    # the child kills itself as soon as Python starts
    script.write_text("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n", "utf-8")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    assert guard.run_guarded(["dub", "x.srt"]) == 1
    err = capsys.readouterr().err
    assert "the Ray cluster was lost mid-run" in err and "run the same command again" in err
    monkeypatch.delitem(sys.modules, "ray")      # as in a fresh `takefit dub` (the module's cluster may be up)
    assert guard.wanted(parse("local")) and guard.wanted(parse("127.0.0.1:6379"))
    assert not guard.wanted(parse("ray://127.0.0.1:10001"))     # Ray Client raises: no guard needed
