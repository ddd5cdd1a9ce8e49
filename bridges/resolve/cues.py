"""Resolve markers and subtitles → cues.

Two halves:
  read()     (Resolve side, standard library) walks the timeline and returns RawCue records;
  resolve()  (takefit side, in the worker) turns them into takefit.otio_adapters.cue.Cue with the
             tag syntax and the cast file applied — the same rules `takefit dub` uses.

Where the lines come from, with the scripting README's conventions:
  * timeline markers — Timeline.GetMarkers(): "Returns a dict (frameId -> {information})", e.g.
    {96.0: {'color': 'Green', 'duration': 1.0, 'note': '', 'name': 'Marker 1', 'customData': ''}}
    "indicates a single green marker at timeline offset 96": keys are float frame offsets from the
    timeline's first frame (not absolute frame numbers, not timecode).
  * clip markers — TimelineItem.GetMarkers(), the same dict "at clip offset 96": frames from the
    first frame of the clip's media, so a clip trimmed at its head (GetLeftOffset() > 0) has its
    markers that much earlier on the timeline; markers on trimmed-away media are not on the timeline.
  * subtitles — Timeline.GetItemListInTrack("subtitle", i) (1 <= i <= GetTrackCount("subtitle")):
    items whose GetStart()/GetEnd() are absolute timeline frames (they include GetStartFrame()).
The line is the marker's note (its name is only a label: Resolve names every marker "Marker N"), so
a marker with an empty note is skipped and reported. Markers takefit itself left (customData
"takefit:…", on the takes it placed) are never cues.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from fractions import Fraction

from . import frames as fr
from .api import call

MARKER, CLIP_MARKER, SUBTITLE = "marker", "clip_marker", "subtitle"   # = takefit.otio_adapters.cue
SOURCES = ("markers", "clip_markers", "subtitles")
DEFAULT_SOURCES = ("markers", "clip_markers")
TAG_PREFIX = "takefit:"          # customData of the markers takefit puts on the takes it placed
TURN = "#turn"                   # a turn's key: its item's key, then "#turn2" (one item, several speakers)


@dataclass
class RawCue:
    key: str                     # stable identity: "marker@120", "subtitle1@300", "clip_marker@V1:…@96"
    source: str                  # marker | clip_marker | subtitle
    start: int                   # frames from the timeline's first frame
    duration: int                # frames, as Resolve has it (a 1-frame marker is a point marker)
    text: str                    # the marker's note / the subtitle's text
    name: str = ""
    color: str | None = None
    origin: str = ""             # for people: "timeline marker 'Marker 3' at 01:00:04:12"

    def to_json(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_json(d: dict) -> "RawCue":
        return RawCue(**{k: d[k] for k in RawCue.__dataclass_fields__ if k in d})


@dataclass
class Reading:
    cues: list = field(default_factory=list)       # RawCue, in timeline order
    skipped: list = field(default_factory=list)    # (RawCue, reason)
    notes: list = field(default_factory=list)


def _frame(key) -> int:
    return fr.round_half_up(Fraction(str(key)) if not isinstance(key, (int, Fraction)) else Fraction(key))


def _markers(obj) -> list:
    """[(offset, info)] sorted, from GetMarkers() (a dict; {} or None when there are none)."""
    raw = call(obj, "GetMarkers", default={}) or {}
    out = []
    for k, v in dict(raw).items():
        if isinstance(v, dict):
            out.append((k, v))
    out.sort(key=lambda kv: float(kv[0]))
    return out


def is_takefit_marker(info: dict) -> bool:
    return str(info.get("customData") or "").startswith(TAG_PREFIX)


def is_dub_track_name(name: str, base: str) -> bool:
    return bool(re.fullmatch(re.escape(base) + r"( \d+)?", (name or "").strip()))


_EMPTY_NOTE = "empty note: the marker's note is the line to say (its name is only a label)"


def read(timeline, start_frame: int, rate: Fraction, drop: bool = False, sources=DEFAULT_SOURCES,
         colors=(), track_name: str = "takefit") -> Reading:
    """The cues of `timeline` from the chosen sources, in timeline order."""
    out = Reading()
    wanted = {c.strip().lower().replace("resolvecolor", "") for c in colors if c.strip()}

    def tc(offset: int) -> str:
        return fr.frame_to_timecode(start_frame + offset, rate, drop)

    for raw, note in _raw_cues(timeline, start_frame, sources, track_name, tc):
        if wanted and (raw.color or "").lower() not in wanted:
            continue
        if not raw.text.strip():
            out.skipped.append((raw, note))
        else:
            out.cues.append(raw)
    out.cues.sort(key=lambda c: (c.start, c.duration, c.key))
    return out


def _raw_cues(timeline, start_frame: int, sources, track_name: str, tc):
    """(RawCue, why it is skipped should its text be empty) from each chosen source, source by source."""
    if "markers" in sources:
        yield from _timeline_markers(timeline, tc)
    if "clip_markers" in sources:
        yield from _clip_markers(timeline, start_frame, track_name, tc)
    if "subtitles" in sources:
        yield from _subtitles(timeline, start_frame, tc)


def _timeline_markers(timeline, tc):
    for key, m in _markers(timeline):
        if is_takefit_marker(m):
            continue
        at = _frame(key)
        name = str(m.get("name") or "")
        raw = RawCue("marker@{}".format(at), MARKER, at, _frame(m.get("duration") or 0),
                     str(m.get("note") or ""), name, m.get("color") or None,
                     "timeline marker {!r} at {}".format(name, tc(at)))
        yield raw, _EMPTY_NOTE


def _clip_markers(timeline, start_frame: int, track_name: str, tc):
    """The markers on the clips of every video and audio track but takefit's own."""
    for kind, label in (("video", "V"), ("audio", "A")):
        for index in range(1, int(call(timeline, "GetTrackCount", kind, default=0) or 0) + 1):
            track = str(call(timeline, "GetTrackName", kind, index, default="") or "")
            if kind == "audio" and is_dub_track_name(track, track_name):
                continue       # the takes takefit placed (and their tag markers)
            for item in call(timeline, "GetItemListInTrack", kind, index, default=[]) or []:
                yield from _markers_on_clip(item, "{}{}".format(label, index), start_frame, tc)


