"""Hostile inputs (issue #20) replayed against the real daemon and CLI: cases and failures per family (~2 min).

    python bench/hostile.py [--quick] [--family NAME]... [--json] [--cpu-bound 10] [--out FILE.md]

frames, numbers, names, texts, emotion, kills: one daemon (temp home, random loopback port); timelines: `takefit
dub` / `watch --once`. A failure is a hang (no answer in 30 s, texts 60; a ping over 5 s; a CLI over 120 s), a
crash (the daemon died, then restarted; a CLI got a signal), a traceback (`internal`, quoted from the daemon log;
in a CLI's output), an escape (a file outside the output root, a planted voice loaded, an answer without the
token, another job's take overwritten, /etc/passwd in an output), over-bound (over --cpu-bound daemon CPU s or
50 MB written per input) or wrong (another breach: an unexpected code, a half-written timeline, a silent drop).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import namedtuple
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import msgpack
import numpy as np
import zmq

from takefit.daemon import connect, control
from takefit.daemon.client import Client
from takefit.daemon.paths import Dirs
from takefit.daemon.protocol import ERROR_CODES, MAX_MESSAGE_BYTES, SIGNATURE, pack, unpack
from takefit.engine.errors import TakefitError

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "timelines"
TAKEFIT = Path(sys.executable).with_name("takefit")       # the venv's console script
FAMILIES = ("frames", "numbers", "names", "texts", "emotion", "timelines", "kills")
KINDS = ("hang", "crash", "traceback", "escape", "over-bound", "wrong")
COLUMNS = ("cases", *KINDS, "max_cpu_s", "max_disk_mb", "wall_s")
REPLY_TIMEOUT, PING_LIMIT, WALL_BOUND = 30.0, 5.0, 120.0  # a slower ping: the daemon's loop is blocked
DISK_BOUND = 50 * 2 ** 20     # what one input may write: every case's output should be tiny
CLI_MEMORY = 8 * 2 ** 30      # a CLI's address space: a TiB allocation fails at once instead of swapping
ANY = set(ERROR_CODES) - {"internal"} | {"result"}      # a typed refusal or a valid take
nan, inf = float("nan"), float("inf")
Problems = list[tuple[str, str]]
Case = namedtuple("Case", "name action limit pings", defaults=(REPLY_TIMEOUT + 15, True))  # limit: the whole case, s


@dataclass
class Result:
    family: str
    case: str
    cpu: float | None = None
    disk: int = 0
    wall: float = 0.0
    problems: Problems = field(default_factory=list)


class Bench:
    """The bench's temp folders (daemon home, scratch, sentinel, a planted voice) and its one daemon."""

    def __init__(self, cpu_bound: float):
        self.cpu_bound, self.pid, self.root = cpu_bound, 0, Path(tempfile.mkdtemp(prefix="hostile-")).resolve()
        self.dirs, self.scratch, self.sentinel = Dirs.resolve(self.root / "home"), self.root / "tmp", self.root / "sent"
        for d in (self.scratch, self.sentinel, self.root / "voices", self.root / "plant"):
            d.mkdir()
        # a valid voice file beside the voice folder: a voice name that loads it is an escape
        np.savez(self.root / "plant" / "evil.voice.npz", table=np.zeros((510, 256), np.float32), meta="{}")
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("TAKEFIT_DAEMON_")},
                    "TAKEFIT_VOICES_DIR": str(self.root / "voices")}
        self.cli_env = {**self.env, "TAKEFIT_DAEMON_HOME": str(self.root / "no-daemon"),  # so: in-process
                        "TAKEFIT_CACHE": str(self.scratch / "cli-cache")}

    def start(self) -> None:
        control.wait_stopped(self.dirs, 30)
        info = control.start(self.dirs, ["--bind", "tcp://127.0.0.1:*"], timeout=120, env=self.env)
        self.pid, self.token, self.output_root = int(info["pid"]), info["token"], Path(info["output_root"]).resolve()
        self.tcp = next(e for e in info["endpoints"] if e.startswith("tcp://"))
        with self.client(timeout=120) as c:
            c.voices()                                   # answered once the engine has loaded

    def client(self, **kw) -> Client:
        return Client(home_dirs=self.dirs, **{"timeout": 10.0, **kw})

    def cpu(self) -> float | None:
        """The daemon's CPU seconds so far (all threads); None once it is dead (a zombie, being our child)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return None if fields[0] in "ZX" else (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def settle(self) -> None:
        """Wait (60 s at most) for an empty queue: a case's CPU must not be the previous case's leftover."""
        with contextlib.suppress(TakefitError), self.client(retries=1) as c:
            for _ in range(300):
                if not sum(c.health()["queue"][k] for k in ("queued", "running")):
                    break
                time.sleep(0.2)

    def escape_snapshot(self) -> set[Path]:
        """Where a name that left the output root lands: the sentinel (absolute, symlinks), beside the root ('..')."""
        beside = (self.output_root.parent, self.dirs.runtime.parent, self.root)
        return {*self.sentinel.rglob("*"), *(p for d in beside for p in d.glob("*.wav"))}


# ------------------------------------------------------------------------------------------- judging
def exchange(bench: Bench, frames: list[bytes], timeout: float = REPLY_TIMEOUT, token: str | None = "") -> dict | None:
    """Send `frames` on a bare DEALER socket with the daemon's token (or `token`; None: none); the first message
    that ends the exchange, or None. Heartbeats go out meanwhile: the daemon drops a silent peer's stream."""
    with zmq.Context.instance().socket(zmq.DEALER) as sock:
        sock.setsockopt(zmq.LINGER, 0)
        if token is not None:
            sock.plain_username, sock.plain_password = b"takefit", (token or bench.token).encode()
        sock.connect(bench.tcp)
        sock.send_multipart(frames)
        deadline, beat = time.monotonic() + timeout, 0.0
        while (left := deadline - time.monotonic()) > 0:
            if time.monotonic() >= beat:   # not blocking: a refused peer has no connection to send on
                with contextlib.suppress(zmq.Again):
                    sock.send_multipart([SIGNATURE, pack({"op": "heartbeat"})], zmq.NOBLOCK)
                beat = time.monotonic() + 0.5
            if sock.poll(int(min(left, 0.5) * 1000) + 1):
                _, body = sock.recv_multipart()         # anything else than 2 frames: ValueError, reported
                if (msg := unpack(body, 1 << 30)).get("type") not in ("accepted", "progress", "heartbeat"):
                    return msg
        return None


