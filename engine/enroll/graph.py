"""The int8 decoder graph, executed in float by PyTorch node by node, so the style can get gradients.

No hand port of the decoder: the ONNX graph's own nodes run as torch ops. Quantisation is undone
rather than emulated — DynamicQuantizeLinear passes its input through with scale 1 and zero point 0,
MatMulInteger / ConvInteger become float ops on (weight − zero_point), and the scale multiplications
already in the graph dequantise; the bias-quantisation Floor/Cast nodes become identities. Only the
nodes that depend on the style (~1,870 of ~2,100) run in torch; every other tensor they read (text
encoder, alignment, F0/N convolutions, harmonic source) comes from one onnxruntime pass, since it
does not change while the style is optimised. Convolutions and the Snake activations keep less for the
backward pass than torch's own ops would (saving.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F
from onnx import numpy_helper

from ..adaptation import adaptable_biases
from ..kokoro.prosody import DURATIONS, ENERGY, F0
from .saving import conv1d, snake

STYLE = "style"
INT_CASTS = {2, 3, 5, 6, 12}          # uint8 int8 int16 int32 uint32: quantised values stay float here


def _attrs(node) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _ints(t) -> list[int]:
    return [int(v) for v in (t.tolist() if isinstance(t, torch.Tensor) else np.asarray(t).reshape(-1).tolist())]


def _axes(t, rank: int) -> list[int]:
    return sorted(a % rank for a in _ints(t))


def _conv_pads(pads: list[int]) -> tuple[int, list[int] | None]:
    """Symmetric pads go to conv's own padding; asymmetric ones are applied with F.pad first."""
    n = len(pads) // 2
    if pads[:n] == pads[n:]:
        return pads[0], None
    return 0, [v for i in reversed(range(n)) for v in (pads[i], pads[i + n])]


def _conv(x, w, b, a):
    pad, pre = _conv_pads(list(a.get("pads", [0, 0])))
    if pre:
        x = F.pad(x, pre)
    return conv1d(x, w, b, a.get("strides", [1])[0], pad, a.get("dilations", [1])[0], a.get("group", 1))


def _slice(x, starts, ends, axes=None, steps=None):
    starts, ends = _ints(starts), _ints(ends)
    axes = _ints(axes) if axes is not None else list(range(len(starts)))
    steps = _ints(steps) if steps is not None else [1] * len(starts)
    idx = [slice(None)] * x.dim()
    for s, e, ax, st in zip(starts, ends, axes, steps):
        n = x.shape[ax]
        s = max(0, min(n, s + n if s < 0 else s))
        e = max(0, min(n, e + n if e < 0 else e))
        if st != 1:
            raise NotImplementedError("Slice with step ≠ 1")
        idx[ax % x.dim()] = slice(s, e)
    return x[tuple(idx)]


def _gather(x, idx, axis):
    idx = idx.long() if isinstance(idx, torch.Tensor) else torch.as_tensor(idx).long()
    axis %= x.dim()
    idx = torch.where(idx < 0, idx + x.shape[axis], idx)
    out = x.index_select(axis, idx.reshape(-1))
    return out.reshape(*x.shape[:axis], *idx.shape, *x.shape[axis + 1:])


def _reshape(x, shape):
    shape = [x.shape[i] if v == 0 else v for i, v in enumerate(_ints(shape))]
    return x.reshape(shape)


def _scatter_nd(data, indices, updates):
    idx = indices.long()
    return data.index_put(tuple(idx[..., k] for k in range(idx.shape[-1])), updates)


def _resize(x, roi, scales, sizes=None, a=None):
    if a.get("mode", b"nearest") not in (b"nearest", "nearest") or sizes is not None and len(sizes):
        raise NotImplementedError("Resize other than nearest-by-scale")
    for ax, s in enumerate(_float_list(scales)):
        if s != 1:
            if s != int(s):
                raise NotImplementedError("non-integer nearest resize")
            x = x.repeat_interleave(int(s), dim=ax)
    return x


def _float_list(t) -> list[float]:
    return [float(v) for v in (t.tolist() if isinstance(t, torch.Tensor) else np.asarray(t).reshape(-1).tolist())]


def _pad(x, pads, value=None, axes=None, a=None):
    mode = a.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    p = _ints(pads)
    n = len(p) // 2
    torch_pads = []
    for i in reversed(range(n)):
        torch_pads += [p[i], p[i + n]]
    while torch_pads and torch_pads[-2:] == [0, 0]:      # drop leading unpadded dims (torch wants few)
        torch_pads = torch_pads[:-2]
    return F.pad(x, torch_pads, mode=mode)


