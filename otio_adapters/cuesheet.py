"""Plain cue sheets (CSV / TSV) → a timeline of markers the dub run reads (see docs/watch.md).

    start,end,character,text
    00:00:01.000,00:00:02.500,alice,Hello there.
    01:00:03:12,01:00:05:00,bob,"Fine, thanks."

One row per line to dub. Times are seconds (`12.5`), `HH:MM:SS.mmm` / `MM:SS.mmm` (`,mmm` too) or
timecode `HH:MM:SS:FF` (`HH:MM:SS;FF` is drop-frame at 29.97/59.94). The header row is optional:
without one the columns are start, end, character, text (or start, end, text); with one, columns
may come in any order and `voice`, `emotion`, `language` and `duration` (instead of end) are
understood too. Comment lines start with `#`; `# rate: 23.976` and `# start: 01:00:00:00` set the
frame rate and the timeline's start timecode.

Independent of OTIO's adapters: `read()` gives a `CueSheet`, `CueSheet.timeline()` an OTIO
timeline whose markers carry the lines (text in the comment, as the SRT reader makes them), so
every cue-level feature of the dub run (tags, cast, limits, report) applies unchanged; formats.read
reads .csv/.tsv through here, for `takefit dub` and the watch folder alike.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable

import opentimelineio as otio

from takefit.engine.errors import InputError
from takefit.otio_adapters import rates, tags
from takefit.otio_adapters.srt import decode

SUFFIXES = (".csv", ".tsv")
DEFAULT_RATE = Fraction(25)
MAX_LISTED = 12          # problems listed in one error

# header names (lower-case, spaces/underscores/dashes dropped) → column
COLUMNS = {
    "start": "start", "in": "start", "tcin": "start", "timecodein": "start", "starttime": "start",
    "begin": "start", "from": "start", "recordin": "start", "recin": "start", "srcin": "start",
    "end": "end", "out": "end", "tcout": "end", "timecodeout": "end", "endtime": "end", "stop": "end",
    "to": "end", "recordout": "end", "recout": "end", "srcout": "end",
    "duration": "duration", "dur": "duration", "length": "duration",
    "character": "character", "char": "character", "speaker": "character", "role": "character",
    "who": "character", "actor": "character", "name": "character",
    "text": "text", "line": "text", "dialogue": "text", "dialog": "text", "subtitle": "text",
    "script": "text", "transcript": "text", "caption": "text",
    "voice": "voice", "emotion": "emotion", "language": "language", "lang": "language",
}
POSITIONAL = {3: ("start", "end", "text"), 4: ("start", "end", "character", "text")}
_DIRECTIVE = re.compile(r"^#\s*(?P<key>[A-Za-z_ ]+?)\s*[:=]\s*(?P<value>.*?)\s*$")
_TC = re.compile(r"^(\d{1,2})[:;](\d{1,2})[:;](\d{1,2})([:;])(\d{1,3})$")
_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:[.,]\d+)?)$")
_SECONDS = re.compile(r"^\d+(?:\.\d+)?$|^\.\d+$")
_TAG_BREAKERS = re.compile(r"[\[\]|=【】]")


class CueSheetError(InputError):
    """A cue sheet that cannot be read; `problems` lists (line number, what is wrong)."""

    def __init__(self, name: str, problems: list[tuple[int, str]]):
        self.problems = problems
        shown = "\n".join(f"  row {n}: {msg}" if n else f"  {msg}" for n, msg in problems[:MAX_LISTED])
        more = f"\n  … and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        super().__init__(f"cue sheet {name}: {len(problems)} problem{'s' if len(problems) != 1 else ''}:\n"
                         f"{shown}{more}\n(row numbers are the file's line numbers, as a spreadsheet shows "
                         f"them; the format is in docs/watch.md)")


@dataclass(frozen=True)
class CueRow:
    line: int                 # the file's line number where the row starts
    start: int                # absolute frame (timecode frame number) at the sheet's rate
    end: int | None           # None: a point cue (the take keeps its natural length)
    text: str
    character: str = ""
    voice: str = ""
    emotion: str = ""
    language: str = ""

    def tagged_text(self) -> str:
        """The line as a cue tag + text (`[character=alice | voice=af_bella] Hi.`); a tag already in
        the text wins over the columns."""
        fields = [f"{k}={v}" for k, v in (("character", self.character), ("voice", self.voice),
                                            ("emotion", self.emotion), ("language", self.language)) if v]
        if not fields or tags.split(self.text)[0] is not None:
            return self.text
        return f"[{' | '.join(fields)}] {self.text}"


@dataclass
class CueSheet:
    name: str
    rows: list[CueRow]
    rate: Fraction
    start: int                          # the timeline's first frame (absolute timecode frame number)
    delimiter: str = ","
    notes: list[str] = field(default_factory=list)

    def timeline(self):
        """An OTIO timeline: one marker per row (the line in the marker's comment), at `rate`,
        starting at `start`."""
        tl = otio.schema.Timeline(name=self.name, global_start_time=rates.rt(self.start, self.rate))
        tl.metadata["cuesheet"] = {"rate": rates.rate_text(self.rate), "rows": len(self.rows)}
        for i, r in enumerate(self.rows, 1):
            length = 0 if r.end is None else r.end - r.start
            label = (f"{r.character}: " if r.character else "") + (r.text.splitlines()[0] if r.text else "")
            tl.tracks.markers.append(otio.schema.Marker(
                name=label[:60] or f"Cue {i}",
                marked_range=rates.time_range(r.start - self.start, length, self.rate),
                comment=r.tagged_text(),
                metadata={"cuesheet": {"row": r.line, "character": r.character}}))
        return tl


# ------------------------------------------------------------------ times
def parse_time(text: str, rate: Fraction) -> int:
    """A time as an absolute frame number at `rate`; ValueError saying what is accepted."""
    s = text.strip()
    m = _TC.match(s)
    if m:
        h, mi, se, sep, fr = m.groups()
        h, mi, se, fr = int(h), int(mi), int(se), int(fr)
        nominal = round(rate)
        if mi > 59 or se > 59:
            raise ValueError(f"bad timecode {s!r}: minutes and seconds go up to 59")
        if fr >= nominal:
            raise ValueError(f"bad timecode {s!r}: frame {fr} does not exist at {_rate_text(rate)} fps "
                             f"(0-{nominal - 1}); is the rate right? (set it with '# rate: 24' or --rate)")
        frames = (h * 3600 + mi * 60 + se) * nominal + fr
        if sep == ";":  # drop-frame: two frame numbers (four at 59.94) skipped each minute but every tenth
            if rate.denominator != 1001:
                raise ValueError(f"drop-frame timecode {s!r} (';') needs a 29.97 or 59.94 rate, not "
                                 f"{_rate_text(rate)}")
            drop = round(nominal / 15)
            if se == 0 and fr < drop and mi % 10:
                raise ValueError(f"bad drop-frame timecode {s!r}: frames 0-{drop - 1} are skipped at this minute")
            minutes = h * 60 + mi
            frames -= drop * (minutes - minutes // 10)
        return frames
    m = _CLOCK.match(s)
    if m:
        h, mi, sec = m.groups()
        secs = Fraction(sec.replace(",", "."))
        if int(mi) > 59 and h is not None or secs >= 60:
            raise ValueError(f"bad time {s!r}: minutes and seconds go up to 59")
        total = int(h or 0) * 3600 + int(mi) * 60 + secs
        return _round(total * rate)
    if _SECONDS.match(s):
        return _round(Fraction(s) * rate)
    raise ValueError(f"bad time {s!r}: use seconds (12.5), HH:MM:SS.mmm (00:01:02.500) or timecode "
                     f"HH:MM:SS:FF (00:01:02:12)")


def _round(x: Fraction) -> int:
    return int((x + Fraction(1, 2)) // 1)


def _rate_text(rate: Fraction) -> str:
    return str(rate.numerator) if rate.denominator == 1 else f"{float(rate):.3f}"


def _same_rate(text: str, fps: Fraction) -> bool | None:
    try:
        return _parse_rate(text) == fps
    except ValueError:
        return None


def _parse_rate(text: str) -> Fraction:
    return rates.parse(text)


# ------------------------------------------------------------------ reading
def read(path: Path, rate: str | None = None) -> CueSheet:
    """Read a .csv / .tsv cue sheet. `rate` (e.g. '25', '29.97') applies when the file sets none."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read {p}: {e.strerror or e}") from None
    return parse(decode(data), p.name, rate=rate, tsv=p.suffix.lower() == ".tsv")


