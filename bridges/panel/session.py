"""What the casting panel shows and edits, without Qt: the timeline's cues, the cast document, each
cue's natural length, render status and take.

The cast document is the plain dict a `takefit.cast.toml` holds; every edit goes through it and the
cues are resolved from it again (tag > colour > cast, exactly as `takefit dub` does), so what the
panel renders and saves is what a dub run will do. Lines typed here and takes picked here are kept in
the timeline's sidecar (`<timeline>.takefit.toml`, otio_adapters/sidecar.py), which dub reads too.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from pathlib import Path

from takefit.otio_adapters import cast as castfile, formats, rates, sidecar
from takefit.bridges.dub import pipeline as dub
from takefit.otio_adapters.cue import Cue, normalize_color
from takefit.bridges.dub.pipeline import DubOptions
from takefit.otio_adapters.extract import extract
from takefit.bridges.dub.takes import TakeFolder

# required length ÷ natural length: inside GREEN the fit is inaudible, inside AMBER audible but
# usable (the engine's own natural_range), outside it the line wants rewriting
GREEN = (0.85, 1.15)
AMBER = (0.7, 1.4)
DEFAULTS = ""          # the [defaults] entry in the cast list

# statuses a row moves through (the dub report's, plus the panel's own)
QUEUED, RENDERING, INTERRUPTED, CANCELED = "queued", "rendering", "interrupted", "canceled"


def band(ratio: float | None) -> str | None:
    if ratio is None:
        return None
    if GREEN[0] <= ratio <= GREEN[1]:
        return "green"
    if AMBER[0] <= ratio <= AMBER[1]:
        return "amber"
    return "red"


def natural_key(cue: Cue) -> tuple[str, str, str]:
    """What the natural length depends on (the explain op's inputs)."""
    return (cue.text, cue.voice, cue.language)


def render_key(cue: Cue) -> tuple:
    """What the take depends on: a row whose key changes loses its take."""
    emo = cue.emotion.to_json() if cue.emotion is not None else None
    return (cue.text, cue.voice, cue.language, repr(emo), cue.speed, cue.max_ratio, cue.duration, cue.variant)


@dataclass
class Row:
    cue: Cue
    # seconds of speech at the line's own pace (the daemon's explain: speech_seconds, what `dub --list`
    # and the engine's stretch flag measure against, so the colour here is the verdict a render gets)
    natural: float | None = None
    status: str = ""
    take: Path | None = None
    message: str = ""
    pins: list[dict] = field(default_factory=list)   # the take's hit points as rendered: word, asked, placed

    @property
    def slot_seconds(self) -> float | None:
        return float(rates.seconds(self.cue.duration, self.cue.rate)) if self.cue.duration else None

    @property
    def ratio(self) -> float | None:
        """The room the slot leaves the speech (less the lead and tail handles) ÷ its natural length:
        what the fit asks of the line (RenderRequest.speech_ratio's rule)."""
        if self.slot_seconds is None or not self.natural:
            return None
        return max(self.slot_seconds - self.cue.lead - self.cue.tail, 0.0) / self.natural


class Session:
    def __init__(self, rate: str | None = None, tracks: tuple[str, ...] = (), colors: tuple[str, ...] = (),
                 levels: dict | None = None):
        self.rate, self.tracks, self.colors = rate, tuple(tracks), tuple(colors)
        # loudness, true_peak, delivery: DubOptions' fields, as `takefit panel --delivery …` set them
        self.levels = {"loudness": -23.0, "true_peak": -1.0, "delivery": None, **(levels or {})}
        self.timeline: Path | None = None
        self.cast_path: Path | None = None
        self.doc: dict = {}
        self.plan: dub.Plan | None = None
        self.raw: list[Cue] = []           # the cues as extracted, before tag and cast
        self.rows: list[Row] = []
        self.edits: dict[str, str] = {}    # cue id → spoken text typed in the panel
        self.picks: dict[str, int] = {}    # cue id → the take picked (Cue.variant)
        self.sidecar_path: Path | None = None
        self.stale: tuple[sidecar.Entry, ...] = ()   # sidecar entries whose line changed on the timeline: kept
        self.naturals: dict[tuple, float] = {}
        self._saved_doc: dict = {}                   # as last read or written, for `dirty`
        self._saved_entries: tuple[sidecar.Entry, ...] = ()

    # ------------------------------------------------------------------ loading
    def open(self, timeline: Path, cast: Path | None = None) -> None:
        """Read a timeline (and its cast: `cast`, else takefit.cast.toml beside it, else none yet; and its
        sidecar: the lines edited and takes picked here before). Nothing changes if any of them is bad."""
        timeline = Path(timeline)
        found = castfile.find(timeline, cast)
        doc = castfile.load_doc(found) if found is not None and Path(found).exists() else {}
        edits = sidecar.load(sidecar.find(timeline))
        source = formats.read(timeline, self.rate)
        rate = rates.timeline_rate(source.timeline)
        start = rates.timeline_start(source.timeline, rate)
        names = frozenset(str(n).strip().lower() for n in doc.get("characters") or {})
        raw = extract(source.timeline, self.tracks, self.colors, cast=names)
        applied = edits.match(raw, start)
        self.raw, self.timeline, self.doc = raw, timeline, doc
        self.plan = dub.Plan(source, [], castfile.Cast(), rate, start, list(source.notes) + applied.notes(),
                             sidecar=applied)
        self.cast_path = Path(found) if found is not None else timeline.parent / castfile.CAST_FILE
        self.sidecar_path = sidecar.path_for(timeline)
        self.rows, self.edits, self.picks = [], applied.edits, applied.picks
        self.stale = tuple(e for e, _ in applied.stale)
        self.resolve()
        self._saved_doc, self._saved_entries = copy.deepcopy(doc), self.sidecar_entries()

    def open_cast(self, path: Path) -> None:
        self.doc = castfile.load_doc(path)
        self.cast_path = Path(path)
        self.resolve()
        self._saved_doc = copy.deepcopy(self.doc)

    def save_cast(self, path: Path | None = None) -> Path:
        target = Path(path) if path is not None else self.cast_path
        if target is None:
            raise ValueError("no cast file to save to: open a timeline first")
        self.cast_path = castfile.save(self.doc, target)
        self._saved_doc = copy.deepcopy(self.doc)
        return self.cast_path

    # ------------------------------------------------------------------ the sidecar
    def sidecar_entries(self) -> tuple[sidecar.Entry, ...]:
        """What the sidecar holds for the session now: each cue's typed line and picked take where they
        differ from the timeline's (its own words, its tag's take), then the stale entries read at open
        (kept, so a line changed back on the timeline finds its edit again) unless their id is taken."""
        cast, start = self.cast(), self.plan.start if self.plan else 0
        drop = self.plan is not None and rates.drop_frame(self.plan.source.timeline, self.plan.rate)
        out = []
        for raw in self.raw:
            text, take = self.edits.get(raw.id), self.picks.get(raw.id)
            if text is None and take is None:
                continue
            own = cast.resolve(raw)
            text = None if text is None or sidecar.same_text(text, own.text) else text
            take = None if take is None or take == own.variant else take
            if text is not None or take is not None:
                out.append(sidecar.entry_for(raw, start, text, take, drop))
        taken = {e.id for e in out}
        return tuple(out) + tuple(e for e in self.stale if e.id not in taken)

    def save_sidecar(self) -> Path | None:
        """Write the typed lines and picked takes beside the timeline (an empty sidecar is removed);
        the path written, or None when there is nothing to keep."""
        if self.timeline is None or self.sidecar_path is None:
            raise ValueError("no sidecar to save: open a timeline first")
        entries = self.sidecar_entries()
        written = sidecar.save(sidecar.Sidecar(self.sidecar_path, entries), self.sidecar_path, self.timeline.name)
        self._saved_entries = entries
        return written

    def save(self) -> list[Path]:
        """Save what is unsaved: the cast file, the sidecar. The files written."""
        written = []
        if self.cast_dirty:
            written.append(self.save_cast())
        if self.sidecar_dirty:
            path = self.save_sidecar()
            written += [path] if path is not None else []
        return written

    @property
    def cast_dirty(self) -> bool:
        return self.timeline is not None and self.doc != self._saved_doc

    @property
    def sidecar_dirty(self) -> bool:
        return self.timeline is not None and self.sidecar_entries() != self._saved_entries

    @property
    def dirty(self) -> bool:
        """Unsaved cast or sidecar changes (closing the panel now would lose them)."""
        return self.cast_dirty or self.sidecar_dirty

    def timecode(self, frame: int) -> str:
        """A cue's frame as the timeline labels it: drop-frame where the timeline is (SCC, DF FCP7 XML)."""
        if self.plan is None:
            return f"{frame}f"
        drop = rates.drop_frame(self.plan.source.timeline, self.plan.rate)
        return rates.timecode(self.plan.start + frame, self.plan.rate, drop)

    # ------------------------------------------------------------------ the cast document
    def cast(self) -> castfile.Cast:
        return castfile.parse(self.doc, self.cast_path)

    def characters(self) -> list[str]:
        """Every character the cues name (tag, colour or default), then the cast's other ones."""
        seen: dict[str, str] = {}
        for row in self.rows:
            if row.cue.character:
                seen.setdefault(row.cue.character.lower(), row.cue.character)
        for name in self.doc.get("characters", {}):
            seen.setdefault(name.strip().lower(), name.strip())
        return list(seen.values())

    def _table_key(self, name: str) -> str | None:
        for key in self.doc.get("characters", {}):
            if key.strip().lower() == name.strip().lower():
                return key
        return None

    def entry(self, name: str) -> dict:
        """The cast table for a character ([defaults] for DEFAULTS); empty when the cast has none."""
        if name == DEFAULTS:
            return dict(self.doc.get("defaults", {}))
        key = self._table_key(name)
        return dict(self.doc["characters"][key]) if key is not None else {}

    def set_entry(self, name: str, entry: dict) -> None:
        """Replace a character's table (checked first: a bad value raises and changes nothing)."""
        doc = copy.deepcopy(self.doc)
        clean = {k: v for k, v in entry.items() if v not in (None, "")}
        if name == DEFAULTS:
            doc["defaults"] = {**({"character": doc["defaults"]["character"]} if "character" in doc.get("defaults", {})
                                  else {}), **{k: v for k, v in clean.items() if k != "character"}}
        else:
            key = self._table_key(name) or name.strip()
            doc.setdefault("characters", {})[key] = clean
        castfile.parse(doc, self.cast_path)
        self.doc = doc
        self.resolve()

    def colors_of(self, name: str) -> list[str]:
        return [c for c, who in {**self.doc.get("colours", {}), **self.doc.get("colors", {})}.items()
                if who.strip().lower() == name.strip().lower()]

    def set_colors(self, name: str, colors: list[str]) -> None:
        doc = copy.deepcopy(self.doc)
        table = {**doc.pop("colours", {}), **doc.get("colors", {})}
        table = {c: who for c, who in table.items() if who.strip().lower() != name.strip().lower()}
        if colors and self._table_key(name) is None:
            doc.setdefault("characters", {})[name.strip()] = {}
        for c in colors:
            if c.strip():
                table[normalize_color(c)] = self._table_key(name) or name.strip()
        if table:
            doc["colors"] = table
        else:
            doc.pop("colors", None)
        castfile.parse(doc, self.cast_path)
        self.doc = doc
        self.resolve()

    def marker_colors(self) -> list[str]:
        """The colours the cues carry (to map to characters)."""
        return sorted({normalize_color(c.color) for c in self.raw if c.color})

    # ------------------------------------------------------------------ cues
    def resolve(self) -> None:
        """The rows again from the raw cues, the cast, the typed texts and the picked takes (as dub applies
        a sidecar); takes of unchanged cues stay."""
        cast = self.cast()
        old = {r.cue.id: r for r in self.rows}
        rows = []
        for raw in self.raw:
            cue = sidecar.resolve_cue(raw, cast, self.edits.get(raw.id), self.picks.get(raw.id))
            cue = dub.with_reference_beside(cue, self.timeline.parent)   # a tag's clips: beside the timeline
            row = Row(cue, self.naturals.get(natural_key(cue)))
            prev = old.get(raw.id)
            if prev is not None and render_key(prev.cue) == render_key(cue):
                row.status, row.take, row.message, row.pins = prev.status, prev.take, prev.message, prev.pins
            rows.append(row)
        self.rows = rows

    def set_text(self, cue_id: str, text: str) -> None:
        self.edits[cue_id] = text.strip()
        self.resolve()

    def set_levels(self, loudness: float | None, true_peak: float, delivery: str | None = None) -> bool:
        """Deliver at other levels; every take depends on them, so the rows lose theirs (the next render
        makes them at these levels). False where nothing changed."""
        new = {"loudness": loudness, "true_peak": true_peak, "delivery": delivery}
        if new == self.levels:
            return False
        self.levels = new
        for row in self.rows:
            row.status, row.take, row.message, row.pins = "", None, "", []
        return True

    def set_pick(self, cue_id: str, take: int) -> None:
        """Read `cue_id` as take `take` (1 = the standard read)."""
        sidecar.Entry(cue_id, "", take=take)          # the sidecar's check: a whole number 1..MAX_TAKE
        self.picks[cue_id] = take
        self.resolve()

    def set_natural(self, key: tuple, seconds: float) -> list[int]:
        """Record a natural length; returns the rows it applies to."""
        self.naturals[key] = seconds
        hit = []
        for i, row in enumerate(self.rows):
            if natural_key(row.cue) == key:
                row.natural = seconds
                hit.append(i)
        return hit

    def missing_naturals(self) -> list[tuple]:
        keys = []
        for row in self.rows:
            k = natural_key(row.cue)
            if row.cue.text.strip() and not row.cue.problems and k not in self.naturals and k not in keys:
                keys.append(k)
        return keys

    def row(self, cue_id: str) -> tuple[int, Row]:
        for i, r in enumerate(self.rows):
            if r.cue.id == cue_id:
                return i, r
        raise KeyError(cue_id)

    # ------------------------------------------------------------------ what renders and dubs
    def options(self) -> DubOptions:
        return DubOptions(self.timeline, cast=self.cast_path if self.doc else None, tracks=self.tracks,
                          colors=self.colors, rate=self.rate, **self.levels)

    def dub_plan(self) -> dub.Plan:
        """The dub run's plan with the panel's cues (its cast and typed texts), not the file's."""
        cast = self.cast()
        notes = list(self.plan.notes) + ([f"cast: {self.cast_path}"] if self.doc else [])
        applied = sidecar.Sidecar(self.sidecar_path, self.sidecar_entries()).match(self.raw, self.plan.start)
        return replace(self.plan, cues=[r.cue for r in self.rows], cast=cast, notes=notes, sidecar=applied)

    def outputs(self) -> dub.Outputs:
        return dub.plan_outputs(self.options(), self.plan.source)

    def take_folder(self) -> TakeFolder:
        """The folder `takefit dub` will use, so takes rendered here are the ones it places."""
        tl = self.plan.source.timeline
        return TakeFolder(self.outputs().takes, tl.name or self.timeline.stem)

