"""Speech fills the slot: measured on the audio (engine/speech.py), from the slot's first frame to its
last minus the tail handle; hit points pin words inside it (engine/pins.py, engine/fill.py)."""
from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

from takefit.engine import FitError, InputError, RenderRequest, Target
from takefit.engine.speech import onset_after, speech_span

HOP = 0.010   # the speech measure's resolution


def measured(take) -> tuple[float, float]:
    a, b = speech_span(take.audio, take.sample_rate)
    return a / take.sample_rate, b / take.sample_rate


def test_phrase_final_near_silence_is_not_natural_length(engine):
    # the duration stage holds 了's last vowel for ~29 frames and the decoder renders most of it as
    # near-silence: the natural take must end with the heard sound plus the tail handle
    take = engine.render(RenderRequest("你昨天晚上到底去哪儿了？", voice="zm_yunxi"))
    start, end = measured(take)
    assert len(take.audio) == round(take.natural_seconds * take.sample_rate)
    assert start <= 0.03
    assert take.seconds - end <= 0.04 + 0.025          # tail handle + less than one model frame
    assert take.ratio == pytest.approx(1.0)
    assert abs(take.speech_end - end) <= 2 * HOP


@pytest.mark.parametrize("text,voice,slot", [
    ("好的，我们马上准备。", "zm_yunxi", "2.4s"),                 # the demo scene's cue c002
    ("Roll camera, we are losing the light.", "am_michael", "3.1s"),
    ("Where were you last night?", "af_heart", "1.0s"),
])
def test_speech_fills_the_slot(engine, text, voice, slot):
    take = engine.render(RenderRequest(text, voice=voice, target=Target.parse(slot)))
    seconds = float(Target.parse(slot).value)
    assert len(take.audio) == round(seconds * 48000)               # still exact to the sample
    start, end = measured(take)
    assert start <= 0.03
    assert abs(end - (seconds - 0.04)) <= 0.08
    assert (end - start) / seconds >= 0.9
    assert abs(take.speech_start - start) <= 2 * HOP and abs(take.speech_end - end) <= 2 * HOP


def test_handles_move_the_speech(engine):
    take = engine.render(RenderRequest("Roll camera, we are losing the light.", voice="am_michael",
                                       target=Target.parse("3s"), lead=0.25, tail=0.3, method="model"))
    start, end = measured(take)
    assert abs(start - 0.25) <= 0.03
    assert abs(end - 2.7) <= 0.08


# a pin counts from the slot's start, whatever the lead: with a lead the same line moves later as a whole
@pytest.mark.parametrize("lead", [0.0, 0.25])
def test_a_pinned_word_lands_where_asked(engine, lead):
    take = engine.render(RenderRequest(f"Look out, {{@{1.0 + lead}s}}behind you! {{@{2.2 + lead}s}}Now, run!",
                                       voice="af_heart", target=Target.parse(f"{3.2 + lead}s"), lead=lead))
    sr = take.sample_rate
    assert [p.word for p in take.pins] == ["behind", "Now"]
    for pin in take.pins:
        onset = onset_after(take.audio, sr, int((pin.asked - 0.15) * sr), int((pin.asked + 0.15) * sr))
        assert onset is not None
        assert abs(onset / sr - pin.asked) <= 0.06, (pin, onset / sr)
        assert abs(pin.placed - pin.asked) <= 0.025


def test_pins_in_frames_and_chinese(engine):
    take = engine.render(RenderRequest("三，二，一，{@36f}开始！", voice="zf_xiaoxiao",
                                       target=Target.frames(60, 24)))
    sr = take.sample_rate
    onset = onset_after(take.audio, sr, int(1.35 * sr), int(1.65 * sr))
    assert onset is not None and abs(onset / sr - 1.5) <= 0.06
    assert len(take.audio) == 60 * sr // 24


@pytest.mark.parametrize("text,target,message", [
    ("Look out, {@2.0s}behind you! {@1.0s}Now, run!", "3.2s", "in order"),
    ("Look out, {@0.05s}behind you! Now, run!", "3.2s", "feasible is"),
    ("Look out, {@3.5s}behind you!", "3.2s", "inside the slot"),
])
def test_impossible_pins_are_clear_errors(engine, text, target, message):
    with pytest.raises(FitError, match=message):
        engine.render(RenderRequest(text, voice="af_heart", target=Target.parse(target)))


def test_model_refuses_a_slot_below_one_frame_per_phoneme(engine):
    # unstretched, a rendering longer than its slot would be cut: the error names the least it needs
    with pytest.raises(FitError, match="one frame per phoneme") as e:
        engine.render(RenderRequest("Roll camera, we are losing the light.", voice="am_michael",
                                    target=Target.parse("0.95s"), method="model"))
    assert e.value.min_seconds is not None and e.value.min_seconds > 0.95


def test_pin_syntax_errors(engine):
    with pytest.raises(InputError, match="no frame rate"):
        engine.render(RenderRequest("Go {@30f}now!", target=Target.parse("2s")))
    with pytest.raises(InputError, match="need a slot"):
        engine.render(RenderRequest("Go {@1s}now!"))
    with pytest.raises(InputError, match="bad hit point"):
        engine.render(RenderRequest("Go {@soon}now!", target=Target.parse("2s")))
    with pytest.raises(InputError, match="handle"):
        engine.render(RenderRequest("Go now!", target=Target.parse("2s"), tail=5.0))


@pytest.mark.slow
def test_bad_pin_on_the_command_line_writes_nothing(tmp_path):
    out = tmp_path / "x.wav"
    r = subprocess.run([sys.executable, "-m", "takefit.bridges.cli", "say", "Look out, {@0.05s}behind you!",
                        "--fit", "2s", "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode != 0
    assert "feasible is" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists() and not list(tmp_path.iterdir())


def test_explain_shows_segments_and_pins(engine):
    info = engine.explain("Look out, {@1.0s}behind you!", voice="af_heart", target=Target.parse("2.5s"))
    assert [p["word"] for p in info["pins"]] == ["behind"]
    assert info["pins"][0]["at"] == 1.0 and 0 < info["pins"][0]["natural"] < 1.0
    assert [s["to"] for s in info["pin_segments"]] == ["'behind'", "the end"]
