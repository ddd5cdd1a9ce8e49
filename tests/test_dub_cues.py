"""Cues without the engine: tag syntax, cast file, extraction from real timelines, lanes, rates,
take naming, the audio EDL, the stem mix and atomic writes."""
from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest
import soundfile as sf
from hypothesis import given, settings, strategies as st

from takefit.engine.errors import InputError, OutputError
from takefit.otio_adapters import audio_edl, cast, formats, place, rates, srt, tags
from takefit.otio_adapters.cue import Cue, Emotion
from takefit.otio_adapters.extract import extract, find_tracks, nothing_to_say
from takefit.bridges.dub.stem import StemItem, write_stem
from takefit.bridges.dub.takes import TakeFolder

FIXTURES = Path(__file__).parent / "fixtures" / "timelines"
NTSC = Fraction(30000, 1001)


def read(name, **kw):
    return formats.read(FIXTURES / name, **kw).timeline


# ------------------------------------------------------------------ tags
def test_tag_fields():
    inner, rest = tags.split("[alice | angry 0.7] You dare say that to me?")
    assert rest.strip() == "You dare say that to me?"
    t = tags.parse(inner)
    assert (t.character, t.emotion) == ("alice", Emotion("angry", 0.7))
    t = tags.parse("bob | voice=zm_yunxi | lang=ZH | 行=xíng | takefit=/tˈAkfɪt/ | neutral 40%")
    assert (t.character, t.voice, t.language, t.emotion) == ("bob", "zm_yunxi", "zh", Emotion("calm", 0.4))
    assert t.pronunciations == (("行", "xíng"), ("takefit", "/tˈAkfɪt/"))
    assert tags.parse("生气 0.5").emotion == Emotion("angry", 0.5)
    assert tags.parse("calm").emotion == Emotion("calm", 1.0)
    assert tags.parse("character=calm").character == "calm"  # a character named like an emotion


def test_engine_override_syntax_is_not_a_tag():
    for text in ["[Kokoro](/kˈOkəɹO/) is here.", "  [takefit] (/x/) no", "【行】（xíng）"]:
        assert tags.split(text) == (None, text)
    assert tags.split("\\[laughs] Oh really?") == (None, "[laughs] Oh really?")
    assert tags.split("【老王 | 开心】你好")[0] == "老王 | 开心"


@pytest.mark.parametrize("inner, match", [
    ("alice | furious 0.7", "neither an emotion"),
    ("alice | angry 1.5", "out of range"),
    ("alice | angry lots", "intensity"),
    ("alice | angry | sad", "two emotions"),
    ("lang=de", "language"),
    ("voice=", "key and a value"),
])
def test_bad_tags_say_what_is_accepted(inner, match):
    with pytest.raises(InputError, match=match):
        tags.parse(inner)


def test_pronunciations_rewrite_into_engine_syntax():
    text, notes = tags.apply_pronunciations("这个行不行？银行(yin2 hang2)。Use takefit now.",
                                            [("行", "xíng"), ("takefit", "/tˈAkfɪt/"), ("missing", "/x/")])
    assert text == "这个行(xíng)不行(xíng)？银行(yin2 hang2)。Use [takefit](/tˈAkfɪt/) now."
    assert notes == ["pronunciation for 'missing' unused: the word is not in the line"]


def test_clean_strips_subtitle_markup_and_joins_lines():
    assert tags.clean("<i>Good</i>\nmorning.") == "Good morning."
    assert tags.clean("{\\an8}你好，\n世界。") == "你好，世界。"


@settings(max_examples=80, deadline=None)
@given(st.text(alphabet="ab 行[]()|/", max_size=30))
def test_text_survives_when_there_is_no_tag(text):
    inner, rest = tags.split(text)
    if inner is None and not text.lstrip().startswith("\\"):
        assert rest == text
    else:
        assert text.endswith(rest)


