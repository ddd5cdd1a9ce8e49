from fractions import Fraction

import pytest
from hypothesis import given, strategies as st

from takefit.engine import InputError, Target, parse_rate


@pytest.mark.parametrize("text,kind,seconds", [
    ("3.2s", "seconds", Fraction(16, 5)), ("3.2", "seconds", Fraction(16, 5)), ("1500ms", "seconds", Fraction(3, 2)),
    ("77@23.976", "frames", Fraction(77 * 1001, 24000)), ("77@24000/1001", "frames", Fraction(77 * 1001, 24000)),
    ("50@25", "frames", Fraction(2)), ("30@29.97", "frames", Fraction(30 * 1001, 30000)),
])
def test_parse(text, kind, seconds):
    t = Target.parse(text)
    assert t.kind == kind
    assert t.resolve_seconds(1) == seconds


def test_ratio_uses_natural_length():
    t = Target.parse("0.9x")
    assert t.kind == "ratio"
    assert t.resolve_seconds(Fraction(2)) == Fraction(9, 5)


def test_natural_has_no_target():
    assert Target.natural().samples(48000, 3) is None


@pytest.mark.parametrize("bad", ["", "abc", "-1s", "0", "3@0", "x@25", "1.5@25", "0x", "1/0s", "12@abc"])
def test_bad_syntax_says_what_is_accepted(bad):
    with pytest.raises(InputError, match="accepted|must be|frame"):
        Target.parse(bad)


def test_ntsc_rates_are_exact():
    assert parse_rate("23.976") == Fraction(24000, 1001)
    assert parse_rate("29.97 DF") == Fraction(30000, 1001)
    assert parse_rate("59.94") == Fraction(60000, 1001)
    assert parse_rate(25) == 25


@given(st.integers(1, 100000), st.sampled_from(["23.976", "24", "25", "29.97", "30", "50", "59.94"]),
       st.sampled_from([44100, 48000, 96000]))
def test_frame_samples_are_exact_integers(n, rate, sr):
    t = Target.frames(n, rate)
    exact = Fraction(n) / parse_rate(rate) * sr
    assert abs(t.samples(sr) - exact) <= Fraction(1, 2)
