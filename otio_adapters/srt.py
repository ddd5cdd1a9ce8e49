"""OTIO adapter: SubRip (.srt) ↔ timeline.

Reading makes one timeline whose subtitles are markers (default) or clips on a "Subtitles" track,
at a frame rate you give (`rate=25`) or one chosen so the subtitle times land on frames ("auto").
Writing turns a timeline's cues (markers, or the clips of `tracks=[...]`) back into subtitles.

    otio.adapters.read_from_file("lines.srt")                       # markers, rate chosen
    otio.adapters.read_from_file("lines.srt", rate=25, cues_as="clips")
    otio.adapters.write_to_file(timeline, "lines.srt")
"""
from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from takefit.otio_adapters import rates
from takefit.otio_adapters.extract import extract
from takefit.otio_adapters.place import assign_lanes

# Rates tried by rate="auto", first that fits wins; whole-second times fit all, so 24 (OTIO's and
# the EDL reader's default) comes first.
AUTO_RATES = (Fraction(24), Fraction(25), Fraction(30), Fraction(24000, 1001), Fraction(30000, 1001),
              Fraction(50), Fraction(60), Fraction(60000, 1001))
DEFAULT_RATE = Fraction(24)
SUBTITLE_TRACK = "Subtitles"
_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{1,2})(?:[,.](\d{1,3}))?"
_TIMING = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}")


class SRTParseError(otio.exceptions.OTIOError):
    pass


def _seconds(h, m, s, ms) -> Fraction:
    frac = Fraction(int(ms.ljust(3, "0")), 1000) if ms else Fraction(0)
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + frac


def timing(line: str, number: int, index: int, form: str = "HH:MM:SS,mmm") -> tuple[Fraction, Fraction] | None:
    """A timing line's (start, end) in seconds; None for a line that is none. A line with '-->' that
    does not read, or minutes/seconds over 59, is an error: dropping or wrapping it would move a cue."""
    m = _TIMING.match(line)
    if not m:
        if "-->" in line:
            raise SRTParseError(f"line {number} (subtitle {index}): cannot read the timing {line.strip()[:60]!r}; "
                                f"expected {form} --> {form} (times are never negative)")
        return None
    g = m.groups()
    for value, what in ((g[1], "minutes"), (g[2], "seconds"), (g[5], "minutes"), (g[6], "seconds")):
        if int(value) > 59:
            raise SRTParseError(f"line {number} (subtitle {index}): {what} {value} out of range (00–59) in "
                                f"{line.strip()[:60]!r}")
    start, end = _seconds(*g[:4]), _seconds(*g[4:])
    if end < start:
        raise SRTParseError(f"subtitle {index}: ends ({float(end):.3f} s) before it starts ({float(start):.3f} s)")
    return start, end


def parse(text: str) -> list[tuple[int, Fraction, Fraction, str]]:
    """(index, start s, end s, text) for every subtitle; tolerant of missing indices, CRLF, '.' for ','."""
    items: list[tuple[int, Fraction, Fraction, str]] = []
    lines = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff").split("\n")
    i = 0
    while i < len(lines):
        prev = lines[i - 1].strip() if i > 0 else ""
        index = int(prev) if prev.isdigit() else len(items) + 1
        times = timing(lines[i], i + 1, index)
        if times is None:
            i += 1
            continue
        start, end = times
        body = []
        i += 1
        while i < len(lines) and lines[i].strip():
            # a following "index + timing" pair without the blank line in between starts the next one
            if lines[i].strip().isdigit() and i + 1 < len(lines) and _TIMING.match(lines[i + 1]):
                break
            body.append(lines[i].rstrip())
            i += 1
        items.append((index, start, end, "\n".join(body)))
    return items


def choose_rate(times: list[Fraction]) -> Fraction:
    """The first rate on which every time lies within a millisecond of a frame (SRT keeps ms)."""
    for r in AUTO_RATES:
        if all(abs(t * r - rates.round_half_up(t * r)) / r <= Fraction(1, 1000) for t in times):
            return r
    return DEFAULT_RATE


def _rate(rate, times) -> Fraction:
    if rate in (None, "", "auto"):
        return choose_rate(times)
    return rates.parse(rate)  # '29.97' → 30000/1001


def read_from_string(input_str: str, rate="auto", cues_as: str = "markers", name: str = "subtitles"):
    return subtitle_timeline(parse(input_str), rate, cues_as, name, "srt")


