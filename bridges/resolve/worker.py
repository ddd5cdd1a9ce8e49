"""The takefit side of the Resolve bridge: cues → takes, through the daemon.

Runs in takefit's own Python. The Resolve side (dub.py) calls `handle(job, emit)` directly when it
runs in that Python too (the CLI, the tests), or runs `python -m takefit.bridges.resolve.worker`
with the job as one JSON document on stdin; progress and the result come back as JSON lines on
stdout ({"type": "progress" | "result" | "error", …}).

Operations (job["op"]):
  check     is the daemon there? (nothing renders)
  preview   the cues as they will be read: tag and cast applied
  render    render cues into exact-length takes in a takes folder (bridges.dub.pipeline.render_cue, so
            the rules are `takefit dub`'s: FitError fallbacks, point markers, take numbering)
  dub_otio  the free-edition round trip: `takefit dub` on a timeline Resolve exported as OTIO
  cast      read and check a cast file (the casting panel)

A Resolve timeline has no file to keep a sidecar beside (otio_adapters/sidecar.py: lines edited and
takes picked), so its sidecar lives beside its takes folder: <timeline>.takefit.toml, by default in
<user data>/takefit/resolve/<project>/ (job["sidecar"] names another; job["no_sidecar"] ignores it).
"""
from __future__ import annotations

import json
import re
import sys
import time
import traceback
from fractions import Fraction
from pathlib import Path

from .cues import RawCue, item_key, resolve

# ------------------------------------------------------------------ daemon-backed renderer
from takefit.bridges.dub.render import DaemonRenderer  # noqa: E402  (shared with `takefit dub`)
from takefit.daemon.connect import connect  # noqa: E402


def client_for(job: dict, timeout: float | None = None):
    d = job.get("daemon") or {}
    # autostart only where this process is takefit's own Python (the CLI): control.start runs
    # sys.executable; inside Resolve the Resolve side starts the daemon itself (dub.ensure_daemon).
    # Not running: DaemonUnavailable says so, and how to start one.
    timeout, retries = float(timeout or d.get("timeout") or 10.0), int(d.get("retries", 1))
    return connect("start" if d.get("autostart") else "running", endpoint=d.get("endpoint") or None,
                   home=d.get("home") or None, timeout=timeout, retries=retries)


def check(job: dict) -> dict:
    with client_for(job, timeout=(job.get("daemon") or {}).get("check_timeout", 5.0)) as c:
        health = c.health()       # call() retries, then raises DaemonUnavailable: never hangs on a dead daemon
        hello = c.server or {}
        return {"endpoint": c.endpoint, "daemon": {k: hello.get(k) for k in ("version", "engine", "protocol")
                                                     if k in hello}, "health": {k: health.get(k) for k in
                                                                                ("engine", "queue") if k in health}}


# ------------------------------------------------------------------ helpers
def safe(text: str, fallback: str) -> str:
    from takefit.bridges.dub.takes import safe_name

    return safe_name(text, fallback)


def default_takes_dir(project: str, timeline: str) -> Path:
    """<user data>/takefit/resolve/<project>/<timeline>_takes"""
    import platformdirs

    return (Path(platformdirs.user_data_dir("takefit")) / "resolve" / safe(project, "project")
            / (safe(timeline, "timeline") + "_takes"))


def takes_dir(job: dict) -> Path:
    return Path(job["takes_dir"]).expanduser() if job.get("takes_dir") else \
        default_takes_dir(job.get("project", ""), job.get("timeline", ""))


def sidecar_path(job: dict) -> Path | None:
    """The timeline's sidecar file, if there is one (and it is not ignored)."""
    from takefit.otio_adapters import sidecar

    if job.get("no_sidecar"):
        return None
    explicit = Path(job["sidecar"]).expanduser() if job.get("sidecar") else \
        takes_dir(job).parent / (safe(job.get("timeline") or "", "timeline") + sidecar.SUFFIX)
    return sidecar.find(None, explicit)


def _resolve(job: dict, raws: list):
    """The job's cues resolved: tag, cast and sidecar; (cues, their keys, cast, what the sidecar changed)."""
    return resolve(raws, _rate(job), job.get("cast"), sidecar_path(job), int(job.get("start") or 0))


def _rate(job: dict) -> Fraction:
    return Fraction(str(job["rate"]))


def _raws(job: dict) -> list:
    return [RawCue.from_json(d) for d in job.get("cues", [])]


def _cue_json(cue) -> dict:
    return {"id": cue.id, "start": cue.start, "duration": cue.duration, "source": cue.source, "origin": cue.origin,
            "text": cue.text, "raw_text": cue.raw_text, "character": cue.character, "voice": cue.voice,
            "language": cue.language, "emotion": str(cue.emotion) if cue.emotion else None, "take": cue.variant,
            "color": cue.color, "problems": list(cue.problems), "notes": list(cue.notes)}


