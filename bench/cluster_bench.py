"""takefit dub on Ray vs in-process: 100 cues across 4 timelines, each mode with a cold cache.

    .venv/bin/python bench/cluster_bench.py [--cues 100] [--timelines 4] [--rounds 3] [--modes …] [--out …json]

Modes (same timelines, each its own empty cache, so every cue renders):
    local ×1    the engine in this process, one 1-thread session
    local ×2    the engine in this process, two 1-thread sessions (takefit dub's default on 2 cores)
    ray ×1      a Ray cluster on this machine, one actor of 1 thread
    ray ×2      a Ray cluster on this machine, two actors of 1 thread
    ray 1×2     a Ray cluster on this machine, one actor rendering 2 lines at once (--lines-per-actor 2)
    ray ×2 +h   ray ×2 with Ray's helpers left running (log monitor, autoscaler monitor, dashboard head:
                renderer.LOCAL_UNUSED_PROCESSES, which a local cluster stops), as it ran before (`ray2h`)
Wall time is the dubbing (timelines, takes, stems, reports), with the engine or the actors already
loaded (start-up is reported beside it); overhead per cue compares Ray with local at the same engine
count, as the median of the rounds' ratios (each round runs the modes in turn, every other round in the
reverse order, so a load that drifts over a round weighs on both sides). The driver's CPU per cue (this
process: cache, transfer, filing, timeline and stem writes) is what bounds a cluster of many machines;
the projection divides by it. The machine is noisy (rounds spread over ±5 %): run several rounds.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

WORDS = ["Roll camera.", "Quiet on set.", "Hello there.", "Good morning.", "Action.", "Once more, please.",
         "That's a wrap.", "Where is she?", "Not today.", "Follow me.", "Keep moving.", "I told you so."]


def srt(lines: list[str], slot: float = 1.2, gap: float = 0.3) -> str:
    def ts(t: float) -> str:
        ms = round(t * 1000)
        return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

    return "\n".join(f"{i}\n{ts(1 + (i - 1) * (slot + gap))} --> {ts(1 + (i - 1) * (slot + gap) + slot)}\n{t}\n"
                     for i, t in enumerate(lines, 1))


def write_timelines(folder: Path, cues: int, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(count):
        lines = [f"{WORDS[(k * 7 + i) % len(WORDS)]} {k}-{i}." for i in range(cues // count)]
        path = folder / f"ep{k + 1}.srt"
        path.write_text(srt(lines), "utf-8")
        paths.append(path)
    return paths


def tree_cpu_s() -> float:
    """CPU seconds of this process and every process under it (a `local` Ray cluster's GCS, raylet and
    actors are), from /proc: on a machine shared with other work the CPU a dub costs is steadier than
    its wall time. 0 where there is no /proc."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    children: dict[int, list[int]] = {}
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry.parent.name), int(fields[1])
        stats[pid] = (ppid, (int(fields[11]) + int(fields[12])) / tick)
        children.setdefault(ppid, []).append(pid)
    total, todo = 0.0, [os.getpid()]
    while todo:
        pid = todo.pop()
        total += stats.get(pid, (0, 0.0))[1]
        todo.extend(children.get(pid, []))
    return total


def dub(paths: list[Path], renderer, at_once: int) -> dict:
    from takefit.bridges.dub import pipeline
    from takefit.bridges.dub.season import run_all

    jobs = []
    for p in paths:
        opts = pipeline.DubOptions(p, rate="25", jobs=max(2, int(getattr(renderer, "max_in_flight", 2))))
        jobs.append((opts, pipeline.plan(opts)))
    tree0, cpu0, t0 = tree_cpu_s(), time.process_time(), time.perf_counter()
    ends = run_all(jobs, renderer, at_once)
    wall, cpu, tree = time.perf_counter() - t0, time.process_time() - cpu0, tree_cpu_s() - tree0
    for end in ends:
        if end.error is not None:
            raise end.error
    cues = sum(len(e.report.results) for e in ends)
    failed = sum(e.report.count("failed") for e in ends)
    return {"cues": cues, "failed": failed, "wall_s": wall, "cues_per_s": cues / wall, "driver_cpu_s": cpu,
            "driver_cpu_per_cue_ms": 1000 * cpu / cues, "all_cpu_per_cue_ms": 1000 * tree / cues}


