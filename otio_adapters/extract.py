"""Timeline → cues: timeline markers, clip markers (moved from media time to timeline time), and
clips on guide tracks chosen by name.

Every position becomes whole frames at the timeline's exact rate, from the timeline's first frame.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterable, Sequence

import opentimelineio as otio

from takefit.engine.errors import InputError
from takefit.otio_adapters import hits, rates, subtitles
from takefit.otio_adapters.cue import CLIP, CLIP_MARKER, MARKER, SUBTITLE, Cue, normalize_color
from takefit.otio_adapters.place import is_dub_track

# FCPX and Resolve markers are one frame long and EDL locators zero: no one means a 1-frame line,
# so anything shorter than this is a point marker and its take keeps its natural length.
POINT_FRAMES = 2
# the metadata namespaces of subtitles (srt.py, webvtt.py, substation.py, timedtext.py)
SUBTITLE_KINDS = ("srt", "webvtt", "substation", "timedtext")
# The name an editor's tool gives a new marker (Resolve and Final Cut Pro: "Marker 1", "Marker 2" …): a label,
# not a line, so a marker with nothing else is silent (as the Resolve scripts read it), not "Marker 3" said.
DEFAULT_MARKER_NAME = re.compile(r"\s*Marker(?: \d+)?\s*")


@dataclass(frozen=True)
class Found:
    start: int
    duration: int
    text: str
    source: str
    origin: str
    name: str
    color: str | None
    speaker: str = ""


def extract(timeline: otio.schema.Timeline, tracks: Sequence[str] = (), colors: Sequence[str] = (),
            turns: bool = True, cast: frozenset[str] = frozenset()) -> list[Cue]:
    """The cues of `timeline`, in timeline order with ids c001, c002 …

    Without `tracks`: every timeline marker and clip marker. With `tracks`: the clips on those
    tracks (a subtitle or guide track) instead. `colors` keeps only markers of those colours. A cue in
    which several named speakers take turns becomes one per turn (subtitles.by_speaker), unless `turns`
    is False (the adapters' writers: a subtitle file written back keeps its subtitles whole); `cast`, the
    cast's characters (lower case), are labels in any case.
    """
    rate = rates.timeline_rate(timeline)
    start = rates.timeline_start(timeline, rate)
    if tracks:
        found = list(track_clips(timeline, find_tracks(timeline, tracks), rate, start))
    else:
        found = list(timeline_markers(timeline, rate, start)) + list(clip_markers(timeline, rate, start))
    if colors:
        wanted = {normalize_color(c) for c in colors}
        found = [f for f in found if f.color and normalize_color(f.color) in wanted]
    found.sort(key=lambda f: (f.start, f.duration))
    if tracks:   # point markers `@word` still pin words of the guide track's lines
        found += [f for f in timeline_markers(timeline, rate, start) if not f.duration and f.text.strip()[:1] == "@"]
        found.sort(key=lambda f: (f.start, f.duration))
    cues = [Cue(id="", start=f.start, duration=f.duration, rate=rate, raw_text=f.text, source=f.source,
                origin=f.origin, name=f.name, color=f.color, speaker=f.speaker) for f in found]
    return hits.apply([turn for cue in cues for turn in (subtitles.by_speaker(cue, cast) if turns else [cue])])


# ------------------------------------------------------------------ markers
def marker_text(marker: otio.schema.Marker) -> str:
    """The line a marker holds: its comment/note (OTIO, FCP7 XML, Resolve, SRT), else its name.
    Resolve's own OTIO export keeps a marker's note in metadata["Resolve_OTIO"]["Note"]."""
    md = marker.metadata
    if is_subtitle(md) or "cuesheet" in md:     # a subtitle's or a row's line is its text; an empty one has
        return getattr(marker, "comment", "") or ""     # nothing to say ("Subtitle 7" is a label, not a line)
    name = "" if DEFAULT_MARKER_NAME.fullmatch(marker.name or "") else marker.name
    for candidate in (getattr(marker, "comment", ""), _get(md, "fcp_xml", "comment"),
                      _get(md, "resolve", "note"), _get(md, "Resolve_OTIO", "Note"), name):
        if candidate and str(candidate).strip():
            return str(candidate)
    return ""


def nothing_to_say(cue: Cue) -> str:
    """Why a cue whose text is empty is skipped, in words that name the fix."""
    if cue.silence:
        return cue.silence
    if cue.source in (MARKER, CLIP_MARKER) and DEFAULT_MARKER_NAME.fullmatch(cue.name or ""):
        return (f"only the default name {cue.name.strip()!r}, a label: write the line to speak in the marker's "
                f"comment or note, or as its name")
    if cue.source == SUBTITLE:
        return "empty subtitle: nothing to say"
    return "empty text: nothing to say (marker/clip has no comment or name)"


def marker_color(marker: otio.schema.Marker) -> str | None:
    """The colour where the format really carries one. FCP7 XML has none: OTIO's reader leaves its
    default (RED) on every marker, which must not map every line to the 'red' character."""
    md = marker.metadata
    if is_subtitle(md):      # the colour the subtitle is written in (speakers by colour), not OTIO's default
        return subtitle_color(md, getattr(marker, "comment", ""))
    if _get(md, "resolve", "color"):
        return str(_get(md, "resolve", "color"))
    if "fcp_xml" in md:
        return _get(md, "fcp_xml", "color") or None
    return marker.color or None


def is_subtitle(md) -> bool:
    """Metadata of a subtitle: its line is its text (an empty one says nothing), its colour its text's."""
    return md is not None and any(kind in md for kind in SUBTITLE_KINDS)


def _subtitle_field(md, key: str):
    """A field of a subtitle's own metadata (text, speaker, color); None where absent or not a subtitle."""
    kind = next((k for k in SUBTITLE_KINDS if md is not None and k in md), None)
    return _get(md, kind, key) if kind is not None else None


def subtitle_color(md, text: str) -> str | None:
    """The colour a subtitle is written in: from the file's styles (timedtext.py) or its text's markup."""
    found = _subtitle_field(md, "color")
    return str(found) if found else subtitles.text_color(text)


def subtitle_speaker(md) -> str:
    """Who a subtitle file says speaks this line ("" where it does not say)."""
    return str(_subtitle_field(md, "speaker") or "")


def _get(md, namespace: str, key: str):
    ns = md.get(namespace) if md is not None else None
    try:
        return ns.get(key) if ns is not None else None
    except AttributeError:
        return None


def _duration(t: otio.opentime.RationalTime, rate: Fraction) -> int:
    n = rates.frames(t, rate)
    return 0 if 0 <= n < POINT_FRAMES else n      # a negative one stays, for limits.slot_problems to name


def _source_of(marker: otio.schema.Marker, default: str) -> str:
    return SUBTITLE if is_subtitle(marker.metadata) else default


def timeline_markers(timeline: otio.schema.Timeline, rate: Fraction, tl_start: int) -> Iterable[Found]:
    drop = rates.drop_frame(timeline, rate)          # origins labelled as the timeline labels its frames
    length = rates.frames(timeline.tracks.duration(), rate) if len(timeline.tracks) else 0
    for m in timeline.tracks.markers:
        start = rates.frames(m.marked_range.start_time, rate)
        # some tools write timeline markers in absolute time (from 01:00:00:00); one that lies past
        # the end and past the start timecode is such a marker
        if tl_start and start >= tl_start and start >= length:
            start -= tl_start
        kind = _source_of(m, MARKER)
        label = "subtitle" if kind == SUBTITLE else "timeline marker"
        yield Found(start, _duration(m.marked_range.duration, rate), marker_text(m), kind,
                    f"{label} {m.name!r} at {rates.timecode(tl_start + start, rate, drop)}", m.name, marker_color(m),
                    subtitle_speaker(m.metadata))


def clip_markers(timeline: otio.schema.Timeline, rate: Fraction, tl_start: int) -> Iterable[Found]:
    drop = rates.drop_frame(timeline, rate)
    for track in timeline.tracks:
        # takes placed by an earlier run carry cue-id markers of their own: they are not new lines
        if not isinstance(track, otio.schema.Track) or is_dub_track(track):
            continue
        for i, item in enumerate(track):
            if not isinstance(item, otio.core.Item) or not item.markers:
                continue
            placed = track.range_of_child_at_index(i)
            p0 = rates.frames(placed.start_time, rate)
            p1 = p0 + rates.frames(placed.duration, rate)
            media0 = rates.frames(item.trimmed_range().start_time, rate)
            for m in item.markers:
                at = rates.frames(m.marked_range.start_time, rate)
                if "cmx_3600" in m.metadata:
                    # EDL locators hold record timecode, not the clip's media time
                    start = at - tl_start
                else:
                    start = p0 + (at - media0)
                if not (p0 <= start < p1):
                    continue  # on media trimmed out of the cut: not on the timeline
                at = rates.timecode(tl_start + start, rate, drop)
                yield Found(start, _duration(m.marked_range.duration, rate), marker_text(m),
                            _source_of(m, CLIP_MARKER), f"marker {m.name!r} on clip {item.name!r} at {at}",
                            m.name, marker_color(m))


# ------------------------------------------------------------------ guide tracks
def clip_text(clip: otio.core.Item) -> str:
    md = clip.metadata
    if is_subtitle(md) and not _get(md, "takefit", "text"):
        return str(_subtitle_field(md, "text") or "")
    for candidate in (_get(md, "takefit", "text"), _get(md, "fcp_xml", "comment"), clip.name):
        if candidate and str(candidate).strip():
            return str(candidate)
    return ""


def track_label(track: otio.schema.Track, index: int) -> str:
    return f"{'A' if track.kind == otio.schema.TrackKind.Audio else 'V'}{index}"


def labelled_tracks(timeline: otio.schema.Timeline) -> list[tuple[str, otio.schema.Track]]:
    """Each track with its position label: V1, V2 … A1, A2 … (FCP7 XML tracks have no names)."""
    counters = {"V": 0, "A": 0}
    labelled = []
    for t in timeline.tracks:
        if not isinstance(t, otio.schema.Track):
            continue
        k = "A" if t.kind == otio.schema.TrackKind.Audio else "V"
        counters[k] += 1
        labelled.append((f"{k}{counters[k]}", t))
    return labelled


def find_tracks(timeline: otio.schema.Timeline, names: Sequence[str]) -> list[otio.schema.Track]:
    """Tracks by name (case-insensitive), or by position: V1, V2 … A1, A2 … (labelled_tracks)."""
    labelled = labelled_tracks(timeline)
    out = []
    for name in names:
        want = name.strip().lower()
        hits = [t for _, t in labelled if (t.name or "").strip().lower() == want] or \
               [t for label, t in labelled if label.lower() == want]
        if not hits:
            have = ", ".join(f"{label} {t.name!r}" if t.name else label for label, t in labelled) or "none"
            raise InputError(f"no track named {name!r} in the timeline; its tracks: {have}")
        out += [t for t in hits if t not in out]
    return out


def track_clips(timeline: otio.schema.Timeline, tracks: list[otio.schema.Track], rate: Fraction,
                tl_start: int) -> Iterable[Found]:
    drop = rates.drop_frame(timeline, rate)
    for track in tracks:
        for i, item in enumerate(track):
            if not isinstance(item, otio.schema.Clip):
                continue
            placed = track.range_of_child_at_index(i)
            start = rates.frames(placed.start_time, rate)
            kind, text = SUBTITLE if is_subtitle(item.metadata) else CLIP, clip_text(item)
            yield Found(start, rates.frames(placed.duration, rate), text, kind,
                        f"clip {item.name!r} on track {track.name!r} at {rates.timecode(tl_start + start, rate, drop)}",
                        item.name, subtitle_color(item.metadata, text) if kind == SUBTITLE else None,
                        subtitle_speaker(item.metadata))
