"""A stand-in for the part of DaVinci Resolve's scripting API the takefit bridge uses.

Written from Resolve's scripting README (Help › Documentation › Developer, README.txt) for its
behaviour, not only its method names:

  * Timeline.GetMarkers() → {frameId: {color, duration, note, name, customData}} with FLOAT keys that
    are offsets from the timeline's first frame ("a single green marker at timeline offset 96").
  * TimelineItem.GetMarkers(): offsets from the first frame of the clip's media ("clip offset"), so
    a head-trimmed item (GetLeftOffset() > 0) shows them that much earlier.
  * GetStartFrame() is the absolute frame number of the timeline's first frame (01:00:00:00 = 86400
    at 24 fps, 108000 at 29.97 NDF, 107892 at 29.97 DF); TimelineItem.GetStart()/GetEnd() are
    absolute too (GetEnd exclusive), GetDuration() = GetEnd() - GetStart().
  * GetSetting("timelineFrameRate") is a string ("23.976", "25", "29.97 DF" here);
    "timelineDropFrameTimecode" is "1"/"0".
  * Track indices are 1-based (1 <= index <= GetTrackCount(type)); AddTrack appends; SetTrackName.
  * MediaPool.ImportMedia imports into the *current* folder; AddSubFolder / SetCurrentFolder.
  * A WAV's media pool item reports "FPS" 24 whatever the timeline rate (clip property strings).
  * AppendToTimeline([{clipInfo}]): startFrame/endFrame count in the clip's own FPS; recordFrame
    is ABSOLUTE; trackIndex 1-based; mediaType 2 = audio only; returns the TimelineItems placed,
    whose GetStart()/GetDuration() say where they really went (the edit page is frame-quantised:
    round half up). Before 18.5 trackIndex/recordFrame are ignored (appended at the end of track 1).
    The knobs model what differs between versions or is undocumented:
        end_inclusive   endFrame counted inclusively (older versions)
        float_frames    False: float start/end frames are truncated to int (older "(int)" README)
        beyond_media    "clamp" (cut at the media's end) or "refuse" (nothing placed)
    Placing over an occupied part of a track is not documented; the stand-in refuses it (returns []),
    so a bridge that relied on it would fail here.
  * Timeline.Export(path, resolve.EXPORT_OTIO) writes OTIO the way Resolve does (the marker note in
    metadata["Resolve_OTIO"]["Note"]); MediaPool.ImportTimelineFromFile reads one into a new timeline.
  * Resolve 19.1+ free edition: Fusion().UIManager is None.
"""
from __future__ import annotations

import itertools
import math
import os
import re
from fractions import Fraction

_ids = itertools.count(1)
NTSC = {"23.976": Fraction(24000, 1001), "29.97": Fraction(30000, 1001), "59.94": Fraction(60000, 1001),
        "47.952": Fraction(48000, 1001)}


def _rate(setting: str) -> tuple[Fraction, bool]:
    s = setting.strip()
    drop = s.upper().endswith(" DF")
    s = s.split(" ")[0]
    return NTSC.get(s) or Fraction(s), drop


