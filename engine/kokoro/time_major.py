"""The generator's residual streams kept time-major (after snake.py's NormSnakeColumns).

On the VNNI decoder every convolution is a matrix product over time-major columns ([1, T, C]), and the
exporter's graph turns each product's output back to [1, C, T] with a Transpose, because its residual
stream x = x + conv(…) and the norms read it that way. NormSnakeColumns reads either layout, so the
transposes only serve the residual Adds. Here those Adds work on the products' own [1, T, C] outputs:
a stream is transposed once where it enters (an upsampling's output) and once where it leaves (the
average of the resblocks), not after every convolution — per upsampling stage 12 transposes of the
largest tensors become 5 — and every NormSnakeColumns reads it time-major.
"""
from __future__ import annotations

import onnx
from onnx import helper

from .graph_edit import DOMAIN, TURN, graph_index, is_turn, prune_unused


def stream_adds(graph, producer, inits) -> list:
    """The residual Adds in graph order: one input a transposed matrix product, or an Add of the stream
    itself (the resblocks' sums, the upsampling plus the noise branch); none with a constant input."""
    constant = set(inits) | {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    adds = [n for n in graph.node if n.op_type == "Add" and not any(i in constant for i in n.input)]
    stream = {n.output[0] for n in adds if any(is_turn(producer.get(i)) for i in n.input)}
    while True:
        more = {n.output[0] for n in adds if n.output[0] not in stream and any(i in stream for i in n.input)}
        if not more:
            return [n for n in adds if n.output[0] in stream]
        stream |= more


class _Rewrite:
    """Builds the time-major twin of each stream Add in place; `twin` maps a [1, C, T] value to its
    [1, T, C] form."""

    def __init__(self, graph):
        self.graph = graph
        self.producer, self.consumers, inits = graph_index(graph)
        self.adds = stream_adds(graph, self.producer, inits)
        self.stream = {n.output[0] for n in self.adds}
        self.outputs = {o.name for o in graph.output}
        self.twin: dict[str, str] = {}

    def _insert(self, before, node) -> None:
        self.graph.node.insert(list(self.graph.node).index(before), node)

    def time_major(self, value: str, before) -> str:
        """The [1, T, C] form of `value`: a transposed product's own output, an Add's twin, or (where the
        stream enters) one new Transpose, shared by every reader."""
        if value not in self.twin:
            made = self.producer.get(value)
            if is_turn(made):
                self.twin[value] = made.input[0]
            else:
                self.twin[value] = value + "/time_major"
                self._insert(before, helper.make_node("Transpose", [value], [value + "/time_major"], perm=TURN,
                                                      name=value + "/Transpose_time_major"))
        return self.twin[value]

    def add(self, add) -> None:
        """The Add on [1, T, C]; its [1, C, T] output, where something else still reads it, transposed back."""
        out = add.output[0]
        inputs = [self.time_major(i, add) for i in add.input]
        self.twin[out] = out + "/time_major"
        self._insert(add, helper.make_node("Add", inputs, [self.twin[out]], name=out + "/Add_time_major"))
        readers = self.consumers.get(out, [])
        if out in self.outputs or any(n.output[0] not in self.stream and not _reads_time_major(n) for n in readers):
            self._insert(add, helper.make_node("Transpose", [self.twin[out]], [out], perm=TURN,
                                               name=out + "/Transpose_leave"))
        self.graph.node.remove(add)

    def norms(self) -> int:
        """Every NormSnakeColumns reading a stream value in [1, C, T] reads its twin instead."""
        done = 0
        for node in self.graph.node:
            if _reads_time_major(node) and node.input[0] in self.twin:
                node.input[0] = self.twin[node.input[0]]
                next(a for a in node.attribute if a.name == "time_major").i = 1
                done += 1
        return done


def _reads_time_major(node) -> bool:
    """A NormSnakeColumns that reads [1, C, T] now and could read [1, T, C]."""
    return node.op_type == "NormSnakeColumns" and node.domain == DOMAIN \
        and any(a.name == "time_major" and a.i == 0 for a in node.attribute)


def keep_streams_time_major(model: onnx.ModelProto) -> int:
    """Rewrite `model` in place; returns how many Transposes it has fewer."""
    graph = model.graph
    before = sum(n.op_type == "Transpose" for n in graph.node)
    rewrite = _Rewrite(graph)
    for add in rewrite.adds:
        rewrite.add(add)
    rewrite.norms()
    prune_unused(graph)
    return before - sum(n.op_type == "Transpose" for n in graph.node)
