"""Decoder adaptation (engine/adaptation.py): an enrolled voice's offsets to the AdaIN biases, stored in
its profile and fed to a second decoder session — built-in voices untouched, bit for bit."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from takefit.engine import RenderRequest
from takefit.engine.enroll.index import render_natural
from takefit.engine.errors import InputError
from takefit.engine.adaptation import Adaptation
from takefit.engine.target import Target
from takefit.engine.profiles import Profile, ProfileStore

LINE = "The harbour lights came on one by one."
BASE = "af_heart"


def _offsets(engine, scale: float, seed: int = 0) -> Adaptation:
    """Random offsets on every adaptable layer of this engine's decoder."""
    _, biases = engine.model.decoder.adapted()
    rng = np.random.default_rng(seed)
    return Adaptation({n: (rng.normal(0, scale, b.shape)).astype(np.float32) for n, b in biases.items()})


def _profile(engine, name: str, adapt: Adaptation | None) -> Profile:
    return Profile(name=name, table=engine.voice_bank.table(BASE).copy(), pitch_ratio=1.0, base_voice=BASE,
                   language="en", quality="fast", reference_sha256="0" * 64, consent="test",
                   created="2026-01-01T00:00:00+00:00", adapt=adapt)


def test_layout_round_trip_and_validation():
    a = Adaptation({"x.fc.bias": np.arange(3, dtype=np.float32), "y.fc.bias": np.ones(2, np.float32)})
    b = Adaptation.unpack(a.layout(), a.flat())
    assert b.layout() == [["x.fc.bias", 3], ["y.fc.bias", 2]] and b.digest() == a.digest()
    assert Adaptation({"x.fc.bias": np.zeros(3, np.float32)}).digest() != a.digest()
    with pytest.raises(ValueError, match="covers 5 values"):
        Adaptation.unpack(a.layout(), np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="not an AdaIN fc bias"):
        Adaptation({"conv.weight": np.zeros(3, np.float32)})
    with pytest.raises(ValueError, match="finite"):
        Adaptation({"x.fc.bias": np.array([np.nan], np.float32)})
    with pytest.raises(InputError, match="enrolled on another model"):
        a.feeds({"x.fc.bias": np.zeros(3, np.float32)})
    with pytest.raises(InputError, match="enroll it again"):
        a.feeds({"x.fc.bias": np.zeros(4, np.float32), "y.fc.bias": np.zeros(2, np.float32)})
    with pytest.raises(ValueError, match="twice"):
        Adaptation.unpack([["x.fc.bias", 1], ["x.fc.bias", 1]], np.zeros(2, np.float32))


@pytest.mark.slow
def test_adapted_session_matches_the_untouched_one_at_zero(engine):
    """58 layers, 37,396 gains and shifts; zero offsets render the very samples of the plain session,
    and real offsets move the audio without changing its length."""
    zero = Adaptation({n: np.zeros_like(b) for n, b in engine.model.decoder.adapted()[1].items()})
    assert len(zero.offsets) == 58 and zero.size == 37396
    table = engine.voice_bank.table(BASE)
    plain = render_natural(engine, LINE, table, BASE)
    assert np.array_equal(render_natural(engine, LINE, table, BASE, adapt=zero), plain)
    moved = render_natural(engine, LINE, table, BASE, adapt=_offsets(engine, 0.02))
    assert len(moved) == len(plain)
    assert 0.3 < np.corrcoef(moved, plain)[0, 1] < 0.999


def test_profile_keeps_its_adaptation_and_old_profiles_still_load(engine, tmp_path):
    store = ProfileStore(tmp_path)
    adapt = _offsets(engine, 0.01, seed=1)
    store.save(_profile(engine, "adapted_voice", adapt))
    loaded = store.load("adapted_voice")
    assert loaded.adapt is not None and loaded.adapt.digest() == adapt.digest()
    assert loaded.summary()["adapted_layers"] == 58 and "adapt_layout" not in loaded.summary()
    # a format-1 file (style table only), as written before adaptations existed
    old = _profile(engine, "old_voice", None).meta()
    old.pop("adapt_layout", None)
    old["format"] = 1
    np.savez(store.path("old_voice"), table=engine.voice_bank.table(BASE), meta=np.array(json.dumps(old)))
    assert store.load("old_voice").adapt is None
    # a file whose layout does not fit its vector is named damaged, not half-loaded
    meta = _profile(engine, "bad_voice", None).meta()
    meta["adapt_layout"] = [["x.fc.bias", 7]]
    np.savez(store.path("bad_voice"), table=engine.voice_bank.table(BASE), meta=np.array(json.dumps(meta)),
             adapt=np.zeros(3, np.float32))
    with pytest.raises(InputError, match="damaged"):
        store.load("bad_voice")


