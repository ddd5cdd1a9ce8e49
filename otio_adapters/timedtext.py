"""OTIO adapter (reading): broadcast and streaming timed text — TTML / IMSC / DFXP (.ttml, .dfxp, .itt: the
subtitle and caption files streaming services and broadcasters deliver), Scenarist SCC (.scc: US
broadcast closed captions, CEA-608) and EBU STL (.stl: European broadcast subtitles).

The files are parsed by ttconv, the IMSC reference converter, which resolves their timing (TTML's
frames, ticks, offsets and nested time containers; SCC's pop-on, roll-up and paint-on captions;
STL's timecodes); each paragraph (`<p>`, a caption, a TTI subtitle) becomes a cue as a subtitle
does (srt.py: markers, or clips on a "Subtitles" track). What a subtitle file carries beyond that:

- the frame rate: TTML's `ttp:frameRate` (× `ttp:frameRateMultiplier`), SCC's 29.97, STL's DFC; the
  timeline runs at it unless `rate` is given (a TTML without one: the first common rate on which
  every time lands on a frame, as for SRT);
- the start: a programme that starts at 01:00:00:00 (SCC, many TTML) or at STL's TCP (10:00:00:00)
  gives a timeline starting there, its cues counted from it — not a stem an hour of silence long;
- the speaker: TTML's `ttm:agent` on a paragraph or its first span, named by the agent's `ttm:name`.

Written back as .otio (the dub's cues and takes): these formats are delivered to, not edited in, a dub.

    otio.adapters.read_from_file("episode.ttml")        # markers, at the file's frame rate
    otio.adapters.read_from_file("episode.scc", cues_as="clips")
"""
from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

from ttconv import model
from ttconv.imsc import reader as imsc_reader
from ttconv.scc import reader as scc_reader
from ttconv.stl import reader as stl_reader
from ttconv.style_properties import StyleProperties
from ttconv.time_code import SmpteTimeCode

from takefit.otio_adapters.srt import SRTParseError, decode, subtitle_timeline
from takefit.otio_adapters.subtitles import color_name

TT = "{http://www.w3.org/ns/ttml}"
TTP = "{http://www.w3.org/ns/ttml#parameter}"
TTM = "{http://www.w3.org/ns/ttml#metadata}"
SCC_RATE = Fraction(30000, 1001)          # NTSC: every SCC file
STL_RATES = {b"STL25.01": Fraction(25), b"STL30.01": Fraction(30000, 1001)}   # GSI DFC (ttconv's reading)
HOUR = 3600
MAX_DEPTH = 100                            # element nesting read; real files nest 5–8 (tt, body, div, p, span)


class TimedTextParseError(SRTParseError):
    pass


class Read(NamedTuple):
    """What a timed text file holds for a timeline. (Not a dataclass: OTIO loads this file under a module
    name of its own, where a dataclass cannot find its module.)"""
    items: list[tuple[int, Fraction, Fraction, str]]    # (index, begin s, end s, text)
    rate: Fraction | None = None                        # the file's own frame rate
    start: Fraction = Fraction(0)                       # the programme's start, seconds
    speakers: list[str] | None = None
    colors: list[str | None] | None = None               # the colour each is written in (its styles)
    drop_frame: bool = False                            # its timecodes are drop-frame (SCC's `;`)


def read_from_file(filepath: str, rate=None, cues_as: str = "markers"):
    path = Path(filepath)
    suffix = path.suffix.lower()
    if suffix == ".stl":
        read = _stl(path.read_bytes())
    else:
        text = decode(path.read_bytes())
        read = _scc(text) if suffix == ".scc" else _ttml(text)
    return _timeline(read, rate, cues_as, path.stem)


def read_from_string(input_str: str, rate=None, cues_as: str = "markers", name: str = "subtitles"):
    """TTML or SCC text (an STL file is binary: read it from its file)."""
    scc = input_str.lstrip("\ufeff").startswith("Scenarist_SCC")
    return _timeline(_scc(input_str) if scc else _ttml(input_str), rate, cues_as, name)


