"""Faster forms of the decoder stage, each against today's stage_decoder.onnx: speed and sound match.

    python bench/decoder_variants.py [--lines 5] [--rounds 3] [--only NAME ...] [--quick] [--no-process]

Every variant is a (model file, session options) pair. Model files other than the shipped one are
built reproducibly from checkpoints/kokoro/stage_decoder.onnx into /tmp/variants/ (never committed):

  * ort_<level>_*.onnx   onnxruntime's own optimised graph saved offline (optimized_model_filepath),
                         then loaded with graph optimisation disabled (does load time drop?)
  * im2col_s8_*.onnx     build_im2col_s8: each 'same' stride-1 dynamic-int8 ConvInteger chain →
                         uint8 im2col (Transpose/Pad/Slice/Concat) + com.microsoft MatMulIntegerToFloat
                         with s8 weights (w − 128): same dynamic activation quantisation and integer
                         products, run on onnxruntime's u8s8 kernels (VNNI where the CPU has it)
  * stftconv_*.onnx      the STFT op → two fp32 Convs with the windowed DFT basis
  * fp32_*.onnx          every DynamicQuantizeLinear → ConvInteger → +bias → Cast → ×scale chain
                         → fp32 Conv with dequantised weights (the issue's rejected reference)
  * adain_ln_*.onnx      each AdaIN's decomposed instance norm → one LayerNormalization (time axis)
  * fused_*_*.onnx       the engine's rewrite for takefit's compiled kernels (engine/kokoro/snake.py):
                         each Snake as one takefit.Snake node (fused_snake), those before the VNNI
                         form's im2col as SnakeColumns (fused_columns), with their AdaIN as
                         NormSnakeColumns (fused_norms), the residual streams time-major
                         (fused_kernels: the engine's graph); sessions register the library
  * no_snake_*.onnx      every Snake activation removed: not a candidate, the speed bound of a fused
                         Snake kernel
  * static_*.onnx        fp32 statically quantised by onnxruntime.quantization.quantize_static
                         (Conv only, conv_post left fp32), MinMax-calibrated on real decoder inputs of
                         4 bench lines; QOperator (QLinearConv) or QDQ, per-channel s8 or u8 weights

Speed: all sessions are open at once; each round runs every line through every variant in a rotated
order (noise from other jobs hits all alike); the RTF ratio to the baseline is taken per round and
the median over rounds is reported. Because idle thread pools of the other open sessions spin and
steal cores in such an interleave, thread/spinning settings are then re-measured on the whole
3-stage pipeline with one fresh process per config (process_ab). Sound: per line, the variant's
samples vs the baseline's — Pearson correlation, max abs difference, log-spectral distance (phase-
blind) and the resemblyzer d-vector cosine (engine/speaker.py; goal ≥ 0.98); worst line reported.
Lines: English + Mandarin bench sentences (bench/data), decoder inputs captured by the real Engine
(cached in /tmp/variants).

--quick: 1 English line, 2 rounds, 4 variants (baseline, 1 thread, allow_spinning=0, im2col s8),
no process comparison (< 1 min).
Writes bench/results/decoder_variants.md unless --no-write or --quick.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

sys.path.insert(0, str(Path(__file__).parent))
from cost_model import CKPT, SCRATCH, bench_lines, capture_feeds, write_result  # noqa: E402  (same real inputs)

from takefit.engine.kokoro.int8 import build_vnni_decoder, dynamic_conv_chain as _conv_chain  # noqa: E402
from takefit.engine.kokoro.int8 import graph_index as _index, prune_unused as _prune  # noqa: E402
from takefit.engine.kokoro import native  # noqa: E402
from takefit.engine.kokoro.snake import fuse_columns, fuse_kernels, fuse_norms, fuse_snakes  # noqa: E402

BASE = CKPT / "stage_decoder.onnx"
VNNI = CKPT / "stage_decoder_vnni.onnx"         # what `auto` runs on a VNNI CPU (engine/kokoro/int8.py)
SLEEPING = {"session.intra_op.allow_spinning": 0}
LEVELS = {"disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL, "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
          "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED, "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}


@dataclass
class Variant:
    name: str
    build: callable = None          # () -> model path; None = the shipped stage_decoder.onnx
    level: str = "all"              # onnxruntime's default, what the engine uses today
    threads: int = 2
    config: dict = field(default_factory=dict)   # session config entries
    parallel: bool = False          # execution_mode ORT_PARALLEL (inter-op 2)
    quick: bool = False             # part of --quick (cheap to build and run)
    kernels: bool = False           # registers takefit's compiled kernels (engine/kokoro/native.py)

    def path(self) -> Path:
        return Path(self.build()) if self.build else BASE


def open_variant(v: Variant) -> tuple[ort.InferenceSession, float]:
    """Session as engine/kokoro/session.py opens it, with the variant's changes; returns load seconds."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads, opts.log_severity_level = v.threads, 1, 3
    opts.graph_optimization_level = LEVELS[v.level]
    if v.parallel:
        opts.execution_mode, opts.inter_op_num_threads = ort.ExecutionMode.ORT_PARALLEL, 2
    for key, value in v.config.items():
        opts.add_session_config_entry(key, str(value))
    if v.kernels:
        lib = native.built()
        if lib is None:
            raise SystemExit(f"{v.name}: the compiled kernels are not built: run `takefit assets fetch`")
        opts.register_custom_ops_library(str(lib))
    path = str(v.path())
    t0 = time.perf_counter()
    sess = ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])
    return sess, time.perf_counter() - t0


