"""An audio-only CMX 3600 EDL of the takes.

The stock EDL writer (otio-cmx3600-adapter 1.0.0) writes only the first track, wants exactly one
video track, and silently drops audio tracks — so an EDL cannot carry the dub track through it.
This writes the takes as audio events instead: one channel per lane (A, A2, A3 …), record timecode
from the timeline's start timecode (01:00:00:00 stays 01:00:00:00), source timecode from 00:00:00:00
of each take file, and the file named in FROM CLIP NAME / FROM FILE comments so an editor relinks it.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Sequence

from takefit.otio_adapters import rates
from takefit.otio_adapters.place import Placement, assign_lanes


def channel(lane: int) -> str:
    return "A" if lane == 0 else f"A{lane + 1}"


def write_to_string(placements: Sequence[Placement], rate: Fraction, start: int, title: str) -> str:
    """The EDL text. `start`: the timeline's first frame as a timecode frame number."""
    lanes = assign_lanes([(p.start, p.end) for p in placements])
    events = sorted(zip(placements, lanes), key=lambda x: (x[0].start, x[1]))
    lines = [f"TITLE: {title}", "FCM: NON-DROP FRAME", ""]
    for n, (p, lane) in enumerate(events, 1):
        src_in, src_out = rates.timecode(0, rate), rates.timecode(p.duration, rate)
        rec_in, rec_out = rates.timecode(start + p.start, rate), rates.timecode(start + p.end, rate)
        lines.append(f"{n:03d}  AX       {channel(lane):<5} C        {src_in} {src_out} {rec_in} {rec_out}")
        lines.append(f"* FROM CLIP NAME:  {p.path.name}")
        lines.append(f"* FROM FILE: {p.path.resolve()}")
        lines.append("")
    return "\n".join(lines)
