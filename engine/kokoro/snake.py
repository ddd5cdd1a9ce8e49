"""The decoder's Snake activations as `takefit.Snake` nodes (the compiled kernel: native.py).

Kokoro's exporter wrote each Snake x + sin²(αx)/α as

    Mul(α, x) → Sin → Pow(·, 2) → Mul(1/α, ·) → Add(x, ·)

with α and 1/α as per-channel initializers. Each such chain becomes one node reading x, α and 1/α;
the harmonic source's own Sin (not fed by a Mul) stays. Run as a module with a library path, it
prints the kernel's largest difference from onnxruntime's five nodes (native.py's check).
"""
from __future__ import annotations

import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .graph_edit import graph_index, im2col_nodes, prune_unused

DOMAIN = "takefit"


def snake_chain(sin, producer, consumers, inits):
    """(x, α, 1/α, the nodes to replace) around one Sin, or None if it is not a Snake."""
    scale = producer.get(sin.input[0])
    if scale is None or scale.op_type != "Mul" or len(consumers.get(sin.output[0], [])) != 1:
        return None
    alpha = next((i for i in scale.input if i in inits), None)
    x = next((i for i in scale.input if i != alpha), None)
    power = consumers[sin.output[0]][0]
    inverse = (consumers.get(power.output[0]) or [None])[0]
    add = inverse and (consumers.get(inverse.output[0]) or [None])[0]
    if alpha is None or power.op_type != "Pow" or inverse is None or inverse.op_type != "Mul" \
            or add is None or add.op_type != "Add" or x not in add.input:
        return None
    inv_alpha = next((i for i in inverse.input if i in inits), None)
    return (x, alpha, inv_alpha, (scale, sin, power, inverse, add)) if inv_alpha else None


def fuse_snakes(model: onnx.ModelProto) -> int:
    """Replace every Snake chain of `model` in place; returns how many."""
    graph = model.graph
    producer, consumers, inits = graph_index(graph)
    done = 0
    for sin in [n for n in graph.node if n.op_type == "Sin"]:
        chain = snake_chain(sin, producer, consumers, inits)
        if chain is None:
            continue
        x, alpha, inv_alpha, nodes = chain
        add = nodes[-1]
        graph.node.insert(list(graph.node).index(add), helper.make_node(
            "Snake", [x, alpha, inv_alpha], [add.output[0]], domain=DOMAIN, name=add.name + "/Snake"))
        for n in nodes:
            graph.node.remove(n)
        done += 1
    prune_unused(graph)
    if done and not any(o.domain == DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(DOMAIN, 1))
    return done


def column_chain(snake, producer, consumers, inits):
    """(geometry, the nodes to replace, the columns' value) of the VNNI decoder's im2col after one Snake
    (int8.py: DynamicQuantizeLinear → Transpose → [Pad → one Slice per tap → Concat]), or None."""
    after = consumers.get(snake.output[0], [])
    if len(after) != 1 or after[0].op_type != "DynamicQuantizeLinear":
        return None
    dql = after[0]
    turn = consumers.get(dql.output[0], [])
    if len(turn) != 1 or turn[0].op_type != "Transpose" or list(turn[0].attribute[0].ints) != [0, 2, 1]:
        return None
    nodes, nxt = [dql, turn[0]], consumers.get(turn[0].output[0], [])
    if len(nxt) == 1 and nxt[0].op_type == "MatMulIntegerToFloat":          # a 1-tap convolution
        return {"kernel": 1, "dilation": 1, "pad": 0}, nodes, turn[0].output[0]
    if len(nxt) != 1 or nxt[0].op_type != "Pad" or nxt[0].input[0] != turn[0].output[0]:
        return None
    pad = nxt[0]
    slices = consumers.get(pad.output[0], [])
    concat = (consumers.get(slices[0].output[0]) or [None])[0] if slices else None
    if concat is None or concat.op_type != "Concat" or any(n.op_type != "Slice" for n in slices):
        return None
    starts = [int(numpy_helper.to_array(inits[n.input[1]])[0]) for n in slices]
    order = sorted(range(len(slices)), key=starts.__getitem__)
    width = int(numpy_helper.to_array(inits[pad.input[1]])[1])
    dilation = starts[order[1]] - starts[order[0]] if len(slices) > 1 else 1
    if list(concat.input) != [slices[i].output[0] for i in order] or starts[order[0]] != 0:
        return None
    return {"kernel": len(slices), "dilation": dilation, "pad": width}, nodes + [pad, *slices, concat], concat.output[0]


