"""What a timeline from outside may be before anything parses or renders it: nesting depth, slot
length, extent. Timelines arrive from other people's machines (a watch folder, a shared drive), so
each limit stops one way a file could crash the reader or fill the disk, and names itself.
"""
from __future__ import annotations

import io
import json
import math
import os
import sys
import zipfile
from fractions import Fraction
from pathlib import Path

from takefit.engine.errors import InputError
from takefit.engine.request import MAX_TAKE_SECONDS

# OTIO's JSON reader (RapidJSON, recursive) overflows the C stack somewhere past ten thousand levels
# and takes the whole process down (a segfault, no exception). Python's own JSON parser counts its
# depth and raises RecursionError at the interpreter's recursion limit (1,000) instead: real timelines
# nest a few dozen deep (timeline → stack → track → clip → reference → metadata).


def check_otio_json(path: Path, adapter: str) -> None:
    """Refuse an .otio / .otioz whose JSON nests too deep for the reader (it would crash, not raise). (An
    .otiod folder never gets here: formats.read takes files only.)"""
    p = Path(path)
    try:
        if adapter == "otio_json":
            data = p.read_bytes()
        elif adapter == "otioz":
            with zipfile.ZipFile(io.BytesIO(p.read_bytes())) as z:
                data = z.read("content.otio")
        else:
            return
    except (OSError, KeyError, zipfile.BadZipFile, ValueError):
        return                         # the reader itself says what is wrong with it
    try:
        json.loads(data)
    except RecursionError:
        raise InputError(f"cannot read {p}: its JSON nests deeper than {sys.getrecursionlimit()} levels; a "
                         f"timeline nests a few dozen: the file is damaged or not a timeline") from None
    except ValueError:
        return                         # not JSON: the reader says what is wrong with it


# A slot is one line of dialogue; the longest reads in a scene run a minute or two. The engine renders
# at most MAX_TAKE_SECONDS, so a lower setting is all the environment may choose.
MAX_SLOT_SECONDS = MAX_TAKE_SECONDS
ENV_MAX_SLOT = "TAKEFIT_MAX_SLOT_SECONDS"
# Everything a dub writes is laid out on the timeline: its stem is as long as the last cue's end.
# 12 hours covers a season block laid end to end; a cue at 99:59:59 (a typo, an SRT offset) does not.
MAX_EXTENT_SECONDS = 12 * 3600
ENV_MAX_EXTENT = "TAKEFIT_MAX_EXTENT_HOURS"


def _setting(name: str, default: float, low: float, high: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not low <= value <= high:             # NaN fails both comparisons
        raise InputError(f"${name}={raw!r}: give a number from {low:g} to {high:g} (default {default:g})")
    return value


def max_slot_seconds() -> float:
    """The longest slot a cue may have ($TAKEFIT_MAX_SLOT_SECONDS, 1–600, default 600)."""
    return _setting(ENV_MAX_SLOT, MAX_SLOT_SECONDS, 1, MAX_TAKE_SECONDS)


def max_extent_seconds() -> float:
    """How far after the timeline's start a cue may end ($TAKEFIT_MAX_EXTENT_HOURS, 0.01–48, default 12 h)."""
    return 3600 * _setting(ENV_MAX_EXTENT, MAX_EXTENT_SECONDS / 3600, 0.01, 48)


def slot_problems(start: int, duration: int, rate: Fraction) -> list[str]:
    """Why a slot at `start` frames lasting `duration` frames cannot be dubbed (empty: it can)."""
    problems = []
    if start < 0:             # an FCP7 <in>-100</in>, a marker before a start timecode: no frame holds it
        problems.append(f"it starts {float(Fraction(-start) / rate):.2f} s before the timeline's first frame: fix "
                        f"the cue's time in the editor")
    if duration < 0:
        problems.append(f"it ends {float(Fraction(-duration) / rate):.2f} s before it starts (out before in): fix "
                        f"the cue's times in the editor")
    seconds, longest = Fraction(duration) / rate, max_slot_seconds()
    if seconds > longest:
        problems.append(f"the slot is {float(seconds):.0f} s long; a line's slot may last at most {longest:g} s "
                        f"(${ENV_MAX_SLOT}, at most {MAX_TAKE_SECONDS}): split the line into several cues")
    end, extent = Fraction(start + duration) / rate, max_extent_seconds()
    if end > extent:
        problems.append(f"it ends {float(end) / 3600:.1f} h after the timeline's start; takefit lays takes out over "
                        f"at most {extent / 3600:g} h (a cue that far out is usually a typo in its time, or an offset "
                        f"such as 99:59:59): fix the cue's time, split the timeline, or raise ${ENV_MAX_EXTENT}")
    return problems


def extent_frames(rate: Fraction) -> int:
    """The most frames a stem covers: the extent limit at `rate`."""
    return int(Fraction(max_extent_seconds()) * rate)