# ------------------------------------------------------------------ model builders (reproducible)
def build_ort_optimized(level: str = "extended", src: Path = BASE) -> Path:
    """onnxruntime's optimised graph saved once; load it later with optimisation disabled."""
    out = SCRATCH / f"ort_{level}_{src.stem}.onnx"
    if not out.exists():
        opts = ort.SessionOptions()
        opts.graph_optimization_level, opts.optimized_model_filepath = LEVELS[level], str(out)
        opts.log_severity_level = 3
        ort.InferenceSession(str(src), sess_options=opts, providers=["CPUExecutionProvider"])
    return out


def _dequant_conv(node, producer, consumers, inits):
    """The fp32 Conv equivalent to one dynamic-int8 ConvInteger chain (see _conv_chain), or None."""
    chain = _conv_chain(node, producer, consumers, inits)
    if chain is None:
        return None
    dql, bias, mul, w_scale = chain
    w, wzp = inits[node.input[1]], inits.get(node.input[3]) if len(node.input) > 3 else None
    wq = numpy_helper.to_array(w).astype(np.float32) - (numpy_helper.to_array(wzp).astype(np.float32) if wzp is not None else 0)
    name = node.name.replace("_quant", "") + "_fp32"
    new_inits = [numpy_helper.from_array(wq * numpy_helper.to_array(inits[w_scale]).astype(np.float32), name + ".weight")]
    inputs = [dql.input[0], name + ".weight"]
    if bias is not None:
        new_inits.append(numpy_helper.from_array(bias, name + ".bias"))
        inputs.append(name + ".bias")
    conv = helper.make_node("Conv", inputs, [mul.output[0]], name=name,
                            **{a.name: helper.get_attribute_value(a) for a in node.attribute})
    return conv, mul, new_inits


def rewritten(src: Path, prefix: str, rewrite) -> Path:
    """`src` with `rewrite(graph)` applied, unused nodes pruned, saved once in SCRATCH as <prefix>_<src>."""
    out = SCRATCH / f"{prefix}_{src.stem}.onnx"
    if not out.exists():
        model = onnx.load(str(src))
        rewrite(model.graph)
        _prune(model.graph)
        onnx.save(model, str(out))
    return out