# ------------------------------------------------------------------ operations
def preview(job: dict) -> dict:
    raws = _raws(job)
    cues, keys, cast, applied = _resolve(job, raws)
    edited = applied.edits
    return {"cues": [dict(_cue_json(c), key=key, edited=c.id in edited) for key, c in zip(keys, cues)],
            "cast": str(cast.path) if cast.path else None, "sidecar": applied.to_json(), "notes": applied.notes()}


def render(job: dict, emit) -> dict:
    from takefit.bridges.dub import pipeline as dub
    from takefit.bridges.dub.report import FAILED
    from takefit.bridges.dub.takes import TakeFolder

    t0 = time.perf_counter()
    raws = _raws(job)
    cues, key_list, cast, applied = _resolve(job, raws)
    keys = {c.id: key for key, c in zip(key_list, cues)}
    only = set(job.get("only") or ())
    todo = [c for c in cues if not only or keys[c.id] in only or item_key(keys[c.id]) in only]   # an item: its turns
    notes = []
    if cast.path:
        notes.append("cast: {}".format(cast.path))
    notes += applied.notes()
    takes = takes_dir(job)
    folder = TakeFolder(takes, job.get("timeline") or "timeline")
    folder.create()
    opts = dub.DubOptions(input=Path(job.get("timeline") or "resolve"), method=job.get("method", "auto"),
                          loudness=job.get("loudness", -23.0), pre_roll=float(job.get("pre_roll", 0.0)),
                          true_peak=float(job.get("true_peak", -1.0)), delivery=job.get("delivery"),
                          sample_rate=int(job.get("sample_rate", 48000)))
    out = []
    with client_for(job) as client:
        renderer = DaemonRenderer(client)
        todo = dub.check_voices(todo, renderer)
        for i, cue in enumerate(todo):
            res, placement = dub.render_cue(cue, renderer, folder, opts)
            folder.save()          # after every take: a later failure keeps the earlier ones findable
            row = {"key": keys[cue.id], "id": cue.id, "status": res.status, "error": res.error,
                   "warnings": list(cue.notes) + list(res.warnings), "path": str(res.take) if res.take else None,
                   "take": res.take_number, "frames": res.frames, "samples": res.samples,
                   "sample_rate": res.sample_rate, "start": cue.start, "duration": cue.duration,
                   "text": cue.text, "character": cue.character, "voice": res.voice or cue.voice,
                   "origin": cue.origin, "ratio": res.ratio, "method": res.method, "variant": cue.variant}
            if res.status == FAILED and placement is None and not res.error:
                row["error"] = "not rendered"
            out.append(row)
            emit({"type": "progress", "done": i + 1, "total": len(todo), "id": cue.id, "status": res.status,
                  "text": cue.text[:60]})
    return {"cues": out, "takes_dir": str(takes), "notes": notes, "cast": str(cast.path) if cast.path else None,
            "sidecar": applied.to_json(), "ids": keys, "seconds": round(time.perf_counter() - t0, 3)}


def normalise_resolve_otio(src: Path, dst: Path, track_name: str = "takefit") -> dict:
    """A copy of Resolve's OTIO export that `takefit dub` reads the way the in-Resolve script does.

    Resolve writes a marker's note into metadata["Resolve_OTIO"]["Note"] (its name is "Marker N"): the
    note becomes the marker's comment, which is what `takefit dub` reads first. Markers with an empty
    note are removed (and reported), and so are the tag markers on takes placed earlier.
    """
    import opentimelineio as otio

    from takefit.otio_adapters import place

    tl = otio.adapters.read_from_file(str(src))
    timelines = [tl] if isinstance(tl, otio.schema.Timeline) else \
        list(tl.find_children(descended_from_type=otio.schema.Timeline))
    skipped, kept = [], 0
    for t in timelines:
        def fix(owner, where):
            nonlocal kept
            keep = []
            for m in list(owner.markers):
                md = m.metadata.get("Resolve_OTIO") or {}
                note = str(md.get("Note") or "")
                if (m.name or "").startswith("takefit ") or str(md.get("customData") or "").startswith("takefit:"):
                    continue       # the tag marker on a take placed earlier
                if not (getattr(m, "comment", "") or "").strip():
                    if not note.strip():
                        skipped.append("{} {!r}: empty note".format(where, m.name))
                        continue
                    m.comment = note
                keep.append(m)
            owner.markers[:] = keep
            kept += len(keep)

        fix(t.tracks, "timeline marker")
        for track in t.tracks:
            if not isinstance(track, otio.schema.Track):
                continue
            dub_track = place.is_dub_track(track, track_name)
            for item in track:
                if isinstance(item, otio.core.Item) and item.markers:
                    if dub_track:
                        item.markers[:] = []
                    else:
                        fix(item, "marker on clip {!r}".format(item.name))
    otio.adapters.write_to_file(tl, str(dst))
    return {"skipped": skipped, "markers": kept}