# ------------------------------------------------------------------ cast
CAST = """
[defaults]
character = "narrator"
emotion = "calm 0.2"

[characters.Alice]
voice = "af_bella"
emotion = "happy"
intensity = 0.3

[characters.narrator]
voice = "bf_emma"
language = "en"

[colors]
red = "alice"
ResolveColorSky = "narrator"

[pronunciations]
"行" = "xíng"
"""


def cue(raw, color=None):
    return Cue("c001", 0, 30, Fraction(25), raw, color=color)


def test_cast_resolution_order(tmp_path):
    p = tmp_path / "takefit.cast.toml"
    p.write_text(CAST, "utf-8")
    c = cast.load(cast.find(tmp_path / "cut.xml", None))
    a = c.resolve(cue("我行。", color="RED"))
    assert (a.character, a.voice, a.emotion, a.text) == ("Alice", "af_bella", Emotion("happy", 0.3), "我行(xíng)。")
    n = c.resolve(cue("Plain line.", color="ResolveColorSky"))
    assert (n.character, n.voice, n.language, n.emotion) == ("narrator", "bf_emma", "en", Emotion("calm", 0.2))
    t = c.resolve(cue("[alice | voice=af_sky | sad 0.5] Tagged.", color="ResolveColorSky"))
    assert (t.character, t.voice, t.emotion, t.text) == ("Alice", "af_sky", Emotion("sad", 0.5), "Tagged.")
    u = c.resolve(cue("[carol] Who?"))
    assert u.character == "carol" and u.voice == "auto" and "not in the cast" in u.notes[0]
    bad = c.resolve(cue("[alice | furious] Hm."))
    assert bad.problems and "furious" in bad.problems[0]


@pytest.mark.parametrize("doc, match", [
    ("[characters.a]\nvioce = 'x'", "unknown key"),
    ("[colors]\nred = 'nobody'", "not a character"),
    ("[characters.a]\nemotion = 'furious'", "unknown emotion"),
    ("[defaults]\nlanguage = 'de'", "language"),
    ("[characters.a\n", "not valid TOML"),
])
def test_cast_errors_name_the_file_and_the_fix(tmp_path, doc, match):
    p = tmp_path / "c.toml"
    p.write_text(doc, "utf-8")
    with pytest.raises(InputError, match=match) as e:
        cast.load(p)
    assert str(p) in str(e.value)


# ------------------------------------------------------------------ extraction from real files
def test_premiere_markers_and_clip_marker_in_timeline_time():
    cues = extract(read("premiere_example.xml"))
    got = [(c.start, c.duration, c.source, c.raw_text) for c in cues]
    # sequence markers at 113, 298, 492; the clip marker sits at media frame 73 of a clip placed at 322
    assert got == [(113, 0, "marker", "so, this happened"), (298, 0, "marker", ""),
                   (395, 0, "clip_marker", ""), (492, 0, "marker", "fsfsfs")]
    assert all(c.color is None for c in cues)  # FCP7 XML has no marker colour (OTIO's RED is a default)


def test_edl_locators_are_record_timecode():
    tl = read("screening_example.edl")
    start = rates.timeline_start(tl, Fraction(24))
    assert rates.timecode(start, Fraction(24)) == "00:59:53:11"  # the first record-in
    cues = extract(tl)
    assert [(rates.timecode(start + c.start, c.rate), c.color, c.raw_text) for c in cues] == [
        ("01:00:01:14", "RED", "ANIM FIX NEEDED"), ("01:00:02:14", "PINK", "ANIM FIX NEEDED"), ("01:00:15:13", "GREEN", "")]