# One ONNX node → its torch function f(*inputs) -> tuple of outputs. Each translator receives the node and
# its attributes, read once when the decoder is built.
Translator = Callable[[Any, dict], Callable]


def _pow(x, y):
    """x ** y, a one-element exponent as a number: the decoder's 50 Pow nodes all square (Snake's sin², the
    norms), and torch's tensor-exponent path is generic — 13× the time of a number 2, forward and backward."""
    if isinstance(y, torch.Tensor) and y.numel() == 1 and not y.requires_grad:
        y = y.item()
    return torch.pow(x, y)


_ELEMENTWISE = {
    "Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": torch.div, "Pow": _pow,
    "Sqrt": torch.sqrt, "Sin": torch.sin, "Cos": torch.cos, "Exp": torch.exp, "Tanh": torch.tanh,
}


def _onnx_elementwise(node, a: dict) -> Callable:
    f = _ELEMENTWISE[node.op_type]
    return lambda *x: (f(*x),)


def _onnx_dynamic_quantize(node, a: dict) -> Callable:
    one, zero = torch.tensor(1.0), torch.tensor(0.0)
    return lambda x: (x, one, zero)


def _onnx_cast(node, a: dict) -> Callable:
    to = a["to"]
    if to in INT_CASTS or to == 1:
        return lambda x: (x.float() if isinstance(x, torch.Tensor) else torch.as_tensor(x, dtype=torch.float32),)
    if to == 7:
        return lambda x: (x.long(),)
    raise NotImplementedError(f"Cast to {to}")


def _onnx_floor(node, a: dict) -> Callable:
    if "bias_quant" in node.name:
        return lambda x: (x,)
    return lambda x: (torch.floor(x),)


def _onnx_matmul_integer(node, a: dict) -> Callable:
    return lambda x, w, xz=None, wz=None: (torch.matmul(x, w),)   # w is already (w − zp), x's zp is 0


def _onnx_conv_integer(node, a: dict) -> Callable:
    return lambda x, w, xz=None, wz=None: (_conv(x, w, None, a),)


def _onnx_conv(node, a: dict) -> Callable:
    return lambda x, w, b=None: (_conv(x, w, b, a),)


def _onnx_conv_transpose(node, a: dict) -> Callable:
    def convt(x, w, b=None):
        pad, pre = _conv_pads(list(a.get("pads", [0, 0])))
        if pre:
            raise NotImplementedError("asymmetric ConvTranspose pads")
        return (F.conv_transpose1d(x, w, b, stride=a.get("strides", [1])[0], padding=pad,
                                   output_padding=a.get("output_padding", [0])[0], groups=a.get("group", 1),
                                   dilation=a.get("dilations", [1])[0]),)
    return convt


def _onnx_reduce_mean(node, a: dict) -> Callable:
    keep = bool(a.get("keepdims", 1))
    return lambda x, axes=None: (x.mean(dim=_axes(axes, x.dim()), keepdim=keep),)


def _onnx_reshape(node, a: dict) -> Callable:
    return lambda x, s: (_reshape(x, s),)


def _onnx_split(node, a: dict) -> Callable:
    axis = a.get("axis", 0)
    return lambda x, s: tuple(torch.split(x, _ints(s), dim=axis))


def _onnx_unsqueeze(node, a: dict) -> Callable:
    def unsq(x, axes):
        for ax in _axes(axes, x.dim() + len(_ints(axes))):
            x = x.unsqueeze(ax)
        return (x,)
    return unsq


def _onnx_squeeze(node, a: dict) -> Callable:
    def sq(x, axes=None):
        for ax in sorted(_axes(axes, x.dim()), reverse=True):
            x = x.squeeze(ax)
        return (x,)
    return sq


def _onnx_leaky_relu(node, a: dict) -> Callable:
    alpha = a.get("alpha", 0.01)
    return lambda x: (F.leaky_relu(x, alpha),)


def _onnx_concat(node, a: dict) -> Callable:
    axis = a["axis"]
    return lambda *xs: (torch.cat([torch.as_tensor(v) for v in xs], dim=axis),)


def _onnx_slice(node, a: dict) -> Callable:
    return lambda *x: (_slice(*x),)


def _onnx_gather(node, a: dict) -> Callable:
    axis = a.get("axis", 0)
    return lambda x, i: (_gather(x, i, axis),)


