"""The decoder's int8 convolutions in the form VNNI CPUs run fast (built once, at fetch time).

The shipped decoder quantises each convolution's input per call (`DynamicQuantizeLinear`) and runs
a u8×u8 `ConvInteger`; onnxruntime has no VNNI kernel for that, and `ConvInteger` with s8 weights
falls to a slow path. Here each 'same', stride-1 chain

    DynamicQuantizeLinear → ConvInteger → (+ int32 bias) → Cast → × scale

becomes the same `DynamicQuantizeLinear`, a uint8 im2col (Transpose, Pad with the zero point, one
Slice per tap, Concat) and one `com.microsoft` `MatMulIntegerToFloat` whose weights are the same
integers stored as int8 (w − 128, zero point − 128), then a Transpose back. The integer products
are unchanged; only the bias is added in float after scaling instead of as floor(b / scale) in
int32 (less than one accumulator step). 68 of the decoder's 71 convolutions qualify; the 3 strided
ones stay. Measured: the decoder at 0.80× its time, d-vector 0.997 against the shipped graph
(bench/results/decoder_variants.md). Pure onnx + numpy, deterministic, < 1 s.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .decoder import DecoderStage
from .duration import DurationStage, natural_frames
from .graph_edit import graph_index, im2col_nodes, prune_unused
from .model import KokoroModel, load_vocab
from .prosody import ProsodyStage

# The fetch-time self-check: the VNNI graph must sound like the shipped one on this CPU.
MIN_CORRELATION = 0.98
CHECK_PHONEMES = "ðɪs ɪz ə kwˈɪk tˈɛst ʌv ðə dɪkˈoʊdəɹ."
CHECK_VOICE = "af_heart"


def dynamic_conv_chain(node, producer, consumers, inits):
    """The dynamic-int8 chain around one ConvInteger: (DynamicQuantizeLinear, float bias or None, the
    final Mul, the weight-scale initializer name), or None if it is not the exporter's usual pattern."""
    dql = producer.get(node.input[0])
    if dql is None or dql.op_type != "DynamicQuantizeLinear" or node.input[1] not in inits:
        return None
    cur, bias = node.output[0], None
    nxt = consumers.get(cur, [])
    if len(nxt) == 1 and nxt[0].op_type == "Add":          # int32 bias = floor(b / (sx·sw)): find b
        q = producer[[i for i in nxt[0].input if i != cur][0]]
        while q.op_type != "Div":
            q = producer[q.input[0]]
        bias = numpy_helper.to_array(inits[q.input[0]]).astype(np.float32)
        cur, nxt = nxt[0].output[0], consumers.get(nxt[0].output[0], [])
    if len(nxt) != 1 or nxt[0].op_type != "Cast":
        return None
    muls = consumers.get(nxt[0].output[0], [])
    if len(muls) != 1 or muls[0].op_type != "Mul":
        return None
    scale_mul = producer[[i for i in muls[0].input if i != nxt[0].output[0]][0]]
    return dql, bias, muls[0], [i for i in scale_mul.input if i in inits][0]


def im2col_matmul(node, dql, bias, mul, w_scale, inits) -> tuple[list, list] | None:
    """Nodes computing the same convolution as one ConvInteger chain, or None where it is not 'same'
    and stride 1 (those keep their ConvInteger)."""
    a = {x.name: helper.get_attribute_value(x) for x in node.attribute}
    w = numpy_helper.to_array(inits[node.input[1]])
    cout, cin, k = w.shape
    d, pads = a.get("dilations", [1])[0], a.get("pads", [0, 0])
    if a.get("group", 1) != 1 or a.get("strides", [1])[0] != 1 or pads[0] != pads[1] or 2 * pads[0] != d * (k - 1):
        return None
    has_wzp = len(node.input) > 3 and node.input[3] in inits
    wzp = numpy_helper.to_array(inits[node.input[3]]) if has_wzp else np.uint8(0)
    if wzp.size != 1:
        return None
    p = node.name + "_mm"           # keeps the block path (/decoder/generator/resblocks.5/…) for profiles
    xq, sx, zx = dql.output
    nodes, new_inits, col = im2col_nodes(p, xq, zx, k, d, pads[0])
    b = (w.astype(np.int16) - 128).astype(np.int8).transpose(2, 1, 0).reshape(k * cin, cout)   # row = tap·Cin + c
    new_inits += [numpy_helper.from_array(b, p + ".B"),
                  numpy_helper.from_array(np.array(int(wzp) - 128, np.int8), p + ".bzp")]
    mm_in = [col, p + ".B", sx, w_scale, zx, p + ".bzp"]
    if bias is not None:
        new_inits.append(numpy_helper.from_array(bias, p + ".bias"))
        mm_in.append(p + ".bias")
    nodes += [helper.make_node("MatMulIntegerToFloat", mm_in, [p + ".y"], domain="com.microsoft",
                               name=p + "/MatMulIntegerToFloat"),
              helper.make_node("Transpose", [p + ".y"], [mul.output[0]], perm=[0, 2, 1], name=p + "/Transpose_out")]
    return nodes, new_inits


def rewrite_convolutions(model: onnx.ModelProto) -> int:
    """Rewrite every qualifying ConvInteger chain of `model` in place; returns how many."""
    graph = model.graph
    producer, consumers, inits = graph_index(graph)
    done = 0
    for node in [n for n in graph.node if n.op_type == "ConvInteger"]:
        chain = dynamic_conv_chain(node, producer, consumers, inits)
        built = chain and im2col_matmul(node, *chain, inits)
        if not built:
            continue
        nodes, new_inits = built
        at = list(graph.node).index(chain[2])
        for n in reversed(nodes):
            graph.node.insert(at, n)
        graph.node.remove(chain[2])            # the final Mul's output now comes from the Transpose
        graph.initializer.extend(new_inits)
        done += 1
    prune_unused(graph)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return done


def build_vnni_decoder(src: Path, dst: Path) -> int:
    """`dst` from the shipped decoder `src` (written under a temporary name, then renamed)."""
    model = onnx.load(str(src))
    done = rewrite_convolutions(model)
    if done == 0:
        raise ValueError(f"{src}: no dynamic-int8 convolution found to rewrite (not Kokoro's decoder?)")
    tmp = Path(dst).with_suffix(".partial")
    onnx.save(model, str(tmp))
    os.replace(tmp, dst)
    return done


def self_check(paths) -> float:
    """Correlation of the two decoder forms on one line through this CPU's kernels (`paths`: AssetPaths).
    The rewrite only changes float rounding, so anything below MIN_CORRELATION means a kernel misbehaves."""
    vocab = load_vocab()
    tokens = np.array([0, *(vocab[c] for c in CHECK_PHONEMES if c in vocab), 0], np.int64)
    table = np.fromfile(paths.voices / f"{CHECK_VOICE}.bin", dtype=np.float32).reshape(510, 256)
    style = KokoroModel.style_row(table, len(tokens) - 2)
    frames = natural_frames(DurationStage(paths.stage("duration"))(tokens, style))
    f0, energy = ProsodyStage(paths.stage("prosody"))(tokens, style, frames)
    shipped, vnni = (DecoderStage(paths.stage(name))(tokens, style, frames, f0, energy)
                     for name in ("decoder", "decoder_vnni"))
    if shipped.shape != vnni.shape:
        return 0.0
    return float(np.corrcoef(shipped, vnni)[0, 1])
