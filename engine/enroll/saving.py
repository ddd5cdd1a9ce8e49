"""Autograd functions that keep less for the backward pass than the node-by-node graph would.

Enrollment only ever needs gradients toward the style (and the AdaIN biases): every convolution weight is a
constant. PyTorch's own convolution still saves its input for a weight gradient nobody asks for, and the
decoder's 48 Snake activations, run as five ONNX nodes, save two full-size tensors each (Sin's input,
Pow's input). Together that is 40 % of what one forward newly keeps alive (1.22 → 0.73 GB for a 3 s sentence,
bench/results/enroll_saved.md): memory to fault in on the first step and to hold on every step. Forward values are the same operations in the same
order, so the waveform is unchanged bit for bit; only how the backward pass gets its inputs differs.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.grad import conv1d_input


class ConstantWeightConv(torch.autograd.Function):
    """conv1d whose weight and bias need no gradient: keeps the input's shape, not the input."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride: int, padding: int, dilation: int, groups: int):
        ctx.save_for_backward(weight)               # a constant the decoder holds anyway: nothing new kept
        ctx.shape, ctx.params = x.shape, (stride, padding, dilation, groups)
        return F.conv1d(x, weight, bias, stride=stride, padding=padding, dilation=dilation, groups=groups)

    @staticmethod
    def backward(ctx, grad):
        (weight,) = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.params
        dx = conv1d_input(ctx.shape, weight, grad, stride=stride, padding=padding, dilation=dilation, groups=groups)
        return dx, None, None, None, None, None, None


def conv1d(x, weight, bias, stride: int, padding: int, dilation: int, groups: int):
    """F.conv1d, through ConstantWeightConv when only the input can need a gradient."""
    if not x.requires_grad or weight.requires_grad or (bias is not None and bias.requires_grad):
        return F.conv1d(x, weight, bias, stride=stride, padding=padding, dilation=dilation, groups=groups)
    return ConstantWeightConv.apply(x, weight, bias, stride, padding, dilation, groups)


class Snake(torch.autograd.Function):
    """x + c·sin²(αx) (the generator's activation, c = 1/α) with constant α and c: keeps x alone and
    recomputes the slope in the backward pass, dy/dx = 1 + cα·sin(2αx) (one sine, not a sine and a cosine)."""

    @staticmethod
    def forward(ctx, x, alpha, c):
        ctx.save_for_backward(x, alpha, c)
        s = torch.sin(torch.mul(alpha, x))         # the ONNX nodes' own order: Mul, Sin, Pow, Mul, Add
        return torch.add(x, torch.mul(c, torch.pow(s, 2)))

    @staticmethod
    def backward(ctx, grad):
        x, alpha, c = ctx.saved_tensors
        slope = torch.mul(x, 2 * alpha).sin_().mul_(c * alpha).add_(1)     # in place: one full-size buffer
        return slope.mul_(grad), None, None


def snake(x, alpha, c):
    """Snake.apply when only x can need a gradient; the plain ops otherwise."""
    if not x.requires_grad or alpha.requires_grad or c.requires_grad:
        return torch.add(x, torch.mul(c, torch.pow(torch.sin(torch.mul(alpha, x)), 2)))
    return Snake.apply(x, alpha, c)