def render(bench: Bench, request: dict, output: str | None = None, timeout: float = REPLY_TIMEOUT) -> dict | None:
    """One render op exactly as given (no client-side checks): its result or error, or None (then canceled)."""
    job = uuid.uuid4().hex
    body = {"op": "render", "id": job[:12], "job": job, "request": request, "progress": False}
    msg = exchange(bench, [SIGNATURE, pack(body if output is None else {**body, "output": output})], timeout)
    if msg is None:
        exchange(bench, [SIGNATURE, pack({"op": "cancel", "id": "c", "jobs": [job]})], 5.0)
    return msg


def judge(msg: dict | None, accept: set[str], waited: float = REPLY_TIMEOUT) -> Problems:
    """What is wrong with an answer: silence, `internal`, an untyped code, or a code or take not in `accept`."""
    if msg is None:
        return [("hang", f"no answer within {waited:.0f} s")]
    kind, code, text = msg.get("type"), msg.get("code"), str(msg.get("message", ""))[:200]
    if kind == "error" and code not in ANY:          # `internal`, or a code the protocol does not define
        return [("traceback" if code == "internal" else "wrong", f"{code}: {text}")]
    if kind == "result" and "result" in accept:
        seconds = (msg.get("result") or {}).get("seconds")
        return [] if isinstance(seconds, (int, float)) and 0 < seconds <= 600 else [("wrong", f"a {seconds!r} s take")]
    return [] if (code if kind == "error" else kind) in accept else [
        ("wrong", f"{code or kind} (expected {'/'.join(sorted(accept))}) {text}".strip())]


def excerpt(text: str) -> str:
    """`file:line in function: Exception: message` of the last traceback in `text` (its innermost frame here)."""
    start = text.rfind("Traceback (most recent call last):")
    block = text[start:].splitlines()[1:] if start >= 0 else []
    frames = [m.groups() for m in (re.match(r'\s+File "(.+?)", line (\d+), in (.+)', s) for s in block) if m]
    own = [f for f in frames if Path(f[0]).is_relative_to(REPO) and "site-packages" not in f[0]] or frames
    what = next((s.strip() for s in block if s and not s[0].isspace()), "")
    return f"{own[-1][0].removeprefix(f'{REPO}/')}:{own[-1][1]} in {own[-1][2]}: {what[:120]}" if own else ""


def du(path: Path) -> int:
    """Bytes allocated under `path` (a sparse file counts what it uses)."""
    return 512 * sum(os.lstat(p).st_blocks for p in path.rglob("*") if os.path.lexists(p))


def over_bound(disk: int, cpu: float | None = None, cpu_bound: float = inf) -> Problems:
    out = [("over-bound", f"{disk / 2 ** 20:.0f} MB written (bound 50 MB)")] if disk > DISK_BOUND else []
    if cpu is not None and cpu > cpu_bound:
        out.append(("over-bound", f"{cpu:.1f} s of daemon CPU (bound {cpu_bound:g} s)"))
    return out


# ------------------------------------------------------------------------------------------- harness
def ping_once(bench: Bench) -> float:
    """One ping's round trip in seconds (a failed one counts as over the limit)."""
    t = time.monotonic()
    try:
        with bench.client(timeout=PING_LIMIT, retries=0) as c:
            c.ping()
    except Exception:               # noqa: BLE001
        return max(PING_LIMIT + 0.01, time.monotonic() - t)
    return time.monotonic() - t


