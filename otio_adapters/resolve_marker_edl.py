"""OTIO adapter: the EDL DaVinci Resolve exports for timeline markers (Timelines > Export > Timeline
Markers to EDL) ↔ timeline markers.

Resolve writes each marker as a one-frame event whose record-in is the marker position, followed by

    Note text |C:ResolveColorBlue |M:Marker name |D:36

(note before the first `|`, colour, name, duration in frames). The stock CMX 3600 reader turns these
into 1-frame clips; this one makes markers with colour, name, note (as the comment) and duration.

EDLs carry no frame rate: pass `rate=` (default 24; 29.97 means 30000/1001). The timeline start is
not in the file either: `start="auto"` takes the hour the first marker lies in (01:00:00:00 for
Resolve's default), or give a timecode.

No suffix is registered (".edl" belongs to cmx_3600): name the adapter, e.g.
`otio.adapters.read_from_file("markers.edl", adapter_name="resolve_marker_edl", rate=25)`;
`takefit dub` recognises these files by their content.
"""
from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from takefit.otio_adapters import rates
from takefit.otio_adapters.extract import extract
from takefit.otio_adapters.srt import decode, first_timeline

_EVENT = re.compile(r"^\s*(\d+)\s+\S+\s+\S+\s+\S+\s+(?:\S+\s+)?"
                    r"(\d\d[:;.]\d\d[:;.]\d\d[:;.]\d\d)\s+(\d\d[:;.]\d\d[:;.]\d\d[:;.]\d\d)\s+"
                    r"(\d\d[:;.]\d\d[:;.]\d\d[:;.]\d\d)\s+(\d\d[:;.]\d\d[:;.]\d\d[:;.]\d\d)\s*$")
_MARK = re.compile(r"^(?P<note>.*?)\s*\|C:(?P<color>[^|]*?)\s*\|M:(?P<name>.*?)\s*\|D:(?P<dur>\d+)\s*$")

# Resolve's sixteen marker colours → OTIO's eleven (the exact name stays in metadata["resolve"])
RESOLVE_TO_OTIO = {
    "blue": "BLUE", "cyan": "CYAN", "green": "GREEN", "yellow": "YELLOW", "red": "RED", "pink": "PINK",
    "purple": "PURPLE", "fuchsia": "MAGENTA", "rose": "PINK", "lavender": "PURPLE", "sky": "CYAN",
    "mint": "GREEN", "lemon": "YELLOW", "sand": "ORANGE", "cocoa": "ORANGE", "cream": "WHITE",
}
OTIO_TO_RESOLVE = {"BLUE": "Blue", "CYAN": "Cyan", "GREEN": "Green", "YELLOW": "Yellow", "RED": "Red",
                   "PINK": "Pink", "PURPLE": "Purple", "MAGENTA": "Fuchsia", "ORANGE": "Sand",
                   "BLACK": "Cocoa", "WHITE": "Cream"}


class ResolveMarkerEDLParseError(otio.exceptions.OTIOError):
    pass


def looks_like(text: str) -> bool:
    """True for a Resolve marker EDL (used to pick this adapter over cmx_3600 for a .edl)."""
    return any(_MARK.match(line.strip()) for line in text.splitlines()[:400])


def _frames(tc: str, rate: Fraction, drop: bool) -> int:
    tc = tc.replace(".", ":")
    if drop and ";" not in tc:
        tc = tc[:8] + ";" + tc[9:]
    try:
        return rates.frames(otio.opentime.from_timecode(tc, rates.otio_rate(rate)), rate)
    except (ValueError, TypeError) as e:
        raise ResolveMarkerEDLParseError(f"bad timecode {tc!r} at {rate} fps: {e}") from None


def read_from_string(input_str: str, rate=24, start="auto", name: str | None = None):
    fps = rates.parse(rate)
    lines = input_str.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff").split("\n")
    title, drop = None, False
    found: list[tuple[int, str, str, str, int]] = []  # (record frame, note, colour, name, duration)
    event = None
    pending_note: list[str] = []
    for no, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        if line.upper().startswith("TITLE:"):
            title = line[6:].strip()
            continue
        if line.upper().startswith("FCM:"):
            drop = "NON" not in line.upper() and "DROP" in line.upper()
            continue
        m = _EVENT.match(line)
        if m:
            event = _frames(m.group(4), fps, drop)
            pending_note = []
            continue
        mk = _MARK.match(line)
        if mk:
            if event is None:
                raise ResolveMarkerEDLParseError(f"line {no}: a marker line before any event: {line!r}")
            note = "\n".join(pending_note + ([mk.group("note")] if mk.group("note") else [])).strip()
            found.append((event, note, mk.group("color").strip(), mk.group("name").strip(), int(mk.group("dur"))))
            event, pending_note = None, []
        elif event is not None:
            pending_note.append(line)  # a note written over several lines
    if start in (None, "", "auto"):
        hour = _frames("01:00:00:00", fps, drop)  # in timecode frames (108000 at 29.97 NDF)
        first = min((f for f, *_ in found), default=0)
        tl_start = (first // hour) * hour if hour else 0
    elif isinstance(start, int):
        tl_start = start
    else:
        tl_start = _frames(str(start), fps, drop or ";" in str(start))
    tl = otio.schema.Timeline(name=name or title or "markers", global_start_time=rates.rt(tl_start, fps))
    tl.metadata["resolve_marker_edl"] = {"rate": rates.rate_text(fps), "drop_frame": drop}
    for frame, note, color, mname, dur in found:
        short = color.lower().removeprefix("resolvecolor")
        tl.tracks.markers.append(otio.schema.Marker(
            name=mname, marked_range=rates.time_range(frame - tl_start, dur, fps),
            color=RESOLVE_TO_OTIO.get(short, "BLUE"), comment=note,
            metadata={"resolve": {"color": color, "note": note, "duration": dur}}))
    return tl


def read_from_file(filepath: str, rate=24, start="auto"):
    return read_from_string(decode(Path(filepath).read_bytes()), rate=rate, start=start, name=None)


def write_to_string(input_otio, rate=None) -> str:
    """Timeline and clip markers as a Resolve marker EDL (re-importable with Timelines > Import >
    Timeline Markers from EDL)."""
    timeline = first_timeline(input_otio)
    fps = rates.parse(rate) if rate else rates.timeline_rate(timeline)
    tl_start = rates.timeline_start(timeline, fps)
    out = [f"TITLE: {timeline.name or 'takefit'}", "FCM: NON-DROP FRAME", ""]
    for n, cue in enumerate(extract(timeline, turns=False), 1):
        a, b = rates.timecode(tl_start + cue.start, fps), rates.timecode(tl_start + cue.start + 1, fps)
        color = cue.color or "BLUE"
        if not color.lower().startswith("resolvecolor"):
            color = "ResolveColor" + OTIO_TO_RESOLVE.get(color.upper(), color.capitalize())
        note = " ".join(cue.raw_text.replace("|", "/").split()) if cue.raw_text != cue.name else ""
        name = (cue.name or f"Marker {n}").replace("|", "/")
        out.append(f"{n:03d}  001      V     C        {a} {b} {a} {b}  ")
        out.append(f"{note} |C:{color} |M:{name} |D:{max(1, cue.duration)}")
        out.append("")
    return "\n".join(out)
