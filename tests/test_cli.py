"""`takefit` as a user runs it: the installed console script, real files, exit codes, no partial output."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

TAKEFIT = [sys.executable, "-m", "takefit.bridges.cli"]


def run(*args, stdin=None, cwd=None):
    return subprocess.run([*TAKEFIT, *args], input=stdin, capture_output=True, text=True, cwd=cwd, timeout=300)


def test_console_script_is_installed():
    exe = Path(sys.executable).with_name("takefit")
    assert exe.exists()
    r = subprocess.run([str(exe), "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "say" in r.stdout and "examples" in r.stdout


@pytest.mark.slow
def test_say_writes_exact_24bit_wav(tmp_path):
    out = tmp_path / "line.wav"
    r = run("say", "我们用 takefit 给视频配音, exactly on time.", "--frames", "77@23.976", "-o", str(out), "--json")
    assert r.returncode == 0, r.stderr
    info = sf.info(out)
    assert (info.samplerate, info.frames, info.subtype, info.channels) == (48000, 77 * 1001 * 2, "PCM_24", 1)
    report = json.loads(r.stdout)
    assert report["path"] == str(out.resolve()) and report["samples"] == 77 * 1001 * 2
    assert "synthetic speech" in (sf.SoundFile(out).comment or "")


@pytest.mark.slow
def test_say_reads_stdin_and_file(tmp_path):
    out = tmp_path / "a.wav"
    r = run("say", "-", "--fit", "1.25s", "--rate", "44100", "-o", str(out), stdin="From standard input.")
    assert r.returncode == 0, r.stderr
    assert sf.info(out).frames == round(1.25 * 44100)
    text = tmp_path / "line.txt"
    text.write_text("From a file.", "utf-8")
    r = run("say", "-f", str(text), "--ratio", "1.1", "-o", str(tmp_path / "b.wav"))
    assert r.returncode == 0, r.stderr
    assert str(tmp_path / "b.wav") in r.stdout


@pytest.mark.slow
def test_explain_json_prints_reading_without_audio(tmp_path):
    r = run("say", "--explain", "--json", "这个行(XÍNG)不行？OK.", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    zh_words = [w for s in info["segments"] if s["language"] == "zh" for w in s["words"]]
    assert any(w["pinyin"].startswith("xing2") for w in zh_words)
    assert info["natural_seconds"] > 0
    assert not list(tmp_path.glob("*.wav"))


def test_voices_lists_languages():
    r = run("voices", "--json")
    voices = json.loads(r.stdout)
    assert len(voices) == 54
    assert sum(v["language"] == "zh" for v in voices) == 8
    assert sum(v["language"] == "en" for v in voices) == 28


@pytest.mark.parametrize("args,code,message", [
    (["say", "   "], 2, "text is empty"),
    (["say", "Hi", "-v", "af_hart"], 2, "Did you mean: af_heart"),
    (["say", "Hi", "--fit", "three"], 2, "accepted"),
    (["say", "Hi", "--frames", "12"], 2, "N@FPS|accepted"),
    (["say", "This line cannot be said in a blink.", "--fit", "0.1s"], 3, "feasible"),
    (["say", "x" * 2001], 2, "at most 2000"),
    (["say", "Hi", "--loudness", "loud"], 2, "LUFS"),
    (["say", "Hi", "--true-peak", "-30"], 2, r"--true-peak: a ceiling in dBTP from -20 to 0"),
    (["dub", "cut.srt", "--true-peak", "1"], 2, r"--true-peak: .*Netflix"),
    (["dub", "cut.srt", "--delivery", "bbc"], 2, r"--delivery: unknown delivery 'bbc': accepted ebu-r128 \(-23 LUFS"),
])
@pytest.mark.slow
def test_bad_input_exit_codes_and_no_output(tmp_path, args, code, message):
    out = tmp_path / "never.wav"
    r = run(*args, "-o", str(out))
    assert r.returncode == code, (r.returncode, r.stderr)
    assert re.search(message, r.stderr), r.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_say_keeps_a_delivery_ceiling_and_says_so_in_bext(tmp_path):
    """-12 LUFS under a -2 dBTP ceiling: limited to fit, and the bext's max true peak says where it is."""
    from takefit.engine.bwf import read_broadcast

    out = tmp_path / "loud.wav"
    r = run("say", "Hold the door! I'm right behind you.", "--loudness", "-12", "--true-peak", "-2", "-o", str(out))
    assert r.returncode == 0, r.stderr
    meta = read_broadcast(out)
    assert -2.3 < meta.true_peak <= -2.0 and abs(meta.loudness - -12.0) <= 0.1


