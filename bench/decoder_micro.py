"""Two rewrites of the VNNI decoder's hot spots, measured op by op before building them into the graph.

    .venv/bin/python bench/decoder_micro.py [--rounds 5] [--no-write]

1. Snake (x + sin²(αx)/α, per channel α) followed by the next convolution's DynamicQuantizeLinear: the
   graph's five elementwise nodes (onnxruntime's Sin runs on one thread whatever the pool) against a
   per-channel lookup table: quantise x first, build a [C, 256] table of Snake's quantised output per
   call (tiny), then Cast + Add (channel offset) + Gather. Error: RMS of the dequantised output against
   Snake in float64, beside the quantisation step.
2. A 'same' convolution in the VNNI form (engine/kokoro/int8.py: DQL → Transpose → Pad → k Slices →
   Concat on the last axis → MatMulIntegerToFloat(col, W) → Transpose back) against a channels-first
   form with the weights as the left operand (Pad and Slices on the time axis, Concat on channels,
   MatMulIntegerToFloat(W, col) → [Cout, T], no Transpose): u8 weights × u8 activations (DQL as is),
   and u8 weights × s8 activations (quantised by ReduceMin/Max + QuantizeLinear with an int8 zero
   point, the same integers − 128: onnxruntime has no s8 × u8 MatMulIntegerToFloat kernel). Shapes
   are the decoder's, for 6 s of audio.

Each round times every form in turn (interleaved), median over rounds; 1 and 2 intra-op threads,
pools sleeping between ops as the engine runs them (engine/kokoro/session.py).
"""
from __future__ import annotations

import argparse
import datetime
import os
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnx import TensorProto as TP
from onnx import helper as h
from onnx import numpy_helper as nh

OUT = Path(__file__).parent / "results" / "decoder_micro.md"
# (channels, kernel, dilation, frames): generator stage 2 (128 ch, 4 800 frames/s) and stage 1 (256 ch, 800/s)
# resblocks, and the decoder's 1024-channel blocks (80 frames/s), for 6 s of audio
CONVS = ((128, 11, 1, 28440), (128, 3, 5, 28440), (256, 7, 3, 4740), (1024, 3, 1, 474))
SNAKES = ((128, 28440), (256, 4740), (512, 800))
WZP = 128       # the shipped weights' zero point (uint8); the VNNI form stores w − 128 with zero point WZP − 128


def session(nodes, inits, outputs, threads: int) -> ort.InferenceSession:
    graph = h.make_graph(nodes, "micro", [h.make_tensor_value_info("x", TP.FLOAT, [1, None, None])],
                         [h.make_tensor_value_info(n, t, None) for n, t in outputs], inits)
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17), h.make_opsetid("com.microsoft", 1)])
    model.ir_version = 8
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.log_severity_level = threads, 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def const(name: str, value, dtype=np.float32):
    return nh.from_array(np.asarray(value, dtype), name)


QUANTISED = (("q", TP.UINT8), ("scale", TP.FLOAT), ("zero", TP.UINT8))


def snake_graph(alpha: np.ndarray):
    """The decoder's Snake nodes, then the next convolution's dynamic quantisation."""
    inits = [const("alpha", alpha), const("inv", 1 / alpha), const("two", 2)]
    nodes = [h.make_node("Mul", ["alpha", "x"], ["ax"]), h.make_node("Sin", ["ax"], ["s"]),
             h.make_node("Pow", ["s", "two"], ["s2"]), h.make_node("Mul", ["inv", "s2"], ["bump"]),
             h.make_node("Add", ["x", "bump"], ["y"]),
             h.make_node("DynamicQuantizeLinear", ["y"], ["q", "scale", "zero"])]
    return nodes, inits, QUANTISED


def lut_graph(alpha: np.ndarray):
    """Quantise x, map each channel's 256 levels through Snake into a per-call uint8 table, gather."""
    c = alpha.shape[1]
    inits = [const("alpha", alpha.reshape(c, 1)), const("inv", 1 / alpha.reshape(c, 1)), const("two", 2),
             const("levels", np.arange(256)), const("offsets", np.arange(c).reshape(1, c, 1) * 256, np.int32),
             const("f0", 0), const("f255", 255), const("flat", [-1], np.int64)]
    n = h.make_node
    nodes = [n("DynamicQuantizeLinear", ["x"], ["xq", "sx", "zx"]), n("Cast", ["zx"], ["zxf"], to=TP.FLOAT),
             n("Sub", ["levels", "zxf"], ["l0"]), n("Mul", ["l0", "sx"], ["deq"]),              # the 256 levels' values
             n("Mul", ["alpha", "deq"], ["ax"]), n("Sin", ["ax"], ["s"]), n("Pow", ["s", "two"], ["s2"]),
             n("Mul", ["inv", "s2"], ["bump"]), n("Add", ["deq", "bump"], ["table"]),           # [C, 256] Snake
             n("ReduceMin", ["table"], ["lo0"], keepdims=0), n("ReduceMax", ["table"], ["hi0"], keepdims=0),
             n("Min", ["lo0", "f0"], ["lo"]), n("Max", ["hi0", "f0"], ["hi"]), n("Sub", ["hi", "lo"], ["span"]),
             n("Div", ["span", "f255"], ["scale"]), n("Div", ["lo", "scale"], ["z0"]), n("Sub", ["f0", "z0"], ["z1"]),
             n("Round", ["z1"], ["z2"]), n("Clip", ["z2", "f0", "f255"], ["zf"]),
             n("Cast", ["zf"], ["zero"], to=TP.UINT8),
             n("Div", ["table", "scale"], ["t0"]), n("Round", ["t0"], ["t1"]), n("Add", ["t1", "zf"], ["t2"]),
             n("Clip", ["t2", "f0", "f255"], ["t3"]), n("Cast", ["t3"], ["t4"], to=TP.UINT8),
             n("Reshape", ["t4", "flat"], ["lut"]), n("Cast", ["xq"], ["xi"], to=TP.INT32),
             n("Add", ["xi", "offsets"], ["index"]), n("Gather", ["lut", "index"], ["q"], axis=0)]
    return nodes, inits, QUANTISED


