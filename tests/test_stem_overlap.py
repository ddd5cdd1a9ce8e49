"""Takes that overlap in the stem (bridges/dub/overlap.py): each keeps the ceiling alone, their sum is
limited to it — measured with libebur128 — and every sample away from the overlap is the takes' sum,
bit for bit; the streamed blocks give the stem a whole-stem pass gives."""
from __future__ import annotations

import numpy as np
import pyebur128 as ebur
import pytest
import soundfile as sf

from takefit.bridges.dub import stem as stemmod
from takefit.bridges.dub.overlap import MARGIN_SECONDS, coverage
from takefit.bridges.dub.stem import StemItem, write_stem

SR = 48000


def true_peak_dbtp(audio: np.ndarray) -> float:
    meter = ebur.R128State(1, SR, ebur.MeasurementMode.MODE_TRUE_PEAK)
    meter.add_frames(audio.astype(np.float64), len(audio))
    return 20 * np.log10(ebur.get_true_peak(meter, 0))


def take(path, freq: float, seconds: float, amplitude: float = 0.87):
    t = np.arange(int(seconds * SR)) / SR
    x = amplitude * np.sin(2 * np.pi * freq * t) * np.minimum(1, np.minimum(t, t[::-1]) / 0.02)   # 20 ms fades
    sf.write(path, x.astype(np.float32), SR, subtype="PCM_24")
    return sf.read(path, dtype="float32")[0]


@pytest.fixture
def two_voices(tmp_path):
    """alice 0.5–3.5 s and bob 2.5–5.5 s: each at -1.2 dBTP, together up to +4.8 (past full scale)."""
    a = take(tmp_path / "a.wav", 220.0, 3.0)
    b = take(tmp_path / "b.wav", 331.0, 3.0)
    items = [StemItem(SR // 2, len(a), tmp_path / "a.wav"), StemItem(5 * SR // 2, len(b), tmp_path / "b.wav")]
    plain = np.zeros(6 * SR, np.float32)
    plain[SR // 2:SR // 2 + len(a)] += a
    plain[5 * SR // 2:5 * SR // 2 + len(b)] += b
    return items, plain


def test_overlapping_takes_are_limited_to_the_ceiling_and_nothing_else_changes(tmp_path, two_voices):
    items, plain = two_voices
    assert true_peak_dbtp(plain) > 4.0 and np.abs(plain).max() > 1.0       # what a plain sum writes: clipped
    info = write_stem(tmp_path / "stem.wav", items, len(plain), ceiling=-1.0)
    x = sf.read(tmp_path / "stem.wav", dtype="float32")[0]
    assert info["clipped"] == 0 and true_peak_dbtp(x) <= -1.0
    assert info["true_peak"] <= -1.0 and 1.0 <= info["overlap_limited"] <= 1.0 + 2 * MARGIN_SECONDS
    away = np.ones(len(x), bool)
    away[int((2.5 - MARGIN_SECONDS) * SR):int((3.5 + MARGIN_SECONDS) * SR)] = False   # the overlap, its ramps
    assert np.array_equal(x[away], sf.read(_plain_file(tmp_path, plain), dtype="float32")[0][away])
    inside = slice(int(2.6 * SR), int(3.4 * SR))
    assert np.abs(x[inside]).max() > 10 ** (-1.5 / 20)                    # held at the ceiling, not ducked


def test_a_lower_ceiling_is_kept_too(tmp_path):
    """Takes rendered for -2 dBTP (Netflix) stay under it alone; where they overlap, the stem does too.
    (Only overlaps are limited: a solo take is the take as rendered.)"""
    a, b = take(tmp_path / "a.wav", 220.0, 2.0, 0.78), take(tmp_path / "b.wav", 331.0, 2.0, 0.78)
    items = [StemItem(0, len(a), tmp_path / "a.wav"), StemItem(SR, len(b), tmp_path / "b.wav")]
    info = write_stem(tmp_path / "stem.wav", items, 3 * SR, ceiling=-2.0)
    assert true_peak_dbtp(sf.read(tmp_path / "stem.wav", dtype="float32")[0]) <= -2.0 and info["overlap_limited"] > 0.9


def test_blocks_give_what_one_pass_gives(tmp_path, two_voices, monkeypatch):
    """The overlap straddles a block edge (1 s blocks): the ramps across it are those of one pass."""
    items, plain = two_voices
    write_stem(tmp_path / "whole.wav", items, len(plain))
    monkeypatch.setattr(stemmod, "BLOCK_SECONDS", 1)
    write_stem(tmp_path / "blocks.wav", items, len(plain))
    whole = sf.read(tmp_path / "whole.wav", dtype="float32")[0]
    assert np.array_equal(sf.read(tmp_path / "blocks.wav", dtype="float32")[0], whole)


def test_takes_that_only_touch_are_not_an_overlap(tmp_path):
    a = take(tmp_path / "a.wav", 220.0, 1.0)
    items = [StemItem(0, len(a), tmp_path / "a.wav"), StemItem(len(a), len(a), tmp_path / "a.wav")]
    assert coverage([(i.start, i.start + i.samples) for i in items], 0, 2 * len(a)).max() == 1
    info = write_stem(tmp_path / "stem.wav", items, 2 * len(a))
    assert info["overlap_limited"] == 0 and np.array_equal(sf.read(tmp_path / "stem.wav", dtype="float32")[0],
                                                            np.concatenate([a, a]))


def _plain_file(tmp_path, plain):
    """The plain sum as a 24-bit WAV holds it (the stem's own quantisation)."""
    path = tmp_path / "plain.wav"
    sf.write(path, np.clip(plain, -1, 1), SR, subtype="PCM_24")
    return path