def test_a_ceiling_reaches_the_request_from_dub_and_from_a_watch_service(tmp_path):
    from takefit.bridges import cli
    from takefit.bridges.commands import dub, watch
    from takefit.bridges.dub.pipeline import plan, request_for
    from takefit.bridges.watch.jobs import dub_options

    src = tmp_path / "ep.srt"
    src.write_text("1\n00:00:01,000 --> 00:00:03,000\nA line.\n", "utf-8")
    args = cli.build_parser(["dub"]).parse_args(["dub", str(src), "--true-peak", "-2", "--rate", "25"])
    opts = dub.options(args, src)
    assert request_for(plan(opts).cues[0], opts).true_peak == -2.0
    w = cli.build_parser(["watch"]).parse_args(["watch", str(tmp_path), "--true-peak", "-2"])
    baked = watch.service_args(w)
    assert baked[baked.index("--true-peak") + 1] == "-2"
    wopts = watch.options(w)
    assert dub_options(src, tmp_path, wopts, None).true_peak == -2.0
    plain = watch.options(cli.build_parser(["watch"]).parse_args(["watch", str(tmp_path)]))
    assert wopts.fingerprint(None) != plain.fingerprint(None) and "--true-peak" not in watch.service_args(
        cli.build_parser(["watch"]).parse_args(["watch", str(tmp_path)]))


def test_a_delivery_spec_sets_both_levels_and_a_level_given_beside_it_wins(tmp_path):
    from takefit.bridges import cli
    from takefit.bridges.commands import dub, watch
    from takefit.bridges.dub.pipeline import plan, request_for
    from takefit.bridges.watch.jobs import dub_options

    src = tmp_path / "ep.srt"
    src.write_text("1\n00:00:01,000 --> 00:00:03,000\nA line.\n", "utf-8")

    def request(*flags):
        opts = dub.options(cli.build_parser(["dub"]).parse_args(["dub", str(src), "--rate", "25", *flags]), src)
        req = request_for(plan(opts).cues[0], opts)
        return req.loudness, req.true_peak, opts.delivery

    assert request() == (-23.0, -1.0, None)                        # EBU R128, unnamed
    assert request("--delivery", "netflix") == (-27.0, -2.0, "netflix")
    assert request("--delivery", "ATSC_A85") == (-24.0, -2.0, "atsc-a85")
    assert request("--delivery", "podcast", "--true-peak", "-1.5") == (-16.0, -1.5, "podcast")
    assert request("--delivery", "streaming", "--loudness", "off") == (None, -1.0, "streaming")
    w = cli.build_parser(["watch"]).parse_args(["watch", str(tmp_path), "--delivery", "netflix"])
    baked = watch.service_args(w)
    assert baked[baked.index("--delivery") + 1] == "netflix" and "--loudness" not in baked
    wopts = watch.options(w)
    assert (wopts.loudness, wopts.true_peak, wopts.delivery) == (-27.0, -2.0, "netflix")
    assert dub_options(src, tmp_path, wopts, None).delivery == "netflix"
    plain = watch.options(cli.build_parser(["watch"]).parse_args(["watch", str(tmp_path)]))
    assert wopts.fingerprint(None) != plain.fingerprint(None)


def test_unwritable_output(tmp_path):
    target_dir = tmp_path / "missing"            # a folder that does not exist
    if os.geteuid() != 0:                         # root ignores permissions; others also get a read-only folder
        target_dir = tmp_path / "ro"
        target_dir.mkdir()
        os.chmod(target_dir, 0o500)
    r = run("say", "Hi", "-o", str(target_dir / "x.wav"))
    assert r.returncode == 5 and "cannot write" in r.stderr, r.stderr
    assert not (target_dir / "x.wav").exists()


def test_assets_verify():
    r = run("assets", "verify")
    assert r.returncode == 0 and "assets OK" in r.stdout
