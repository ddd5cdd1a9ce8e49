"""Benchmark the voice picker's ▶ preview: from the panel-side press to the take's path arriving
(played with a stub player), through a real daemon.

    python bench/voice_preview_bench.py [--rounds 2] [--batch 6] [--json]

Each round starts its own daemon (temp home, random loopback port; stopped afterwards), so nothing of
an earlier round is cached, not even the engine's in-memory natural readings, and first reads one
English and one Mandarin line in other voices, so loading a language's reader is not counted. Then
each voice is previewed three ways:

    cold        the first preview: rendered in the daemon (natural length, −23 LUFS, 48 kHz)
    cached      a later session's first preview: the same request, answered from the take cache
    session     a second press in the same session: the panel's own voice → take map, no daemon call

In the last round, with the daemon busy on a batch of `--batch` distinct lines queued at `normal`
priority (what "Render all" sends), one cold preview at the panel's `high` priority, and for contrast
one sent at `normal`: the first waits only for the line being rendered, the second for the whole queue.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

VOICES = ("af_heart", "am_michael", "bf_emma", "zf_xiaoxiao", "zm_yunxi")
BUSY_VOICE = "af_bella"
WARM_UP = (("The readers load with their first line.", "af_sky"), ("第一句话加载读音。", "zf_xiaobei"))
BATCH_LINES = ["The quick brown fox jumps over the lazy dog.", "Please hold the door for a moment.",
               "We used takefit to dub this video.", "Every line lands exactly on its cut.",
               "我们用 takefit 给视频配音。", "The rain stopped just before the credits rolled."]


class StubPlayer:
    """Records what it was asked to play (the bench measures the render path, not an audio device)."""

    def __init__(self):
        self.last: Path | None = None

    def play(self, path) -> str:
        self.last = Path(path)
        return f"played {self.last.name}"


def wait_for(signal, timeout_s: float) -> None:
    from PyQt6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    signal.connect(loop.quit)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    signal.disconnect(loop.quit)


def timed_press(button, voice: str, timeout_s: float = 120.0) -> float:
    """Seconds from press() to `played` (the take's path handed to the player)."""
    button.box.setCurrentIndex(button.box.findData(voice))
    got: list[str] = []
    button.played.connect(lambda v, p: got.append(v))
    t0 = time.perf_counter()
    if not button.press():
        raise RuntimeError(f"the preview button refused {voice} (tooltip: {button.toolTip()})")
    if not got:                                   # the session map answers inside press()
        wait_for(button.played, timeout_s)
    dt = time.perf_counter() - t0
    button.played.disconnect()
    if got != [voice]:
        raise RuntimeError(f"no preview of {voice} within {timeout_s:g} s")
    return dt


def measure_round(button, infos: dict) -> list[dict]:
    rows = []
    for voice in VOICES:
        button.takes.clear()
        cold = timed_press(button, voice)
        cold_info = dict(infos[voice])
        session = timed_press(button, voice)
        button.takes.clear()
        cached = timed_press(button, voice)
        if cold_info["cached"] or not infos[voice]["cached"]:
            raise RuntimeError(f"{voice}: expected a render then a cache hit, got {cold_info} / {infos[voice]}")
        rows.append({"voice": voice, "cold_s": cold, "cached_s": cached, "session_s": session,
                     "engine_s": cold_info["engine_seconds"], "take_s": cold_info["seconds"]})
    return rows


def one_round(dirs, busy_batch: int | None) -> tuple[list[dict], dict]:
    """A fresh daemon: warm its readers, preview every voice, optionally the busy-daemon contrast."""
    from takefit.bridges.panel.cast_view import PreviewButton, VoiceBox
    from takefit.bridges.panel.daemon_link import DaemonLink
    from takefit.daemon import Client, control

    control.start(dirs, ["--bind", "tcp://127.0.0.1:*"], timeout=180)
    link = None
    try:
        with Client(home_dirs=dirs, timeout=120) as c:
            voices = c.voices()                                   # answered once the engine is loaded
            for text, voice in WARM_UP:
                c.render(text, voice=voice)
            link = DaemonLink(dirs)
            box = VoiceBox()
            box.set_voices(voices)
            button = PreviewButton(box)
            infos: dict[str, dict] = {}       # heard before the button's own slot, which ends the wait
            link.previews.previewed.connect(lambda voice, info: infos.__setitem__(voice, info))
            button.attach(link, StubPlayer(), lambda text: None)
            rows = measure_round(button, infos)
            busy = {} if busy_batch is None else measure_busy(button, link, c, busy_batch,
                                                              box.preview_line("am_fenrir")["text"])
        return rows, busy
    finally:
        if link is not None:
            link.close()


def measure_busy(button, link, client, batch: int, preview_text: str) -> dict:
    """One cold preview at the panel's priority while a batch renders, and one at `normal` for contrast."""
    from takefit.daemon.client import new_job_id

    out = {}
    for label, voice, priority in (("high", BUSY_VOICE, None), ("normal", "am_fenrir", "normal")):
        tag = new_job_id()[:8]
        items = [{"text": f"{BATCH_LINES[i % len(BATCH_LINES)]} ({tag} {i})"} for i in range(batch)]
        client.submit_batch(items, priority="normal")
        time.sleep(0.3)                                              # the first line is rendering
        if priority is None:
            out[label] = timed_press(button, voice)
        else:                                                         # what a `normal` preview would wait
            from takefit.daemon.client import Client

            with Client(home_dirs=link.dirs, timeout=60) as c:
                t0 = time.perf_counter()
                c.render(preview_text, voice=voice, inline=True, priority="normal")
                out[label] = time.perf_counter() - t0
        while client.health()["queue"]["queued"] or client.health()["queue"]["running"]:
            time.sleep(0.2)
    return out


def ms(x: float) -> str:
    return f"{x * 1000:.0f} ms" if x >= 0.01 else f"{x * 1e6:.0f} µs"


def table(rows: list[dict], busy: dict, batch: int, rounds: int) -> str:
    """One row per voice: each round's cold preview (engine time inside), then the cache and session medians."""
    by_voice: dict[str, list[dict]] = {}
    for r in rows:
        by_voice.setdefault(r["voice"], []).append(r)
    cold_heads = " | ".join(f"cold, round {i + 1} (engine)" for i in range(rounds))
    lines = [f"| voice | take | {cold_heads} | daemon cache, median | this session, median |",
             "|---|---:|" + "---:|" * rounds + "---:|---:|"]
    for voice, rs in by_voice.items():
        colds = " | ".join(f"{ms(r['cold_s'])} ({ms(r['engine_s'])})" for r in rs)
        lines.append(f"| {voice} | {rs[0]['take_s']:.2f} s | {colds} | {ms(statistics.median(r['cached_s'] for r in rs))}"
                     f" | {ms(statistics.median(r['session_s'] for r in rs))} |")
    summary = (f"cold preview p50 / max of {len(rows)}: {ms(statistics.median(r['cold_s'] for r in rows))} / "
               f"{ms(max(r['cold_s'] for r in rows))}; "
               f"daemon cache p50 / max: {ms(statistics.median(r['cached_s'] for r in rows))} / "
               f"{ms(max(r['cached_s'] for r in rows))}; this session's map: {ms(max(r['session_s'] for r in rows))} "
               "max (each round on a fresh daemon whose readers were loaded by other lines first).")
    contention = (f"While a batch of {batch} lines renders (queued at `normal`, as Render all sends them): a cold "
                  f"preview at the panel's `high` priority {ms(busy['high'])}; the same kind of request at `normal` "
                  f"{ms(busy['normal'])} (it waits for the whole queue).")
    lines += ["", summary, "", contention]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2, help="rounds, each after clearing the take cache (default 2)")
    ap.add_argument("--batch", type=int, default=6, help="lines in the busy-daemon batch (default 6)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from PyQt6.QtWidgets import QApplication

    from takefit.daemon import connect, control
    from takefit.daemon.paths import Dirs

    app = QApplication.instance() or QApplication(sys.argv[:1])
    rows: list[dict] = []
    busy: dict = {}
    for i in range(args.rounds):
        home = Path(tempfile.mkdtemp(prefix="takefit-preview-bench-"))
        dirs = Dirs.resolve(home)
        try:
            got, b = one_round(dirs, args.batch if i == args.rounds - 1 else None)
            rows += got
            busy.update(b)
        finally:
            if control.lock_held(dirs):
                connect.stop(dirs, timeout=30)
            shutil.rmtree(home, ignore_errors=True)
    app.processEvents()
    if args.json:
        print(json.dumps({"rows": rows, "busy": busy}, indent=1))
    else:
        print(table(rows, busy, args.batch, args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
