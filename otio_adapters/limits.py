"""What a timeline from outside may be before anything parses or renders it: nesting depth, slot
length, extent. Timelines arrive from other people's machines (a watch folder, a shared drive), so
each limit stops one way a file could crash the reader or fill the disk, and names itself.
"""
from __future__ import annotations

import io
import json
import sys
import zipfile
from fractions import Fraction
from pathlib import Path

from takefit.engine.errors import InputError

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


# A slot is one line of dialogue; the longest reads in a scene run a minute or two.
MAX_SLOT_SECONDS = 600
# Everything a dub writes is laid out on the timeline: its stem is as long as the last cue's end.
# 12 hours covers a season block laid end to end; a cue at 99:59:59 (a typo, an SRT offset) does not.
MAX_EXTENT_SECONDS = 12 * 3600


def slot_problems(start: int, duration: int, rate: Fraction) -> list[str]:
    """Why a slot at `start` frames lasting `duration` frames cannot be dubbed (empty: it can)."""
    problems = []
    seconds = Fraction(duration) / rate
    if seconds > MAX_SLOT_SECONDS:
        problems.append(f"the slot is {float(seconds):.0f} s long; a line's slot may last at most {MAX_SLOT_SECONDS} s "
                        f"({MAX_SLOT_SECONDS // 60} min): split the line into several cues")
    end = Fraction(start + duration) / rate
    if end > MAX_EXTENT_SECONDS:
        problems.append(f"it ends {float(end) / 3600:.1f} h after the timeline's start; takefit lays takes out over "
                        f"at most {MAX_EXTENT_SECONDS // 3600} h (a cue that far out is usually a typo in its time, "
                        f"or an offset such as 99:59:59): fix the cue's time, or split the timeline")
    return problems


def extent_frames(rate: Fraction) -> int:
    """The most frames a stem covers: MAX_EXTENT_SECONDS at `rate`."""
    return int(MAX_EXTENT_SECONDS * rate)