def run_daemon_case(bench: Bench, family: str, case: Case) -> Result:
    """Run one case in a thread while pinging the daemon; then judge liveness, cost and escapes. A case with
    pings=False kills and restarts the daemon itself: no liveness watch."""
    bench.settle()
    res, pid, cpu0, disk0 = Result(family, case.name), bench.pid, bench.cpu(), du(bench.root / "home")
    log0, files0 = bench.dirs.log.stat().st_size, bench.escape_snapshot()
    box: list[Problems] = []

    def verdict() -> None:          # the case's own; an exception out of it is reported, never raised
        try:
            box.append(case.action(bench))
        except Exception as e:      # noqa: BLE001  (a bench bug must not end the run: it shows in the list)
            internal = isinstance(e, TakefitError) and getattr(e, "code", "") == "internal"
            box.append([("traceback" if internal else "wrong", f"{type(e).__name__}: {e}"[:300])])
    worker = threading.Thread(target=verdict, daemon=True)
    t0, slowest = time.monotonic(), 0.0
    worker.start()
    while worker.is_alive() and time.monotonic() - t0 < case.limit and (not case.pings or bench.cpu() is not None):
        slowest = max(slowest, ping_once(bench) if case.pings else 0.0)
        worker.join(0.2)
    res.wall = time.monotonic() - t0
    if bench.pid == pid and bench.cpu() is None:
        res.problems.append(("crash", f"the daemon died: {' '.join(bench.dirs.stderr_log.read_text()[-300:].split())}"))
        bench.start()
    elif worker.is_alive():
        res.problems.append(("hang", f"the case did not finish within {res.wall:.0f} s"))
    elif slowest > PING_LIMIT or ping_once(bench) > PING_LIMIT:
        res.problems.append(("hang", f"a ping took over {PING_LIMIT:.0f} s while the case ran (or after it)"))
    res.problems += box[0] if box else []
    cpu1 = bench.cpu() if bench.pid == pid else None
    res.cpu = None if cpu0 is None or cpu1 is None else cpu1 - cpu0
    res.disk = max(0, du(bench.root / "home") - disk0)
    res.problems += over_bound(res.disk, res.cpu, bench.cpu_bound)
    res.problems += [("escape", f"{p} was written") for p in sorted(bench.escape_snapshot() - files0)]
    if where := excerpt(bench.dirs.log.read_bytes()[log0:].decode("utf-8", "replace")):
        res.problems = [(k, f"{d} [log: {where}]" if k == "traceback" else d) for k, d in res.problems]
    return res


def ask(request: dict, output: str | None = None, accept: set[str] = ANY, timeout: float = REPLY_TIMEOUT,
        then: Callable | None = None) -> Callable[[Bench], Problems]:
    """A case that renders `request` (over "Hi." in 1 s) and judges the answer, and `then` checks it further."""
    def act(bench: Bench) -> Problems:
        msg = render(bench, {"text": "Hi.", "target": "1s", **request}, output, timeout)
        return judge(msg, accept, timeout) + (then(msg) if then else [])
    return act


def flag(kind: str, when: Callable[[dict], bool], say: str) -> Callable:
    """A further check of an answer: `kind`, saying `say` and the answer's message, when `when(answer)`."""
    return lambda m: [(kind, f"{say}: {m.get('code', '')} {m.get('message', '')}"[:200])] if m and when(m) else []


# ------------------------------------------------------------------------------------------- daemon families
def frame_case(frames: list[bytes], accept: str, timeout: float = 10.0, stranger: str | None = ""):
    """Frames sent raw; `accept`: the codes expected ("" for over the socket's limit: a dropped connection)."""
    def act(bench: Bench) -> Problems:
        msg = exchange(bench, frames, timeout, stranger)
        if stranger != "":
            return [] if msg is None else [("escape", f"a peer without the token got an answer: {msg.get('type')}")]
        return [] if msg is None and not accept else judge(msg, set(accept.split() or ["too_large"]), timeout)
    return act


def frames_family(bench: Bench, quick: bool) -> list[Case]:
    """(name, body, accepted codes): a body in bytes is sent as it is, a tuple as the frames, else packed."""
    ping, raw = pack({"op": "ping", "id": "p"}), msgpack.packb       # raw: msgpack's own packer, ext types too
    body = pack({"op": "render", "id": "r", "request": {"text": "Hi. " * 50, "target": "2s"}})
    deep = b"\x83" + b"".join(map(pack, ["op", "jobs", "id", "d", "state"])) + b"\x91" * 100_000 + b"\xc0"
    bad, msg = "bad_frame", "bad_message"
    cases = [
        ("wrong_signature", (b"XXXX", ping), bad), ("signature_TKF2", (b"TKF2", ping), "unsupported_version"),
        ("three_frames", (SIGNATURE, ping, ping), bad), ("not_msgpack", b"\xc1", bad), ("truncated", body[:-7], bad),
        ("trailing_byte", ping + b"\0", bad), ("body_array", [1, 2, 3], msg), ("field_100k_deep", deep, bad),
        ("ext_type", raw({"op": "ping", "x": msgpack.ExtType(5, b"x")}), bad),
        ("timestamp", raw({"op": "ping", "x": msgpack.Timestamp(1, 0)}), bad),
        ("arrays_100k_deep", b"\x91" * 10 ** 5 + b"\xc0", bad), ("maps_100k_deep", b"\x81\xa1k" * 10 ** 5 + b"\0", bad),
        ("array_claims_2G", b"\xdd\x7f\xff\xff\xff", bad), ("string_claims_2GB", b"\xdb\x7f\xff\xff\xff" + b"a", bad),
        ("text_7MB", {"op": "render", "id": "h", "request": {"text": "x" * 7_000_000}}, "too_large"),
        ("invalid_utf8", b"\x82" + pack("op") + b"\xa2\xed\xa0" + pack("id") + pack("u"), bad),
        ("unknown_op", {"op": "rm -rf /", "id": "u"}, "unknown_op"), ("op_not_a_string", {"op": 1}, msg),
        ("unknown_field", {"op": "ping", "id": "f", "evil": 1}, "unknown_field"),
        ("limit_nan", {"op": "jobs", "limit": nan}, msg), ("limit_2**64-1", {"op": "jobs", "limit": 2 ** 64 - 1}, msg),
        ("text_not_a_string", {"op": "render", "request": {"text": 123}}, msg),
        ("sample_rate_2**64-1", {"op": "render", "request": {"text": "Hi.", "sample_rate": 2 ** 64 - 1}}, msg),
        ("id_2**64-1", {"op": "ping", "id": 2 ** 64 - 1}, msg), ("id_-1", {"op": "ping", "id": -1}, msg),
        ("job_id_path", {"op": "job", "job": "../../etc/passwd"}, msg),
        ("hello_protocol_2**31", {"op": "hello", "protocol": 2 ** 31}, "unsupported_version"),
    ]
    out = [Case(n, frame_case(list(b) if isinstance(b, tuple) else [SIGNATURE, b if isinstance(b, bytes) else pack(b)],
                              codes)) for n, b, codes in cases]
    jobs = [SIGNATURE, pack({"op": "jobs", "id": "s"})]
    return out + [Case("oversized_9MB", frame_case([SIGNATURE, b"\0" * (MAX_MESSAGE_BYTES + 1024)], "", 3.0)),
                  Case("stranger_no_token", frame_case(jobs, "", 3.0, None)),
                  Case("stranger_guessed_token", frame_case(jobs, "", 3.0, "x" * 43))]


