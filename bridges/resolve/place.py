"""Putting the takes on the Resolve timeline: the "takefit" bin, the "takefit" audio track(s),
MediaPool.AppendToTimeline with an explicit place, a read-back that checks (and corrects) what Resolve
did, a tag on every take, and replace-in-place for re-rendered cues. Standard library only.

The scripting README's pitfalls this module handles:
  * AppendToTimeline([{clipInfo}, ...]): "Appends list of clipInfos specified as dict of
    "mediaPoolItem", "startFrame" (float/int), "endFrame" (float/int), (optional) "mediaType" (int;
    1 - Video only, 2 - Audio only), "trackIndex" (int) and "recordFrame" (float/int)". Only
    "mediaType": 2 is ever sent: a take is audio.
  * "recordFrame" is an absolute timeline frame — GetStartFrame() ("Returns the frame number at the
    start of timeline") plus the cue's offset — not an offset: 01:00:00:00 at 24 fps is 86400, at
    29.97 NDF 108000 and at 29.97 DF 107892. Sending the bare offset puts the take an hour early.
  * "startFrame"/"endFrame" count in the media pool clip's own frames, i.e. its "FPS" clip property
    (GetClipProperty), not the timeline's: a WAV reports 24 fps whatever the timeline rate, so a
    77-frame slot at 23.976 is 77.077 clip frames. They are computed exactly from the take's
    samples and the clip's FPS.
  * Whether "endFrame" is exclusive changed between versions (older README text said "(int)" and
    counted it inclusively), so every placed item is read back — GetStart() / GetDuration() — and a
    take that came out a frame long or short is removed and placed again with the measured error
    taken out; the convention found is kept for the rest of the run. What still does not match is
    reported, never hidden.
  * Track indices are 1-based ("1 <= trackIndex <= GetTrackCount(trackType)"); AddTrack("audio",
    "mono") appends a track, whose index is then GetTrackCount("audio"); SetTrackName names it.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from fractions import Fraction

from . import frames as fr
from .api import BridgeError, call
from .cues import TAG_PREFIX, is_dub_track_name

BIN_NAME = "takefit"
TAG_COLOR = "Sand"
_TAKE_NAME = re.compile(r"_(c\d{3,})_.*_t(\d+)\.wav$", re.IGNORECASE)


@dataclass
class Placement:
    """Where one rendered take goes (a row of the worker's result): Resolve's standard-library twin of
    otio_adapters.place.Placement, whose OTIO types Resolve's Python cannot import."""

    key: str
    cue_id: str
    start: int               # frames from the timeline's first frame
    frames: int              # its length on the timeline
    samples: int
    sample_rate: int
    path: str
    text: str = ""
    character: str = ""
    take: int = 1

    @staticmethod
    def from_result(row: dict) -> "Placement":
        return Placement(row["key"], row["id"], int(row["start"]), int(row["frames"]), int(row["samples"]),
                    int(row.get("sample_rate") or 48000), row["path"], row.get("text") or "",
                    row.get("character") or "", int(row.get("take") or 1))


@dataclass
class Placed:
    key: str
    cue_id: str
    status: str              # placed | replaced | unchanged | inexact | failed
    record: int = 0          # the absolute frame asked for
    frames: int = 0
    track: str = ""
    track_index: int = 0
    got_start: int | None = None
    got_frames: int | None = None
    error: str | None = None
    notes: list = field(default_factory=list)


@dataclass
class Existing:
    item: object
    track_index: int
    lane: int
    start: int
    end: int
    tag: dict


def tag_of(item) -> dict:
    """What a take placed earlier says about itself: its tag marker's customData, else its clip name."""
    markers = call(item, "GetMarkers", default={}) or {}
    for _, m in sorted(dict(markers).items(), key=lambda kv: float(kv[0])):
        data = str((m or {}).get("customData") or "")
        if data.startswith(TAG_PREFIX):
            try:
                doc = json.loads(data[len(TAG_PREFIX):])
                if isinstance(doc, dict):
                    return doc
            except ValueError:
                pass
    m = _TAKE_NAME.search(str(call(item, "GetName", default="") or ""))
    return {"cue": m.group(1), "take": int(m.group(2)), "by": "name"} if m else {}


def _num(x, default: int = 0) -> int:
    try:
        return int(round(float(x)))
    except (TypeError, ValueError):
        return default


def _same_path(a: str, b: str) -> bool:
    return os.path.normcase(os.path.abspath(a or "")) == os.path.normcase(os.path.abspath(b or ""))


class Placer:
    def __init__(self, ctx, rate: Fraction, start_frame: int, drop: bool = False, track_name: str = "takefit",
                 log=None):
        self.ctx = ctx
        self.timeline = ctx.timeline
        self.pool = ctx.pool
        self.rate = Fraction(rate)
        self.start_frame = int(start_frame)
        self.drop = drop
        self.track_name = track_name
        self.log = log or (lambda msg: None)
        self.notes: list = []
        self.end_adjust: Fraction | None = None     # learned: endFrame = exact length + this
        self._bin = None
        self._previous_folder = None
        self._existing: list | None = None

    # ------------------------------------------------------------------ media pool
    def bin(self):
        """The media pool folder "takefit" (created under the root once), made the current folder
        so that ImportMedia puts the takes there ("Imports specified file/folder paths into current
        Media Pool folder")."""
        if self._bin is not None:
            return self._bin
        root = self.pool.GetRootFolder()
        self._previous_folder = call(self.pool, "GetCurrentFolder")
        found = None
        for sub in call(root, "GetSubFolderList", default=[]) or []:
            if str(call(sub, "GetName", default="")) == BIN_NAME:
                found = sub
                break
        if found is None:
            found = self.pool.AddSubFolder(root, BIN_NAME)
            if not found:
                raise BridgeError("Resolve refused to create the media pool bin {!r} (MediaPool.AddSubFolder)"
                                  .format(BIN_NAME))
        if not self.pool.SetCurrentFolder(found):
            raise BridgeError("Resolve refused to select the media pool bin {!r} (SetCurrentFolder)".format(BIN_NAME))
        self._bin = found
        return found

    def restore_folder(self) -> None:
        if self._previous_folder is not None:
            call(self.pool, "SetCurrentFolder", self._previous_folder)

    def media(self, path: str):
        """The media pool clip of `path` in the takefit bin: the existing one, else imported."""
        folder = self.bin()
        for clip in call(folder, "GetClipList", default=[]) or []:
            if _same_path(str(call(clip, "GetClipProperty", "File Path", default="") or ""), path):
                return clip
        items = self.pool.ImportMedia([path]) or []
        items = [i for i in list(items) if i]
        if not items:
            raise BridgeError("Resolve could not import {} (MediaPool.ImportMedia returned nothing): is the file "
                              "readable from this machine?".format(path))
        return items[0]

    def clip_fps(self, clip) -> Fraction:
        # startFrame/endFrame count in the clip's own frames: its "FPS" clip property (GetClipProperty),
        # which for a WAV is 24 whatever the timeline rate — never the timeline's rate
        value = call(clip, "GetClipProperty", "FPS")
        try:
            return fr.parse_rate(value)[0]
        except fr.RateError:
            self._note("a take has no usable FPS clip property ({!r}); counting its frames at the timeline rate"
                       .format(value))
            return self.rate

    # ------------------------------------------------------------------ tracks
    def lane_name(self, lane: int) -> str:
        return self.track_name if lane == 0 else "{} {}".format(self.track_name, lane + 1)

    def lanes(self) -> dict:
        """{lane: audio track index} of the tracks named track_name, "track_name 2", …"""
        out = {}
        for index in range(1, _num(call(self.timeline, "GetTrackCount", "audio", default=0)) + 1):
            name = str(call(self.timeline, "GetTrackName", "audio", index, default="") or "").strip()
            if is_dub_track_name(name, self.track_name):
                lane = 0 if name == self.track_name else int(name.rsplit(" ", 1)[1]) - 1
                out.setdefault(lane, index)
        return out

    def track_index(self, lane: int) -> int:
        """The 1-based index of the lane's audio track, created (AddTrack) and named (SetTrackName) if needed."""
        have = self.lanes()
        if lane in have:
            return have[lane]
        # README: AddTrack(trackType, subTrackType) appends ("subTrackType defaults to 'mono'"); indices are
        # 1-based, "1 <= trackIndex <= GetTrackCount(trackType)", so the new track is GetTrackCount("audio")
        if not self.timeline.AddTrack("audio", "mono"):
            raise BridgeError("Resolve refused to add an audio track (Timeline.AddTrack)")
        index = _num(self.timeline.GetTrackCount("audio"))
        name = self.lane_name(lane)
        if not self.timeline.SetTrackName("audio", index, name) or \
                str(call(self.timeline, "GetTrackName", "audio", index, default="")) != name:
            raise BridgeError("Resolve refused to name audio track {} {!r} (Timeline.SetTrackName)".format(index, name))
        self.log("added audio track A{} {!r}".format(index, name))
        return index

    def _items(self, index: int) -> list:
        return [i for i in (call(self.timeline, "GetItemListInTrack", "audio", index, default=[]) or []) if i]

    def existing(self) -> list:
        """Every item on the takefit lanes, with its tag."""
        if self._existing is None:
            out = []
            for lane, index in sorted(self.lanes().items()):
                for item in self._items(index):
                    out.append(Existing(item, index, lane, _num(call(item, "GetStart")), _num(call(item, "GetEnd")),
                                        tag_of(item)))
            self._existing = out
        return self._existing

    def takes_for(self, key: str, cue_id: str | None = None) -> list:
        hits = [e for e in self.existing() if e.tag.get("key") == key]
        if not hits and cue_id:   # untagged (e.g. imported through OTIO): recognised by the clip name
            hits = [e for e in self.existing() if "key" not in e.tag and e.tag.get("cue") == cue_id]
        return hits

    def stale(self, keys) -> list:
        """Tagged takes whose cue is gone (moved or deleted marker)."""
        keys = set(keys)
        return [e for e in self.existing() if e.tag.get("key") and e.tag["key"] not in keys]

    def _free(self, index: int, start: int, end: int) -> bool:
        for item in self._items(index):
            s, e = _num(call(item, "GetStart")), _num(call(item, "GetEnd"))
            if s < end and start < e:
                return False
        return True

    # ------------------------------------------------------------------ placing
    def _note(self, msg: str) -> None:
        if msg not in self.notes:
            self.notes.append(msg)
            self.log(msg)

    def _append(self, clip, end_value, index: int, record: int):
        # README: AppendToTimeline([{clipInfo}, ...]) — "mediaPoolItem", "startFrame", "endFrame" (in the
        # clip's frames), "mediaType" (2 - Audio only), "trackIndex" (1-based) and "recordFrame" (absolute)
        info = {"mediaPoolItem": clip, "startFrame": 0, "endFrame": end_value, "mediaType": 2,
                "trackIndex": int(index), "recordFrame": int(record)}
        items = self.pool.AppendToTimeline([info]) or []
        items = [i for i in list(items) if i]
        return items[0] if items else None

    def _delete(self, items) -> bool:
        items = [i for i in items if i]
        if not items:
            return True
        ok = bool(self.timeline.DeleteClips(items, False))
        self._existing = None
        return ok

    @staticmethod
    def _value(x: Fraction):
        """An int where exact, else a float a hair (< 1e-6 clip frame) under the exact value, so that
        float rounding never asks for more than the media holds."""
        if x.denominator == 1:
            return int(x)
        return math.floor(x * 10 ** 6) / 10 ** 6

    def append_exact(self, clip, take: Placement, index: int, record: int) -> tuple:
        """Place `clip` so it starts at `record` and lasts take.frames timeline frames.

        Returns (item, None) when exact; (item, message) when Resolve could not be brought to the exact
        length (the closest placement is kept and reported); (None, message) when nothing was placed."""
        fps = self.clip_fps(clip)
        exact = fr.clip_length(take.samples, take.sample_rate, fps)
        end = exact + (self.end_adjust or 0)
        tried = []
        best = None                 # (|error| in frames, end value, frames Resolve made)
        last_error = None
        for _ in range(4):
            tried.append(end)
            item = self._append(clip, self._value(end), index, record)
            if item is None:
                last_error = "Resolve refused AppendToTimeline (endFrame {:.3f} of {:.3f} clip frames)".format(
                    float(end), float(exact))
                nxt = end - 1       # an inclusive endFrame reads one clip frame past the media's end
            else:
                # read back: whether endFrame is inclusive changed between versions
                got_start, got = _num(call(item, "GetStart")), _num(call(item, "GetDuration"))
                if got_start == record and got == take.frames:
                    adjust = end - exact
                    if self.end_adjust is None and adjust.denominator == 1:
                        # a whole clip frame off is a convention (inclusive endFrame): keep it for the run;
                        # a fractional correction (a truncated float) belongs to this take only
                        self.end_adjust = adjust
                        if adjust:
                            self._note("Resolve counts AppendToTimeline's endFrame {} here (found by reading back "
                                       "the first take; every take corrected)".format(
                                           "inclusively" if adjust == -1 else "{:+d} clip frames off".format(int(adjust))))
                    elif adjust and adjust.denominator != 1:
                        self._note("Resolve rounded a take's endFrame; corrected by reading it back")
                    return item, None
                self._delete([item])
                if got_start != record:
                    return None, ("Resolve put the take at frame {} instead of {} (recordFrame not honoured: Resolve "
                                  "18.5 or later places clips at a given frame)".format(got_start, record))
                last_error = "Resolve made the take {} frames long instead of {}".format(got, take.frames)
                if best is None or abs(got - take.frames) < best[0]:
                    best = (abs(got - take.frames), end, got)
                # take the measured error out, in clip frames
                nxt = end + fr.timeline_to_clip(take.frames - got, self.rate, fps)
            if nxt <= 0 or nxt in tried:
                break
            end = nxt
        if best is not None:
            item = self._append(clip, self._value(best[1]), index, record)
            if item is not None:
                return item, ("Resolve would not make this take exactly {} frames (closest: {}; endFrame counts in "
                              "the clip's {} fps): trim it by hand".format(take.frames, best[2],
                                                                          fr.rate_label(fps)))
        return None, last_error

    def place(self, take: Placement) -> Placed:
        # README: GetStartFrame() "Returns the frame number at the start of timeline"; recordFrame is a
        # timeline frame number like it, so the cue's offset is added (01:00:00:00 @ 29.97 DF = 107892)
        record = self.start_frame + take.start
        out = Placed(take.key, take.cue_id, "failed", record, take.frames)
        previous = self.takes_for(take.key, take.cue_id)
        if len(previous) == 1:
            p = previous[0]
            clip = call(p.item, "GetMediaPoolItem")
            same_file = clip is not None and _same_path(str(call(clip, "GetClipProperty", "File Path", default="")),
                                                        take.path)
            if same_file and p.start == record and p.end - p.start == take.frames:
                out.status, out.track_index, out.track = "unchanged", p.track_index, self.lane_name(p.lane)
                out.got_start, out.got_frames = p.start, p.end - p.start
                return out
        preferred = sorted({p.lane for p in previous})
        if previous and not self._delete([p.item for p in previous]):
            out.error = "Resolve refused to remove the earlier take (Timeline.DeleteClips); nothing replaced"
            return out
        end = record + take.frames
        lanes = self.lanes()
        order = preferred + [k for k in range(0, max(list(lanes) + [0]) + 2) if k not in preferred]
        lane = next((k for k in order if k not in lanes or self._free(lanes[k], record, end)), None)
        if lane is None:
            lane = max(list(lanes) + [0]) + 1
        try:
            index = self.track_index(lane)
            clip = self.media(take.path)
        except BridgeError as e:
            out.error = str(e)
            return out
        item, error = self.append_exact(clip, take, index, record)
        self._existing = None
        if item is None:
            out.error = error or "Resolve did not place the take"
            return out
        out.status = "replaced" if previous else "placed"
        if error:
            out.status, out.error = "inexact", error
        out.track, out.track_index = self.lane_name(lane), index
        out.got_start, out.got_frames = _num(call(item, "GetStart")), _num(call(item, "GetDuration"))
        tag = {"cue": take.cue_id, "key": take.key, "take": take.take, "file": os.path.basename(take.path)}
        if not call(item, "AddMarker", 0, TAG_COLOR, "takefit {}".format(take.cue_id), take.text[:200], 1,
                    TAG_PREFIX + json.dumps(tag, ensure_ascii=False), default=False):
            out.notes.append("could not tag the take with a clip marker (TimelineItem.AddMarker); it is recognised "
                             "by its clip name instead")
        return out
