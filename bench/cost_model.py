"""Cost model of the three Kokoro stages on this CPU: MACs and time per block vs a measured roofline.

    python bench/cost_model.py [--threads 1 2] [--runs 3] [--quick]

1. Real inputs: one ~5 s English line (two bench sentences joined) is planned by the Engine and run
   through duration → prosody → decoder, so every stage sees the shapes a real take gives it.
2. Per block: each stage runs in onnxruntime with profiling on (same session options as the engine,
   engine/kokoro/session.py). The profile gives every node's time and its input/output shapes; from
   the shapes we count multiply-accumulates (conv: out_elems × Cin/groups × K; matmul: M×K×N; LSTM:
   4·H·(I+H) per step and direction). Nodes are grouped by name prefix into blocks (resblocks.N, ups.N,
   noise_convs, decode.N, …). Times are the median over runs after a warm-up run.
3. Roofline: single-op graphs of realistic sizes (ConvInteger u8u8 / u8s8, MatMulInteger u8u8 / u8s8,
   fp32 Conv and MatMul, QLinearConv u8s8) run in onnxruntime on 1 and 2 threads, plus numpy fp32 matmul,
   interleaved; the best int8 figure is "the roofline" that the model's int8 convs could hit.
4. Floor: Σ MACs / roofline = the RTF if every block ran at the roofline (elementwise work ignored).

Prints markdown; writes bench/results/cost_model.md unless --no-write. --quick: 1 run, 1 thread count,
smaller roofline graphs (< 1 min).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import re
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

from takefit.engine.kokoro.forms import decoder_form, stage_file

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
CKPT = ROOT / "checkpoints" / "kokoro"
SCRATCH = Path("/tmp/variants")
SR = 24000
STAGES = ("duration", "prosody", "decoder")
DURATIONS, F0, ENERGY = "/encoder/Round_output_0", "/encoder/F0_proj/Conv_output_0", "/encoder/N_proj/Conv_output_0"


# ------------------------------------------------------------------ real inputs
def bench_lines(n_en: int, n_zh: int, join: int = 1) -> list[tuple[str, str]]:
    """(voice, text) pairs from bench/data; `join` sentences glued per line (2 ≈ a 5 s line)."""
    out = []
    for lang, voice, n in (("en", "af_heart", n_en), ("zh", "zf_xiaoxiao", n_zh)):
        sents = [s.strip() for s in (DATA / f"sentences_{lang}.txt").read_text("utf-8").split("\n") if s.strip()]
        sep = " " if lang == "en" else ""
        out += [(voice, sep.join(sents[i * join:(i + 1) * join])) for i in range(n)]
    return out


def capture_feeds(lines: list[tuple[str, str]]) -> list[dict]:
    """Per line, the exact feeds of the three stages (cached in /tmp/variants: the Engine loads slowly).
    Durations are rounded and clipped ≥ 1 as the engine's natural rendering does."""
    SCRATCH.mkdir(parents=True, exist_ok=True)
    cache = SCRATCH / f"feeds_{hashlib.sha1(repr(lines).encode()).hexdigest()[:12]}.pkl"
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    from takefit.engine import Engine  # heavy import (spaCy, G2P) only when the cache is cold
    engine = Engine(threads=2)
    feeds = []
    for voice, text in lines:
        chunk = engine.plan(text, voice).chunks[0]
        tokens, style = chunk.tokens.reshape(1, -1).astype(np.int64), chunk.style.reshape(1, 256).astype(np.float32)
        frames = np.maximum(np.round(engine.model.duration(chunk.tokens, chunk.style)), 1).astype(np.float32)
        f0, energy = engine.model.prosody(chunk.tokens, chunk.style, frames)
        common = {"tokens": tokens, "style": style}
        feeds.append({
            "text": text,
            "duration": {**common, "speed": np.array([1.0], np.float32)},
            "prosody": {**common, DURATIONS: frames.reshape(1, -1)},
            "decoder": {**common, DURATIONS: frames.reshape(1, -1), F0: f0.astype(np.float32),
                        ENERGY: energy.astype(np.float32)},
            "seconds": float(frames.sum()) * 600 / SR,
        })
    cache.write_bytes(pickle.dumps(feeds))
    return feeds


