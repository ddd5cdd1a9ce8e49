"""Speaker embeddings (engine/speaker.py): both encoders on real takes from the engine."""
import numpy as np
import pytest

from takefit.engine import RenderRequest

from takefit.engine import speaker
import torch

LINES = ("The quick brown fox jumps over the lazy dog near the river bank.",
         "Please call me back when you get home tonight, it is important.")


KEYS = [(v, i) for v in ("af_heart", "am_michael") for i in range(len(LINES))]


class Takes(dict):
    """(voice, line) → its take, rendered when first asked for: the fast lane's test needs two of the four."""

    def __init__(self, engine):
        super().__init__()
        self.engine = engine

    def __missing__(self, key):
        voice, i = key
        self[key] = self.engine.render(RenderRequest(LINES[i], voice=voice, loudness=None))
        return self[key]


@pytest.fixture(scope="module")
def takes(engine):
    return Takes(engine)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["resemblyzer", "dvector"])
def test_same_voice_is_closer_than_another_voice(takes, kind):
    enc = speaker.encoder(kind)
    emb = {k: enc.embed(takes[k].audio, takes[k].sample_rate) for k in KEYS}
    for e in emb.values():
        assert abs(np.linalg.norm(e) - 1) < 1e-4
    same = speaker.cosine(emb["af_heart", 0], emb["af_heart", 1])
    other = speaker.cosine(emb["af_heart", 0], emb["am_michael", 1])
    assert same > 0.75 and same - other > 0.15, (same, other)


def test_resemblyzer_embedding_is_differentiable(takes):
    enc = speaker.encoder("resemblyzer")
    take = takes["af_heart", 0]
    wav = torch.from_numpy(speaker.to_encoder_rate(take.audio, take.sample_rate)).requires_grad_(True)
    target = torch.from_numpy(enc.embed(takes["am_michael", 0].audio, take.sample_rate))
    loss = 1 - enc.embed_torch(wav) @ target
    loss.backward()
    assert wav.grad is not None and torch.isfinite(wav.grad).all() and wav.grad.abs().sum() > 0


def test_unknown_encoder_is_named():
    with pytest.raises(ValueError, match="accepted resemblyzer, dvector"):
        speaker.encoder("xvector")
