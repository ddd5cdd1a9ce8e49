"""Resolve bridge frame arithmetic: rates as Resolve writes them, drop-frame timecode, clip frames."""
from __future__ import annotations

from fractions import Fraction

import pytest

import resolve_standin as rs
from takefit.bridges.resolve import frames as fr

NTSC24, NTSC30, NTSC60 = Fraction(24000, 1001), Fraction(30000, 1001), Fraction(60000, 1001)


@pytest.mark.parametrize("setting, rate, drop", [
    ("23.976", NTSC24, False), ("24", Fraction(24), False), ("25", Fraction(25), False),
    ("29.97", NTSC30, False), ("29.97 DF", NTSC30, True), ("29.97 NDF", NTSC30, False), ("59.94 DF", NTSC60, True),
    ("30000/1001", NTSC30, False), ("23.98", NTSC24, False), (24.0, Fraction(24), False), ("50", Fraction(50), False),
    ("25 DF", Fraction(25), False),          # drop frame exists for the 30000/1001 family only
])
def test_rates_as_resolve_writes_them(setting, rate, drop):
    assert fr.parse_rate(setting) == (rate, drop)


@pytest.mark.parametrize("bad", ["", "fast", "0", "-25", "29.97 DFX"])
def test_bad_rates_are_refused(bad):
    with pytest.raises(fr.RateError):
        fr.parse_rate(bad)


@pytest.mark.parametrize("tc, rate, drop, frame", [
    ("01:00:00:00", Fraction(24), False, 86400),
    ("01:00:00:00", NTSC24, False, 86400),
    ("01:00:00:00", Fraction(25), False, 90000),
    ("01:00:00:00", NTSC30, False, 108000),
    ("01:00:00;00", NTSC30, True, 107892),
    ("01:00:00;00", NTSC60, True, 215784),
    ("00:01:00;02", NTSC30, True, 1800),     # ;00 and ;01 do not exist at minute 1
    ("00:10:00;00", NTSC30, True, 17982),    # every tenth minute keeps them
])
def test_start_frames(tc, rate, drop, frame):
    assert fr.timecode_to_frame(tc, rate, drop) == frame
    assert rs.tc_frames(tc, rate, drop) == frame     # the stand-in's independent formula agrees
    assert fr.frame_to_timecode(frame, rate, drop) == tc


def test_semicolon_means_drop_frame():
    assert fr.timecode_to_frame("01:00:00;00", NTSC30) == 107892


@pytest.mark.parametrize("rate, drop", [(NTSC30, True), (NTSC60, True), (NTSC24, False), (Fraction(25), False)])
def test_drop_frame_round_trip(rate, drop):
    for n in list(range(0, 20000, 7)) + [107892, 107893, 215784, 1798, 1799, 1800, 17981, 17982, 17983]:
        tc = fr.frame_to_timecode(n, rate, drop)
        assert fr.timecode_to_frame(tc, rate, drop) == n
        assert tc == rs.frames_tc(n, rate, drop)


def test_clip_frames_of_a_24fps_wav():
    # 77 frames at 23.976 = 154154 samples at 48 kHz = 77.077 frames of a WAV that reports 24 fps
    samples = fr.samples_for(77, NTSC24)
    assert samples == 154154
    assert fr.clip_length(samples, 48000, Fraction(24)) == Fraction(77077, 1000)
    assert fr.clip_to_timeline(Fraction(77077, 1000), Fraction(24), NTSC24) == 77
    # 29.97: 30 frames = 1.001 s = 24.024 clip frames
    assert fr.clip_length(fr.samples_for(30, NTSC30), 48000, Fraction(24)) == Fraction(24024, 1000)


def test_samples_match_the_engine_rule():
    from takefit.engine import Target

    for n, rate in [(77, NTSC24), (30, NTSC30), (49, Fraction(25)), (1, NTSC60)]:
        assert fr.samples_for(n, rate) == Target.frames(n, rate).samples(48000)


def test_rate_labels():
    assert fr.rate_label(NTSC30, True) == "29.97 DF"
    assert fr.rate_label(NTSC24) == "23.976"
    assert fr.rate_text(NTSC30) == "30000/1001"
