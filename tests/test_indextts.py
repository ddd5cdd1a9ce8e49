"""The IndexTTS backend on a tiny random-weight checkpoint built through upstream's own classes
(tests/indextts_tiny.py): upstream's loaders and inference path run for real on the CPU; the audio is
noise (random weights), so what is checked is what does not depend on training — exact lengths, the
inputs reaching the conditioning tensors, the conditioning cache, and missing-file errors."""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("indextts")

import indextts_tiny  # tests/ is on the path
from takefit.engine import RenderRequest, Target
from takefit.engine.backend import Backend, describe, load_backend
from takefit.engine.emotion import Emotion
from takefit.engine.errors import UnknownVoiceError
from takefit.engine.indextts.checkpoint import CheckpointMissing, locate
from takefit.engine.indextts.fit import HOP, SAMPLE_RATE

pytestmark = pytest.mark.slow
LINE = "HELLO WORLD, ROLL CAMERA."


def _clip(path, hz: float, seed: int):
    import soundfile as sf

    rng = np.random.default_rng(seed)
    t = np.arange(int(1.5 * 22050)) / 22050
    sf.write(path, (0.2 * np.sin(2 * np.pi * hz * t) + 0.02 * rng.standard_normal(len(t))).astype(np.float32), 22050)
    return str(path)


