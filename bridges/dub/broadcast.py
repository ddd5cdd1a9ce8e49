"""What a dub run's files say about where they belong (engine/bwf.py): each take its cue's timecode,
each stem the timeline's start, with the timeline's name, rate and drop-frame flag.

    stamp = Stamp.of(timeline, rate, start, tape="cut")
    write_wav(path, audio, 48000, broadcast=stamp.take(cue, take_number, voice))
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from takefit.engine.bwf import DROP_FRAME_RATES, Broadcast, since_midnight
from takefit.otio_adapters.cue import Cue
from takefit.otio_adapters.rates import drop_frame


@dataclass(frozen=True)
class Stamp:
    """One run's timeline: its name, reel, first frame (a timecode frame count: 01:00:00:00 at 24 fps
    is 86400; None where the caller does not know it, and the files then say 0, "not placed"), rate."""

    project: str = ""
    tape: str = ""
    start: int | None = None
    rate: Fraction | None = None
    drop_frame: bool = False

    @classmethod
    def of(cls, timeline, rate: Fraction, start: int, tape: str) -> Stamp:
        return cls(timeline.name or tape, tape, start, rate, drop_frame(timeline, rate))

    def position(self, frame: int, rate: Fraction) -> Fraction:
        """Seconds since midnight of `frame` counted from the timeline's first frame. A timeline that
        would start before midnight has no place in a day: 0, as for an unknown start."""
        if self.start is None:
            return Fraction(0)
        return since_midnight(max(0, self.start + frame), rate)

    def take(self, cue: Cue, number: int, voice: str) -> Broadcast:
        who = ", ".join(x for x in (cue.character, voice) if x)
        return Broadcast(description=cue.text, position=self.position(cue.start, cue.rate),
                         originator_reference=f"{cue.id} t{number}", project=self.project, scene=cue.id,
                         take=number, tape=self.tape, note=f"{cue.text} [{who}]" if who else cue.text,
                         timecode_rate=cue.rate, drop_frame=self.drop_frame and cue.rate in DROP_FRAME_RATES,
                         track_names=(cue.character,))

    def stem(self, character: str | None = None, channels: int = 1) -> Broadcast:
        """The full mix (character None) or one character's stem: sample 0 = the timeline's first frame."""
        what = f"{character or 'no character'} stem" if character is not None else "dub stem"
        return Broadcast(description=f"takefit {what} of {self.project}", position=self.position(0, self.rate or 1),
                         originator_reference=what, project=self.project, scene=what, tape=self.tape,
                         note=f"takefit {what}: every take at its cue; sample 0 = the timeline's first frame",
                         timecode_rate=self.rate, drop_frame=self.drop_frame, dual_mono=channels == 2,
                         track_names=(character or what,) * channels)
