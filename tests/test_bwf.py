"""Broadcast WAV (#21.7): bext + iXML in every take and stem, read back by our own parser and by wavinfo
(an independent reader from PyPI); exact time references at 23.976 / 25 / 29.97 DF; the audio untouched;
and the optional stem exports (per character, FLAC / MP3 / AAC, dual mono) of a real dub."""
from __future__ import annotations

import argparse
import json
import re
import struct
from datetime import datetime
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pyloudnorm
import pytest
import soundfile as sf
import wavinfo
from test_daemon_support import client, daemon  # noqa: F401 (fixtures: the session's daemon)

from takefit.bridges.commands.say import take_broadcast, timecode_position
from takefit.bridges.dub import pipeline as dub, render
from takefit.bridges.dub.broadcast import Stamp, drop_frame
from takefit.bridges.dub.pipeline import DubOptions
from takefit.bridges.dub.stem import StemItem, character_stem_paths, export_stem, write_stem
from takefit.engine import bwf
from takefit.engine.audio import write_wav
from takefit.engine.bwf import Broadcast, read_broadcast, since_midnight, time_reference
from takefit.engine.errors import InputError, OutputError
from takefit.engine.target import Target

FILM = Fraction(24000, 1001)
NTSC = Fraction(30000, 1001)
WHEN = datetime(2026, 3, 2, 14, 5, 9)
LINE = "我们用 takefit 给视频配音, exactly on time <&>."


def tone(seconds: float = 1.5, rate: int = 48000, level: float = 0.2) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * 220 * t) * np.sin(np.pi * t / t[-1])).astype(np.float32)


def riff_chunks(path: Path) -> list[tuple[bytes, int, bytes]]:
    """(id, size, payload) of every chunk, read by hand (no library): checks the layout itself."""
    data = path.read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8          # the RIFF size is exact
    out, at = [], 12
    while at < len(data):
        cid, size = struct.unpack("<4sI", data[at:at + 8])
        out.append((cid, size, data[at + 8:at + 8 + size]))
        at += 8 + size + (size & 1)                                    # word-aligned
    assert at == len(data)
    return out


def reader(path: Path) -> wavinfo.WavInfoReader:
    return wavinfo.WavInfoReader(str(path), bext_encoding="utf-8")


# ------------------------------------------------------------------ the chunks
def test_a_take_round_trips_through_wavinfo_and_our_reader(tmp_path):
    meta = Broadcast(description=LINE, position=since_midnight(86400 + 30, FILM), originator_reference="c001 t2",
                     origination=WHEN, project="Episode 1", scene="c001", take=2, tape="ep1", note=f"{LINE} [alice]",
                     timecode_rate=FILM, track_names=("alice",))
    path = write_wav(tmp_path / "take.wav", tone(), 48000, comment="synthetic speech", broadcast=meta)

    w = reader(path)
    assert w.bext.description == bwf.NOT_ASCII and w.bext.originator == "takefit" and w.bext.originator_ref == "c001 t2"
    assert w.ixml.raw_xml.findtext("NOTE") == f"{LINE} [alice]"          # the whole line, in UTF-8
    assert (w.bext.originator_date, w.bext.originator_time) == ("2026-03-02", "14:05:09")
    assert w.bext.time_reference == (86400 + 30) * 2002        # a 23.976 frame is 2002 samples at 48 kHz
    assert w.bext.version == 2 and w.bext.coding_history.startswith("A=PCM,F=48000,W=24,M=mono,T=takefit")
    measured = pyloudnorm.Meter(48000).integrated_loudness(sf.read(path, dtype="float64")[0])
    assert w.bext.loudness_value == pytest.approx(measured, abs=0.01)  # measured, not the "not set" 327.67
    assert (w.ixml.project, w.ixml.scene, w.ixml.take, w.ixml.tape) == ("Episode 1", "c001", "2", "ep1")
    assert [t.name for t in w.ixml.track_list] == ["alice"]
    xml = w.ixml.raw_xml
    assert xml.findtext("NOTE") == f"{LINE} [alice]"
    assert xml.findtext("SPEED/TIMECODE_RATE") == "24000/1001" and xml.findtext("SPEED/TIMECODE_FLAG") == "NDF"
    assert int(xml.findtext("SPEED/TIMESTAMP_SAMPLES_SINCE_MIDNIGHT_LO")) == w.bext.time_reference
    assert xml.findtext("BEXT/BWF_DESCRIPTION") == bwf.NOT_ASCII         # iXML mirrors bext

    back = read_broadcast(path)
    levels = {n: getattr(back, n) for n, _, _ in bwf.LOUDNESS_FIELDS}
    assert back == Broadcast(**{**meta.__dict__, **levels, "description": bwf.NOT_ASCII,
                                "coding_history": w.bext.coding_history.strip()})
    assert back.loudness == w.bext.loudness_value
    assert back.true_peak == w.bext.max_true_peak and back.max_momentary == w.bext.max_momentary_loudness
    assert xml.findtext("BEXT/BWF_MAX_TRUE_PEAK_LEVEL") == f"{back.true_peak:.2f}"
    assert back.loudness_range is None and w.bext.loudness_range == 327.67   # 1.5 s: no 3 s window, "not set"