def tc_frames(tc: str, rate: Fraction, drop: bool) -> int:
    """Independent of takefit's own code on purpose (the classic SMPTE 12M formula)."""
    hh, mm, ss, ff = (int(x) for x in re.split(r"[:;]", tc))
    fps = round(rate)
    total = (hh * 3600 + mm * 60 + ss) * fps + ff
    if drop:
        per_min = 2 if fps == 30 else 4
        minutes = hh * 60 + mm
        total -= per_min * (minutes - minutes // 10)
    return total


def frames_tc(n: int, rate: Fraction, drop: bool) -> str:
    fps = round(rate)
    if drop:
        per_min = 2 if fps == 30 else 4
        ten = fps * 600 - 9 * per_min
        d, m = divmod(n, ten)
        n += 9 * per_min * d + (per_min * ((m - per_min) // (fps * 60 - per_min)) if m > per_min else 0)
    f = n % fps
    s = n // fps
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}{';' if drop else ':'}{f:02d}"


def half_up(x: Fraction) -> int:
    return math.floor(x + Fraction(1, 2))


def wav_length(path: str) -> tuple[int, int]:
    """(sample frames, sample rate) from a RIFF/WAVE header (standard library only: the launcher test runs
    this stand-in in a Python without site-packages)."""
    import struct

    with open(path, "rb") as f:
        riff, _, wave = struct.unpack("<4sI4s", f.read(12))
        if riff != b"RIFF" or wave != b"WAVE":
            raise ValueError(f"{path} is not a WAV file")
        rate = align = None
        while True:
            head = f.read(8)
            if len(head) < 8:
                raise ValueError(f"{path}: no data chunk")
            cid, size = struct.unpack("<4sI", head)
            if cid == b"fmt ":
                fmt = f.read(size)
                rate, align = struct.unpack("<I", fmt[4:8])[0], struct.unpack("<H", fmt[12:14])[0]
            elif cid == b"data":
                return size // align, rate
            else:
                f.seek(size + (size & 1), 1)


def _markers(d: dict) -> dict:
    # Resolve answers with float keys
    return {float(k): dict(v) for k, v in sorted(d.items())}


class MediaPoolItem:
    def __init__(self, path: str, fps: str = "24"):
        self.path = os.path.abspath(path)
        self.samples, self.sample_rate = wav_length(path)
        self.fps = fps
        self.id = f"mpi-{next(_ids)}"
        self.markers: dict = {}

    def length(self) -> Fraction:
        """Media length in the clip's own frames (exact)."""
        return Fraction(self.samples, self.sample_rate) * Fraction(self.fps)

    def GetName(self):
        return os.path.basename(self.path)

    def GetClipProperty(self, key=None):
        props = {"File Path": self.path, "Clip Name": self.GetName(), "FPS": self.fps, "Type": "Audio",
                 "Sample Rate": str(self.sample_rate), "Frames": str(math.ceil(self.length())),
                 "Audio Ch": "1", "Audio Bit Depth": "24"}
        return props if key is None else props.get(key, "")

    def GetMediaId(self):
        return self.id

    GetUniqueId = GetMediaId


class Folder:
    def __init__(self, name: str):
        self.name = name
        self.clips: list[MediaPoolItem] = []
        self.subfolders: list[Folder] = []

    def GetName(self):
        return self.name

    def GetClipList(self):
        return list(self.clips)

    def GetSubFolderList(self):
        return list(self.subfolders)


class TimelineItem:
    def __init__(self, timeline, name: str, start: int, duration: int, mpi=None, left_offset: int = 0):
        self.timeline, self.name, self.start, self.duration = timeline, name, start, duration
        self.mpi, self.left_offset = mpi, left_offset
        self.markers: dict = {}
        self.id = f"item-{next(_ids)}"

    def GetName(self):
        return self.name

    def GetStart(self, subframe_precision=False):
        return self.start

    def GetEnd(self, subframe_precision=False):
        return self.start + self.duration

    def GetDuration(self, subframe_precision=False):
        return self.duration

    def GetLeftOffset(self, subframe_precision=False):
        return self.left_offset

    def GetMediaPoolItem(self):
        return self.mpi

    def GetUniqueId(self):
        return self.id

    def GetMarkers(self):
        return _markers(self.markers)

    def AddMarker(self, frameId, color, name, note, duration, customData=""):
        if frameId in self.markers:
            return False
        self.markers[frameId] = {"color": color, "duration": float(duration), "note": note, "name": name,
                                 "customData": customData or ""}
        return True

    def GetMarkerByCustomData(self, customData):
        return next((m for m in self.markers.values() if m["customData"] == customData), {})


class Track:
    def __init__(self, kind: str, name: str):
        self.kind, self.name = kind, name
        self.items: list[TimelineItem] = []


class Timeline:
    def __init__(self, app, name: str, rate: str = "24", start_tc: str = "01:00:00:00", drop_setting: str | None = None):
        self.app, self.name = app, name
        self.rate_setting = rate
        self.rate, self.drop = _rate(rate)
        if drop_setting is not None:            # the variant: "29.97" + timelineDropFrameTimecode "1"
            self.drop = drop_setting == "1"
        self.start = tc_frames(start_tc, self.rate, self.drop)
        self.markers: dict = {}
        self.tracks = {"video": [Track("video", "Video 1")], "audio": [Track("audio", "Audio 1")], "subtitle": []}
        self.playhead = self.start
        self.id = f"tl-{next(_ids)}"

    # --- settings and geometry
    def GetName(self):
        return self.name

    def GetSetting(self, name=""):
        settings = {"timelineFrameRate": self.rate_setting, "timelineDropFrameTimecode": "1" if self.drop else "0"}
        return settings if not name else settings.get(name, "")

    def GetStartFrame(self):
        return self.start

    def GetEndFrame(self):
        ends = [i.GetEnd() for ts in self.tracks.values() for t in ts for i in t.items]
        return max(ends + [self.start])

    def GetStartTimecode(self):
        return frames_tc(self.start, self.rate, self.drop)

    def GetCurrentTimecode(self):
        return frames_tc(self.playhead, self.rate, self.drop)

    def SetCurrentTimecode(self, tc):
        self.playhead = tc_frames(tc, self.rate, self.drop)
        return True

    # --- tracks
    def _track(self, kind, index):
        tracks = self.tracks.get(kind, [])
        if not isinstance(index, int) or not 1 <= index <= len(tracks):
            return None
        return tracks[index - 1]

    def GetTrackCount(self, kind):
        return len(self.tracks.get(kind, []))

    def AddTrack(self, kind, sub=None):
        if kind not in self.tracks:
            return False
        n = len(self.tracks[kind]) + 1
        self.tracks[kind].append(Track(kind, {"audio": f"Audio {n}", "video": f"Video {n}"}.get(kind, f"Subtitle {n}")))
        return True

    def GetTrackName(self, kind, index):
        t = self._track(kind, index)
        return t.name if t else ""

    def SetTrackName(self, kind, index, name):
        t = self._track(kind, index)
        if t is None:
            return False
        t.name = name
        return True

    def GetItemListInTrack(self, kind, index):
        t = self._track(kind, index)
        return sorted(t.items, key=lambda i: i.start) if t else None

    def DeleteClips(self, items, ripple=False):
        found = False
        for ts in self.tracks.values():
            for t in ts:
                for i in list(t.items):
                    if any(i is x for x in items):
                        t.items.remove(i)
                        found = True
        return found

    # --- markers
    def GetMarkers(self):
        return _markers(self.markers)

    def AddMarker(self, frameId, color, name, note, duration, customData=""):
        if frameId in self.markers:
            return False
        self.markers[frameId] = {"color": color, "duration": float(duration), "note": note, "name": name,
                                 "customData": customData or ""}
        return True

    # --- test helpers (not Resolve API)
    def add_clip(self, kind: str, index: int, name: str, start_offset: int, duration: int, left_offset: int = 0):
        while len(self.tracks[kind]) < index:
            self.AddTrack(kind)
        item = TimelineItem(self, name, self.start + start_offset, duration, None, left_offset)
        self.tracks[kind][index - 1].items.append(item)
        return item

    def add_subtitle(self, index: int, text: str, start_offset: int, duration: int):
        while len(self.tracks["subtitle"]) < index:
            self.tracks["subtitle"].append(Track("subtitle", f"Subtitle {len(self.tracks['subtitle']) + 1}"))
        item = TimelineItem(self, text, self.start + start_offset, duration)
        self.tracks["subtitle"][index - 1].items.append(item)
        return item

    def audio_items(self, name: str):
        return [i for t in self.tracks["audio"] if t.name == name for i in sorted(t.items, key=lambda i: i.start)]

    # --- export (OTIO, as Resolve writes it)
    def Export(self, path, kind, subtype=None):
        if kind != self.app.EXPORT_OTIO or self.app.version < (18, 5):
            return False
        import opentimelineio as otio

        r = float(self.rate)
        tl = otio.schema.Timeline(name=self.name, global_start_time=otio.opentime.RationalTime(self.start, r))
        tl.metadata["Resolve_OTIO"] = {"Resolve OTIO Meta Version": "1.0"}
        length = max([i.GetEnd() - self.start for ts in self.tracks.values() for t in ts for i in t.items] + [1])
        for kind_name, otio_kind in (("video", otio.schema.TrackKind.Video), ("audio", otio.schema.TrackKind.Audio)):
            for t in self.tracks[kind_name]:
                track = otio.schema.Track(name=t.name, kind=otio_kind)
                pos = 0
                for i in sorted(t.items, key=lambda i: i.start):
                    off = i.start - self.start
                    if off > pos:
                        track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(
                            otio.opentime.RationalTime(0, r), otio.opentime.RationalTime(off - pos, r))))
                    ref = otio.schema.ExternalReference(target_url=i.mpi.path) if i.mpi else otio.schema.MissingReference()
                    clip = otio.schema.Clip(name=i.name, media_reference=ref, source_range=otio.opentime.TimeRange(
                        otio.opentime.RationalTime(i.left_offset, r), otio.opentime.RationalTime(i.duration, r)))
                    for f, m in i.markers.items():
                        clip.markers.append(_otio_marker(m, f, r))
                    track.append(clip)
                    pos = off + i.duration
                tl.tracks.append(track)
        if not tl.tracks or all(len(t) == 0 for t in tl.tracks):
            tl.tracks[0].append(otio.schema.Gap(source_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(0, r), otio.opentime.RationalTime(length, r))))
        for f, m in self.markers.items():
            tl.tracks.markers.append(_otio_marker(m, f, r))
        otio.adapters.write_to_file(tl, path)
        return True