def numbers_family(bench: Bench, quick: bool) -> list[Case]:
    targets = ("0s", "-1s", "nan", "inf", "1e308", "1e308s", "3sec", "99:59:59:00", "8999975@25", "10@0", "10@nan",
               "-10@25", "0x", "1e9x", "1e-300s", "1/0s", "9" * 60 + "/1s", "")
    cases = [(f"target_{t!r}", {"target": t}) for t in targets]
    cases += [(f"frame_rate_{r!r}", {"frame_rate": r}) for r in ("0", "nan", "-24", "inf", "1e308", "24/0", "")]
    cases += [(f"sample_rate_{v}", {"sample_rate": v}) for v in (1, 7, 0, -48000, 10 ** 9, 2 ** 63)]
    cases += [(f"speed_{v}", {"speed": v}) for v in (0, -1, nan, inf, 1e9)]
    cases += [(f"loudness_{v}", {"loudness": v}) for v in (1e9, -1e9, nan)]
    cases += [(f"{k}_{v}", {k: v}) for k in ("pre_roll", "lead", "tail") for v in (-1.0, 1e9, nan)]
    cases += [("pre_roll_10_in_1s", {"pre_roll": 10.0}), ("lead_2_tail_2_in_1s", {"lead": 2.0, "tail": 2.0}),
              ("all_handles_max_in_0.1s", {"target": "0.1s", "pre_roll": 10.0, "lead": 2.0, "tail": 2.0})]
    cases += [(f"natural_range_{a}_{b}", {"natural_range": [a, b]}) for a, b in ((0, 0), (nan, 1), (2, 1), (1e-9, 1e9))]
    exponent = flag("wrong", lambda m: "exponent" in str(m.get("message")), "'3sec' refused as a bad exponent")  # Low
    return [Case(n, ask(o, then=exponent if "sec" in n else None)) for n, o in cases[::1 + quick]]


def paths_elsewhere(bench: Bench) -> Problems:
    """An output named like another client's take (jobs/<id>.wav, Low); a folder and a file symlinked outside."""
    first, tag, victim = render(bench, {"text": "One take.", "target": "1s"}), uuid.uuid4().hex[:8], bench.scratch / "v"
    if not first or first.get("type") != "result":
        return [("wrong", f"bench setup: the first render failed: {first}"[:200])]
    path, rel = Path(first["result"]["path"]), first["result"]["output"]
    folder, file = bench.output_root / f"to-{tag}", bench.output_root / f"{tag}.wav"
    before, _ = path.read_bytes(), victim.write_bytes(b"keep me")
    folder.symlink_to(bench.sentinel, target_is_directory=True)
    file.symlink_to(victim)
    try:
        problems = ask({"text": "Another's take.", "target": "1.5s"}, rel, {"bad_path", "conflict", "result"})(bench)
        for out, accept in ((f"{folder.name}/y.wav", {"bad_path"}), (f"{folder.name}/in/y.wav", {"bad_path"}),
                            (file.name, {"bad_path", "result"})):
            problems += ask({}, out, accept)(bench)
    finally:
        folder.unlink()
        file.unlink(missing_ok=True)
    if not path.exists() or path.read_bytes() != before:
        problems.append(("escape", f"{rel}, another job's take, was overwritten or removed"))
    return problems + [("escape", f"wrote through a symlink to {victim}")] * (victim.read_bytes() != b"keep me")


def names_family(bench: Bench, quick: bool) -> list[Case]:
    outputs = [("dotdot", "../x.wav"), ("dotdot_deep", "a/../../x.wav"), ("backslash_dotdot", "..\\x.wav"),
               ("absolute", str(bench.sentinel / "x.wav")), ("drive", "C:\\x.wav"), ("ctrl", "a\x01b.wav"),
               ("nul", "a\x00b.wav"), ("newline", "a\nb.wav"), ("empty", ""), ("only_suffix", ".wav"),
               ("bytes_232", "x" * 228 + ".wav"), ("bytes_255", "x" * 251 + ".wav"), ("chars_300", "x" * 296 + ".wav"),
               ("emoji_255_bytes", "\U0001F600" * 62 + "abc.wav"), ("emoji_256_bytes", "\U0001F600" * 63 + ".wav"),
               ("folder_260_bytes", "d" * 260 + "/x.wav"), ("not_wav", "x.exe")]
    ok = {"bad_path", "bad_message", "too_large", "result"}
    late = flag("wrong", lambda m: m.get("type") == "error" and m.get("job") and m.get("code") != "internal",
                "accepted, then failed at write")           # Low: a name it cannot write is refused at once
    cases = [Case(f"output_{n}", ask({}, o, ok, then=late)) for n, o in outputs]
    cases += [Case("output_x:y.wav", ask({}, "x:y.wav", ok, then=flag(     # Low: it was called absolute
        "wrong", lambda m: "absolute" in str(m.get("message")), "x:y.wav refused as absolute")))]
    cases += [Case(f"output_{n}", ask({}, o, {"bad_path"})) for n, o in (("U+202E", "e\u202egnp.wav"),
                                                                          ("U+0085", "a\u0085b.wav"))]
    voices = [("dotdot_plant", "../plant/evil"), ("absolute_plant", str(bench.root / "plant" / "evil")),
              ("inside_dotdot_plant", "af_heart/../../plant/evil"), ("64_emoji", "\U0001F600" * 64),
              ("300_x", "x" * 300), ("empty", ""), ("nul", "af\x00heart"), ("star", "*")]
    ok = {"unknown_voice", "bad_message", "too_large", "bad_input", "result"}
    cases += [Case(f"voice_{n}", ask({"voice": v}, None, ok, then=flag(
        "escape" if "plant" in v else "wrong", lambda m: m.get("type") == "result", "rendered"))) for n, v in voices]
    return cases + [Case("output_job_file_and_symlinks", paths_elsewhere)]


