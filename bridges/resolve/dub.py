"""The scripts' main flow: read the current timeline's cues, render them through the daemon, place
the takes (or re-render the one under the playhead), report. Standard library only.

    report = dub(resolve, Options(cast="…/takefit.cast.toml"))          # "takefit – Dub timeline"
    report = dub(resolve, opts, selected=True)                           # "takefit – Re-render selected cue"
    report = dub_via_otio(resolve, opts)                                 # the free-edition round trip

Nothing is placed unless every take rendered first: a missing daemon, an unreadable cast file or a
too-old Resolve stops the run before the timeline is touched.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, fields
from fractions import Fraction

from . import api, cues as cuesmod, frames as fr
from .api import BridgeError, Context, NoDaemon, call
from .place import Placement, Placer

RENDERED_OK = ("rendered", "cached", "flagged")
DAEMON_HINT = ("start it with `takefit daemon start` (or once for good: `takefit daemon install-service "
               "--enable`), then run the script again")


# ------------------------------------------------------------------ options and settings
@dataclass
class Options:
    cast: str | None = None               # the cast file (takefit.cast.toml)
    track_name: str = "takefit"
    sources: tuple = cuesmod.DEFAULT_SOURCES
    colors: tuple = ()
    takes_dir: str | None = None          # default: <user data>/takefit/resolve/<project>/<timeline>_takes
    sidecar: str | None = None            # edited lines, picked takes; default: <timeline>.takefit.toml beside
                                          # the takes folder (a Resolve timeline has no file to keep it beside)
    method: str = "auto"
    loudness: float | None = -23.0
    true_peak: float = -1.0               # dBTP ceiling (EBU R128; Netflix, ATSC A/85: -2)
    delivery: str | None = None           # the spec picked in the dialog (engine.delivery_specs), or None
    pre_roll: float = 0.0
    mode: str = "place"                   # place | otio (the free-edition round trip)
    endpoint: str | None = None           # daemon endpoint (default: the local daemon)
    home: str | None = None               # daemon home (default: $TAKEFIT_DAEMON_HOME / user dirs)
    timeout: float = 10.0
    autostart: bool = False               # start the daemon if it is not running (needs `python`)
    python: str | None = None             # takefit's Python, for the worker and autostart
    worker: str = "auto"                  # auto | inprocess | subprocess
    deliveries: tuple = ()                # (name, label, LUFS, dBTP) per delivery spec: the launcher's config

    SAVED = ("cast", "track_name", "sources", "colors", "takes_dir", "method", "mode", "loudness", "true_peak",
             "delivery")

    def daemon(self) -> dict:
        return {"endpoint": self.endpoint, "home": self.home, "timeout": self.timeout}

    def remembered(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k in self.SAVED for v in [getattr(self, k)]}

    def update(self, values: dict) -> "Options":
        known = {f.name for f in fields(self)}
        for k, v in (values or {}).items():
            if k in LEVELS and not _level_ok(v, *LEVELS[k]):
                continue                  # a damaged or hand-edited setting: keep the default, not a failed dub
            if k in known and (v is not None or k in ("loudness", "delivery")):   # None: loudness off, no spec
                setattr(self, k, tuple(v) if k in ("sources", "colors") else v)
        return self


# the ranges the daemon accepts (engine.request); None where the setting may be off
LEVELS = {"loudness": (-70.0, 0.0, True), "true_peak": (-20.0, 0.0, False), "delivery": (None, None, True)}


def _level_ok(value, low, high, may_be_none: bool) -> bool:
    if value is None:
        return may_be_none
    if low is None:
        return isinstance(value, str) and len(value) < 40
    return isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value <= high


def settings_path() -> str:
    """Where the scripts remember the last settings per project (the cast file, the track name …)."""
    if os.environ.get("TAKEFIT_RESOLVE_SETTINGS"):
        return os.environ["TAKEFIT_RESOLVE_SETTINGS"]
    if sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Application Support")
    elif sys.platform.startswith("win"):
        base = os.environ.get("APPDATA") or os.path.expanduser("~")
    else:
        base = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return os.path.join(base, "takefit", "resolve.json")


def load_settings(project: str) -> dict:
    try:
        with open(settings_path(), encoding="utf-8") as f:
            doc = json.load(f)
        return dict((doc.get("projects") or {}).get(project) or doc.get("last") or {})
    except (OSError, ValueError, AttributeError):
        return {}


def save_settings(project: str, opts: Options) -> None:
    path = settings_path()
    try:
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError):
            doc = {}
        doc.setdefault("projects", {})[project] = opts.remembered()
        doc["last"] = opts.remembered()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".partial"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(doc, f, ensure_ascii=False, indent=1)
        os.replace(tmp, path)
    except OSError:
        pass   # remembering is a convenience


# ------------------------------------------------------------------ the worker (takefit's Python)
class InProcessWorker:
    """takefit is importable here (the CLI, the tests, a Resolve whose Python is takefit's)."""

    def run(self, job: dict, progress=None) -> dict:
        from takefit.bridges.resolve import worker
        from takefit.daemon.control import DaemonUnavailable
        from takefit.engine.errors import TakefitError

        def emit(doc):
            if progress is not None and doc.get("type") == "progress":
                progress(doc)

        try:
            return worker.handle(job, emit)
        except DaemonUnavailable as e:
            raise NoDaemon(str(e)) from None
        except TakefitError as e:
            raise BridgeError(str(e), getattr(e, "code", None)) from None


class SubprocessWorker:
    """`python -m takefit.bridges.resolve.worker` in takefit's own Python, JSON over the pipes: Resolve's
    Python (any version) never imports takefit's compiled dependencies."""

    def __init__(self, python: str):
        self.python = python

    def run(self, job: dict, progress=None) -> dict:
        if not self.python or not os.path.exists(self.python):
            raise BridgeError("takefit's Python is not at {!r}: reinstall the scripts with `takefit resolve install` "
                              "from the takefit you use".format(self.python), "no_takefit")
        kwargs = {}
        if sys.platform.startswith("win"):
            kwargs["creationflags"] = 0x08000000   # CREATE_NO_WINDOW: no console flashing up over Resolve
        env = dict(os.environ)
        env["PYTHONIOENCODING"] = "utf-8"
        for var in ("PYTHONPATH", "PYTHONHOME"):   # Resolve's, not takefit's
            env.pop(var, None)
        result = error = None
        # stderr (library warnings, a traceback) into a file: a full pipe nobody reads would stall the worker
        with tempfile.TemporaryFile() as errfile:
            proc = subprocess.Popen([self.python, "-m", "takefit.bridges.resolve.worker"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=errfile, env=env, **kwargs)
            proc.stdin.write(json.dumps(job, ensure_ascii=False).encode("utf-8"))
            proc.stdin.close()
            for raw in proc.stdout:
                try:
                    doc = json.loads(raw.decode("utf-8"))
                except ValueError:
                    continue
                kind = doc.get("type")
                if kind == "progress" and progress is not None:
                    progress(doc)
                elif kind == "result":
                    result = doc.get("result")
                elif kind == "error":
                    error = doc
            proc.wait()
            errfile.seek(0)
            stderr = errfile.read().decode("utf-8", "replace")
        if error is not None:
            cls = NoDaemon if error.get("code") == "daemon_unavailable" else BridgeError
            raise cls(str(error.get("message")), str(error.get("code") or "error"))
        if result is None:
            raise BridgeError("takefit's worker ({} -m takefit.bridges.resolve.worker) ended without an answer "
                              "(exit {}): {}".format(self.python, proc.returncode, stderr.strip()[-800:] or "no output"),
                              "worker_failed")
        return result


def make_worker(opts: Options):
    """In-process where takefit (with its compiled dependencies) imports here and is the recorded
    Python; otherwise takefit's worker in takefit's own Python."""
    mode = os.environ.get("TAKEFIT_RESOLVE_WORKER") or opts.worker
    if mode == "inprocess":
        return InProcessWorker()
    if mode == "auto" and _takefit_importable() and (not opts.python or _same_python(opts.python)):
        return InProcessWorker()
    return SubprocessWorker(opts.python or sys.executable)


def _takefit_importable() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("takefit.daemon") is not None
    except (ImportError, ValueError):
        return False


def _same_python(python: str) -> bool:
    try:
        return os.path.samefile(python, sys.executable)
    except OSError:
        return False


def ensure_daemon(worker, opts: Options, log=None) -> dict:
    """The daemon answers, or NoDaemon with what to do — before anything renders or is placed."""
    job = {"op": "check", "daemon": opts.daemon()}
    try:
        return worker.run(job)
    except NoDaemon as e:
        if not opts.autostart:
            raise NoDaemon("the takefit daemon is not running: {}. Nothing was placed. ({})".format(
                DAEMON_HINT, str(e).rstrip("."))) from None
        first = e
    python = opts.python or sys.executable
    (log or (lambda m: None))("starting the takefit daemon …")
    argv = [python, "-m", "takefit.bridges.cli", "daemon", "start"] + (["--home", opts.home] if opts.home else [])
    try:
        subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120,
                       check=False)
        return worker.run(job)
    except (OSError, subprocess.SubprocessError, NoDaemon) as e:
        raise NoDaemon("the takefit daemon is not running and could not be started: {}. Nothing was placed. "
                       "({}; {})".format(DAEMON_HINT, str(first).rstrip("."), e)) from None


# ------------------------------------------------------------------ the timeline
def timeline_info(ctx: Context) -> tuple:
    """(exact rate, drop frame, absolute start frame) of the current timeline.

    The rate comes from GetSetting("timelineFrameRate") — e.g. "23.976", "25", "29.97 DF" — with
    "timelineDropFrameTimecode" ("1"/"0") where the rate string does not say; the start from
    GetStartFrame() (01:00:00:00 = 86400 at 24 fps, 108000 at 29.97 NDF, 107892 at 29.97 DF), else
    from GetStartTimecode()."""
    setting = call(ctx.timeline, "GetSetting", "timelineFrameRate") or call(ctx.project, "GetSetting",
                                                                           "timelineFrameRate")
    try:
        rate, drop = fr.parse_rate(setting)
    except fr.RateError:
        raise BridgeError("cannot read the timeline's frame rate (timelineFrameRate = {!r})".format(setting)) from None
    flag = call(ctx.timeline, "GetSetting", "timelineDropFrameTimecode")
    if str(flag).strip() in ("1", "true", "True") and rate in (Fraction(30000, 1001), Fraction(60000, 1001)):
        drop = True
    start = call(ctx.timeline, "GetStartFrame")
    if start is None:
        tc = call(ctx.timeline, "GetStartTimecode")
        if not tc:
            raise BridgeError("cannot read where the timeline starts (GetStartFrame / GetStartTimecode)")
        start = fr.timecode_to_frame(tc, rate, drop)
    return rate, drop, int(round(float(start)))


def playhead(ctx: Context, rate: Fraction, drop: bool, start: int) -> int:
    tc = call(ctx.timeline, "GetCurrentTimecode")
    if not tc:
        raise BridgeError("cannot read the playhead position (Timeline.GetCurrentTimecode): open the timeline on the "
                          "Edit page and put the playhead on the cue")
    return fr.timecode_to_frame(tc, rate, drop) - start


# ------------------------------------------------------------------ the report
@dataclass
class Report:
    action: str
    timeline: str = ""
    rate: Fraction = Fraction(24)
    drop: bool = False
    start: int = 0
    version: tuple = (0, 0, 0)
    rows: list = field(default_factory=list)       # per cue: the worker's row + placement
    skipped: list = field(default_factory=list)    # (origin, reason)
    notes: list = field(default_factory=list)
    takes_dir: str | None = None
    new_timeline: str | None = None
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows if r.get("placed") == status)

    @property
    def failed(self) -> list:
        return [r for r in self.rows if r.get("placed") not in ("placed", "replaced", "unchanged")]

    def timecode(self, offset: int) -> str:
        return fr.frame_to_timecode(self.start + int(offset), self.rate, self.drop)

    def summary_line(self) -> str:
        if self.new_timeline:
            return "takefit: {} cue(s) dubbed into the new timeline {!r}".format(len(self.rows), self.new_timeline)
        parts = ["{} {}".format(self.count(s), s) for s in ("placed", "replaced", "unchanged", "inexact")
                 if self.count(s)]
        failed = [r for r in self.failed if r.get("placed") != "inexact"]
        if failed:
            parts.append("{} failed".format(len(failed)))
        if self.skipped:
            parts.append("{} skipped".format(len(self.skipped)))
        return "takefit: {} on {!r} at {} fps in {:.1f} s".format(
            ", ".join(parts) or "nothing to do", self.timeline, fr.rate_label(self.rate, self.drop), self.seconds)

    def lines(self) -> list:
        out = [self.summary_line()]
        for r in self.rows:
            where = self.timecode(r.get("start", 0))
            if r.get("placed") in ("placed", "replaced", "unchanged"):
                out.append("  {} {} {:>4}f {:<9} {}{}".format(
                    r["id"], where, r.get("frames") or 0, r["placed"], r.get("text", "")[:50],
                    " [{}]".format(r["track"]) if r.get("track") else ""))
            elif r.get("placed") == "inexact":
                out.append("  {} {} {:>4}f INEXACT   {}: {}".format(r["id"], where, r.get("got_frames") or 0,
                                                                  r.get("text", "")[:40], r.get("error")))
            else:
                out.append("  {} {} FAILED: {}".format(r.get("id"), where, r.get("error") or r.get("status")))
            for w in r.get("warnings") or []:
                out.append("      note: {}".format(w))
        for origin, reason in self.skipped:
            out.append("  skipped {}: {}".format(origin, reason))
        for n in self.notes:
            out.append("  note: {}".format(n))
        if self.takes_dir:
            out.append("  takes: {}".format(self.takes_dir))
        return out

    def to_json(self) -> dict:
        return {"action": self.action, "timeline": self.timeline, "rate": fr.rate_text(self.rate), "drop": self.drop,
                "start_frame": self.start, "start_timecode": self.timecode(0), "resolve": api.version_text(self.version),
                "cues": self.rows, "skipped": [{"origin": o, "reason": r} for o, r in self.skipped],
                "notes": self.notes, "takes_dir": self.takes_dir, "new_timeline": self.new_timeline,
                "seconds": round(self.seconds, 3)}


