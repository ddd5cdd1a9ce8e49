"""OTIO adapter: WebVTT (.vtt) ↔ timeline — the subtitles of web video (YouTube, Vimeo, HTML5 players).

Read as SubRip is (srt.py): one timeline whose cues are markers (default) or clips on a "Subtitles"
track, at the rate you give or one on which every time lands on a frame. What WebVTT adds is kept
for the cue's line: a voice span `<v Roger>` names the speaker (the cue's character, through
subtitles.py), other spans (`<c.yellow>`, `<i>`, `<lang fr>`, karaoke times `<00:01.500>`) are
markup, `&amp;`-style references are characters. STYLE, REGION and NOTE blocks and cue settings
(`align:start`) are not lines: skipped. Writing gives a WEBVTT file of the timeline's cues, their
text escaped as WebVTT requires (`&`, `<`, `>`, and no `-->` inside a cue).

    otio.adapters.read_from_file("lines.vtt")                       # markers, rate chosen
    otio.adapters.write_to_file(timeline, "lines.vtt")
"""
from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

from takefit.otio_adapters.extract import extract
from takefit.otio_adapters.srt import SRTParseError, decode, first_timeline, subtitle_timeline, timestamp, timing

_FORM = "HH:MM:SS.mmm"
_BLOCKS = ("NOTE", "STYLE", "REGION")           # header and comment blocks: no line in them
# a cue's spans (<v Roger>, </c>, <00:01.500>) and character references, written back as they are
_KEPT = re.compile(r"(</?(?:[cibuv]|lang|ruby|rt)(?:[.\s][^<>\n]*)?>|<\d[\d:.]*>|"
                   r"&(?:#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});)")


class WebVTTParseError(SRTParseError):
    pass


def parse(text: str) -> list[tuple[int, Fraction, Fraction, str]]:
    """(index, start s, end s, text) for every cue; its identifier line and settings are dropped."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff").split("\n")
    if not re.match(r"WEBVTT(?:$|[ \t])", lines[0]):
        raise WebVTTParseError(f"not a WebVTT file: its first line is {lines[0][:40]!r}, and a WebVTT file begins "
                               f"with WEBVTT (a SubRip file is .srt)")
    items: list[tuple[int, Fraction, Fraction, str]] = []
    for start_line, block in _blocks(lines):
        if block[0].split(" ", 1)[0].split("\t", 1)[0] in _BLOCKS:
            continue
        at = 0 if "-->" in block[0] or len(block) < 2 or "-->" not in block[1] else 1   # after an identifier
        times = timing(block[at], start_line + at, len(items) + 1, _FORM)
        if times is None:
            raise WebVTTParseError(f"line {start_line}: a cue needs a timing line ({_FORM} --> {_FORM}, hours "
                                   f"optional); found {block[0].strip()[:60]!r}")
        items.append((len(items) + 1, *times, "\n".join(block[at + 1:])))
    return items


def _blocks(lines: list[str]) -> list[tuple[int, list[str]]]:
    """The blank-line separated blocks after the WEBVTT line, each with its first line's number (1-based)."""
    out: list[tuple[int, list[str]]] = []
    current: list[str] = []
    for number, line in enumerate(lines[1:], 2):
        if line.strip():
            if not current:
                out.append((number, current))
            current.append(line.rstrip())
        else:
            current = []
    return [(n, b) for n, b in out if n > 2 or "-->" in b[0]]   # the header's own text is not a block


def read_from_string(input_str: str, rate="auto", cues_as: str = "markers", name: str = "subtitles"):
    return subtitle_timeline(parse(input_str), rate, cues_as, name, "webvtt")


def read_from_file(filepath: str, rate="auto", cues_as: str = "markers", encoding: str | None = None):
    data = Path(filepath).read_bytes()
    return read_from_string(decode(data, encoding), rate=rate, cues_as=cues_as, name=Path(filepath).stem)


def write_to_string(input_otio, tracks=None) -> str:
    """The timeline's cues as WebVTT, times from the timeline's first frame; tags stay in the text (a
    cue file round-trips), escaped; a point marker gets one frame."""
    out = ["WEBVTT\n"]
    for cue in extract(first_timeline(input_otio), tracks or (), turns=False):
        text = cue.raw_text.strip() or cue.name or ""
        end = cue.end if cue.duration else cue.start + 1
        out.append(f"{timestamp(cue.start, cue.rate, '.')} --> {timestamp(end, cue.rate, '.')}\n{_escaped(text)}\n")
    return "\n".join(out)


def _escaped(text: str) -> str:
    """WebVTT's spans and references as they are (a .vtt read and written back is unchanged); any other
    `&`, `<` and `>` escaped, which also keeps `-->` out of the cue."""
    pieces = _KEPT.split(text)
    for i in range(0, len(pieces), 2):             # the text between the spans and references
        pieces[i] = pieces[i].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "\n".join(line for line in "".join(pieces).splitlines() if line.strip())   # a blank line ends a cue