# ------------------------------------------------------------------ profiling
def session(path, threads: int, profile: bool = False, **config) -> ort.InferenceSession:
    """The engine's session setup (engine/kokoro/session.py), optionally profiled."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads, opts.log_severity_level = threads, 1, 3
    if profile:
        opts.enable_profiling = True
        opts.profile_file_prefix = str(Path(tempfile.mkdtemp(dir=SCRATCH)) / "prof")
    if "optimized_model_filepath" in config:
        opts.optimized_model_filepath = str(config.pop("optimized_model_filepath"))
    for key, value in config.items():
        opts.add_session_config_entry(key, str(value))
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def profile_nodes(path, feed: dict, threads: int, runs: int) -> dict[str, dict]:
    """node name → {op, ms (median over runs), in/out shapes}; the first (warm-up) run is dropped.
    The optimised graph is saved alongside so constant weights (which the profile omits once ORT has
    pre-packed them) get their shapes from its initializers."""
    optimized = Path(tempfile.mkdtemp(dir=SCRATCH)) / "optimized.onnx"
    sess = session(path, threads, profile=True, optimized_model_filepath=optimized)
    for _ in range(runs + 1):
        sess.run(None, feed)
    events = json.loads(Path(sess.end_profiling()).read_text())
    graph = onnx.load(str(optimized)).graph
    inits = {t.name: list(t.dims) for t in graph.initializer}
    node_inputs = {n.name: [i for i in n.input if i] for n in graph.node}
    model_runs = sorted(e["ts"] for e in events if e.get("name") == "model_run")
    t_timed = model_runs[1] if len(model_runs) > 1 else 0   # start of the first timed run
    per_node: dict[str, dict] = {}
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time") or e["ts"] < t_timed:
            continue
        name = e["name"][: -len("_kernel_time")]
        node = per_node.setdefault(name, {"op": e["args"]["op_name"], "us": [], "outs": shapes(e["args"], "output_type_shape"),
                                          "ins": merge_shapes(node_inputs.get(name, []), inits, shapes(e["args"], "input_type_shape"))})
        node["us"].append(e["dur"])
    for node in per_node.values():
        node["ms"] = float(np.median(node["us"])) / 1000 if len(node["us"]) >= runs else float(np.sum(node["us"])) / runs / 1000
    return per_node


def merge_shapes(inputs: list[str], inits: dict, profiled: list) -> list[list[int]]:
    """Full input shapes of a node: profiled shapes for computed inputs, initializer dims for weights
    (the profile lists an initializer only when ORT did not pre-pack it)."""
    out, queue = [], list(profiled)
    for name in inputs:
        if name in inits:
            if queue and queue[0] == inits[name]:
                queue.pop(0)
            out.append(inits[name])
        else:
            out.append(queue.pop(0) if queue else [])
    return out if inputs else profiled


def shapes(args: dict, key: str) -> list[list[int]]:
    return [list(next(iter(s.values()))) for s in args.get(key, [])]


def macs(op: str, ins: list, outs: list) -> float:
    """Multiply-accumulates of one node from its input/output shapes (0 for elementwise/data movement)."""
    if not ins or not outs:
        return 0.0
    if op in ("Conv", "ConvInteger", "QLinearConv", "FusedConv", "NchwcConv"):
        w = ins[3] if op == "QLinearConv" else ins[1]
        return float(np.prod(outs[0])) * float(np.prod(w[1:]))          # out_elems × Cin/groups × K
    if op == "ConvTranspose":
        w = ins[1]
        return float(np.prod(ins[0])) * float(np.prod(w[1:]))           # in_elems × Cout/groups × K
    if op in ("MatMul", "MatMulInteger", "FusedMatMul", "QLinearMatMul", "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "Gemm"):
        a, b = ins[0], (ins[3] if op == "QLinearMatMul" else ins[1])
        return float(np.prod(a)) * float(b[-1] if op != "Gemm" else np.prod(outs[0]) / max(1, np.prod(a[:-1])))
    if op in ("LSTM", "DynamicQuantizeLSTM"):
        x, w, r = ins[0], ins[1], ins[2]                               # X [T,B,I], W [D,I,4H] (quant. LSTM) or [D,4H,I]
        return float(x[0] * x[1]) * float(np.prod(w[1:]) + np.prod(r[1:])) * w[0]
    return 0.0


BLOCK_RULES = [  # first match wins; applied to the node name with '/' turned into '.'
    (r"generator\.(resblocks|noise_res|noise_convs|ups)\.(\d+)", lambda m: f"generator.{m[1]}.{m[2]}"),
    (r"generator\.(m_source|l_sin_gen|l_linear|source)", lambda m: "generator.harmonic_source (SineGen)"),
    (r"generator\.(f0_upsamp)", lambda m: "generator.harmonic_source (SineGen)"),
    (r"generator\.(stft|STFT|istft|conv_post|reflection_pad)", lambda m: "generator.conv_post + STFT + iSTFT"),
    (r"generator", lambda m: "generator.other"),
    (r"decoder\.decoder\.(encode|decode\.\d|F0_conv|N_conv|asr_res)", lambda m: f"decoder.{m[1]}"),
    (r"text_encoder", lambda m: "text_encoder"),
    (r"encoder\.(predictor|bert|F0|N\.|N_proj|F0_proj|shared|lstm)", lambda m: "predictor"),
    (r"bert", lambda m: "bert"),
]


def block_of(name: str) -> str:
    flat = name.replace("/", ".")
    for pattern, label in BLOCK_RULES:
        m = re.search(pattern, flat)
        if m:
            return label(m)
    return "other (glue, shape ops)"


def block_table(nodes: dict[str, dict], audio_s: float) -> dict[str, dict]:
    """block → {macs, ms, ops{op: ms}} per second of audio."""
    blocks: dict[str, dict] = defaultdict(lambda: {"macs": 0.0, "ms": 0.0, "ops": defaultdict(float)})
    for name, node in nodes.items():
        b = blocks[block_of(name)]
        b["macs"] += macs(node["op"], node["ins"], node["outs"]) / audio_s
        b["ms"] += node["ms"] / audio_s
        b["ops"][node["op"]] += node["ms"] / audio_s
    return blocks


# ------------------------------------------------------------------ roofline
def single_op_model(op: str, x_shape, w_shape, wtype=TensorProto.UINT8) -> onnx.ModelProto:
    """One conv/matmul with constant weights, as the model uses them (activations quantized outside)."""
    rng = np.random.default_rng(0)
    if op in ("ConvInteger", "MatMulInteger"):
        wdt = np.uint8 if wtype == TensorProto.UINT8 else np.int8
        w = rng.integers(0 if wdt == np.uint8 else -128, 256 if wdt == np.uint8 else 128, w_shape).astype(wdt)
        inits = [helper.make_tensor("w", wtype, w_shape, w.tobytes(), raw=True),
                 helper.make_tensor("xz", TensorProto.UINT8, [], [128]),
                 helper.make_tensor("wz", wtype, [], [128 if wdt == np.uint8 else 0])]
        attrs = {"pads": [w_shape[-1] // 2] * 2} if op == "ConvInteger" else {}
        node = helper.make_node(op, ["x", "w", "xz", "wz"], ["y"], **attrs)
        x_t, y_t = TensorProto.UINT8, TensorProto.INT32
    elif op == "QLinearConv":
        w = rng.integers(-127, 128, w_shape).astype(np.int8)
        inits = [helper.make_tensor("w", TensorProto.INT8, w_shape, w.tobytes(), raw=True),
                 helper.make_tensor("xs", TensorProto.FLOAT, [], [0.02]), helper.make_tensor("xz", TensorProto.UINT8, [], [128]),
                 helper.make_tensor("ws", TensorProto.FLOAT, [w_shape[0]], [0.01] * w_shape[0]),
                 helper.make_tensor("wz", TensorProto.INT8, [w_shape[0]], [0] * w_shape[0]),
                 helper.make_tensor("ys", TensorProto.FLOAT, [], [0.05]), helper.make_tensor("yz", TensorProto.UINT8, [], [128])]
        node = helper.make_node(op, ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"], ["y"], pads=[w_shape[-1] // 2] * 2)
        x_t, y_t = TensorProto.UINT8, TensorProto.UINT8
    else:  # fp32 Conv / MatMul
        w = rng.standard_normal(w_shape).astype(np.float32) * 0.05
        inits = [helper.make_tensor("w", TensorProto.FLOAT, w_shape, w.tobytes(), raw=True)]
        attrs = {"pads": [w_shape[-1] // 2] * 2} if op == "Conv" else {}
        node = helper.make_node(op, ["x", "w"], ["y"], **attrs)
        x_t, y_t = TensorProto.FLOAT, TensorProto.FLOAT
    graph = helper.make_graph([node], op, [helper.make_tensor_value_info("x", x_t, x_shape)],
                              [helper.make_tensor_value_info("y", y_t, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])


def roofline_cases(quick: bool) -> list[tuple[str, str, list, list, int, float]]:
    """(label, op, x_shape, w_shape, weight dtype, MACs). Sizes: a generator resblock conv
    (128 ch, k=7, 1 s of audio at 4800 frames/s) and a 256-ch one at 800 frames/s, as im2col GEMMs too."""
    t = 1200 if quick else 4800
    c, k = 128, 7
    conv_macs = float(t * c * c * k)
    mm_macs = float(t * c * k * c)
    u8, s8 = TensorProto.UINT8, TensorProto.INT8
    return [
        (f"ConvInteger u8u8 {c}ch k{k} T{t}", "ConvInteger", [1, c, t], [c, c, k], u8, conv_macs),
        (f"ConvInteger u8s8 {c}ch k{k} T{t}", "ConvInteger", [1, c, t], [c, c, k], s8, conv_macs),
        (f"QLinearConv u8s8 {c}ch k{k} T{t}", "QLinearConv", [1, c, t], [c, c, k], s8, conv_macs),
        (f"Conv fp32 {c}ch k{k} T{t}", "Conv", [1, c, t], [c, c, k], TensorProto.FLOAT, conv_macs),
        (f"ConvInteger u8u8 256ch k3 T{t // 6}", "ConvInteger", [1, 256, t // 6], [256, 256, 3], u8, float(t // 6 * 256 * 256 * 3)),
        (f"MatMulInteger u8u8 {t}x{c * k}x{c}", "MatMulInteger", [t, c * k], [c * k, c], u8, mm_macs),
        (f"MatMulInteger u8s8 {t}x{c * k}x{c}", "MatMulInteger", [t, c * k], [c * k, c], s8, mm_macs),
        (f"MatMul fp32 {t}x{c * k}x{c}", "MatMul", [t, c * k], [c * k, c], TensorProto.FLOAT, mm_macs),
    ]


def measure_roofline(threads_list: list[int], rounds: int, quick: bool) -> dict[tuple[str, int], tuple[float, float]]:
    """GMAC/s per (case, threads): (median, best) over rounds, cases interleaved within each round.
    The best round is what the kernel can do when other jobs leave the cores alone: the roofline."""
    cases = roofline_cases(quick)
    runners = {}
    for label, op, xs, ws, wt, n_macs in cases:
        model = single_op_model(op, xs, ws, wt)
        x = (np.random.default_rng(1).integers(0, 256, xs).astype(np.uint8) if op in ("ConvInteger", "MatMulInteger", "QLinearConv")
             else np.random.default_rng(1).standard_normal(xs).astype(np.float32))
        for th in threads_list:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads, opts.inter_op_num_threads = th, 1
            s = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
            s.run(None, {"x": x})
            runners[(label, th)] = (lambda s=s, x=x: s.run(None, {"x": x}), n_macs)
    t = 1200 if quick else 4800
    a = np.random.default_rng(2).standard_normal((t, 896)).astype(np.float32)
    b = np.random.default_rng(3).standard_normal((896, 128)).astype(np.float32)
    runners[(f"numpy fp32 matmul {t}x896x128", 0)] = (lambda: a @ b, float(t * 896 * 128))  # numpy's own BLAS threads
    times = defaultdict(list)
    for _ in range(rounds):
        for key, (fn, n_macs) in runners.items():
            reps, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < (0.02 if quick else 0.1):   # long enough to average out preemption
                fn()
                reps += 1
            times[key].append(n_macs * reps / (time.perf_counter() - t0) / 1e9)
    return {key: (float(np.median(v)), float(np.max(v))) for key, v in times.items()}


def cpu_line() -> str:
    """Model name and the SIMD features that pick onnxruntime's int8 kernels (VNNI: fast u8s8)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    name = next((l.split(":", 1)[1].strip() for l in info.splitlines() if l.startswith("model name")), "?")
    flags = set(next((l.split(":", 1)[1].split() for l in info.splitlines() if l.startswith("flags")), []))
    keys = ["avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8"]
    return f"{name}; " + ", ".join(f"{k} {'yes' if k in flags else 'no'}" for k in keys)


