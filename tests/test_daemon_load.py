"""Load: 8 concurrent clients × 3 renders each, every request distinct (the take cache cannot answer
any of them) → every job answered exactly once, every take exactly its length, none lost.

The renders are real but tiny (one-word lines, about their natural length): 24 takes, each fitted as users'
takes are by default (auto: one measured render, the rest stretched; each line's natural render is cached
after its first). Eight clients keep the queue full from the first request to the last, so more renders
per client add time, not checks: 8×25 took 5.8 minutes on an AVX2 2-core machine beside the other
pytest-xdist worker, 8×12 three, 8×6 1.5 (all fitted by "model": two measured renders each).
"""
from __future__ import annotations

import threading
from collections import Counter
from fractions import Fraction

import pytest

from test_daemon_support import daemon  # noqa: F401 (fixture)

TEXTS = ("A.", "I.", "O.", "E.")


@pytest.mark.slow
@pytest.mark.parametrize("CLIENTS,RENDERS", [pytest.param(8, 3, id="8x3")])
def test_concurrent_clients_every_job_answered_once_exact_lengths(daemon, CLIENTS, RENDERS):

    results: dict[int, list] = {k: [] for k in range(CLIENTS)}
    expected: dict[int, list] = {k: [] for k in range(CLIENTS)}
    errors: list = []
    start = threading.Barrier(CLIENTS)

    def run(k: int) -> None:
        try:
            with daemon.client(timeout=30) as c:
                c.connect()
                start.wait(60)
                for i in range(RENDERS):
                    # a distinct target per request: the line's natural length + (client, i) × 1/4800 s
                    # (10 samples apart at 48 kHz; the default method, auto)
                    n = k * RENDERS + i
                    seconds = natural[n % len(TEXTS)] + Fraction(n, 4800)
                    expected[k].append(int(seconds * 48000 + Fraction(1, 2)))
                    r = c.render(TEXTS[n % len(TEXTS)], target=f"{seconds}s", loudness=None)
                    results[k].append(r)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append((k, e))

    with daemon.client() as c:
        before = c.health()["stats"]
        natural = [Fraction(str(c.explain(t)["natural_seconds"])) for t in TEXTS]
    threads = [threading.Thread(target=run, args=(k,), name=f"load-{k}") for k in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(900)
    assert not errors, errors[:3]
    jobs = [r.job for k in results for r in results[k]]
    assert len(jobs) == CLIENTS * RENDERS and len(set(jobs)) == len(jobs)      # each answered once
    for k in range(CLIENTS):
        assert [r.samples for r in results[k]] == expected[k]                     # exact, in order
        assert not any(r.cached for r in results[k])
    with daemon.client() as c:
        h = c.health()
        after = h["stats"]
        assert after["rendered"] - before["rendered"] == CLIENTS * RENDERS        # none lost, none doubled
        assert h["queue"]["queued"] == 0 and h["queue"]["running"] == 0
        states = Counter(c.job(j)["state"] for j in jobs[:: max(1, len(jobs) // 20)])
        assert set(states) == {"done"}