def _markers_on_clip(item, lane: str, start_frame: int, tc):
    """One clip's markers, moved from media frames to timeline frames; those on trimmed-away media left out."""
    markers = _markers(item)
    if not markers:
        return             # most clips have none: ask Resolve nothing more about them
    p0 = int(call(item, "GetStart", default=0)) - start_frame
    p1 = int(call(item, "GetEnd", default=0)) - start_frame
    left = int(call(item, "GetLeftOffset", default=0) or 0)
    clip = str(call(item, "GetName", default="") or "")
    ident = str(call(item, "GetUniqueId", default="") or "{}@{}".format(lane, p0))
    for key, m in markers:
        if is_takefit_marker(m):
            continue
        off = _frame(key)
        at = p0 + off - left
        if not p0 <= at < p1:
            continue       # on media trimmed out of the cut
        name = str(m.get("name") or "")
        raw = RawCue("clip_marker@{}@{}".format(ident, off), CLIP_MARKER, at,
                     _frame(m.get("duration") or 0), str(m.get("note") or ""), name,
                     m.get("color") or None,
                     "marker {!r} on clip {!r} ({}) at {}".format(name, clip, lane, tc(at)))
        yield raw, _EMPTY_NOTE


def _subtitles(timeline, start_frame: int, tc):
    for index in range(1, int(call(timeline, "GetTrackCount", "subtitle", default=0) or 0) + 1):
        for item in call(timeline, "GetItemListInTrack", "subtitle", index, default=[]) or []:
            s = int(call(item, "GetStart", default=0))
            e = int(call(item, "GetEnd", default=s))
            text = str(call(item, "GetName", default="") or "")
            at = s - start_frame
            raw = RawCue("subtitle{}@{}".format(index, at), SUBTITLE, at, max(0, e - s), text,
                         text[:40], None, "subtitle on ST{} at {}".format(index, tc(at)))
            yield raw, "empty subtitle"


def turn_key(key: str, turn: int) -> str:
    """The key of one speaker's turn of a Resolve item in which several take turns."""
    return "{}{}{}".format(key, TURN, turn)


def item_key(key: str) -> str:
    """The key of the Resolve item a cue's (or a placed take's) key belongs to: a turn's without "#turnN"."""
    head, sep, tail = key.rpartition(TURN)
    return head if sep and tail.isdigit() else key


def at_playhead(cues: list, frame: int):
    """The cue the playhead is on: the latest-starting cue whose slot holds `frame` (a point marker
    holds its own frame), else None."""
    hits = [c for c in cues if c.start <= frame < c.start + max(1, c.duration)]
    if not hits:
        return None
    return max(hits, key=lambda c: (c.start, -c.duration))


# ------------------------------------------------------------------ takefit side (the worker)
def resolve(raws: list, rate: Fraction, cast_path=None, sidecar_path=None, start: int = 0):
    """RawCues → (takefit Cues, their keys, the cast, what the sidecar changed (sidecar.Applied)).

    The cues are in timeline order with ids c001…, tag, cast and the sidecar's edited lines and picked
    takes applied, the rules `takefit dub` uses: hit markers pin words of the lines they fall in, and an
    item in which named speakers take turns (an SDH subtitle "JOHN: … / MARY: …") becomes one cue per
    turn (subtitles.by_speaker), each read by its own character. `keys[i]` names the Resolve item cue i
    came from; a turn's is turn_key(item's key, n). `start`: the timeline's first frame, as the
    sidecar's timecodes count.

    Imports takefit.otio_adapters: call it from the worker, not from Resolve's Python."""
    from takefit.otio_adapters import cast as castfile
    from takefit.otio_adapters import hits, sidecar, subtitles
    from takefit.otio_adapters.cue import Cue
    from takefit.otio_adapters.extract import POINT_FRAMES

    cast = castfile.load(cast_path) if cast_path else castfile.Cast()
    keyed = []
    for r in raws:
        cue = Cue(id="", start=r.start, duration=0 if r.duration < POINT_FRAMES else r.duration, rate=rate,
                  raw_text=r.text, source=r.source, origin=r.origin, name=r.name, color=r.color)
        turns = subtitles.by_speaker(cue, frozenset(cast.characters))
        keyed += [(r.key if len(turns) == 1 else turn_key(r.key, n), turn) for n, turn in enumerate(turns, 1)]
    keys = [key for key, cue in keyed if hits.hit_word(cue) is None]     # hits.apply keeps the lines' order
    resolved, applied = sidecar.load(sidecar_path).apply(hits.apply([cue for _, cue in keyed]), cast, start)
    return resolved, keys, cast, applied
