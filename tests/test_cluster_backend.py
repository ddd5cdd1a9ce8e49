"""`takefit dub/watch --cluster … --backend NAME` (#24.1, #25): every Ray actor loads the backend the run
names, on a real local Ray cluster (test_cluster.py's). Kokoro named so is still a local run, take for take
and key for key; IndexTTS2 on the tiny random-weight checkpoint (test_indextts.py's, on the CPU) renders a
cast clip voice sent as bytes to exact-length takes, keyed by its daemon's rule, so a re-run renders
nothing; and the flags are refused, with the fix, before Ray starts."""
from __future__ import annotations

import json
import os

import pytest
import soundfile as sf
from takefit.bridges import cli
from takefit.bridges.cluster import guard
from takefit.bridges.cluster import renderer as rr
from takefit.bridges.cluster.address import parse
from takefit.bridges.commands.dub import cluster_options
from takefit.bridges.dub import pipeline
from takefit.engine import ENGINE_ID
from takefit.engine.backend import clip_identity, clip_refusal
from takefit.engine.cache import backend_extra
from takefit.engine.errors import UnknownVoiceError
from takefit.otio_adapters import rates
from test_clip_voices import _project, _wav
from test_cluster import LINES, cluster, srt, without_origination, written  # noqa: F401 (fixture)

ray = pytest.importorskip("ray")

try:       # the tiny IndexTTS2 checkpoint and its clip writer; without torch or upstream's package, skipped
    from test_indextts import _clip, tiny
except pytest.skip.Exception:
    _clip = tiny = None


# ------------------------------------------------------------------ refused before Ray starts
@pytest.fixture
def no_ray(monkeypatch):
    """Any start of a cluster (in this process or a guarded child) fails the test."""
    def started(*_args, **_kwargs):
        raise AssertionError("a Ray cluster was started for a command that should have been refused")

    monkeypatch.setattr(guard, "run_guarded", started)
    monkeypatch.setattr(rr, "_connect", started)


@pytest.mark.parametrize("command", ["dub", "watch"])
def test_backend_without_a_cluster_names_the_daemon_and_kokoro(tmp_path, capsys, no_ray, command):
    target = str(tmp_path / "lines.srt") if command == "dub" else str(tmp_path / "w")
    (tmp_path / "lines.srt").write_text(srt(LINES[:1]), "utf-8")
    extra = ["--once", "--daemon", "off"] if command == "watch" else []
    assert cli.main([command, target, *extra, "--backend", "indextts"]) == 2
    err = capsys.readouterr().err
    assert "--backend, --device and --gpus-per-actor go with --cluster ADDRESS" in err
    assert "`takefit daemon start --backend indextts`" in err and "Kokoro in this process" in err
    assert cli.main([command, target, *extra, "--device", "cuda"]) == 2
    assert "takefit daemon start --backend NAME" in capsys.readouterr().err
    assert cli.main([command, target, *extra, "--gpus-per-actor", "0.5"]) == 2
    assert "--gpus-per-actor go with --cluster ADDRESS" in capsys.readouterr().err
    assert not (tmp_path / "w").exists() and not list(tmp_path.glob("lines_dub*"))


@pytest.mark.parametrize("flags, says", [
    (["--backend", "nosuch"], ["unknown backend 'nosuch'", "kokoro: Kokoro-82M", "indextts: IndexTTS2"]),
    (["--backend", "kokoro", "--device", "cuda"], ["backend 'kokoro' runs on cpu, not 'cuda'"]),
    (["--backend", "indextts", "--device", "cuda:1"], ["--device cuda:1", "give --device cuda"]),
    (["--backend", "indextts", "--list"], ["--list predicts", "indextts backend knows a line's length only"]),
    (["--backend", "indextts", "--gpus-per-actor", "0"], ["--gpus-per-actor 0: more than 0, at most 64"]),
])
def test_a_bad_backend_or_device_is_refused_before_ray_starts(tmp_path, capsys, no_ray, flags, says):
    src = tmp_path / "lines.srt"
    src.write_text(srt(LINES[:1]), "utf-8")
    before = written(tmp_path)
    assert cli.main(["dub", str(src), "--cluster", "local", "--cache", str(tmp_path / "cache"), *flags]) == 2
    err = capsys.readouterr().err
    assert all(s in err for s in says), err
    assert written(tmp_path) == before


