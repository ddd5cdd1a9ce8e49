"""Takes → audio tracks: each take a clip at its cue's exact position, gaps between, overlapping cues
on further tracks ("takefit", "takefit 2", …) so no track holds two clips at once.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import opentimelineio as otio

from takefit.otio_adapters import rates
from takefit.otio_adapters.cue import Cue

DUB_TRACK = "takefit"
_TAKE_FILE = re.compile(r"_t\d+\.wav$", re.IGNORECASE)


@dataclass(frozen=True)
class Placement:
    cue: Cue
    path: Path          # the take WAV
    duration: int       # frames on the timeline (a point cue: its natural length, rounded up to a frame)
    samples: int        # the WAV's exact length
    sample_rate: int
    take: int           # take number (the t<N> in the file name)

    @property
    def start(self) -> int:
        return self.cue.start

    @property
    def end(self) -> int:
        return self.cue.start + self.duration


def assign_lanes(spans: Sequence[tuple[int, int]]) -> list[int]:
    """A lane per span so spans in one lane never overlap; the lowest free lane, in start order."""
    order = sorted(range(len(spans)), key=lambda i: (spans[i][0], spans[i][1]))
    ends: list[int] = []
    lanes = [0] * len(spans)
    for i in order:
        start, end = spans[i]
        lane = next((k for k, e in enumerate(ends) if e <= start), len(ends))
        if lane == len(ends):
            ends.append(end)
        else:
            ends[lane] = end
        lanes[i] = lane
    return lanes


def lane_name(base: str, lane: int) -> str:
    return base if lane == 0 else f"{base} {lane + 1}"


def take_clip(p: Placement, rate: Fraction) -> otio.schema.Clip:
    # The media's available range is in timeline frames, not samples: FCP7 XML writes a timecode for
    # it and SMPTE has none at 48000 fps. The exact sample count rides along in metadata.
    ref = otio.schema.ExternalReference(
        target_url=p.path.resolve().as_uri(), available_range=rates.time_range(0, p.duration, rate))
    ref.metadata["fcp_xml"] = {"media": {"audio": {
        "samplecharacteristics": {"depth": "24", "samplerate": str(p.sample_rate)}, "channelcount": "1"}}}
    c = p.cue
    clip = otio.schema.Clip(name=p.path.stem, media_reference=ref, source_range=rates.time_range(0, p.duration, rate))
    clip.metadata["takefit"] = {
        "cue": c.id, "text": c.text, "character": c.character, "voice": c.voice,
        "emotion": c.emotion.to_json() if c.emotion else None, "take": p.take,
        "samples": p.samples, "sample_rate": p.sample_rate, "origin": c.origin}
    return clip


def build_tracks(placements: Sequence[Placement], rate: Fraction, name: str = DUB_TRACK,
                 like: otio.schema.Track | None = None) -> list[otio.schema.Track]:
    """One audio track per lane. `like`: a sibling whose source-range convention the new tracks copy
    (the CMX 3600 reader keeps the record start there)."""
    lanes = assign_lanes([(p.start, p.end) for p in placements])
    tracks: list[otio.schema.Track] = []
    for p, lane in sorted(zip(placements, lanes), key=lambda x: (x[1], x[0].start)):
        while len(tracks) <= lane:
            t = otio.schema.Track(name=lane_name(name, len(tracks)), kind=otio.schema.TrackKind.Audio)
            t.metadata["takefit"] = {"dub_track": True}
            tracks.append(t)
        track = tracks[lane]
        end = rates.frames(track.duration(), rate) if len(track) else 0
        if p.start > end:
            track.append(otio.schema.Gap(source_range=rates.time_range(0, p.start - end, rate)))
        track.append(take_clip(p, rate))
    if like is not None and like.source_range is not None and like.source_range.start_time.value < 0:
        for t in tracks:
            t.source_range = otio.opentime.TimeRange(like.source_range.start_time, t.duration())
    return tracks


def is_dub_track(track, name: str = DUB_TRACK) -> bool:
    """A track an earlier `takefit dub` added: marked in metadata, named like one, or (formats that keep
    neither, like FCP7 XML) holding only take files."""
    if not isinstance(track, otio.schema.Track) or track.kind != otio.schema.TrackKind.Audio:
        return False
    if (track.metadata.get("takefit") or {}).get("dub_track"):
        return True
    if re.fullmatch(rf"{re.escape(name)}( \d+)?", track.name or ""):
        return True
    clips = [c for c in track if isinstance(c, otio.schema.Clip)]
    urls = [getattr(c.media_reference, "target_url", "") or "" for c in clips]
    return bool(clips) and all(_TAKE_FILE.search(u) and "_takes/" in u.replace("\\", "/") for u in urls)


def with_dub_tracks(timeline: otio.schema.Timeline, tracks: Sequence[otio.schema.Track],
                    name: str = DUB_TRACK) -> otio.schema.Timeline:
    """A copy of `timeline` with earlier dub tracks replaced by `tracks`; everything else untouched."""
    out = copy.deepcopy(timeline)
    stale = [i for i, t in enumerate(out.tracks) if is_dub_track(t, name)]
    for i in reversed(stale):
        del out.tracks[i]
    for t in tracks:
        out.tracks.append(copy.deepcopy(t))
    return out


def reference_track(timeline: otio.schema.Timeline) -> otio.schema.Track | None:
    return next((t for t in timeline.tracks if isinstance(t, otio.schema.Track)), None)
