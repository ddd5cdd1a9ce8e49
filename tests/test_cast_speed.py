"""The cast's speed policy (speed = "exact" | "natural", max_ratio) and writing cast files back.

The dub test runs the real engine on one short line; the slots are chosen from its measured natural
length, so each of the three natural-policy branches is really taken.
"""
from __future__ import annotations

import math
import tomllib
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from takefit.engine.errors import InputError
from takefit.engine.request import RenderRequest
from takefit.otio_adapters import cast as castfile
from takefit.bridges.dub import pipeline as dub, render
from takefit.bridges.dub.pipeline import DubOptions

LINE = "Hello there."


# ------------------------------------------------------------------ parsing
def test_speed_policy_is_read_and_inherited():
    cast = castfile.parse({"defaults": {"speed": "natural", "max_ratio": 1.3},
                           "characters": {"alice": {"voice": "af_heart"}, "bob": {"speed": "EXACT"}}})
    assert (cast.defaults.speed, cast.defaults.max_ratio) == ("natural", 1.3)
    assert cast.character("bob").speed == "exact"
    from takefit.otio_adapters.cue import Cue

    cue = Cue("c001", 0, 50, Fraction(25), "[alice] Hi.")
    assert (cast.resolve(cue).speed, cast.resolve(cue).max_ratio) == ("natural", 1.3)
    bob = cast.resolve(Cue("c002", 0, 50, Fraction(25), "[bob] Hi."))
    assert (bob.speed, bob.max_ratio) == ("exact", 1.3)
    plain = castfile.parse({}).resolve(cue)
    assert (plain.speed, plain.max_ratio) == ("exact", castfile.DEFAULT_MAX_RATIO)


@pytest.mark.parametrize("entry, message", [
    ({"speed": "fast"}, "speed = 'fast': accepted \"exact\""),
    ({"speed": 1.2}, "speed = 1.2: accepted"),
    ({"max_ratio": 0.5}, "max_ratio = 0.5: give a number from 1 to 3"),
    ({"max_ratio": "1.2"}, "max_ratio = '1.2'"),
    ({"max_ratio": True}, "max_ratio = True"),
])
def test_bad_speed_policy_is_a_clear_error(entry, message):
    with pytest.raises(InputError) as e:
        castfile.parse({"characters": {"alice": entry}})
    assert message in str(e.value) and "[characters.alice]" in str(e.value)


# ------------------------------------------------------------------ writing
def test_save_round_trips_and_checks_first(tmp_path):
    doc = {"defaults": {"character": "narrator", "voice": "auto", "emotion": "calm 0.5"},
           "characters": {"alice": {"voice": "af_heart", "emotion": "happy 0.3", "speed": "natural",
                                    "max_ratio": 1.25},
                          "Bob Smith": {"voice": "zm_yunxi", "language": "zh"}},
           "colors": {"red": "alice", "sky": "Bob Smith"},
           "pronunciations": {"行": "xíng", "takefit": "/tˈAkfɪt/", 'say "hi"': "/hˈI/"}}
    path = castfile.save(doc, tmp_path / castfile.CAST_FILE)
    assert tomllib.loads(path.read_text("utf-8")) == doc
    assert castfile.load_doc(path) == doc
    again = castfile.load(path)
    assert again.character("bob smith").language == "zh" and again.character("alice").max_ratio == 1.25
    before = path.read_bytes()
    with pytest.raises(InputError, match="speed"):
        castfile.save({"characters": {"alice": {"speed": "slow"}}}, path)
    assert path.read_bytes() == before                         # a bad cast never replaces a good file
    assert [p.name for p in tmp_path.iterdir()] == [castfile.CAST_FILE]   # and leaves no temp file


# ------------------------------------------------------------------ dubbing with speed = "natural"
@pytest.fixture(scope="module")
def renderer(engine, tmp_path_factory):
    from takefit.engine.cache import TakeCache

    return render.InProcessRenderer(engine=engine, cache=TakeCache(tmp_path_factory.mktemp("speed-cache")))