def build_fp32(src: Path = BASE) -> Path:
    """Every dynamic-int8 ConvInteger chain → fp32 Conv (weights (w − zp)·scale, float bias)."""
    def rewrite(graph):
        producer, consumers, inits = _index(graph)
        for node in [n for n in graph.node if n.op_type == "ConvInteger"]:
            found = _dequant_conv(node, producer, consumers, inits)
            if found is None:
                continue
            conv, mul, new_inits = found
            graph.node.insert(list(graph.node).index(mul), conv)
            graph.node.remove(mul)             # the Conv now produces the Mul's output
            graph.initializer.extend(new_inits)
    return rewritten(src, "fp32", rewrite)


def build_stft_conv(src: Path = BASE) -> Path:
    """The STFT node (n_fft 20, hop 5, Hann window, onesided; 3-4 % of the decoder, run on one thread)
    and the Transpose + Gather(real/imag) after it → two fp32 Convs with the windowed DFT basis
    (11 real + 11 imaginary filters, stride = hop): the same numbers up to float rounding."""
    out = SCRATCH / f"stftconv_{src.stem}.onnx"
    if out.exists():
        return out
    model = onnx.load(str(src))
    graph = model.graph
    producer, consumers, inits = _index(graph)
    stft = next(n for n in graph.node if n.op_type == "STFT")
    const = lambda name: numpy_helper.to_array(inits[name])  # noqa: E731
    hop, window = int(const(stft.input[1])), const(stft.input[2]).astype(np.float64)
    n_fft = window.size
    k, n = np.arange(n_fft // 2 + 1)[:, None], np.arange(n_fft)[None, :]
    basis = {0: np.cos(2 * np.pi * k * n / n_fft) * window, 1: -np.sin(2 * np.pi * k * n / n_fft) * window}
    # exact zeros where the DFT has them (imaginary part of DC and Nyquist): a 1e-17 left there gives the
    # phase of a negative real bin a random sign (±π), and the decoder turns that into audible change
    basis = {part: np.where(np.abs(b) < 1e-9, 0.0, b) for part, b in basis.items()}
    (transpose,) = consumers[stft.output[0]]
    signal = stft.input[0] + "_chan"
    new = [helper.make_node("Unsqueeze", [stft.input[0], "stftconv.axis1"], [signal], name="stftconv/Unsqueeze")]
    graph.initializer.append(numpy_helper.from_array(np.array([1], np.int64), "stftconv.axis1"))
    for gather in consumers[transpose.output[0]]:      # Gather(axis 3, index 0 = real / 1 = imaginary)
        part = int(const(gather.input[1]))
        wname = f"stftconv.basis{part}"
        graph.initializer.append(numpy_helper.from_array(basis[part][:, None, :].astype(np.float32), wname))
        new.append(helper.make_node("Conv", [signal, wname], [gather.output[0]], name=f"stftconv/Conv{part}",
                                    strides=[hop], kernel_shape=[n_fft]))
        graph.node.remove(gather)
    at = list(graph.node).index(stft)
    for node in reversed(new):
        graph.node.insert(at, node)
    graph.node.remove(transpose)
    graph.node.remove(stft)
    _prune(graph)
    onnx.save(model, str(out))
    return out


def build_im2col_s8(src: Path = BASE) -> Path:
    """Every 'same' stride-1 dynamic-int8 ConvInteger chain → uint8 im2col + MatMulIntegerToFloat (s8
    weights): the engine's own VNNI decoder form (takefit/engine/kokoro/int8.py), built from `src`."""
    out = SCRATCH / f"im2col_s8_{src.stem}.onnx"
    if not out.exists():
        build_vnni_decoder(src, out)
    return out


def _instance_norm(rm, consumers, inits):
    """AdaIN's instance norm as the exporter wrote it (ReduceMean → Sub → Mul(d, d) → ReduceMean → +eps →
    Sqrt → Div), from its first ReduceMean: (its 7 nodes, eps), or None."""
    x, mean = rm.input[0], rm.output[0]
    subs = [c for c in consumers.get(mean, []) if c.op_type == "Sub" and list(c.input) == [x, mean]]
    if len(subs) != 1:
        return None
    d = subs[0].output[0]
    uses = {id(c): c for c in consumers.get(d, [])}.values()
    sq = [c for c in uses if c.op_type == "Mul" and list(c.input) == [d, d]]
    div = [c for c in uses if c.op_type == "Div" and c.input[0] == d]
    if len(uses) != 2 or len(sq) != 1 or len(div) != 1:
        return None
    chain = [sq[0]]
    for op in ("ReduceMean", "Add", "Sqrt"):
        nxt = consumers.get(chain[-1].output[0], [])
        if len(nxt) != 1 or nxt[0].op_type != op:
            return None
        chain.append(nxt[0])
    eps = [i for i in chain[2].input if i in inits]
    if div[0].input[1] != chain[3].output[0] or not eps:
        return None
    return [rm, subs[0], *chain, div[0]], float(numpy_helper.to_array(inits[eps[0]]))


def build_adain_layernorm(src: Path = BASE) -> Path:
    """Each AdaIN's decomposed instance norm (7 ops, 5 passes over the tensor) → one LayerNormalization
    over the time axis (scale = ones of the time length), the style's (1 + γ)·n + β kept as it is."""
    def rewrite(graph):
        _, consumers, inits = _index(graph)
        for rm in [n for n in graph.node if n.op_type == "ReduceMean"]:
            found = _instance_norm(rm, consumers, inits)
            if not found:
                continue
            nodes, eps = found
            p, x = rm.name + "_ln", rm.input[0]
            at = list(graph.node).index(rm)
            ones = numpy_helper.from_array(np.ones(1, np.float32))
            for n in reversed([helper.make_node("Shape", [x], [p + ".t"], start=-1, name=p + "/Shape"),
                               helper.make_node("ConstantOfShape", [p + ".t"], [p + ".ones"], value=ones,
                                                name=p + "/Ones"),
                               helper.make_node("LayerNormalization", [x, p + ".ones"], [nodes[-1].output[0]], axis=-1,
                                                epsilon=eps, name=p + "/LayerNormalization")]):
                graph.node.insert(at, n)
            for n in nodes:
                graph.node.remove(n)
    return rewritten(src, "adain_ln", rewrite)


FUSION_STEPS = {"snake": (fuse_snakes,), "columns": (fuse_snakes, fuse_columns),
                "norms": (fuse_snakes, fuse_columns, fuse_norms), "kernels": (fuse_kernels,)}


def build_fused(src: Path = BASE, steps: str = "snake") -> Path:
    """The engine's rewrite for the compiled kernels (engine/kokoro/snake.py) up to a step: every Snake
    as one takefit.Snake node (snake); those before the VNNI form's im2col as SnakeColumns (columns);
    with the AdaIN before them as NormSnakeColumns (norms); and the residual streams time-major
    (kernels: all of it, what the engine runs)."""
    out = SCRATCH / f"fused_{steps}_{native.source_digest()[:8]}_{src.stem}.onnx"
    if not out.exists():
        model = onnx.load(str(src))
        for step in FUSION_STEPS[steps]:
            step(model)
        onnx.save(model, str(out))
    return out


def build_no_snake(src: Path = BASE) -> Path:
    """Not a candidate (the sound changes): every Snake x + sin²(αx)/α → x. The decoder's time without
    its Snakes is what a free fused Snake kernel could reach at best."""
    def rewrite(graph):
        producer, consumers, _ = _index(graph)
        for sin in [n for n in graph.node if n.op_type == "Sin"]:
            scale = producer.get(sin.input[0])
            if scale is None or scale.op_type != "Mul":
                continue                                   # the harmonic source's own Sin
            pw = consumers[sin.output[0]][0]
            inv = consumers[pw.output[0]][0]
            add = consumers[inv.output[0]][0]
            x = [i for i in add.input if i != inv.output[0]][0]
            for n in graph.node:
                n.input[:] = [x if i == add.output[0] else i for i in n.input]
            for n in (scale, sin, pw, inv, add):
                graph.node.remove(n)
    return rewritten(src, "no_snake", rewrite)


class FeedReader:
    """Calibration data: the real decoder feeds of bench lines (onnxruntime CalibrationDataReader)."""

    def __init__(self, feeds):
        self.it = iter([f["decoder"] for f in feeds])

    def get_next(self):
        return next(self.it, None)


def static_name(fmt, weight, per_channel, reduce_range, n_calib=4, exclude=("conv_post",)) -> str:
    ex = "_ex-" + "-".join(e.replace("/", "").replace(".", "") for e in exclude) if exclude else ""
    return f"static_{fmt}_{weight}{'_pc' if per_channel else ''}{'_rr' if reduce_range else ''}_c{n_calib}{ex}.onnx"


def build_static(fmt: str = "qop", weight: str = "s8", per_channel: bool = True, reduce_range: bool = False,
                 n_calib: int = 4, exclude=("conv_post",)) -> Path:
    """fp32.onnx statically quantised (Conv only: the ConvInteger work) from real decoder inputs.
    `exclude`: name substrings of Convs left fp32 — conv_post by default: it was fp32 in the shipped
    graph too, and its output is the iSTFT's log-magnitude and phase, which 8 bits would ruin."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    out = SCRATCH / static_name(fmt, weight, per_channel, reduce_range, n_calib, exclude)
    if out.exists():
        return out
    calib = capture_feeds(bench_lines(n_calib // 2, n_calib - n_calib // 2))   # same bench lines, en + zh
    fp32 = build_fp32()
    skip = [n.name for n in onnx.load(str(fp32), load_external_data=False).graph.node
            if n.op_type == "Conv" and any(e in n.name for e in exclude)]
    quantize_static(
        str(fp32), str(out), FeedReader(calib), nodes_to_exclude=skip,
        quant_format=QuantFormat.QOperator if fmt == "qop" else QuantFormat.QDQ,
        op_types_to_quantize=["Conv"], per_channel=per_channel, reduce_range=reduce_range,
        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8 if weight == "s8" else QuantType.QUInt8,
        calibrate_method=CalibrationMethod.MinMax,
        calibration_cache_path=str(SCRATCH / f"calib_c{n_calib}.json"),   # one calibration for all static forms
        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
    )
    return out


# ------------------------------------------------------------------ the variants
def static_variant(label, fmt, weight, per_channel, reduce_range=False) -> Variant:
    return Variant(label, build=lambda: build_static(fmt, weight, per_channel, reduce_range))


def variants() -> list[Variant]:
    return [
        Variant("baseline (shipped, ORT_ENABLE_ALL, 2 threads)", quick=True),
        Variant("level BASIC", level="basic"),
        Variant("level EXTENDED", level="extended"),
        Variant("level DISABLE_ALL", level="disable"),
        Variant("offline ORT-optimised (EXTENDED) file, loaded with DISABLE_ALL",
                build=lambda: build_ort_optimized("extended"), level="disable"),
        Variant("offline ORT-optimised (ALL) file, loaded with DISABLE_ALL",
                build=lambda: build_ort_optimized("all"), level="disable"),
        Variant("1 intra-op thread", threads=1, quick=True),
        Variant("allow_spinning=0", config={"session.intra_op.allow_spinning": 0}, quick=True),
        Variant("set_denormal_as_zero=1", config={"session.set_denormal_as_zero": 1}),
        Variant("execution_mode PARALLEL (inter-op 2)", parallel=True),
        Variant("STFT op → 2 fp32 Convs (DFT basis)", build=build_stft_conv),
        Variant("im2col u8 + MatMulIntegerToFloat s8 (dynamic int8 kept)", build=build_im2col_s8, quick=True),
        Variant("im2col s8 + allow_spinning=0", build=build_im2col_s8, config={"session.intra_op.allow_spinning": 0}),
        Variant("im2col s8, offline ORT-optimised (ALL) file, loaded with DISABLE_ALL",
                build=lambda: build_ort_optimized("all", build_im2col_s8()), level="disable"),
        Variant("fp32 Conv, dequantised weights (reference)", build=build_fp32),
        Variant("AdaIN instance norm → LayerNormalization", build=build_adain_layernorm),
        Variant("Snakes removed (not a candidate: the bound a free Snake kernel could reach)", build=build_no_snake),
        Variant("VNNI decoder as shipped, sleeping pools", build=lambda: VNNI, config=SLEEPING),
        Variant("VNNI decoder, compiled Snakes (takefit.Snake), sleeping pools",
                build=lambda: build_fused(VNNI), config=SLEEPING, kernels=True),
        Variant("VNNI decoder, compiled Snakes + SnakeColumns, sleeping pools",
                build=lambda: build_fused(VNNI, "columns"), config=SLEEPING, kernels=True),
        Variant("VNNI decoder, + NormSnakeColumns (AdaIN folded in), sleeping pools",
                build=lambda: build_fused(VNNI, "norms"), config=SLEEPING, kernels=True),
        Variant("VNNI decoder, + time-major streams (the engine with its kernels), sleeping pools",
                build=lambda: build_fused(VNNI, "kernels"), config=SLEEPING, kernels=True),
        Variant("shipped decoder, compiled Snakes (an AVX2 CPU's engine with its kernel)",
                build=lambda: build_fused(BASE), config=SLEEPING, kernels=True),
        Variant("VNNI decoder, Snakes removed, sleeping pools (the bound of a free Snake kernel there)",
                build=lambda: build_no_snake(VNNI), config=SLEEPING),
        static_variant("static QOperator QLinearConv, u8 act / s8 per-channel weights", "qop", "s8", True),
        static_variant("static QOperator, s8 per-channel, reduce_range", "qop", "s8", True, True),
        static_variant("static QDQ, s8 per-channel (fused to QLinearConv at load)", "qdq", "s8", True),
        static_variant("static QOperator, u8u8 per-tensor weights", "qop", "u8", False),
    ]


# ------------------------------------------------------------------ measuring
def dvector_fn():
    """resemblyzer's d-vector of a 24 kHz waveform, or None if resemblyzer is not importable."""
    try:  # the project's own resemblyzer d-vector (engine/speaker.py; resemblyzer's __init__ needs pkg_resources)
        from takefit.engine.speaker import encoder
        enc = encoder("resemblyzer")
    except Exception:  # noqa: BLE001 — optional dependency (the enroll/eval extra)
        return None
    return lambda wav: enc.embed(wav.astype(np.float32), 24000)


def log_spectral_distance(r: np.ndarray, o: np.ndarray, n_fft: int = 1024, hop: int = 256) -> float:
    """RMS difference of the log power spectra in dB, averaged over frames: blind to phase, which this
    decoder scrambles from tiny perturbations (its harmonic-source STFT phase feeds the noise convs)."""
    win = np.hanning(n_fft)
    frames = lambda x: np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop] * win  # noqa: E731
    db = lambda x: 10 * np.log10(np.abs(np.fft.rfft(frames(x), axis=-1)) ** 2 + 1e-8)  # noqa: E731
    return float(np.mean(np.sqrt(np.mean((db(r) - db(o)) ** 2, axis=-1))))


