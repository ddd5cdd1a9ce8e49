"""Alternate takes (issue #21 item 2): `take N` is another read of the line, seeded and exact.

Variant 1 is the standard read, bit for bit and key for key; variants 2 and 3 differ from it and
from each other where the sound is (pitch measured on the audio, word onsets from the take's own
phoneme durations), each exactly the slot's length with its speech filling the slot as the
slot-filling tests require (tests/test_fill.py). Through the request's wire form, the daemon, the
cue tag, the dub's request and `takefit say`.
"""
from __future__ import annotations

import dataclasses
import itertools
from fractions import Fraction

import numpy as np
import pytest
import soundfile as sf
import test_daemon_support as support
from takefit.daemon.protocol import ProtocolError, validate
from takefit.engine import RenderRequest, Target
from takefit.engine.cache import request_key
from takefit.engine.errors import InputError
from takefit.engine.fitting import FIXED
from takefit.engine.request import MAX_VARIANT
from takefit.engine.speech import speech_span
from takefit.engine.take import word_onsets as take_onsets
from takefit.engine.variation import Variation, vary_items
from takefit.otio_adapters import cast, tags
from takefit.otio_adapters.cue import Cue

daemon, daemon_client = support.daemon, support.client      # the session's daemon (a private home)

LINE = "Well, I did not expect that. Did you?"
SLOT = "2.6s"
SR = 48000
HOP = 0.010                     # the speech measure's resolution (as tests/test_fill.py)
PITCH_APART = 0.4               # semitones: mean |ΔF0| over the frames voiced in both takes, at least
ONSET_APART = 0.025             # seconds: some word starts at least one model frame elsewhere


@pytest.fixture(scope="module")
def takes(engine):
    return {v: engine.render(RenderRequest(LINE, voice="af_heart", target=Target.parse(SLOT), variant=v))
            for v in (1, 2, 3)}


def word_onsets(take) -> np.ndarray:
    return take_onsets(take.phonemes)


def pitch(audio: np.ndarray) -> np.ndarray:
    """F0 every 10 ms in semitones (Praat's autocorrelation), NaN where unvoiced."""
    parselmouth = pytest.importorskip("parselmouth")
    snd = parselmouth.Sound(audio.astype(np.float64), sampling_frequency=SR)
    f0 = snd.to_pitch_ac(time_step=0.01, pitch_floor=100.0, pitch_ceiling=500.0).selected_array["frequency"]
    return np.where(f0 > 0, 12.0 * np.log2(np.maximum(f0, 1.0) / 100.0), np.nan)


# ------------------------------------------------------------------ the standard read is untouched
def test_variant_1_is_the_request_without_one():
    plain = RenderRequest(LINE, target=Target.parse(SLOT))
    one = RenderRequest(LINE, target=Target.parse(SLOT), variant=1)
    assert request_key(one) == request_key(plain)
    assert "variant" not in plain.to_wire() and one.to_wire() == plain.to_wire()
    assert request_key(dataclasses.replace(plain, variant=2)) != request_key(plain)


@pytest.mark.slow
def test_variant_1_renders_the_same_bytes_before_and_after_other_variants(engine, takes):
    again = engine.render(RenderRequest(LINE, voice="af_heart", target=Target.parse(SLOT)))
    assert again.audio.tobytes() == takes[1].audio.tobytes()
    assert [(p.phoneme, p.start, p.duration) for p in again.phonemes] == \
        [(p.phoneme, p.start, p.duration) for p in takes[1].phonemes]


# ------------------------------------------------------------------ seeded and reproducible
def test_a_variant_is_drawn_from_its_number_and_the_line():
    a, b = Variation.draw(2, "wˈɛl"), Variation.draw(2, "wˈɛl")
    assert a == b
    assert Variation.draw(3, "wˈɛl") != a and Variation.draw(2, "hˈɛloʊ") != a
    assert abs(a.pitch_shift) <= 1.0 and 0.8 <= a.intensity <= 1.2
    assert np.sign(Variation.draw(2, "x").pace_split) != np.sign(Variation.draw(3, "x").pace_split)
    tonal = Variation.draw(2, "wˈɛl", tonal=True)
    assert tonal.contour == tonal.final == tonal.declination == 0.0 and tonal.pitch_shift == a.pitch_shift
    with pytest.raises(ValueError, match="standard read"):
        Variation.draw(1, "wˈɛl")


