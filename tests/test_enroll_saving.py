"""Enrollment's backward pass keeps less (engine/enroll/saving.py) and computes the same: the same forward
values bit for bit, the same gradients toward the style."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")         # the enroll extra (make setup installs it)
F = torch.nn.functional

from takefit.engine.enroll import graph, saving                     # noqa: E402


def _kept_bytes(f, *args) -> int:
    """Bytes autograd keeps for backward while f(*args) runs, each storage counted once."""
    seen: dict[int, int] = {}

    def pack(t):
        seen[t.data_ptr()] = t.numel() * t.element_size()
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        f(*args)
    return sum(seen.values())


def _five_nodes(x, alpha, c):
    """Snake as the ONNX graph spells it, each op recorded by autograd on its own."""
    return torch.add(x, torch.mul(c, torch.pow(torch.sin(torch.mul(alpha, x)), 2)))


@pytest.mark.parametrize("stride,padding,dilation,groups", [(1, 1, 1, 1), (1, 6, 3, 1), (2, 0, 1, 4), (1, 2, 1, 8)])
def test_constant_weight_conv_is_conv1d_without_keeping_its_input(stride, padding, dilation, groups):
    g = torch.Generator().manual_seed(stride * 10 + dilation)
    x = torch.randn(1, 8, 301, generator=g, requires_grad=True)
    w, b = torch.randn(16, 8 // groups, 3, generator=g), torch.randn(16, generator=g)
    grad = torch.randn_like(F.conv1d(x, w, b, stride, padding, dilation, groups))
    plain = F.conv1d(x, w, b, stride, padding, dilation, groups)
    (want,) = torch.autograd.grad(plain, x, grad)
    ours = saving.conv1d(x, w, b, stride, padding, dilation, groups)
    (got,) = torch.autograd.grad(ours, x, grad)
    assert torch.equal(ours, plain)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert _kept_bytes(saving.conv1d, x, w, b, stride, padding, dilation, groups) == w.numel() * 4
    assert _kept_bytes(F.conv1d, x, w, b, stride, padding, dilation, groups) > x.numel() * 4


def test_conv_with_a_learned_weight_keeps_torchs_own_gradients():
    x, w = torch.randn(1, 4, 50, requires_grad=True), torch.randn(4, 4, 3, requires_grad=True)
    saving.conv1d(x, w, None, 1, 1, 1, 1).sum().backward()
    assert w.grad is not None and x.grad is not None


def test_snake_is_its_five_onnx_nodes_keeping_one_tensor():
    g = torch.Generator().manual_seed(7)
    x = torch.randn(1, 32, 400, generator=g, requires_grad=True)
    alpha = torch.rand(1, 32, 1, generator=g) + 0.2
    c = 1 / (alpha + 1e-9)
    grad = torch.randn(1, 32, 400, generator=g)

    plain = _five_nodes(x, alpha, c)
    (want,) = torch.autograd.grad(plain, x, grad)
    ours = saving.snake(x, alpha, c)
    (got,) = torch.autograd.grad(ours, x, grad)
    assert torch.equal(ours, plain)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert _kept_bytes(saving.snake, x, alpha, c) == (x.numel() + alpha.numel() + c.numel()) * 4
    assert _kept_bytes(_five_nodes, x, alpha, c) >= 2 * x.numel() * 4


@pytest.mark.slow
def test_decoder_runs_every_snake_as_one_step_with_the_same_waveform_and_gradient(engine, monkeypatch):
    """The real decoder graph: 48 Snake chains found; with torch's own conv1d and the five Snake ops in their
    place, the same waveform bit for bit and the same gradient toward the style."""
    from takefit.engine.kokoro import KokoroModel
    from takefit.engine.kokoro.duration import natural_frames

    ch = engine.plan("Good morning.", "af_heart").chunks[0]
    style = KokoroModel.style_row(engine.voice_bank.table("af_heart"), len(ch.phonemes)).reshape(-1)
    frames = natural_frames(engine.model.duration(ch.tokens, style.reshape(1, -1))).astype(np.float32)
    f0, energy = engine.model.prosody(ch.tokens, style.reshape(1, -1), frames)
    dec = graph.TorchDecoder(engine.paths.stage("decoder"), threads=2)
    dec.prepare(ch.tokens, style, frames, f0, energy)
    assert sum(step.op == "Snake" for step in dec.steps) == 48

    def wave_and_gradient():
        s = torch.from_numpy(style.astype(np.float32)).requires_grad_(True)
        wave = dec(s)
        (wave * torch.linspace(-1, 1, len(wave))).square().mean().backward()
        return wave.detach().numpy(), s.grad.numpy()

    wave, gradient = wave_and_gradient()
    monkeypatch.setattr(graph, "snake", _five_nodes)
    monkeypatch.setattr(graph, "conv1d", lambda x, w, b, st, pad, dil, gr: F.conv1d(x, w, b, st, pad, dil, gr))
    plain_wave, plain_gradient = wave_and_gradient()
    assert np.array_equal(wave, plain_wave)
    np.testing.assert_allclose(gradient, plain_gradient, rtol=1e-4, atol=1e-6 * np.abs(plain_gradient).max())
