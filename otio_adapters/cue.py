"""A cue: one line to dub, with its slot on the timeline.

Extraction (extract.py) fills in where the cue is and what it says; the tag and the cast
(tags.py, cast.py) then decide who says it and how. Positions are whole frames at the timeline's
exact rate, counted from the timeline's first frame (not from its start timecode).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

# A cue's emotion: a preset ("angry 0.7"), an 8-vector, a description, a reference clip or "from the
# line", with emo_alpha — the engine's own request type, so what a cast or tag says is what renders.
from takefit.engine.emotion import Emotion
from takefit.engine.request import DEFAULT_LEAD, DEFAULT_TAIL

# where a cue came from
MARKER = "marker"            # a timeline (sequence) marker
CLIP_MARKER = "clip_marker"  # a marker on a clip, converted from the clip's media time
SUBTITLE = "subtitle"        # a subtitle item (SRT, read as a marker or a clip)
CLIP = "clip"                # a clip on a guide track chosen by name
SOURCES = (MARKER, CLIP_MARKER, SUBTITLE, CLIP)


@dataclass(frozen=True)
class Cue:
    id: str                      # c001, c002 … in timeline order
    start: int                   # frames from the timeline's first frame
    duration: int                # frames; 0 = a point marker (the take keeps its natural length)
    rate: Fraction               # the timeline's exact frame rate
    raw_text: str                # as found on the timeline, tag included
    source: str = MARKER
    origin: str = ""             # where, for people: "timeline marker 'Alice 3' at 01:00:04:12"
    name: str = ""               # the marker / clip name
    color: str | None = None     # the marker colour where the format really carries one
    speaker: str = ""            # who the file says speaks (a SubStation line's Actor): the character unless
                                 # the tag or a label in the text names one (cast.py)
    # resolved from the tag and the cast
    text: str = ""               # what is spoken: the tag removed, pronunciations applied
    character: str = ""
    voice: str = "auto"
    language: str = "auto"
    emotion: Emotion | None = None
    speed: str = "exact"         # the cast's speed policy: exact (fit the slot) | natural (see cast.py)
    max_ratio: float = 1.2       # natural: how many times its slot a take may last before it is fitted
    lead: float = DEFAULT_LEAD   # seconds from the slot's start to the first sound (tag > cast)
    tail: float = DEFAULT_TAIL   # seconds from the last sound's end to the slot's end
    variant: int = 1             # which read: 1 = the standard one, 2… alternates (tag take=N, the panel's pick)
    silence: str = ""           # why nothing is said where the text held only what is not read (subtitles.py)
    problems: tuple[str, ...] = ()   # reasons the cue cannot be rendered (bad tag …)
    notes: tuple[str, ...] = field(default_factory=tuple)  # warnings that do not stop it

    @property
    def end(self) -> int:
        return self.start + self.duration

    @property
    def is_point(self) -> bool:
        return self.duration == 0


def normalize_color(color: str | None) -> str:
    """'RED', 'red', 'ResolveColorBlue' → 'red', 'blue' (OTIO MarkerColor names, Resolve names)."""
    return str(color or "").strip().lower().removeprefix("resolvecolor")