def _onnx_scatter_nd(node, a: dict) -> Callable:
    return lambda d, i, u: (_scatter_nd(d, i, u),)


def _onnx_resize(node, a: dict) -> Callable:
    return lambda x, roi=None, scales=None, sizes=None: (_resize(x, roi, scales, sizes, a),)


def _onnx_pad(node, a: dict) -> Callable:
    return lambda x, pads, value=None, axes=None: (_pad(x, pads, value, axes, a),)


_TRANSLATORS: dict[str, Translator] = {
    **{t: _onnx_elementwise for t in _ELEMENTWISE},
    "DynamicQuantizeLinear": _onnx_dynamic_quantize, "Cast": _onnx_cast, "Floor": _onnx_floor,
    "MatMulInteger": _onnx_matmul_integer, "ConvInteger": _onnx_conv_integer, "Conv": _onnx_conv,
    "ConvTranspose": _onnx_conv_transpose, "ReduceMean": _onnx_reduce_mean, "Reshape": _onnx_reshape,
    "Split": _onnx_split, "Unsqueeze": _onnx_unsqueeze, "Squeeze": _onnx_squeeze, "LeakyRelu": _onnx_leaky_relu,
    "Concat": _onnx_concat, "Slice": _onnx_slice, "Gather": _onnx_gather, "ScatterND": _onnx_scatter_nd,
    "Resize": _onnx_resize, "Pad": _onnx_pad,
}


def _op(node) -> Callable:
    """The torch function for one ONNX node: f(*inputs) -> tuple of outputs."""
    a, t = _attrs(node), node.op_type
    translate = _TRANSLATORS.get(t)
    if translate is None:
        raise NotImplementedError(f"ONNX op {t} ({node.name}) has no torch translation")
    return translate(node, a)


def _snake_chains(nodes: list, consts: dict) -> dict[int, tuple[list[str], str, set[int]]]:
    """The Snake activations among `nodes` (Mul(α, x) → Sin → Pow 2 → Mul(c, ·) → Add(x, ·), each link read
    only by the next): {index of the Add: ([x, α, c], the Add's output, the indices of the other four)}."""
    readers: dict[str, list[int]] = {}
    for i, n in enumerate(nodes):
        for name in n.input:
            readers.setdefault(name, []).append(i)

    def next_op(i: int | None, op: str) -> int | None:
        """The one node reading node i's output, if it is an `op`."""
        r = readers.get(nodes[i].output[0], []) if i is not None else []
        return r[0] if len(r) == 1 and nodes[r[0]].op_type == op else None

    def other(i: int, name: str) -> str:
        a, b = nodes[i].input
        return b if a == name else a

    chains = {}
    for mul, n in enumerate(nodes):
        sin = next_op(mul, "Sin") if n.op_type == "Mul" else None
        pw = next_op(sin, "Pow")
        add = next_op(scale := next_op(pw, "Mul"), "Add")
        if add is None or np.ndim(two := consts.get(nodes[pw].input[1])) != 0 or two != 2:
            continue
        x = next((v for v in n.input if v in nodes[add].input), None)
        if x is not None:
            chains[add] = ([x, other(mul, x), other(scale, nodes[pw].output[0])], nodes[add].output[0],
                           {mul, sin, pw, scale})
    return chains


@dataclass
class _Step:
    fn: Callable
    inputs: list[str]
    outputs: list[str]
    op: str
    drop: tuple[str, ...] = ()       # tensors no later step reads: released right after this one


def _snake_step(inputs: list[str], output: str) -> _Step:
    return _Step(lambda x, alpha, c: (snake(x, alpha, c),), inputs, [output], "Snake")


