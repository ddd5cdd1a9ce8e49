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
from takefit.engine.kokoro.prosody import DURATIONS, ENERGY, F0
from takefit.engine.kokoro.session import open_session
from takefit.engine.kokoro.snake import check, fuse_columns, fuse_snakes

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
    chunk = engine.plan("The ferry leaves at seven.", "af_heart").chunks[0]
    frames = np.maximum(np.round(engine.model.duration(chunk.tokens, chunk.style)), 1).astype(np.float32)
    f0, energy = engine.model.prosody(chunk.tokens, chunk.style, frames)
    feeds = {"tokens": chunk.tokens.reshape(1, -1), "style": chunk.style.reshape(1, 256).astype(np.float32),
             DURATIONS: frames.reshape(1, -1), F0: f0, ENERGY: energy}
    audio = [open_session(graph, threads=2, kernels=library).run(["audio"], feeds)[0].ravel()
             for graph in (snakes_only, model.SerializeToString())]
    assert audio[0].size == int(frames.sum()) * 600 and np.array_equal(audio[0], audio[1])


@needs_compiler
def test_the_kernel_matches_onnxruntimes_five_nodes(library):
    # activations of the decoder's range and far beyond (±300: the range reduction), zeros, a denormal
    assert check(str(library)) <= native.MAX_ERROR


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
    monkeypatch.setenv(native.ENV, "off")
    assert request_key(request) != compiled
    monkeypatch.setenv(native.ENV, "fast")
    with pytest.raises(InputError, match="TAKEFIT_NATIVE='fast'.*auto.*off"):
        native.library()


@needs_compiler
def test_a_kernel_that_computes_something_else_fails_its_check_and_is_not_kept(header_only_root, monkeypatch):
    wrong = native.source().replace(b"y[i] = x[i] + inv * (s * s);", b"y[i] = x[i] + inv * s;")
    assert wrong != native.source()
    monkeypatch.setattr(native, "source", lambda: wrong)
    said = []
    assert native.build(header_only_root, log=said.append) is None
    assert "failed its check" in said[-1] and "graph Snakes" in said[-1]
    assert not (header_only_root / native.LIBRARY).exists()
    assert native.built(header_only_root) is None


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
