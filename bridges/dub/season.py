"""Several timelines in one dub run: each planned and written exactly as its own `pipeline.run` would,
sharing one renderer, with one progress count over the cues of all of them.

    reports = run_all([(opts_a, plan_a), (opts_b, plan_b)], renderer, at_once=2, progress=bar, finished=say)

With a renderer that takes many cues at once (a cluster), `at_once` timelines render side by side so
the workers never wait for one timeline's last cue; on this machine one after another is as fast.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from takefit.bridges.dub import pipeline
from takefit.bridges.dub.render import Renderer
from takefit.bridges.dub.report import CueResult, DubReport


@dataclass
class Finished:
    """One timeline's end: its report, or the error that stopped it."""

    opts: pipeline.DubOptions
    report: DubReport | None = None
    error: BaseException | None = None


class Tally:
    """Cues done over all timelines, for one progress bar (called from each timeline's thread)."""

    def __init__(self, total: int, progress: Callable[[int, int, CueResult], None] | None):
        self.total, self.done, self._progress = total, 0, progress
        self._lock = threading.Lock()

    def __call__(self, _done: int, _total: int, result: CueResult) -> None:
        with self._lock:
            self.done += 1
            if self._progress:
                self._progress(self.done, self.total, result)


def run_all(jobs: list[tuple[pipeline.DubOptions, pipeline.Plan]], renderer: Renderer, at_once: int = 1,
            progress: Callable[[int, int, CueResult], None] | None = None,
            finished: Callable[[Finished], None] | None = None) -> list[Finished]:
    """Every timeline dubbed (in the order given in the result); one that fails does not stop the others,
    except that the first error is what a caller re-raises (a lost cluster stops them all anyway)."""
    tally = Tally(sum(len(p.cues) for _, p in jobs), progress)
    lock = threading.Lock()

    def one(opts: pipeline.DubOptions, the_plan: pipeline.Plan) -> Finished:
        try:
            out = Finished(opts, report=pipeline.run(opts, renderer, progress=tally, the_plan=the_plan))
        except Exception as e:   # noqa: BLE001 — handed to the caller with its timeline, raised there
            out = Finished(opts, error=e)
        if finished:
            with lock:
                finished(out)
        return out

    if at_once <= 1 or len(jobs) == 1:
        return [one(o, p) for o, p in jobs]
    with ThreadPoolExecutor(min(at_once, len(jobs)), thread_name_prefix="takefit-season") as pool:
        return list(pool.map(lambda job: one(*job), jobs))