# ------------------------------------------------------------------ the flows
def read_cues(ctx: Context, opts: Options):
    rate, drop, start = timeline_info(ctx)
    reading = cuesmod.read(ctx.timeline, start, rate, drop, opts.sources, opts.colors, opts.track_name)
    return rate, drop, start, reading


def _progress(progress, stage: str):
    if progress is None:
        return None
    return lambda doc: progress(stage, doc.get("done", 0), doc.get("total", 0),
                                "{} {} {}".format(doc.get("id", ""), doc.get("status", ""), doc.get("text", "")).strip())


def dub(resolve, opts: Options, selected: bool = False, worker=None, progress=None, log=None) -> Report:
    """Dub the current timeline (or, with `selected`, re-render the cue under the playhead, in place)."""
    t0 = time.perf_counter()
    log = log or (lambda msg: None)
    ctx = Context(resolve)
    api.require(resolve, api.PLACE_MIN_VERSION, "Placing takes on the timeline")
    rate, drop, start, reading = read_cues(ctx, opts)
    report = Report("rerender" if selected else "dub", ctx.timeline_name, rate, drop, start, ctx.version,
                    skipped=[(raw.origin, reason) for raw, reason in reading.skipped])
    only = None
    if selected:
        only = [_cue_to_rerender(ctx, opts, reading.cues, rate, drop, start).key]
        report.skipped = []
    if not reading.cues:
        report.notes.append("no cues on this timeline: looked for {} — write each line in a marker's note".format(
            ", ".join(s.replace("_", " ") for s in opts.sources)))
        report.seconds = time.perf_counter() - t0
        return report
    worker = worker or make_worker(opts)
    ensure_daemon(worker, opts, log)
    job = _render_job(ctx, opts, reading.cues, rate, drop, start, only)
    log("rendering {} cue(s) …".format(len(only or reading.cues)))
    result = worker.run(job, progress=_progress(progress, "render"))
    report.takes_dir = result.get("takes_dir")
    report.notes += list(result.get("notes") or [])
    placer = Placer(ctx, rate, start, drop, opts.track_name, log)
    try:
        _place_rows(placer, result.get("cues") or [], report, progress)
        if only is None:       # a re-render of one cue says nothing about the others' takes
            keys = result["ids"].values() if isinstance(result.get("ids"), dict) else [c.key for c in reading.cues]
            _note_stale_takes(placer, list(keys), report, rate, drop)
    finally:
        placer.restore_folder()
    report.notes += placer.notes
    report.seconds = time.perf_counter() - t0
    return report