def test_a_take_carries_the_five_r128_values_as_libebur128_measures_them(tmp_path):
    """Integrated, range, true peak, loudest 400 ms and 3 s: bext v2's five values, against libebur128."""
    import pyebur128 as ebur

    rate, t = 48000, np.arange(20 * 48000) / 48000
    # a quarter-rate tone whose samples fall 3 dB below its crests, 10.5 dB louder after 10 s (a 50 ms ramp)
    audio = (0.5 * np.sin(2 * np.pi * 12000 * t + np.pi / 4) * (0.3 + 0.7 * np.clip((t - 10) / 0.05, 0, 1)))
    audio = (audio * np.clip(np.minimum(t, t[-1] - t) / 0.05, 0, 1)).astype(np.float32)     # faded in and out
    path = write_wav(tmp_path / "take.wav", audio, rate, broadcast=Broadcast(description="levels"))
    mode = ebur.MeasurementMode
    meter = ebur.R128State(1, rate, mode.MODE_I | mode.MODE_LRA | mode.MODE_TRUE_PEAK | mode.MODE_M | mode.MODE_S)
    momentary, short = [], []
    samples = sf.read(path, dtype="float64")[0]
    for i in range(0, len(samples), rate // 10):                           # libebur128 reads its maxima per 100 ms
        meter.add_frames(samples[i:i + rate // 10], len(samples[i:i + rate // 10]))
        momentary.append(ebur.get_loudness_momentary(meter))
        short.append(ebur.get_loudness_shortterm(meter) if i + rate // 10 >= 3 * rate else -np.inf)
    w, back = reader(path), read_broadcast(path)
    assert back.true_peak == w.bext.max_true_peak == pytest.approx(20 * np.log10(ebur.get_true_peak(meter, 0)), abs=0.2)
    assert back.true_peak > 20 * np.log10(np.abs(samples).max()) + 2.5    # between the samples, above them
    assert back.max_momentary == pytest.approx(max(momentary), abs=0.1)
    assert back.max_short_term == pytest.approx(max(short), abs=0.1)
    assert back.loudness_range == pytest.approx(ebur.get_loudness_range(meter), abs=0.1)
    assert back.loudness_range == pytest.approx(10.46, abs=0.1)          # the two levels, 10.5 dB apart
    assert back.loudness == pytest.approx(ebur.get_loudness_global(meter), abs=0.1)


@pytest.mark.parametrize("timecode, rate, drop, expected", [
    ("01:00:00:00", FILM, False, 172_972_800),   # 86400 frames × 1001/24000 s: 3603.6 s after midnight
    ("01:00:00:00", Fraction(25), False, 172_800_000),
    ("01:00:00:00", NTSC, False, 172_972_800),   # 108000 frames, the NTSC clock 0.1 % slow
    ("01:00:00;00", NTSC, True, 172_799_827),    # 107892 frames × 1001/30000 × 48000 = …827.2: rounded once
    ("00:10:00;00", NTSC, True, 28_799_971),     # 17982 frames (18 labels dropped) = …971.2
    ("00:00:00:01", NTSC, False, 1602),          # 1601.6: half-up, not truncated
    ("10:00:00:01", FILM, False, 1_729_730_002),
])
def test_time_references_are_exact(tmp_path, timecode, rate, drop, expected):
    from takefit.bridges.resolve.frames import timecode_to_frame

    frame = timecode_to_frame(timecode, rate)
    assert time_reference(frame, rate, 48000) == expected
    exact = Fraction(frame) * rate.denominator * 48000 / rate.numerator
    assert abs(expected - exact) <= Fraction(1, 2)                      # one rounding, half-up, no float
    args = argparse.Namespace(timecode=f"{timecode}@{rate.numerator}/{rate.denominator}", fps=None, frames=None)
    path = write_wav(tmp_path / "t.wav", tone(0.2), 48000,
                     broadcast=take_broadcast(args, Target.natural(), "Line.", "af_heart"))
    assert reader(path).bext.time_reference == expected
    assert reader(path).ixml.raw_xml.findtext("SPEED/TIMECODE_FLAG") == ("DF" if drop else "NDF")


def test_chunks_go_before_the_audio_which_stays_bit_identical(tmp_path):
    audio = tone(1.0)[:-1]                                             # an odd number of 3-byte samples: padding
    plain = write_wav(tmp_path / "plain.wav", audio, 48000, comment="c", title="t")
    stamped = write_wav(tmp_path / "stamped.wav", audio, 48000, comment="c", title="t",
                        broadcast=Broadcast(description="Odd.", origination=WHEN))
    ids = [c[0] for c in riff_chunks(stamped)]
    assert ids == [b"fmt ", b"LIST", b"bext", b"iXML", b"data"]
    assert [c for c in riff_chunks(plain) if c[0] != b"data"] == [c for c in riff_chunks(stamped)
                                                                  if c[0] in (b"fmt ", b"LIST")]
    data = {p: next(c for c in riff_chunks(p) if c[0] == b"data") for p in (plain, stamped)}
    assert data[plain] == data[stamped] and data[plain][1] % 2 == 1
    bext = next(c for c in riff_chunks(stamped) if c[0] == b"bext")
    assert bext[1] == 602 + len(read_broadcast(stamped).coding_history) + 2       # + CR LF
    a, b = sf.read(plain, dtype="int32")[0], sf.read(stamped, dtype="int32")[0]
    assert np.array_equal(a, b) and sf.info(str(stamped)).frames == len(audio)


def test_the_description_is_ascii_as_ebu_defines_it(tmp_path):
    long_line = "Ça déjà vu, " * 30                                 # 360 characters, accents folded
    path = write_wav(tmp_path / "t.wav", tone(0.3), 48000, broadcast=Broadcast(description=long_line))
    raw = next(c for c in riff_chunks(path) if c[0] == b"bext")[2][:256]
    assert raw == ("Ca deja vu, " * 30).encode("ascii")[:256]
    assert wavinfo.WavInfoReader(str(path)).bext.description == ("Ca deja vu, " * 30)[:256]   # wavinfo's default
    chinese = write_wav(tmp_path / "zh.wav", tone(0.3), 48000, broadcast=Broadcast(description="配音", note="配音"))
    assert wavinfo.WavInfoReader(str(chinese)).bext.description == bwf.NOT_ASCII
    assert reader(chinese).ixml.raw_xml.findtext("NOTE") == "配音"
    controls = write_wav(tmp_path / "c.wav", tone(0.3), 48000, broadcast=Broadcast(note="a\x00b\x07c\ud800"))
    assert reader(controls).ixml.raw_xml.findtext("NOTE") == "abc?"   # still well-formed XML


def test_restamp_changes_only_the_chunks_and_keeps_the_origination(tmp_path):
    path = write_wav(tmp_path / "t.wav", tone(), 48000,
                     broadcast=Broadcast(description="Hi.", origination=WHEN, position=Fraction(3600)))
    before = path.read_bytes()
    assert not bwf.restamp(path, Broadcast(description="Hi.", position=Fraction(3600)))   # nothing changed
    assert path.read_bytes() == before
    assert bwf.restamp(path, Broadcast(description="Hi.", position=Fraction(3601)))
    back = read_broadcast(path)
    assert back.time_reference(48000) == 3601 * 48000 and back.origination == WHEN
    assert back.loudness is not None                                   # the measured value is kept
    assert np.array_equal(sf.read(path, dtype="int32")[0], sf.read(tmp_path / "t.wav", dtype="int32")[0])
    assert not list(tmp_path.glob(".*partial"))


@pytest.mark.parametrize("fields, words", [
    ({"position": Fraction(-1)}, "before midnight"),
    ({"timecode_rate": Fraction(25), "drop_frame": True}, "drop-frame timecode exists only at 29.97 and 59.94"),
    ({"take": -1}, "take number"),
    ({"loudness": float("nan")}, "cannot be stored"),
])
def test_broadcast_refuses_what_bext_cannot_say(fields, words):
    with pytest.raises(InputError, match=words):
        Broadcast(**fields)


def test_not_a_wav_is_refused_clearly(tmp_path):
    bad = tmp_path / "x.wav"
    bad.write_bytes(b"RIFX" + b"\0" * 40)
    with pytest.raises(InputError, match="not a RIFF WAVE file"):
        bwf.copy_with_chunks(bad, tmp_path / "y.wav", Broadcast())


def test_say_timecode_needs_a_rate_and_reads_drop_frame():
    ns = argparse.Namespace(fps=None, frames=None)
    with pytest.raises(InputError, match="needs its frame rate"):
        timecode_position(argparse.Namespace(**vars(ns), timecode="01:00:00:00"), Target.natural())
    position, rate, drop = timecode_position(argparse.Namespace(**vars(ns), timecode="01:00:00:00"),
                                             Target.frames(48, "23.976"))      # the --frames rate
    assert (position, rate, drop) == (Fraction(18018, 5), FILM, False)
    assert timecode_position(argparse.Namespace(**vars(ns), timecode=None), Target.natural()) == (0, None, False)


# ------------------------------------------------------------------ stems: size, stereo, exports
def stem_sources(tmp_path: Path) -> list[StemItem]:
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    sf.write(a, tone(1.0), 48000, subtype="PCM_24")
    sf.write(b, tone(0.5, level=0.3), 48000, subtype="PCM_24")
    return [StemItem(4800, 48000, a), StemItem(60000, 24000, b)]


def test_a_stem_a_wav_cannot_hold_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(OutputError, match="over the 4 GiB a WAV can hold"):
        write_stem(tmp_path / "stem.wav", [], 9 * 3600 * 48000)       # 9 h mono: 4.6 GiB
    with pytest.raises(OutputError, match="drop --stereo"):
        write_stem(tmp_path / "stem.wav", [], 5 * 3600 * 48000, channels=2)
    assert list(tmp_path.iterdir()) == []


def test_a_stem_that_cannot_be_written_names_itself_and_leaves_nothing(tmp_path):
    items = stem_sources(tmp_path)
    with pytest.raises(OutputError, match=r"cannot write the stem .*gone.*stem\.wav: No such file"):
        write_stem(tmp_path / "gone" / "stem.wav", items, 96000)       # its folder does not exist
    source = items[0].path.read_bytes()
    items[0].path.write_bytes(source[:-3000])                           # a take cut short after filing
    with pytest.raises(InputError, match=r"the take .*a\.wav ends 1000 samples before its slot .*run the dub again"):
        write_stem(tmp_path / "stem.wav", items, 96000)
    items[0].path.write_bytes(source[:30])                              # … to mid-header
    with pytest.raises(InputError, match=r"cannot read the take .*a\.wav"):
        write_stem(tmp_path / "stem.wav", items, 96000)
    sf.write(items[0].path, np.zeros((48000, 2)), 44100)                # … replaced by a stereo file
    with pytest.raises(InputError, match=r"2 channel\(s\) at 44100 Hz, not mono at 48000 Hz"):
        write_stem(tmp_path / "stem.wav", items, 96000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "b.wav"]


def test_a_dub_whose_stem_would_not_fit_fails_before_rendering(tmp_path):
    src = tmp_path / "long.srt"
    src.write_text("1\n00:00:01,000 --> 00:00:02,000\nHi.\n\n2\n09:00:00,000 --> 09:00:01,000\nLate.\n", "utf-8")
    with pytest.raises(OutputError, match="over the 4 GiB a WAV can hold"):
        dub.run(DubOptions(src, rate="25"), renderer=object())          # never asked to render
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.srt"]


def test_a_stereo_stem_is_two_identical_channels_at_the_mono_level(tmp_path):
    items = stem_sources(tmp_path)
    write_stem(tmp_path / "mono.wav", items, 96000)
    write_stem(tmp_path / "stereo.wav", items, 96000, broadcast=Stamp("ep", "ep", 86400, FILM).stem(None, 2),
               channels=2)
    mono, stereo = sf.read(tmp_path / "mono.wav", dtype="int32")[0], sf.read(tmp_path / "stereo.wav", dtype="int32")[0]
    assert stereo.shape == (96000, 2) and np.array_equal(stereo[:, 0], stereo[:, 1])
    assert np.array_equal(stereo[:, 0], mono)
    w = reader(tmp_path / "stereo.wav")
    assert w.bext.time_reference == 172_972_800 and "M=dual-mono" in w.bext.coding_history
    assert [t.name for t in w.ixml.track_list] == ["dub stem", "dub stem"]


def test_flac_is_lossless_and_mp3_decodes_to_the_stems_length(tmp_path):
    items = stem_sources(tmp_path)
    wav = tmp_path / "cut_dub_stem.wav"
    write_stem(wav, items, 96017)
    flac, mp3 = export_stem(wav, "flac"), export_stem(wav, "mp3")
    assert (flac.name, mp3.name) == ("cut_dub_stem.flac", "cut_dub_stem.mp3")
    ref = sf.read(wav, dtype="float32")[0]
    assert np.array_equal(sf.read(flac, dtype="int32")[0], sf.read(wav, dtype="int32")[0])
    decoded = sf.read(mp3, dtype="float32")[0]
    # LAME adds its 1105-sample delay and pads the last 1152-sample frame; libsndfile writes the gapless
    # header and decodes through it: measured 0 samples off, allowed one MP3 frame
    assert abs(len(decoded) - len(ref)) <= 1152
    n = min(len(decoded), len(ref))
    lag = int(np.argmax(np.correlate(decoded[50000:70000], ref[50000:70000], "full"))) - 19999
    assert abs(lag) <= 1152 and np.corrcoef(decoded[:n], ref[:n])[0, 1] > 0.99
    assert mp3.stat().st_size * 8 / (96017 / 48000) < 140_000            # ≈ 128 kbit/s
    assert not list(tmp_path.glob(".*partial"))


def test_aac_export_keeps_the_length_within_the_codecs_priming(tmp_path):
    av = pytest.importorskip("av")
    wav = tmp_path / "cut_dub_stem.wav"
    write_stem(wav, stem_sources(tmp_path), 96017)
    m4a = export_stem(wav, "aac")
    with av.open(str(m4a)) as box:
        decoded = sum(frame.samples for frame in box.decode(box.streams.audio[0]))
    # FFmpeg's AAC encoder primes 1024 samples (in the MP4 edit list; PyAV's decoder returns them) and
    # pads the last 1024-sample frame
    assert 0 <= decoded - 1024 - 96017 < 1024


def test_character_stems_are_named_beside_the_mix(tmp_path):
    stem = tmp_path / "cut_dub_stem.wav"
    paths = character_stem_paths(stem, ["alice", "", "a b", "a-b", "alice"])
    assert {c: p.name for c, p in paths.items()} == {
        "": "cut_dub_stem_default.wav", "a b": "cut_dub_stem_a-b.wav", "a-b": "cut_dub_stem_a-b_2.wav",
        "alice": "cut_dub_stem_alice.wav"}


def test_drop_frame_is_read_from_the_timeline_where_its_format_says():
    tl = otio.schema.Timeline(name="x")
    tl.metadata["fcp_xml"] = {"timecode": {"displayformat": "DF"}}
    assert drop_frame(tl, NTSC) and not drop_frame(tl, Fraction(25))
    tl.metadata["fcp_xml"] = {"timecode": {"displayformat": "NDF"}}
    assert not drop_frame(tl, NTSC)


# ------------------------------------------------------------------ a real dub
@pytest.fixture(scope="module")
def renderer(engine, tmp_path_factory):
    from takefit.engine.cache import TakeCache

    return render.InProcessRenderer(engine=engine, cache=TakeCache(tmp_path_factory.mktemp("take-cache")))


CUES = [("alice", "Hello there.", 24, 48), ("bob", "Good morning.", 96, 48), ("alice", "See you.", 170, 40)]


def film_timeline(folder: Path, moved: int = 0) -> Path:
    """A 23.976 timeline starting at 01:00:00:00 with three tagged markers (the second `moved` frames later)."""
    r = float(FILM)
    tl = otio.schema.Timeline(name="Episode 1", global_start_time=otio.opentime.RationalTime(86400, r))
    for i, (who, text, start, frames) in enumerate(CUES):
        tl.tracks.markers.append(otio.schema.Marker(
            name=f"line {i + 1}", comment=f"[{who}] {text}", marked_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(start + (moved if i == 1 else 0), r), otio.opentime.RationalTime(frames, r))))
    v = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    v.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(0, r),
                                                                  otio.opentime.RationalTime(240, r))))
    tl.tracks.append(v)
    path = folder / "ep.otio"
    otio.adapters.write_to_file(tl, str(path))
    return path


