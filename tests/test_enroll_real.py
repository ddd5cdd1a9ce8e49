"""The real-speech enrollment benchmark (bench/enroll_real.py): its manifest of recordings of real people,
fetching them from their Debian packages, and the scoring helpers.

The manifest is the benchmark's promise: every recording names its package, version, licence and
copyright, and a sha256 that the fetched file must match. The fetch test downloads the smallest package
for real (apt-get download) and checks every file it names.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import enroll_real as er

DATA = er.manifest()


def _seconds(entry: dict) -> float | None:
    if entry.get("window"):
        return entry["window"][1] - entry["window"][0]
    return entry.get("seconds")


def test_manifest_has_three_speakers_with_held_out_recordings():
    speakers = DATA["speakers"]
    assert len(speakers) >= 3
    assert len({s["id"] for s in speakers}) == len(speakers)
    assert all(len(s["heldout"]) >= 2 for s in speakers)
    assert {"female", "male"} <= {s["gender"] for s in speakers}
    assert any("telephone" in s["channel"] for s in speakers)
    for s in speakers:
        assert 5.0 <= _seconds(s["reference"]) <= 10.0, s["id"]     # enroll from one 5–10 s recording
        assert s["language"] in er.TESTS, f"{s['id']}: no test sentences for {s['language']}"


def test_manifest_has_wideband_speakers_in_g722():
    """At least two speakers recorded wideband (16 kHz G.722), so the start voice is not scored through a telephone."""
    wide = [s for s in DATA["speakers"] if s["channel"].startswith("wideband")]
    assert len(wide) >= 2 and {"en"} < {s["language"] for s in wide}        # English and another language
    for s in wide:
        assert s["package"].endswith("-g722") and len(s["heldout"]) >= 2
        assert all(e["path"].endswith(".g722") for e in [s["reference"], *s["heldout"]])
        assert s["person"].split()[0] in DATA["packages"][s["package"]]["copyright"], s["id"]   # the voice credited
        assert s["reference"]["path"] not in {h["path"] for h in s["heldout"]}


def test_every_recording_has_provenance_and_licence():
    packages = DATA["packages"]
    for s in DATA["speakers"]:
        pkg = packages[s["package"]]
        assert pkg["source"] == "debian" and pkg["version"]
        assert pkg["licence"].strip() and pkg["copyright"].strip()
        assert pkg["copyright_file"].startswith("/usr/share/doc/")
        for entry in [s["reference"], *s["heldout"]]:
            assert re.fullmatch(r"[0-9a-f]{64}", entry["sha256"]), entry
            assert entry["path"].startswith("/usr/share/")


def test_held_out_windows_do_not_overlap_the_reference():
    """A held-out stretch of the reference's own recording must be other words: no shared seconds."""
    for s in DATA["speakers"]:
        ref = s["reference"]
        for h in s["heldout"]:
            if h["path"] != ref["path"]:
                continue
            assert ref.get("window") and h.get("window"), f"{s['id']}: the reference itself is held out"
            assert h["window"][0] >= ref["window"][1] or h["window"][1] <= ref["window"][0], (s["id"], h)


def test_clip_reads_its_window(tmp_path):
    path = tmp_path / "ramp.wav"
    sf.write(path, np.arange(8000 * 4, dtype=np.float32) / 40000, 8000, subtype="FLOAT")
    wav, sr = er.Clip(path, (1.0, 2.5)).read()
    assert sr == 8000 and len(wav) == 12000
    assert wav[0] == pytest.approx(8000 / 40000)
    assert len(er.Clip(path, None).read()[0]) == 32000


def test_through_rate_removes_what_the_telephone_band_cannot_carry():
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(er.SR).astype(np.float32) * 0.1
    phone = er.through_rate(noise, 8000)

    def high_share(x):
        p = np.abs(np.fft.rfft(x)) ** 2
        f = np.fft.rfftfreq(len(x), 1 / er.SR)
        return p[f > 4200].sum() / p.sum()

    assert high_share(noise) > 0.4 and high_share(phone) < 0.01
    assert er.through_rate(noise, er.SR) is noise


def test_through_16_khz_keeps_the_wideband_and_drops_above_8_khz():
    rng = np.random.default_rng(2)
    noise = rng.standard_normal(er.SR).astype(np.float32) * 0.1
    wide = er.through_rate(noise, er.G722_RATE)
    p, q = np.abs(np.fft.rfft(noise)) ** 2, np.abs(np.fft.rfft(wide)) ** 2
    f = np.fft.rfftfreq(len(noise), 1 / er.SR)
    assert q[f > 8200].sum() < 0.01 * p[f > 8200].sum()
    assert q[(f > 4200) & (f < 7500)].sum() == pytest.approx(p[(f > 4200) & (f < 7500)].sum(), rel=0.05)


