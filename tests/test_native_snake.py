"""takefit's compiled Snake kernel (engine/kokoro/native.py, snake.py, kernels/snake.c): built by
`takefit assets fetch` where a C compiler is found, checked before use, the same takes within float
rounding, its own cache keys, and every way it can fail leaves the graph's Snakes in charge."""
import io
import shutil
import subprocess
import sys
import tarfile

import numpy as np
import onnx
import pytest

from takefit.engine import Engine, InputError, RenderRequest, Target
from takefit.engine.cache import request_key
from takefit.engine.kokoro import native
from takefit.engine.kokoro.model import KokoroModel
from takefit.engine.kokoro.prosody import DURATIONS, ENERGY, F0
from takefit.engine.kokoro.session import open_session
from takefit.engine.kokoro.snake import check, fuse_columns, fuse_norms, fuse_snakes

from test_decoder_forms import band_levels

COMPILER = shutil.which("cc") or shutil.which("gcc")
needs_compiler = pytest.mark.skipif(COMPILER is None, reason="no C compiler: takefit runs the graph's Snakes")


@pytest.fixture(scope="module")
def library(engine):
    """Where this machine has a compiler, `make setup` (takefit assets fetch) has built and checked it."""
    lib = native.built()
    assert lib is not None, "a C compiler is here but the Snake kernel is not built: run `takefit assets fetch`"
    return lib


@pytest.fixture
def header_only_root(tmp_path, library):
    """A kernels folder holding only the fetched header (no download in these tests)."""
    include = tmp_path / "include"
    include.mkdir(parents=True)
    shutil.copy(library.parent / "include" / native.spec()["header"], include)
    return tmp_path


def test_every_snake_of_the_decoder_becomes_one_node_and_the_other_sines_stay(engine):
    model = onnx.load(str(engine.paths.stage("decoder")))
    before = sum(n.op_type == "Sin" for n in model.graph.node)
    assert fuse_snakes(model) == 48
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("Snake") == 48 and ops.count("Sin") == before - 48 == 3     # harmonic source, phase, STFT
    assert all(n.domain == "takefit" for n in model.graph.node if n.op_type == "Snake")


@pytest.mark.slow
@needs_compiler
def test_snake_columns_leave_the_vnni_decoders_samples_bit_for_bit_the_same(engine, library):
    """The columns node writes the bytes onnxruntime's DynamicQuantizeLinear + im2col would: the decoder
    with its 48 SnakeColumns renders exactly what it renders with the Snakes alone."""
    model = onnx.load(str(engine.paths.stage("decoder_vnni")))
    assert fuse_snakes(model) == 48
    snakes_only = model.SerializeToString()
    assert fuse_columns(model) == 48
    assert not any(n.op_type in ("Snake", "Slice", "Concat") for n in model.graph.node if n.name.startswith(
        "/decoder/decoder/generator/resblocks"))
    feeds, samples = decoder_feeds(engine)
    audio = [open_session(graph, threads=2, kernels=library).run(["audio"], feeds)[0].ravel()
             for graph in (snakes_only, model.SerializeToString())]
    assert audio[0].size == samples and np.array_equal(audio[0], audio[1])


def decoder_feeds(engine, text: str = "The ferry leaves at seven.") -> tuple[dict, int]:
    """The decoder stage's inputs for `text` as the engine computes them, and the samples it will write."""
    chunk = engine.plan(text, "af_heart").chunks[0]
    frames = np.maximum(np.round(engine.model.duration(chunk.tokens, chunk.style)), 1).astype(np.float32)
    f0, energy = engine.model.prosody(chunk.tokens, chunk.style, frames)
    feeds = {"tokens": chunk.tokens.reshape(1, -1), "style": chunk.style.reshape(1, 256).astype(np.float32),
             DURATIONS: frames.reshape(1, -1), F0: f0, ENERGY: energy}
    return feeds, int(frames.sum()) * 600


