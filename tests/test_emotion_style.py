"""Emotion through the prosody half of the style vector, and the calibration of its totals."""
from __future__ import annotations

import numpy as np
import pytest

from takefit.engine.emotion import Emotion
from takefit.engine.emotion.delivery import DIRECTIONS, NEUTRAL_DELIVERY, Delivery, shape_energy, shape_f0
from takefit.engine.emotion.style import MAX_MOVE, directions
from takefit.engine.kokoro.prosody import voicing_weight

LINE = "We missed the last bus and had to walk home in the rain."


def _semitones(f0):
    f = np.asarray(f0, np.float64).reshape(-1)
    v = voicing_weight(f) >= 1
    st = 12 * np.log2(f[v])
    return st.mean(), st.std()


def test_shipped_directions_each_move_their_own_feature():
    d = directions()
    assert d.units.shape == (3, 128) and d.effects.shape == (3, 3)
    # measured on the built-in voices: each direction changes its own feature most (in its own units)
    assert np.all(np.diag(d.effects) > 0)
    assert d.effects[0, 0] > 0.04 and d.effects[1, 1] > 0.4 and d.effects[2, 2] > 0.3


def test_the_move_follows_the_delivery_and_neutral_moves_nothing():
    d = directions()
    assert not np.any(d.move(NEUTRAL_DELIVERY))
    angry, sad = d.move(DIRECTIONS["angry"]), d.move(DIRECTIONS["sad"])
    assert np.dot(angry, sad) < 0                         # opposite deliveries, opposite moves
    coef = np.linalg.lstsq(d.units.T, angry, rcond=None)[0]
    assert np.all(np.abs(coef) <= MAX_MOVE + 1e-5)        # stays within the voices' own spread
    # the requested feature changes have the documented signs: faster, wider, louder
    want = d.effects @ coef
    assert want[0] < 0 and want[1] > 0 and want[2] > 0


def test_style_row_keeps_the_timbre_half_bit_exact():
    style = np.random.default_rng(0).standard_normal((1, 256)).astype(np.float32)
    moved = directions().apply(style, DIRECTIONS["happy"])
    assert np.array_equal(moved[0, :128], style[0, :128])
    assert not np.allclose(moved[0, 128:], style[0, 128:])


def test_f0_calibration_lands_the_documented_level_and_range_against_the_reference():
    rng = np.random.default_rng(1)
    reference = 180 * 2 ** (rng.standard_normal(200) * 3 / 12)            # voice's own curve: 3 st spread
    emotional = 200 * 2 ** (rng.standard_normal(200) * 4.5 / 12)          # style-moved curve: other level/range
    d = Delivery(f0_shift=2.5, f0_range=1.45)
    out = shape_f0(emotional, d, reference=reference)
    mu_ref, sd_ref = _semitones(reference)
    mu, sd = _semitones(out)
    assert mu == pytest.approx(mu_ref + 2.5, abs=0.05)
    assert sd == pytest.approx(1.45 * sd_ref, rel=0.02)
    # the emotional curve's own shape survives: its frame order is kept (model-placed contour)
    assert np.corrcoef(np.log(out), np.log(emotional))[0, 1] > 0.999


def test_energy_calibration_adds_exactly_the_documented_effort():
    rng = np.random.default_rng(2)
    reference = np.where(np.arange(300) % 50 < 35, 6.0, -9.0) + rng.standard_normal(300)
    emotional = reference + 0.8 + 0.3 * rng.standard_normal(300)
    out = shape_energy(emotional.astype(np.float32), Delivery(energy=1.5), reference.astype(np.float32))
    w = np.clip((reference + 2) / 4, 0, 1)
    assert np.sum(w * (out - reference)) / np.sum(w) == pytest.approx(1.5, abs=1e-3)


def test_emotional_plan_moves_only_the_prosody_half_and_keeps_the_rate(engine):
    emotion = Emotion.parse("angry 1.0")
    neutral = engine.plan(LINE, "am_onyx")
    angry = engine.plan(LINE, "am_onyx", delivery=engine.emotions.resolve(emotion).delivery)
    for chunk in angry.chunks:
        assert chunk.prosody_style is not None
        assert np.array_equal(chunk.prosody_style[0, :128], chunk.style[0, :128])
        assert not np.allclose(chunk.prosody_style[0, 128:], chunk.style[0, 128:])
    assert all(c.prosody_style is None for c in neutral.chunks)
    speech = [i for i, it in enumerate(neutral.items) if it.kind not in ("pause", "join")]
    nat = np.array([neutral.items[i].predicted for i in speech])
    emo = np.array([angry.items[i].predicted for i in speech])
    # the total speech time is the documented rate; the split between segments is the model's own
    assert nat.sum() / emo.sum() == pytest.approx(DIRECTIONS["angry"].rate, rel=0.01)
    assert not np.allclose(emo / emo.sum(), nat / nat.sum(), atol=1e-3)


def test_emotional_f0_is_the_models_contour_calibrated_to_the_table(engine):
    """On a deep male voice (most voiced frames 65-100 Hz) the level moves by the documented shift."""
    plan = engine.plan(LINE, "am_onyx", delivery=DIRECTIONS["sad"])
    chunk = plan.chunks[0]
    frames = np.maximum(1, np.round([it.predicted for it in plan.items[:len(chunk.tokens)]]))
    model = engine.model
    f0_ref, n_ref = model.prosody(chunk.tokens, chunk.style, frames)
    f0_emo, n_emo = model.prosody(chunk.tokens, chunk.prosody_style, frames)
    f0, _ = chunk.shape(f0_emo, n_emo, f0_ref, n_ref)
    mu_ref, sd_ref = _semitones(f0_ref)
    mu, sd = _semitones(f0)
    assert mu - mu_ref == pytest.approx(DIRECTIONS["sad"].f0_shift, abs=0.35)   # − the phrase-final fall
    assert sd / sd_ref < 0.85
    assert voicing_weight(f0_ref.reshape(-1)).mean() > 0.4       # deep voice counts as voiced
    # the shaped contour is not the neutral contour scaled: the model placed it differently
    v = (voicing_weight(f0_ref.reshape(-1)) >= 1) & (voicing_weight(f0.reshape(-1)) >= 1)
    scaled = np.log(f0_ref.reshape(-1)[v])
    assert np.corrcoef(scaled, np.log(f0.reshape(-1)[v]))[0, 1] < 0.995
