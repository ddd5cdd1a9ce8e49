"""The emotion data model: vector validation, presets and aliases, wire and string forms, cast and tags."""
from __future__ import annotations

import pytest

from takefit.daemon import protocol
from takefit.engine.cache import request_key
from takefit.engine import RenderRequest
from takefit.engine.emotion import EMOTIONS, Emotion, check_alpha, check_vector, preset_vector
from takefit.engine.errors import InputError
from takefit.otio_adapters import cast, tags


def test_vector_validation_names_the_problem():
    assert check_vector([0, 0.8, 0, 0, 0, 0, 0.1, 0.1]) == (0.0, 0.8, 0.0, 0.0, 0.0, 0.0, 0.1, 0.1)
    with pytest.raises(InputError, match="has 7 value.*exactly 8.*happy, angry"):
        check_vector([0.1] * 7)
    with pytest.raises(InputError, match="value for sad is 1.5; each value must be 0 to 1"):
        check_vector([0, 0, 1.5, 0, 0, 0, 0, 0])
    with pytest.raises(InputError, match="value for happy is -0.1"):
        check_vector([-0.1, 0, 0, 0, 0, 0, 0, 0])
    with pytest.raises(InputError, match="must be a number"):
        check_vector(["x", 0, 0, 0, 0, 0, 0, 0])
    with pytest.raises(InputError, match="finite"):
        check_vector([float("nan"), 0, 0, 0, 0, 0, 0, 0])
    with pytest.raises(InputError, match="list of 8 numbers"):
        check_vector("angry")
    assert check_alpha(0.8) == 0.8
    with pytest.raises(InputError, match="emo_alpha is 1.2; it must be 0 .* to 1"):
        check_alpha(1.2)
    with pytest.raises(InputError, match="emo_alpha is -0.5"):
        Emotion("angry", alpha=-0.5)


def test_presets_and_bilingual_aliases():
    assert Emotion("生气", 0.5) == Emotion("angry", 0.5)
    for alias, name in [("neutral", "calm"), ("contempt", "disgusted"), ("高兴", "happy"), ("害怕", "afraid"),
                        ("忧郁", "melancholic"), ("惊讶", "surprised"), ("SAD", "sad"), ("自然", "calm")]:
        assert Emotion(alias).preset == name
    assert preset_vector("angry", 0.7) == (0, 0.7, 0, 0, 0, 0, 0, 0)
    with pytest.raises(InputError, match="unknown emotion 'furious': accepted happy"):
        Emotion("furious")


def test_mixtures_and_alpha_scale_the_effective_vector():
    assert Emotion(vector=[0, 0.8, 0, 0, 0, 0, 0.1, 0.1], alpha=0.5).fixed_vector() == \
        (0, 0.4, 0, 0, 0, 0, 0.05, 0.05)
    v = Emotion(vector=[1, 1, 0, 0, 0, 0, 0, 0]).fixed_vector()          # over-full mixtures keep proportions
    assert v[:2] == (0.5, 0.5) and sum(v) == pytest.approx(1.0)
    assert Emotion("sad", 0.5, alpha=0.5).fixed_vector()[EMOTIONS.index("sad")] == 0.25
    assert Emotion(text="sadly").fixed_vector() is None


@pytest.mark.parametrize("doc", [
    {"preset": "angry", "intensity": 0.7}, {"vector": [0, 0.8, 0, 0, 0, 0, 0.1, 0.1], "alpha": 0.8},
    {"text": "愤怒地质问，语气急促", "alpha": 1.0}, {"reference": "/abs/angry.wav", "alpha": 0.5},
    {"from_line": True, "alpha": 0.7}])
def test_wire_form_round_trips(doc):
    e = Emotion.from_json(doc)
    assert Emotion.from_json(e.to_json()) == e
    assert protocol.validate({"op": "render", "request": {"text": "hi", "emotion": doc}})
    assert RenderRequest.from_wire(protocol.validate(
        {"op": "render", "request": {"text": "hi", "emotion": doc}})["request"]).emotion == e