def _otio_marker(m: dict, frame: float, rate: float):
    import opentimelineio as otio

    colors = {"Blue": "BLUE", "Red": "RED", "Green": "GREEN", "Yellow": "YELLOW", "Cyan": "CYAN", "Pink": "PINK",
              "Purple": "PURPLE"}
    mk = otio.schema.Marker(name=m["name"], color=colors.get(m["color"], "PINK"),
                            marked_range=otio.opentime.TimeRange(otio.opentime.RationalTime(frame, rate),
                                                                 otio.opentime.RationalTime(m["duration"], rate)))
    mk.metadata["Resolve_OTIO"] = {"Keywords": [], "Note": m["note"]}
    return mk


class MediaPool:
    def __init__(self, project):
        self.project = project
        self.root = Folder("Master")
        self.current = self.root

    def GetRootFolder(self):
        return self.root

    def GetCurrentFolder(self):
        return self.current

    def SetCurrentFolder(self, folder):
        if not isinstance(folder, Folder):
            return False
        self.current = folder
        return True

    def AddSubFolder(self, folder, name):
        sub = Folder(name)
        folder.subfolders.append(sub)
        return sub

    def _all_clips(self):
        def walk(f):
            yield from f.clips
            for s in f.subfolders:
                yield from walk(s)
        return list(walk(self.root))

    def ImportMedia(self, paths):
        out = []
        for p in paths:
            if not os.path.isfile(p):
                continue
            if any(c.path == os.path.abspath(p) for c in self.current.clips):
                continue       # already in this folder: nothing new imported
            mpi = MediaPoolItem(p, self.project.app.wav_fps)
            self.current.clips.append(mpi)
            out.append(mpi)
        return out

    def AppendToTimeline(self, infos):
        app = self.project.app
        tl = self.project.current
        self.project.app.appends.append([dict(i) for i in infos])
        out = []
        for info in infos:
            mpi = info.get("mediaPoolItem")
            if not isinstance(mpi, MediaPoolItem) or info.get("mediaType") not in (None, 2):
                continue
            start, end = info.get("startFrame", 0), info.get("endFrame")
            if not app.float_frames:
                start, end = int(start), int(end)
            n = Fraction(str(end)) - Fraction(str(start)) + (1 if app.end_inclusive else 0)
            if n <= 0:
                continue
            if Fraction(str(start)) + n > mpi.length():
                if app.beyond_media == "refuse":
                    continue
                n = mpi.length() - Fraction(str(start))
            duration = half_up(n / Fraction(mpi.fps) * tl.rate)
            if app.version >= (18, 5):
                index, record = info.get("trackIndex", 1), info.get("recordFrame")
                track = tl._track("audio", index)
                if track is None or record is None:
                    continue
                record = int(record)
            else:   # trackIndex / recordFrame unknown before 18.5: appended after the last clip of track 1
                track = tl.tracks["audio"][0]
                record = max([i.GetEnd() for i in track.items] + [tl.start])
            if any(i.start < record + duration and record < i.GetEnd() for i in track.items):
                continue      # occupied: see the module docstring
            item = TimelineItem(tl, mpi.GetName(), record, duration, mpi, half_up(Fraction(str(start)) /
                                                                                Fraction(mpi.fps) * tl.rate))
            track.items.append(item)
            out.append(item)
        return out

    def ImportTimelineFromFile(self, path, options=None):
        import opentimelineio as otio

        doc = otio.adapters.read_from_file(path)
        name = (options or {}).get("timelineName") or doc.name
        if any(t.name == name for t in self.project.timelines):
            return None
        rate = doc.global_start_time.rate if doc.global_start_time else 24.0
        setting = {23.976: "23.976", 29.97: "29.97"}.get(round(rate, 3), f"{rate:g}")
        tl = Timeline(self.project.app, name, setting, "00:00:00:00")
        tl.start = int(round(doc.global_start_time.value)) if doc.global_start_time else 0
        tl.tracks = {"video": [], "audio": [], "subtitle": []}
        for track in doc.tracks:
            kind = "audio" if track.kind == otio.schema.TrackKind.Audio else "video"
            t = Track(kind, track.name)
            tl.tracks[kind].append(t)
            for i, child in enumerate(track):
                if not isinstance(child, otio.schema.Clip):
                    continue
                rng = track.range_of_child_at_index(i)
                url = getattr(child.media_reference, "target_url", "") or ""
                mpi = None
                if url:
                    from urllib.parse import unquote, urlparse

                    p = unquote(urlparse(url).path) if url.startswith("file:") else url
                    if os.path.isfile(p):
                        mpi = MediaPoolItem(p, self.project.app.wav_fps)
                        self.current.clips.append(mpi)
                t.items.append(TimelineItem(tl, child.name, tl.start + round(rng.start_time.value),
                                            round(rng.duration.value), mpi))
        for m in doc.tracks.markers:
            tl.markers[float(m.marked_range.start_time.value)] = {
                "color": "Blue", "duration": float(m.marked_range.duration.value),
                "note": (m.metadata.get("Resolve_OTIO") or {}).get("Note", ""), "name": m.name, "customData": ""}
        self.project.timelines.append(tl)
        return tl