def parse(text: str, name: str = "cues.csv", rate: str | None = None, tsv: bool = False) -> CueSheet:
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    directives = _directives(lines)
    problems: list[tuple[int, str]] = []
    notes: list[str] = []
    fps = _frame_rate(directives, rate, name, problems, notes)
    delimiter = "\t" if tsv else _sniff(lines)
    rows = _data_rows(_records(text, delimiter, name), fps, delimiter, problems)
    if not problems and not rows:
        problems.append((0, "no cues: every row is empty or a comment (expected rows of start, end, character, "
                            "text)"))
    start = _start_directive(directives, fps, problems)
    if problems:
        raise CueSheetError(name, sorted(problems, key=lambda x: x[0]))
    rows.sort(key=lambda r: (r.start, r.line))
    if start is None:
        start = _start_from_first_cue(rows, fps, name, notes)
    early = [r for r in rows if r.start < start]
    if early:
        raise CueSheetError(name, [(r.line, "starts before the timeline start ('# start')") for r in early])
    return CueSheet(Path(name).stem, rows, fps, start, delimiter, notes)


def _directives(lines: list[str]) -> dict[str, tuple[int, str]]:
    """`# key: value` comment lines: key (lower-case, no spaces) → (line number, value); the last one wins."""
    directives: dict[str, tuple[int, str]] = {}
    for n, line in enumerate(lines, 1):
        m = _DIRECTIVE.match(line.strip())
        if m:
            directives[m.group("key").strip().lower().replace(" ", "")] = (n, m.group("value"))
    return directives