def dub_otio(job: dict, emit) -> dict:
    """Resolve's OTIO export → `takefit dub` (rendered by the daemon) → an OTIO for ImportTimelineFromFile."""
    from takefit.bridges.dub import pipeline as dub
    from takefit.otio_adapters import sidecar

    src = Path(job["input"])
    norm = src.with_name(src.stem + ".takefit.otio")
    info = normalise_resolve_otio(src, norm, job.get("track_name") or "takefit")
    if job.get("output"):
        out = Path(job["output"])
    elif job.get("timeline") is not None:   # from Resolve: the export is temporary, the takes must stay
        out = default_takes_dir(job.get("project", ""), job["timeline"]).parent / (
            safe(job["timeline"], "timeline") + "_dub.otio")
        out.parent.mkdir(parents=True, exist_ok=True)
    else:
        out = src.with_name(src.stem + "_dub.otio")
    # from Resolve: the timeline's sidecar (beside its takes); an export given by hand: the one beside it
    edits = sidecar_path(job) if job.get("timeline") is not None else \
        sidecar.find(src, Path(job["sidecar"]) if job.get("sidecar") else None)
    opts = dub.DubOptions(input=norm, output=out, format="otio", cast=Path(job["cast"]) if job.get("cast") else None,
                          track_name=job.get("track_name") or "takefit", method=job.get("method", "auto"),
                          loudness=job.get("loudness", -23.0), pre_roll=float(job.get("pre_roll", 0.0)),
                          true_peak=float(job.get("true_peak", -1.0)), delivery=job.get("delivery"), sidecar=edits,
                          no_sidecar=bool(job.get("no_sidecar")))
    with client_for(job) as client:
        renderer = DaemonRenderer(client)

        def progress(done, total, result):
            emit({"type": "progress", "done": done, "total": total, "id": result.cue.id, "status": result.status,
                  "text": result.cue.text[:60]})

        report = dub.run(opts, renderer, progress=progress)
    doc = report.to_json()
    doc["skipped_markers"] = info["skipped"]
    doc["normalised"] = str(norm)
    return doc


def cast_info(job: dict) -> dict:
    """Read (or, with "text", check without saving) a cast file: its characters, colours, defaults."""
    from takefit.engine.errors import InputError
    from takefit.otio_adapters import cast as castfile

    try:
        if job.get("text") is not None:
            import tomllib

            try:
                doc = tomllib.loads(job["text"])
            except tomllib.TOMLDecodeError as e:
                raise InputError("not valid TOML: {}".format(e)) from None
            cast = castfile.parse(doc, Path(job["path"]) if job.get("path") else None)
        else:
            cast = castfile.load(Path(job["path"]) if job.get("path") else None)
    except InputError as e:
        return {"ok": False, "error": str(e)}
    return {"ok": True, "path": str(cast.path) if cast.path else None,
            "defaults": {"character": cast.default_character, "voice": cast.defaults.voice,
                         "language": cast.defaults.language,
                         "emotion": str(cast.defaults.emotion) if cast.defaults.emotion else None},
            "characters": [{"name": c.name, "voice": c.voice, "language": c.language,
                            "emotion": str(c.emotion) if c.emotion else None} for c in cast.characters.values()],
            "colors": dict(cast.colors), "pronunciations": [list(p) for p in cast.pronunciations]}


OPS = {"check": lambda job, emit: check(job), "preview": lambda job, emit: preview(job), "render": render,
       "dub_otio": dub_otio, "cast": lambda job, emit: cast_info(job)}


def error_doc(e: BaseException) -> dict:
    from takefit.daemon.control import DaemonUnavailable

    if isinstance(e, DaemonUnavailable):
        return {"type": "error", "code": "daemon_unavailable", "message": str(e)}
    code = getattr(e, "code", None) or type(e).__name__
    return {"type": "error", "code": str(code), "message": str(e) or type(e).__name__}


def handle(job: dict, emit=None) -> dict:
    """Run one job; returns the result document or raises (TakefitError for the expected failures)."""
    op = OPS.get(job.get("op"))
    if op is None:
        raise ValueError("unknown worker op {!r}; accepted: {}".format(job.get("op"), ", ".join(OPS)))
    return op(job, emit or (lambda doc: None))


def main(argv=None) -> int:
    """`python -m takefit.bridges.resolve.worker`: one JSON job on stdin → JSON lines on stdout."""
    out = sys.stdout

    def emit(doc: dict) -> None:
        out.write(json.dumps(doc, ensure_ascii=False) + "\n")
        out.flush()

    try:
        job = json.loads(sys.stdin.read() or "{}")
        emit({"type": "result", "result": handle(job, emit)})
        return 0
    except Exception as e:  # noqa: BLE001 - every failure goes back to Resolve as a message
        from takefit.engine.errors import TakefitError

        doc = error_doc(e)
        if not isinstance(e, TakefitError) and not isinstance(e, (ValueError, OSError)):
            doc["traceback"] = re.sub(r"\s+$", "", traceback.format_exc())
        emit(doc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