TEXTS = [   # (name, text, natural: short at its own length by design, so rendering it there is a fair test)
    ("brackets_1000", "[" * 1000 + "]" * 1000, True), ("combining_1999", "a" + "\u0301" * 1999, True),
    ("emoji_500", "\U0001F600" * 500, True), ("nines_306", "9" * 306, False), ("nines_307", "9" * 307, False),
    ("chinese_2000", ("我们用它给视频配音，" * 200)[:2000], False), ("one_word_2000", "a" * 2000, False),
    ("english_2000", ("The quick brown fox jumps over the lazy dog. " * 45)[:2000], False),
    ("english_10000", "word " * 2000, True), ("nul_bytes", "Hi\x00there." + "\x00" * 1000, True),
    ("spaces_5000", " " * 5000, True), ("punctuation", "!?.,;:—…" * 250, True), ("ones_commas", "1," * 1000, False),
    ("U+202E", "Hello \u202eworld\u202c again.", True), ("spaces_1998_hi", " " * 1998 + "Hi", True),
    ("zero_width_1999", "\u200b" * 1999 + "a", True),
    ("mixed_scripts", "Hello 你好 Привет مرحبا こんにちは 안녕 שלום नमस्ते 𝕏 ½ ﷺ", True),
]


def texts_family(bench: Bench, quick: bool) -> list[Case]:
    return [Case(f"{name}@{target}", ask({"text": text, "target": target}, timeout=2 * REPLY_TIMEOUT), 90.0)
            for name, text, natural in TEXTS[:6 if quick else None] for target in ("natural", "2s")[not natural:]]


def fifo_freed(path: Path) -> Callable:
    """A hang if the daemon holds the FIFO open to read: opening the write end and closing it frees it (EOF)."""
    def check(msg: dict | None) -> Problems:
        if not path.is_fifo():
            return []
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            return []                                   # ENXIO: no reader
        return [("hang", "the daemon was blocked reading the FIFO (the bench freed it)")]
    return check


def emotion_family(bench: Bench, quick: bool) -> list[Case]:
    d = bench.scratch / "emotion"
    d.mkdir()
    os.mkfifo(d / "clip.wav")
    (d / "notes.wav").write_text("not audio\n" * 100, "utf-8")
    with open(d / "huge.wav", "wb") as f:
        f.truncate(300 * 2 ** 20)                                    # sparse: no disk used
    (d / "zero.wav").symlink_to("/dev/zero")
    refs = [("dev_zero", "/dev/zero"), ("relative", "relative.wav"), ("missing", "/nonexistent/clip.wav"),
            ("dev_urandom", "/dev/urandom"), ("proc_self_mem", "/proc/self/mem"), ("folder", str(d)),
            ("fifo", str(d / "clip.wav")), ("sparse_300MB", str(d / "huge.wav")), ("text_as_wav", str(d / "notes.wav")),
            ("link_to_dev_zero", str(d / "zero.wav"))]
    docs = [(f"vector_{n}", {"vector": v}) for n, v in (("nan", [nan] * 8), ("inf", [inf] * 8), ("-1", [-1.0] * 8),
                                                         ("9s", [9.0] * 8), ("9_items", [0.1] * 9), ("str", ["a"] * 8))]
    docs += [("intensity_nan", {"preset": "angry", "intensity": nan}), ("not_a_map", "angry")]
    return [Case(f"reference_{n}", ask({"emotion": {"reference": p}}, None, ANY - {"result"}, then=fifo_freed(Path(p))))
            for n, p in refs] + [Case(n, ask({"emotion": doc})) for n, doc in docs]


def kill_mid_batch(bench: Bench) -> Problems:
    """kill -9 while a batch of 6 renders; after a restart every job is done, its file there once, no partial left."""
    items = [{"text": f"Line {i}.", "target": f"{1.5 + i / 10}s", "output": f"kills/cue{i}.wav"} for i in range(6)]
    with bench.client(timeout=30) as c:
        ids = c.submit_batch(items)[1]
        while not {"running", "done", "failed"} & {c.job(j)["state"] for j in ids}:   # a stuck queue: the case's limit
            time.sleep(0.05)
    os.kill(bench.pid, signal.SIGKILL)
    bench.start()
    with bench.client(timeout=30, retries=5) as c:
        results = c.wait(ids, timeout=180)
    files = sorted(p.name for p in bench.output_root.rglob("*") if p.parent.name == "kills" or "partial" in p.name)
    return [("wrong", f"job {j[:8]}: {r}"[:200]) for j, r in results.items() if isinstance(r, BaseException)] + [
        ("wrong", f"kills/ and partial files: {files}")] * (files != [f"cue{i}.wav" for i in range(6)])