def sound_match(ref: np.ndarray, out: np.ndarray, embed) -> dict:
    n = min(ref.size, out.size)
    r, o = ref[:n].astype(np.float64), out[:n].astype(np.float64)
    m = {"corr": float(np.corrcoef(r, o)[0, 1]), "maxdiff": float(np.abs(r - o).max()), "len_ok": ref.size == out.size,
         "lsd": log_spectral_distance(r, o)}
    if embed is not None:
        a, b = embed(ref), embed(out)
        m["dvec"] = float(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b))
    return m


def time_rounds(sessions: dict, feeds: list, rounds: int) -> tuple[dict[str, list[float]], dict[str, list]]:
    """Per variant, the RTF of each round (the variant order rotates every line) and its audio per line."""
    names, audio_s = list(sessions), sum(f["seconds"] for f in feeds)
    rtf, audio = {n: [] for n in names}, {n: [None] * len(feeds) for n in names}
    for r in range(rounds):
        spent = dict.fromkeys(names, 0.0)
        for li, f in enumerate(feeds):
            k = (r * len(feeds) + li) % len(names)
            for n in names[k:] + names[:k]:
                t0 = time.perf_counter()
                audio[n][li] = sessions[n].run(["audio"], f["decoder"])[0].reshape(-1)
                spent[n] += time.perf_counter() - t0
        for n in names:
            rtf[n].append(spent[n] / audio_s)
    return rtf, audio