def _frame_rate(directives: dict[str, tuple[int, str]], rate: str | None, name: str,
                problems: list[tuple[int, str]], notes: list[str]) -> Fraction:
    """The sheet's own rate directive, else `rate`, else DEFAULT_RATE (a bad directive is a problem,
    a bad `rate` an error right away)."""
    fps = None
    for key in ("rate", "fps", "framerate"):
        if key in directives:
            n, value = directives[key]
            try:
                fps = _parse_rate(value)
            except ValueError as e:
                problems.append((n, str(e)))
            if rate and fps is not None and _same_rate(rate, fps) is False:
                notes.append(f"{name}: its own rate ({_rate_text(fps)} fps) is used, not --rate {rate}")
            break
    if fps is None:
        try:
            fps = _parse_rate(rate) if rate else DEFAULT_RATE
        except ValueError as e:
            raise InputError(str(e)) from None
        if not rate:
            notes.append(f"{name}: no frame rate given; read at {_rate_text(fps)} fps "
                         f"(set one with a '# rate: 24' line or --rate)")
    return fps


def _data_rows(records: list[tuple[int, list[str], str | None]], fps: Fraction, delimiter: str,
               problems: list[tuple[int, str]]) -> list[CueRow]:
    """The cue rows after an optional header row (whose column names then apply); problems appended."""
    header, columns, first = None, None, 0
    for i, (n, cells, _) in enumerate(records):
        if _is_header(cells):
            header, first = cells, i + 1
            columns, bad = _header_columns(cells)
            problems += [(n, b) for b in bad]
        break
    rows: list[CueRow] = []
    for n, cells, raw in records[first:]:
        row, errs = _row(n, cells, columns, header, fps, delimiter, raw)
        problems += [(n, e) for e in errs]
        if row is not None:
            rows.append(row)
    return rows