class Project:
    def __init__(self, app, name="Dub test"):
        self.app, self.name = app, name
        self.pool = MediaPool(self)
        self.timelines: list[Timeline] = []
        self.current: Timeline | None = None

    def GetName(self):
        return self.name

    def GetMediaPool(self):
        return self.pool

    def GetCurrentTimeline(self):
        return self.current

    def SetCurrentTimeline(self, tl):
        self.current = tl
        return True

    def GetTimelineCount(self):
        return len(self.timelines)

    def GetTimelineByIndex(self, i):
        return self.timelines[i - 1] if 1 <= i <= len(self.timelines) else None

    def GetSetting(self, name=""):
        return self.current.GetSetting(name) if self.current else ""

    def new_timeline(self, name="Timeline 1", rate="24", start_tc="01:00:00:00", drop_setting=None):
        tl = Timeline(self.app, name, rate, start_tc, drop_setting)
        self.timelines.append(tl)
        self.current = tl
        return tl


class ProjectManager:
    def __init__(self, app):
        self.project = Project(app)

    def GetCurrentProject(self):
        return self.project


class Fusion:
    def __init__(self, ui=None):
        self.UIManager = ui

    def RequestFile(self, *args):
        return None


class Resolve:
    EXPORT_AAF, EXPORT_DRT, EXPORT_EDL, EXPORT_FCP_7_XML = 0, 1, 2, 3
    EXPORT_OTIO = 17
    EXPORT_NONE = 0

    def __init__(self, version=(19, 1, 3), studio=True, ui=None, end_inclusive=False, float_frames=True,
                 beyond_media="clamp", wav_fps="24"):
        self.version = tuple(version)
        self.studio = studio
        self.ui = ui
        self.end_inclusive, self.float_frames, self.beyond_media = end_inclusive, float_frames, beyond_media
        self.wav_fps = wav_fps
        self.pm = ProjectManager(self)
        self.appends: list = []

    @property
    def project(self) -> Project:
        return self.pm.project

    def GetProjectManager(self):
        return self.pm

    def GetProductName(self):
        return "DaVinci Resolve Studio" if self.studio else "DaVinci Resolve"

    def GetVersion(self):
        return list(self.version) + [0, ""]

    def GetVersionString(self):
        return ".".join(str(x) for x in self.version) + ".0005"

    def Fusion(self):
        # 19.1+ free edition: no UIManager
        return Fusion(None if (not self.studio and self.version >= (19, 1)) else self.ui)


