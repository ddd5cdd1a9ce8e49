"""The sidecar `<timeline>.takefit.toml`: lines edited and takes picked in the casting panel, kept beside
the timeline so that `takefit dub`, the watch folder, the Resolve scripts and the panel all read them.

    version = 1

    [cues.c004]
    at = "01:00:04:12"             # where the cue started when the entry was saved (for people; breaks ties;
                                   # labelled as the timeline labels it: 01:00:04;12 on a drop-frame one)
    was = "[alice] Old words."     # the timeline's text (tag included) the entry was made against
    text = "New words."            # the line to say instead; the tag, the cast and pronunciations still apply
    take = 2                       # the read picked: 1 = the standard one, 2… alternates (a tag's take=N)

Cue ids are positions in timeline order (c001, c002 …), so a marker inserted earlier shifts them. An
entry therefore applies to the cue with its id only while that cue's text is still `was`; otherwise to
the one cue whose text is `was` (the nearest to `at` if several); otherwise it is stale: not applied,
and a note says so. The timeline stays the source of truth: a line changed there wins over an edit
made against its old words. See docs/cues.md, "Edited lines and picked takes".
"""
from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import opentimelineio as otio

from takefit.engine.errors import InputError, OutputError
from takefit.engine.files import write_atomic
from takefit.engine.request import MAX_TEXT_CHARS, MAX_VARIANT

from takefit.otio_adapters import cast as castfile, rates, tags
from takefit.otio_adapters.cue import Cue

SUFFIX = ".takefit.toml"
VERSION = 1
MAX_TAKE = MAX_VARIANT        # the reads a cue can have
MAX_BYTES = 4 << 20           # a few lines per cue: thousands of cues fit; anything larger is not a sidecar
FIX = ("fix or delete that entry (docs/cues.md, 'Edited lines and picked takes'), or run with --no-sidecar to "
       "ignore the whole file")
_ID = re.compile(r"c\d{1,6}")
_TOP_KEYS = ("version", "cues")
_ENTRY_KEYS = ("at", "was", "text", "take")
_HEADER = """\
# takefit sidecar for {name}: lines edited and takes picked in the casting panel.
# Written by `takefit panel` (Save); read by `takefit dub`, `takefit watch`, the Resolve scripts and the panel.
# An entry applies to the cue whose timeline text is still `was` (its own cue id first, else the same text
# nearest `at`); when the line changed on the timeline the entry is left out, with a note.
# Delete an entry (or this file) to go back to the timeline's lines; `takefit dub --no-sidecar` ignores it.
"""


def path_for(timeline: Path) -> Path:
    """`scene.xml` → `scene.xml.takefit.toml`: the timeline's full name, so scene.xml and scene.srt keep
    their own edits."""
    timeline = Path(timeline)
    return timeline.with_name(timeline.name + SUFFIX)


def find(timeline: Path | None, explicit: Path | None = None) -> Path | None:
    """The sidecar to read: `explicit` (where the timeline has no file: Resolve), else the one beside the
    timeline; None when there is none yet."""
    if explicit is None and timeline is None:
        return None
    p = Path(explicit) if explicit is not None else path_for(timeline)
    return p if p.is_file() else None


@dataclass(frozen=True)
class Entry:
    """One cue's edit and/or pick, with what identifies its line."""

    id: str                          # the cue's id when the entry was saved
    was: str                         # the timeline's raw text then
    at: str = ""                     # its start timecode then
    text: str | None = None          # the edited line to say
    take: int | None = None          # the picked read

    def __post_init__(self):
        where = f"[cues.{self.id}]"
        if not isinstance(self.id, str) or not _ID.fullmatch(self.id):
            raise InputError(f"[cues.{self.id!r}]: a cue id is 'c' and its number (c001, c014 …), as the panel and "
                             f"`takefit dub --list` show it")
        if not isinstance(self.was, str):
            raise InputError(f"{where} was must be a string: the timeline's text the entry was made against")
        if not isinstance(self.at, str):
            raise InputError(f"{where} at must be a string: the cue's start timecode, e.g. \"01:00:04:12\"")
        if self.text is None and self.take is None:
            raise InputError(f"{where} has neither text nor take: give the edited line (text = \"…\") or the picked "
                             f"read (take = 2), or delete the entry")
        if self.text is not None and (not isinstance(self.text, str) or not self.text.strip()):
            raise InputError(f"{where} text must be the line to say (a non-empty string); delete the entry to use "
                             f"the timeline's line")
        if self.text is not None and len(self.text) > MAX_TEXT_CHARS:
            raise InputError(f"{where} text is {len(self.text)} characters; one line may have at most "
                             f"{MAX_TEXT_CHARS} (split it into several cues on the timeline)")
        if self.take is not None and (isinstance(self.take, bool) or not isinstance(self.take, int)
                                      or not 1 <= self.take <= MAX_TAKE):
            raise InputError(f"{where} take = {self.take!r}: accepted a whole number 1 to {MAX_TAKE} (1 = the "
                             f"standard read, 2… the alternates the panel offers)")

    @property
    def what(self) -> str:
        """What the entry does, for notes: 'edited', 'take 2 picked', 'edited and take 2 picked'."""
        parts = (["edited"] if self.text is not None else []) + \
            ([f"take {self.take} picked"] if self.take is not None else [])
        return " and ".join(parts)