def _srt(path: Path, slots_ms: list[int]) -> Path:
    def tc(ms: int) -> str:
        return f"00:00:{ms // 1000:02d},{ms % 1000:03d}"

    blocks, t = [], 1000
    for i, length in enumerate(slots_ms, 1):
        blocks.append(f"{i}\n{tc(t)} --> {tc(t + length)}\n{LINE}\n")
        t += length + 1000
    path.write_text("\n".join(blocks), "utf-8")
    return path


@pytest.mark.slow
def test_natural_speed_keeps_the_pace_overruns_a_little_and_fits_beyond_max_ratio(renderer, tmp_path):
    natural = renderer.render(RenderRequest(LINE, voice="af_heart")).samples / 48000
    # 25 fps: slots of whole frames (40 ms). Long: silence after; 1.1× over: kept; 1.6× over: fitted.
    long_ms = 40 * math.ceil(natural * 1.5 * 25)
    over_ms = 40 * math.ceil(natural / 1.1 * 25)
    far_ms = 40 * math.ceil(natural / 1.6 * 25)
    timeline = _srt(tmp_path / "lines.srt", [long_ms, over_ms, far_ms])
    castfile.save({"defaults": {"voice": "af_heart", "speed": "natural", "max_ratio": 1.3}},
                  tmp_path / castfile.CAST_FILE)
    report = dub.run(DubOptions(timeline, output=tmp_path / "out.otio", rate="25"), renderer)
    long_, over, far = report.results
    assert all(r.status in ("rendered", "cached") for r in (long_, over)), report.results
    assert far.status in ("rendered", "cached", "flagged"), far     # fitted at ≈0.63×: outside 0.7–1.4× (#21.6)

    # the long slot: exactly the slot, the line at its natural length, then digital silence
    audio, sr = sf.read(long_.take, dtype="float32")
    assert len(audio) == long_.samples == round(long_ms * 48)
    nat = round(natural * sr)
    assert np.abs(audio[nat:]).max() == 0.0 and np.abs(audio[:nat]).max() > 0.05
    assert long_.ratio == pytest.approx(1.0) and long_.frames == long_ms // 40
    assert any("own pace" in w and "silence" in w for w in long_.warnings)

    # a little over its slot (1.1×, under max_ratio 1.3): natural pace, overrunning by whole frames
    frames = math.ceil(natural * 25)
    assert over.frames == frames > over_ms // 40 and over.samples == frames * 1920
    assert len(sf.read(over.take)[0]) == over.samples
    assert over.ratio == pytest.approx(1.0)
    assert any("overrunning its slot" in w for w in over.warnings)

    # far over (1.6×): fitted to its slot exactly, as with speed = "exact"
    assert far.frames == far_ms // 40 and far.samples == far_ms * 48
    assert far.ratio < 0.7
    assert any("over max_ratio 1.3: fitted to the slot" in w for w in far.warnings)

    # the overrunning take does not collide with the next cue: placement puts it on its own lane if needed
    assert report.tracks and Path(report.outputs["stem"]).is_file()


def test_exact_speed_is_unchanged(renderer, tmp_path):
    natural = renderer.render(RenderRequest(LINE, voice="af_heart")).samples / 48000
    long_ms = 40 * math.ceil(natural * 1.3 * 25)
    timeline = _srt(tmp_path / "lines.srt", [long_ms])
    castfile.save({"defaults": {"voice": "af_heart"}}, tmp_path / castfile.CAST_FILE)
    (r,) = dub.run(DubOptions(timeline, output=tmp_path / "out.otio", rate="25"), renderer).results
    # the ratio is on speech: the slot and the natural take each less the tail handle (0.04 s)
    assert r.frames == long_ms // 40 and r.ratio == pytest.approx((long_ms / 1000 - 0.04) / (natural - 0.04), rel=0.01)
    assert not any("speed natural" in w for w in r.warnings)