# ------------------------------------------------------------------------------------------- timelines
def wav_bytes(seconds: float) -> bytes:
    """A 24 kHz 16-bit WAV of a voiced buzz (140 Hz and harmonics, 3 syllables a second): a silent clip would be
    refused as an emotion reference (too little voice)."""
    t = np.arange(int(24000 * seconds)) / 24000
    pcm = (sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 12)) * (0.5 + 0.5 * np.sin(6 * np.pi * t)) * 4000)
    n, pcm = len(pcm) * 2, pcm.astype("<i2").tobytes()
    return struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + n, b"WAVE", b"fmt ", 16, 1, 1, 24000, 48000, 2, 16, b"data",
                       n) + pcm


def cue_check(folder: Path, expect: str) -> Problems:
    """`expect`: a regular expression over the report's cue statuses ("": no report, refused as a whole), or
    after '@' globs that must exist. A rendered cue never reads "Subtitle 1" for an empty line (Low)."""
    if expect.startswith("@"):
        return [("wrong", f"{g} is missing") for g in expect[1:].split() if not any(folder.glob(g))]
    found = sorted(folder.glob("*_report.json"))
    cues = json.loads(found[0].read_text("utf-8"))["cues"] if found else []
    got = " ".join(c["status"] for c in cues)
    spoken = [c["text"] for c in cues if c["status"] != "failed" and re.match(r"(?i)subtitle \d+$", c["text"] or "")]
    return [("wrong", f"cue statuses {got!r}, expected {expect!r}")] * (not re.fullmatch(expect, got)) + [
        ("wrong", f"an empty subtitle spoken as {spoken[:1]}")] * bool(spoken)


# What a reader's crash looks like when it is passed through unexplained (a RecursionError's "maximum
# recursion depth exceeded"): the user learns nothing about the file from it.
RAW_ERROR = re.compile(r"\b(RecursionError|KeyError|AttributeError|IndexError|TypeError|UnicodeDecodeError)\b|"
                       r"maximum recursion depth")


def timeline_cases() -> list[tuple[str, dict, list[str], str]]:
    """(name, files in its folder, CLI arguments ({dir}: that folder), what it must leave: see cue_check)."""
    xml = (FIXTURES / "ntsc_dialogue.xml").read_text("utf-8")
    edl, srt_ok = (FIXTURES / "resolve_markers.edl").read_text("utf-8"), (FIXTURES / "dialogue.srt").read_text("utf-8")
    garbage, brackets = bytes((i * 131 + 7) % 251 for i in range(4096)), "[" * 100_000 + "]" * 100_000

    def srt(*cues):
        return {"t.srt": "".join(f"{i}\n{a} --> {b}\n{t}\n\n" for i, (a, b, t) in enumerate(cues, 1))}

    def xml_with(old: str, new: str, count: int = -1, decl: str = "") -> dict:
        return {"t.xml": xml.replace(old, new, count).replace("<xmeml", decl + "\n<xmeml", 1)}
    hi, t3, x = ("00:00:01,000", "00:00:02,000", "Hi."), ("00:00:03,000", "00:00:04,000", "Fine."), ".*"
    ents = "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))   # j: 10 GB
    laughs = f'<!DOCTYPE xmeml [<!ENTITY a "aaaaaaaaaa">{ents}]>'
    dub_srt, dub_xml, dub_otio = ["dub", "{dir}/t.srt", "--rate", "25"], ["dub", "{dir}/t.xml"], ["dub", "{dir}/x.otio"]
    emo = srt(("00:00:01,000", "00:00:02,000", "[emo_ref=angry.wav] Found."),
              ("00:00:03,000", "00:00:04,000", "[emo_ref=gone.wav] Missing."),
              ("00:00:05,000", "00:00:06,000", "Plain."))
    ok, quiet = "(rendered|flagged)", "(|failed (rendered|flagged))"   # quiet, Low: a damaged time is no silent drop
    alice = "[alice] Hello there."
    return [
        ("srt_cue_at_99h", srt(hi, ("99:59:59,000", "99:59:59,900", "Far.")), dub_srt, f"{ok} failed"),
        ("srt_hour_long_slot", srt(hi, ("00:00:03,000", "01:00:03,000", "An hour?")), dub_srt, f"{ok} failed"),
        ("srt_negative_time", srt(("-00:00:01,000", "00:00:02,000", "Before zero."), t3), dub_srt, quiet),
        ("srt_61_minutes", srt(("00:61:00,000", "00:61:01,000", "Sixty-one."), t3), dub_srt, quiet),
        ("srt_empty_subtitle", srt((*hi[:2], ""), t3), dub_srt, x),
        ("srt_garbage", {"t.srt": garbage}, dub_srt, x),
        ("srt_relative_emo_ref", {"angry.wav": wav_bytes(2.0), **emo}, dub_srt, f"{ok} failed {ok}"),
        ("edl_D_99999999999", {"t.edl": edl.replace("|D:50", "|D:99999999999")}, ["dub", "{dir}/t.edl", "--rate=25"],
         x),
        ("fcp7_marker_out_huge", xml_with("<out>90</out>", "<out>999999999999</out>", 1), dub_xml, x),
        ("fcp7_timebase_0", xml_with("<timebase>30</timebase>", "<timebase>0</timebase>"), dub_xml, x),
        ("fcp7_rate_nan", xml_with("<timebase>30</timebase>", "<timebase>nan</timebase>", 1), dub_xml, x),
        ("fcp7_in_nan", xml_with("<in>30</in>", "<in>nan</in>"), dub_xml, x),
        ("fcp7_billion_laughs", xml_with(alice, "&j;", 1, laughs), dub_xml, x),
        ("fcp7_xxe_etc_passwd", xml_with(alice, "&x;", 1, '<!DOCTYPE xmeml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'),
         dub_xml, x),
        ("otio_brackets_100k", {"x.otio": brackets}, dub_otio, x),
        ("cast_nested_5000", {"t.srt": srt_ok, "deep.cast.toml": "[a]\nx = " + "[" * 5000 + "]" * 5000 + "\n"},
         dub_srt + ["--cast", "{dir}/deep.cast.toml"], x),
        ("watch_otio_brackets", {"w/inbox/x.otio": brackets, "w/inbox/ok.srt": srt(hi)["t.srt"]},
         ["watch", "{dir}/w", "--once", "--daemon=off", "--settle=0", "--rate=25"], "@w/failed/x.otio* w/done/ok.srt"),
        *subtitle_cases(garbage, brackets, ok, x),
    ]


