"""OTIO adapter: WebVTT (.vtt) ↔ timeline — the subtitles of web video (YouTube, Vimeo, HTML5 players).

Read as SubRip is (srt.py): one timeline whose cues are markers (default) or clips on a "Subtitles"
track, at the rate you give or one on which every time lands on a frame. What WebVTT adds is kept
for the cue's line: a voice span `<v Roger>` names the speaker (the cue's character, through
subtitles.py), other spans (`<c.yellow>`, `<i>`, `<lang fr>`, karaoke times `<00:01.500>`) are
markup, `&amp;`-style references are characters. STYLE, REGION and NOTE blocks and cue settings
(`align:start`) are not lines: not said. Writing gives a WEBVTT file of the timeline's cues, their
text escaped as WebVTT requires (`&`, `<`, `>`, and no `-->` inside a cue); a timeline read from a
WebVTT file gets back what that file held beside its lines — the header's text, its STYLE and REGION
blocks, each cue's identifier and settings (`line:0 align:start`), its NOTE blocks where they were.

    otio.adapters.read_from_file("lines.vtt")                       # markers, rate chosen
    otio.adapters.write_to_file(timeline, "lines.vtt")
"""
from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

from takefit.otio_adapters.extract import extract
from takefit.otio_adapters.srt import (SRTParseError, decode, first_timeline, kept_by_text, subtitle_timeline,
                                       timestamp, timing)

_FORM = "HH:MM:SS.mmm"
_BLOCKS = ("NOTE", "STYLE", "REGION")           # header and comment blocks: no line in them
_SETTINGS = re.compile(r"^.*?-->\s*\S+")        # a timing line up to its end time: what follows is settings
# a cue's spans (<v Roger>, </c>, <00:01.500>) and character references, written back as they are
_KEPT = re.compile(r"(</?(?:[cibuv]|lang|ruby|rt)(?:[.\s][^<>\n]*)?>|<\d[\d:.]*>|"
                   r"&(?:#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});)")


class WebVTTParseError(SRTParseError):
    pass


def parse(text: str) -> tuple[list[tuple[int, Fraction, Fraction, str]], list[dict], dict]:
    """((index, start s, end s, text) for every cue, what each cue keeps beside its line (identifier,
    settings, the NOTE blocks before it), what the file keeps (header text, STYLE/REGION, closing NOTEs))."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff").split("\n")
    if not re.match(r"WEBVTT(?:$|[ \t])", lines[0]):
        raise WebVTTParseError(f"not a WebVTT file: its first line is {lines[0][:40]!r}, and a WebVTT file begins "
                               f"with WEBVTT (a SubRip file is .srt)")
    items: list[tuple[int, Fraction, Fraction, str]] = []
    kept: list[dict] = []
    header = [lines[0][len("WEBVTT"):].rstrip()]
    for line in lines[1:]:          # the header runs to the first blank line (Kind:, Language: …)
        if not line.strip() or "-->" in line:
            break
        header.append(line.rstrip())
    head, notes = {"header": "\n".join(header), "blocks": []}, []
    for start_line, block in _blocks(lines):
        kind = block[0].split(" ", 1)[0].split("\t", 1)[0]
        if kind in _BLOCKS:          # NOTEs go back before the cue they preceded; STYLE/REGION in the header
            (notes if kind == "NOTE" else head["blocks"]).append("\n".join(block))
            continue
        at = 0 if "-->" in block[0] or len(block) < 2 or "-->" not in block[1] else 1   # after an identifier
        times = timing(block[at], start_line + at, len(items) + 1, _FORM)
        if times is None:
            raise WebVTTParseError(f"line {start_line}: a cue needs a timing line ({_FORM} --> {_FORM}, hours "
                                   f"optional); found {block[0].strip()[:60]!r}")
        items.append((len(items) + 1, *times, "\n".join(block[at + 1:])))
        kept.append({"id": block[0] if at else "", "settings": _SETTINGS.sub("", block[at]).strip(), "notes": notes})
        notes = []
    return items, kept, {**head, "notes": notes}


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
    items, kept, head = parse(input_str)
    return subtitle_timeline(items, rate, cues_as, name, "webvtt", metadata={"file": head},
                             extras=[{"cue": k} for k in kept])


def read_from_file(filepath: str, rate="auto", cues_as: str = "markers", encoding: str | None = None):
    data = Path(filepath).read_bytes()
    return read_from_string(decode(data, encoding), rate=rate, cues_as=cues_as, name=Path(filepath).stem)


def write_to_string(input_otio, tracks=None) -> str:
    """The timeline's cues as WebVTT, times from the timeline's first frame; tags stay in the text (a
    cue file round-trips), escaped; a point marker gets one frame."""
    timeline = first_timeline(input_otio)
    head = dict((timeline.metadata.get("webvtt") or {}).get("file") or {})
    out = [f"WEBVTT{head.get('header', '')}\n", *(f"{b}\n" for b in head.get("blocks") or [])]
    kept = kept_by_text(timeline, "webvtt", "cue")
    for cue in extract(timeline, tracks or (), turns=False):
        text = cue.raw_text.strip() or cue.name or ""
        end = cue.end if cue.duration else cue.start + 1
        own = kept.get(cue.raw_text, [])
        mine = own.pop(0) if own else {}
        out += [f"{note}\n" for note in mine.get("notes") or []]
        ident = f"{mine['id']}\n" if mine.get("id") else ""
        settings = f" {mine['settings']}" if mine.get("settings") else ""
        out.append(f"{ident}{timestamp(cue.start, cue.rate, '.')} --> {timestamp(end, cue.rate, '.')}{settings}\n"
                   f"{_escaped(text)}\n")
    out += [f"{note}\n" for note in head.get("notes") or []]
    return "\n".join(out)


def _escaped(text: str) -> str:
    """WebVTT's spans and references as they are (a .vtt read and written back is unchanged); any other
    `&`, `<` and `>` escaped, which also keeps `-->` out of the cue."""
    pieces = _KEPT.split(text)
    for i in range(0, len(pieces), 2):             # the text between the spans and references
        pieces[i] = pieces[i].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "\n".join(line for line in "".join(pieces).splitlines() if line.strip())   # a blank line ends a cue