def _start_directive(directives: dict[str, tuple[int, str]], fps: Fraction,
                     problems: list[tuple[int, str]]) -> int | None:
    """The '# start' timecode as a frame number, if given (a bad one is a problem)."""
    if "start" not in directives:
        return None
    n, value = directives["start"]
    try:
        return parse_time(value, fps)
    except ValueError as e:
        problems.append((n, f"'# start': {e}"))
        return None


def _start_from_first_cue(rows: list[CueRow], fps: Fraction, name: str, notes: list[str]) -> int:
    """The whole hour at or before the first cue (sheets often start at 01:00:00:00), or 0."""
    first_start = rows[0].start
    hour = _hour_frames(fps)
    start = (first_start // hour) * hour if first_start >= hour else 0
    if start:
        notes.append(f"{name}: timeline start {rates.timecode(start, fps)} taken from the first cue "
                     f"(set '# start: 00:00:00:00' to change)")
    return start


def _hour_frames(fps: Fraction) -> int:
    return round(fps) * 3600 if fps.denominator != 1001 else _round(fps * 3600)


def _records(text: str, delimiter: str, name: str) -> list[tuple[int, list[str], str | None]]:
    """(line number where the record starts, cells, the raw line if the record is one line) for
    every non-empty, non-comment record; quoted fields may span lines."""
    lines = text.split("\n")
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, skipinitialspace=True)
    out = []
    line = 1
    try:
        for cells in reader:
            start = line
            line = reader.line_num + 1
            cells = [c.strip() for c in cells]
            if not any(cells) or cells[0].startswith("#"):
                continue
            while cells and not cells[-1]:  # trailing empty cells (a spreadsheet's extra commas)
                cells.pop()
            raw = lines[start - 1] if reader.line_num == start and start <= len(lines) else None
            out.append((start, cells, raw))
    except csv.Error as e:
        raise CueSheetError(name, [(line, f"cannot split the row into fields: {e} (unbalanced quotes?)")]) \
            from None
    return out


def _sniff(lines: list[str]) -> str:
    """The delimiter that splits the first data lines into the most consistent number (≥ 3) of fields."""
    sample = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")][:10]
    best, best_score = ",", -1
    for d in ("\t", ";", ","):
        counts = [len(c) for c in csv.reader(sample, delimiter=d)]
        if not counts or max(counts) < 3:
            continue
        score = sum(1 for c in counts if c == counts[0]) * 10 + (3 if d != "," else 0) - abs(counts[0] - 4)
        if score > best_score:
            best, best_score = d, score
    return best


def _norm(cell: str) -> str:
    return re.sub(r"[\s_\-()]+", "", cell.strip().lower())


def _is_header(cells: list[str]) -> bool:
    """A first row naming at least two known columns, and not starting with a time."""
    return bool(cells) and not _looks_like_time(cells[0]) and sum(_norm(c) in COLUMNS for c in cells) >= 2


def _looks_like_time(cell: str) -> bool:
    s = cell.strip()
    return bool(_TC.match(s) or _CLOCK.match(s) or _SECONDS.match(s))


def _header_columns(cells: list[str]) -> tuple[dict[str, int], list[str]]:
    cols: dict[str, int] = {}
    problems = []
    for i, c in enumerate(cells):
        key = COLUMNS.get(_norm(c))
        if key is None:
            continue  # other columns (notes, ids …) are kept out of the way
        if key in cols:
            problems.append(f"header: two columns mean {key!r} ({cells[cols[key]]!r} and {c!r})")
        cols[key] = i
    for need in ("start", "text"):
        if need not in cols:
            problems.append(f"header: no {need!r} column (found {', '.join(map(repr, cells))}; accepted names "
                            f"include start/in, end/out, character/speaker, text/line)")
    if "end" in cols and "duration" in cols:
        problems.append("header: give 'end' or 'duration', not both")
    return cols, problems


def _rest(cells: list[str], k: int, delimiter: str, raw: str | None) -> str:
    """Fields k… as one text: a text with unquoted delimiters in it, exactly as it was written."""
    if raw is not None and '"' not in raw:
        parts = raw.split(delimiter, k)
        if len(parts) > k:
            return parts[k].strip()
    return delimiter.join(cells[k:])


