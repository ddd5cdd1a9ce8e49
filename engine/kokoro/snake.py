"""The decoder's Snake activations as `takefit.Snake` nodes (the compiled kernel: native.py).

Kokoro's exporter wrote each Snake x + sin²(αx)/α as

    Mul(α, x) → Sin → Pow(·, 2) → Mul(1/α, ·) → Add(x, ·)

with α and 1/α as per-channel initializers. Each such chain becomes one node reading x, α and 1/α;
the harmonic source's own Sin (not fed by a Mul) stays. On the VNNI decoder a Snake before a
convolution's im2col becomes `SnakeColumns` (the quantised columns in one node, bit for bit), and with
the AdaIN before it `NormSnakeColumns` (the norm's seven passes over the tensor, and often a transpose,
folded in).
Run as a module with a library path, it prints the kernel's largest difference from onnxruntime's five
nodes, or inf where a columns node is not onnxruntime's own within its tolerance (native.py's check).
"""
from __future__ import annotations

import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .graph_edit import DOMAIN, graph_index, im2col_nodes, is_turn, prune_unused
from .time_major import keep_streams_time_major


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
    if len(turn) != 1 or not is_turn(turn[0]):
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


def _made_by(names, producer, op: str):
    """(value, node) of the first of `names` that an `op` node produces, else (None, None)."""
    return next(((v, producer[v]) for v in names if v in producer and producer[v].op_type == op), (None, None))


def _over_time(mean, inits) -> bool:
    """A ReduceMean over the last axis of [1, C, T] that keeps it (axes as input from opset 18, else attribute)."""
    keep = next((a.i for a in mean.attribute if a.name == "keepdims"), 1)
    axes = next((list(a.ints) for a in mean.attribute if a.name == "axes"), None)
    if axes is None and len(mean.input) == 2 and mean.input[1] in inits:
        axes = numpy_helper.to_array(inits[mean.input[1]]).tolist()
    return keep == 1 and axes in ([2], [-1])


def instance_norm(div, producer, inits):
    """(x, epsilon) of an instance norm over time that the exporter wrote as
    Div(Sub(x, ReduceMean(x)), Sqrt(Add(ReduceMean(Sub²), ε))), or None."""
    sub, sqrt = producer.get(div.input[0]), producer.get(div.input[1])
    if sub is None or sqrt is None or sub.op_type != "Sub" or sqrt.op_type != "Sqrt":
        return None
    mean, shift = producer.get(sub.input[1]), producer.get(sqrt.input[0])
    if mean is None or mean.op_type != "ReduceMean" or mean.input[0] != sub.input[0] or not _over_time(mean, inits) \
            or shift is None or shift.op_type != "Add":
        return None
    eps = next((i for i in shift.input if i in inits), None)
    _, var = _made_by(shift.input, producer, "ReduceMean")
    square = var and producer.get(var.input[0])
    if eps is None or var is None or not _over_time(var, inits) or square is None or square.op_type != "Mul" \
            or list(square.input) != [sub.output[0]] * 2:
        return None
    return sub.input[0], float(numpy_helper.to_array(inits[eps]).reshape(-1)[0])


def norm_chain(columns, producer, inits):
    """The AdaIN before one SnakeColumns — Add(Mul(scale, instance norm of x), shift) — as the inputs and
    attributes of NormSnakeColumns, or None. A norm over a matrix product's transposed output reads the
    product itself (time_major): the transpose is not needed."""
    add = producer.get(columns.input[0])
    if add is None or add.op_type != "Add":
        return None
    for value in add.input:
        mul = producer.get(value)
        norm, div = _made_by(mul.input, producer, "Div") if mul is not None and mul.op_type == "Mul" else (None, None)
        found = div and instance_norm(div, producer, inits)
        if not found:
            continue
        x, eps = found
        turn = producer.get(x)
        time_major = is_turn(turn)
        scale = next(i for i in mul.input if i != norm)
        shift = next(i for i in add.input if i != value)
        return [turn.input[0] if time_major else x, scale, shift], {"epsilon": eps, "time_major": int(time_major)}
    return None