@pytest.mark.parametrize("doc, match", [
    ({"preset": "angry", "text": "x"}, "exactly one"),
    ({"vector": [0.1] * 7}, "at least 8|exactly 8"),
    ({"vector": [0, 2, 0, 0, 0, 0, 0, 0]}, "out of range"),
    ({"text": "sadly", "alpha": 1.5}, "out of range"),
    ({"reference": "refs/a.wav"}, "absolute path"),
    ({"preset": "furious"}, "unknown emotion"),
    ({"mood": "sad"}, "unknown field"),
    ({"text": "x", "intensity": 0.5}, "intensity goes with a preset"),
])
def test_protocol_refuses_bad_emotions_clearly(doc, match):
    with pytest.raises(protocol.ProtocolError, match=match):
        protocol.validate({"op": "render", "request": {"text": "hi", "emotion": doc}})


def test_cache_key_covers_emotion_and_the_clip_content(tmp_path):
    base = RenderRequest("hi")
    assert request_key(base) == request_key(RenderRequest("hi", emotion=None))
    keys = {request_key(RenderRequest("hi", emotion=e)) for e in
            [None, Emotion("angry", 0.7), Emotion("angry", 0.8), Emotion(text="angrily"), Emotion(from_line=True)]}
    assert len(keys) == 5
    clip = tmp_path / "a.wav"
    clip.write_bytes(b"one")
    k1 = request_key(RenderRequest("hi", emotion=Emotion(reference=str(clip))))
    clip.write_bytes(b"two")
    assert request_key(RenderRequest("hi", emotion=Emotion(reference=str(clip)))) != k1


def test_tag_forms():
    assert tags.parse("alice | angry 0.7 | emo_alpha=0.5").emotion == Emotion("angry", 0.7, alpha=0.5)
    assert tags.parse("alice | emotion=0,0.8,0,0,0,0,0.1,0.1").emotion == \
        Emotion(vector=[0, 0.8, 0, 0, 0, 0, 0.1, 0.1])
    assert tags.parse("emotion_text=愤怒地质问，语气急促").emotion == Emotion(text="愤怒地质问，语气急促")
    assert tags.parse("bob | emotion=from_line").emotion == Emotion(from_line=True)
    assert tags.parse("bob | contempt").emotion == Emotion("disgusted")
    with pytest.raises(InputError, match="two emotions"):
        tags.parse("angry | emo_text=sadly")
    with pytest.raises(InputError, match="emo_alpha"):
        tags.parse("angry | emo_alpha=2")


CAST = """
[defaults]
emotion = [0.0, 0.8, 0, 0, 0, 0, 0.1, 0.1]
emo_alpha = 0.8

[characters.alice]
emotion_text = "愤怒地质问，语气急促"

[characters.bob]
emotion_ref = "refs/angry.wav"
emo_alpha = 0.5

[characters.carol]
emotion = "contempt 0.4"
"""


def test_cast_forms(tmp_path):
    (tmp_path / "refs").mkdir()
    (tmp_path / "refs" / "angry.wav").write_bytes(b"RIFF")
    p = tmp_path / "takefit.cast.toml"
    p.write_text(CAST, "utf-8")
    c = cast.load(p)
    assert c.defaults.emotion == Emotion(vector=[0, 0.8, 0, 0, 0, 0, 0.1, 0.1], alpha=0.8)
    assert c.character("alice").emotion == Emotion(text="愤怒地质问，语气急促")
    assert c.character("bob").emotion == Emotion(reference=str((tmp_path / "refs/angry.wav").resolve()), alpha=0.5)
    assert c.character("carol").emotion == Emotion("disgusted", 0.4)


@pytest.mark.parametrize("doc, match", [
    ("[defaults]\nemotion = 'angry'\nemotion_text = 'x'", "one of emotion, emotion_text, emotion_ref"),
    ("[defaults]\nemotion = [0.1, 0.2]", "exactly 8"),
    ("[defaults]\nemo_alpha = 0.5", "no emotion"),
    ("[defaults]\nemotion = 'sad'\nemo_alpha = 3", "emo_alpha is 3"),
    ("[characters.a]\nemotion_ref = 'missing.wav'", "no such file"),
    ("[characters.a]\nemotion_text = 'x'\nintensity = 0.2", "intensity"),
])
def test_cast_emotion_errors(tmp_path, doc, match):
    p = tmp_path / "c.toml"
    p.write_text(doc, "utf-8")
    with pytest.raises(InputError, match=match):
        cast.load(p)