@pytest.mark.slow
def test_a_dub_stamps_every_take_at_its_cue_and_the_stem_at_the_start(tmp_path, renderer, monkeypatch, capsys):
    src = film_timeline(tmp_path)
    report = dub.run(DubOptions(src), renderer)
    takes = [r for r in report.results if r.take]
    assert len(takes) == 3
    for r in takes:
        w = reader(r.take)
        assert w.bext.time_reference == (86400 + r.cue.start) * 2002       # the cue's timecode, to the sample
        assert w.bext.description == r.cue.text and w.bext.originator_ref == f"{r.cue.id} t1"
        assert (w.ixml.project, w.ixml.scene, w.ixml.take, w.ixml.tape) == ("Episode 1", r.cue.id, "1", "ep")
        assert r.cue.character in w.ixml.raw_xml.findtext("NOTE") and r.voice in w.ixml.raw_xml.findtext("NOTE")
        assert w.ixml.raw_xml.findtext("SPEED/TIMECODE_RATE") == "24000/1001"
        assert -24.5 < w.bext.loudness_value < -21.5                      # the -23 LUFS take, measured
        assert sf.info(str(r.take)).frames == r.samples
    stem = reader(tmp_path / "ep_dub_stem.wav")
    assert stem.bext.time_reference == 86400 * 2002 == 172_972_800
    assert stem.ixml.raw_xml.findtext("SPEED/TIMECODE_RATE") == "24000/1001"
    # the mix metered as it was written: its R128 values in bext and in the report, as libebur128 reads them
    import pyebur128 as ebur

    audio = sf.read(tmp_path / "ep_dub_stem.wav", dtype="float64")[0]
    mode = ebur.MeasurementMode
    meter = ebur.R128State(1, 48000, mode.MODE_I | mode.MODE_TRUE_PEAK)
    meter.add_frames(audio, len(audio))
    assert stem.bext.loudness_value == report.stem["loudness"] == pytest.approx(ebur.get_loudness_global(meter), abs=0.1)
    assert stem.bext.max_true_peak == report.stem["true_peak"]
    assert report.stem["true_peak"] == pytest.approx(20 * np.log10(ebur.get_true_peak(meter, 0)), abs=0.1)
    assert report.stem["true_peak"] <= -1.0 and report.stem["max_short_term"] is not None
    assert re.fullmatch(r"stem: -\d+\.\d LUFS integrated, range \d+\.\d LU, true peak -\d\.\d dBTP — "
                        r"(meets|misses) EBU R128 broadcast.*", report.stem_line())
    verdict = report.stem["delivery"]                # judged against the default levels' spec, as QC would
    assert verdict["spec"] == "ebu-r128" and verdict["meets"] == (abs(report.stem["loudness"] + 23) <= 0.55)

    # the same timeline with bob's line 12 frames later: his take is kept (cached, same number), restamped
    monkeypatch.setattr(render, "make_renderer", lambda **kw: renderer)
    from takefit.bridges import cli

    film_timeline(tmp_path, moved=12)
    assert cli.main(["dub", str(src), "--json", "--stems", "per-character", "--stem-format", "mp3", "--stereo"]) == 0
    doc = json.loads(capsys.readouterr().out)
    bob = next(c for c in doc["cues"] if c["character"] == "bob")
    assert bob["take_number"] == 1 and bob["timing"]["cached"]
    assert reader(Path(bob["take"])).bext.time_reference == (86400 + 96 + 12) * 2002

    stems = {c: Path(p) for c, p in doc["outputs"]["stems"].items()}
    assert {c: p.name for c, p in stems.items()} == {"alice": "ep_dub_stem_alice.wav", "bob": "ep_dub_stem_bob.wav"}
    mix = sf.read(tmp_path / "ep_dub_stem.wav", dtype="int32")[0]
    parts = [sf.read(p, dtype="int32")[0] for p in stems.values()]
    assert mix.shape[1] == 2 and np.array_equal(mix[:, 0], mix[:, 1])
    assert all(p.shape == mix.shape and np.array_equal(p[:, 0], p[:, 1]) for p in parts)
    assert np.abs(sum(p.astype(np.int64) for p in parts) - mix).max() <= 1 << 8    # 24-bit rounding, one per stem
    for c, p in stems.items():
        w = reader(p)
        assert w.bext.time_reference == 172_972_800 and [t.name for t in w.ixml.track_list] == [c, c]
    exports = [Path(p) for p in doc["outputs"]["stem_exports"]]
    assert sorted(p.name for p in exports) == ["ep_dub_stem.mp3", "ep_dub_stem_alice.mp3", "ep_dub_stem_bob.mp3"]
    for p in exports:
        assert abs(sf.info(str(p)).frames - len(mix)) <= 1152
    assert doc["summary"]["stem"]["characters"].keys() == {"alice", "bob"}