def local_mode(paths: list[Path], cache: Path, sessions: int) -> dict:
    from takefit.bridges.dub.render import InProcessRenderer
    from takefit.engine.cache import TakeCache

    r = InProcessRenderer(cache=TakeCache(cache), threads=sessions, parallel=sessions)
    t0 = time.perf_counter()
    _ = r.engine
    start = time.perf_counter() - t0
    return {"start_s": start, **dub(paths, r, at_once=1)}


def ray_mode(paths: list[Path], cache: Path, actors: int, lines: int = 1, helpers: bool = False) -> dict:
    from takefit.bridges.cluster import renderer as rr
    from takefit.bridges.cluster.address import parse

    t0 = time.perf_counter()
    opts = rr.ClusterOptions(parse("local"), actors=actors, lines_per_actor=lines, local_cpus=2)
    unused = rr.LOCAL_UNUSED_PROCESSES
    rr.LOCAL_UNUSED_PROCESSES = () if helpers else unused
    try:
        r = rr.cluster_renderer(opts, cache_dir=cache)
    finally:
        rr.LOCAL_UNUSED_PROCESSES = unused
    start = time.perf_counter() - t0
    try:
        return {"start_s": start, **dub(paths, r, at_once=len(paths)), "retried": r.retried}
    finally:
        r.close()


def projection(rows: dict) -> list[str]:
    """N machines of C cores from the measured per-cue costs: the workers scale, the driver does not."""
    ray2 = rows["ray ×2"]
    per_engine = 2 / ray2["cues_per_s"]             # seconds of one 1-thread engine per cue, as measured
    driver = ray2["driver_cpu_per_cue_ms"] / 1000   # this machine's CPU per cue: transfer, cache, filing, writes
    take_bytes = 4 * 48000 * 1.2                     # float32 samples of one 1.2 s take
    out = [(f"one 1-thread engine: {per_engine:.2f} s per cue; the driver: {1000 * driver:.1f} ms of CPU per cue; "
            f"a take travels as {take_bytes / 1e3:.0f} kB")]
    for machines in (1, 4, 16, 64):
        engines = machines * 16
        workers = engines / per_engine
        bound = 1 / driver
        net = 125e6 / take_bytes                     # 1 Gbit/s into the driver
        out.append(f"{machines:3d} × 16-core machines: {engines:5d} engines → {min(workers, bound, net):7.1f} cues/s "
                   f"(workers {workers:.0f}, driver {bound:.0f}, 1 Gbit/s link {net:.0f})")
    return out