def _cue_to_rerender(ctx: Context, opts: Options, cues: list, rate: Fraction, drop: bool, start: int):
    """The cue under the playhead, or the one whose take is under it; BridgeError "no_cue" if neither."""
    frame = playhead(ctx, rate, drop, start)
    cue = cuesmod.at_playhead(cues, frame)
    if cue is None:   # on a take takefit placed (a point marker's take outlasts its 1-frame marker)
        by_key = {c.key: c for c in cues}
        for e in Placer(ctx, rate, start, drop, opts.track_name).existing():
            key = cuesmod.item_key(str(e.tag.get("key") or ""))     # a turn's take: its subtitle's
            if e.start <= start + frame < e.end and key in by_key:
                cue = by_key[key]
                break
    if cue is None:
        raise BridgeError("the playhead ({}) is not on a cue: put it inside the marker (or subtitle) whose line "
                          "to re-render, then run the script again".format(fr.frame_to_timecode(start + frame, rate,
                                                                                                 drop)), "no_cue")
    return cue


def _render_job(ctx: Context, opts: Options, cues: list, rate: Fraction, drop: bool, start: int, only) -> dict:
    """The worker's "render" job for these cues (all of them, or the keys in `only`)."""
    return {"op": "render", "cues": [c.to_json() for c in cues], "rate": fr.rate_text(rate), "drop": drop,
            "start": start, "timeline": ctx.timeline_name, "project": ctx.project_name, "cast": opts.cast or None,
            "takes_dir": opts.takes_dir or None, "only": only, "method": opts.method, "loudness": opts.loudness,
            "true_peak": opts.true_peak, "delivery": opts.delivery, "pre_roll": opts.pre_roll, "daemon": opts.daemon(),
            "sidecar": opts.sidecar or None}