class TorchDecoder:
    """decoder(style) → waveform, differentiable in the style; inputs fixed by `prepare`."""

    def __init__(self, decoder_path: Path, threads: int | None = None):
        model = onnx.load(str(decoder_path))
        g = model.graph
        self.output = g.output[0].name
        consts: dict[str, object] = {i.name: numpy_helper.to_array(i) for i in g.initializer}
        for n in g.node:
            if n.op_type == "Constant":
                consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
        # the style-dependent subgraph; a tensor's shape never depends on the style's values
        dep, self.steps = {STYLE}, []
        dep_nodes = []
        for n in g.node:
            if n.op_type != "Shape" and any(i in dep for i in n.input):
                dep.update(n.output)
                dep_nodes.append(n)
        needed = {i for n in dep_nodes for i in n.input if i and i not in dep}
        self.fetch = sorted(i for i in needed if i not in consts and i != STYLE and
                            i not in {x.name for x in g.input})
        self.graph_inputs = [x.name for x in g.input]
        self.const = {}
        for name in needed & set(consts):
            v = consts[name]
            self.const[name] = torch.from_numpy(np.array(v, dtype=np.float32 if v.dtype.kind in "fui" and
                                                         v.dtype not in (np.int64,) else v.dtype))
        # integer weights: precompute (w − zero point) once, in float
        for n in dep_nodes:
            if n.op_type in ("MatMulInteger", "ConvInteger") and n.input[1] in consts:
                w = consts[n.input[1]].astype(np.float32)
                zp = consts[n.input[3]].astype(np.float32) if len(n.input) > 3 and n.input[3] else 0.0
                if n.op_type == "ConvInteger" and np.ndim(zp) == 1:
                    zp = zp.reshape(-1, *([1] * (w.ndim - 1)))
                self.const[n.input[1]] = torch.from_numpy(np.ascontiguousarray(w - zp))
        self.steps = self._steps(dep_nodes, consts, dep)
        self.n_nodes, self.n_torch = len(g.node), len(dep_nodes)
        # the AdaIN fc biases an adaptation may offset (engine/adaptation.py), all inside the torch part
        self.biases = {name: self.const[name] for name in adaptable_biases(g) if name in self.const}
        # onnxruntime session that also returns the style-independent tensors the torch part reads
        for name in self.fetch:
            g.output.append(onnx.ValueInfoProto(name=name))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or 0
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(model.SerializeToString(), sess_options=opts,
                                            providers=["CPUExecutionProvider"])
        self.fixed: dict[str, torch.Tensor] = {}

    def _steps(self, dep_nodes: list, consts: dict, dep: set[str]) -> list[_Step]:
        """One step per node, each Snake chain one step; each step names the tensors it is the last to read."""
        chains = _snake_chains(dep_nodes, consts)
        absorbed = set().union(*(inner for _, _, inner in chains.values()))
        steps = [_snake_step(*chains[i][:2]) if i in chains else _Step(_op(n), list(n.input), list(n.output), n.op_type)
                 for i, n in enumerate(dep_nodes) if i not in absorbed]
        last = {name: i for i, step in enumerate(steps) for name in step.inputs}
        for i, step in enumerate(steps):
            step.drop = tuple(dict.fromkeys(x for x in step.inputs if x in dep and x != STYLE and last[x] == i
                                            and x != self.output))
        return steps

    def prepare(self, tokens: np.ndarray, style: np.ndarray, frames: np.ndarray, f0: np.ndarray,
                energy: np.ndarray) -> np.ndarray:
        """One onnxruntime pass for the fixed tensors; returns onnxruntime's own waveform."""
        feeds = {"tokens": tokens.reshape(1, -1).astype(np.int64), STYLE: style.reshape(1, 256).astype(np.float32),
                 DURATIONS: np.asarray(frames, np.float32).reshape(1, -1), F0: np.asarray(f0, np.float32),
                 ENERGY: np.asarray(energy, np.float32)}
        outs = self.session.run([self.output, *self.fetch], feeds)
        self.fixed = {}
        for name, v in zip(self.fetch, outs[1:]):
            self.fixed[name] = torch.from_numpy(np.array(v, dtype=np.float32 if v.dtype.kind == "f" else v.dtype))
        for name, v in feeds.items():
            if name != STYLE:
                self.fixed[name] = torch.from_numpy(v)
        return outs[0].reshape(-1)

    def __call__(self, style: torch.Tensor, offsets: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """The waveform for `style`; `offsets` (bias name → tensor) are added to those fc biases."""
        env: dict[str, object] = {STYLE: style.reshape(1, 256)}
        const, fixed = self.const, self.fixed
        if offsets:
            const = {**const, **{name: const[name] + off for name, off in offsets.items()}}
        for step in self.steps:
            args = []
            for name in step.inputs:
                if not name:
                    args.append(None)
                elif name in env:
                    args.append(env[name])
                elif name in const:
                    args.append(const[name])
                else:
                    args.append(fixed[name])
            for name, value in zip(step.outputs, step.fn(*args)):
                env[name] = value
            # free what no later step reads: only autograd's saved tensors stay alive, so the forward's
            # peak memory (and the page faults of touching it the first time) shrink
            for name in step.drop:
                del env[name]
        return env[self.output].reshape(-1)