@dataclass(frozen=True)
class Applied:
    """What a sidecar does to a timeline's cues: the entry each cue gets, and the entries no cue takes."""

    path: Path | None = None
    found: dict[str, Entry] = field(default_factory=dict)    # the cue's id now → its entry
    stale: tuple[tuple[Entry, str | None], ...] = ()        # (entry, the raw text its cue id holds now, or None)
    ignored: bool = False                                    # a sidecar was there, but --no-sidecar

    @property
    def edits(self) -> dict[str, str]:
        return {cid: e.text for cid, e in self.found.items() if e.text is not None}

    @property
    def picks(self) -> dict[str, int]:
        return {cid: e.take for cid, e in self.found.items() if e.take is not None}

    @property
    def moved(self) -> dict[str, str]:
        """Entry id → the id of the cue it follows now (a cue was added or removed before its line)."""
        return {e.id: cid for cid, e in self.found.items() if e.id != cid}

    def notes(self) -> list[str]:
        if self.ignored:
            return [f"sidecar {self.path} ignored (--no-sidecar): the timeline's lines and the standard reads"]
        if self.path is None:
            return []
        n, m = len(self.edits), len(self.picks)
        out = [(f"sidecar: {n} edited line{'s' if n != 1 else ''}, {m} picked take{'s' if m != 1 else ''} "
                f"applied ({self.path})")]
        out += [f"sidecar: the entry for {old} follows its line, now {new} (cues were added or removed before it)"
                for old, new in self.moved.items()]
        return out + [stale_note(e, now) for e, now in self.stale]

    def to_json(self) -> dict | None:
        """The report's record of what the sidecar changed (None when there was none)."""
        if self.path is None:
            return None
        return {"path": str(self.path), "ignored": self.ignored, "edited": self.edits, "picked": self.picks,
                "moved": self.moved, "stale": [e.id for e, _ in self.stale]}


def stale_note(entry: Entry, now: str | None) -> str:
    """Why an entry is not applied, and what to do about it."""
    if entry.text is not None:
        what = "text and read are" if entry.take is not None else "text is"
    else:
        what = "read is"
    redo = "re-edit it" if entry.text is not None else "pick again"
    since = f"now {_short(now)!r}" if now is not None else f"there is no cue {entry.id} now"
    return (f"sidecar: {entry.id} {_short(entry.was)!r} {entry.what} in the panel: the timeline's line changed "
            f"since ({since}); the timeline's {what} used — {redo} in the panel or delete the entry")


def _short(text: str, width: int = 60) -> str:
    one = " ".join(text.split())
    return one if len(one) <= width else one[:width - 1] + "…"


def same_text(a: str, b: str) -> bool:
    """The same line, whitespace aside (exporters re-wrap and re-indent marker notes)."""
    return a.split() == b.split()