def median_row(runs: list[dict]) -> dict:
    """The run of median wall time, with every run's wall time beside it."""
    ordered = sorted(runs, key=lambda r: r["wall_s"])
    return {**ordered[len(ordered) // 2], "walls_s": [r["wall_s"] for r in runs]}


def overheads(runs: dict[str, list[dict]], name: str) -> list[float]:
    """Ray's wall over local's at the same engine count, round by round: the rounds alternate the modes,
    so a load that comes and goes on the machine weighs on both sides of each ratio."""
    local = runs[BASELINE[name]]
    return [r["wall_s"] / b["wall_s"] - 1 for r, b in zip(runs[name], local)]


def print_table(runs: dict[str, list[dict]], rows: dict[str, dict]) -> None:
    print(f"\n{'mode':10} {'start s':>8} {'wall s (median)':>16} {'cues/s':>7} {'driver ms/cue':>14} "
          f"{'CPU ms/cue':>11} {'overhead/cue (median of rounds)':>32}")
    for name, r in rows.items():
        over = ""
        if name.startswith("ray"):
            ratios = sorted(overheads(runs, name))
            mid = ratios[len(ratios) // 2]
            base = rows[BASELINE[name]]["wall_s"]
            over = (f"{1000 * mid * base / r['cues']:+.0f} ms ({100 * mid:+.1f} %; rounds "
                    + " ".join(f"{100 * x:+.1f}" for x in overheads(runs, name)) + ")")
        print(f"{name:10} {r['start_s']:8.1f} {r['wall_s']:16.1f} {r['cues_per_s']:7.2f} "
              f"{r['driver_cpu_per_cue_ms']:14.1f} {r['all_cpu_per_cue_ms']:11.0f} {over:>32}")
    for name in [n for n in BASELINE if n in runs]:
        local = runs[BASELINE[name]]
        ratios = sorted(r["all_cpu_per_cue_ms"] / b["all_cpu_per_cue_ms"] - 1 for r, b in zip(runs[name], local))
        print(f"CPU per cue, all processes, {name} vs local: {100 * ratios[len(ratios) // 2]:+.1f} % (median; rounds "
              + " ".join(f"{100 * x:+.1f}" for x in ratios) + ")")


MODES = {"local1": "local ×1", "local2": "local ×2", "ray1": "ray ×1", "ray2": "ray ×2", "ray1x2": "ray 1×2",
         "ray2h": "ray ×2 +h"}
BASELINE = {"ray ×1": "local ×1", "ray ×2": "local ×2", "ray 1×2": "local ×2",   # the same lines at once
            "ray ×2 +h": "local ×2"}


def selected_modes(spec: str) -> list[tuple[str, object]]:
    """The named modes with their runners; a Ray mode without the local one at its engine count is refused."""
    names = [x.strip() for x in spec.split(",") if x.strip()]
    unknown = [n for n in names if n not in MODES]
    if unknown or not names:
        raise SystemExit(f"--modes {spec!r}: accepted {', '.join(MODES)} (comma-separated)")
    keys = {label: key for key, label in MODES.items()}
    for n in names:
        base = BASELINE.get(MODES[n])
        if base and keys[base] not in names:
            raise SystemExit(f"--modes: {n} needs {keys[base]} beside it (its overhead is against it)")
    runners = {"local1": lambda p, c: local_mode(p, c, 1), "local2": lambda p, c: local_mode(p, c, 2),
               "ray1": lambda p, c: ray_mode(p, c, 1), "ray2": lambda p, c: ray_mode(p, c, 2),
               "ray1x2": lambda p, c: ray_mode(p, c, 1, lines=2), "ray2h": lambda p, c: ray_mode(p, c, 2, helpers=True)}
    return [(MODES[n], runners[n]) for n in names]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cues", type=int, default=100)
    ap.add_argument("--timelines", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the modes, interleaved (default 3)")
    ap.add_argument("--modes", default="local1,ray1,local2,ray2",
                    help="which modes, in the order of the first round: local1 local2 ray1 ray2 ray1x2 ray2h (default: "
                         "the first four; a Ray mode needs its local mode beside it for the overhead)")
    ap.add_argument("--out", type=Path, default=Path("bench/results/cluster_bench.json"))
    args = ap.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="takefit-cluster-bench-"))
    modes = selected_modes(args.modes)
    runs: dict[str, list[dict]] = {name: [] for name, _ in modes}
    for k in range(args.rounds):
        for name, run in (modes if k % 2 == 0 else modes[::-1]):
            tag = f"{name.replace(' ×', '')}-{k}"
            paths = write_timelines(root / tag, args.cues, args.timelines)
            runs[name].append(run(paths, root / f"cache-{tag}"))
            print(f"round {k + 1} {name}: {json.dumps({x: round(v, 3) for x, v in runs[name][-1].items()})}",
                  flush=True)
    rows = {name: median_row(runs[name]) for name in MODES.values() if name in runs}
    print_table(runs, rows)
    lines = projection(rows) if "ray ×2" in rows else []
    print("\nprojection:\n  " + "\n  ".join(lines))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows, "runs": runs, "projection": lines}, indent=1) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