def subtitle_cases(garbage: bytes, brackets: str, ok: str, x: str) -> list[tuple[str, dict, list[str], str]]:
    """The other subtitle and caption readers (WebVTT, SubStation, TTML, SCC, EBU STL) with what broke SRT
    and FCP7 XML readers: garbage, a cue at 99 h, markup nested 100k deep, an entity bomb, a huge count."""
    vtt = "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nHi.\n\n{}\n"
    ass = ("[Script Info]\nScriptType: v4.00+\n\n[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, "
           "MarginV, Effect, Text\nDialogue: 0,0:00:01.00,0:00:02.00,Default,Ann,0,0,0,,Hi.\n{}\n")
    ttml = ('<?xml version="1.0"?>{}<tt xmlns="http://www.w3.org/ns/ttml" xml:lang="en"><body><div>'
            '<p begin="00:00:01.000" end="00:00:02.000">{}</p></div></body></tt>')
    ents = "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
    dub = ["dub", "{dir}/t.{suffix}", "--rate", "25"]

    def case(name, suffix, content, expect):
        return (name, {f"t.{suffix}": content}, [a.replace("{suffix}", suffix) for a in dub], expect)
    return [
        case("vtt_garbage", "vtt", b"WEBVTT\n\n" + garbage, x),
        case("vtt_cue_at_99h", "vtt", vtt.format("99:59:59.000 --> 99:59:59.900\nFar."), f"{ok} failed"),
        case("vtt_voice_span_100k", "vtt", vtt.format("00:00:03.000 --> 00:00:04.000\n" + "<v a>" * 100_000), x),
        case("ass_garbage", "ass", garbage, x),
        case("ass_override_100k", "ass", ass.format("Dialogue: 0,0:00:03.00,0:00:04.00,Default,,0,0,0,,"
                                                    + "{" * 100_000 + "Hi." + "}" * 100_000), x),
        case("ass_end_9999h", "ass", ass.format("Dialogue: 0,0:00:03.00,9999:00:00.00,Default,,0,0,0,,Long."), x),
        case("ttml_garbage", "ttml", garbage, x),
        case("ttml_billion_laughs", "ttml", ttml.format(f'<!DOCTYPE tt [<!ENTITY a "aaaaaaaaaa">{ents}]>', "&j;"), x),
        case("ttml_xxe_etc_passwd", "ttml", ttml.format('<!DOCTYPE tt [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
                                                        "&x;"), x),
        case("ttml_spans_100k", "ttml", ttml.format("", "<span>" * 100_000 + "Hi." + "</span>" * 100_000), x),
        case("scc_garbage", "scc", garbage, x),
        case("scc_words_100k", "scc", "Scenarist_SCC V1.0\n\n00:00:01:00\t" + "9420 " * 100_000 + "\n", x),
        case("stl_garbage", "stl", garbage * 4, x),
    ]


def run_cli_case(bench: Bench, name: str, files: dict, args: list[str], expect: str) -> Result:
    """One CLI run: no signal, traceback, half-written file or /etc/passwd; bounded time and disk; `expect`."""
    folder, res, cache = bench.scratch / "timelines" / name, Result("timelines", name), bench.scratch / "cli-cache"
    for rel, content in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    disk0, usage0, t0 = du(folder) + du(cache), resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    try:
        proc = subprocess.run([str(TAKEFIT), *[a.replace("{dir}", str(folder)) for a in args]], cwd=folder, check=False,
                              env=bench.cli_env, capture_output=True, text=True, errors="replace", timeout=WALL_BOUND,
                              preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (CLI_MEMORY, CLI_MEMORY)))
        rc, out = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired:
        rc, out = None, ""
    res.wall, usage = time.monotonic() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
    res.cpu = usage.ru_utime + usage.ru_stime - usage0.ru_utime - usage0.ru_stime
    res.disk, written = max(0, du(folder) + du(cache) - disk0), [p for p in folder.rglob("*") if p.is_file()]
    last = (out.strip().splitlines() or [""])[-1][:160]
    res.problems = [(kind, what) for kind, what, bad in (
        ("hang", f"still running after {WALL_BOUND:.0f} s (killed)", rc is None),
        ("crash", f"exit status {rc}: {last}", rc is not None and (rc < 0 or rc in (134, 137, 139))),
        ("traceback", excerpt(out) or last, "Traceback" in out),
        ("wrong", f"exit status {rc}: {last}", rc is not None and rc > 3 and rc not in (134, 137, 139)),
        ("wrong", "refused without saying why", rc == 2 and not out.strip()),
        ("wrong", f"a raw Python error in the message: {last}", bool(RAW_ERROR.search(out))),
        ("wrong", f"refused (exit 2), yet wrote {[p.name for p in written if '_dub' in p.name][:4]}",
         rc == 2 and any("_dub" in p.name for p in written)),
        ("wrong", f"half-written files left: {[p.name for p in written if '.partial' in p.name][:4]}",
         any(".partial" in p.name or p.name.endswith(".tmp") for p in written)),
        ("escape", "/etc/passwd's content came out", any("root:x:0:0:" in s for s in [out] + [
            p.read_text("utf-8", "replace") for p in written if p.stat().st_size < 2 ** 20]))) if bad]
    res.problems += over_bound(res.disk) or ([] if rc is None or res.problems else cue_check(folder, expect))
    return res