def _place_rows(placer: Placer, rows: list, report: Report, progress=None) -> None:
    """Place the rendered takes, one report row per cue, in the worker's order."""
    for i, row in enumerate(rows):
        row = _place_row(placer, dict(row))
        report.rows.append(row)
        if progress is not None:
            progress("place", i + 1, len(rows), "{} {}".format(row.get("id"), row.get("placed")))


def _place_row(placer: Placer, row: dict) -> dict:
    """`row` with where its take went (or "failed": it did not render, and nothing of it is placed)."""
    if row.get("status") in RENDERED_OK and row.get("path"):
        placed = placer.place(Placement.from_result(row))
        row.update(placed=placed.status, track=placed.track, track_index=placed.track_index,
                   record_frame=placed.record, got_start=placed.got_start, got_frames=placed.got_frames)
        if placed.error:
            row["error"] = placed.error
        row["warnings"] = list(row.get("warnings") or []) + placed.notes
    else:
        row["placed"] = "failed"
        if placer.takes_for(row["key"], row.get("id")):
            row["warnings"] = list(row.get("warnings") or []) + ["the earlier take stays on the timeline"]
    return row


def _note_stale_takes(placer: Placer, keys: list, report: Report, rate: Fraction, drop: bool) -> None:
    """A note for each take on the timeline whose cue is gone (`keys`: the worker's, one per cue, a
    speaker's turn its own): takefit never removes takes by itself."""
    for e in placer.stale(keys):
        report.notes.append("the take of {} at {} no longer matches a cue (its marker moved or went): left in "
                            "place on {!r}".format(e.tag.get("cue"), fr.frame_to_timecode(e.start, rate, drop),
                                                   placer.lane_name(e.lane)))