@dataclass(frozen=True)
class Sidecar:
    path: Path | None = None
    entries: tuple[Entry, ...] = ()

    def __post_init__(self):
        ids = [e.id for e in self.entries]
        if len(set(ids)) != len(ids):
            twice = sorted({i for i in ids if ids.count(i) > 1})
            raise InputError(f"two entries for {', '.join(twice)}: keep one per cue")

    def match(self, cues: Sequence[Cue], start: int = 0) -> Applied:
        """Which cue each entry belongs to now (`start`: the timeline's first frame, as `at` counts)."""
        by_id = {c.id: c for c in cues}
        found: dict[str, Entry] = {}
        moved = []
        for e in self.entries:       # its own cue, still holding the line it was made against
            cue = by_id.get(e.id)
            if cue is not None and same_text(cue.raw_text, e.was):
                found[cue.id] = e
            else:
                moved.append(e)
        stale = []
        for e in moved:              # its line elsewhere: a cue was inserted or removed before it
            free = [c for c in cues if c.id not in found and same_text(c.raw_text, e.was)]
            if free:
                at = _frame_of(e.at, free[0].rate, start)
                found[min(free, key=lambda c: abs(c.start - at) if at is not None else 0).id] = e
            else:
                stale.append((e, by_id[e.id].raw_text if e.id in by_id else None))
        return Applied(self.path, found, tuple(stale))

    def apply(self, raws: Sequence[Cue], cast: castfile.Cast, start: int = 0) -> tuple[list[Cue], Applied]:
        """The cues resolved by the cast, with their entries' lines and reads (the one way every reader
        applies a sidecar: dub, the watch folder, Resolve, the panel)."""
        applied = self.match(raws, start)
        edits, picks = applied.edits, applied.picks
        return [resolve_cue(c, cast, edits.get(c.id), picks.get(c.id)) for c in raws], applied


def resolve_cue(raw: Cue, cast: castfile.Cast, text: str | None = None, take: int | None = None) -> Cue:
    """`raw` resolved by the cast (tag > colour > cast), saying `text` instead of the timeline's line and
    reading take `take`. The edit goes through the same tag, clean-up and pronunciations as the
    timeline's text would, so an edited line is read the way a line typed on the timeline is."""
    if text is None:
        cue = cast.resolve(raw)
    else:
        cue = replace(cast.resolve(replace(raw, raw_text=retag(raw.raw_text, text))), raw_text=raw.raw_text)
    return replace(cue, variant=take) if take is not None else cue


def retag(raw_text: str, text: str) -> str:
    """`text` under the tag of `raw_text`: ('[alice | angry] Old.', 'New.') → '[alice | angry] New.'."""
    inner, body = tags.split(raw_text)
    head = raw_text[:len(raw_text) - len(body)] if inner is not None else ""
    if not head and text.lstrip().startswith(("[", "【")):
        text = "\\" + text.lstrip()    # an edit opening with a bracket is a line, not a tag (tags.split)
    return head + text


def _frame_of(at: str, rate, start: int) -> int | None:
    """`at` (a timecode as rates.timecode writes it) as frames from the timeline's first frame."""
    try:
        return rates.frames(otio.opentime.from_timecode(at, rates.otio_rate(rate)), rate) - start
    except (ValueError, TypeError, InputError):
        m = re.fullmatch(r"(-?\d+)f@.*", at.strip())
        return int(m[1]) - start if m else None


def entry_for(raw: Cue, start: int, text: str | None = None, take: int | None = None,
              drop_frame: bool = False) -> Entry:
    """The entry that records `text` and/or `take` for the cue `raw` (as extracted: its raw text); `at`
    labelled as the timeline labels its frames (`drop_frame`: 01:00:09;28 on a drop-frame timeline, which
    _frame_of reads back by its ';')."""
    return Entry(raw.id, raw.raw_text, rates.timecode(start + raw.start, raw.rate, drop_frame), text, take)


# ------------------------------------------------------------------ reading
def load(path: Path | None) -> Sidecar:
    """The sidecar at `path` (an empty one for None); InputError naming the file, the entry and the fix."""
    if path is None:
        return Sidecar()
    p = Path(path)
    text = _read_text(p)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"sidecar {p} is not valid TOML: {e}; {FIX}") from None
    except RecursionError:       # tomllib parses nested arrays recursively
        raise InputError(f"sidecar {p} nests its arrays or tables too deep to read; a sidecar holds one "
                         f"[cues.cNNN] table per cue") from None
    try:
        return parse(doc, p, text)
    except InputError as e:
        raise InputError(f"sidecar {p}: {e}; {FIX}") from None


