"""Decoder adaptation: an enrolled voice's offsets to the decoder's AdaIN style projections (issue #23).

Every AdaIN layer of the decoder maps the style's timbre half (128 numbers) through a linear layer (its
`fc`) to the gains and shifts it applies to its channels: 58 layers, 37,396 gains and shifts in all. A
style vector reaches only a 128-dimensional slice of them; an offset added to the fc biases reaches the
rest, so an enrolled voice can carry what no point of the style space holds (engine/enroll/invert.py
learns it with Δ). Rendering it needs no torch: at the first adapted voice's render the decoder stage
reopens its graph with those biases turned into inputs (ONNX "overridable initializers": an input that is
not fed keeps its initializer's value; kokoro/decoder.py) and feeds base + offset; every other voice, fed
nothing, renders bit for bit as on the plain graph. Kokoro's, but kept outside kokoro/: profiles.py holds
an Adaptation, and kokoro/voices.py imports profiles.py.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from .errors import InputError

FC_BIAS_SUFFIX = ".fc.bias"


def adaptable_biases(graph) -> dict[str, np.ndarray]:
    """The AdaIN fc biases of an ONNX decoder graph, by initializer name: the float vectors added to the
    style projections (`…/fc/Gemm_Add`)."""
    from onnx import numpy_helper

    inits = {i.name: i for i in graph.initializer}
    names = [n.input[1] for n in graph.node if n.op_type == "Add" and len(n.input) == 2
             and n.input[1].endswith(FC_BIAS_SUFFIX) and n.input[1] in inits]
    return {name: numpy_helper.to_array(inits[name]).astype(np.float32) for name in dict.fromkeys(names)}


def adaptable_model(path, rewrite=None) -> tuple[bytes, dict[str, np.ndarray]]:
    """The decoder graph at `path` with its fc biases as overridable inputs, and the biases' values;
    `rewrite(model)` changes it first (the compiled Snakes: kokoro/snake.py)."""
    import onnx

    model = onnx.load(str(path))
    if rewrite is not None:
        rewrite(model)
    biases = adaptable_biases(model.graph)
    for name, value in biases.items():
        model.graph.input.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, list(value.shape)))
    return model.SerializeToString(), biases


@dataclass(frozen=True, eq=False)
class Adaptation:
    """Offsets to some fc biases (name → vector of that bias's length), float32, finite."""
    offsets: dict[str, np.ndarray]

    def __post_init__(self):
        for name, v in self.offsets.items():
            if not name.endswith(FC_BIAS_SUFFIX):
                raise ValueError(f"adaptation entry {name!r} is not an AdaIN fc bias")
            if v.ndim != 1 or v.dtype != np.float32 or not np.all(np.isfinite(v)):
                raise ValueError(f"adaptation entry {name!r} must be a finite float32 vector")

    @property
    def size(self) -> int:
        return sum(len(v) for v in self.offsets.values())

    def rms(self) -> float:
        """The offsets' root mean square (the biases themselves measure ≈ 0.06–0.1)."""
        flat = self.flat()
        return float(np.sqrt(np.mean(flat ** 2))) if len(flat) else 0.0

    def digest(self) -> str:
        h = hashlib.blake2b(digest_size=16)
        for name in sorted(self.offsets):
            h.update(name.encode())
            h.update(self.offsets[name].tobytes())
        return h.hexdigest()

    def layout(self) -> list[list]:
        """[[name, length], …] in storage order (a profile's metadata)."""
        return [[name, len(v)] for name, v in self.offsets.items()]

    def flat(self) -> np.ndarray:
        return np.concatenate(list(self.offsets.values())) if self.offsets else np.zeros(0, np.float32)

    @classmethod
    def unpack(cls, layout: list, flat: np.ndarray) -> Adaptation:
        """The inverse of (layout(), flat()); a layout that does not add up to the vector is refused."""
        sizes = [int(n) for _, n in layout]
        if len({str(name) for name, _ in layout}) != len(layout):
            raise ValueError("adaptation layout names a layer twice")
        if sum(sizes) != len(flat):
            raise ValueError(f"adaptation layout covers {sum(sizes)} values, the stored vector has {len(flat)}")
        cuts = np.cumsum([0, *sizes])
        return cls({str(name): np.ascontiguousarray(flat[a:b], np.float32)
                    for (name, _), a, b in zip(layout, cuts[:-1], cuts[1:])})

    def feeds(self, biases: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The session inputs: each adapted bias as base + offset."""
        unknown = [n for n in self.offsets if n not in biases]
        if unknown:
            raise InputError(f"this enrolled voice adapts {len(unknown)} decoder layer(s) this model does not have "
                             f"(e.g. {unknown[0]}): it was enrolled on another model; enroll it again")
        out = {}
        for name, off in self.offsets.items():
            if off.shape != biases[name].shape:
                raise InputError(f"this enrolled voice's adaptation of {name} has {off.shape[0]} values, the "
                                 f"model's layer {biases[name].shape[0]}: enroll it again")
            out[name] = biases[name] + off
        return out