def taps(src: str, k: int, dilation: int, axis: int, inits: list, nodes: list) -> list[str]:
    """k shifted views of the padded input along `axis` (as int8.py's _im2col)."""
    inits.append(const("axis", [axis], np.int64))
    names = []
    for t in range(k):
        end = t * dilation - (k - 1) * dilation
        inits += [const(f"s{t}", [t * dilation], np.int64), const(f"e{t}", [end if end < 0 else 2**62], np.int64)]
        nodes.append(h.make_node("Slice", [src, f"s{t}", f"e{t}", "axis"], [f"tap{t}"]))
        names.append(f"tap{t}")
    return names


def conv_vnni(w: np.ndarray, bias: np.ndarray, k: int, d: int):
    """engine/kokoro/int8.py's form: channels-last im2col, the s8 weights on the right."""
    cout, cin, _ = w.shape
    pad = d * (k - 1) // 2
    right = (w.astype(np.int16) - 128).astype(np.int8).transpose(2, 1, 0).reshape(k * cin, cout)
    inits = [const("W", right, np.int8), const("wzp", WZP - 128, np.int8), const("ws", 0.01), const("bias", bias),
             const("pads", [0, pad, 0, 0, pad, 0], np.int64)]
    nodes = [h.make_node("DynamicQuantizeLinear", ["x"], ["xq", "sx", "zx"]),
             h.make_node("Transpose", ["xq"], ["xt"], perm=[0, 2, 1]), h.make_node("Pad", ["xt", "pads", "zx"], ["xp"])]
    cols = taps("xp", k, d, 1, inits, nodes)
    nodes += [h.make_node("Concat", cols, ["col"], axis=2),
              h.make_node("MatMulIntegerToFloat", ["col", "W", "sx", "ws", "zx", "wzp", "bias"], ["yt"],
                          domain="com.microsoft"),
              h.make_node("Transpose", ["yt"], ["y"], perm=[0, 2, 1])]
    return nodes, inits, (("y", TP.FLOAT),)


def conv_channels_first(w: np.ndarray, bias: np.ndarray, k: int, d: int, signed: bool):
    """The weights on the left ([Cout, k·Cin] × [k·Cin, T] → [Cout, T]): no Transposes; u8 × u8, or u8
    weights × s8 activations (the same integers − 128)."""
    cout, cin, _ = w.shape
    pad = d * (k - 1) // 2
    inits = [const("W", w.transpose(0, 2, 1).reshape(cout, k * cin), np.uint8), const("wzp", WZP, np.uint8),
             const("ws", 0.01), const("bias", bias.reshape(1, cout, 1)),
             const("pads", [0, 0, pad, 0, 0, pad], np.int64)]
    n = h.make_node
    if signed:      # DynamicQuantizeLinear's scale and zero point, with int8 levels
        inits += [const("f0", 0), const("f255", 255), const("m128", -128), const("p127", 127)]
        nodes = [n("ReduceMin", ["x"], ["lo0"], keepdims=0), n("ReduceMax", ["x"], ["hi0"], keepdims=0),
                 n("Min", ["lo0", "f0"], ["lo"]), n("Max", ["hi0", "f0"], ["hi"]), n("Sub", ["hi", "lo"], ["span"]),
                 n("Div", ["span", "f255"], ["sx"]), n("Div", ["lo", "sx"], ["z0"]), n("Sub", ["m128", "z0"], ["z1"]),
                 n("Round", ["z1"], ["z2"]), n("Clip", ["z2", "m128", "p127"], ["z3"]),
                 n("Cast", ["z3"], ["zx"], to=TP.INT8),
                 n("QuantizeLinear", ["x", "sx", "zx"], ["xq"])]
    else:
        nodes = [n("DynamicQuantizeLinear", ["x"], ["xq", "sx", "zx"])]
    nodes.append(n("Pad", ["xq", "pads", "zx"], ["xp"]))
    cols = taps("xp", k, d, 2, inits, nodes)
    nodes += [n("Concat", cols, ["col"], axis=1),
              n("MatMulIntegerToFloat", ["W", "col", "ws", "sx", "wzp", "zx"], ["y0"], domain="com.microsoft"),
              n("Add", ["y0", "bias"], ["y"])]
    return nodes, inits, (("y", TP.FLOAT),)