# ------------------------------------------------------------------ whole pipeline, one process per config
PROCESS_CONFIGS = [  # (label, decoder builder name or "", allow_spinning, threads)
    ("engine today: 3 shipped stages, spinning on, 2 threads", "", 1, 2),
    ("allow_spinning=0 on all 3 sessions", "", 0, 2),
    ("1 thread per session", "", 1, 1),
    ("im2col s8 decoder, spinning on", "build_im2col_s8", 1, 2),
    ("im2col s8 decoder + allow_spinning=0", "build_im2col_s8", 0, 2),
    ("im2col s8 decoder + 1 thread per session", "build_im2col_s8", 1, 1),
]


def worker(spec: dict) -> None:
    """One config in a fresh process: open the three stages as the engine does (plus the config),
    warm up on one line, then time duration → prosody → decoder over all lines. Prints JSON."""
    import json
    feeds = capture_feeds(bench_lines(*spec["lines"]))
    decoder = Path(globals()[spec["build"]]()) if spec["build"] else BASE
    paths = {"duration": CKPT / "stage_duration.onnx", "prosody": CKPT / "stage_prosody.onnx", "decoder": decoder}
    t0 = time.perf_counter()
    sess = {k: open_variant(Variant(k, build=lambda p=p: p, threads=spec["threads"],
                                    config={"session.intra_op.allow_spinning": spec["spin"]}))[0] for k, p in paths.items()}
    load = time.perf_counter() - t0
    run = lambda f: [sess[k].run(None, f[k]) for k in ("duration", "prosody", "decoder")]  # noqa: E731
    run(feeds[0])
    t0 = time.perf_counter()
    for f in feeds:
        run(f)
    print(json.dumps({"rtf": (time.perf_counter() - t0) / sum(f["seconds"] for f in feeds), "load": load}))


