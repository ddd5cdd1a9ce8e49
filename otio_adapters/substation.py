"""OTIO adapter: SubStation Alpha (.ass, .ssa) ↔ timeline — Aegisub's files, in which many dubbing
studios time their scripts, each line carrying its speaker in the Actor ("Name") field.

Parsed by pysubs2 (sections, styles, the Format line's columns, times in centiseconds). Each
Dialogue line is a cue as a subtitle is (srt.py: markers, or clips on a "Subtitles" track, at the
rate you give or one on which every time lands on a frame); Comment lines are not. Its Actor is the
cue's speaker: the character, below a tag or a label in the text (cast.py). The text keeps its
override blocks (`{\\i1}`, `{\\pos(…)}`: markup, not said) and its `{translator's notes}` (not said
either: subtitles.py); `\\N` is a line break, `\\h` a space. Writing gives an .ass of the timeline's
cues with their speakers in the Actor field; a timeline read from a script gets that script back around
them — its [Script Info] (title, PlayResX/Y), its styles, each line's style, layer, margins and effect,
and its Comment lines — so a dubbed script opens in Aegisub as it was written.

    otio.adapters.read_from_file("script.ass")                      # markers, rate chosen
    otio.adapters.write_to_file(timeline, "script.ass")
"""
from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import pysubs2

from takefit.otio_adapters import rates
from takefit.otio_adapters.extract import extract
from takefit.otio_adapters.srt import SRTParseError, decode, first_timeline, kept_by_text, subtitle_timeline

_SECTION = re.compile(r"^[ \t]*\[([^\]\n]+)\][ \t]*$", re.MULTILINE)


class SubStationParseError(SRTParseError):
    pass


# A Dialogue line's fields kept for writing it back (its times, Actor and text are the cue's own)
EVENT_FIELDS = ("style", "layer", "marginl", "marginr", "marginv", "effect")


def parse(text: str) -> tuple[list[tuple[int, Fraction, Fraction, str]], list[pysubs2.SSAEvent], pysubs2.SSAFile]:
    """((index, start s, end s, text) of every Dialogue line, those lines as pysubs2 read them, the script)."""
    sections = {m.lower() for m in _SECTION.findall(text)}
    if not sections & {"script info", "events"}:
        raise SubStationParseError("not a SubStation Alpha script: it has no [Script Info] or [Events] section "
                                   "(an .ass/.ssa file as Aegisub writes it)")
    try:
        subs = pysubs2.SSAFile.from_string(text, format_="ssa" if "v4 styles" in sections else "ass")
    except Exception as e:       # pysubs2 raises ValueError for a bad time, its own errors for the rest
        raise SubStationParseError(f"cannot read the SubStation Alpha script: {e}") from None
    lines = [e for e in subs.events if not e.is_comment]
    for n, e in enumerate(lines, 1):
        if e.end < e.start:
            raise SubStationParseError(f"Dialogue line {n} ends ({e.end / 1000:.2f} s) before it starts "
                                       f"({e.start / 1000:.2f} s)")
    items = [(n, Fraction(e.start, 1000), Fraction(e.end, 1000), _text(e.text)) for n, e in enumerate(lines, 1)]
    return items, lines, subs


def _text(ass: str) -> str:
    return ass.replace("\\N", "\n").replace("\\n", "\n").replace("\\h", " ")


def read_from_string(input_str: str, rate="auto", cues_as: str = "markers", name: str = "subtitles"):
    items, lines, subs = parse(input_str)
    return subtitle_timeline(items, rate, cues_as, name, "substation", [e.name.strip() for e in lines],
                             metadata=_script(subs),
                             extras=[{"event": {f: getattr(e, f) for f in EVENT_FIELDS}} for e in lines])


def _script(subs: pysubs2.SSAFile) -> dict:
    """What writing back needs of the script beside its lines: its head (info and styles, as .ass text)
    and its Comment lines."""
    head = pysubs2.SSAFile()
    head.info, head.styles, head.aegisub_project = dict(subs.info), dict(subs.styles), dict(subs.aegisub_project)
    comments = [{"start": e.start, "end": e.end, "text": e.text, **{f: getattr(e, f) for f in EVENT_FIELDS}}
                for e in subs.events if e.is_comment]
    return {"script": head.to_string("ass"), "comments": comments}


def read_from_file(filepath: str, rate="auto", cues_as: str = "markers", encoding: str | None = None):
    data = Path(filepath).read_bytes()
    return read_from_string(decode(data, encoding), rate=rate, cues_as=cues_as, name=Path(filepath).stem)


def write_to_string(input_otio, tracks=None) -> str:
    """The timeline's cues as an .ass script, times from the timeline's first frame, speakers as Actors;
    tags stay in the text (a cue file round-trips); a point marker gets one frame. A timeline read from a
    script: inside that script's head, each line with its own style, layer, margins and effect, and the
    script's Comment lines in their places."""
    timeline = first_timeline(input_otio)
    kept = timeline.metadata.get("substation") or {}
    subs = _head(kept.get("script"))
    fields = kept_by_text(timeline, "substation", "event")
    for cue in extract(timeline, tracks or (), turns=False):
        end = cue.end if cue.duration else cue.start + 1
        text = "\\N".join(line for line in (cue.raw_text.strip() or cue.name or "").splitlines() if line.strip())
        own = fields.get(cue.raw_text, [])
        kept_fields = {k: v for k, v in (own.pop(0) if own else {}).items() if k in EVENT_FIELDS}
        subs.events.append(pysubs2.SSAEvent(start=_ms(cue.start, cue.rate), end=_ms(end, cue.rate), text=text,
                                            name=cue.speaker, **kept_fields))
    subs.events += [pysubs2.SSAEvent(type="Comment", **{k: v for k, v in dict(c).items() if k in _COMMENT_KEYS})
                    for c in kept.get("comments") or []]
    subs.sort()            # stable: each Comment line after the line it followed in the script
    return subs.to_string("ass")


_COMMENT_KEYS = ("start", "end", "text", *EVENT_FIELDS)


def _head(script) -> pysubs2.SSAFile:
    """The script a timeline was read from, without its lines; a plain one for a timeline read from
    elsewhere, or whose kept head no longer reads (metadata edited by hand in an .otio)."""
    try:
        return pysubs2.SSAFile.from_string(str(script)) if script else pysubs2.SSAFile()
    except Exception:       # pysubs2 raises its own errors and ValueError for what does not read
        return pysubs2.SSAFile()


def _ms(frames: int, rate: Fraction) -> int:
    return rates.round_half_up(Fraction(frames) * 1000 / rate)
