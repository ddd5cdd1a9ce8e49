"""Hit points from the timeline: a point marker inside a cue's range whose note is `@word` pins that
word's onset to the marker's frame (the engine's inline `{@Nf}`, N frames from the cue's start).

    cue "Ready? Go!" over frames 100-172,  point marker "@go" at frame 136
      → "Ready? {@36f}Go!"

Such markers are not lines themselves. One that lies in no cue, or whose word the line does not
have, is reported on the nearest cue and otherwise ignored. Words are matched case-insensitively,
each marker after the previous one's word, so a repeated word is pinned in order.
"""
from __future__ import annotations

import re
from dataclasses import replace

from takefit.otio_adapters import tags
from takefit.otio_adapters.cue import Cue

HIT = re.compile(r"^\s*@\s*(\S+)\s*$")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def hit_word(cue: Cue) -> str | None:
    """The word a point marker pins (`@go` → 'go'), or None if it is not a hit marker."""
    m = HIT.match(cue.raw_text or "") if cue.is_point else None
    return m[1] if m else None


def apply(cues: list[Cue]) -> list[Cue]:
    """The cues with the hit markers folded into the lines they fall in (ids renumbered)."""
    hits = [c for c in cues if hit_word(c) is not None]
    lines = [c for c in cues if hit_word(c) is None]
    cursor: dict[int, int] = {}
    for hit in sorted(hits, key=lambda c: c.start):
        k = next((i for i, c in enumerate(lines) if not c.is_point and c.start <= hit.start < c.end), None)
        if k is None:
            k = min(range(len(lines)), key=lambda i: abs(lines[i].start - hit.start), default=None)
            if k is not None:
                lines[k] = _note(lines[k], f"hit marker {hit.raw_text.strip()!r} ({hit.origin}) lies in no "
                                           f"line's range: ignored")
            continue
        lines[k], cursor[k] = _pin(lines[k], hit, cursor.get(k, 0))
    width = max(3, len(str(len(lines))))
    return [replace(c, id=f"c{i:0{width}d}") for i, c in enumerate(lines, 1)]


def _pin(cue: Cue, hit: Cue, after: int) -> tuple[Cue, int]:
    word = hit_word(hit)
    inner, body = tags.split(cue.raw_text)
    head = cue.raw_text[:len(cue.raw_text) - len(body)]
    pattern = re.escape(word) if _HAN.search(word) else rf"(?<![\w'’]){re.escape(word)}(?![\w'’])"
    m = re.compile(pattern, re.IGNORECASE).search(body, after)
    if m is None:
        return _note(cue, f"hit marker {hit.raw_text.strip()!r} ({hit.origin}): the line has no {word!r} "
                          f"after the previous pin; ignored"), after
    mark = f"{{@{hit.start - cue.start}f}}"
    body = body[:m.start()] + mark + body[m.start():]
    return replace(cue, raw_text=head + body), m.end() + len(mark)


def _note(cue: Cue, note: str) -> Cue:
    return replace(cue, notes=tuple(cue.notes) + (note,))
