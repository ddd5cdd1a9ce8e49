"""Benchmark the daemon: ping round trip, cached-take latency, render throughput through the daemon
vs the in-process engine (same run, same requests, alternating rounds), and the daemon's memory.

    python bench/daemon_bench.py [--renders 10] [--rounds 3] [--pings 2000] [--cached 200] [--shell 10] [--json]

It starts its own daemon (temp home, random loopback port) and stops it afterwards. Every render
request is distinct (the take cache cannot answer them); the cached-take rows ask one request again.
The in-process baseline is `Engine.render` + `write_wav` (what `takefit say` does), and also
`Engine.render` alone. Single renders are interleaved one by one with the in-process ones, so load
from other processes hits both alike; the last row is the daemon's own cost per render (client
wall time minus the engine's time inside the daemon), which no CPU contention can blur.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

LINES = ["The quick brown fox jumps over the lazy dog.",
         "Please hold the door for a moment.",
         "We used takefit to dub this video.",
         "Every line lands exactly on its cut.",
         "我们用 takefit 给视频配音。"]


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(q / 100 * (len(s) - 1)))))]


def ms(x: float) -> str:
    return f"{x * 1000:.3f} ms" if x < 0.01 else f"{x * 1000:.1f} ms"


def shell_round_trips(home: Path, n: int) -> list[float]:
    """Wall time of a whole `takefit say --daemon` process for a cached take: interpreter start, imports,
    the round trip and writing the WAV (what an editor's script or a keyboard shortcut pays)."""
    import os
    import subprocess

    env = {**os.environ, "TAKEFIT_DAEMON_HOME": str(home)}
    cmd = [sys.executable, "-m", "takefit.bridges.cli", "say", "A cached take comes back at once.", "--fit",
           "2.5s", "--daemon", "-o", str(home / "shell.wav")]
    walls = []
    for _ in range(n + 1):                      # the first may render; then every one is a cache hit
        t = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        walls.append(time.perf_counter() - t)
    return walls[1:]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--renders", type=int, default=8, help="renders per round and mode (default 8)")
    ap.add_argument("--rounds", type=int, default=4, help="rounds (default 4): renders × rounds distinct lines are "
                                                          "rendered each way, interleaved")
    ap.add_argument("--pings", type=int, default=2000)
    ap.add_argument("--cached", type=int, default=200)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--shell", type=int, default=10, help="`takefit say --daemon` processes timed (default 10)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from takefit.daemon import Client, connect, control
    from takefit.daemon.paths import Dirs
    from takefit.engine import Engine, RenderRequest, Target
    from takefit.engine.audio import write_wav

    home = Path(tempfile.mkdtemp(prefix="takefit-bench-"))
    dirs = Dirs.resolve(home)
    rows: list[tuple[str, str]] = []
    out: dict = {}
    try:
        t0 = time.perf_counter()
        info = control.start(dirs, ["--bind", "tcp://127.0.0.1:*", "--workers", str(args.workers)], timeout=180)
        with Client(home_dirs=dirs, timeout=120) as c:
            c.voices()                                       # answered once the engine is loaded
            ready = time.perf_counter() - t0
            idle_rss = c.health()["rss_bytes"]
        tcp = next(e for e in info["endpoints"] if e.startswith("tcp://"))
        ipc = next((e for e in info["endpoints"] if e.startswith("ipc://")), None)
        out["start_to_ready_s"] = ready

        # ---------------------------------------------------------------- ping
        for name, ep in (("ipc", ipc), ("tcp", tcp)):
            if ep is None:
                continue
            with Client(ep, home_dirs=dirs, timeout=10) as c:
                c.connect()
                for _ in range(200):
                    c.ping()
                rtt = [c.ping() for _ in range(args.pings)]
            out[f"ping_{name}"] = {"p50": pct(rtt, 50), "p99": pct(rtt, 99)}
            rows.append((f"ping round trip ({name}), p50 / p99", f"{ms(pct(rtt, 50))} / {ms(pct(rtt, 99))}"))

        # ---------------------------------------------------------------- cached take
        with Client(home_dirs=dirs, timeout=60) as c:
            first = c.render("A cached take comes back at once.", target="2.5s")
            for inline in (False, True):
                lat = []
                for _ in range(args.cached):
                    t = time.perf_counter()
                    r = c.render("A cached take comes back at once.", target="2.5s", inline=inline)
                    lat.append(time.perf_counter() - t)
                    assert r.cached and r.samples == first.samples
                key = "cached_inline" if inline else "cached"
                out[key] = {"p50": pct(lat, 50), "p99": pct(lat, 99), "first_render_s": first.timings["total"]}
                rows.append((f"cached take{' + inline WAV bytes' if inline else ''} (render → result), p50 / p99",
                             f"{ms(pct(lat, 50))} / {ms(pct(lat, 99))}"))
        rows.append(("  (the same take rendered the first time)", f"{first.timings['total'] * 1000:.0f} ms"))
        shell = shell_round_trips(home, args.shell)
        out["cached_shell"] = {"p50": pct(shell, 50), "max": max(shell)}
        rows.append((f"cached take from the shell: `takefit say --daemon` process, start → WAV written "
                     f"(×{args.shell}), p50 / max", f"{ms(pct(shell, 50))} / {ms(max(shell))}"))

        # ---------------------------------------------------------------- throughput
        engine = Engine()
        engine.render(RenderRequest(LINES[0], target=Target.parse("1.05x")))   # warm up (lazy loads)
        wavdir = home / "inproc"
        wavdir.mkdir()
        counter = iter(range(1, 10 ** 9))

        def next_requests(n):
            out_ = []
            for i in range(n):
                k = next(counter)
                ratio = Fraction(105, 100) + Fraction(k, 100000)          # distinct: no cache hits
                out_.append((LINES[k % len(LINES)], f"{ratio}x"))
            return out_

        # interleaved one by one (engine, daemon, daemon, engine, …) so CPU contention from anything
        # else on the machine hits both sides alike; then blocks for render_batch
        n = args.renders * args.rounds
        t_engine, t_engine_wav, t_daemon, inside = 0.0, 0.0, 0.0, []
        with Client(home_dirs=dirs, timeout=120) as c:
            c.render(LINES[1], target="1.02x")                                  # warm the daemon's engine too

            def in_process(text, tgt, i):
                t = time.perf_counter()
                take = engine.render(RenderRequest(text, target=Target.parse(tgt)))
                mid = time.perf_counter()
                write_wav(wavdir / f"{i}.wav", take.audio, take.sample_rate,
                          comment=f"synthetic speech (takefit, voice {take.voice})", title=take.text[:200])
                return mid - t, time.perf_counter() - t

            def daemon(text, tgt):
                t = time.perf_counter()
                r = c.render(text, target=tgt)
                wall = time.perf_counter() - t
                assert not r.cached
                inside.append((wall - r.timings["total"], r.timings["total"]))
                return wall

            for i, ((text, tgt), (text2, tgt2)) in enumerate(zip(next_requests(n), next_requests(n))):
                if i % 2:
                    bare, full = in_process(text, tgt, i)
                    t_daemon += daemon(text2, tgt2)
                else:
                    t_daemon += daemon(text2, tgt2)
                    bare, full = in_process(text, tgt, i)
                t_engine += bare
                t_engine_wav += full
            batch_rates, block_rates = [], []
            for rnd in range(args.rounds):
                reqs = next_requests(args.renders)
                t = time.perf_counter()
                for i, (text, tgt) in enumerate(reqs):
                    take = engine.render(RenderRequest(text, target=Target.parse(tgt)))
                    write_wav(wavdir / f"b{rnd}-{i}.wav", take.audio, take.sample_rate,
                              comment=f"synthetic speech (takefit, voice {take.voice})", title=take.text[:200])
                block_rates.append(args.renders / (time.perf_counter() - t))
                reqs = next_requests(args.renders)
                t = time.perf_counter()
                res = c.render_batch([{"text": text, "target": tgt} for text, tgt in reqs])
                assert all(not isinstance(r, Exception) and not r.cached for r in res)
                batch_rates.append(args.renders / (time.perf_counter() - t))
            busy_rss = c.health()["rss_bytes"]
        rate_engine, rate_wav, rate_daemon = n / t_engine, n / t_engine_wav, n / t_daemon
        over_seq = (rate_wav / rate_daemon - 1) * 100
        med_block, med_batch = statistics.median(block_rates), statistics.median(batch_rates)
        over_batch = (med_block / med_batch - 1) * 100
        per_render = statistics.median(o for o, _ in inside)
        engine_med = statistics.median(e for _, e in inside)
        out["throughput_renders_per_s"] = {"engine": rate_engine, "engine_wav": rate_wav, "daemon_seq": rate_daemon,
                                           "engine_wav_blocks": block_rates, "daemon_batch_blocks": batch_rates}
        out["overhead_seq_pct"] = over_seq
        out["overhead_batch_pct"] = over_batch
        out["daemon_overhead_per_render_s"] = per_render
        rows.append((f"throughput, in-process Engine.render ({n} distinct lines)", f"{rate_engine:.3f} renders/s"))
        rows.append(("throughput, in-process Engine.render + write_wav (baseline)", f"{rate_wav:.3f} renders/s"))
        rows.append(("throughput, through the daemon, one render() at a time (interleaved)",
                     f"{rate_daemon:.3f} renders/s (overhead {over_seq:+.1f} %)"))
        rows.append((f"throughput, daemon render_batch vs in-process blocks ({args.rounds} × {args.renders}, "
                     "median)", f"{med_batch:.3f} vs {med_block:.3f} renders/s (overhead {over_batch:+.1f} %)"))
        rows.append(("daemon overhead per render: client wall − engine time, median",
                     f"{per_render * 1000:.1f} ms = {per_render / engine_med * 100:.2f} % of a "
                     f"{engine_med * 1000:.0f} ms render"))
        out["rss_idle_bytes"] = idle_rss
        out["rss_after_bytes"] = busy_rss
        rows.append(("daemon RSS, idle (engine loaded, nothing rendered yet)", f"{idle_rss / 2 ** 20:.0f} MiB"))
        rows.append(("daemon RSS, idle after the benchmark", f"{busy_rss / 2 ** 20:.0f} MiB"))
        rows.append(("daemon start → engine ready", f"{ready:.1f} s"))
    finally:
        if control.lock_held(dirs):
            connect.stop(dirs, timeout=30)
        shutil.rmtree(home, ignore_errors=True)

    if args.json:
        print(json.dumps(out, indent=1))
    else:
        w = max(len(a) for a, _ in rows)
        print(f"| {'measure':<{w}} | value |")
        print(f"|{'-' * (w + 2)}|-------|")
        for a, b in rows:
            print(f"| {a:<{w}} | {b} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
