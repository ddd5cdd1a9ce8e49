"""engine/enroll/heap.py: while an enrollment runs, a big block freed and taken again reuses mapped pages
(no fresh page faults); before and after it, glibc's defaults (a fresh mmap each time) are back."""
from __future__ import annotations

import resource
import subprocess
import sys

import pytest

from takefit.engine.enroll import heap

pytestmark = pytest.mark.skipif(heap._libc() is None, reason="glibc's mallopt (Linux) only")
BLOCK = 48 * 1024 * 1024          # over glibc's largest mmap threshold (32 MB): mmapped by default


PROBE = r"""
import ctypes, resource, sys
from takefit.engine.enroll import heap

BLOCK = int(sys.argv[1])
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]


def faults_of_reuse():
    first = libc.malloc(BLOCK)
    ctypes.memset(first, 1, BLOCK)
    libc.free(first)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    again = libc.malloc(BLOCK)
    ctypes.memset(again, 2, BLOCK)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    libc.free(again)
    return after - before


counts = [faults_of_reuse()]
with heap.kept_heap():
    with heap.kept_heap():          # nested (two enrollments): still kept inside
        pass
    counts.append(faults_of_reuse())
counts.append(faults_of_reuse())
print(*counts)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux page-fault counts")
def test_a_kept_heap_reuses_its_pages_and_the_defaults_come_back():
    """Minor page faults of writing a BLOCK taken again just after the same size was freed, in a fresh
    process (one that has run other work may hold a free block that size in its heap already)."""
    out = subprocess.run([sys.executable, "-c", PROBE, str(BLOCK)], capture_output=True, text=True, check=True,
                         timeout=120)
    default, kept, after = map(int, out.stdout.split())
    pages = BLOCK // resource.getpagesize()
    assert default > pages // 2                    # glibc's default: unmapped, touched afresh
    assert kept < pages // 20                      # the same pages again
    assert after > pages // 2                      # the defaults are back, the heap trimmed


def test_an_enrollment_runs_in_a_kept_heap_and_hands_it_back():
    calls = []

    @heap.returns_freed_memory
    def work(x):
        calls.append(heap._holders)
        return x * 2

    assert work(21) == 42 and calls == [1] and heap._holders == 0