@pytest.mark.slow
@needs_compiler
def test_norm_snake_columns_take_in_each_adain_and_the_samples_stay_within_rounding(engine, library):
    """Each AdaIN before a SnakeColumns (instance norm over time, the style's scale and shift) folds into
    one node; after a convolution it reads the matrix product's output, so its transpose goes too. The
    norm's sums run in another order than onnxruntime's, so a code moves by one here and there: the
    samples stay those of the SnakeColumns within the decoder's rounding (as the Snakes themselves)."""
    model = onnx.load(str(engine.paths.stage("decoder_vnni")))
    assert fuse_snakes(model) == 48 and fuse_columns(model) == 48
    columns_only, transposes = model.SerializeToString(), [n.op_type for n in model.graph.node].count("Transpose")
    assert fuse_norms(model) == 48
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("NormSnakeColumns") == 48 and "SnakeColumns" not in ops
    assert not any(n.op_type in ("ReduceMean", "Sqrt") for n in model.graph.node if "/adain" in n.name)
    time_major = [a.i for n in model.graph.node for a in n.attribute if a.name == "time_major"]
    assert sum(time_major) == 25 and transposes - ops.count("Transpose") == 24     # one is read elsewhere too
    feeds, samples = decoder_feeds(engine, "Keep the lantern lit until the boats are in.")
    audio = [open_session(graph, threads=2, kernels=library).run(["audio"], feeds)[0].ravel()
             for graph in (columns_only, model.SerializeToString())]
    assert audio[0].size == audio[1].size == samples
    assert np.corrcoef(audio[0], audio[1])[0, 1] >= 0.98          # measured 0.994; graph vs compiled Snakes 0.996
    ref, out = band_levels(audio[0].astype(np.float64)), band_levels(audio[1].astype(np.float64))
    loud = ref.max(axis=1) > ref.max() - 30
    assert np.median(np.sqrt(np.mean((ref[loud] - out[loud]) ** 2, axis=1))) < 1.0


@needs_compiler
def test_the_kernels_refuse_inputs_they_were_not_built_for(library):
    """Shapes come from the graph, but a wrong one is an error naming what is accepted, not a crash."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    options = ort.SessionOptions()
    options.register_custom_ops_library(str(library))
    options.log_severity_level = 3

    def session(geometry: dict):
        node = helper.make_node("NormSnakeColumns", ["x", "s", "b", "a", "i"], ["c", "q", "z"], domain="takefit",
                                epsilon=1e-5, time_major=0, **geometry)
        io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in "xsbai"]
        out = [helper.make_tensor_value_info(n, t, None) for n, t in
               (("c", TensorProto.UINT8), ("q", TensorProto.FLOAT), ("z", TensorProto.UINT8))]
        model = helper.make_model(helper.make_graph([node], "g", io, out),
                                  opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("takefit", 1)])
        return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])

    with pytest.raises(Exception, match="'same' convolution"):
        session({"kernel": 3, "dilation": 1, "pad": 2})
    run = session({"kernel": 3, "dilation": 1, "pad": 1}).run
    c = np.ones(8, np.float32)
    assert run(None, {"x": np.ones((1, 8, 50), np.float32), "s": c, "b": c, "a": c, "i": c})[0].shape == (1, 50, 24)
    with pytest.raises(Exception, match="C values each"):
        run(None, {"x": np.ones((1, 8, 50), np.float32), "s": c[:4], "b": c, "a": c, "i": c})
    with pytest.raises(Exception, match=r"x must be \[1, C, T\]"):
        run(None, {"x": np.ones((2, 8, 50), np.float32), "s": c, "b": c, "a": c, "i": c})
    many = np.ones(2048, np.float32)
    with pytest.raises(Exception, match="at most 1024 channels"):
        run(None, {"x": np.ones((1, 2048, 4), np.float32), "s": many, "b": many, "a": many, "i": many})


@needs_compiler
def test_the_kernel_matches_onnxruntimes_five_nodes(library):
    # activations of the decoder's range and far beyond (±300: the range reduction), zeros, a denormal
    assert check(str(library)) <= native.MAX_ERROR
    # few channels and a long time: the columns' channel-major blocks then hold the most times
    assert check(str(library), channels=3, length=9000) <= native.MAX_ERROR


@pytest.mark.slow
@needs_compiler
def test_the_engine_runs_the_compiled_snakes_and_its_takes_match_the_graphs(engine, library, monkeypatch):
    """The same plan and exact length; the sound within the rounding the decoder's dynamic int8
    quantisation turns a last-bit difference into (as between its two forms: test_decoder_forms.py)."""
    assert engine.model.decoder.kernels == library
    text = "The ferry leaves at seven, so pack tonight."
    natural, fitted = RenderRequest(text), RenderRequest(text, target=Target.parse("3.1s"))
    fast = [engine.render(r) for r in (natural, fitted)]
    monkeypatch.setenv(native.ENV, "off")
    plain = Engine(threads=2)
    assert plain.model.decoder.kernels is None
    graph = [plain.render(r) for r in (natural, fitted)]
    assert fast[0].samples == graph[0].samples
    assert np.corrcoef(fast[0].audio, graph[0].audio)[0, 1] >= 0.98
    fast, graph = fast[1], graph[1]     # fitted: stretching moves the fine structure, not the envelope
    assert fast.samples == graph.samples == round(3.1 * fast.sample_rate)
    assert (fast.phonemes, fast.method, fast.ratio) == (graph.phonemes, graph.method, graph.ratio)
    ref, out = band_levels(graph.audio.astype(np.float64)), band_levels(fast.audio.astype(np.float64))
    loud = ref.max(axis=1) > ref.max() - 30
    assert np.median(np.sqrt(np.mean((ref[loud] - out[loud]) ** 2, axis=1))) < 2.0


@needs_compiler
def test_takes_of_the_compiled_and_the_graph_snakes_have_their_own_cache_keys(library, monkeypatch):
    request = RenderRequest("Hello there.")
    compiled = request_key(request)
    monkeypatch.setattr(native, "FUSION", native.FUSION - 1)     # the rewrite of an earlier takefit
    earlier = request_key(request)
    monkeypatch.setenv(native.ENV, "off")
    assert len({request_key(request), compiled, earlier}) == 3
    monkeypatch.setenv(native.ENV, "fast")
    with pytest.raises(InputError, match="TAKEFIT_NATIVE='fast'.*auto.*off"):
        native.library()


@needs_compiler
def test_a_process_keeps_the_kernels_it_loaded_when_they_are_rebuilt_meanwhile(library, monkeypatch):
    """`takefit assets fetch` under a running daemon: the daemon's decoders keep what they loaded, so its
    takes' keys must keep naming that, not what the disk holds now."""
    form = native.snake_form()
    assert native.library() == library and form.startswith("native/")
    monkeypatch.setattr(native, "built", lambda folder=None: None)      # rebuilt elsewhere: not (yet) checked
    assert native.library() == library and native.snake_form() == form
    monkeypatch.setattr(native, "kernels_dir", lambda: library.parent / "elsewhere")   # another folder: asked anew
    assert native.library() is None and native.snake_form() == "graph"