def fuse_norms(model: onnx.ModelProto) -> int:
    """Each SnakeColumns after an AdaIN becomes one `NormSnakeColumns` node (after fuse_columns); the
    norm's own nodes go where nothing else reads them. Returns how many."""
    graph = model.graph
    producer, _, inits = graph_index(graph)
    done = 0
    for columns in [n for n in graph.node if n.op_type == "SnakeColumns" and n.domain == DOMAIN]:
        chain = norm_chain(columns, producer, inits)
        if chain is None:
            continue
        inputs, attributes = chain
        geometry = {a.name: a.i for a in columns.attribute}
        graph.node.insert(list(graph.node).index(columns), helper.make_node(
            "NormSnakeColumns", inputs + list(columns.input[1:]), list(columns.output), domain=DOMAIN,
            name=columns.name.replace("SnakeColumns", "NormSnakeColumns"), **geometry, **attributes))
        graph.node.remove(columns)
        done += 1
    prune_unused(graph)
    return done


def fuse_kernels(model: onnx.ModelProto) -> int:
    """Every Snake as the compiled kernel's node, those before an im2col as SnakeColumns, and those after
    an AdaIN with its norm as NormSnakeColumns, which then read the residual streams time-major
    (time_major.py). Returns how many Snakes were fused."""
    fused = fuse_snakes(model)
    if fuse_columns(model) and fuse_norms(model):
        keep_streams_time_major(model)
    return fused


def _norm_nodes(x: str, channels: int, time_major: bool, eps: float) -> tuple[list, list, str]:
    """AdaIN as the exporter wrote it — instance norm over time, × scale, + shift — on x ([1, C, T], or
    [1, T, C] transposed first, as after a matrix product)."""
    rng = np.random.default_rng(1)
    inits = [numpy_helper.from_array(rng.uniform(0.5, 2.0, (1, channels, 1)).astype(np.float32), "gain"),
             numpy_helper.from_array(rng.normal(0, 0.5, (1, channels, 1)).astype(np.float32), "shift"),
             numpy_helper.from_array(np.array([2], np.int64), "time"), numpy_helper.from_array(np.float32(eps), "eps")]
    nodes = [helper.make_node("Transpose", [x], ["xc"], perm=[0, 2, 1])] if time_major else []
    x = "xc" if time_major else x
    nodes += [helper.make_node("ReduceMean", [x, "time"], ["mean"]), helper.make_node("Sub", [x, "mean"], ["d"]),
              helper.make_node("Mul", ["d", "d"], ["d2"]), helper.make_node("ReduceMean", ["d2", "time"], ["var"]),
              helper.make_node("Add", ["var", "eps"], ["ve"]), helper.make_node("Sqrt", ["ve"], ["sd"]),
              helper.make_node("Div", ["d", "sd"], ["n"]), helper.make_node("Mul", ["gain", "n"], ["g"]),
              helper.make_node("Add", ["g", "shift"], ["xn"])]
    return nodes, inits, "xn"


def _snake_model(channels: int, length: int, alpha: np.ndarray, columns: dict | None = None,
                 norm: dict | None = None) -> onnx.ModelProto:
    """One Snake on [1, channels, length] as the exporter wrote it; with `columns` (kernel, dilation, pad)
    followed by the VNNI decoder's quantised im2col (int8.py), whose outputs the graph then returns; with
    `norm` (time_major, eps) after an AdaIN."""
    inits = [numpy_helper.from_array(alpha, "alpha"), numpy_helper.from_array(1 / alpha, "inv_alpha"),
             numpy_helper.from_array(np.array(2, np.float32), "two")]
    nodes, x = [], "x"
    if norm:
        nodes, more_inits, x = _norm_nodes("x", channels, norm["time_major"], norm["eps"])
        inits += more_inits
    nodes += [helper.make_node("Mul", ["alpha", x], ["z"]), helper.make_node("Sin", ["z"], ["s"]),
              helper.make_node("Pow", ["s", "two"], ["p"]), helper.make_node("Mul", ["inv_alpha", "p"], ["m"]),
              helper.make_node("Add", [x, "m"], ["y"])]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
    if columns:
        nodes.append(helper.make_node("DynamicQuantizeLinear", ["y"], ["yq", "scale", "zero"]))
        more, more_inits, col = im2col_nodes("c", "yq", "zero", columns["kernel"], columns["dilation"], columns["pad"])
        nodes, inits = nodes + more, inits + more_inits
        outputs = [helper.make_tensor_value_info(col, TensorProto.UINT8, None),
                   helper.make_tensor_value_info("scale", TensorProto.FLOAT, None),
                   helper.make_tensor_value_info("zero", TensorProto.UINT8, None)]
    shape = [1, length, channels] if norm and norm["time_major"] else [1, channels, length]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)
    return helper.make_model(helper.make_graph(nodes, "snake", [x], outputs, inits),
                             opset_imports=[helper.make_opsetid("", 18)])