# ------------------------------------------------------------------------------------------- report
def summarise(results: list[Result]) -> dict[str, dict]:
    rows: dict[str, dict] = {}
    for r in results:
        for key in (r.family, "total"):
            row = rows.setdefault(key, dict.fromkeys(COLUMNS, 0))
            row.update({k: row[k] + 1 for k in {"cases", *(k for k, _ in r.problems)}})
            row.update(max_cpu_s=max(row["max_cpu_s"], r.cpu or 0.0), wall_s=row["wall_s"] + r.wall,
                       max_disk_mb=max(row["max_disk_mb"], r.disk / 2 ** 20))
    rows["total"] = rows.pop("total", dict.fromkeys(COLUMNS, 0))   # the last row
    return rows


def render_report(summary: dict[str, dict], results: list[Result], cpu_bound: float) -> str:
    head = ["family", "cases", *KINDS, "max CPU s", "max disk MB", "wall s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + [
        "| " + " | ".join(map(str, [fam, row["cases"], *(row[k] for k in KINDS), f"{row['max_cpu_s']:.2f}",
                                    f"{row['max_disk_mb']:.1f}", f"{row['wall_s']:.0f}"])) + " |"
        for fam, row in summary.items()]
    t, failing = summary["total"], [(r, k, d) for r in results for k, d in r.problems]
    lines += ["", f"goal (0 hangs, 0 crashes, 0 tracebacks, 0 escapes, ≤ {cpu_bound:g} s CPU and ≤ "
              f"{DISK_BOUND // 2 ** 20} MB per input): {'MET' if all(t[k] == 0 for k in KINDS[:-1]) else 'NOT MET'}: "
              + ", ".join(f"{t[k]} {k}" for k in KINDS), "", f"## Failing cases ({len(failing)})", ""]
    lines += [f"- {r.family}/{r.case}: **{k}**: {d}" for r, k, d in failing] or ["- none"]
    if costs := [r for r in results if r.family == "texts"]:
        lines += ["", "## texts: daemon CPU per input", ""] + [
            f"- {r.case}: {'?' if r.cpu is None else f'{r.cpu:.2f}'} s CPU, {r.wall:.1f} s wall" for r in costs]
    return "\n".join(lines)


def run_family(bench: Bench, family: str, quick: bool) -> list[Result]:
    """Every case of `family`, one by one, each reported on stderr as it ends."""
    builders = {"frames": frames_family, "numbers": numbers_family, "names": names_family, "texts": texts_family,
                "emotion": emotion_family, "timelines": lambda b, q: timeline_cases()[::1 + q],
                "kills": lambda b, q: [Case("kill9_mid_batch_of_6", kill_mid_batch, 300, False)]}
    results = []
    for case in builders[family](bench, quick):
        r = run_cli_case(bench, *case) if family == "timelines" else run_daemon_case(bench, family, case)
        results.append(r)
        print(f"[{family}] {r.case}: {'; '.join(f'{k}: {d}' for k, d in r.problems)[:160] or 'ok'} ({r.wall:.1f} s"
              + ("" if r.cpu is None else f", cpu {r.cpu:.2f} s") + ")", file=sys.stderr, flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", action="append", choices=FAMILIES, help="run only this family (repeatable)")
    ap.add_argument("--quick", action="store_true", help="fewer cases")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--cpu-bound", type=float, default=10.0, help="daemon CPU seconds one input may cost (10)")
    ap.add_argument("--out", type=Path, help="also write the table and the failing cases to this .md file")
    args = ap.parse_args(argv)
    bench, results, t0 = Bench(args.cpu_bound), [], time.monotonic()
    try:
        if set(args.family or FAMILIES) - {"timelines"}:
            bench.start()
        for family in (f for f in FAMILIES if f in (args.family or FAMILIES)):
            results += run_family(bench, family, args.quick)
    finally:
        if control.lock_held(bench.dirs):
            connect.stop(bench.dirs, timeout=30)
        shutil.rmtree(bench.root, ignore_errors=True)
    summary = summarise(results)
    report = render_report(summary, results, args.cpu_bound) + f"\n\nrun time: {time.monotonic() - t0:.0f} s"
    if args.out:
        args.out.write_text(f"# bench/hostile.py{' --quick' * args.quick}\n\n{report}\n", "utf-8")
    print(json.dumps({"cpu_bound_s": args.cpu_bound, "disk_bound_bytes": DISK_BOUND, "summary": summary,
                      "run_seconds": time.monotonic() - t0, "results": [asdict(r) for r in results]}, indent=1)
          if args.json else report)
    return 0 if all(summary["total"][k] == 0 for k in KINDS[:-1]) else 1


if __name__ == "__main__":
    sys.exit(main())
