"""The decoder's VNNI form (engine/kokoro/int8.py): same lengths, near-identical audio, its own cache keys."""
import numpy as np
import pytest

from takefit.engine import Engine, InputError, RenderRequest, Target
from takefit.engine.kokoro import forms, native
from takefit.engine.kokoro.decoder import DecoderStage
from takefit.engine.kokoro.int8 import MIN_CORRELATION, graph_index

needs_vnni = pytest.mark.skipif(not forms.cpu_has_vnni(), reason="the VNNI form runs only where the CPU has VNNI")
LINES = [("The ferry leaves at seven, so pack tonight.", "af_heart"), ("明天早上七点，渡轮准时出发。", "zf_xiaoxiao")]


@pytest.fixture(scope="module")
def decoders(engine):
    return {name: DecoderStage(engine.paths.stage(name), threads=2) for name in ("decoder", "decoder_vnni")}


def band_levels(x: np.ndarray) -> np.ndarray:
    """dB per frame in 21 third-octave-wide bands, 100 Hz–12 kHz: the spectral envelope, blind to the
    phase and fine structure this decoder's noise source scrambles from any change in rounding."""
    frames = np.lib.stride_tricks.sliding_window_view(x, 1024)[::256] * np.hanning(1024)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    edges = np.searchsorted(np.fft.rfftfreq(1024, 1 / 24000), np.geomspace(100, 12000, 22))
    return 10 * np.log10(np.stack([power[:, a:b].sum(axis=1) for a, b in zip(edges[:-1], edges[1:])], axis=1) + 1e-10)


@pytest.mark.slow
@needs_vnni
@pytest.mark.parametrize("text,voice", LINES)
def test_vnni_decoder_renders_the_same_samples_count_and_sound(engine, decoders, text, voice):
    plan = engine.plan(text, voice)
    chunk = plan.chunks[0]
    frames = np.maximum(np.round(engine.model.duration(chunk.tokens, chunk.style)), 1).astype(np.float32)
    f0, energy = engine.model.prosody(chunk.tokens, chunk.style, frames)
    shipped, vnni = (decoders[n](chunk.tokens, chunk.style, frames, f0, energy) for n in ("decoder", "decoder_vnni"))
    assert shipped.size == vnni.size == int(frames.sum()) * 600
    assert np.corrcoef(shipped, vnni)[0, 1] >= MIN_CORRELATION
    # phase-blind too: where the speech is, the spectral envelopes agree within a dB or two
    ref, out = band_levels(shipped), band_levels(vnni)
    loud = ref.max(axis=1) > ref.max() - 30
    diff = np.sqrt(np.mean((ref[loud] - out[loud]) ** 2, axis=1))
    assert np.median(diff) < 2.0, np.median(diff)


@pytest.mark.slow
@needs_vnni
def test_vnni_form_is_what_the_engine_loads_and_its_fitted_takes_match(engine, monkeypatch):
    """The engine in either form: the same plan and exact length, the same sound (phase aside: fitting
    stretches the waveform, so tiny rounding changes move its fine structure, not its envelope)."""
    assert forms.decoder_form() == "vnni"
    assert engine.model.decoder.path.name == "stage_decoder_vnni.onnx"
    request = RenderRequest(LINES[0][0], target=Target.parse("3.1s"))
    monkeypatch.setenv(native.ENV, "off")      # the two forms as such (the compiled Snakes: test_native_snake.py)
    fast = Engine(threads=2).render(request)
    monkeypatch.setenv(forms.ENV, "shipped")
    shipped = Engine(threads=2).render(request)
    assert fast.samples == shipped.samples == round(3.1 * fast.sample_rate)
    assert (fast.phonemes, fast.method, fast.ratio) == (shipped.phonemes, shipped.method, shipped.ratio)
    assert abs(fast.speech_end - shipped.speech_end) <= 0.02
    ref, out = band_levels(shipped.audio.astype(np.float64)), band_levels(fast.audio.astype(np.float64))
    loud = ref.max(axis=1) > ref.max() - 30
    assert np.median(np.sqrt(np.mean((ref[loud] - out[loud]) ** 2, axis=1))) < 3.0


def test_the_rewrite_keeps_every_integer_weight(engine):
    """68 'same' convolutions become MatMulIntegerToFloat over the same integers (stored as w − 128)."""
    import onnx
    from onnx import numpy_helper

    shipped = onnx.load(str(engine.paths.stage("decoder"))).graph
    vnni = onnx.load(str(engine.paths.stage("decoder_vnni"))).graph
    mm = [n for n in vnni.node if n.op_type == "MatMulIntegerToFloat"]
    convs = [n for n in shipped.node if n.op_type == "ConvInteger"]
    assert len(mm) == 68 and len(convs) == 71
    assert sum(n.op_type == "ConvInteger" for n in vnni.node) == 3      # the strided ones stay
    _, _, inits = graph_index(shipped)
    _, _, new_inits = graph_index(vnni)
    conv = next(n for n in convs if n.name + "_mm/MatMulIntegerToFloat" == mm[0].name)
    w = numpy_helper.to_array(inits[conv.input[1]]).astype(np.int16)
    b = numpy_helper.to_array(new_inits[mm[0].input[1]]).astype(np.int16)
    cout, cin, k = w.shape
    assert np.array_equal(b + 128, w.transpose(2, 1, 0).reshape(k * cin, cout))


def test_decoder_form_comes_from_the_environment_and_is_checked(monkeypatch):
    monkeypatch.setenv(forms.ENV, "shipped")
    assert forms.decoder_form() == "shipped" and forms.stage_file("decoder") == "decoder"
    monkeypatch.setattr(forms, "cpu_has_vnni", lambda: True)
    monkeypatch.setenv(forms.ENV, "vnni")
    assert forms.stage_file("decoder") == "decoder_vnni" and forms.stage_file("prosody") == "prosody"
    monkeypatch.setenv(forms.ENV, "fastest")
    with pytest.raises(InputError, match="TAKEFIT_DECODER='fastest'.*auto, vnni, shipped"):
        forms.decoder_form()


def test_the_vnni_form_is_refused_where_the_cpu_would_saturate_it(monkeypatch):
    """Without VNNI, onnxruntime's u8×s8 kernel sums byte pairs in int16: on an AVX2 CPU the VNNI form's
    take correlated 0.40 with the shipped decoder's. Asking for it there names the fix (a cluster passes
    the dubbing machine's form to its workers, so this is where a mixed cluster stops too)."""
    monkeypatch.setattr(forms, "cpu_has_vnni", lambda: False)
    monkeypatch.setenv(forms.ENV, "vnni")
    with pytest.raises(InputError, match="TAKEFIT_DECODER=vnni needs a CPU with AVX-512 VNNI.*set it to shipped"):
        forms.decoder_form()
    monkeypatch.setenv(forms.ENV, "auto")
    assert forms.decoder_form() == "shipped" and forms.stage_file("decoder") == "decoder"


def test_each_decoder_form_has_its_own_cache_keys(monkeypatch):
    """A take rendered by one form is never served for the other (their float rounding differs)."""
    from takefit.engine.cache import request_key

    monkeypatch.setattr(forms, "cpu_has_vnni", lambda: True)
    request = RenderRequest("Same line, two decoders.")
    keys = {}
    for form in ("shipped", "vnni"):
        monkeypatch.setenv(forms.ENV, form)
        keys[form] = request_key(request)
    assert keys["shipped"] != keys["vnni"]
