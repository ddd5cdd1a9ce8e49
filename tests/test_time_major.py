"""The generator's residual streams kept time-major (engine/kokoro/time_major.py): the same numbers in
the other layout, transposed only where a stream enters and leaves."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from takefit.engine.kokoro.session import open_session
from takefit.engine.kokoro.snake import fuse_columns, fuse_norms, fuse_snakes
from takefit.engine.kokoro.time_major import keep_streams_time_major

from test_native_snake import decoder_feeds, library, needs_compiler  # noqa: F401  (a fixture)


def _residual_chain() -> onnx.ModelProto:
    """x → x + conv₁ → + conv₂ → + conv₃, the convolutions' outputs given time-major (as matrix products
    write them) and transposed as the exporter does; the average of two stream points read afterwards,
    and a bias Add (a constant) that must stay as it is."""
    turn = [helper.make_node("Transpose", [f"y{k}"], [f"z{k}"], perm=[0, 2, 1]) for k in (1, 2, 3)]
    adds = [helper.make_node("Add", ["z1", "x"], ["x1"]), helper.make_node("Add", ["z2", "x1"], ["x2"]),
            helper.make_node("Add", ["z3", "x2"], ["x3"]), helper.make_node("Add", ["x3", "x1"], ["sum"]),
            helper.make_node("Div", ["sum", "two"], ["mean"]), helper.make_node("Add", ["mean", "bias"], ["out"])]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 9])]
    inputs += [helper.make_tensor_value_info(f"y{k}", TensorProto.FLOAT, [1, 9, 4]) for k in (1, 2, 3)]
    inits = [helper.make_tensor("two", TensorProto.FLOAT, [], [2.0]),
             helper.make_tensor("bias", TensorProto.FLOAT, [1, 4, 1], [0.1, 0.2, 0.3, 0.4])]
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("out", "x2")]
    return helper.make_model(helper.make_graph(turn + adds, "chain", inputs, outputs, inits),
                             opset_imports=[helper.make_opsetid("", 18)])


def test_a_residual_chain_adds_time_major_and_turns_only_where_it_enters_and_leaves():
    model = _residual_chain()
    rng = np.random.default_rng(0)
    feeds = {"x": rng.standard_normal((1, 4, 9)).astype(np.float32)}
    feeds |= {f"y{k}": rng.standard_normal((1, 9, 4)).astype(np.float32) for k in (1, 2, 3)}
    run = lambda m: ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)  # noqa: E731
    before = run(model)
    # three transposes after the products → one where x enters, one where the sum leaves, one for x2 (an output)
    assert keep_streams_time_major(model) == 0
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("Transpose") == 3 and ops.count("Add") == 5
    assert all(np.array_equal(a, b) for a, b in zip(before, run(model)))
    assert next(n for n in model.graph.node if n.output[0] == "out").input[1] == "bias"     # the constant's Add stays


@pytest.mark.slow
@needs_compiler
def test_the_decoders_norms_all_read_time_major_streams_and_its_samples_stay(engine, library):
    model = onnx.load(str(engine.paths.stage("decoder_vnni")))
    assert fuse_snakes(model) == fuse_columns(model) == fuse_norms(model) == 48
    channel_major, transposes = model.SerializeToString(), [n.op_type for n in model.graph.node].count("Transpose")
    assert keep_streams_time_major(model) == 25          # per upsampling stage 12 → 5, and the decode blocks' own
    assert [a.i for n in model.graph.node for a in n.attribute if a.name == "time_major"] == [1] * 48
    assert transposes - [n.op_type for n in model.graph.node].count("Transpose") == 25
    feeds, samples = decoder_feeds(engine, "Keep the lantern lit until the boats are in.")
    audio = [open_session(graph, threads=2, kernels=library).run(["audio"], feeds)[0].ravel()
             for graph in (channel_major, model.SerializeToString())]
    assert audio[0].size == audio[1].size == samples
    # the Adds are the same sums; only the norms' double sums run in another order (equal on 3 bench lines)
    assert np.corrcoef(audio[0], audio[1])[0, 1] >= 0.99