def test_variant_durations_keep_the_line_length_and_the_pauses_natural(engine):
    plan = engine.plan(LINE, "af_heart")
    for n in range(2, 8):
        varied = vary_items(plan.items, Variation.draw(n, plan.reading.phonemes))
        assert [it.label for it in varied] == [it.label for it in plan.items]
        assert sum(it.natural for it in varied) == sum(it.natural for it in plan.items)
        for old, new in zip(plan.items, varied):
            if old.kind in FIXED:
                assert (new.predicted, new.kind, new.keep) == (old.predicted, old.kind, old.keep)
            if old.kind == "pause":      # a model pause token at most twice its own length, a fit included
                assert 1 <= new.rendered <= 2 * old.rendered and new.rendered * (1 + new.weight) <= 2 * old.rendered
    assert all(it.weight == 1.0 for it in plan.items)      # the plan itself is not changed


@pytest.mark.slow
def test_the_same_variant_twice_is_the_same_take(engine, takes):
    engine._naturals.clear()      # the whole path again, not the engine's cached natural reading
    again = engine.render(RenderRequest(LINE, voice="af_heart", target=Target.parse(SLOT), variant=2))
    assert again.audio.tobytes() == takes[2].audio.tobytes()


# ------------------------------------------------------------------ other reads, still exact and filling
@pytest.mark.slow
def test_variants_differ_where_the_sound_is(takes):
    for a, b in itertools.combinations(takes, 2):
        pa, pb = pitch(takes[a].audio), pitch(takes[b].audio)
        both = ~np.isnan(pa) & ~np.isnan(pb)
        assert both.sum() > 50
        apart = float(np.mean(np.abs(pa[both] - pb[both])))
        moved = float(np.max(np.abs(word_onsets(takes[a]) - word_onsets(takes[b]))))
        assert apart >= PITCH_APART, (a, b, apart)
        assert moved >= ONSET_APART, (a, b, moved)


@pytest.mark.slow
def test_every_variant_is_exact_and_fills_the_slot(takes):
    seconds = float(Target.parse(SLOT).value)
    for v, take in takes.items():
        assert len(take.audio) == round(seconds * SR), v                 # exact to the sample
        start, end = (x / SR for x in speech_span(take.audio, SR))
        assert start <= 0.03, v
        assert abs(end - (seconds - 0.04)) <= 0.08, v
        assert (end - start) / seconds >= 0.9, v
        assert abs(take.speech_start - start) <= 2 * HOP and abs(take.speech_end - end) <= 2 * HOP


@pytest.mark.slow
def test_an_emotional_line_reads_its_emotion_stronger_or_weaker(engine):
    text = "你怎么能这样？"
    d = engine.emotions.resolve(tags.parse_emotion("angry 0.6"), text).delivery
    assert engine.plan(text, delivery=d).delivery == d
    varied = engine.plan(text, delivery=d, variant=2)
    k = Variation.draw(2, varied.reading.phonemes, tonal=True).intensity
    assert k != 1.0 and varied.delivery.f0_shift == pytest.approx(d.f0_shift * k)
    assert varied.delivery.gain_db == pytest.approx(d.gain_db * k)
    assert varied.delivery.rate == pytest.approx(d.rate ** k)


@pytest.mark.slow
def test_an_emotional_variant_is_exact(engine):
    req = RenderRequest("你怎么能这样？", target=Target.parse("1.6s"), emotion=tags.parse_emotion("angry 0.6"))
    standard, other = engine.render(req), engine.render(dataclasses.replace(req, variant=2))
    assert len(other.audio) == len(standard.audio) == round(1.6 * SR)
    assert other.audio.tobytes() != standard.audio.tobytes()


# ------------------------------------------------------------------ the request, the protocol, the daemon
def test_wire_round_trip_and_range():
    req = RenderRequest(LINE, target=Target.parse(SLOT), variant=7)
    assert req.to_wire()["variant"] == 7 and RenderRequest.from_wire(req.to_wire()) == req
    assert RenderRequest.from_wire(RenderRequest(LINE).to_wire()).variant == 1
    for bad in (0, MAX_VARIANT + 1, 2.0, "2", True):
        with pytest.raises(InputError, match=f"1 to {MAX_VARIANT}"):
            RenderRequest(LINE, variant=bad)