def timed(sessions: dict[str, ort.InferenceSession], x: np.ndarray, rounds: int) -> dict[str, float]:
    """Median seconds per call of each session, the sessions interleaved within every round."""
    feeds = {"x": x}
    for s in sessions.values():
        s.run(None, feeds)
    times: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(rounds):
        for name, s in sessions.items():
            t0 = time.perf_counter()
            for _ in range(5):
                s.run(None, feeds)
            times[name].append((time.perf_counter() - t0) / 5)
    return {name: float(np.median(v)) for name, v in times.items()}


def dequantised(out) -> np.ndarray:
    q, scale, zero = out
    return (q.astype(np.float64) - float(zero)) * float(scale)


def snake_rows(rounds: int, rng) -> list[str]:
    rows = ["| channels × frames | threads | graph's Snake + DQL, ms | ns/element | lookup table, ms | ratio "
            "| RMS error graph / table (step) |", "|---|---:|---:|---:|---:|---:|---|"]
    for c, t in SNAKES:
        alpha = rng.uniform(0.3, 3.0, (1, c, 1)).astype(np.float32)
        x = (rng.standard_normal((1, c, t)) * rng.uniform(0.2, 3.0, (1, c, 1))).astype(np.float32)
        exact = x.astype(np.float64) + np.sin(alpha * x.astype(np.float64)) ** 2 / alpha
        for threads in (1, 2):
            forms = {"graph": session(*snake_graph(alpha), threads), "table": session(*lut_graph(alpha), threads)}
            outs = {k: s.run(None, {"x": x}) for k, s in forms.items()}
            err = {k: float(np.sqrt(np.mean((dequantised(o) - exact) ** 2))) for k, o in outs.items()}
            ms = timed(forms, x, rounds)
            rows.append(f"| {c} × {t} | {threads} | {1e3 * ms['graph']:.2f} | {1e9 * ms['graph'] / x.size:.2f} | "
                        f"{1e3 * ms['table']:.2f} | {ms['table'] / ms['graph']:.2f}× | {err['graph']:.4f} / "
                        f"{err['table']:.4f} ({float(outs['graph'][1]):.4f}) |")
    return rows


def conv_rows(rounds: int, rng) -> list[str]:
    rows = ["| channels, kernel, frames | threads | VNNI form, ms | channels-first u8×u8 | channels-first u8×s8 "
            "| same output |", "|---|---:|---:|---:|---:|---|"]
    for cin, k, d, t in CONVS:
        w = rng.integers(0, 256, (cin, cin, k)).astype(np.uint8)
        bias = rng.standard_normal(cin).astype(np.float32)
        x = rng.standard_normal((1, cin, t)).astype(np.float32)
        for threads in (1, 2):
            forms = {"vnni": session(*conv_vnni(w, bias, k, d), threads),
                     "u8u8": session(*conv_channels_first(w, bias, k, d, signed=False), threads),
                     "u8s8": session(*conv_channels_first(w, bias, k, d, signed=True), threads)}
            ref = forms["vnni"].run(None, {"x": x})[0]
            same = all(np.array_equal(s.run(None, {"x": x})[0], ref) for s in forms.values())
            ms = timed(forms, x, rounds)
            rows.append(f"| {cin}, {k} (dilation {d}), {t} | {threads} | {1e3 * ms['vnni']:.1f} | "
                        f"{ms['u8u8'] / ms['vnni']:.2f}× | {ms['u8s8'] / ms['vnni']:.2f}× | "
                        f"{'bit for bit' if same else 'no'} |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds per shape (median reported)")
    ap.add_argument("--no-write", action="store_true", help=f"print only; do not write {OUT.name}")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    load = os.getloadavg()[0]
    lines = [f"# bench/decoder_micro.py\n\n{datetime.datetime.now():%Y-%m-%d %H:%M}, onnxruntime {ort.__version__}, "
             f"{os.cpu_count()} cores, load average {load:.1f} at the start, {args.rounds} interleaved rounds.\n",
             "## 1. Snake + the next DynamicQuantizeLinear: graph nodes vs a per-channel lookup table\n",
             *snake_rows(args.rounds, rng), "",
             "## 2. One 'same' convolution: the VNNI form vs channels-first forms (time as a ratio to the VNNI form)\n",
             *conv_rows(args.rounds, rng), ""]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        OUT.write_text(text, "utf-8")


if __name__ == "__main__":
    main()