def test_fcpx_clip_markers_one_frame_long_are_points():
    cues = extract(read("fcpx_example.fcpxml"))
    assert [(c.start, c.duration, c.name) for c in cues] == [
        (180, 0, "Marker 1"), (660, 0, "Marker 5"), (840, 0, "Marker 2"), (1937, 0, "Marker 4"),
        (2400, 0, "Marker 7"), (2714, 0, "Marker 8")]
    # Final Cut's default names are labels, not lines: nothing to say, and the skip names the fix
    assert {c.raw_text for c in cues} == {""} and nothing_to_say(cues[0]).startswith("only the default name")
    assert [c.name for c in extract(read("fcpx_example.fcpxml"), colors=["green"])] == ["Marker 7"]


def test_ntsc_fixture_keeps_exact_rate_and_start():
    tl = read("ntsc_dialogue.xml")
    assert rates.timeline_rate(tl) == NTSC
    assert rates.timeline_start(tl, NTSC) == 108000
    cues = extract(tl)
    assert [(c.start, c.duration, c.raw_text) for c in cues] == [
        (30, 60, "[alice] Hello there."), (75, 54, "[bob] 你好，世界。"), (210, 60, "Good morning."), (250, 20, "")]


def test_guide_track_by_name_or_position():
    tl = read("dialogue.srt", rate=None)
    tl2 = srt.read_from_file(str(FIXTURES / "dialogue.srt"), cues_as="clips")
    by_name = extract(tl2, tracks=["subtitles", "Subtitles 2"])
    assert [(c.start, c.duration, c.source) for c in by_name] == [(30, 60, "subtitle"), (105, 60, "subtitle"),
                                                                  (150, 54, "subtitle")]
    assert [c.start for c in extract(tl)] == [30, 105, 150]
    assert find_tracks(read("premiere_example.xml"), ["a2"])[0].kind == "Audio"
    with pytest.raises(InputError, match="no track named 'Dialog'.*V1"):
        extract(read("premiere_example.xml"), tracks=["Dialog"])


def test_unsupported_and_unreadable_files(tmp_path):
    p = tmp_path / "cut.aaf"
    p.write_bytes(b"x")
    with pytest.raises(InputError, match=r"unsupported format '.aaf'.*\.fcpxml.*\.srt"):
        formats.read(p)
    bad = tmp_path / "bad.xml"
    bad.write_text("<xmeml><sequence>", "utf-8")
    with pytest.raises(InputError, match="cannot read .*bad.xml as fcp_xml"):
        formats.read(bad)
    with pytest.raises(InputError, match="no such file"):
        formats.read(tmp_path / "none.otio")
    with pytest.raises(InputError, match="unknown format"):
        formats.format_name("aaf")


# ------------------------------------------------------------------ lanes, tracks, rates
@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 500), st.integers(1, 80)), max_size=25))
def test_lanes_never_overlap_and_use_the_fewest(spans):
    spans = [(s, s + d) for s, d in spans]
    lanes = assign = place.assign_lanes(spans)
    for lane in set(assign):
        mine = sorted(s for s, la in zip(spans, lanes) if la == lane)
        assert all(a[1] <= b[0] for a, b in zip(mine, mine[1:]))
    depth = max((sum(1 for s, e in spans if s <= t < e) for t in range(0, 600)), default=0)
    assert (max(lanes) + 1 if lanes else 0) == depth


def test_exact_rates_and_samples():
    assert rates.exact_rate(29.97) == NTSC and rates.exact_rate(29.97002997002997) == NTSC
    assert rates.exact_rate(23.976) == Fraction(24000, 1001) and rates.exact_rate(25.0) == 25
    assert rates.parse("29.97") == NTSC and rates.parse("30000/1001") == NTSC and rates.parse("25") == 25
    assert rates.samples(77, Fraction(24000, 1001), 48000) == 154154
    assert rates.samples(1, NTSC, 48000) == 1602  # 1601.6 rounds half up, as Target.frames does
    assert rates.timecode(108000, NTSC) == "01:00:00:00"