# ------------------------------------------------------------------ a scripted UIManager
class Widget:
    def __init__(self, kind, props=None, children=None):
        if isinstance(props, list):
            props, children = None, props
        self.kind, self.children = kind, children if isinstance(children, list) else []
        self.__dict__.update(props if isinstance(props, dict) else {})

    def Append(self, text):
        self.PlainText = (getattr(self, "PlainText", "") or "") + text

    def AddItem(self, text):
        """ComboBox: an entry at the end; the first one added becomes current (Qt's QComboBox)."""
        self.__dict__.setdefault("Items", []).append(text)
        if getattr(self, "CurrentIndex", -1) == -1:
            self.CurrentIndex = 0

    @property
    def CurrentText(self):
        items = self.__dict__.get("Items", [])
        i = getattr(self, "CurrentIndex", -1)
        return items[i] if 0 <= i < len(items) else ""


class _On:
    def __init__(self):
        self.__dict__["handlers"] = {}

    def __getattr__(self, widget_id):
        handlers = self.__dict__["handlers"]

        class Slot:
            def __setattr__(s, event, fn):
                handlers[(widget_id, event)] = fn
        return Slot()


class Window:
    def __init__(self, props, children, dispatcher):
        self.props, self.children, self.dispatcher = props, children, dispatcher
        self.On = _On()
        self.shown = False

    def GetItems(self):
        out = {}

        def walk(ws):
            for w in ws:
                if isinstance(w, Widget):
                    if "ID" in w.__dict__:
                        out[w.ID] = w
                    walk(w.children)
        walk(self.children)
        return out

    def Show(self):
        self.shown = True

    def Hide(self):
        self.shown = False


class UIManager:
    """Records the windows; the dispatcher's RunLoop fires the scripted events ((widget ID, event), …)."""

    def __init__(self, script=()):
        self.script = list(script)
        self.windows: list[Window] = []

    def __getattr__(self, kind):
        if kind.startswith("_"):
            raise AttributeError(kind)
        return lambda props=None, children=None, *rest: Widget(kind, props, children)


class Dispatcher:
    def __init__(self, ui: UIManager):
        self.ui = ui
        self._exit = False

    def AddWindow(self, props, children):
        w = Window(props, children, self)
        self.ui.windows.append(w)
        return w

    def RunLoop(self):
        win = self.ui.windows[-1]
        self._exit = False
        while self.ui.script and not self._exit:
            widget, event = self.ui.script.pop(0)
            fn = win.On.handlers.get((widget, event))
            if fn is not None:
                fn({"who": widget})
        handler = win.On.handlers.get((win.props["ID"], "Close"))
        if not self._exit and handler:
            handler({})

    def ExitLoop(self):
        self._exit = True


class bmd:  # noqa: N801 - the name Resolve gives the module
    UIDispatcher = Dispatcher

    @staticmethod
    def scriptapp(name):
        return None
