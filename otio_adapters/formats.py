"""Reading any timeline OTIO reads here, and writing the result back in a format — with the known
quirks of OTIO 0.18.1 and its adapter plugins 1.0.0 handled in one place:

- FCP7 XML keeps marker comments only in metadata["fcp_xml"]: comments are copied there first.
- FCPXML cannot write NTSC rates (it looks 29.97002997 up as 29.97 and crashes): its frame-duration
  table is given the exact NTSC floats. It writes added audio as connected clips and drops timeline
  markers and the start timecode (the .otio written beside it keeps them).
- CMX 3600 EDL: the writer drops audio tracks, so an audio-only EDL of the takes is written instead
  (audio_edl.py). The reader keeps the record start as a negative track start (see rates.py).
- A Resolve marker EDL has the .edl suffix too: recognised by its content.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from importlib import resources
from pathlib import Path

import opentimelineio as otio

from takefit.engine.errors import InputError, OutputError
from takefit.engine.files import write_atomic
from takefit.otio_adapters import cuesheet, rates, resolve_marker_edl
from takefit.otio_adapters.limits import check_otio_json
from takefit.otio_adapters.srt import decode

# name → (OTIO adapter, suffix, what it is)
FORMATS = {
    "otio": ("otio_json", ".otio", "OpenTimelineIO"),
    "fcp_xml": ("fcp_xml", ".xml", "Final Cut Pro 7 XML (Premiere, Resolve, Avid)"),
    "fcpx_xml": ("fcpx_xml", ".fcpxml", "Final Cut Pro X XML"),
    "edl": ("cmx_3600", ".edl", "CMX 3600 EDL (audio-only EDL of the takes)"),
    "srt": ("srt", ".srt", "SubRip subtitles (the cues)"),
    "vtt": ("webvtt", ".vtt", "WebVTT subtitles (the cues)"),
    "ass": ("substation", ".ass", "SubStation Alpha subtitles (the cues, with their speakers: Aegisub)"),
}
ALIASES = {"otio_json": "otio", "json": "otio", "xml": "fcp_xml", "fcp7": "fcp_xml", "premiere": "fcp_xml",
           "fcpxml": "fcpx_xml", "fcpx": "fcpx_xml", "cmx_3600": "edl", "cmx3600": "edl", "cmx": "edl",
           "subrip": "srt", "webvtt": "vtt", "ssa": "ass", "substation": "ass"}
READ_SUFFIXES = {".otio": "otio_json", ".otioz": "otioz", ".otiod": "otiod", ".xml": "fcp_xml",
                 ".fcpxml": "fcpx_xml", ".edl": "cmx_3600", ".srt": "srt", ".vtt": "webvtt",
                 ".ass": "substation", ".ssa": "substation",
                 ".ttml": "timedtext", ".dfxp": "timedtext", ".itt": "timedtext", ".scc": "timedtext",
                 ".stl": "timedtext"}
SUPPORTED = (".otio/.otioz/.otiod (OpenTimelineIO), .xml (FCP7 XML: Premiere, Resolve, Avid), .fcpxml "
             "(Final Cut Pro X), .edl (CMX 3600, Resolve marker EDL), .srt (SubRip), .vtt (WebVTT), .ass/.ssa "
             "(SubStation Alpha), .ttml/.dfxp/.itt (TTML, IMSC, iTunes), .scc (broadcast captions), .stl (EBU STL), "
             ".csv/.tsv cue sheets, and the suffixes of any other OTIO adapter plugin installed")
# formats whose file cannot hold the takes as a track: the result says so
NO_AUDIO_TRACK = {"srt": "SRT holds only the cues", "vtt": "WebVTT holds only the cues",
                  "ass": "a SubStation Alpha script holds only the cues",
                  "edl": "the EDL writer drops audio tracks"}
SUBTITLE_ADAPTERS = ("srt", "webvtt", "substation", "timedtext")      # read at a rate given or chosen


@dataclass
class Source:
    """What was read: the timeline to dub, the object it came in (a collection, or itself) and how."""

    timeline: otio.schema.Timeline
    container: object
    adapter: str
    format: str                     # a FORMATS name for writing back
    notes: list[str]


def format_name(name: str) -> str:
    key = name.strip().lower().lstrip(".")
    key = ALIASES.get(key, key)
    if key not in FORMATS:
        raise InputError(f"unknown format {name!r}: accepted {', '.join(FORMATS)} "
                         f"(also xml, fcpxml, cmx_3600, otio_json)")
    return key


def ensure_plugins() -> None:
    """Make takefit's adapters available even when the package's entry point is not installed
    (e.g. running from a source tree); a no-op once OTIO found them through the entry point."""
    manifest = otio.plugins.ActiveManifest()
    if any(a.name == "srt" for a in manifest.adapters):
        return

    path = resources.files("takefit.otio_adapters") / "plugin_manifest.json"
    manifest.extend(otio.plugins.manifest.manifest_from_file(str(path)))


def read(path: Path, rate: str | None = None, timeline_name: str | None = None) -> Source:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"cannot read {p}: no such file" if not p.exists() else f"cannot read {p}: not a file")
    suffix = p.suffix.lower()
    if suffix in cuesheet.SUFFIXES:
        sheet = cuesheet.read(p, rate)
        tl = sheet.timeline()
        return Source(tl, tl, "cuesheet", "otio", list(sheet.notes))
    ensure_plugins()
    notes: list[str] = []
    adapter = READ_SUFFIXES.get(suffix) or _plugin_for(suffix)
    if adapter is None:
        raise InputError(f"cannot read {p}: unsupported format {suffix or '(no suffix)'!r}; supported: {SUPPORTED}")
    kwargs: dict = {}
    if adapter == "cmx_3600":
        try:
            if resolve_marker_edl.looks_like(decode(p.read_bytes())):
                adapter = "resolve_marker_edl"
        except OSError as e:
            raise InputError(f"cannot read {p}: {e.strerror or e}") from None
    if rate:
        if adapter not in ("cmx_3600", "resolve_marker_edl", *SUBTITLE_ADAPTERS):
            raise InputError(f"--rate applies to EDL and subtitle input (SRT, WebVTT, SubStation) only; {p.name} "
                             f"carries its own rate")
        try:
            exact = rates.parse(rate)
        except ValueError as e:
            raise InputError(str(e)) from None
        kwargs["rate"] = rate if adapter != "cmx_3600" else float(exact)
    elif adapter in ("cmx_3600", "resolve_marker_edl"):
        notes.append(f"{p.name}: an EDL carries no frame rate; read at 24 fps (give --rate to change)")

    check_otio_json(p, adapter)
    try:
        obj = otio.adapters.read_from_file(str(p), adapter_name=adapter, **kwargs)
    except Exception as e:  # adapters raise anything from ValueError to XML errors
        if adapter != "cmx_3600":
            raise InputError(f"cannot read {p} as {adapter}: {e}") from None
        try:  # EDLs with overlapping record timecode are common; the reader can repair them
            obj = otio.adapters.read_from_file(str(p), adapter_name=adapter, ignore_timecode_mismatch=True, **kwargs)
            notes.append(f"{p.name}: record timecode mismatches were repaired by the EDL reader ({e})")
        except Exception:
            raise InputError(f"cannot read {p} as a CMX 3600 EDL: {e}") from None
    timeline = _pick_timeline(obj, timeline_name, p, notes)
    if adapter in SUBTITLE_ADAPTERS and not rate:
        notes += _chosen_rate_notes(p, adapter, timeline)
    fmt = {"otio_json": "otio", "otioz": "otio", "otiod": "otio", "fcp_xml": "fcp_xml", "fcpx_xml": "fcpx_xml",
           "cmx_3600": "edl", "resolve_marker_edl": "edl", "srt": "srt", "webvtt": "vtt",
           "substation": "ass"}.get(adapter)
    if adapter == "timedtext":
        fmt = "otio"
        notes += timed_text_notes(p, timeline)
    elif fmt is None:  # another installed plugin: read through it, write OTIO (its writer is untested here)
        fmt = "otio"
        notes.append(f"{p.name}: read with the {adapter!r} adapter; the result is written as .otio")
    return Source(timeline, obj, adapter, fmt, notes)


def _chosen_rate_notes(path: Path, adapter: str, timeline: otio.schema.Timeline) -> list[str]:
    """A subtitle file read at a rate takefit chose (none given, none in the file) says so."""
    meta = timeline.metadata.get(adapter) or {}
    if meta.get("rate_from") == "the file":
        return []
    what = {"srt": "an SRT", "webvtt": "a WebVTT file", "timedtext": "this timed text file"}.get(
        adapter, "a SubStation Alpha script")
    return [f"{path.name}: {what} carries no frame rate; read at {meta.get('rate', '?')} fps, the first common rate "
            f"on which every time lands on a frame (give --rate to change)"]


def timed_text_notes(path: Path, timeline: otio.schema.Timeline) -> list[str]:
    """What a run makes of a TTML, SCC or STL file: the cues and takes go to the .otio; where it starts."""
    notes = [f"{path.name}: timed text is read, not written back: the dub (cues and takes) is in the .otio"]
    start = timeline.global_start_time
    if start is not None and start.value > 0:
        notes.append(f"{path.name}: the programme starts at {otio.opentime.to_timecode(start)}: so do the "
                     f"timeline and its stem's timecode, the cues counted from there")
    return notes


def _plugin_for(suffix: str) -> str | None:
    """An installed OTIO adapter that reads files with this suffix (AAF, ALE … when installed)."""
    if not suffix:
        return None
    try:
        adapter = otio.plugins.ActiveManifest().from_filepath(suffix.lstrip("."))
    except Exception:  # OTIO raises its own NoKnownAdapterForExtensionError
        return None
    return adapter.name if adapter.has_feature("read") else None


def _pick_timeline(obj, name: str | None, path: Path, notes: list[str]) -> otio.schema.Timeline:
    if isinstance(obj, otio.schema.Timeline):
        found = [obj]
    elif hasattr(obj, "find_children"):
        found = list(obj.find_children(descended_from_type=otio.schema.Timeline))
    else:
        found = []
    if not found:
        raise InputError(f"{path} holds no timeline")
    if name:
        hits = [t for t in found if t.name == name]
        if not hits:
            raise InputError(f"no timeline named {name!r} in {path}: it holds {', '.join(repr(t.name) for t in found)}")
        return hits[0]
    if len(found) > 1:        # an FCPXML library with several projects, an .otio collection
        notes.append(f"{path.name} holds {len(found)} timelines ({', '.join(repr(t.name) for t in found)}); dubbing "
                     f"the first, {found[0].name!r} (choose with --timeline NAME, or --project NAME)")
    return found[0]


def replace_timeline(container, old: otio.schema.Timeline, new: otio.schema.Timeline):
    """The container with `old` swapped for `new` (a collection keeps its other timelines)."""
    if container is old or isinstance(container, otio.schema.Timeline):
        return new
    for i, child in enumerate(container):
        if child is old:
            container[i] = new
            return container
        if hasattr(child, "find_children"):
            replace_timeline(child, old, new)
    return container


# ------------------------------------------------------------------ writing
def prepare(obj, fmt: str):
    """Adjust a copy of `obj` for an adapter's known gaps; returns what to write."""
    if fmt == "fcp_xml":
        for m in _markers(obj):
            comment = getattr(m, "comment", "")
            meta = dict(m.metadata.get("fcp_xml") or {})
            if comment and not meta.get("comment"):
                meta["comment"] = comment
                m.metadata["fcp_xml"] = meta
    elif fmt == "fcpx_xml":
        _fcpx_ntsc()
    return obj