def test_watch_bakes_backend_and_device_into_its_service():
    from takefit.bridges.commands.watch import service_args

    args = cli.build_parser(["watch"]).parse_args(["watch", "/w", "--cluster", "local", "--backend", "indextts",
                                                   "--device", "cpu", "--gpus-per-actor", "0.5"])
    baked = service_args(args)
    assert baked[baked.index("--backend") + 1] == "indextts" and baked[baked.index("--device") + 1] == "cpu"
    assert baked[baked.index("--gpus-per-actor") + 1] == "0.5"
    assert "--backend" not in service_args(cli.build_parser(["watch"]).parse_args(["watch", "/w"]))


def test_options_ask_ray_for_gpus_only_on_cuda_and_wait_longer_for_a_gpu_model():
    local = parse("local")
    assert rr.ClusterOptions(local, backend="indextts").num_gpus == 1.0          # its default: cuda
    assert rr.ClusterOptions(local, backend="indextts", device="cpu").num_gpus == 0
    assert rr.ClusterOptions(local, backend="indextts", gpus_per_actor=0.5).num_gpus == 0.5   # two actors a GPU
    args = cli.build_parser(["dub"]).parse_args(["dub", "x.srt", "--cluster", "local", "--backend", "indextts",
                                                 "--gpus-per-actor", "0.25"])
    assert cluster_options(args).num_gpus == 0.25
    assert rr.ClusterOptions(local).load_timeout == 120.0
    assert rr.ClusterOptions(local, backend="indextts").load_timeout > 120.0
    assert rr.ClusterOptions(local, backend="indextts", start_timeout=5).load_timeout == 5


# ------------------------------------------------------------------ clip voices and keys, on this machine
def test_a_clip_voice_is_checked_here_by_what_the_backend_can_do(tmp_path, monkeypatch):
    clip = _wav(tmp_path / "refs" / "anna.wav")
    pool = rr.ActorPool([], 2)                        # no actor is asked about a clip
    indextts = rr.RayRenderer(pool, None, False, "test", backend="indextts", engine_id="indextts2-v2.0-x")
    kokoro = rr.RayRenderer(pool, None, False, "test")
    monkeypatch.chdir(tmp_path)
    assert indextts.check_voice("refs/anna.wav") == str(clip.resolve())               # absolute, for the cue
    with pytest.raises(UnknownVoiceError, match="no such file"):
        indextts.check_voice("refs/gone.wav")
    with pytest.raises(UnknownVoiceError) as e:
        kokoro.check_voice(str(clip))
    assert str(e.value) == clip_refusal(str(clip))
    assert kokoro.check_voice("af_heart") == "af_heart"                               # Kokoro's tables, here


def test_a_clip_voice_is_keyed_by_the_daemons_rule(tmp_path):
    """One rule, two users: the cluster keys a clip voice's takes with the fields the daemon's admission
    does (engine/cache.py backend_extra over engine/backend.py clip_identity, which the IndexTTS backend's
    voice_identity is); Kokoro's takes get none."""
    clip = str(_wav(tmp_path / "anna.wav"))
    fields = backend_extra("indextts", "indextts2-v2.0-x", clip_identity(clip))
    assert fields == {"backend": ["indextts", "indextts2-v2.0-x"], "voice": clip_identity(clip)}
    assert backend_extra("kokoro", ENGINE_ID, None) == {}
    before = clip_identity(clip)
    assert before.startswith(os.path.realpath(clip))
    _wav(tmp_path / "anna.wav")                  # recorded over (here: its time changed): another identity
    os.utime(clip, ns=(1, 1))
    assert clip_identity(clip) != before


