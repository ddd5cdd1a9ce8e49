"""Hostile and careless inputs (issue #20): each fails alone, clearly, and nothing freezes, dies or fills the disk."""
from __future__ import annotations

import os
import threading
import time

import pytest

from test_daemon_support import client, daemon, fresh  # noqa: F401 (fixtures)

from takefit.engine import InputError
from takefit.engine.emotion import Emotion
from takefit.engine.emotion.reference import load_clip
from takefit.engine.emotion.spec import MAX_REFERENCE_BYTES


def pings_while(client, action, seconds: float = 10.0) -> tuple[object, float]:
    """Run `action` in a thread while pinging the daemon; (its result or exception, the slowest ping, s)."""
    result: list = []

    def run():
        try:
            result.append(action())
        except BaseException as e:            # noqa: BLE001  (the test inspects what came back)
            result.append(e)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    slowest = 0.0
    deadline = time.monotonic() + seconds
    while t.is_alive() and time.monotonic() < deadline:
        t0 = time.monotonic()
        client.ping()
        slowest = max(slowest, time.monotonic() - t0)
        time.sleep(0.05)
    t.join(timeout=60)
    assert result, "the request never came back"
    return result[0], slowest


@pytest.fixture()
def fifo(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this system")
    path = tmp_path / "clip.wav"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("which", ["dev_zero", "fifo", "folder", "huge"])
def test_a_reference_clip_that_is_no_file_is_refused_and_the_daemon_keeps_answering(daemon, tmp_path, request, which):
    """#20.1: /dev/zero or a FIFO as the emotion reference froze the daemon's loop (it hashed the clip there)."""
    if which == "dev_zero":
        path = "/dev/zero"
    elif which == "fifo":
        path = str(request.getfixturevalue("fifo"))
    elif which == "folder":
        path = str(tmp_path)
    else:
        path = str(tmp_path / "huge.wav")
        with open(path, "wb") as f:                    # sparse: no disk used
            f.truncate(MAX_REFERENCE_BYTES + 1)
    pinger, renderer = daemon.client(), daemon.client()
    try:
        target = fresh(1.0)[0]
        got, slowest = pings_while(pinger, lambda: renderer.render("Hi.", target=target, emotion={"reference": path}))
    finally:
        pinger.close()
        renderer.close()
    assert isinstance(got, InputError), got
    assert ("not a regular file" in str(got)) if which != "huge" else ("give a clip under" in str(got))
    assert slowest < 5.0


@pytest.mark.parametrize("which", ["fifo", "dev_zero"])
def test_the_engine_never_opens_a_reference_that_is_no_file(request, which):
    path = request.getfixturevalue("fifo") if which == "fifo" else "/dev/zero"
    t0 = time.monotonic()
    with pytest.raises(InputError, match="not a regular file"):
        load_clip(path)
    with pytest.raises(InputError, match="not a regular file"):
        Emotion(reference=str(path)).cache_doc()
    assert time.monotonic() - t0 < 5


def test_a_long_reference_clip_is_read_only_as_far_as_it_is_used(tmp_path):
    """Only the first minute is read: a 3-minute clip costs no more memory than a 1-minute one."""
    import numpy as np
    import soundfile as sf

    from takefit.engine.emotion.reference import MAX_SECONDS, RATE

    path = tmp_path / "long.wav"
    sf.write(path, np.zeros(16000 * 180, np.float32) + 0.01, 16000)
    assert load_clip(path).size == int(MAX_SECONDS * RATE)


def test_a_port_in_use_ends_the_daemon_at_once_with_the_fix_and_frees_its_lock(tmp_path):
    """#20.2: a taken port made teardown wait forever (context term() on the unbound socket), holding the lock."""
    import socket
    import subprocess
    import sys

    from takefit.daemon import control
    from takefit.daemon.paths import Dirs

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    home = tmp_path / "home"
    cmd = [sys.executable, "-m", "takefit.daemon", "--home", str(home), "--bind", f"tcp://127.0.0.1:{port}"]
    try:
        t0 = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        took = time.monotonic() - t0
    finally:
        holder.close()
    assert proc.returncode == 2, proc.stderr
    assert f"port {port} is in use" in proc.stderr and "--bind none" in proc.stderr
    assert took < 60                       # the process start and imports; it used to never end
    dirs = Dirs.resolve(home)
    assert not control.lock_held(dirs) and control.read_info(dirs) is None


@pytest.fixture(scope="module")
def renderer(engine, tmp_path_factory):
    from takefit.engine.cache import TakeCache
    from takefit.bridges.dub.render import InProcessRenderer

    return InProcessRenderer(engine=engine, cache=TakeCache(tmp_path_factory.mktemp("take-cache")))


def test_a_cue_far_out_or_an_hour_long_fails_alone_and_the_stem_stays_small(tmp_path, renderer):
    """#20.4: a cue at 99:59:59 started a 52 GB stem; a one-hour slot took 1.4 GB of memory."""
    import json

    import soundfile as sf

    from takefit.otio_adapters import limits
    from takefit.bridges.dub import pipeline as dub
    from takefit.bridges.dub.pipeline import DubOptions

    src = tmp_path / "ep.srt"
    src.write_text("1\n00:00:01,000 --> 00:00:02,000\nHi.\n\n"
                   "2\n00:00:03,000 --> 01:00:03,000\nAn hour for this?\n\n"
                   "3\n99:59:59,000 --> 99:59:59,900\nToo far.\n", "utf-8")
    stale = tmp_path / ".ep_dub_stem.k1ll3d.wav.partial"           # what a killed run left
    stale.write_bytes(b"\0" * 4096)
    report = dub.run(DubOptions(src, rate="25"), renderer)
    fine, hour, far = report.results
    assert fine.status in ("rendered", "flagged")       # "Hi." in a 1 s slot reads slow: flagged (#21.6)
    assert hour.status == "failed" and f"at most {limits.MAX_SLOT_SECONDS} s" in hour.error
    assert far.status == "failed" and "99:59:59" in far.error and "fix the cue's time" in far.error
    stem = tmp_path / "ep_dub_stem.wav"
    assert sf.info(str(stem)).duration <= limits.MAX_EXTENT_SECONDS and stem.stat().st_size < 5e9
    assert not stale.exists() and not list(tmp_path.glob(".*partial"))
    doc = json.loads((tmp_path / "ep_dub_report.json").read_text("utf-8"))
    assert [c["status"] for c in doc["cues"]] == [fine.status, "failed", "failed"]


def test_a_take_longer_than_ten_minutes_is_refused_by_the_engine(engine):
    from takefit.engine import RenderRequest, Target

    with pytest.raises(InputError, match="at most 600 s"):
        engine.render(RenderRequest("Hi.", target=Target.parse("3600s")))


@pytest.mark.parametrize("name", ["../plant/evil", "PLANT_ABS", "😀" * 64, "x" * 300, "x" * 5000])
def test_a_voice_name_is_a_name_never_a_path(client, tmp_path, name):
    """#20.5: `voice: "../plant/evil"` and absolute paths loaded `<path>.voice.npz`; 64 emoji answered `internal`."""
    import numpy as np

    from takefit.daemon.control import DaemonError
    from takefit.engine import UnknownVoiceError
    from takefit.engine.profiles import voices_dir

    plant = voices_dir().parent / "plant"
    plant.mkdir(exist_ok=True)
    np.savez(plant / "evil.voice.npz", table=np.zeros((510, 256), np.float32), meta="{}")
    name = str(plant / "evil") if name == "PLANT_ABS" else name
    if len(name) > 4096:              # the protocol's own bound on the field (a clip voice is a path), before any lookup
        with pytest.raises(DaemonError, match=r"request\.voice: 5000 characters, at most 4096"):
            client.render("Hi.", voice=name, target=fresh(1.0)[0])
        return
    with pytest.raises(UnknownVoiceError) as e:
        client.render("Hi.", voice=name, target=fresh(1.0)[0])
    assert "unknown voice" in str(e.value) and len(str(e.value)) < 400


def test_unspeakable_runs_are_cut_short_before_the_g2p_sees_them():
    """#20.9: 1,000 brackets cost 12 s of CPU for 1 s of audio (the G2P's cost grows with the square of a
    symbol run), 2,000 combining marks 24 s: the frontend's input is bounded by what can be spoken."""
    from takefit.engine.frontend import MAX_SYMBOL_RUN, clean

    assert clean("[" * 1000 + "]" * 1000) == "[" * MAX_SYMBOL_RUN
    assert clean("Wait!!!!!!!!!!!! " + "a" + "\u0301" * 1990) == "Wait" + "!" * MAX_SYMBOL_RUN + " a" + "\u0301" * 8
    assert clean("Well... — what?!") == "Well... — what?!"               # ordinary punctuation untouched


def test_a_300_digit_number_is_read_digit_by_digit_not_as_300_words_or_a_crash(engine):
    """#20.7/#20.9: '9' * 307 overflowed the number speller (an `internal` answer); '9' * 306 read for
    340 s. Past 15 digits a number is a serial: digits, one by one."""
    from takefit.engine import RenderRequest
    from takefit.engine.frontend import clean

    assert clean("Call 0123456789012345 now, or 12345.") == "Call " + " ".join("0123456789012345") + " now, or 12345."
    # grouped with commas, the G2P joined "1,1,1,…" (bench/hostile.py, texts/ones_commas) into one number
    assert clean("1," * 20) == "1, " * 19 + "1," and clean("It costs 1,234,567.") == "It costs 1,234,567."
    assert engine.plan("1," * 40).reading.phonemes.count("wˈʌn") == 40        # was OverflowError → internal
    plan = engine.plan("9" * 307)
    assert 300 <= plan.reading.phonemes.count("n") <= 320 * 2           # "nine" per digit, no number names


@pytest.mark.parametrize("damage", ["timebase0", "in_nan", "edl_huge_duration", "deep_cast"])
def test_damaged_inputs_get_a_clear_error_not_a_traceback(tmp_path, damage, capsys, monkeypatch, renderer):
    """#20.7: `<timebase>0`, `<in>nan</in>`, an EDL marker `|D:99999999999` and a cast file nested 5,000
    deep answered with a traceback (or a TiB allocation); each now says what is wrong, nothing is written."""
    from pathlib import Path

    from takefit.bridges import cli
    from takefit.bridges.dub import render

    monkeypatch.setattr(render, "make_renderer", lambda **kw: renderer)
    fixtures = Path(__file__).parent / "fixtures" / "timelines"
    xml = (fixtures / "ntsc_dialogue.xml").read_text("utf-8")
    args = []
    if damage == "timebase0":
        src, text = tmp_path / "t.xml", xml.replace("<timebase>30</timebase>", "<timebase>0</timebase>")
        expect, code = "is not a number of frames", 2
    elif damage == "in_nan":
        src, text = tmp_path / "t.xml", xml.replace("<timebase>30</timebase>", "<timebase>nan</timebase>", 1)
        expect, code = "", None
    elif damage == "edl_huge_duration":
        src = tmp_path / "t.edl"
        text = (fixtures / "resolve_markers.edl").read_text("utf-8").replace("|D:50", "|D:99999999999")
        expect, code = "a line's slot may last at most 600 s", 3
        args = ["--strict"]
    else:
        src, text = tmp_path / "t.srt", (fixtures / "dialogue.srt").read_text("utf-8")
        (tmp_path / "deep.cast.toml").write_text("[a]\nx = " + "[" * 5000 + "]" * 5000 + "\n", "utf-8")
        args = ["--rate", "25", "--cast", str(tmp_path / "deep.cast.toml")]
        expect, code = "nests its arrays or tables too deep", 2
    src.write_text(text, "utf-8")
    rc = cli.main(["dub", str(src), *args])
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal" not in err.lower()
    if code is not None:
        assert rc == code and expect in err, err
    else:
        assert rc in (0, 2, 3), err
    if code == 2:
        assert sorted(p.name for p in tmp_path.iterdir() if "_dub" in p.name) == []     # nothing half-written


def test_one_bad_cue_fails_only_itself_and_tag_clips_are_found_beside_the_timeline(tmp_path):
    """#20.8: a relative `[emo_ref=relative.wav]` made the daemon refuse and `takefit dub` abort (no
    timeline, no report, orphan takes). A tag's clip is now looked for beside the timeline; one that is
    missing fails its cue alone, at planning, before anything renders."""
    import numpy as np
    import soundfile as sf

    from takefit.bridges.dub import pipeline as dub
    from takefit.bridges.dub.pipeline import DubOptions

    sf.write(tmp_path / "angry.wav", np.zeros(24000, np.float32), 24000)
    src = tmp_path / "ep.srt"
    src.write_text("1\n00:00:01,000 --> 00:00:02,000\n[emo_ref=angry.wav] Found.\n\n"
                   "2\n00:00:03,000 --> 00:00:04,000\n[emo_ref=gone.wav] Missing.\n\n"
                   "3\n00:00:05,000 --> 00:00:06,000\nPlain.\n", "utf-8")
    found, missing, plain = dub.plan(DubOptions(src, rate="25")).cues
    assert found.emotion.reference == str(tmp_path / "angry.wav") and not found.problems
    assert missing.problems and "gone.wav not found" in missing.problems[0] and "timeline's folder" in missing.problems[0]
    assert not plain.problems


def test_a_request_the_daemon_refuses_fails_as_that_requests_input_error(daemon):
    """The daemon renderer turns a refusal of one request's content into an InputError: the dub records
    that cue as failed and renders the rest (it used to end the whole run)."""
    from takefit.engine import RenderRequest
    from takefit.engine.emotion import Emotion
    from takefit.bridges.dub.render import DaemonRenderer

    client = daemon.client()
    try:
        renderer = DaemonRenderer(client)
        with pytest.raises(InputError, match="must be an absolute path"):
            renderer.render(RenderRequest("Hi.", emotion=Emotion(reference="relative.wav")))
    finally:
        client.close()


def test_with_the_default_port_taken_a_started_daemon_listens_elsewhere_and_its_clients_find_it(tmp_path):
    """#20.2: with another user's daemon on 47321, `daemon start` and `say --daemon` waited 60-71 s and
    failed. The default port is a preference: taken, the daemon takes a free one (its clients read
    daemon.json, ipc first)."""
    import socket

    from takefit.daemon import connect, control
    from takefit.daemon.client import Client
    from takefit.daemon.paths import Dirs
    from takefit.daemon.config import DEFAULT_PORT

    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", DEFAULT_PORT))      # taken already (another user's daemon?): the same case
        holder.listen(1)
    except OSError:
        pass
    dirs = Dirs.resolve(tmp_path / "home")
    try:
        info = control.start(dirs, ["--no-ipc"], timeout=120)
        tcp = [e for e in info["endpoints"] if e.startswith("tcp://")]
        assert tcp and all(not e.endswith(f":{DEFAULT_PORT}") for e in tcp)
        with Client(home_dirs=dirs, timeout=30) as c:
            assert c.ping() >= 0
        assert "is in use" in dirs.log.read_text("utf-8")
    finally:
        connect.stop(dirs)
        holder.close()


@pytest.mark.slow
def test_takes_a_killed_dub_wrote_but_never_listed_are_not_copied_to_t2(tmp_path, renderer):
    """#20.10: after SIGINT / kill -9, takes written but not indexed made the re-run write byte-identical
    `_t2` copies and keep orphan `_t1` files. The manifest now follows the takes as they land, and a
    re-run removes what a cut-short run wrote but never listed."""
    import json

    from takefit.bridges.dub import pipeline as dub
    from takefit.bridges.dub.pipeline import DubOptions
    from takefit.bridges.dub.takes import MANIFEST

    src = tmp_path / "ep.srt"
    src.write_text("".join(f"{i}\n00:00:0{2 * i - 1},000 --> 00:00:0{2 * i},000\n{w}\n\n"
                           for i, w in enumerate(["Yes.", "No.", "Maybe."], 1)), "utf-8")
    dub.run(DubOptions(src, rate="25"), renderer)
    takes = tmp_path / "ep_dub_takes"
    first = sorted(p.name for p in takes.glob("*.wav"))
    assert first == ["ep_c001_default_t1.wav", "ep_c002_default_t1.wav", "ep_c003_default_t1.wav"]
    manifest = json.loads((takes / MANIFEST).read_text("utf-8"))
    for name in first[1:]:                          # as if the run was killed before it listed these two
        manifest["takes"].pop(name)
    (takes / MANIFEST).write_text(json.dumps(manifest), "utf-8")
    report = dub.run(DubOptions(src, rate="25"), renderer)
    assert sorted(p.name for p in takes.glob("*.wav")) == first      # no _t2 copies, no orphans
    assert any("never listed" in n for n in report.notes)
    assert set(json.loads((takes / MANIFEST).read_text("utf-8"))["takes"]) == set(first)


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["missing", "unreadable"])
def test_a_lost_takes_list_never_costs_a_take_file(tmp_path, renderer, damage):
    """Without its list (deleted, damaged) the takes folder cannot tell an orphan from a take an editor's
    timeline uses: every file stays, and a file holding a cue's take sample for sample is that cue's take
    again (no _t2 copy); one that does not stays listed as found, the cue's new take numbered after it."""
    import json

    import soundfile as sf

    from takefit.bridges.dub import pipeline as dub
    from takefit.bridges.dub.pipeline import DubOptions
    from takefit.bridges.dub.takes import MANIFEST
    from takefit.bridges.watch.jobs import cleanup_partial

    src = tmp_path / "ep.srt"
    src.write_text("1\n00:00:01,000 --> 00:00:02,000\nYes.\n\n2\n00:00:03,000 --> 00:00:04,000\nNo.\n\n", "utf-8")
    dub.run(DubOptions(src, rate="25"), renderer)
    takes = tmp_path / "ep_dub_takes"
    first = {p.name: p.read_bytes() for p in takes.glob("*.wav")}
    edited = takes / "ep_c002_default_t1.wav"                         # an editor's own fix of the second take
    data, rate = sf.read(edited, dtype="int32")
    sf.write(edited, data // 2, rate, subtype="PCM_24")
    first[edited.name] = edited.read_bytes()
    if damage == "missing":
        (takes / MANIFEST).unlink()
    else:
        (takes / MANIFEST).write_text('{"takes": ["ep_c001_default_t1.wav"', "utf-8")
    assert cleanup_partial(tmp_path) == []                            # the watch folder's restart keeps them too
    report = dub.run(DubOptions(src, rate="25"), renderer)
    assert any(f"was {damage}" in n and "2 take file(s) are kept" in n for n in report.notes), report.notes
    assert [c.take_number for c in report.results] == [1, 2]          # c001's file is its take; c002's is not
    assert {p.name: p.read_bytes() for p in takes.glob("*.wav") if p.name in first} == first
    assert sorted(p.name for p in takes.glob("*.wav")) == sorted([*first, "ep_c002_default_t2.wav"])
    listed = json.loads((takes / MANIFEST).read_text("utf-8"))["takes"]
    assert listed["ep_c001_default_t1.wav"]["key"] and listed["ep_c002_default_t1.wav"]["key"] is None
    again = dub.run(DubOptions(src, rate="25"), renderer)            # listed now: nothing new, nothing removed
    assert [c.take_number for c in again.results] == [1, 2] and not any("removed" in n for n in again.notes)
    assert len(list(takes.glob("*.wav"))) == 3


def test_the_daemons_state_is_owner_only(daemon):
    """#20.6 (in part): jobs.sqlite3 (every job's text) and daemon.log were 0644."""
    if os.name == "nt":
        pytest.skip("POSIX modes")
    client = daemon.client()
    try:
        client.render("Hi.", target=fresh(0.5)[0])          # the journal and the log exist now
    finally:
        client.close()
    for path in (daemon.dirs.state, daemon.dirs.journal, daemon.dirs.log):
        assert os.stat(path).st_mode & 0o077 == 0, path


# ------------------------------------------------------------------------------------------- the Low list
def test_srt_times_that_do_not_read_are_errors_naming_the_line_and_empty_subtitles_are_silent():
    from takefit.otio_adapters import srt
    from takefit.otio_adapters.extract import extract

    for timing, expect in (("00:61:05,000 --> 00:61:06,000", "minutes 61 out of range"),
                           ("00:00:05,000 --> 00:00:75,000", "seconds 75 out of range"),
                           ("-00:00:01,000 --> 00:00:02,000", "never negative")):
        with pytest.raises(srt.SRTParseError) as e:
            srt.parse(f"1\n00:00:01,000 --> 00:00:02,000\nA.\n\n2\n{timing}\nB.\n")
        assert expect in str(e.value) and "line 6 (subtitle 2)" in str(e.value)
    for cues_as in ("markers", "clips"):
        tl = srt.read_from_string("1\n00:00:01,000 --> 00:00:02,000\n\n\n2\n00:00:03,000 --> 00:00:04,000\nHi.\n",
                                  rate=25, cues_as=cues_as)
        cues = extract(tl, tracks=["Subtitles"] if cues_as == "clips" else ())
        assert [c.raw_text for c in cues] == ["", "Hi."]        # never "Subtitle 1" (the dub skips it)


@pytest.mark.parametrize("damage", ["in_negative", "out_before_in"])
def test_fcp7_times_before_the_start_or_backwards_fail_their_cue_by_name(tmp_path, damage, capsys):
    from pathlib import Path

    from takefit.bridges import cli

    xml = (Path(__file__).parent / "fixtures" / "timelines" / "ntsc_dialogue.xml").read_text("utf-8")
    xml = xml.replace("<in>30</in>", "<in>-30</in>") if damage == "in_negative" else \
        xml.replace("<out>90</out>", "<out>10</out>")
    (tmp_path / "t.xml").write_text(xml, "utf-8")
    assert cli.main(["dub", str(tmp_path / "t.xml"), "--list"]) == 0
    out = capsys.readouterr().out
    assert ("before the timeline's first frame" if damage == "in_negative" else "out before in") in out, out


def test_the_slot_and_extent_limits_are_settable_and_a_bad_setting_says_what_is_accepted(monkeypatch):
    from fractions import Fraction

    from takefit.otio_adapters import limits

    assert limits.slot_problems(0, 250, Fraction(25)) == []                       # 10 s
    monkeypatch.setenv(limits.ENV_MAX_SLOT, "5")
    (problem,) = limits.slot_problems(0, 250, Fraction(25))
    assert "at most 5 s" in problem and limits.ENV_MAX_SLOT in problem
    monkeypatch.setenv(limits.ENV_MAX_EXTENT, "0.5")
    assert any("at most 0.5 h" in p for p in limits.slot_problems(25 * 3600, 25, Fraction(25)))
    assert limits.extent_frames(Fraction(25)) == 25 * 1800
    for bad in ("nan", "1e9", "-1", "lots"):
        monkeypatch.setenv(limits.ENV_MAX_SLOT, bad)
        with pytest.raises(InputError, match="give a number from 1 to 600"):
            limits.max_slot_seconds()


def test_protocol_odds_get_their_own_words(client):
    import msgpack

    from takefit.daemon.client import BadPathError
    from takefit.daemon.protocol import ProtocolError, unpack
    from takefit.engine.request import parse_target

    with pytest.raises(ProtocolError, match="timestamps are not part of the protocol"):
        unpack(msgpack.packb({"op": "ping", "id": "t", "at": [msgpack.Timestamp(5, 0)]}))
    with pytest.raises(InputError, match="unknown unit") as e:
        parse_target("3sec")
    assert "exponent" not in str(e.value)
    with pytest.raises(BadPathError, match="daemon's own default-named takes"):     # another job's file
        client.render("Hi.", output="jobs/warm1.wav")
    with pytest.raises(BadPathError, match="U\\+202E"):
        client.render("Hi.", output="ep\u202ewav.exe.wav")


def test_an_output_root_every_user_may_write_is_refused_at_start(tmp_path, capsys):
    """The Low list's symlink race: in a folder others may write, one could swap a subfolder for a symlink
    between the daemon's check and its rename. The daemon refuses such a root and names the fix."""
    from takefit.bridges.cli import main

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    rc = main(["daemon", "start", "--foreground", "--home", str(tmp_path / "h"), "--bind", "tcp://127.0.0.1:*",
               "--output-root", str(shared / "takes")])
    err = capsys.readouterr().err
    assert rc != 0 and "other users may write" in err and f"chmod go-w {shared}" in err, err
    assert not (tmp_path / "h" / "run" / "daemon.json").exists()
    shared.chmod(0o1777)                                         # sticky, as /tmp: entries stay their owners'
    from takefit.daemon.paths import check_private_root

    check_private_root(shared / "takes")


@pytest.mark.slow
def test_a_slot_no_fit_can_reach_fails_before_the_natural_reading_is_decoded(engine, monkeypatch):
    """#20.9: "9" × 306 in a 2 s slot decoded 70 s of natural audio (21 s of CPU) only to be refused."""
    from takefit.engine.errors import FitError
    from takefit.engine.request import RenderRequest
    from takefit.engine.target import Target

    decoded = []
    real = engine._natural
    monkeypatch.setattr(engine, "_natural", lambda *a, **k: decoded.append(1) or real(*a, **k))
    with pytest.raises(FitError, match="Shorten the text or lengthen the slot"):
        engine.render(RenderRequest("9" * 306, target=Target.seconds(2)))
    with pytest.raises(FitError, match="Lengthen the text or shorten the slot"):
        engine.render(RenderRequest("Hi.", target=Target.seconds(30)))
    assert decoded == []
    assert engine.render(RenderRequest("Hello there.", target=Target.seconds(2))).ratio > 1.4 and decoded == [1]