def test_dub_tracks_are_replaced_not_stacked(tmp_path):
    c = Cue("c001", 10, 20, Fraction(25), "x", text="x")
    wav = tmp_path / "cut_takes" / "cut_c001_default_t1.wav"
    p = place.Placement(c, wav, 20, 38400, 48000, 1)
    tl = otio.schema.Timeline(name="t")
    tl.tracks.append(otio.schema.Track(name="V", kind="Video"))
    once = place.with_dub_tracks(tl, place.build_tracks([p], Fraction(25)))
    twice = place.with_dub_tracks(once, place.build_tracks([p], Fraction(25)))
    assert [t.name for t in twice.tracks] == ["V", "takefit"]
    # FCP7 XML drops names and metadata: recognised by its take files
    anon = otio.schema.Track(name="", kind="Audio")
    anon.append(place.take_clip(p, Fraction(25)))
    assert place.is_dub_track(anon)
    assert not place.is_dub_track(otio.schema.Track(name="A1", kind="Audio"))


# ------------------------------------------------------------------ takes folder, EDL, stem, atomic writes
def test_take_numbers_grow_only_when_content_changes(tmp_path):
    f = TakeFolder(tmp_path / "t", "My Cut: v2")
    f.create()
    p1, n1, exists = f.path_for("c001", "Alice B", "k1")
    assert p1.name == "My-Cut-v2_c001_Alice-B_t1.wav" and n1 == 1 and not exists
    p1.write_bytes(b"")
    f.record(p1, "c001", "k1", 1)
    f.save()
    g = TakeFolder(tmp_path / "t", "My Cut: v2")
    assert g.path_for("c001", "Alice B", "k1") == (p1, 1, True)
    assert g.path_for("c001", "Alice B", "k2")[1:] == (2, False)
    assert g.path_for("c002", "", "k1")[0].name == "My-Cut-v2_c002_default_t1.wav"


def test_audio_edl_reads_back_at_the_right_record_timecode(tmp_path):
    rate = NTSC
    ps = [place.Placement(Cue(f"c{i}", s, d, rate, "x"), tmp_path / f"cut_c{i}_a_t1.wav", d, 0, 48000, 1)
          for i, (s, d) in enumerate([(30, 60), (60, 40), (200, 10)])]
    text = audio_edl.write_to_string(ps, rate, 108000, "cut")
    assert " A2 " in text and "01:00:01:00 01:00:03:00" in text
    formats.ensure_plugins()
    tl = otio.adapters.read_from_string(text, adapter_name="cmx_3600", rate=float(rate))
    got = sorted((t.name, -rates.frames(t.source_range.start_time, rate) - 108000 + rates.frames(c.range_in_parent().start_time, rate),
                  rates.frames(c.duration(), rate)) for t in tl.tracks for c in t if isinstance(c, otio.schema.Clip))
    assert got == [("A1", 30, 60), ("A1", 200, 10), ("A2", 60, 40)]


def test_stem_mixes_exactly_at_sample_offsets(tmp_path):
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    sf.write(a, np.full(1000, 0.25, np.float32), 48000, subtype="PCM_24")
    sf.write(b, np.full(500, 0.5, np.float32), 48000, subtype="PCM_24")
    out = tmp_path / "stem.wav"
    info = write_stem(out, [StemItem(100, 1000, a), StemItem(900, 500, b)], 3000)
    x, sr = sf.read(out, dtype="float32")
    assert len(x) == 3000 and sr == 48000
    assert np.allclose(x[:100], 0) and np.allclose(x[100:900], 0.25, atol=1e-6)
    assert np.allclose(x[900:1100], 0.75, atol=1e-6) and np.allclose(x[1100:1400], 0.5, atol=1e-6)
    assert np.allclose(x[1400:], 0) and info["clipped"] == 0


def test_atomic_write_leaves_nothing_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "cut_dub.xml"

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OutputError, match="No space left"):
        formats.write_text(target, "<xmeml/>")
    assert list(tmp_path.iterdir()) == []
