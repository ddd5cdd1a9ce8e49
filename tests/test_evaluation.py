"""The evaluation harness (takefit.evaluation) end to end on a tiny design: one English line fitted at
1.25 and one Mandarin line at 0.8 (seed 3), one voice each, all four methods and every measure — real
Whisper, DNSMOS, speaker encoders, ffmpeg and Rubber Band. The headline run is `make eval`."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

pytest.importorskip("faster_whisper", reason="the eval extra is not installed: pip install -e '.[eval]'")

from takefit.evaluation import cli, experiment, stretchers  # noqa: E402
from takefit.evaluation.experiment import Design  # noqa: E402

TINY = Design(sentences=1, ratios_per_sentence=1, voices_per_language=1, ratios=(0.8, 1.0, 1.25), seed=3)


@pytest.fixture(scope="module")
def tiny(engine, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval")
    result = experiment.run(TINY, progress=False, log=lambda m: None, engine=engine, audio_dir=out / "takes",
                            jobs=2)   # two lines side by side: the threaded path
    paths = cli.report(result, TINY, out)
    return result, paths, out


def test_plan_is_seeded_and_balanced():
    d = Design(sentences=14, ratios_per_sentence=2)
    a, b = experiment.plan(d), experiment.plan(d)
    assert a == b
    assert a != experiment.plan(Design(sentences=14, ratios_per_sentence=2, seed=1))
    for lang in ("en", "zh"):
        counts = [sum(r in i.ratios for i in a if i.lang == lang) for r in d.fitted_ratios]
        assert sum(counts) == 28 and max(counts) - min(counts) <= 1
        assert {i.voice for i in a if i.lang == lang} == set(experiment.VOICES[lang])
    assert all(len(set(i.ratios)) == 2 and 1.0 not in i.ratios for i in a)


@pytest.mark.slow
def test_every_take_is_measured_and_exactly_fitted(tiny):
    result, _, _ = tiny
    samples = result["samples"]
    assert len(samples) == 2 * (1 + 4) and not any(s.get("error") for s in samples)
    assert {(s["lang"], s["ratio"]) for s in samples if s["method"] != "natural"} == {("en", 1.25), ("zh", 0.8)}
    nat = {s["lang"]: s for s in samples if s["method"] == "natural"}
    for s in samples:
        target = round(s["ratio"] * nat[s["lang"]]["seconds"] * 16000)
        assert abs(s["seconds"] * 16000 - target) <= 1, s        # every method lands on the slot
        assert 1.0 <= s["dnsmos_ovrl"] <= 5.0 and 1.0 <= s["dnsmos_sig"] <= 5.0
        assert math.isfinite(s["f0_median_hz"]) and 60 < s["f0_median_hz"] < 500
        assert 0.6 < s["sim_resemblyzer"] <= 1.0 + 1e-6 and 0.6 < s["sim_dvector"] <= 1.0 + 1e-6
    for lang, s in nat.items():                     # a clean natural take is transcribed nearly right
        assert s["errors"] / s["ref_len"] <= 0.2, (lang, s["hyp"], s["text"])
        assert s["dnsmos_ovrl"] > 2.5
    for s in samples:
        if s["method"] in stretchers.STRETCHERS:     # stretchers keep the pitch and change the rate
            assert abs(s["drift_st"]) < 1.0
            assert (s["rate_ratio"] > 1.05) if s["ratio"] < 1 else (s["rate_ratio"] < 0.95)


@pytest.mark.slow     # the module's small experiment (≈ 50 s, 2 AVX2 cores): not for the fast lane
def test_reports_table_json_and_png(tiny):
    result, paths, out = tiny
    md = paths["md"].read_text("utf-8")
    for head in ("At a glance", "Paired differences", "WER, English", "CER, Mandarin", "DNSMOS OVRL", "Pitch drift", "resemblyzer", "d-vector"):
        assert head in md
    assert "| ratio | takefit-auto | takefit-model | atempo | rubberband |" in md
    assert "| 1.25 |" in md and "| 0.8 |" in md
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths["png"].stat().st_size > 20_000
    saved = json.loads(paths["json"].read_text("utf-8"))
    assert saved["summary"]["1.25"]["atempo"]["n"] == saved["summary"]["0.8"]["atempo"]["n"] == 1
    assert set(saved["goals"]["versus"]) == {f"{r}/{m}" for r in ("0.8", "1.25")
                                             for m in ("takefit-auto", "takefit-model")}
    assert len(list((out / "takes").rglob("*.wav"))) == len(result["samples"])
    # --from-json rebuilds the same tables without rendering
    rebuilt = out / "rebuilt"
    assert cli.main(["--from-json", str(paths["json"]), "--out", str(rebuilt)]) == 0
    assert (rebuilt / "results.md").read_text("utf-8") == md


@pytest.mark.slow     # the module's small experiment (≈ 50 s, 2 AVX2 cores): not for the fast lane
def test_atempo_and_rubberband_hit_the_length(tiny):
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(24000)).astype(np.float32)
    for fn in stretchers.STRETCHERS.values():
        for n in (16800, 24000, 30000):
            y = fn(x, 24000, n)
            assert len(y) == n and y.dtype == np.float32 and np.isfinite(y).all()
    assert len(stretchers.atempo(x, 24000, len(x))) == len(x)


def test_cli_refuses_a_design_without_the_natural_take(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--ratios", "0.8", "1.25"])
    assert e.value.code == 2
    assert "must include 1.0" in capsys.readouterr().err


@pytest.mark.slow
def test_dnsmos_scores_the_reference_windows():
    """One window for a take shorter than 9.01 s (the take repeated to fill it), every 1 s hop for a
    longer one; where speechmos scores a single window (a 2.5 s clip) or the same hops (12 s), the
    meter must give its numbers."""
    from speechmos import dnsmos as reference

    from takefit.evaluation import quality

    assert [len(w) for w in quality.windows(np.ones(40000, np.float32))] == [quality.WINDOW]
    assert len(quality.windows(np.ones(12 * 16000, np.float32))) == 3
    assert len(quality.windows(np.ones(quality.WINDOW, np.float32))) == 1
    rng = np.random.default_rng(1)
    t = np.arange(12 * 16000) / 16000
    x = (0.3 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 3 * t) > 0)
         + 0.02 * rng.standard_normal(len(t))).astype(np.float32)
    meter = quality.DnsmosMeter()
    for clip in (x[:40000], x):
        ours, ref = meter(clip), reference.run(clip, sr=16000)
        assert ours.ovrl == pytest.approx(ref["ovrl_mos"], abs=1e-4)
        assert ours.sig == pytest.approx(ref["sig_mos"], abs=1e-4)
        assert ours.p808 == pytest.approx(ref["p808_mos"], abs=1e-4)
    with pytest.raises(ValueError, match="16000 Hz"):
        meter(x, 24000)