def _read_text(p: Path) -> str:
    try:
        with open(p, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise InputError(f"sidecar {p} not found") from None
    except OSError as e:
        raise InputError(f"cannot read sidecar {p}: {e.strerror or e}") from None
    if len(data) > MAX_BYTES:
        raise InputError(f"sidecar {p} is over {MAX_BYTES >> 20} MiB: a sidecar holds a few lines per cue — is "
                         f"it the right file? Delete or move it, or run with --no-sidecar")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"sidecar {p} is not UTF-8 text (byte {e.start}); {FIX}") from None


def parse(doc: dict, path: Path | None = None, text: str = "") -> Sidecar:
    """A sidecar from its TOML document (`text`, when given, lets errors name the line)."""
    _check_keys(doc, _TOP_KEYS, "the top level")
    version = doc.get("version", VERSION)
    if version != VERSION or isinstance(version, bool):
        raise InputError(f"version = {version!r}: this takefit reads version {VERSION} (was the file written by "
                         f"a newer takefit?)")
    cues = doc.get("cues", {})
    if not isinstance(cues, dict):
        raise InputError("'cues' must hold one table per cue: [cues.c004] text = \"…\"")
    entries = []
    for cue_id, d in cues.items():
        line = _line_of(text, cue_id)
        try:
            if not isinstance(d, dict):
                raise InputError(f"[cues.{cue_id}] must be a table: [cues.{cue_id}] was = \"…\" text = \"…\"")
            _check_keys(d, _ENTRY_KEYS, f"[cues.{cue_id}]")
            if "was" not in d:
                raise InputError(f"[cues.{cue_id}] needs was = \"…\": the timeline's text the entry was made "
                                 f"against (it is how the entry finds its line)")
            entries.append(Entry(cue_id, d["was"], d.get("at", ""), d.get("text"), d.get("take")))
        except InputError as e:
            raise InputError(f"line {line}: {e}" if line else str(e)) from None
    return Sidecar(path, tuple(entries))


def _check_keys(d: dict, allowed: tuple[str, ...], where: str) -> None:
    bad = [k for k in d if k not in allowed]
    if bad:
        raise InputError(f"unknown key(s) {', '.join(map(repr, bad))} in {where}: accepted {', '.join(allowed)}")


def _line_of(text: str, cue_id: str) -> int | None:
    """The line of `[cues.<id>]` in the file, for error messages."""
    header = r'^[ \t]*\[[ \t]*cues[ \t]*\.[ \t]*["\']?' + re.escape(cue_id) + r'["\']?[ \t]*\]'
    m = re.search(header, text, re.MULTILINE)
    return text.count("\n", 0, m.start()) + 1 if m else None


# ------------------------------------------------------------------ writing
def dumps(sidecar: Sidecar, timeline_name: str = "the timeline") -> str:
    """The sidecar as TOML, with a header saying what it is (the cast file's writer: tomllib only reads)."""
    cues = {e.id: {k: v for k, v in (("at", e.at), ("was", e.was), ("text", e.text), ("take", e.take))
                   if v is not None and (k != "at" or v)} for e in sorted(sidecar.entries, key=_order)}
    return _HEADER.format(name=timeline_name) + "\n" + castfile.dumps({"version": VERSION, "cues": cues})


def _order(e: Entry) -> tuple[int, str]:
    return int(e.id[1:]), e.id


def save(sidecar: Sidecar, path: Path, timeline_name: str = "the timeline") -> Path | None:
    """Write `sidecar` to `path` atomically (None, and no file, when it has no entries). What is written
    is read back first, so a file `load` would refuse is never left behind."""
    p = Path(path)
    if not sidecar.entries:
        try:
            p.unlink(missing_ok=True)
        except OSError as e:
            raise OutputError(f"cannot remove the empty sidecar {p}: {e.strerror or e}") from None
        return None
    text = dumps(sidecar, timeline_name)
    try:
        back = parse(tomllib.loads(text), p, text)
    except (tomllib.TOMLDecodeError, InputError) as e:
        raise OutputError(f"cannot write sidecar {p}: a line does not survive TOML ({e})") from None
    if back.entries != tuple(sorted(sidecar.entries, key=_order)):
        raise OutputError(f"cannot write sidecar {p}: a line does not survive TOML unchanged")
    return write_atomic(p, text)