def _markers(obj):
    timelines = [obj] if isinstance(obj, otio.schema.Timeline) else \
        list(obj.find_children(descended_from_type=otio.schema.Timeline))
    for tl in timelines:
        yield from tl.tracks.markers
        for item in tl.find_children(descended_from_type=otio.core.Item):
            yield from item.markers


def _fcpx_ntsc() -> None:
    # The FCPXML writer maps frame rates to frameDuration through a table keyed 23.98/29.97/59.94 and
    # finds nothing for the exact 24000/1001 … floats OTIO uses, then fails. Give it those keys.
    module = otio.adapters.from_name("fcpx_xml").module()
    table = getattr(module, "FRAMERATE_FRAMEDURATION", None)
    if isinstance(table, dict):
        for n in (24, 30, 48, 60):
            table.setdefault(float(Fraction(n * 1000, 1001)), f"1001/{n * 1000}s")


def write_text(path: Path, text: str) -> Path:
    """Atomically: a temporary file in the same folder, renamed when complete — never half a timeline."""
    return write_atomic(path, text)


def to_string(obj, fmt: str) -> str:
    adapter = FORMATS[fmt][0]
    try:
        return otio.adapters.write_to_string(prepare(obj, fmt), adapter_name=adapter)
    except Exception as e:
        raise OutputError(f"the {adapter} writer failed: {e}") from None
