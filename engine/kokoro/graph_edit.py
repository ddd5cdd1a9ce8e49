"""Small helpers for rewriting a stage graph in place (int8.py's convolutions, snake.py's Snakes)."""
from __future__ import annotations

import numpy as np
from onnx import helper, numpy_helper

DOMAIN = "takefit"      # the operators of takefit's compiled kernels (kernels/snake.c, native.py)
TURN = [0, 2, 1]        # [1, C, T] ↔ [1, T, C]: channels and time swapped


def is_turn(node) -> bool:
    """A Transpose swapping channels and time (as the VNNI decoder's im2col and matrix products write)."""
    return node is not None and node.op_type == "Transpose" and list(node.attribute[0].ints) == TURN


def graph_index(graph):
    """(producer of each value, consumers of each value, initializers by name)."""
    producer = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    return producer, consumers, {t.name: t for t in graph.initializer}


def prune_unused(graph) -> None:
    """Drop nodes whose outputs nobody reads, and initializers nobody uses."""
    keep = {o.name for o in graph.output}
    while True:
        used = keep | {i for n in graph.node for i in n.input}
        dead = [n for n in graph.node if not any(o in used for o in n.output)]
        if not dead:
            break
        for n in dead:
            graph.node.remove(n)
    used = {i for n in graph.node for i in n.input}
    for t in [t for t in graph.initializer if t.name not in used]:
        graph.initializer.remove(t)


def im2col_nodes(p: str, xq: str, zx: str, k: int, dilation: int, pad: int) -> tuple[list, list, str]:
    """uint8 [1, C, T] → [1, T, k·C]: padded with the zero point (= a real 0), k shifted views side by side."""
    nodes = [helper.make_node("Transpose", [xq], [p + ".xt"], perm=[0, 2, 1], name=p + "/Transpose_in")]
    if k == 1:
        return nodes, [], p + ".xt"
    inits = [numpy_helper.from_array(np.array([0, pad, 0, 0, pad, 0], np.int64), p + ".pads"),
             numpy_helper.from_array(np.array([1], np.int64), p + ".axis")]
    nodes.append(helper.make_node("Pad", [p + ".xt", p + ".pads", zx], [p + ".xp"], name=p + "/Pad"))
    taps = []
    for t in range(k):
        end = t * dilation - (k - 1) * dilation            # negative: counted from the end; 0: to the end
        inits += [numpy_helper.from_array(np.array([t * dilation], np.int64), f"{p}.s{t}"),
                  numpy_helper.from_array(np.array([end if end < 0 else 2**62], np.int64), f"{p}.e{t}")]
        nodes.append(helper.make_node("Slice", [p + ".xp", f"{p}.s{t}", f"{p}.e{t}", p + ".axis"], [f"{p}.tap{t}"],
                                      name=f"{p}/Slice{t}"))
        taps.append(f"{p}.tap{t}")
    nodes.append(helper.make_node("Concat", taps, [p + ".col"], axis=2, name=p + "/Concat"))
    return nodes, inits, p + ".col"