# the decoder's convolutions after a Snake: 'same' padding, kernels 3/7/11, dilations 1/3/5
GEOMETRIES = ({"kernel": 3, "dilation": 1, "pad": 1}, {"kernel": 7, "dilation": 3, "pad": 9},
              {"kernel": 11, "dilation": 5, "pad": 25})


def _near(graph: list[np.ndarray], fused: list[np.ndarray]) -> bool:
    """NormSnakeColumns against the graph's AdaIN, Snake and im2col: its sums run in another order, so a
    code may move by one step where a value sits on a rounding edge (measured: 1 in 40 000)."""
    (codes, scale, zero), (codes2, scale2, zero2) = graph, fused
    moved = codes.astype(np.int16) - codes2.astype(np.int16)
    return codes.shape == codes2.shape and zero == zero2 and abs(scale2 / scale - 1) <= 1e-5 \
        and np.abs(moved).max() <= 1 and np.mean(moved != 0) <= 1e-3


def check(library: str, channels: int = 64, length: int = 4000) -> float:
    """Largest |Snake kernel − onnxruntime's five nodes| on activations of the decoder's range and far
    beyond; infinite if SnakeColumns' bytes, scale or zero point differ from onnxruntime's own
    quantisation and im2col of the same Snake, or NormSnakeColumns' are not those within a step."""
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    alpha = rng.uniform(0.05, 3.0, (1, channels, 1)).astype(np.float32)
    x = (rng.standard_normal((1, channels, length)) * 3).astype(np.float32)
    x[0, 0] = np.linspace(-300, 300, length)          # large arguments: the range reduction
    x[0, 1, :3] = (0.0, -0.0, 1e-30)
    options = ort.SessionOptions()
    options.register_custom_ops_library(library)
    options.log_severity_level = 3

    def run(model: onnx.ModelProto, *rewrites, feed=x) -> list[np.ndarray]:
        model = onnx.ModelProto.FromString(model.SerializeToString())
        if sum(rewrite(model) for rewrite in rewrites) != len(rewrites):
            return []
        return ort.InferenceSession(model.SerializeToString(), options,
                                    providers=["CPUExecutionProvider"]).run(None, {"x": feed})

    plain = _snake_model(channels, length, alpha)
    error = float(np.max(np.abs(run(plain)[0] - run(plain, fuse_snakes)[0])))
    # channels of other means and spreads, as a convolution's output before its norm
    spread = (x * rng.uniform(0.01, 2, (1, channels, 1)) + rng.normal(0, 3, (1, channels, 1))).astype(np.float32)
    for geometry in GEOMETRIES:
        model = _snake_model(channels, length, alpha, geometry)
        graph, fused = run(model, fuse_snakes), run(model, fuse_snakes, fuse_columns)
        if len(fused) != 3 or not all(a.shape == b.shape and np.array_equal(a, b) for a, b in zip(graph, fused)):
            return float("inf")
        for time_major in (0, 1):
            model = _snake_model(channels, length, alpha, geometry, {"time_major": time_major, "eps": 1e-5})
            feed = np.ascontiguousarray(spread.transpose(0, 2, 1)) if time_major else spread
            graph = run(model, fuse_snakes, fuse_columns, feed=feed)
            fused = run(model, fuse_snakes, fuse_columns, fuse_norms, feed=feed)
            if len(fused) != 3 or not _near(graph, fused):
                return float("inf")
    return error


if __name__ == "__main__":
    print(check(sys.argv[1]))