@pytest.mark.slow
def test_daemon_outputs_carry_the_line_and_say_places_a_take(client, daemon, tmp_path, monkeypatch):
    from takefit.bridges.cli import main

    text = "Broadcast from the daemon."
    first = client.render(text, target="1.3s", frame_rate="25", output=f"bwf/{tmp_path.name}.wav")
    meta = read_broadcast(first.wav)
    assert meta.description == text and meta.position == 0 and meta.timecode_rate == 25
    assert meta.loudness == pytest.approx(-23, abs=1.5) and meta.origination is not None
    assert meta.true_peak <= -1.0 and meta.max_momentary > meta.loudness and meta.loudness_range is None  # 1.3 s
    again = client.render(text, target="1.3s", frame_rate="25", inline=True)
    assert again.cached and again.wav == Path(first.wav).read_bytes()       # a cache hit: the same bytes
    # the values travel with the take too: a dub through the daemon copies them into its bext, unmeasured
    assert first.levels == again.levels == {name: getattr(meta, name) for name, _, _ in bwf.LOUDNESS_FIELDS}
    monkeypatch.setenv("TAKEFIT_DAEMON_HOME", str(daemon.home))
    wav = tmp_path / "placed.wav"
    assert main(["say", text, "--fit", "1.3s", "--daemon", "-o", str(wav), "--timecode", "01:00:10:00@25"]) == 0
    w = reader(wav)
    assert w.bext.time_reference == 3610 * 48000 and w.bext.description == text
    assert w.ixml.raw_xml.findtext("SPEED/TIMECODE_RATE") == "25/1"


def test_a_takes_levels_travel_with_it_and_damaged_ones_are_measured_again(tmp_path):
    """Measured where the take is made (an engine session, a Ray actor), carried in its wire form and
    cache entry, copied into the bext where it is filed; anything but five numbers is dropped."""
    from takefit.engine.cache import TakeCache
    from takefit.engine.loudness import measure
    from takefit.engine.take import Take

    audio = (0.3 * np.sin(np.arange(96000) * 2 * np.pi * 440 / 48000)).astype(np.float32)
    take = Take(audio, 48000, 2.0, 1.0, "model", "af_heart", [], []).measured()
    assert take.levels == bwf.level_fields(measure(audio, 48000)) and take.levels["loudness"] is not None
    assert Take.from_wire(take.to_wire(), audio=audio).levels == take.levels
    cache = TakeCache(tmp_path / "cache")
    cache.put("ab" * 32, take)
    assert cache.get("ab" * 32).levels == take.levels                  # a cache hit is not measured again
    for bad in ({"loudness": "x"}, {**take.levels, "loudness": float("nan")}, [1, 2], {**take.levels, "more": 1},
                {**take.levels, "true_peak": True}):
        assert Take.from_wire({**take.to_wire(), "levels": bad}, audio=audio).levels is None
