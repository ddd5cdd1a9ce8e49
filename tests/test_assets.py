"""Assets: a partial or corrupted file is detected and refetched from the registries, never used."""
import os
import shutil

import pytest

from takefit.engine import assets


@pytest.fixture()
def asset_copy(tmp_path, monkeypatch):
    """A private asset folder: hard links to the verified files (cheap); tests replace, never edit, them."""
    src = assets.AssetPaths(assets.default_dir())
    assert not assets.verify(src, full=False), "run `takefit assets fetch` first"
    dst = tmp_path / "kokoro"
    shutil.copytree(src.root, dst, copy_function=os.link)
    monkeypatch.setenv(assets.ENV_DIR, str(tmp_path))
    return assets.AssetPaths(dst)


def replace_with(path, data: bytes):
    path.unlink()
    path.write_bytes(data)


def test_verified_copy_is_clean(asset_copy):
    assert assets.verify(asset_copy) == []
    assert assets.default_dir() == asset_copy.root


@pytest.mark.slow
def test_corrupted_voice_detected_and_refetched(asset_copy):
    voice = asset_copy.voices / "af_heart.bin"
    good = voice.read_bytes()
    replace_with(voice, good[:-4] + b"\0\0\0\0")
    assert any("corrupted" in p and "af_heart" in p for p in assets.verify(asset_copy))
    assets.ensure(asset_copy.root, log=lambda m: None)
    assert voice.read_bytes() == good
    assert assets.verify(asset_copy) == []


@pytest.mark.slow
def test_unchanged_files_are_not_hashed_again(asset_copy, monkeypatch):
    """A start checks sizes and mtimes against the last full check; a changed file is hashed (and repaired)."""
    assert assets.verify(asset_copy) == []          # a full check records what it saw
    hashed = []
    real = assets.sha256_file
    monkeypatch.setattr(assets, "sha256_file", lambda p: hashed.append(p) or real(p))
    assets.ensure(asset_copy.root, log=lambda m: None)
    assert hashed == []
    voice = asset_copy.voices / "af_heart.bin"
    good = voice.read_bytes()
    replace_with(voice, good[:-4] + b"\0\0\0\0")  # same size, but a new mtime
    assert not assets.unchanged_since_verified(asset_copy)
    assets.ensure(asset_copy.root, log=lambda m: None)
    assert hashed and voice.read_bytes() == good
    assert assets.unchanged_since_verified(asset_copy)


@pytest.mark.slow
def test_partial_model_detected_and_refetched(asset_copy):
    model = asset_copy.model
    replace_with(model, model.read_bytes()[: 10_000_000])
    assert any("corrupted" in p for p in assets.verify(asset_copy))
    paths = assets.ensure(asset_copy.root, log=lambda m: None)
    assert assets.sha256_file(paths.model) == assets.sources()["model"]["sha256"]


@pytest.mark.slow
def test_missing_stage_is_rebuilt(asset_copy):
    asset_copy.stage("prosody").unlink()
    assert "missing: stage_prosody.onnx" in assets.verify(asset_copy)
    assets.ensure(asset_copy.root, log=lambda m: None)
    assert assets.verify(asset_copy) == []


@pytest.mark.slow
def test_engine_never_loads_broken_assets(asset_copy, monkeypatch):
    """A corrupted stage makes the engine repair first; it never opens the broken file."""
    from takefit.engine import Engine

    stage = asset_copy.stage("decoder")
    replace_with(stage, b"not an onnx graph")
    calls = []
    real_fetch = assets.fetch
    monkeypatch.setattr(assets, "fetch", lambda *a, **k: calls.append(1) or real_fetch(*a, **k))
    Engine(asset_copy.root)
    assert calls and assets.verify(asset_copy) == []


def test_missing_npm_names_the_command(asset_copy, monkeypatch):
    (asset_copy.voices / "zf_xiaoxiao.bin").unlink()
    monkeypatch.setattr(assets.shutil, "which", lambda name: None)
    with pytest.raises(assets.AssetError, match=r"npm pack kokoro-js@1.2.1"):
        assets.fetch(asset_copy.root, log=lambda m: None)


@pytest.mark.slow
def test_a_graph_new_in_this_version_is_built_although_the_rest_is_unchanged(asset_copy):
    """After an upgrade that derives one more graph: the stamps recorded before it existed must not
    pass as 'unchanged', or the engine would open a file that is not there."""
    assert assets.verify(asset_copy) == []
    asset_copy.stage("decoder_vnni").unlink()
    assert not assets.unchanged_since_verified(asset_copy)
    assets.ensure(asset_copy.root, log=lambda m: None)
    assert asset_copy.stage("decoder_vnni").is_file() and assets.verify(asset_copy) == []


@pytest.mark.slow
def test_a_vnni_decoder_that_does_not_match_stops_the_fetch_with_the_fix(asset_copy, monkeypatch):
    from takefit.engine.kokoro import forms, int8

    monkeypatch.setattr(forms, "cpu_has_vnni", lambda: True)       # a CPU that would run it
    monkeypatch.setenv("TAKEFIT_DECODER", "vnni")
    monkeypatch.setattr(int8, "self_check", lambda paths: 0.42)
    asset_copy.stage("decoder_vnni").unlink()
    with pytest.raises(assets.AssetError, match="TAKEFIT_DECODER=shipped"):
        assets.ensure(asset_copy.root, log=lambda m: None)