def measure_elementwise(rounds: int, quick: bool) -> dict[str, float]:
    """ns per element of the Snake activation's pieces (one 128-ch generator tensor): onnxruntime Sin
    (what the decoder's 51 Sin nodes run) vs numpy's SIMD sin, and ORT Mul as a memory-bound reference."""
    shape = [1, 128, 1200 if quick else 4800 * 4]
    x = np.random.default_rng(4).standard_normal(shape).astype(np.float32)
    runners = {}
    for op in ("Sin", "Mul"):
        ins = ["x"] if op == "Sin" else ["x", "x"]
        g = helper.make_graph([helper.make_node(op, ins, ["y"])], op, [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
        for th in (1, 2):
            opts = ort.SessionOptions()
            opts.intra_op_num_threads, opts.inter_op_num_threads = th, 1
            sess = ort.InferenceSession(helper.make_model(g, opset_imports=[helper.make_opsetid("", 20)]).SerializeToString(), opts)
            runners[f"onnxruntime {op}, {th} thread(s)"] = lambda sess=sess: sess.run(None, {"x": x})
    runners["numpy sin (float32)"] = lambda: np.sin(x)
    times = defaultdict(list)
    for _ in range(rounds):
        for name, fn in runners.items():
            t0 = time.perf_counter()
            for _ in range(3):
                fn()
            times[name].append((time.perf_counter() - t0) / 3 / x.size * 1e9)
    return {name: float(np.median(v)) for name, v in times.items()}


def op_table(nodes_by_th: dict[int, dict], audio_s: float, top: int = 14) -> list[str]:
    """Time per op type (ms per s audio), the heaviest first: what the blocks spend it on."""
    per = {th: defaultdict(float) for th in nodes_by_th}
    count = defaultdict(int)
    for th, nodes in nodes_by_th.items():
        for node in nodes.values():
            per[th][node["op"]] += node["ms"] / audio_s
            count[node["op"]] += th == next(iter(nodes_by_th))
    th0 = next(iter(nodes_by_th))
    total = {th: sum(v.values()) for th, v in per.items()}
    lines = ["| op | nodes | " + " | ".join(f"ms per s audio ({t}T) | share ({t}T)" for t in per) + " |",
             "|---|---:|" + "---:|---:|" * len(per)]
    for op in sorted(per[th0], key=lambda o: -per[th0][o])[:top]:
        lines.append(f"| {op} | {count[op]} | " + " | ".join(f"{per[t][op]:.1f} | {100 * per[t][op] / total[t]:.1f} %" for t in per) + " |")
    return lines


# ------------------------------------------------------------------ report
def write_result(path: Path, title: str, text: str, keep_from: str) -> None:
    """Write a results file, keeping the hand-written section that starts at `keep_from` (e.g. the
    conclusion) from the previous version, so a rerun refreshes the numbers without losing it."""
    kept = ""
    if path.exists():
        old = path.read_text()
        if keep_from in old:
            kept = "\n" + old[old.index(keep_from):]
    path.write_text(f"# {title}\n\n{text}\n{kept}")


def stage_rows(feed: dict, threads_list: list[int], runs: int) -> tuple[dict, dict]:
    """Per stage: block tables per thread count, plus the stage totals (ms per s audio, MACs per s)."""
    out, totals = {}, {}
    for stage in STAGES:
        for th in threads_list:
            nodes = profile_nodes(CKPT / f"stage_{stage_file(stage)}.onnx", feed[stage], th, runs)
            out[(stage, th)] = block_table(nodes, feed["seconds"])
            out[("nodes", stage, th)] = nodes
            totals[(stage, th)] = (sum(b["ms"] for b in out[(stage, th)].values()),
                                   sum(b["macs"] for b in out[(stage, th)].values()))
    return out, totals


def fmt_table(blocks_by_th: dict, threads_list: list[int], roof: dict[int, float]) -> list[str]:
    """One markdown row per block (sorted by time on the first thread count)."""
    th0 = threads_list[0]
    head = "| block | GMAC per s audio | " + " | ".join(f"ms per s audio ({t}T) | GMAC/s ({t}T) | % roofline ({t}T)" for t in threads_list) + " | top ops (ms, {}T) |".format(th0)
    lines = [head, "|---|---:|" + "---:|---:|---:|" * len(threads_list) + "---|"]
    names = sorted(blocks_by_th[th0], key=lambda n: -blocks_by_th[th0][n]["ms"])
    for name in names:
        b0 = blocks_by_th[th0][name]
        cells = [name, f"{b0['macs'] / 1e9:.3f}"]
        for t in threads_list:
            b = blocks_by_th[t].get(name, {"ms": 0.0, "macs": 0.0})
            rate = b0["macs"] / (b["ms"] / 1000) / 1e9 if b["ms"] > 0 and b0["macs"] > 0 else 0.0
            cells += [f"{b['ms']:.1f}", f"{rate:.1f}" if rate else "–", f"{100 * rate / roof[t]:.0f} %" if rate else "–"]
        ops = sorted(b0["ops"].items(), key=lambda kv: -kv[1])[:3]
        cells.append(", ".join(f"{op} {ms:.1f}" for op, ms in ops))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, nargs="+", default=[2, 1], help="intra-op thread counts to profile")
    ap.add_argument("--runs", type=int, default=3, help="profiled runs per stage after one warm-up (median)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the roofline micro-benchmarks")
    ap.add_argument("--quick", action="store_true", help="1 run, 2 threads only, small roofline graphs (< 1 min)")
    ap.add_argument("--no-write", action="store_true", help="do not write bench/results/cost_model.md")
    args = ap.parse_args()
    if args.quick:
        args.threads, args.runs, args.rounds = [2], 1, 2
    SCRATCH.mkdir(parents=True, exist_ok=True)
    feed = capture_feeds(bench_lines(1, 0, join=2))[0]
    roof = measure_roofline(sorted(set(args.threads) | {1}), args.rounds, args.quick)
    elementwise = measure_elementwise(args.rounds, args.quick)
    stages, totals = stage_rows(feed, args.threads, args.runs)
    # the roofline the int8 convs could hit: the best int8 single-op figure per thread count
    int8_roof = {t: max(v[1] for (k, th), v in roof.items() if th == t and ("Integer" in k or "QLinear" in k)) for t in args.threads}
    fp32_roof = {t: max(v[1] for (k, th), v in roof.items() if th == t and "fp32" in k) for t in args.threads}
    out = [f"Line: \"{feed['text']}\" ({feed['seconds']:.2f} s audio, {feed['decoder']['tokens'].shape[1]} tokens); "
           f"decoder form: {decoder_form()} ({CKPT / ('stage_' + stage_file('decoder') + '.onnx')}, $TAKEFIT_DECODER); "
           f"onnxruntime {ort.__version__}, {os.cpu_count()} logical CPUs, load average {os.getloadavg()[0]:.2f} at the start "
           f"(other jobs share the machine); profile = median of {args.runs} runs after warm-up.",
           "", "### Roofline (single-op graphs, median of interleaved rounds)", "",
           f"CPU: {cpu_line()}", "",
           "| kernel | threads | GMAC/s median | GMAC/s best round |", "|---|---:|---:|---:|"]
    out += [f"| {k} | {t or 'numpy'} | {v[0]:.1f} | {v[1]:.1f} |" for (k, t), v in roof.items()]
    out += ["", "| elementwise (Snake activation pieces) | ns per element |", "|---|---:|"]
    out += [f"| {k} | {v:.2f} |" for k, v in elementwise.items()]
    out += ["", "### Stages", "", "| stage | GMAC per s audio | " + " | ".join(f"ms per s audio ({t}T) | RTF ({t}T) | floor RTF @int8 roofline ({t}T)" for t in args.threads) + " |",
            "|---|---:|" + "---:|---:|---:|" * len(args.threads)]
    for stage in STAGES:
        ms0, m = totals[(stage, args.threads[0])]
        cells = [stage, f"{m / 1e9:.3f}"]
        for t in args.threads:
            ms, _ = totals[(stage, t)]
            cells += [f"{ms:.1f}", f"{ms / 1000:.3f}", f"{m / (int8_roof[t] * 1e9):.3f}"]
        out.append("| " + " | ".join(cells) + " |")
    total_macs = sum(totals[(s, args.threads[0])][1] for s in STAGES)
    for t in args.threads:
        rtf = sum(totals[(s, t)][0] for s in STAGES) / 1000
        out.append(f"\n**{t} thread(s):** measured RTF {rtf:.3f} (profiled kernel time, 3 stages); "
                   f"{total_macs / 1e9:.2f} GMAC per s audio; floor at the best int8 roofline ({int8_roof[t]:.1f} GMAC/s) "
                   f"= RTF {total_macs / (int8_roof[t] * 1e9):.3f}, at the best fp32 roofline ({fp32_roof[t]:.1f} GMAC/s) = "
                   f"RTF {total_macs / (fp32_roof[t] * 1e9):.3f}.")
    out += ["", "### Decoder time by op type", ""]
    out += op_table({t: stages[("nodes", "decoder", t)] for t in args.threads}, feed["seconds"])
    for stage in STAGES:
        out += ["", f"### Blocks of stage_{stage} (% roofline vs the best int8 single-op figure at that thread count)", ""]
        out += fmt_table({t: stages[(stage, t)] for t in args.threads}, args.threads, int8_roof)
    text = "\n".join(out)
    print(text)
    if not args.no_write and not args.quick:
        write_result(Path(__file__).parent / "results" / "cost_model.md", "Cost model (bench/cost_model.py)", text, "## Conclusion")
    return 0


if __name__ == "__main__":
    sys.exit(main())