def _row(n: int, cells: list[str], columns: dict[str, int] | None, header, fps: Fraction, delimiter: str = ",",
         raw: str | None = None):
    """(the cue row, []) or (None, what is wrong with the row)."""
    cells, columns, misfit = _fit_columns(cells, columns, header, delimiter, raw)
    if misfit:
        return None, [misfit]

    def get(key: str) -> str:
        i = columns.get(key)
        return cells[i].strip() if i is not None and i < len(cells) else ""

    start, end, errs = _times(get, fps, delimiter)
    text = get("text")
    errs += _text_problems(get, text)
    if errs:
        return None, errs
    return CueRow(n, start, end, text, get("character"), get("voice"), get("emotion"), get("language")), []


def _fit_columns(cells: list[str], columns: dict[str, int] | None, header: list[str] | None, delimiter: str,
                 raw: str | None) -> tuple[list[str], dict[str, int], str | None]:
    """(cells, column → index, why the row does not fit or None): without a header the columns go by the
    number of fields; a text with unquoted delimiters in it is joined back into one field."""
    if columns is None:
        names = POSITIONAL.get(len(cells))
        if names is None and len(cells) > 4:
            # unquoted commas in the text: the rest of the row is the text
            cells = cells[:3] + [_rest(cells, 3, delimiter, raw)]
            names = POSITIONAL[4]
        if names is None:
            return cells, {}, (f"{len(cells)} field(s) ({_show(cells)}); expected start, end, character, text "
                               f"(or start, end, text) — or add a header row")
        return cells, {k: i for i, k in enumerate(names)}, None
    if len(cells) > len(header):
        last = max(columns.values())
        if columns.get("text") == last == len(header) - 1:
            cells = cells[:last] + [_rest(cells, last, delimiter, raw)]
        else:
            return cells, columns, (f"{len(cells)} fields but the header has {len(header)} ({_show(cells)}); "
                                    f"quote a text that contains the delimiter")
    return cells, columns, None


def _times(get: Callable[[str], str], fps: Fraction, delimiter: str) -> tuple[int | None, int | None, list[str]]:
    """(start, end or None for a point cue, problems) from the start and end (or duration) columns."""
    errs: list[str] = []

    def bad(what: str, e: ValueError) -> str:
        hint = " (an unclosed quote before it?)" if delimiter in get(what) or "\n" in get(what) else ""
        return f"{what}: {e}{hint}"

    start = end = None
    if not get("start"):
        errs.append("no start time")
    else:
        try:
            start = parse_time(get("start"), fps)
        except ValueError as e:
            errs.append(bad("start", e))
    if get("end"):
        try:
            end = parse_time(get("end"), fps)
        except ValueError as e:
            errs.append(bad("end", e))
    elif get("duration"):
        try:
            end = None if start is None else start + parse_time(get("duration"), fps)
        except ValueError as e:
            errs.append(bad("duration", e))
    if start is not None and end is not None:
        if end < start:
            errs.append(f"ends ({get('end') or get('duration')}) before it starts ({get('start')})")
        elif end == start:
            end = None  # a zero-length slot: a point cue
    return start, end, errs


def _text_problems(get: Callable[[str], str], text: str) -> list[str]:
    """What is wrong with the text and the tag columns (which become a `[key=value | …]` tag)."""
    errs = []
    if not text:
        errs.append("no text (the line to speak)")
    for key in ("character", "voice", "emotion", "language"):
        if _TAG_BREAKERS.search(get(key)):
            errs.append(f"{key} {get(key)!r} must not contain [ ] | =")
    if text and get("character") and re.match(r"^\s*[(（]", text):
        errs.append("the text starts with '(' — after a character tag that reads as a pronunciation "
                    "override; move the parenthesis later in the line")
    return errs


def _show(cells: list[str]) -> str:
    s = " | ".join(cells)
    return s if len(s) <= 60 else s[:57] + "…"
