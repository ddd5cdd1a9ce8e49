"""Emotion on the real engine: prosody moves as documented, the exact fit still holds, text and
reference clips map to emotions, the daemon carries it, and the IndexTTS2 facade round-trips."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from test_daemon_support import client, daemon, fresh  # noqa: F401 (fixtures)
from takefit.engine import RenderRequest, Target
from takefit.engine.audio import write_wav
from takefit.engine.emotion import EMOTIONS, Emotion
from takefit.engine.emotion.reference import pitch_track
from takefit.engine.errors import InputError

EN = "You never told me the truth."
ZH = "你从来没有告诉我真相。"


def f0_st(audio: np.ndarray, sr: int) -> float:
    import soxr
    x = soxr.resample(audio, sr, 16000) if sr != 16000 else audio
    f0, _ = pitch_track(np.asarray(x, np.float32))
    return float(np.mean(12 * np.log2(f0[f0 > 0])))


@pytest.fixture(scope="module")
def takes(engine):
    out = {}
    for name in (None, "angry", "sad"):
        out[name] = engine.render(RenderRequest(EN, voice="af_heart", sample_rate=16000,
                                                emotion=Emotion(name) if name else None))
    return out


def test_emotion_moves_pitch_level_and_rate_as_documented(takes):
    neutral, angry, sad = takes[None], takes["angry"], takes["sad"]
    base = f0_st(neutral.audio, 16000)
    assert f0_st(angry.audio, 16000) - base > 1.0          # anger: higher
    assert f0_st(sad.audio, 16000) - base < -1.0           # sadness: lower
    assert sad.natural_seconds > neutral.natural_seconds > angry.natural_seconds   # slower / faster
    lvl = lambda t: 10 * np.log10(np.mean(t.audio ** 2))   # noqa: E731 — loudness target moves with emotion
    assert lvl(angry) > lvl(neutral) + 1.5 > lvl(sad) + 3.0
    assert angry.emotion["resolved_vector"][1] == 1.0 and angry.emotion["delivery"]["rate"] > 1


def test_a_loud_take_reaches_its_target_under_minus_1_dbtp(engine):
    """YouTube's −14 LUFS with anger's +5 dB: the limiter makes the room, and libebur128 (an independent
    meter) reads the take's true peak at the ceiling, not over it (sample peaks at −1 dBFS read +0.2 dBTP).
    A neutral read at −14 reaches it too."""
    import pyebur128 as ebur

    from takefit.engine import loudness

    take = engine.render(RenderRequest(EN, voice="am_michael", loudness=-14.0, emotion=Emotion("angry")))
    meter = ebur.R128State(1, 48000, ebur.MeasurementMode.MODE_TRUE_PEAK)
    meter.add_frames(take.audio.astype(np.float64), take.samples)
    assert 20 * np.log10(ebur.get_true_peak(meter, 0)) <= -1.0
    assert loudness.integrated(take.audio, 48000) == pytest.approx(-14.0 + 5.0, abs=0.1)
    assert not [w for w in take.warnings if "LUFS instead" in w]
    neutral = engine.render(RenderRequest(EN, voice="am_michael", loudness=-14.0))    # was held back to ≈ −21
    assert loudness.integrated(neutral.audio, 48000) == pytest.approx(-14.0, abs=0.1)
    assert -1.6 < 20 * np.log10(loudness.true_peak(neutral.audio, 48000)) <= -1.0      # limited, not crushed


def test_a_delivery_specs_ceiling_is_kept_and_keyed_apart(engine):
    """Netflix and ATSC A/85 deliver at −2 dBTP: the take reaches its loudness under that ceiling (as
    libebur128 reads it); the ceiling travels in the wire form and keys the cache only when asked."""
    import dataclasses

    import pyebur128 as ebur

    from takefit.engine import loudness
    from takefit.engine.cache import request_key

    req = RenderRequest(EN, voice="am_michael", loudness=-14.0, true_peak=-2.0)
    take = engine.render(req)
    meter = ebur.R128State(1, 48000, ebur.MeasurementMode.MODE_TRUE_PEAK)
    meter.add_frames(take.audio.astype(np.float64), take.samples)
    assert -2.3 < 20 * np.log10(ebur.get_true_peak(meter, 0)) <= -2.0
    assert loudness.integrated(take.audio, 48000) == pytest.approx(-14.0, abs=0.1)
    assert RenderRequest.from_wire(req.to_wire()) == req and req.to_wire()["true_peak"] == -2.0
    default = dataclasses.replace(req, true_peak=-1.0)
    assert "true_peak" not in default.to_wire() and request_key(default) != request_key(req)
    for bad in (-21, 0.5, float("nan"), "loud"):
        with pytest.raises(InputError, match="true-peak ceiling"):
            RenderRequest(EN, true_peak=bad)


@pytest.mark.slow
def test_emotion_then_exact_fit_keeps_the_exact_length(engine):
    for emo, target, rate, n in [(Emotion("angry", 0.8), "1.7s", 48000, 81600),
                                 (Emotion("sad"), "77@23.976", 48000, 154154),
                                 (Emotion(vector=[0, 0, 0, 0.6, 0, 0, 0.4, 0]), "0.9x", 44100, None)]:
        take = engine.render(RenderRequest(ZH, voice="zf_xiaoxiao", target=Target.parse(target), sample_rate=rate,
                                           emotion=emo))
        if n is not None:
            assert take.samples == n
        else:
            assert take.samples == round(0.9 * take.natural_seconds * rate)
        assert take.emotion is not None


def test_zero_intensity_is_the_neutral_take(engine, takes):
    t = engine.render(RenderRequest(EN, voice="af_heart", sample_rate=16000, emotion=Emotion("angry", 0.0)))
    assert np.array_equal(t.audio, takes[None].audio)


def test_text_mapping_on_a_handful():
    from takefit.engine.emotion.text import TextEmotion, intensity
    model = TextEmotion()
    for text, label in [("愤怒地质问，语气急促", "angry"), ("sadly and slowly", "sad"), ("有点害怕", "afraid"),
                        ("extremely happy and excited", "happy"), ("惊讶地问", "surprised"),
                        ("calmly, matter-of-fact", "calm"), ("with disgust", "disgusted")]:
        v = model.vector(text)
        assert EMOTIONS[int(np.argmax(v))] == label, (text, v)
        assert all(0 <= x <= 1 for x in v)
    assert intensity("有点害怕") == 0.3 and intensity("extremely happy") == 1.0 and intensity("sadly") == 0.8
    assert max(model.vector("slightly sad")) < max(model.vector("very sad"))
    with pytest.raises(InputError, match="empty"):
        model.vector("  ")


def test_a_face_put_on_is_not_the_emotion_felt():
    """Directions that name the face a character puts on over what they feel: the felt emotion leads
    (was: "furious but trying to stay calm" → calm 0.80, angry 0.12; "很伤心，却强装笑脸" → happy)."""
    from takefit.engine.emotion.text import TextEmotion, felt
    model = TextEmotion()
    for text, label in [("furious but trying to stay calm", "angry"), ("scared but pretending to be brave", "afraid"),
                        ("terrified, forcing a smile", "afraid"), ("很伤心，却强装笑脸", "sad"),
                        ("故作镇定，其实很害怕", "afraid")]:
        v = model.vector(text)
        assert EMOTIONS[int(np.argmax(v))] == label, (text, v)
    assert felt("furious but trying to stay calm").split() == ["furious", "but"]
    # a face alone is all there is to go on; a felt emotion hidden ("hides it") is still felt
    assert felt("trying to stay calm") == "trying to stay calm" and felt("angry, though she hides it") == \
        "angry, though she hides it"


@pytest.mark.slow
def test_reference_clip_transfers_its_delivery(engine, takes, tmp_path):
    from takefit.engine.emotion.reference import transfer
    clips = {}
    for name in ("angry", "sad"):                      # a few seconds, as a reference clip would be
        take = engine.render(RenderRequest(EN + " I waited for you all night, and you did not even call.",
                                           voice="af_bella", sample_rate=16000, emotion=Emotion(name)))
        clips[name] = tmp_path / f"{name}.wav"
        sf.write(clips[name], take.audio, 16000)
    vec_a, d_a = transfer(clips["angry"])
    vec_s, d_s = transfer(clips["sad"])
    # the clip's own speaker is unknown, so what transfers is relative: the angry clip is wider,
    # higher and louder than the sad one (rate is measured too, but too noisily to assert on)
    assert d_a.f0_range > d_s.f0_range and d_s.f0_range < 1 and d_a.f0_shift > d_s.f0_shift
    assert d_a.gain_db > d_s.gain_db and d_s.gain_db < 0
    assert EMOTIONS[int(np.argmax(vec_s))] in ("sad", "melancholic", "calm")
    half = transfer(clips["sad"], alpha=0.5)[1]                       # emo_alpha blends toward neutral
    assert d_s.f0_range < half.f0_range < 1 and d_s.gain_db < half.gain_db < 0
    t = engine.render(RenderRequest(EN, voice="am_michael", sample_rate=16000,
                                    emotion=Emotion(reference=str(clips["sad"]))))
    assert t.emotion["source"] == "reference"
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(4000, np.float32), 16000)
    with pytest.raises(InputError, match="at least 1 s"):
        engine.render(RenderRequest(EN, emotion=Emotion(reference=str(short))))
    with pytest.raises(InputError, match="not found"):
        engine.render(RenderRequest(EN, emotion=Emotion(reference=str(tmp_path / "nope.wav"))))


def test_cli_emotion_prints_the_vector_dominant_first(capsys):
    from takefit.bridges.cli import main
    assert main(["emotion", "愤怒地质问，语气急促", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["dominant"] == "angry" and doc["ranked"][0]["emotion"] == "angry" and len(doc["vector"]) == 8
    assert main(["emotion", "contempt 0.5"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1].split()[:2] == ["disgusted", "0.50"]
    assert main(["emotion", "angry 1.5"]) == 2
    assert "out of range" in capsys.readouterr().err


@pytest.mark.slow
def test_daemon_renders_emotion_and_keys_the_cache_by_it(client):
    target, n = fresh(1.3)
    a = client.render("Get out of here.", target=target, inline=True, emotion={"preset": "angry", "intensity": 1.0})
    b = client.render("Get out of here.", target=target, inline=True, emotion=Emotion("sad"))
    c = client.render("Get out of here.", target=target, inline=True, emotion="angry 1.0")
    assert a.samples == b.samples == n and not a.cached and not b.cached and c.cached
    assert not np.array_equal(a.load(), b.load())


@pytest.fixture(scope="module")
def tts(engine, tmp_path_factory):
    import os
    from takefit.engine.compat import IndexTTS2
    d = tmp_path_factory.mktemp("compat")
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(d / "cache")                 # compute the voice table for real
    spk = d / "speaker.wav"
    take = engine.render(RenderRequest("我们明天早上八点在学校门口见面。", voice="zm_yunxi"))
    write_wav(spk, take.audio, take.sample_rate)
    emo = d / "emo.wav"
    sad = engine.render(RenderRequest("我真的很想念那些日子。", voice="zf_xiaoyi", emotion=Emotion("sad")))
    write_wav(emo, sad.audio, sad.sample_rate)
    yield (IndexTTS2(cfg_path="checkpoints/config.yaml", model_dir="checkpoints", engine=engine,
                     enroll_quality="preview"), spk, emo, d)
    if old is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = old


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["none", "emo_vector", "emo_text", "from_line", "emo_audio"])
def test_indextts2_facade_round_trip(tts, mode):
    model, spk, emo, d = tts
    text = "你怎么能这样对我？我们说好的！"
    kw = {"none": {}, "emo_vector": {"emo_vector": [0, 0.8, 0, 0, 0, 0, 0.1, 0.1], "emo_alpha": 0.9},
          "emo_text": {"use_emo_text": True, "emo_text": "愤怒地质问，语气急促"},
          "from_line": {"use_emo_text": True}, "emo_audio": {"emo_audio_prompt": str(emo), "emo_alpha": 0.7}}[mode]
    out = d / f"{mode}.wav"
    assert model.infer(str(spk), text, str(out), **kw, verbose=False, temperature=0.8, top_p=0.8) == str(out)
    info = sf.info(str(out))
    assert info.samplerate == 48000 and info.subtype == "PCM_24" and info.frames > 48000
    assert model._voice_for_prompt(spk, "zh") == "zm_yunxi"        # the prompt's speaker, found by d-vector
    if mode in ("emo_vector", "emo_audio"):                          # takefit's extra: exactly 2.5 s
        exact = model.infer(str(spk), text, str(d / f"{mode}_exact.wav"), duration=2.5, **kw)
        assert sf.info(exact).frames == 120000


def test_indextts2_facade_returns_audio_without_a_path_and_segments(tts):
    model, spk, _, _ = tts
    sr, pcm = model.infer(str(spk), "第一句话。第二句话。", None, max_text_tokens_per_segment=5, interval_silence=300)
    assert sr == 48000 and pcm.dtype == np.int16 and pcm.shape[1] == 1
    from takefit.engine.compat import segment
    assert segment("第一句话。第二句话。", 5) == ["第一句话。", "第二句话。"]
    assert segment("One two. Three four.", 120) == ["One two. Three four."]
    # emo_vector overrides the emotion clip (IndexTTS2's precedence)
    assert model._emotion("x.wav", 1.0, [0, 1, 0, 0, 0, 0, 0, 0], False, None, "t").kind == "vector"
    with pytest.raises(InputError, match="value for angry is 2"):
        model.infer(str(spk), "你好。", None, emo_vector=[0, 2, 0, 0, 0, 0, 0, 0])
    with pytest.raises(InputError, match="spk_audio_prompt"):
        model.infer("/nonexistent.wav", "你好。", None)


@pytest.mark.slow
def test_indextts2_facade_enrolls_the_speaker_prompt_once(engine, tts):
    from takefit.engine.compat import IndexTTS2
    from takefit.engine.profiles import ProfileStore

    _, short, _, d = tts
    spk = d / "speaker_long.wav"                                    # enrollment wants ≥ 3 s of speech
    take = engine.render(RenderRequest("我们明天早上八点在学校门口见面，别忘了带上你的作业和午饭。", voice="zm_yunxi"))
    write_wav(spk, take.audio, take.sample_rate)
    model = IndexTTS2(engine=engine, enroll_steps=1)                # real enrollment, one optimiser step
    with pytest.warns(UserWarning, match="no consent record"):
        voice = model._voice_for_prompt(spk, "zh")
    assert voice.startswith("prompt-") and ProfileStore().exists(voice)
    profile = ProfileStore().load(voice)
    assert profile.consent is None and profile.language == "zh"
    again = IndexTTS2(engine=engine, consent="x")                   # another object: the profile is reused
    assert again._voice_for_prompt(spk, "zh") == voice
    out = again.infer(str(spk), "你好。", str(d / "enrolled.wav"), duration=1.5)
    assert sf.info(out).frames == 72000
    with pytest.warns(UserWarning, match="cannot be enrolled"):     # too short to enroll: the preview voice
        assert IndexTTS2(engine=engine, consent="x")._voice_for_prompt(short, "zh") == "zm_yunxi"