def _g722(tmp_path, wav: np.ndarray) -> Path:
    """A raw .g722 file as Asterisk ships them, encoded from wav (16 kHz) by the bundled ffmpeg."""
    ffmpeg = pytest.importorskip("imageio_ffmpeg").get_ffmpeg_exe()
    src, out = tmp_path / "src.wav", tmp_path / "clip.g722"
    sf.write(src, wav, 16000, subtype="PCM_16")
    subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-i", str(src), "-c:a", "g722", "-f", "g722", str(out)],
                   check=True)
    return out


def test_g722_clip_decodes_to_16_khz_with_its_high_band(tmp_path):
    t = np.arange(2 * 16000) / 16000
    wav = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 6000 * t)).astype(np.float32)
    path = _g722(tmp_path, wav)
    assert path.stat().st_size == 16000        # 64 kbit/s: 8000 bytes a second
    got, sr = er.Clip(path, None).read()
    assert sr == 16000 and abs(len(got) - len(wav)) <= 16 and got.dtype == np.float32
    spec = np.abs(np.fft.rfft(got)) ** 2
    f = np.fft.rfftfreq(len(got), 1 / sr)
    for tone, share in ((440, 0.55), (6000, 0.25)):       # both tones back: G.722 carries up to 7 kHz
        assert spec[np.abs(f - tone) < 20].sum() / spec.sum() > share, tone
    window, _ = er.Clip(path, (0.5, 1.5)).read()
    assert len(window) == 16000


