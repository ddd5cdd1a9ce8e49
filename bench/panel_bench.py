"""Benchmark the casting panel's promise: renders run in the daemon and the window never waits.

    QT_QPA_PLATFORM=offscreen python bench/panel_bench.py [--cues 6] [--rounds 2] [--json]

It starts its own daemon (temp home, random loopback port), opens the panel offscreen on an SRT of
`--cues` distinct lines, and renders them all two ways, alternating rounds (the daemon's take cache
is cleared before each, so every round really renders):

  panel      the panel's "Render all": DaemonLink's worker thread talks to the daemon
  blocking   the same renders called on the GUI thread (what a naive window would do)

A 10 ms QTimer on the GUI thread measures how long the event loop goes without running: the longest
gap is the longest the window would have been frozen. A second table compares what the ratio
column costs per cue (the daemon's `explain`: the duration stage only) with a full render.

    QT_QPA_PLATFORM=offscreen python bench/panel_bench.py --waveform [--cues 200]

times the picture of the take instead (no daemon): a `--cues`-cue SRT with a synthetic take per cue
(speech-like bursts, 48 kHz / 24-bit, exactly the slot long): reading each take's envelope and speech
span once, painting the cue table's Fill column (the viewport grabbed while scrolling through every
row), and painting the waveform strip for every selection. It checks that painting read no file.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

LINES = ["The quick brown fox jumps over the lazy dog.", "Please hold the door for a moment.",
         "我们用 takefit 给视频配音。", "Every line lands exactly on its cut.", "明天早上八点在门口见。",
         "We start in five minutes.", "这个行不行？", "Thank you, that was perfect."]
TICK_MS = 10


def srt(path: Path, n: int) -> Path:
    def tc(ms: int) -> str:
        return f"00:{ms // 60000:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

    blocks, t = [], 1000
    for i in range(n):
        blocks.append(f"{i + 1}\n{tc(t)} --> {tc(t + 2400)}\n{LINES[i % len(LINES)]}\n")
        t += 3000
    path.write_text("\n".join(blocks), "utf-8")
    return path


class Ticker:
    """Timestamps of a 10 ms timer on the GUI thread: gaps are time the event loop did not run."""

    def __init__(self):
        from PyQt6.QtCore import QTimer

        self.times: list[float] = []
        self.timer = QTimer()
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(lambda: self.times.append(time.perf_counter()))

    def start(self) -> None:
        self.times = [time.perf_counter()]
        self.timer.start()

    def stop(self) -> list[float]:
        self.timer.stop()
        self.times.append(time.perf_counter())
        return [b - a for a, b in zip(self.times, self.times[1:])]


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(q / 100 * (len(s) - 1)))))]


def synthetic_take(path: Path, seconds: float, seed: int) -> Path:
    """Silence, 3–8 syllable-like bursts (a voiced tone with harmonics under a raised-sine envelope,
    short gaps between), silence; exactly `seconds` long."""
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(seed)
    sr = 48000
    audio = np.zeros(round(seconds * sr), np.float32)
    t, end = rng.uniform(0.02, 0.15), seconds - rng.uniform(0.05, 0.3)
    while t < end:
        n = int(min(rng.uniform(0.08, 0.3), end - t) * sr)
        k = np.arange(n) / sr
        f0 = rng.uniform(90, 230)
        tone = sum(np.sin(2 * np.pi * f0 * h * k) / h for h in (1, 2, 3))
        start = int(t * sr)
        audio[start:start + n] = (0.3 * tone * np.sin(np.pi * k / k[-1]) ** 2).astype(np.float32)
        t += n / sr + rng.uniform(0.01, 0.12)
    sf.write(path, audio, sr, subtype="PCM_24")
    return path


def stats_row(name: str, ms: list[float]) -> str:
    return (f"| {name} | {len(ms)} | {statistics.median(ms):.2f} ms | {pct(ms, 95):.2f} ms | {max(ms):.2f} ms | "
            f"{sum(ms):.0f} ms |")


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def waveform_main(cues: int) -> int:
    import soundfile as sf
    from PyQt6.QtWidgets import QApplication

    from takefit.bridges.panel.cue_table import FILL, CueModel, CueTable
    from takefit.bridges.panel.session import Session
    from takefit.bridges.panel.waveform import WaveformView, content_of

    qapp = QApplication.instance() or QApplication(sys.argv[:1])
    home = Path(tempfile.mkdtemp(prefix="takefit-waveform-bench-"))
    session = Session(rate="25")
    session.open(srt(home / "lines.srt", cues))
    for i, row in enumerate(session.rows):
        row.take = synthetic_take(home / f"take{i:03d}.wav", row.slot_seconds, i)
        row.natural = row.slot_seconds * (0.8 + 0.4 * (i % 5) / 4)
    model = CueModel(session)
    load_ms = [timed(lambda r=r: model.shapes.load(r.take)) for r in session.rows]
    again_ms = [timed(lambda r=r: model.shapes.load(r.take)) for r in session.rows]   # cached: a stat only

    reads: list[str] = []
    real = sf.read
    sf.read = lambda f, *a, **k: (reads.append(str(f)), real(f, *a, **k))[1]
    table = CueTable(model)
    table.resize(1280, 800)
    table.show()
    strip = WaveformView(model.shapes)
    strip.resize(1280 - 420, 110)              # the strip's width beside the cast list
    strip.show()
    qapp.processEvents()
    def scroll_and_paint() -> list[float]:
        ms = []
        for first in range(0, cues, 10):       # scroll through every row: every Fill cell is painted
            table.scrollTo(model.index(min(first, cues - 1), 0))
            ms.append(timed(lambda: table.viewport().grab()))
        return ms
    table_ms = scroll_and_paint()
    table.setColumnHidden(FILL, True)          # the same table without the Fill column: its cost by difference
    plain_ms = scroll_and_paint()
    table.setColumnHidden(FILL, False)
    shown = table.rowAt(table.viewport().height() - 1) - table.rowAt(0) + 1
    strip_ms = [timed(lambda r=r: (strip.show_content(content_of(r, session.plan.start)), strip.grab()))
                for r in session.rows]
    sf.read = real
    rows = table.verticalHeader().count()
    lines = ["| step | n | median | p95 | max | total |", "|---|---:|---:|---:|---:|---:|",
             stats_row("read a take: envelope + speech span (first time)", load_ms),
             stats_row("load again (cached: stat only)", again_ms),
             stats_row(f"paint the cue table viewport ({shown} of {rows} rows on screen)", table_ms),
             stats_row("the same, Fill column hidden", plain_ms),
             stats_row("select a cue: strip content + paint", strip_ms),
             "", f"files read while painting: {len(reads)} (the table and strip paint from the cache)"]
    text = "\n".join(lines)
    print(text)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "panel_waveform.md").write_text(
        "# Casting panel: picture of the take (waveform strip, Fill column)\n\n"
        f"`QT_QPA_PLATFORM=offscreen python bench/panel_bench.py --waveform --cues {cues}`: {cues} cues, "
        "synthetic 2.4 s takes (48 kHz, 24-bit). Shared, loaded 2-core machine.\n\n" + text + "\n", "utf-8")
    return 1 if reads else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cues", type=int, default=None, help="cues (default 6; 200 with --waveform)")
    ap.add_argument("--rounds", type=int, default=2, help="rounds of each mode, alternating (default 2)")
    ap.add_argument("--waveform", action="store_true", help="time the take's picture instead (no daemon)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.waveform:
        return waveform_main(args.cues or 200)
    args.cues = args.cues or 6

    from PyQt6.QtCore import QEventLoop, QTimer
    from PyQt6.QtWidgets import QApplication

    from takefit.bridges.panel import app as panel_app
    from takefit.daemon import connect, control
    from takefit.daemon.client import Client
    from takefit.daemon.paths import Dirs
    from takefit.bridges.dub import pipeline as dub
    from takefit.bridges.dub.render import DaemonRenderer

    qapp = QApplication.instance() or QApplication(sys.argv[:1])
    home = Path(tempfile.mkdtemp(prefix="takefit-panel-bench-"))
    dirs = Dirs.resolve(home / "daemon")
    control.start(dirs, ["--bind", "tcp://127.0.0.1:*"], timeout=120)
    results: dict[str, list[dict]] = {"panel": [], "blocking": []}
    explain_s: list[float] = []
    try:
        client = Client(home_dirs=dirs, timeout=120)
        client.voices()                                   # the engine is loaded
        timeline = srt(home / "lines.srt", args.cues)
        w = panel_app.build(timeline, rate="25", dirs=dirs, poll_ms=2000)
        w.show()
        loop = QEventLoop()
        deadline = time.monotonic() + 120
        while not (w.daemon_ok and all(r.natural for r in w.session.rows)) and time.monotonic() < deadline:
            qapp.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        for r in w.session.rows:                          # what one ratio-column cell costs
            t0 = time.perf_counter()
            client.explain(r.cue.text, r.cue.voice, r.cue.language)
            explain_s.append(time.perf_counter() - t0)

        def panel_round() -> float:
            w.link.render.finished.connect(loop.quit)
            t0 = time.perf_counter()
            assert w.render_all()
            loop.exec()
            w.link.render.finished.disconnect(loop.quit)
            assert all(r.status in ("rendered", "cached") for r in w.session.rows), \
                [(r.status, r.message) for r in w.session.rows]
            return time.perf_counter() - t0

        def blocking_round() -> float:
            renderer = DaemonRenderer(Client(home_dirs=dirs, timeout=120))
            cues, opts, folder = [r.cue for r in w.session.rows], w.session.options(), w.session.take_folder()
            took = {}

            def work() -> None:
                t0 = time.perf_counter()
                for cue in cues:
                    res, _ = dub.render_cue(cue, renderer, folder, opts)
                    assert res.status in ("rendered", "cached"), res.error
                took["s"] = time.perf_counter() - t0
                loop.quit()
            QTimer.singleShot(0, work)
            loop.exec()
            renderer.close()
            return took["s"]

        for rnd in range(args.rounds):
            for mode, fn in (("panel", panel_round), ("blocking", blocking_round)) if rnd % 2 == 0 else \
                    (("blocking", blocking_round), ("panel", panel_round)):
                client.cache_clear()                      # every round renders for real
                ticker = Ticker()
                ticker.start()
                wall = fn()
                gaps = ticker.stop()
                results[mode].append({"wall_s": wall, "max_gap_ms": max(gaps) * 1000,
                                      "p99_gap_ms": pct(gaps, 99) * 1000, "ticks": len(gaps)})
        w.close()
        client.close()
    finally:
        connect.stop(dirs, timeout=30)

    def agg(mode: str, key: str, fn=statistics.median) -> float:
        return fn([r[key] for r in results[mode]])

    render_per_cue = agg("panel", "wall_s") / args.cues
    table = [
        "| mode | cues | rounds | wall (median) | longest GUI stall (max) | p99 timer gap | timer ticks/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for mode in ("panel", "blocking"):
        ticks_per_s = statistics.median(r["ticks"] / r["wall_s"] for r in results[mode])
        table.append(f"| {mode} | {args.cues} | {len(results[mode])} | {agg(mode, 'wall_s'):.2f} s | "
                     f"{agg(mode, 'max_gap_ms', max):.0f} ms | {agg(mode, 'p99_gap_ms'):.0f} ms | {ticks_per_s:.0f} |")
    stall_ratio = agg("blocking", "max_gap_ms", max) / max(agg("panel", "max_gap_ms", max), 1e-9)
    wall_ratio = agg("panel", "wall_s") / agg("blocking", "wall_s")
    table += ["", f"blocking ÷ panel, longest stall: **{stall_ratio:.0f}×**; panel ÷ blocking, wall time: "
                  f"**{wall_ratio:.2f}×** (the worker thread costs no render time)", "",
              "| per cue | median | ratio |", "|---|---:|---:|",
              f"| natural length (`explain`, ratio column) | {statistics.median(explain_s) * 1000:.0f} ms | 1× |",
              f"| full render (Render all ÷ cues) | {render_per_cue * 1000:.0f} ms | "
              f"{render_per_cue / statistics.median(explain_s):.0f}× |"]
    text = "\n".join(table)
    print(text)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    note = ("Timings taken on a shared, loaded 2-core machine (other jobs running); compare the ratios, "
            "measured side by side in one run.\n\n")
    (out / "panel.md").write_text("# Casting panel: GUI responsiveness while rendering\n\n"
                                  "`QT_QPA_PLATFORM=offscreen python bench/panel_bench.py "
                                  f"--cues {args.cues} --rounds {args.rounds}`\n\n" + note + text + "\n", "utf-8")
    if args.json:
        print(json.dumps({"results": results, "explain_s": explain_s}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