def preview(resolve, opts: Options, worker=None) -> dict:
    """The cues as they will be read, tag and cast applied (nothing renders): for the casting panel
    and `takefit resolve dub --list`."""
    ctx = Context(resolve)
    rate, drop, start, reading = read_cues(ctx, opts)
    doc = {"timeline": ctx.timeline_name, "rate": fr.rate_text(rate), "drop": drop, "start": start, "cues": [],
           "skipped": [{"origin": r.origin, "reason": why} for r, why in reading.skipped]}
    if reading.cues:
        worker = worker or make_worker(opts)
        out = worker.run({"op": "preview", "cues": [c.to_json() for c in reading.cues], "rate": fr.rate_text(rate),
                          "cast": opts.cast or None, "start": start, "project": ctx.project_name,
                          "timeline": ctx.timeline_name, "takes_dir": opts.takes_dir or None,
                          "sidecar": opts.sidecar or None})
        for c in out["cues"]:
            c["timecode"] = fr.frame_to_timecode(start + c["start"], rate, drop)
        doc["cues"], doc["cast"] = out["cues"], out.get("cast")
        doc["sidecar"], doc["notes"] = out.get("sidecar"), out.get("notes") or []
    return doc


def _unique_timeline_name(ctx: Context, base: str) -> str:
    names = set()
    for i in range(1, int(call(ctx.project, "GetTimelineCount", default=0) or 0) + 1):
        names.add(str(call(call(ctx.project, "GetTimelineByIndex", i), "GetName", default="")))
    name, n = base, 2
    while name in names:
        name, n = "{} {}".format(base, n), n + 1
    return name