def _timeline(read: Read, rate, cues_as: str, name: str):
    if not read.items:
        raise TimedTextParseError("no subtitle with a time and text in the file")
    chosen = rate if rate not in (None, "", "auto") else (read.rate or "auto")
    about = {"rate_from": "the file" if read.rate and chosen == read.rate else "chosen"}
    if read.drop_frame:
        about["drop_frame"] = True
    return subtitle_timeline(read.items, chosen, cues_as, name, "timedtext", read.speakers, read.start, about,
                             read.colors)


# ------------------------------------------------------------------ the three readers
def _ttml(text: str):
    try:
        tree = ET.ElementTree(ET.fromstring(text.lstrip("\ufeff").encode("utf-8")))
    except ET.ParseError as e:
        raise TimedTextParseError(f"not a TTML document: {e}") from None
    root = tree.getroot()
    if (depth := nesting(root)) > MAX_DEPTH:       # ttconv walks the tree recursively: it would overflow
        raise TimedTextParseError(f"its elements nest {depth} deep; a TTML document nests a handful (tt, body, "
                                  f"div, p, span) and at most {MAX_DEPTH} are read: export it again")
    if root.tag != f"{TT}tt":
        raise TimedTextParseError(f"not a TTML document: its root element is {root.tag!r}, not tt in the TTML "
                                  f"namespace (http://www.w3.org/ns/ttml)")
    doc = _model(lambda: imsc_reader.to_model(tree), "TTML")
    items, colors = paragraphs(doc)
    speakers = agents(root)
    if len(speakers) > len(items):
        raise TimedTextParseError(f"{len(speakers) - len(items)} of its {len(speakers)} paragraphs (<p>) have no "
                                  f"time span that reads: each needs begin and end (or dur), on it or on its div; a "
                                  f"div with begin but no end or dur also loses its lines to the TTML reader (ttconv "
                                  f"1.2): give it an end")
    rate = ttml_rate(root)
    return Read(items, rate, program_start(items, rate, clock=True), speakers, colors)   # TTML: media time


def _scc(text: str):
    items, colors = paragraphs(_model(lambda: scc_reader.to_model(text), "SCC"))
    drop = bool(re.search(r"^\d\d:\d\d:\d\d;\d\d", text, re.MULTILINE))
    return Read(items, SCC_RATE, program_start(items, SCC_RATE, clock=drop), colors=colors, drop_frame=drop)


def _stl(data: bytes):
    native = STL_RATES.get(data[3:11])
    items, colors = paragraphs(_model(lambda: stl_reader.to_model(io.BytesIO(data)), "EBU STL"))
    return Read(items, native, stl_start(data, native) or program_start(items, native, clock=False), colors=colors)


def stl_start(data: bytes, rate: Fraction | None) -> Fraction | None:
    """The programme's start timecode (GSI TCP, HHMMSSFF) in seconds, None where it does not read."""
    tcp = data[256:264]
    if rate is None or len(tcp) != 8 or not tcp.isdigit():
        return None
    try:
        return SmpteTimeCode(*(int(tcp[i:i + 2]) for i in range(0, 8, 2)), rate).to_temporal_offset()
    except ValueError:
        return None


def nesting(root: ET.Element) -> int:
    """How deep the element tree goes (counted without recursion: the point is a tree too deep for it)."""
    deepest, todo = 0, [(root, 1)]
    while todo:
        element, depth = todo.pop()
        deepest = max(deepest, depth)
        todo.extend((child, depth + 1) for child in element)
    return deepest


def _model(read, what: str) -> model.ContentDocument:
    try:
        doc = read()
    except RecursionError:
        raise TimedTextParseError(f"the {what} file nests too deep to read: export it again") from None
    except Exception as e:          # ttconv raises ValueError, TypeError … for what does not read
        raise TimedTextParseError(f"cannot read the {what} file: {type(e).__name__}: {e}") from None
    if doc is None or doc.get_body() is None:
        raise TimedTextParseError(f"cannot read the {what} file: no body of subtitles in it")
    return doc