def test_an_empty_g722_file_is_a_clear_error(tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    path = tmp_path / "empty.g722"
    path.write_bytes(b"")
    with pytest.raises(SystemExit, match="could not decode .*empty.g722 as G.722"):
        er.decode_g722(path)


def test_word_errors_normalise_as_the_evaluation_does():
    pytest.importorskip("jiwer")
    assert er.word_errors("Pourriez-vous me dire où se trouve la gare ?", "pourriez vous me dire où se trouve la gare",
                          "fr") == (0, 9)
    assert er.word_errors("¿Podría decirme dónde está?", "Podría decirme donde está.", "es") == (1, 4)   # accent
    assert er.word_errors("We missed the last bus.", "We missed last bus", "en") == (1, 5)
    assert er.word_errors("请把窗户关上。", "请把窗关上", "zh") == (1, 6)                             # characters


def test_built_in_references_are_same_language_and_gender():
    names = ["af_heart", "am_adam", "bf_emma", "ff_siwis", "ef_dora", "em_alex"]
    assert er.builtin_voices(names, "en", "female") == ["af_heart", "bf_emma"]
    assert er.builtin_voices(names, "fr", "female") == ["ff_siwis"]
    assert er.builtin_voices(names, "es", "male") == ["em_alex"]


def test_unknown_speaker_names_the_known_ones():
    with pytest.raises(SystemExit, match="unknown speaker nobody: .* has allison, .*june"):
        er.pick_speakers(DATA, "june,nobody")
    assert [s["id"] for s in er.pick_speakers(DATA, "june,allison_wb")] == ["allison_wb", "june"]   # manifest order


def _row(speaker: str, listen: bool) -> dict:
    d = {"raw": {"dvector": 0.5, "resemblyzer": 0.6}, "band": {"dvector": 0.7, "resemblyzer": 0.6}}
    row = {"speaker": speaker, "gender": "female", "language": "fr", "quality": "fast", "variant": "shipped",
           "seconds": 40.0, "load": 2.0, "rate": 16000, "start_voice": "ff_siwis", "pitch_ratio": 1.0,
           "gate_kept_start": False, "gate_in_band": True, "ceiling": {"dvector": 0.9}, "start": d, "enrolled": d,
           "transcript": "bonjour"}
    if listen:
        row["listen"] = {"start": {"dnsmos": 3.10, "wer": 0.10}, "enrolled": {"dnsmos": 2.95, "wer": 0.05}}
    return row


def test_report_compares_takes_with_the_built_in_voices(tmp_path, monkeypatch):
    rows = [_row("june", True), _row("old", False),
            {"kind": "builtin", "language": "fr", "gender": "female", "dnsmos": 3.20, "wer": 0.0,
             "voices": {"ff_siwis": {"dnsmos": 3.20, "wer": 0.0, "errors": 0, "words": 30}}}]
    monkeypatch.setattr(er, "JSONL", tmp_path / "rows.jsonl")
    er.JSONL.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    text = er.report()
    june = next(line for line in text.splitlines() if line.startswith("| june"))
    assert "| 16 kHz |" in june and "3.10 → 2.95 (3.20, Δ -0.25)" in june and "0.100 → 0.050 (0.000, Δ +0.050)" in june
    old = next(line for line in text.splitlines() if line.startswith("| old"))
    assert "| – | – |" in old                                  # a row from before the takes were listened to
    mean = next(line for line in text.splitlines() if line.startswith("| 16 kHz"))
    assert "(n=1)" in mean and "Δ -0.25" in mean
    assert "| fr | female | 1 | 3.20 (3.20–3.20) | 0.000 | ff_siwis 3.20 / 0.00 |" in text


def test_gap_closed_is_measured_on_the_d_vector():
    row = {"start": {"raw": {"dvector": 0.5}}, "enrolled": {"raw": {"dvector": 0.65}}, "ceiling": {"dvector": 0.8}}
    assert er.closed(row) == pytest.approx(0.5)
    row["ceiling"]["dvector"] = 0.4                      # a ceiling below the start: no gap to close
    assert np.isnan(er.closed(row))


@pytest.mark.slow
@pytest.mark.skipif(not (shutil.which("apt-get") and shutil.which("dpkg-deb")), reason="needs apt-get and dpkg-deb")
def test_recordings_are_fetchable_and_match_the_manifest(tmp_path):
    """The smallest package, fetched for real; every file the manifest names from it matches its sha256."""
    speaker = next(s for s in DATA["speakers"] if s["package"] == "codec2-examples")
    reference, heldout = er.speaker_clips(speaker, DATA["packages"], root=tmp_path)
    wav, sr = reference.read()
    assert sr == 8000 and 5.0 <= len(wav) / sr <= 10.0
    assert len(heldout) == len(speaker["heldout"]) and all(len(c.read()[0]) > sr for c in heldout)
    assert (tmp_path / f"codec2-examples_{DATA['packages']['codec2-examples']['version']}" / ".complete").is_file()


# ------------------------------------------------------------------------------ several excerpts per step
def _setup(n_tokens: int = 60, frames_each: int = 10):
    """A reference of n_tokens × frames_each frames (0.25 s per token) with traceable F0 and audio."""
    invert = pytest.importorskip("takefit.engine.enroll.invert")          # the enroll extra (torch)
    frames = np.full(n_tokens, frames_each, np.float32)
    total = int(frames.sum())
    ramp = np.arange(2 * total, dtype=np.float32)
    audio = np.arange(total * invert.FRAME_SAMPLES, dtype=np.float32)
    return invert, invert.Setup(np.arange(n_tokens), np.zeros(256, np.float32), frames, ramp.reshape(1, 1, -1),
                                ramp.reshape(1, 1, -1), audio, 1.0)


def test_one_excerpt_is_the_middle_as_before():
    invert, setup = _setup()
    (only,) = invert.excerpts(setup, 3.0, 1)
    middle = invert.excerpt(setup, 3.0)
    assert np.array_equal(only.reference, middle.reference) and np.array_equal(only.f0, middle.f0)
    centre = (only.reference[0] + only.reference[-1]) / 2 / len(setup.reference)
    assert centre == pytest.approx(0.5, abs=0.05)


def test_several_excerpts_cover_the_reference_in_order():
    invert, setup = _setup()                                            # 15 s
    cuts = invert.excerpts(setup, 3.0, 3)
    assert len(cuts) == 3
    centres = [(c.reference[0] + c.reference[-1]) / 2 / len(setup.reference) for c in cuts]
    assert centres == pytest.approx([1 / 6, 1 / 2, 5 / 6], abs=0.05)
    for c in cuts:                                                       # each still a consistent utterance
        assert 2.5 <= c.seconds <= 3.7 and c.f0.size == 2 * int(c.frames.sum())
        assert len(c.reference) == int(c.frames.sum()) * invert.FRAME_SAMPLES


def test_a_reference_shorter_than_one_excerpt_is_used_once():
    invert, setup = _setup(n_tokens=12)                                 # 3 s
    assert invert.excerpts(setup, 3.0, 3) == [setup]


# ------------------------------------------------------------------------------ the gate hears the reference's band
def test_gate_renders_are_heard_in_the_reference_band():
    pipeline = pytest.importorskip("takefit.engine.enroll.pipeline")
    rng = np.random.default_rng(1)
    wide = rng.standard_normal(er.SR).astype(np.float32) * 0.1
    phone = pipeline.in_band(wide, 3900.0)
    spec = np.abs(np.fft.rfft(phone)) ** 2
    freqs = np.fft.rfftfreq(len(phone), 1 / er.SR)
    wide_spec = np.abs(np.fft.rfft(wide)) ** 2
    assert spec[freqs >= 3900].sum() < 1e-6 * spec.sum()
    assert spec[freqs < 3800].sum() == pytest.approx(wide_spec[freqs < 3800].sum(), rel=1e-3)   # the band kept whole
    assert len(phone) == len(wide) and phone.dtype == np.float32
    assert pipeline.in_band(wide, 11000.0) is wide                  # a wideband reference: renders as they are
