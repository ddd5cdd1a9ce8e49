"""The backend seam (engine/backend.py): Kokoro is one backend with nothing changed, the registry
refuses what it cannot load with the fix named, and the daemon says which backend serves it."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from test_daemon_support import client, daemon  # noqa: F401 (fixtures)

from takefit.daemon.config import Config, check_config
from takefit.engine import ENGINE_ID, RenderRequest, Target
from takefit.engine.backend import (EMOTION_INPUTS, REGISTRY, Backend, BackendEntry, BackendUnavailable,
                                    Capabilities, Plan, Voice, backend_names, check_backend, load_backend)
from takefit.engine.cache import request_key
from takefit.engine.emotion import Emotion
from takefit.engine.errors import InputError, UnknownVoiceError
from takefit.engine.kokoro import SAMPLE_RATE
from takefit.engine.kokoro.backend import KokoroBackend


@pytest.fixture(scope="module")
def kokoro(engine):
    return KokoroBackend(engine)


def test_kokoro_satisfies_the_backend_protocol(kokoro, engine):
    assert isinstance(kokoro, Backend)
    assert (kokoro.name, kokoro.engine_id, kokoro.sample_rate, kokoro.device) == ("kokoro", ENGINE_ID, SAMPLE_RATE,
                                                                                  "cpu")
    caps = kokoro.capabilities
    assert caps.exact_length and caps.pinyin and caps.enrolled_voices and not caps.reference_clip_voices
    assert set(caps.emotion_inputs) == set(EMOTION_INPUTS) and {"en", "zh", "ja"} <= set(caps.languages)
    voices = {v.name: v for v in kokoro.voices()}
    assert all(isinstance(v, Voice) for v in voices.values())
    assert (voices["af_heart"].language, voices["af_heart"].gender) == ("en", "female")
    assert (voices["zm_yunxi"].language, voices["zm_yunxi"].gender) == ("zh", "male")
    assert kokoro.check_voice("af_heart") == "af_heart"
    with pytest.raises(UnknownVoiceError, match="af_heart"):
        kokoro.check_voice("af_hart")


def test_plan_and_natural_length_come_from_the_engine_without_audio(kokoro, engine):
    req = RenderRequest("Ready? {@1.0s}Go!", target=Target.parse("2s"), emotion=Emotion.parse("sad 0.6"))
    plan = kokoro.plan(req)
    assert isinstance(plan, Plan) and plan.voice == "af_heart"
    assert "{@" not in plan.reading.text                    # the hit point is taken out, as render does
    assert plan.delivery is not None and not plan.delivery.is_neutral
    natural = kokoro.natural_length(plan)
    assert natural.predicted and natural.seconds == plan.natural_seconds
    assert 0 < natural.speech_seconds < float(natural.seconds)
    assert natural.speech_seconds == engine.predicted_speech(plan)


@pytest.mark.slow
def test_render_through_the_seam_equals_the_engine_bit_for_bit(engine):
    backend = load_backend("kokoro", threads=2)           # its own model, loaded through the registry
    assert backend.engine is not engine and isinstance(backend, KokoroBackend)
    for req in (RenderRequest("Roll camera.", target=Target.parse("1.2s")),
                RenderRequest("你好，takefit！", target=Target.parse("77@23.976"), emotion=Emotion.parse("happy 0.5"))):
        seam, direct = backend.render(req), engine.render(req)
        assert len(seam.audio) == req.target.samples(req.sample_rate) == len(direct.audio)
        assert np.array_equal(seam.audio, direct.audio)
        assert (seam.voice, seam.phonemes, seam.warnings) == (direct.voice, direct.phonemes, direct.warnings)
    report = backend.report()
    assert report.load_seconds > 0 and report.memory_bytes and report.device_memory_bytes is None


def test_dictionary_view_shares_the_model(kokoro):
    from takefit.engine import Lexicon

    view = kokoro.with_lexicon(Lexicon.parse("takefit  kˈOkəɹO\n"))
    assert view.engine.model is kokoro.engine.model and view.engine is not kokoro.engine
    assert "kˈOkəɹO" in view.explain("takefit")["phonemes"]
    assert "kˈOkəɹO" not in kokoro.explain("takefit")["phonemes"]


def test_unknown_backend_lists_the_known_ones():
    assert backend_names()[0] == "kokoro" and "indextts" in backend_names()
    with pytest.raises(InputError) as e:
        load_backend("kokorro")
    assert "'kokorro'" in str(e.value) and all(n in str(e.value) for n in backend_names())
    with pytest.raises(InputError, match="unknown backend"):
        check_config(Config(backend="kokorro"))


def test_indextts_wants_a_gpu_and_without_its_packages_names_its_extra(monkeypatch):
    """Where upstream's packages are absent (one here stands for them), --backend indextts says which and
    the pip command: the extra, not a traceback from deep inside an import."""
    entry = REGISTRY["indextts"]
    assert entry.wants_gpu and not REGISTRY["kokoro"].wants_gpu
    assert {"torch", "torchaudio", "transformers", "indextts"} <= set(entry.requires)
    monkeypatch.setitem(REGISTRY, "indextts", replace(entry, requires=(*entry.requires, "takefit_no_such_pkg")))
    with pytest.raises(BackendUnavailable) as e:
        load_backend("indextts")
    msg = str(e.value)
    assert "takefit_no_such_pkg" in msg and 'pip install "takefit[indextts]"' in msg


def test_a_missing_extra_names_the_pip_install(monkeypatch):
    entry = BackendEntry("kokoro-x", "Kokoro with an extra", "takefit.engine.kokoro.backend", "KokoroBackend",
                         ENGINE_ID, SAMPLE_RATE, Capabilities(("en",), ()), requires=("takefit_no_such_pkg",),
                         extra="kokoro-x")
    monkeypatch.setitem(REGISTRY, entry.name, entry)
    with pytest.raises(BackendUnavailable) as e:
        load_backend("kokoro-x")
    assert "takefit_no_such_pkg" in str(e.value) and 'pip install "takefit[kokoro-x]"' in str(e.value)


def test_device_is_checked_before_the_daemon_starts():
    with pytest.raises(InputError, match="--device cpu"):
        check_backend("kokoro", "cuda:0")
    with pytest.raises(InputError, match="runs on cpu"):
        check_config(Config(device="cuda:0"))
    assert check_backend("kokoro", "cpu").name == "kokoro"
    assert "--backend" not in Config().to_argv() and "--device" not in Config().to_argv()
    assert Config(device="cpu").to_argv()[-2:] == ["--device", "cpu"]
    with pytest.raises(ValueError, match="emotion inputs"):
        Capabilities(("en",), ("telepathy",))


def test_hello_voices_and_health_report_the_backend(client):
    hello = client.hello()
    b = hello["backend"]
    assert (b["name"], b["engine"], b["device"], b["sample_rate"], b["gpu"]) == ("kokoro", ENGINE_ID, "cpu",
                                                                                SAMPLE_RATE, False)
    assert hello["engine"] == ENGINE_ID                     # unchanged field, same value
    assert {"exact_length", "pinyin", "hit_points"} <= set(b["capabilities"])
    assert b["emotion_inputs"] == list(EMOTION_INPUTS) and "zh" in b["languages"]
    reply = client.call("voices", language="en")
    assert reply["backend"]["name"] == "kokoro" and reply["voices"][0]["language"] == "en"
    load = client.health()["backend"]["load"]
    assert load["load_seconds"] > 0 and load["memory_bytes"] > 0


def test_kokoro_cache_keys_are_unchanged_through_the_daemon(client):
    """A Kokoro daemon keys a take exactly as before the seam: request_key(req), no backend field."""
    req = RenderRequest("Seam check.", target=Target.parse("1.1s"))
    take = client.render(req)
    assert take.key == request_key(req)


def test_cli_daemon_info_prints_the_backend(daemon, capsys):
    from takefit.bridges.cli import main

    assert main(["daemon", "info", "--home", str(daemon.home)]) == 0
    out = capsys.readouterr().out
    assert "kokoro (kokoro-82m-v1.0-int8), ready" in out and "emotion inputs: vector, reference_clip, text" in out
    assert "load time:" in out and "added by loading" in out
    assert main(["daemon", "info", "--home", str(daemon.home), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["name"] == "kokoro" and doc["voices"] > 20 and doc["load"]["load_seconds"] > 0