def subtitle_timeline(items: list[tuple[int, Fraction, Fraction, str]], rate, cues_as: str, name: str,
                      kind: str, speakers: list[str] | None = None, start: Fraction = Fraction(0),
                      metadata: dict | None = None, colors: list[str | None] | None = None,
                      extras: list[dict] | None = None) -> otio.schema.Timeline:
    """Subtitles (index, start s, end s, text) as markers or clips of a timeline; `kind` ("srt", "webvtt",
    "substation", "timedtext") names the metadata they carry, by which extract.py knows a subtitle's line,
    `speakers` (one per subtitle, "" for none) who the file says speaks each, `colors` the colour each is
    written in where the file's styles give it (subtitles.color_name; SRT and WebVTT carry theirs in the
    text), `start` (seconds, a whole frame at the rate) the timeline's start timecode, which the times
    are counted from, and `extras` what else the format keeps of each (a SubStation line's style)."""
    said_by = [(who, color, extra) for who, color, extra in
               zip(speakers or [""] * len(items), colors or [None] * len(items), extras or [{}] * len(items))]
    fps = _rate(rate, [t - start for _, a, b, _ in items for t in (a, b)])
    first = rates.round_half_up(start * fps)
    tl = otio.schema.Timeline(name=name, global_start_time=rates.rt(first, fps))
    tl.metadata[kind] = {"rate": rates.rate_text(fps), **(metadata or {})}
    spans = [(rates.round_half_up(a * fps) - first, rates.round_half_up(b * fps) - first, idx, txt)
             for idx, a, b, txt in items]
    if cues_as == "markers":
        for (f0, f1, idx, txt), who in zip(spans, said_by):
            tl.tracks.markers.append(otio.schema.Marker(
                name=_label(txt, idx), marked_range=rates.time_range(f0, f1 - f0, fps),
                metadata={kind: _metadata(idx, *who)}, comment=txt))
    elif cues_as == "clips":
        lanes = assign_lanes([(f0, f1) for f0, f1, _, _ in spans])
        tracks: list[otio.schema.Track] = []
        for (f0, f1, idx, txt), lane, who in zip(spans, lanes, said_by):
            while len(tracks) <= lane:
                tracks.append(otio.schema.Track(
                    name=SUBTITLE_TRACK if not tracks else f"{SUBTITLE_TRACK} {len(tracks) + 1}",
                    kind=otio.schema.TrackKind.Video))
            track = tracks[lane]
            end = rates.frames(track.duration(), fps) if len(track) else 0
            if f0 > end:
                track.append(otio.schema.Gap(source_range=rates.time_range(0, f0 - end, fps)))
            track.append(otio.schema.Clip(name=_label(txt, idx), source_range=rates.time_range(0, f1 - f0, fps),
                                          metadata={kind: {**_metadata(idx, *who), "text": txt}}))
        for t in tracks:
            tl.tracks.append(t)
    else:
        raise ValueError(f"cues_as={cues_as!r}: accepted 'markers' or 'clips'")
    return tl


def _metadata(index: int, speaker: str, color: str | None, extra: dict) -> dict:
    return {"index": index, **({"speaker": speaker} if speaker else {}), **({"color": color} if color else {}),
            **extra}


def read_from_file(filepath: str, rate="auto", cues_as: str = "markers", encoding: str | None = None):
    data = Path(filepath).read_bytes()
    return read_from_string(decode(data, encoding), rate=rate, cues_as=cues_as, name=Path(filepath).stem)


def decode(data: bytes, encoding: str | None = None) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else GB18030 (Chinese) or Windows-1252."""
    if encoding:
        return data.decode(encoding)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
        if re.search(r"[\u4e00-\u9fff]", text):
            return text
    except UnicodeDecodeError:
        pass
    return data.decode("cp1252", errors="replace")


def _label(text: str, index: int) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first[:60] or f"Subtitle {index}"


def timestamp(n_frames: int, fps: Fraction, decimal: str = ",") -> str:
    ms = rates.round_half_up(Fraction(n_frames) * 1000 / fps)
    h, rem = divmod(ms, 3600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{decimal}{ms:03d}"


def write_to_string(input_otio, tracks=None) -> str:
    """The timeline's cues as SubRip, times from the timeline's first frame. Tags stay in the text, so
    a cue file round-trips; a point marker gets one frame."""
    timeline = first_timeline(input_otio)
    out = []
    for n, cue in enumerate(extract(timeline, tracks or (), turns=False), 1):
        text = cue.raw_text.strip() or cue.name or ""
        end = cue.end if cue.duration else cue.start + 1
        out.append(f"{n}\n{timestamp(cue.start, cue.rate)} --> {timestamp(end, cue.rate)}\n{text}\n")
    return "\n".join(out)


def kept_by_text(timeline: otio.schema.Timeline, kind: str, key: str) -> dict[str, list[dict]]:
    """What a reader kept of each subtitle for writing it back (`metadata[kind][key]`: a SubStation line's
    style, a WebVTT cue's settings), by the subtitle's text, in timeline order: a writer takes them in
    turn as extract() hands it the cues (two subtitles saying the same words keep theirs in order)."""
    found = [(m.marked_range.start_time.to_seconds(), m.comment, m.metadata[kind][key])
             for m in timeline.tracks.markers if key in (m.metadata.get(kind) or {})]
    for clip in timeline.find_clips():
        md = clip.metadata.get(kind) or {}
        if key in md:
            found.append((clip.range_in_parent().start_time.to_seconds(), md.get("text", ""), md[key]))
    out: dict[str, list[dict]] = {}
    for _, text, fields in sorted(found, key=lambda f: f[0]):
        out.setdefault(text, []).append(dict(fields))
    return out


def first_timeline(obj) -> otio.schema.Timeline:
    if isinstance(obj, otio.schema.Timeline):
        return obj
    found = list(obj.find_children(descended_from_type=otio.schema.Timeline)) if hasattr(obj, "find_children") else []
    if not found:
        raise otio.exceptions.NotSupportedError("no timeline to write")
    return found[0]