@needs_compiler
def test_a_kernel_that_computes_something_else_fails_its_check_and_is_not_kept(header_only_root, monkeypatch):
    wrong = native.source().replace(b"return u + inv * (s * s);", b"return u + inv * s;")
    assert wrong != native.source()
    monkeypatch.setattr(native, "source", lambda: wrong)
    said = []
    assert native.build(header_only_root, log=said.append) is None
    assert "failed its check" in said[-1] and "graph Snakes" in said[-1]
    assert not (header_only_root / native.LIBRARY).exists()
    assert native.built(header_only_root) is None


@needs_compiler
def test_a_library_of_another_version_is_not_used_and_the_engine_says_how_to_rebuild_it(engine, header_only_root,
                                                                                         monkeypatch):
    assert native.build(header_only_root, log=lambda _: None) is not None and not native.stale(header_only_root)
    later = b"/* a later takefit */\n" + native.source()
    monkeypatch.setattr(native, "source", lambda: later)
    native.source_digest.cache_clear()
    try:
        assert native.built(header_only_root) is None and native.stale(header_only_root)
        monkeypatch.setattr(native, "kernels_dir", lambda: header_only_root)
        with pytest.warns(UserWarning, match=r"another version.*graph Snakes.*takefit assets fetch"):
            KokoroModel(engine.paths, threads=1).wait()
    finally:
        native.source_digest.cache_clear()


@needs_compiler
def test_a_failing_compiler_or_none_leaves_the_graph_snakes_and_says_why(header_only_root, monkeypatch):
    said = []
    monkeypatch.setenv("CC", shutil.which("false"))
    assert native.build(header_only_root, log=said.append) is None
    assert "not built" in said[-1] and "graph Snakes" in said[-1]
    monkeypatch.setenv("CC", "")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert native.build(header_only_root, log=said.append) is None
    assert "no C compiler" in said[-1] and "apt-get install gcc" in said[-1]
    assert native.built(header_only_root) is None


@needs_compiler
def test_a_build_is_checked_stamped_and_a_changed_library_is_not_trusted(header_only_root):
    said = []
    lib = native.build(header_only_root, log=said.append)
    assert lib is not None and native.built(header_only_root) == lib and "compiled and checked" in said[-1]
    with open(lib, "ab") as f:                  # anything but the checked build
        f.write(b"\0")
    assert native.built(header_only_root) is None


def test_the_header_is_read_out_of_a_debian_package():
    def ar_member(name: str, data: bytes) -> bytes:
        head = f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n".encode()
        return head + data + (b"\n" if len(data) % 2 else b"")

    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w:xz") as tar:
        body = b"#define ORT_API_VERSION 21\n"
        info = tarfile.TarInfo("./usr/include/onnxruntime/onnxruntime_c_api.h")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    deb = b"!<arch>\n" + ar_member("debian-binary", b"2.0\n") + ar_member("data.tar.xz", tar_bytes.getvalue())
    assert native._member(deb, "./usr/include/onnxruntime/onnxruntime_c_api.h") == body
    with pytest.raises(ValueError, match="not a Debian package"):
        native._member(b"<html>", "x")


@needs_compiler
def test_assets_verify_names_which_snakes_the_decoder_runs(library):
    out = subprocess.run([sys.executable, "-m", "takefit.bridges.cli", "assets", "verify"], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0 and f"decoder Snakes: compiled ({library})" in out.stdout