def test_protocol_accepts_variant_and_names_the_range():
    msg = validate({"op": "render", "request": {"text": "Hi.", "variant": 3}})
    assert msg["request"]["variant"] == 3 and RenderRequest.from_wire(msg["request"]).variant == 3
    assert validate({"op": "render", "request": {"text": "Hi."}})["request"]["variant"] == 1
    for bad in (0, 100, "2", 1.5):
        with pytest.raises(ProtocolError) as e:
            validate({"op": "render", "request": {"text": "Hi.", "variant": bad}})
        assert e.value.code == "bad_message" and "variant" in e.value.message


@pytest.mark.slow
def test_the_daemon_renders_a_variant(daemon_client):
    target, n = support.fresh(1.4)
    standard = daemon_client.render("Roll camera, please.", target=target, inline=True, phonemes=True)
    other = daemon_client.render("Roll camera, please.", target=target, inline=True, phonemes=True, variant=2)
    again = daemon_client.render("Roll camera, please.", target=target, inline=True, variant=2)
    assert standard.samples == other.samples == n and not other.cached and again.cached
    assert other.wav != standard.wav and again.wav == other.wav
    assert [p.start for p in other.phonemes] != [p.start for p in standard.phonemes]


# ------------------------------------------------------------------ the cue tag and the dub
def cue(raw: str, variant: int = 1) -> Cue:
    return Cue("c001", 0, 50, Fraction(25), raw, variant=variant)


def test_take_tag_sets_the_cue_variant():
    c = cast.Cast()
    assert tags.parse("alice | take=2").variant == 2 and tags.parse("variant=12").variant == 12
    assert c.resolve(cue("[alice | take=2] Hello.")).variant == 2
    assert c.resolve(cue("Hello.")).variant == 1
    assert c.resolve(cue("Hello.", variant=3)).variant == 3          # a pick made elsewhere stays
    for bad in ("take=0", "take=x", "take=2.5", f"take={MAX_VARIANT + 1}"):
        resolved = c.resolve(cue(f"[alice | {bad}] Hello."))
        assert resolved.problems and "take=" in resolved.problems[0] and "1 to 99" in resolved.problems[0], bad


def test_dub_renders_the_read_the_tag_picks(tmp_path):
    from takefit.bridges.dub.pipeline import DubOptions, plan, request_for

    src = tmp_path / "ep.srt"
    src.write_text("1\n00:00:01,000 --> 00:00:03,000\n[take=3] Picked read.\n\n"
                   "2\n00:00:04,000 --> 00:00:06,000\nStandard read.\n", "utf-8")
    opts = DubOptions(src, rate="25")
    picked, standard = plan(opts).cues
    assert request_for(picked, opts).variant == 3 and request_for(standard, opts).variant == 1
    assert request_key(request_for(picked, opts)) != request_key(request_for(standard, opts))


# ------------------------------------------------------------------ takefit say
def test_say_names_another_read_apart():
    from takefit.bridges.commands.say import default_output

    assert default_output("Hi.") != default_output("Hi.", 2)
    assert default_output("Hi.", 1) == default_output("Hi.")


@pytest.mark.slow
def test_say_variant_writes_another_take(tmp_path, capsys):
    from takefit.bridges.cli import main

    a, b, c = tmp_path / "a.wav", tmp_path / "b.wav", tmp_path / "c.wav"
    assert main(["say", "Roll camera.", "--fit", "1.5s", "-o", str(a)]) == 0
    assert main(["say", "Roll camera.", "--fit", "1.5s", "--variant", "2", "-o", str(b)]) == 0
    assert main(["say", "Roll camera.", "--fit", "1.5s", "--take", "2", "-o", str(c)]) == 0
    (x, _), (y, _), (z, _) = (sf.read(p, dtype="int32") for p in (a, b, c))
    assert len(x) == len(y) == round(1.5 * SR)
    assert not np.array_equal(x, y) and np.array_equal(y, z)
    assert main(["say", "Roll camera.", "--take", "0", "-o", str(tmp_path / "bad.wav")]) != 0
    assert "1 to 99" in capsys.readouterr().err and not (tmp_path / "bad.wav").exists()