def _voices(built) -> None:
    voices = built.model_dir / "voices"
    voices.mkdir()
    _clip(voices / "alice.wav", 220, 1)
    _clip(voices / "bob.wav", 140, 2)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny set, read-only, built once per test run: pytest-xdist's workers share their run's folder."""
    base = tmp_path_factory.getbasetemp()
    built = indextts_tiny.shared(base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base, _voices)
    old = {k: os.environ.get(k) for k in built.env()}
    os.environ.update(built.env())
    yield built
    for k, v in old.items():
        os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


@pytest.fixture(scope="module")
def backend(tiny):
    return load_backend("indextts", model_dir=tiny.model_dir, device="cpu")


def test_loads_through_the_registry_and_reports(backend, tiny):
    assert isinstance(backend, Backend)
    assert (backend.name, backend.sample_rate, backend.device) == ("indextts", SAMPLE_RATE, "cpu")
    assert backend.engine_id.startswith("indextts2-v2.0-")
    assert [v.name for v in backend.voices()] == ["alice", "bob"]
    assert backend.check_voice("alice") == "alice"
    with pytest.raises(UnknownVoiceError, match="alice"):
        backend.check_voice("alcie")
    doc = describe(backend)
    assert doc["gpu"] is False and doc["load"]["load_seconds"] > 0 and "reference_clip_voices" in doc["capabilities"]


@pytest.mark.parametrize("target, rate", [("1.5s", 48000), ("37@23.976", 48000), ("1.1x", 48000), ("1.3s", 44100)])
def test_exact_length_by_the_s2mel_frame_count(backend, target, rate):
    req = RenderRequest(LINE, voice="alice", target=Target.parse(target), sample_rate=rate)
    take = backend.render(req)
    assert len(take.audio) == req.target.samples(rate, take.natural_seconds)    # 0 samples off
    assert take.method == "model" and not take.warnings
    # the model itself renders the speech span: only less than one mel frame is padded or trimmed
    assert abs(take.timings["rest_samples"]) < HOP * rate / SAMPLE_RATE
    speech = take.speech_end - take.speech_start
    assert abs(speech - take.timings["frames"] * HOP / SAMPLE_RATE) < HOP / SAMPLE_RATE
    assert np.any(np.abs(take.audio[: int(take.speech_end * rate)]) > 1e-4)


def test_natural_length_is_upstreams_codes_times_1_72(backend, tiny):
    plan = backend.plan(RenderRequest(LINE, voice="alice"))
    natural = backend.natural_length(plan)
    assert not natural.predicted
    assert natural.seconds * SAMPLE_RATE == int(indextts_tiny.MAX_CODES * 1.72) * HOP   # the tiny GPT never stops


def test_a_slot_beyond_the_s2mel_range_is_hybrid_with_a_warning(backend):
    req = RenderRequest(LINE, voice="alice", target=Target.parse("4s"))
    take = backend.render(req)
    assert len(take.audio) == 4 * 48000 and take.method == "hybrid"
    assert any("hybrid" in w for w in take.warnings)


def test_emotion_inputs_reach_the_conditioning(backend, tiny, monkeypatch):
    clip = str(tiny.model_dir / "voices" / "alice.wav")
    other = str(tiny.model_dir / "voices" / "bob.wav")
    model = backend.model
    plain = model.condition(clip)
    angry = model.condition(clip, backend.plan(RenderRequest(LINE, voice="alice",
                                                             emotion=Emotion.parse("angry 0.8"))).vector)
    sad = model.condition(clip, backend.plan(RenderRequest(LINE, voice="alice", emotion=Emotion.parse("sad 0.8"))).vector)
    assert not np.allclose(plain.emovec.numpy(), angry.emovec.numpy())
    assert not np.allclose(angry.emovec.numpy(), sad.emovec.numpy())
    # a description: upstream's Qwen model (the tiny one answers nothing, which upstream reads as calm) …
    described = backend.plan(RenderRequest(LINE, voice="alice", emotion=Emotion(text="furious", alpha=0.5)))
    assert described.emotion_source == "text (upstream)" and described.vector == (0,) * 7 + (0.5,)
    assert not np.allclose(model.condition(clip, described.vector).emovec.numpy(), plain.emovec.numpy())
    # … or takefit's own text → vector
    monkeypatch.setenv("TAKEFIT_INDEXTTS_TEXT_EMOTION", "takefit")
    ours = backend.plan(RenderRequest(LINE, voice="alice", emotion=Emotion(text="furious, shouting")))
    assert ours.emotion_source == "text" and ours.vector != described.vector
    by_clip = model.condition(clip, None, other, 1.0)
    assert by_clip.emotion is model.emotion_features(other) and by_clip.emotion is not plain.emotion
    half = model.condition(clip, None, other, 0.5)
    assert not np.allclose(half.emovec.numpy(), by_clip.emovec.numpy())
    # and a render hears it: same line, voice and seed, other emotion → other audio
    a, b = (backend.render(RenderRequest(LINE, voice="alice", target=Target.parse("1.2s"), emotion=e))
            for e in (Emotion.parse("angry 0.8"), Emotion(reference=other, alpha=1.0)))
    assert a.emotion["source"] == "preset" and b.emotion["reference"] == other
    assert not np.allclose(a.audio, b.audio)


def test_speaker_conditioning_is_per_clip_and_cached_by_content(backend, tiny, tmp_path):
    model = backend.model
    alice = str(tiny.model_dir / "voices" / "alice.wav")
    bob = str(tiny.model_dir / "voices" / "bob.wav")
    a, b = model.speaker(alice), model.speaker(bob)
    assert not np.allclose(a[1].numpy(), b[1].numpy())        # CAMPPlus style differs
    copy = shutil.copy(alice, tmp_path / "same_as_alice.wav")
    assert model.speaker(str(copy)) is a                        # same bytes elsewhere: the cached conditioning
    _clip(tmp_path / "same_as_alice.wav", 330, 3)               # same path, new bytes: computed anew
    assert model.speaker(str(copy)) is not a
    take = backend.render(RenderRequest(LINE, voice=str(copy), target=Target.parse("1.2s")))
    assert take.voice == "same_as_alice" and len(take.audio) == int(1.2 * 48000)


def test_missing_files_are_listed_with_where_upstream_documents_them(tiny, tmp_path, monkeypatch):
    partial = tmp_path / "ckpt"
    shutil.copytree(tiny.model_dir, partial)
    (partial / "gpt.pth").unlink()
    (partial / "feat2.pt").unlink()
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    with pytest.raises(CheckpointMissing) as e:
        load_backend("indextts", model_dir=partial, device="cpu")
    msg = str(e.value)
    for missing in ("gpt.pth", "feat2.pt", "facebook/w2v-bert-2.0", "amphion/MaskGCT", "funasr/campplus",
                    "nvidia/bigvgan_v2_22khz_80band_256x", "github.com/index-tts/index-tts", "HF_HUB_CACHE"):
        assert missing in msg
    assert "s2mel.pth" not in msg
    with pytest.raises(CheckpointMissing, match="TAKEFIT_INDEXTTS_DIR"):
        locate(tmp_path / "nowhere")


# ---- the speech span fills the slot (the model's edge silence is not speech)
def test_fit_arithmetic_scales_the_render_by_what_the_span_lacked():
    from takefit.engine.indextts.fit import FEASIBLE, feasible, next_frames, span_done

    assert next_frames(100, measured=80 * HOP, wanted=100 * HOP) == 125      # 20 % edges: ask 25 % more
    assert next_frames(100, measured=100 * HOP, wanted=100 * HOP) == 100
    assert feasible(150, 100) == (150, "model")
    assert feasible(300, 100) == (round(100 * FEASIBLE[1]), "hybrid")
    assert feasible(10, 100) == (round(100 * FEASIBLE[0]), "hybrid")
    assert span_done(1000, 1000 + 0.009 * SAMPLE_RATE) and not span_done(1000, 1000 + 0.02 * SAMPLE_RATE)


EDGE_SHARE = 0.15      # a trained model's silence before and after the words, as a share of what it renders


@pytest.fixture
def with_edge_silence(backend, monkeypatch):
    """The real S2Mel and vocoder, their output's first and last 15 % silenced: random weights render noise
    edge to edge, a trained model leaves silence at both ends, growing with the length it is asked for."""
    real = backend.model.waveform

    def waveform(codes, latent, cond, frames, seed):
        wav = real(codes, latent, cond, frames, seed).copy()
        edge = int(len(wav) * EDGE_SHARE)
        wav[:edge] = 0.0
        wav[len(wav) - edge:] = 0.0
        return wav

    monkeypatch.setattr(backend.model, "waveform", waveform)


@pytest.mark.parametrize("target", ["1.6s", "40@24"])
def test_the_speech_runs_from_the_lead_handle_to_the_tail_handle(backend, with_edge_silence, target):
    from takefit.engine.speech import speech_span

    rate = 48000
    req = RenderRequest(LINE, voice="alice", target=Target.parse(target), sample_rate=rate, lead=0.05, tail=0.04)
    take = backend.render(req)
    total = req.target.samples(rate, take.natural_seconds)
    assert len(take.audio) == total                                      # still exact to the sample
    start, end = speech_span(take.audio, rate)
    assert abs(start / rate - 0.05) <= 0.011                               # 10 ms hops of the measure
    assert abs((total - end) / rate - 0.04) <= 0.011 + 0.010             # + the span tolerance of the passes
    assert take.timings["passes"] >= 2 and take.timings["edge_seconds"] > 0.1
    assert take.method == "model" and not take.warnings                   # re-rendered, not stretched
    assert (take.speech_start, take.speech_end) == (start / rate, end / rate)


def test_a_line_renders_the_same_every_time(backend):
    req = RenderRequest(LINE, voice="bob", target=Target.parse("1.3s"))
    assert np.array_equal(backend.render(req).audio, backend.render(req).audio)   # seeded flow-matching noise


def test_a_long_clip_is_read_only_as_far_as_upstream_uses_it(backend, tmp_path):
    import soundfile as sf

    from takefit.engine.errors import InputError
    from takefit.engine.indextts.model import MAX_CLIP_SECONDS

    long = tmp_path / "long.wav"
    t = np.arange(40 * 16000) / 16000
    sf.write(long, (0.2 * np.sin(2 * np.pi * 180 * t)).astype(np.float32), 16000)
    excerpt = backend.model.clips.excerpt(str(long))
    assert excerpt != str(long) and sf.info(excerpt).frames == MAX_CLIP_SECONDS * 16000
    take = backend.render(RenderRequest(LINE, voice=str(long), target=Target.parse("1.2s")))
    assert len(take.audio) == int(1.2 * 48000)
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    with pytest.raises(InputError, match="WAV, FLAC, OGG"):
        backend.render(RenderRequest(LINE, voice=str(bad), target=Target.parse("1.2s")))


def test_a_clip_voice_is_known_by_its_file_for_the_cache(backend, tiny, tmp_path):
    clip = tmp_path / "carol.wav"
    _clip(clip, 250, 4)
    before = backend.voice_identity(str(clip))
    assert before == backend.voice_identity(str(clip)) and str(clip) in before
    _clip(clip, 260, 5)
    os.utime(clip, ns=(1, 1))
    assert backend.voice_identity(str(clip)) != before
    assert backend.voice_identity("alice").startswith(str(tiny.model_dir / "voices" / "alice.wav"))