def dub_via_otio(resolve, opts: Options, worker=None, progress=None, log=None, workdir: str | None = None) -> Report:
    """The free-edition path: Timeline.Export(…, resolve.EXPORT_OTIO) → `takefit dub` (through the daemon)
    → MediaPool.ImportTimelineFromFile: a new timeline "<name> (takefit)" with the takes on a "takefit"
    track; the current timeline is not touched."""
    t0 = time.perf_counter()
    log = log or (lambda msg: None)
    ctx = Context(resolve)
    api.require(resolve, api.OTIO_MIN_VERSION, "Exporting the timeline as OTIO")
    rate, drop, start = timeline_info(ctx)
    report = Report("dub_otio", ctx.timeline_name, rate, drop, start, ctx.version)
    worker = worker or make_worker(opts)
    ensure_daemon(worker, opts, log)
    folder = workdir or tempfile.mkdtemp(prefix="takefit-resolve-")
    os.makedirs(folder, exist_ok=True)
    exported = os.path.join(folder, "{}.otio".format(_file_part(ctx.timeline_name or "timeline")))
    kind = getattr(resolve, "EXPORT_OTIO", None)
    if kind is None:
        raise BridgeError("this Resolve has no resolve.EXPORT_OTIO (Resolve 18.5 or later exports OTIO)", "too_old")
    # Timeline.Export(fileName, exportType, exportSubtype): OTIO has no subtype
    ok = call(ctx.timeline, "Export", exported, kind) or call(ctx.timeline, "Export", exported, kind,
                                                              getattr(resolve, "EXPORT_NONE", 0))
    if not ok or not os.path.exists(exported):
        raise BridgeError("Resolve did not export the timeline to {} (Timeline.Export with EXPORT_OTIO)".format(exported))
    log("exported {}; dubbing …".format(exported))
    result = worker.run({"op": "dub_otio", "input": exported, "output": None if workdir is None else
                         os.path.join(folder, "{}_dub.otio".format(_file_part(ctx.timeline_name or "timeline"))),
                         "project": ctx.project_name, "timeline": ctx.timeline_name, "cast": opts.cast or None,
                         "takes_dir": opts.takes_dir or None, "sidecar": opts.sidecar or None,
                         "track_name": opts.track_name, "method": opts.method, "loudness": opts.loudness,
                         "true_peak": opts.true_peak, "delivery": opts.delivery, "pre_roll": opts.pre_roll,
                         "daemon": opts.daemon()},
                        progress=_progress(progress, "render"))
    out = (result.get("outputs") or {}).get("otio")
    report.skipped = [("marker", s) for s in result.get("skipped_markers") or []]
    report.notes += list(result.get("notes") or [])
    for c in result.get("cues") or []:
        report.rows.append({"id": c.get("id"), "start": (c.get("position") or {}).get("start_frame", 0),
                            "frames": (c.get("achieved") or {}).get("frames"), "text": c.get("text") or "",
                            "placed": "placed" if c.get("status") in RENDERED_OK else "failed",
                            "status": c.get("status"), "error": c.get("error"), "warnings": c.get("warnings") or [],
                            "path": c.get("take"), "track": c.get("track")})
    if not out:
        report.notes.append("no cues to dub: nothing imported")
        report.seconds = time.perf_counter() - t0
        return report
    report.takes_dir = (result.get("outputs") or {}).get("takes")
    name = _unique_timeline_name(ctx, "{} (takefit)".format(ctx.timeline_name))
    new = ctx.pool.ImportTimelineFromFile(out, {"timelineName": name, "importSourceClips": True})
    if not new:
        raise BridgeError("Resolve did not import {} (MediaPool.ImportTimelineFromFile); import it by hand with "
                          "File › Import › Timeline…".format(out))
    report.new_timeline = str(call(new, "GetName", default=name))
    report.seconds = time.perf_counter() - t0
    return report


def _file_part(text: str) -> str:
    keep = "".join(ch if ch.isalnum() or ch in "-_. " else "_" for ch in text).strip(" .")
    return keep[:60] or "timeline"


# ------------------------------------------------------------------ launcher entry
def options_for(resolve, config: dict | None = None) -> Options:
    """Options from the saved settings of the current project and the launcher's config."""
    config = config or {}
    autostart = bool(config.get("autostart", True)) and os.environ.get("TAKEFIT_RESOLVE_AUTOSTART", "1") != "0"
    opts = Options(python=config.get("python"), worker=config.get("worker") or "auto", autostart=autostart,
                   deliveries=tuple(tuple(d) for d in config.get("deliveries") or ()))
    try:
        project = Context(resolve).project_name
    except BridgeError:
        project = ""
    opts.update(load_settings(project))
    opts.update(config.get("options") or {})
    return opts