@pytest.mark.slow
def test_engine_renders_an_adapted_voice_at_exact_length(engine):
    """Through the product path (plan → render): the profile's adaptation is heard, the take keeps its
    exact length, and the natural-take key tells the two profiles apart."""
    store = engine.voice_bank.profiles
    store.save(_profile(engine, "plain_clone", None), force=True)
    store.save(_profile(engine, "adapted_clone", _offsets(engine, 0.02, seed=2)), force=True)
    try:
        req = dict(text=LINE, target=Target.parse("2.5s"), sample_rate=48000)
        plain = engine.render(RenderRequest(voice="plain_clone", **req))
        adapted = engine.render(RenderRequest(voice="adapted_clone", **req))
        builtin = engine.render(RenderRequest(voice=BASE, **req))
        assert len(plain.audio) == len(adapted.audio) == len(builtin.audio) == 120000
        assert np.array_equal(plain.audio, builtin.audio)          # no adaptation: the built-in's samples
        assert not np.array_equal(adapted.audio, plain.audio)
        assert engine.plan(LINE, "adapted_clone").key != engine.plan(LINE, "plain_clone").key
    finally:
        for name in ("plain_clone", "adapted_clone"):
            store.remove(name)


@pytest.mark.slow
def test_torch_decoder_applies_offsets_as_the_render_does(engine):
    """What the enrollment learns through the torch graph is what onnxruntime renders: the same offsets
    move both the same way."""
    torch = pytest.importorskip("torch")
    from takefit.engine.enroll.graph import TorchDecoder
    from takefit.engine.kokoro import KokoroModel
    from takefit.engine.kokoro.duration import natural_frames

    dec = TorchDecoder(engine.paths.stage("decoder"), threads=2)
    adapt = _offsets(engine, 0.02, seed=3)
    assert set(dec.biases) == set(adapt.offsets)
    ch = engine.plan(LINE, BASE).chunks[0]
    style = KokoroModel.style_row(engine.voice_bank.table(BASE), len(ch.phonemes))
    frames = natural_frames(engine.model.duration(ch.tokens, style)).astype(np.float32)
    f0, energy = engine.model.prosody(ch.tokens, style, frames)
    dec.prepare(ch.tokens, style.reshape(-1), frames, f0, energy)
    with torch.no_grad():
        learned = dec(torch.from_numpy(style.reshape(-1).astype(np.float32)),
                      {n: torch.from_numpy(v) for n, v in adapt.offsets.items()}).numpy()
    rendered = engine.model.decoder(ch.tokens, style, frames, f0, energy, adapt)
    plain = engine.model.decoder(ch.tokens, style, frames, f0, energy)
    assert np.corrcoef(learned, rendered)[0, 1] > 0.97
    assert np.corrcoef(learned, rendered)[0, 1] > np.corrcoef(learned, plain)[0, 1]


@pytest.mark.parametrize("module", ["takefit.engine.profiles", "takefit.engine.adaptation", "takefit.engine.cache"])
def test_each_module_imports_first_in_a_fresh_process(module):
    """profiles.py ↔ kokoro/ (voices.py reads profiles): whichever a process imports first must load —
    `takefit voice show` imports profiles.py first, and a cycle there failed only from the shell."""
    run = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-800:]


def test_backend_warm_loads_every_reader_and_the_adaptable_decoder_only_when_needed(engine, tmp_path):
    """A daemon warms its backend once loaded: every language's reader (English's espeak-ng fallback too), and
    the session adapted voices render with (not at their first audition), the latter only where an enrolled
    voice has an adaptation."""
    from takefit.engine import Engine
    from takefit.engine.frontend.en import EnReader
    from takefit.engine.kokoro.backend import KokoroBackend

    backend = KokoroBackend(Engine(threads=1))
    store = ProfileStore(tmp_path)
    backend.engine.voice_bank.profiles = store
    decoder = backend.engine.model.decoder
    store.save(_profile(engine, "plain_clone", None))
    store.path("broken_clone").write_bytes(b"not a profile")           # a damaged file is passed over, not fatal
    assert backend.engine.frontend._zh_reader is None                  # a fresh engine has read nothing yet
    done = backend.warm()
    assert len(done) == 1 and "zh, en, ja, es, fr, it, pt, hi" in done[0] and decoder._biases is None
    assert backend.engine.frontend._zh_reader is not None
    assert all(EnReader.get(british).g2p.fallback._espeak is not None for british in (False, True))
    store.save(_profile(engine, "adapted_clone", _offsets(engine, 0.01, seed=4)))
    assert "adapted_clone" in backend.warm()[1] and decoder._biases is not None
    plain = decoder.session
    assert len(backend.warm()) == 2 and decoder.session is plain      # once: a second warm reopens nothing
