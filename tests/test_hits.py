"""Hit points written in the text ({@1.2s}) and as timeline point markers (@word)."""
from __future__ import annotations

from fractions import Fraction

import pytest

from takefit.engine import InputError
from takefit.engine.frontend import Frontend, clean
from takefit.engine.pins import extract, locate
from takefit.otio_adapters import hits, tags
from takefit.otio_adapters.cast import parse
from takefit.otio_adapters.cue import Cue


def test_extract_strips_markup_and_keeps_word_offsets():
    text, pins = extract("Ready?  {@1.5s}Go now, {@2500ms} go!", None, clean)
    assert text == "Ready?  Go now,  go!"
    cleaned = clean(text)
    assert [cleaned[p.offset:p.offset + 2] for p in pins] == ["Go", "go"]
    assert [p.seconds for p in pins] == [Fraction(3, 2), Fraction(5, 2)]


def test_frames_use_the_rate_and_words_are_found_in_order():
    text, pins = extract("三，二，一，{@48f}开始！开始！", Fraction(24), clean)
    assert pins[0].seconds == 2
    reading = Frontend().read(text)
    found, notes = locate(reading, pins)
    assert found[0].word == "开始" and reading.phonemes[found[0].phoneme:].startswith("kʰai")
    assert not notes


@pytest.mark.parametrize("bad", ["Go {@}now", "Go {@1.5x}now", "Go now {@1s}", "Go {@1.5f}now"])
def test_bad_markup_is_named(bad):
    with pytest.raises(InputError, match="hit point"):
        extract(bad, Fraction(25), clean)


def test_point_markers_pin_words_of_the_line_they_fall_in():
    cues = [Cue("", 100, 72, Fraction(24), "[bob] Ready? Go, go!"), Cue("", 136, 0, Fraction(24), "@go"),
            Cue("", 150, 0, Fraction(24), "@GO"), Cue("", 300, 48, Fraction(24), "你好，开始吧"),
            Cue("", 320, 0, Fraction(24), "@开始"), Cue("", 500, 0, Fraction(24), "@nowhere")]
    out = hits.apply(cues)
    assert [c.id for c in out] == ["c001", "c002"]
    assert out[0].raw_text == "[bob] Ready? {@36f}Go, {@50f}go!"
    assert out[1].raw_text == "你好，{@20f}开始吧"
    assert any("no line" in n for n in out[1].notes)


def test_a_word_the_line_lacks_is_a_note_not_a_pin():
    out = hits.apply([Cue("", 0, 48, Fraction(24), "Hello there."), Cue("", 10, 0, Fraction(24), "@go")])
    assert out[0].raw_text == "Hello there." and "has no 'go'" in out[0].notes[0]


def test_handles_from_tags_and_cast(tmp_path):
    assert tags.parse("alice | lead=100ms | tail=0.2").lead == pytest.approx(0.1)
    assert tags.parse("alice | tail=0.2").tail == pytest.approx(0.2)
    with pytest.raises(InputError, match="milliseconds"):
        tags.parse("tail=forever")
    cast = parse({"defaults": {"tail": 0.08}, "characters": {"bob": {"lead": "50ms"}}}, tmp_path / "c.toml")
    cue = cast.resolve(Cue("c1", 0, 48, Fraction(24), "[bob] Hi."))
    assert (cue.lead, cue.tail) == (pytest.approx(0.05), pytest.approx(0.08))
    cue = cast.resolve(Cue("c1", 0, 48, Fraction(24), "[bob | tail=0] Hi."))
    assert cue.tail == 0.0


def test_handles_travel_the_daemon_protocol():
    from takefit.daemon.protocol import OPS
    from takefit.engine import RenderRequest, Target

    req = RenderRequest("Hi {@12f}there.", target=Target.parse("2s"), lead=0.1, tail=0.2, frame_rate=Fraction(25))
    msg = OPS["render"]({"op": "render", "request": req.to_wire()}, "message")
    back = RenderRequest.from_wire(msg["request"])
    assert (back.lead, back.tail, back.frame_rate) == (0.1, 0.2, Fraction(25)) and back == req
    default = RenderRequest.from_wire(OPS["render"]({"op": "render", "request": {"text": "Hi"}}, "message")["request"])
    assert (default.lead, default.tail) == (0.0, 0.04)