def process_ab(lines: tuple[int, int], rounds: int) -> list[str]:
    """PROCESS_CONFIGS, each in its own process (no idle thread pools of other sessions around),
    rotated each round; ratio to the first config per round, median."""
    import json
    import subprocess
    res = {c[0]: [] for c in PROCESS_CONFIGS}
    loads = {c[0]: [] for c in PROCESS_CONFIGS}
    for r in range(rounds):
        order = PROCESS_CONFIGS[r % len(PROCESS_CONFIGS):] + PROCESS_CONFIGS[:r % len(PROCESS_CONFIGS)]
        for label, build, spin, threads in order:
            spec = {"build": build, "spin": spin, "threads": threads, "lines": list(lines)}
            out = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], capture_output=True, text=True, check=True)
            got = json.loads(out.stdout.strip().splitlines()[-1])
            res[label].append(got["rtf"])
            loads[label].append(got["load"])
    base = np.array(res[PROCESS_CONFIGS[0][0]])
    rows = ["| pipeline config (own process) | RTF (3 stages) | ratio vs engine today | load 3 sessions, s |", "|---|---:|---:|---:|"]
    for label, v in res.items():
        ratio = np.array(v) / base
        rows.append(f"| {label} | {np.median(v):.3f} | {np.median(ratio):.3f}× ({ratio.min():.2f}–{ratio.max():.2f}) | {np.median(loads[label]):.2f} |")
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=5, help="lines per language (en + zh)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (median ratio)")
    ap.add_argument("--only", nargs="*", help="substrings of variant names to run (baseline always runs)")
    ap.add_argument("--quick", action="store_true", help="1 line, 2 rounds, 4 variants, no process comparison (< 1 min)")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--no-process", action="store_true", help="skip the one-process-per-config pipeline comparison")
    ap.add_argument("--worker", help=argparse.SUPPRESS)   # internal: one process_ab config
    args = ap.parse_args()
    if args.worker:
        import json
        worker(json.loads(args.worker))
        return 0
    SCRATCH.mkdir(parents=True, exist_ok=True)
    load_at_start = os.getloadavg()[0]   # other jobs share the machine: absolute RTFs move with it, ratios less
    n_en, n_zh = (1, 0) if args.quick else (args.lines, args.lines)
    feeds = capture_feeds(bench_lines(n_en, n_zh))
    chosen = [v for i, v in enumerate(variants()) if i == 0 or not args.only or any(s in v.name for s in args.only)]
    if args.quick:
        chosen = [v for v in chosen if v.quick]
        args.rounds = 2
    sessions, loads = {}, {}
    for v in chosen:
        v.path()                                    # build first, so load time is load only
        sessions[v.name], loads[v.name] = open_variant(v)
        sessions[v.name].run(["audio"], feeds[0]["decoder"])   # warm-up
    rtf, audio = time_rounds(sessions, feeds, args.rounds)
    embed = dvector_fn()
    rows = [table_row(v, rtf, loads, audio, embed, chosen[0].name) for v in chosen]
    audio = sum(f["seconds"] for f in feeds)
    head = (f"{len(feeds)} lines ({n_en} en + {n_zh} zh, {audio:.1f} s audio), {args.rounds} interleaved rounds, "
            f"onnxruntime {ort.__version__}, load average {load_at_start:.1f} at the start; baseline RTF median {np.median(rtf[chosen[0].name]):.3f}. Ratio = variant RTF / "
            f"baseline RTF per round, median (min–max). Sound vs baseline: worst line.\n\n"
            "| variant | RTF | ratio vs baseline | load s | corr (min) | max abs diff | log-spectral dist. dB (max) | d-vector cos (min) | same length |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|---|")
    text = head + "\n" + "\n".join(rows)
    print(text, flush=True)
    if not args.quick and not args.no_process:
        proc = process_ab((n_en, n_zh), args.rounds)
        text += ("\n\n### Whole pipeline (duration → prosody → decoder), one fresh process per config, rotated, "
                 f"{args.rounds} rounds\n\n" + "\n".join(proc))
        print("\n".join(proc))
    if not args.no_write and not args.quick:
        write_result(Path(__file__).parent / "results" / "decoder_variants.md", "Decoder variants (bench/decoder_variants.py)",
                     text, "## Recommendation")
    return 0


def table_row(v, rtf, loads, audio, embed, base) -> str:
    ratios = np.array(rtf[v.name]) / np.array(rtf[base])
    ms = [sound_match(ref, out, embed) for ref, out in zip(audio[base], audio[v.name])]
    dvec = f"{min(m['dvec'] for m in ms):.4f}" if embed is not None else "–"
    return (f"| {v.name} | {np.median(rtf[v.name]):.3f} | {np.median(ratios):.3f}× ({ratios.min():.2f}–{ratios.max():.2f}) | "
            f"{loads[v.name]:.2f} | {min(m['corr'] for m in ms):.4f} | {max(m['maxdiff'] for m in ms):.4f} | "
            f"{max(m['lsd'] for m in ms):.2f} | {dvec} | "
            f"{'yes' if all(m['len_ok'] for m in ms) else 'NO'} |")


if __name__ == "__main__":
    sys.exit(main())