# ------------------------------------------------------------------ what the model holds
def paragraphs(doc: model.ContentDocument) -> tuple[list[tuple[int, Fraction, Fraction, str]], list[str | None]]:
    """(index, begin s, end s, text) of every paragraph with text and a time span, in document order, and
    the colour each is written in (its own or its first styled span's: `color_name`).
    ttconv keeps each element's times relative to its parent's begin (TTML's par containers); an element
    without an end ends with its parent. Not cut at its parent's end: ttconv 1.2.3 counts a par
    container's implicit end from its parent's begin instead of its own (a `<div begin="1s">` of lines
    ending at 5.5 s ends at 5.5 s, not 6.5 s), which would cut its last line short."""
    out: list[tuple[int, Fraction, Fraction, str]] = []
    colors: list[str | None] = []

    def walk(element, begin: Fraction, end: Fraction | None) -> None:
        b = begin + (element.get_begin() or 0)
        e = begin + element.get_end() if element.get_end() is not None else end
        if isinstance(element, model.P):
            text = _text(element).strip()
            if text and e is not None and e > b:
                out.append((len(out) + 1, b, e, text))
                colors.append(_color(element))
            return
        for child in element:
            walk(child, b, e)

    walk(doc.get_body(), Fraction(0), None)
    return out, colors


def _color(paragraph) -> str | None:
    """The paragraph's text colour, by the cast's colour names (teletext's and CEA-608's eight)."""
    for element in paragraph.dfs_iterator():
        value = element.get_style(StyleProperties.Color)
        if value is not None:
            return color_name(*value.components[:3])
    return None


def _text(element) -> str:
    if isinstance(element, model.Text):
        return element.get_text()
    if isinstance(element, model.Br):
        return "\n"
    return "".join(_text(child) for child in element)


def ttml_rate(root: ET.Element) -> Fraction | None:
    """`ttp:frameRate` × `ttp:frameRateMultiplier` ("1000 1001": 29.97), None where it is not given."""
    rate = root.get(f"{TTP}frameRate")
    if not rate or not rate.strip().isdigit():
        return None
    multiplier = (root.get(f"{TTP}frameRateMultiplier") or "1 1").split()
    try:
        return Fraction(int(rate.strip())) * Fraction(int(multiplier[0]), int(multiplier[1]))
    except (ValueError, IndexError, ZeroDivisionError):
        return Fraction(int(rate.strip()))


def agents(root: ET.Element) -> list[str]:
    """The speaker of every `<p>` with text, in document order: its `ttm:agent` or its first span's, by
    the agent's `ttm:name` ("" where none)."""
    names = {}
    for agent in root.iter(f"{TTM}agent"):
        name = agent.find(f"{TTM}name")
        names[agent.get("{http://www.w3.org/XML/1998/namespace}id", "")] = \
            (name.text or "").strip() if name is not None else ""
    out = []
    for p in root.iter(f"{TT}p"):
        if not "".join(p.itertext()).strip():
            continue
        ref = next((el.get(f"{TTM}agent") for el in p.iter() if el.get(f"{TTM}agent")), "")
        out.append(names.get(ref.split()[0], ref.split()[0]) if ref else "")
    return out


def program_start(items, rate: Fraction | None, clock: bool) -> Fraction:
    """The whole hour a programme starts at, where its first line is an hour or more in (broadcast
    programmes start at 01:00:00:00 or 10:00:00:00): the timeline starts there; 0 otherwise. `clock`:
    the file's hours are 3600 s (TTML's media time, drop-frame timecode); else an hour of timecode
    frames (at 29.97 fps non-drop-frame: 108,000 frames, 3603.6 s)."""
    first = min((a for _, a, _, _ in items), default=Fraction(0))
    hour = Fraction(HOUR)
    if rate is not None and rate.denominator != 1 and not clock:
        hour = Fraction(round(rate) * HOUR) / rate
    slack = Fraction(1, 2) / rate if rate else Fraction(0)       # DF's 01:00:00;00 is 3599.9964 s
    return hour * int((first + slack) // hour)
