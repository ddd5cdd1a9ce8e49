"""One watch-folder job: an input file in DIR/inbox → DIR/outbox/<name>/, then the input to done/
(or failed/ with <name>.error.txt).

    layout = Layout(Path("/jobs/ep1")).ensure()
    outcome = process(layout.inbox / "lines.srt", Context(layout, WatchOptions(), journal, renderers))

Restart-safety: the journal row says `running` until the input has been moved; a job found
`running` by the next watcher is run again. The dub run writes every file under a temporary name
and renames it when complete; what a killed run can leave behind (temporary files, take WAVs the
takes folder's manifest does not list yet) is removed before the job runs again, so a resumed job
neither duplicates nor loses a take (the take cache makes the cues already rendered free).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from takefit.engine.delivery_specs import spec_for
from takefit.engine.errors import InputError, OutputError

from takefit.otio_adapters import cuesheet, sidecar
from takefit.otio_adapters.formats import write_text
from .explain import SUPPORTED_TEXT, error_text, explain, explain_cues
from .journal import DONE, FAILED, RUNNING, Job, Journal
from takefit.bridges.dub.no_cues import all_silent, no_cues_message, silent_message
from takefit.bridges.dub.report import STATUSES
from takefit.bridges.dub.takes import MANIFEST, TAKE_NAME
from takefit.daemon.control import DaemonError

log = logging.getLogger("takefit.watch")

STATE_DIR = ".takefit-watch"
CAST_FILE = "takefit.cast.toml"
# what the dub run reads, plus cue sheets
TIMELINE_SUFFIXES = (".otio", ".otioz", ".xml", ".fcpxml", ".edl", ".srt", ".vtt", ".ass", ".ssa", ".ttml", ".dfxp",
                     ".itt", ".scc", ".stl")
SUPPORTED_SUFFIXES = TIMELINE_SUFFIXES + cuesheet.SUFFIXES
# formats that carry no frame rate: the watch's --rate is theirs (TTML, SCC and STL carry their own)
RATE_SUFFIXES = (".edl", ".srt", ".vtt", ".ass", ".ssa") + cuesheet.SUFFIXES
OUTPUT_SUFFIX = {".otioz": ".otio", ".csv": ".otio", ".tsv": ".otio"}
# A file whose job ended this many times in a crash or a kill (not a clean stop) goes to failed/ on the
# next start: a file that crashes its reader would otherwise take every restart of the watcher down.
MAX_CRASHES = 2
# files that are never inputs: partial downloads/copies, editor and OS droppings
_TEMP_SUFFIXES = (".tmp", ".temp", ".part", ".partial", ".crdownload", ".download", ".filepart", ".swp", ".swx",
                  ".lock", ".!sync", ".opdownload", ".icloud", ".sb-")
_OS_FILES = {"thumbs.db", "desktop.ini", "icon\r", ".ds_store"}

# outcomes
DUPLICATE, VANISHED, CHANGED, STOPPED = "duplicate", "vanished", "changed", "stopped"


class Stopping(Exception):
    """Raised from the dub run's progress callback when the watcher stops: the job stays `running`
    in the journal and resumes on the next start."""


def is_ignored(name: str) -> bool:
    """Hidden, temporary and OS files are never processed (nor is a cast file dropped in the inbox, nor a
    timeline's sidecar: it is read with its timeline)."""
    low = name.lower()
    return (not name or name.startswith((".", "~", "#")) or name.endswith("~") or low in _OS_FILES
            or any(low.endswith(s) for s in _TEMP_SUFFIXES) or ".sb-" in low or low == CAST_FILE
            or is_sidecar(name))


def is_sidecar(name: str) -> bool:
    return name.lower().endswith(sidecar.SUFFIX)


@dataclass(frozen=True)
class Layout:
    """The watch folder: inbox/ (drop here), outbox/, done/, failed/, .takefit-watch/ (journal, lock, log)."""

    root: Path

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    @property
    def done(self) -> Path:
        return self.root / "done"

    @property
    def failed(self) -> Path:
        return self.root / "failed"

    @property
    def state(self) -> Path:
        return self.root / STATE_DIR

    @property
    def journal(self) -> Path:
        return self.state / "journal.sqlite3"

    @property
    def lock(self) -> Path:
        return self.state / "watch.lock"

    @property
    def status(self) -> Path:
        return self.state / "status.json"

    @property
    def log(self) -> Path:
        return self.state / "watch.log"

    @property
    def cast(self) -> Path:
        return self.root / CAST_FILE

    def ensure(self) -> "Layout":
        if self.root.exists() and not self.root.is_dir():
            raise InputError(f"watch folder {self.root} is a file, not a folder")
        for d in (self.inbox, self.outbox, self.done, self.failed, self.state):
            try:
                d.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise OutputError(f"cannot create {d}: {e.strerror or e}") from None
        return self

    def rel(self, p: Path) -> str:
        try:
            return Path(p).relative_to(self.root).as_posix()
        except ValueError:
            return str(p)


@dataclass(frozen=True)
class WatchOptions:
    """What applies to every input of the folder (the dub run's options, minus per-file ones)."""

    cast: Path | None = None              # default: DIR/takefit.cast.toml (or one in inbox/)
    rate: str | None = None               # EDL / SRT / cue sheet frame rate (a cue sheet's own wins)
    tracks: tuple[str, ...] = ()
    colors: tuple[str, ...] = ()
    method: str = "auto"
    loudness: float | None = -23.0
    true_peak: float = -1.0               # dBTP ceiling
    delivery: str | None = None           # the spec the stems are judged by (delivery_specs), where named
    pre_roll: float = 0.0
    strict: bool = False                  # any failed cue sends the input to failed/
    no_sidecar: bool = False              # ignore an input's <name>.takefit.toml (edited lines, picked takes)

    def fingerprint(self, cast: Path | None, edits: Path | None = None) -> str:
        """Everything besides the input that decides the outputs, hashed (`edits`: the input's sidecar)."""
        h = hashlib.sha256()
        doc = {"rate": self.rate, "tracks": list(self.tracks), "colors": list(self.colors), "method": self.method,
               "loudness": self.loudness, "pre_roll": self.pre_roll, "strict": self.strict}
        if self.no_sidecar:       # added only when set: the journal's earlier fingerprints stay valid
            doc["no_sidecar"] = True
        if self.true_peak != -1.0:    # likewise
            doc["true_peak"] = self.true_peak
        if self.delivery and self.delivery != getattr(spec_for(self.loudness, self.true_peak), "name", None):
            doc["delivery"] = self.delivery   # likewise; a spec the levels are anyway judges alike
        h.update(json.dumps(doc, sort_keys=True).encode())
        for label, path in (("cast", cast), ("sidecar", None if self.no_sidecar else edits)):
            if path is not None:
                try:
                    h.update(label.encode() + b"\0" + Path(path).read_bytes())
                except OSError:
                    h.update(label.encode() + b"-unreadable\0" + str(path).encode())
        return h.hexdigest()


@dataclass
class Outcome:
    name: str
    state: str                            # done | failed | duplicate | vanished | changed | stopped
    job: Job | None = None
    outbox: Path | None = None
    dest: Path | None = None
    message: str = ""
    summary: dict = field(default_factory=dict)


Progress = Callable[[str, int, int], None]   # (input name, cues done, cues)


@dataclass
class Context:
    layout: Layout
    options: WatchOptions
    journal: Journal
    renderers: object                     # watcher.Renderers: .get() → (renderer, kind), .release(), .fallback()
    progress: Progress | None = None
    stopping: Callable[[], bool] = lambda: False


# ------------------------------------------------------------------ helpers
def content_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def cast_file(layout: Layout, options: WatchOptions) -> Path | None:
    if options.cast is not None:
        return Path(options.cast)
    for p in (layout.cast, layout.inbox / CAST_FILE):
        if p.is_file():
            return p
    return None


def output_suffix(name: str) -> str:
    s = Path(name).suffix.lower()
    return OUTPUT_SUFFIX.get(s, s)


def choose_outbox(name: str, journal: Journal, layout: Layout) -> str:
    """outbox/<stem>, unless another input (same stem, other suffix) already owns it: outbox/<stem>_<ext>."""
    stem, ext = Path(name).stem, Path(name).suffix.lstrip(".").lower()
    candidates = [stem] + ([f"{stem}_{ext}"] if ext else []) + [f"{stem}_{ext}_{i}" for i in range(2, 100)]
    for c in candidates:
        rel = f"outbox/{c}"
        owner = journal.outbox_owner(rel)
        if owner in (None, name):
            return rel
    return f"outbox/{stem}_{int(time.time())}"


def cleanup_partial(folder: Path) -> list[Path]:
    """Remove what an interrupted dub run leaves in `folder`: temporary files, and take WAVs that the
    takes folder's manifest does not list (written before the run was cut short; the run renames
    nothing over them, it would number the next take after them)."""
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for p in folder.rglob("*.partial"):
        if p.is_file():
            p.unlink(missing_ok=True)
            removed.append(p)
    for takes in folder.glob("*_takes"):
        if not takes.is_dir():
            continue
        try:
            listed = set(json.loads((takes / MANIFEST).read_text("utf-8")).get("takes", {}))
        except (OSError, ValueError, AttributeError):
            continue            # no list to judge by: the dub keeps them all (bridges/dub/takes.py adopt_unlisted)
        for wav in takes.glob("*.wav"):
            if TAKE_NAME.search(wav.name) and wav.name not in listed:
                wav.unlink(missing_ok=True)
                removed.append(wav)
    return removed


def unique_dest(folder: Path, name: str, digest: str | None = None) -> Path:
    """folder/name, or folder/<stem>_2<ext> … when a different file already has that name (an
    identical one is simply replaced)."""
    dest = folder / name
    if not dest.exists():
        return dest
    if digest is not None and dest.is_file():
        try:
            if content_hash(dest) == digest:
                return dest
        except OSError:
            pass
    stem, ext = Path(name).stem, Path(name).suffix
    for i in range(2, 10_000):
        d = folder / f"{stem}_{i}{ext}"
        if not d.exists():
            return d
    return folder / f"{stem}_{int(time.time() * 1000)}{ext}"


def move(src: Path, dest: Path) -> Path:
    try:
        os.replace(src, dest)
    except OSError as e:
        if getattr(e, "errno", None) == 18:  # EXDEV: done/ on another file system (a symlink)
            shutil.move(str(src), str(dest))
        else:
            raise
    return dest


def write_text_atomic(path: Path, text: str) -> None:
    write_text(path, text)


# ------------------------------------------------------------------ planning one input
def dub_options(path: Path, outdir: Path, options: WatchOptions, cast: Path | None):
    from takefit.bridges.dub.pipeline import DubOptions

    suffix = path.suffix.lower()
    return DubOptions(input=path, output=outdir / f"{path.stem}{output_suffix(path.name)}", cast=cast,
                      tracks=options.tracks, colors=options.colors,
                      rate=options.rate if suffix in RATE_SUFFIXES else None,
                      loudness=options.loudness, true_peak=options.true_peak, delivery=options.delivery,
                      method=options.method,
                      pre_roll=options.pre_roll, no_sidecar=options.no_sidecar)


def make_plan(opts):
    """dub.plan, for the files the watch folder takes (cue sheets among them: formats.read reads them)."""
    from takefit.bridges.dub import pipeline as dub

    path = Path(opts.input)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise InputError(f"{path.name}: unsupported file type {suffix or '(no suffix)'!r}; the watch folder reads "
                         f"{SUPPORTED_TEXT}")
    return dub.plan(opts)


# ------------------------------------------------------------------ the job
def process(path: Path, ctx: Context) -> Outcome:
    """Dub one input file. Never raises for the file's own problems (they end in failed/);
    raises `Stopping` when the watcher stops mid-job (the job resumes on the next start)."""
    layout, options, journal = ctx.layout, ctx.options, ctx.journal
    name = path.name
    try:
        st = path.stat()
        digest = content_hash(path)
    except FileNotFoundError:
        return Outcome(name, VANISHED, message="the file disappeared before it could be read")
    except OSError as e:
        return Outcome(name, VANISHED, message=f"cannot read it: {e.strerror or e}")
    signature = (st.st_size, st.st_mtime_ns)
    cast = cast_file(layout, options)
    config = options.fingerprint(cast, sidecar.find(path))
    prev = journal.find(digest, name, config)
    if prev is not None and prev.state == DONE and _outputs_complete(prev):
        return _duplicate(path, layout, prev, digest)

    outbox_rel = prev.outbox if prev is not None and prev.outbox else choose_outbox(name, journal, layout)
    resumed = prev is not None and prev.state == RUNNING
    job = journal.begin(digest, name, config, st.st_size, outbox_rel)
    journal.supersede(name, job.id)
    outdir = layout.root / outbox_rel
    if resumed and job.crashes >= MAX_CRASHES:
        return _fail_crashing(path, ctx, job, digest, signature)
    if resumed:
        log.info("resuming %s: the watcher stopped during its job (attempt %d)", name, job.attempts)
    removed = cleanup_partial(outdir)
    if removed:
        log.info("%s: removed %d partial file(s) a cut-short run left in %s/", name, len(removed), outbox_rel)

    try:
        report = _dub(path, outdir, outbox_rel, cast, ctx)
    except Stopping:
        journal.paused(job.id)
        raise
    except Exception as e:  # every problem of this input ends in failed/, the watcher goes on
        what, how = explain(e, layout, name)
        _remove_if_empty(outdir)
        return _fail(path, ctx, job, digest, what, how, signature)
    return _finish(path, ctx, job, digest, signature, report, outdir)


def _duplicate(path: Path, layout: Layout, prev: Job, digest: str) -> Outcome:
    """The same file, dubbed with the same settings, whose outputs are still there: straight to done/."""
    name = path.name
    dest = unique_dest(layout.done, name, digest)
    move(path, dest)
    return Outcome(name, DUPLICATE, prev, layout.root / (prev.outbox or ""), dest,
                   f"identical to the file dubbed {_ago(prev.finished)} (nothing else changed either): "
                   f"outputs already in {prev.outbox}/", prev.summary)


def _fail_crashing(path: Path, ctx: Context, job: Job, digest: str, signature) -> Outcome:
    """A file whose jobs keep ending in a crash or a kill goes to failed/, so the watcher can go on."""
    return _fail(path, ctx, job, digest,
                 f"the watcher ended {job.crashes} times while dubbing {path.name} (a crash or a kill, not a "
                 f"clean stop): a file that crashes its reader would otherwise stop the watch folder for good",
                 "check the file in the application that wrote it (export it again), then put it back into "
                 "inbox/; if it keeps failing, please report it with the watcher's log", signature)


def _dub(path: Path, outdir: Path, outbox_rel: str, cast: Path | None, ctx: Context):
    """Plan and run the dub of `path` into `outdir`; the dub run's report."""
    name = path.name
    opts = dub_options(path, outdir, ctx.options, cast)
    the_plan = make_plan(opts)
    if not the_plan.cues:
        raise InputError(no_cues_message(name, opts, the_plan.source.timeline))
    if all_silent(the_plan.cues):
        raise InputError(silent_message(name, the_plan.cues))
    log.info("dubbing %s: %d cue%s at %s fps → %s/", name, len(the_plan.cues),
             "s" if len(the_plan.cues) != 1 else "", _rate(the_plan.rate), outbox_rel)
    outdir.mkdir(parents=True, exist_ok=True)
    return _run(opts, the_plan, ctx, name)


def _finish(path: Path, ctx: Context, job: Job, digest: str, signature, report, outdir: Path) -> Outcome:
    """After the dub run: failed/ if too many cues failed, dubbed again if the file changed meanwhile,
    else done/."""
    layout, options, journal = ctx.layout, ctx.options, ctx.journal
    name = path.name
    summary = _summary(report, layout)
    failed = report.count("failed")
    problems = [r for r in report.results if r.status == "failed"]
    for r in problems:
        log.warning("%s: %s failed: %s", name, r.cue.id, r.error)
    if failed and (failed == len(report.results) or options.strict):
        what, how = explain_cues(report, layout, outdir)
        if options.strict and failed < len(report.results):
            how += " (--strict: any failed cue fails the file.)"
        return _fail(path, ctx, job, digest, what, how, signature, summary)

    if _changed(path, signature):
        journal.finish(job.id, DONE, None, None, summary)
        return Outcome(name, CHANGED, job, outdir, None,
                       "the file changed while it was being dubbed: it is dubbed again", summary)
    dest = unique_dest(layout.done, name, digest)
    journal.set_dest(job.id, layout.rel(dest), None, summary)
    move(path, dest)
    job = journal.finish(job.id, DONE, layout.rel(dest), None, summary)
    return Outcome(name, DONE, job, outdir, dest, report.summary_line(), summary)


def _run(opts, the_plan, ctx: Context, name: str):
    from takefit.bridges.dub import pipeline as dub

    def progress(done: int, total: int, result) -> None:
        if ctx.progress:
            ctx.progress(name, done, total)
        if ctx.stopping() and done < total:
            raise Stopping()

    renderer, kind = ctx.renderers.get()
    if kind == "given":   # a cluster's many actors: as many cues in flight as it takes
        opts = replace(opts, jobs=max(opts.jobs, int(getattr(renderer, "max_in_flight", 1))))
    try:
        return dub.run(opts, renderer, progress=progress, the_plan=the_plan)
    except Exception as e:
        if kind != "daemon" or not isinstance(e, DaemonError):
            raise
        log.warning("%s: the daemon failed (%s); dubbing it with the engine in this process instead", name, e)
        renderer, kind = ctx.renderers.fallback()
        return dub.run(opts, renderer, progress=progress, the_plan=the_plan)
    finally:
        ctx.renderers.release(renderer, kind)


def _fail(path: Path, ctx: Context, job: Job, digest: str, what: str, how: str, signature,
          summary: dict | None = None) -> Outcome:
    layout, journal = ctx.layout, ctx.journal
    name = path.name
    lines = [ln.strip() for ln in what.strip().splitlines() if ln.strip()] or ["failed"]
    first_line = lines[0] + (f" {lines[1]}" if lines[0].endswith(":") and len(lines) > 1 else "")
    if _changed(path, signature):
        journal.finish(job.id, FAILED, None, what, summary)
        return Outcome(name, CHANGED, job, None, None, "the file changed while it was being read: it is read again")
    dest = unique_dest(layout.failed, name, digest)
    write_text_atomic(dest.with_name(dest.name + ".error.txt"), error_text(name, what, how, job, digest))
    journal.set_dest(job.id, layout.rel(dest), what, summary)
    move(path, dest)
    job = journal.finish(job.id, FAILED, layout.rel(dest), what, summary)
    return Outcome(name, FAILED, job, None, dest, first_line, summary or {})


def _changed(path: Path, signature) -> bool:
    try:
        st = path.stat()
    except OSError:
        return False
    return (st.st_size, st.st_mtime_ns) != signature


def _outputs_complete(job: Job) -> bool:
    outs = (job.summary or {}).get("outputs") or {}
    return bool(outs) and all(Path(outs[k]).exists() for k in ("timeline", "report", "stem") if k in outs)


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def _summary(report, layout: Layout) -> dict:
    return {"cues": len(report.results), **{s: report.count(s) for s in STATUSES},
            "seconds": round(report.wall_seconds, 3), "outputs": dict(report.outputs)}


def _rate(rate) -> str:
    return str(rate.numerator) if rate.denominator == 1 else f"{float(rate):.3f}"


def _ago(t: float | None) -> str:
    if not t:
        return "earlier"
    return time.strftime("on %Y-%m-%d at %H:%M:%S", time.localtime(t))


def recover(layout: Layout, journal: Journal) -> list[str]:
    """After a watcher was killed: jobs left `running` whose input is gone from the inbox are closed
    (they finished, only the bookkeeping was cut short); the others resume when their file is seen."""
    notes = []
    for job in journal.in_state(RUNNING):
        if (layout.inbox / job.name).is_file():
            notes.append(f"{job.name}: interrupted during attempt {job.attempts}; it resumes")
            continue
        if job.dest and (layout.root / job.dest).exists():
            state = FAILED if job.dest.startswith("failed/") else DONE
            journal.finish(job.id, state, job.dest, job.error, job.summary)
            notes.append(f"{job.name}: had finished ({state}) as the watcher stopped; recorded")
        else:
            journal.finish(job.id, FAILED, None, "interrupted, and the input is no longer in inbox/", job.summary)
            notes.append(f"{job.name}: interrupted, and no longer in inbox/: nothing to resume")
    return notes


__all__ = ["Layout", "WatchOptions", "Context", "Outcome", "process", "recover", "is_ignored", "Stopping",
           "SUPPORTED_SUFFIXES", "DONE", "FAILED", "DUPLICATE", "VANISHED", "CHANGED", "STOPPED"]
