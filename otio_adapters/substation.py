"""OTIO adapter: SubStation Alpha (.ass, .ssa) ↔ timeline — Aegisub's files, in which many dubbing
studios time their scripts, each line carrying its speaker in the Actor ("Name") field.

Parsed by pysubs2 (sections, styles, the Format line's columns, times in centiseconds). Each
Dialogue line is a cue as a subtitle is (srt.py: markers, or clips on a "Subtitles" track, at the
rate you give or one on which every time lands on a frame); Comment lines are not. Its Actor is the
cue's speaker: the character, below a tag or a label in the text (cast.py). The text keeps its
override blocks (`{\\i1}`, `{\\pos(…)}`: markup, not said) and its `{translator's notes}` (not said
either: subtitles.py); `\\N` is a line break, `\\h` a space. Writing gives an .ass of the timeline's
cues with their speakers in the Actor field.

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
from takefit.otio_adapters.srt import SRTParseError, decode, first_timeline, subtitle_timeline

_SECTION = re.compile(r"^[ \t]*\[([^\]\n]+)\][ \t]*$", re.MULTILINE)


class SubStationParseError(SRTParseError):
    pass


def parse(text: str) -> tuple[list[tuple[int, Fraction, Fraction, str]], list[str]]:
    """((index, start s, end s, text) of every Dialogue line, their speakers)."""
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
    return items, [e.name.strip() for e in lines]


def _text(ass: str) -> str:
    return ass.replace("\\N", "\n").replace("\\n", "\n").replace("\\h", " ")


def read_from_string(input_str: str, rate="auto", cues_as: str = "markers", name: str = "subtitles"):
    items, speakers = parse(input_str)
    return subtitle_timeline(items, rate, cues_as, name, "substation", speakers)


def read_from_file(filepath: str, rate="auto", cues_as: str = "markers", encoding: str | None = None):
    data = Path(filepath).read_bytes()
    return read_from_string(decode(data, encoding), rate=rate, cues_as=cues_as, name=Path(filepath).stem)


def write_to_string(input_otio, tracks=None) -> str:
    """The timeline's cues as an .ass script, times from the timeline's first frame, speakers as Actors;
    tags stay in the text (a cue file round-trips); a point marker gets one frame."""
    subs = pysubs2.SSAFile()
    for cue in extract(first_timeline(input_otio), tracks or (), turns=False):
        end = cue.end if cue.duration else cue.start + 1
        text = "\\N".join(line for line in (cue.raw_text.strip() or cue.name or "").splitlines() if line.strip())
        subs.events.append(pysubs2.SSAEvent(start=_ms(cue.start, cue.rate), end=_ms(end, cue.rate), text=text,
                                            name=cue.speaker))
    return subs.to_string("ass")


def _ms(frames: int, rate: Fraction) -> int:
    return rates.round_half_up(Fraction(frames) * 1000 / rate)