def fuse_columns(model: onnx.ModelProto) -> int:
    """Each Snake whose output only feeds the VNNI decoder's im2col becomes one `SnakeColumns` node
    (after fuse_snakes); returns how many."""
    graph = model.graph
    producer, consumers, inits = graph_index(graph)
    done = 0
    for snake in [n for n in graph.node if n.op_type == "Snake" and n.domain == DOMAIN]:
        chain = column_chain(snake, producer, consumers, inits)
        if chain is None:
            continue
        geometry, nodes, columns = chain
        dql = nodes[0]
        graph.node.insert(list(graph.node).index(nodes[-1]), helper.make_node(
            "SnakeColumns", list(snake.input), [columns, dql.output[1], dql.output[2]], domain=DOMAIN,
            name=snake.name + "Columns", **geometry))
        for n in [snake, *nodes]:
            graph.node.remove(n)
        done += 1
    prune_unused(graph)
    return done


def fuse_kernels(model: onnx.ModelProto) -> int:
    """Every Snake as the compiled kernel's node, and those before an im2col as SnakeColumns."""
    return fuse_snakes(model) + fuse_columns(model)


def _snake_model(channels: int, length: int, alpha: np.ndarray, columns: dict | None = None) -> onnx.ModelProto:
    """One Snake on [1, channels, length] as the exporter wrote it; with `columns` (kernel, dilation, pad)
    followed by the VNNI decoder's quantised im2col (int8.py), whose outputs the graph then returns."""
    inits = [numpy_helper.from_array(alpha, "alpha"), numpy_helper.from_array(1 / alpha, "inv_alpha"),
             numpy_helper.from_array(np.array(2, np.float32), "two")]
    nodes = [helper.make_node("Mul", ["alpha", "x"], ["z"]), helper.make_node("Sin", ["z"], ["s"]),
             helper.make_node("Pow", ["s", "two"], ["p"]), helper.make_node("Mul", ["inv_alpha", "p"], ["m"]),
             helper.make_node("Add", ["x", "m"], ["y"])]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
    if columns:
        nodes.append(helper.make_node("DynamicQuantizeLinear", ["y"], ["yq", "scale", "zero"]))
        more, more_inits, col = im2col_nodes("c", "yq", "zero", columns["kernel"], columns["dilation"], columns["pad"])
        nodes, inits = nodes + more, inits + more_inits
        outputs = [helper.make_tensor_value_info(col, TensorProto.UINT8, None),
                   helper.make_tensor_value_info("scale", TensorProto.FLOAT, None),
                   helper.make_tensor_value_info("zero", TensorProto.UINT8, None)]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, length])
    return helper.make_model(helper.make_graph(nodes, "snake", [x], outputs, inits),
                             opset_imports=[helper.make_opsetid("", 17)])


# the decoder's convolutions after a Snake: 'same' padding, kernels 3/7/11, dilations 1/3/5
GEOMETRIES = ({"kernel": 3, "dilation": 1, "pad": 1}, {"kernel": 7, "dilation": 3, "pad": 9},
              {"kernel": 11, "dilation": 5, "pad": 25})


def check(library: str, channels: int = 64, length: int = 4000) -> float:
    """Largest |Snake kernel − onnxruntime's five nodes| on activations of the decoder's range and far
    beyond; infinite if SnakeColumns' bytes, scale or zero point differ from onnxruntime's own
    quantisation and im2col of the same Snake."""
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    alpha = rng.uniform(0.05, 3.0, (1, channels, 1)).astype(np.float32)
    x = (rng.standard_normal((1, channels, length)) * 3).astype(np.float32)
    x[0, 0] = np.linspace(-300, 300, length)          # large arguments: the range reduction
    x[0, 1, :3] = (0.0, -0.0, 1e-30)
    options = ort.SessionOptions()
    options.register_custom_ops_library(library)
    options.log_severity_level = 3

    def run(model: onnx.ModelProto, *rewrites) -> list[np.ndarray]:
        model = onnx.ModelProto.FromString(model.SerializeToString())
        for rewrite in rewrites:
            rewrite(model)
        return ort.InferenceSession(model.SerializeToString(), options,
                                    providers=["CPUExecutionProvider"]).run(None, {"x": x})

    plain = _snake_model(channels, length, alpha)
    error = float(np.max(np.abs(run(plain)[0] - run(plain, fuse_snakes)[0])))
    for geometry in GEOMETRIES:
        model = _snake_model(channels, length, alpha, geometry)
        graph, fused = run(model, fuse_snakes), run(model, fuse_snakes, fuse_columns)
        if not all(a.shape == b.shape and np.array_equal(a, b) for a, b in zip(graph, fused)):
            return float("inf")
    return error


if __name__ == "__main__":
    print(check(sys.argv[1]))
