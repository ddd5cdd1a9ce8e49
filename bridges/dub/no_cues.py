"""What to say when a timeline holds nothing to dub: where takefit looked, and what the file does hold.

A timeline cut from clips alone (no markers) is the usual case: its editor meant the clips of a subtitle
or guide track, or has not marked the lines yet. The message names the tracks there are, so that the
fix (`--track NAME`, or markers with notes) is one step, not a guess.
"""
from __future__ import annotations

from pathlib import Path

import opentimelineio as otio

from takefit.otio_adapters.extract import labelled_tracks, nothing_to_say

SHOWN_TRACKS = 8        # a long track list is cut here: the names that matter come first in most files
SHOWN_CUES = 3          # of the cues all skipped, the first few with their reasons (they are often alike)


def where_cues_come_from(opts) -> str:
    """Where a run with these DubOptions looks for its lines."""
    if opts.tracks:
        return f"clips on track(s) {', '.join(opts.tracks)}"
    what = "timeline markers or clip markers"
    return what + (f" of colour {', '.join(opts.colors)}" if opts.colors else "")


def track_labels(timeline: otio.schema.Timeline | None) -> list[str]:
    """"V1 'Subtitles' (12 clips)", "A1 (3 clips)": the tracks a --track could name, as find_tracks knows
    them (by name, or by position where a format names none)."""
    out = []
    for label, track in labelled_tracks(timeline) if timeline is not None else []:
        clips = sum(1 for _ in track.find_clips(shallow_search=True))
        out.append(f"{label}{f' {track.name!r}' if track.name else ''} ({clips} clip{'s' if clips != 1 else ''})")
    return out


def no_cues_message(name: str, opts, timeline: otio.schema.Timeline | None = None) -> str:
    """Why `name` gave no cues and what to do, by its format; `timeline` (when it was read) lists its tracks."""
    suffix = Path(name).suffix.lower()
    if suffix == ".srt" and not opts.tracks:
        return (f"no subtitles in {name}: an SRT needs blocks of an index, a time line and the text, e.g.\n"
                f"  1\n  00:00:01,000 --> 00:00:02,500\n  Hello there.")
    if suffix == ".vtt" and not opts.tracks:
        return (f"no cues in {name}: a WebVTT file needs cues of a time line and the text after its WEBVTT line, "
                f"e.g.\n  WEBVTT\n\n  00:00:01.000 --> 00:00:02.500\n  Hello there.")
    if suffix == ".edl" and not opts.tracks:
        return (f"no cues in {name}: a CMX 3600 EDL holds no lines to speak unless it is a Resolve marker export "
                f"(Timelines > Export > Timeline Markers to EDL); or give --track NAME for a subtitle/guide track, "
                f"or drop an .srt or a cue sheet (.csv) instead")
    tracks = track_labels(timeline)
    shown = ", ".join(tracks[:SHOWN_TRACKS]) + (f" and {len(tracks) - SHOWN_TRACKS} more"
                                                if len(tracks) > SHOWN_TRACKS else "")
    held = (f" It has {'these tracks' if len(tracks) > 1 else 'one track'}: {shown} — give --track NAME to dub the "
            f"clips of a subtitle or guide track (each clip's comment, else its name, is its line).") if tracks else ""
    return (f"no cues in {name}: looked for {where_cues_come_from(opts)}.{held} Or add markers whose comment (or "
            f"name) is the line to speak, or use subtitles (.srt) or a cue sheet (.csv) instead")


def all_silent(cues: list) -> bool:
    """Cues there are, but every one would be skipped (nothing to say in any): a run would write a dub,
    a stem and a takes folder without a single take."""
    return bool(cues) and all(not c.problems and not c.text.strip() for c in cues)


def silent_message(name: str, cues: list) -> str:
    """Why nothing of `name` would be said: the first cues' reasons (nothing_to_say), which name the fix."""
    shown = "; ".join(f"{c.id} ({c.origin}): {nothing_to_say(c)}" for c in cues[:SHOWN_CUES])
    more = f"; and {len(cues) - SHOWN_CUES} more" if len(cues) > SHOWN_CUES else ""
    which = "its only cue" if len(cues) == 1 else f"all {len(cues)} of its cues"
    return f"nothing to say in {name}: {which} would be skipped — {shown}{more}"
