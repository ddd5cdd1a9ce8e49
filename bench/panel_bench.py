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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cues", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=2, help="rounds of each mode, alternating (default 2)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

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