# ------------------------------------------------------------------ on the cluster
@pytest.mark.slow
def test_kokoro_named_on_the_cluster_is_a_local_run_take_for_take_and_key_for_key(cluster, tmp_path, capsys):  # noqa: F811
    on_ray, here = tmp_path / "ray" / "ep.srt", tmp_path / "local" / "ep.srt"
    for src in (on_ray, here):
        src.parent.mkdir()
        src.write_text(srt(LINES[:2]), "utf-8")
    cache = tmp_path / "cache"
    assert cli.main(["dub", str(on_ray), "--cluster", "local", "--backend", "kokoro", "--cache", str(cache),
                     "--rate", "25"]) == 0
    assert cli.main(["dub", str(here), "--cache", str(tmp_path / "cold"), "--rate", "25"]) == 0
    a, b = written(on_ray.parent), written(here.parent)
    assert a.keys() == b.keys() and len([k for k in a if k.endswith(".wav")]) == 2 + 1
    for name in (k for k in a if k.endswith(".wav")):
        assert without_origination(a[name]) == without_origination(b[name]), name
    capsys.readouterr()
    assert cli.main(["dub", str(here), "--cache", str(cache), "--rate", "25", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [c["timing"]["cached"] for c in report["cues"]] == [True, True]     # the cluster's keys are local keys


@pytest.fixture
def indextts_env(request, monkeypatch):
    """The tiny checkpoint's folder and hub cache in this process's environment only: the module's Ray
    cluster started before they were set, so its workers have them only if the run sends them."""
    if tiny is None:
        pytest.skip("IndexTTS2's packages (the indextts extra) are not installed")
    built = request.getfixturevalue("tiny")
    monkeypatch.setenv("TAKEFIT_INDEXTTS_DIR", str(built.model_dir))
    return built


@pytest.mark.slow
def test_an_indextts_cluster_renders_a_cast_clip_exactly_and_a_rerun_is_cached(cluster, indextts_env,  # noqa: F811
                                                                               tmp_path):
    folder = tmp_path / "show"
    timeline = _project(folder)                              # alice: refs/anna.wav; the other cue: auto
    clip = folder / "refs" / "anna.wav"
    _clip(clip, 200, 4)
    opts = rr.ClusterOptions(parse("local"), actors=1, backend="indextts", device="cpu")
    renderer = rr.cluster_renderer(opts, cache_dir=tmp_path / "cache")
    try:
        assert renderer.engine_id.startswith("indextts2-v2.0-")    # the checkpoint's, as the actor loaded it
        dub = pipeline.DubOptions(timeline, rate="25", jobs=renderer.max_in_flight)
        first = pipeline.run(dub, renderer)
        assert all(r.status in ("rendered", "flagged") and r.take for r in first.results), \
            [r.error for r in first.results]
        alice, other = first.results
        assert alice.cue.voice == str(clip.resolve()) and (alice.voice, other.voice) == ("anna", "alice")
        for r in first.results:                              # exact to the sample: frames × 48000 / 25
            assert r.samples == sf.info(str(r.take)).frames == rates.samples(r.cue.duration, r.cue.rate, 48000)
        assert renderer.rendered == 2
        again = pipeline.run(dub, renderer)
        assert renderer.rendered == 2 and all(r.cached and r.take for r in again.results)
        _clip(clip, 320, 9)                                  # another voice recorded over the same file
        os.utime(clip, ns=(1, 1))
        pipeline.run(dub, renderer)
        assert renderer.rendered == 3                        # alice's line anew; the listed clip's cached
        # the clip's bytes are what the actor clones: a path that exists only on this machine still renders
        wire = {**pipeline.request_for(alice.cue, dub).to_wire(), "voice": "/nowhere/on/the/worker/anna.wav"}
        reply = ray.get(renderer.pool.handles[0].render.remote(wire, None, ".wav", clip.read_bytes()))
        assert reply["take"]["voice"] == "anna" and len(reply["audio"]) == 4 * alice.samples
    finally:
        renderer.close()


@pytest.mark.slow
def test_a_worker_without_the_checkpoint_stops_the_run_with_its_reason(cluster, indextts_env, tmp_path,  # noqa: F811
                                                                      monkeypatch, capsys):
    monkeypatch.setenv("TAKEFIT_INDEXTTS_DIR", str(tmp_path / "no checkpoint"))
    src = tmp_path / "lines.srt"
    src.write_text(srt(LINES[:1]), "utf-8")
    assert cli.main(["dub", str(src), "--cluster", "local", "--backend", "indextts", "--device", "cpu",
                     "--actors", "1", "--cache", str(tmp_path / "cache"), "--rate", "25"]) == 1
    err = capsys.readouterr().err
    assert "could not load the indextts backend: CheckpointMissing" in err and "no checkpoint" in err, err
    assert 'pip install "takefit[indextts]"' in err and not list(tmp_path.glob("lines_dub*"))
