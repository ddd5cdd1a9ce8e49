"""Issue #23's objective terms (engine/enroll/objective.py): the learned channel (off by default, smooth,
bounded) and the cepstrum term (the cepstra's mean and spread held to the reference's)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from takefit.engine.enroll.objective import (CEPSTRUM_WEIGHT, CHANNEL_LIMIT_DB, CHANNEL_LOW_HZ, FULL_BAND,
                                             Channel, Objective)


class _Encoder:
    """Stands in for Resemblyzer (a fixed projection of the spectrum): the channel's maths, not the encoder's."""

    def __init__(self):
        self.w = torch.from_numpy(np.random.default_rng(0).standard_normal((64, 257)).astype(np.float32))

    def embed_torch(self, wav16: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(wav16, 512, 160, window=torch.hann_window(512), return_complex=True).abs().mean(1)
        e = self.w @ torch.log(spec + 1e-4)
        return e / e.norm()


def _voice(seconds: float = 1.0, seed: int = 1) -> np.ndarray:
    """A buzz with a formant-like colour: energy across the voice band, as the terms expect."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(24000 * seconds)) / 24000
    x = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 40)) + 0.05 * rng.standard_normal(len(t))
    return (0.1 * x).astype(np.float32)


def test_off_by_default_leaves_the_objective_unchanged():
    ref, gen = _voice(seed=1), torch.from_numpy(_voice(seed=2))
    enc = _Encoder()
    off, on = Objective(ref, 12000.0, enc, cepstrum_weight=0), Objective(ref, 12000.0, enc, channel_bands=12,
                                                                         cepstrum_weight=0)
    assert off.channel is None
    loss_off, terms_off = off(gen)
    loss_flat, terms_flat = on(gen)          # a fresh channel is flat (0 dB): the same loss, no penalty
    assert terms_off.channel == 0.0 and terms_flat.channel == 0.0
    assert loss_flat.item() == pytest.approx(loss_off.item(), abs=1e-5)
    assert terms_flat.speaker == pytest.approx(terms_off.speaker, abs=1e-5)


def test_the_channel_learns_a_smooth_bounded_curve():
    ref = _voice(seed=1)
    # the reference through a microphone: +8 dB around 2–4 kHz
    spec = np.fft.rfft(ref)
    f = np.fft.rfftfreq(len(ref), 1 / 24000)
    coloured = np.fft.irfft(spec * 10 ** (8 * np.exp(-((np.log(f + 1) - np.log(3000)) ** 2) / 0.2) / 20), len(ref))
    obj = Objective(coloured.astype(np.float32), 12000.0, _Encoder(), channel_bands=12, cepstrum_weight=0)
    gen = torch.from_numpy(_voice(seed=2))
    opt = torch.optim.Adam([obj.channel.raw], lr=0.5)
    first = None
    for _ in range(30):
        loss, terms = obj(gen)
        first = first if first is not None else terms.spectrum
        opt.zero_grad()
        loss.backward()
        opt.step()
    curve = obj.channel.curve()
    assert terms.spectrum < first                                        # it learned the colour …
    assert curve.gains_db[np.argmin(abs(curve.centres_hz - 3000))] > 2.0  # … where it is
    assert np.all(np.abs(curve.gains_db) <= CHANNEL_LIMIT_DB)
    assert curve.centres_hz[0] > CHANNEL_LOW_HZ and curve.centres_hz[-1] < FULL_BAND
    # the per-bin response is the bands' gains interpolated: never beyond them, 0 dB at the ends
    db = (obj.channel.basis(len(gen)) @ obj.channel.gains_db()).detach().numpy()
    assert db.max() <= curve.gains_db.max() + 1e-4 and db.min() >= min(0.0, curve.gains_db.min()) - 1e-4
    assert db[0] == 0.0 and db[-1] == 0.0
    assert np.abs(np.diff(db)).max() < 0.1                               # smooth: no step between bins


def test_a_bound_held_by_the_tanh():
    ch = Channel(12, FULL_BAND)
    with torch.no_grad():
        ch.raw += 1000.0
    assert ch.gains_db().max().item() <= CHANNEL_LIMIT_DB


def test_one_band_is_refused():
    with pytest.raises(ValueError, match="≥ 2 bands"):
        Channel(1, FULL_BAND)


def _vowels(seconds: float, formants: tuple[float, ...], seed: int) -> np.ndarray:
    """A buzz through resonances that move from frame to frame (a talker's changing envelope)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(24000 * seconds)) / 24000
    buzz = sum(np.sin(2 * np.pi * 120 * k * t) / k for k in range(1, 60))
    spec, f = np.fft.rfft(buzz), np.fft.rfftfreq(len(t), 1 / 24000)
    env = sum(np.exp(-((f - fc) / (80 + 40 * i)) ** 2) for i, fc in enumerate(formants))
    x = np.fft.irfft(spec * (0.05 + env), len(t)) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    return (0.1 * x / np.abs(x).max() + 0.002 * rng.standard_normal(len(t))).astype(np.float32)


def test_the_cepstrum_term_holds_the_envelope_not_the_level():
    ref = _vowels(1.5, (700, 1200, 2600), seed=1)
    obj = Objective(ref, 12000.0, _Encoder())
    assert obj.cepstrum_weight == CEPSTRUM_WEIGHT > 0
    _, same = obj(torch.from_numpy(ref))
    _, louder = obj(torch.from_numpy(4 * ref))
    _, other = obj(torch.from_numpy(_vowels(1.5, (300, 2300, 3000), seed=2)))
    assert same.cepstrum < 1e-4 and louder.cepstrum < 1e-3       # the reference itself, at any level: nothing
    assert other.cepstrum > 0.3                                    # another envelope: far
    off = Objective(ref, 12000.0, _Encoder(), cepstrum_weight=0)
    loss_on, _ = obj(torch.from_numpy(_vowels(1.5, (300, 2300, 3000), seed=2)))
    loss_off, terms_off = off(torch.from_numpy(_vowels(1.5, (300, 2300, 3000), seed=2)))
    assert terms_off.cepstrum == 0.0
    assert loss_on.item() == pytest.approx(loss_off.item() + CEPSTRUM_WEIGHT * other.cepstrum, rel=1e-4)


def test_the_cepstrum_term_gives_the_decoder_a_gradient():
    ref = _vowels(1.5, (700, 1200, 2600), seed=1)
    gen = torch.from_numpy(_vowels(1.5, (500, 1500, 2500), seed=3)).requires_grad_()
    with_term, without = (torch.autograd.grad(Objective(ref, 12000.0, _Encoder(), cepstrum_weight=w)(gen)[0], gen)[0]
                          for w in (CEPSTRUM_WEIGHT, 0))
    assert torch.isfinite(with_term).all()
    assert (with_term - without).abs().sum() > 0                   # the term pulls on the waveform
