"""The dub run: timeline → cues → render requests → takes → tracks, stem and report.

    report = run(DubOptions(Path("cut.xml")), make_renderer())

Every take is exactly its slot: a cue of N frames at the timeline's rate renders to
Target.frames(N, rate), i.e. round-half-up(N / rate × 48000) samples. Nothing is written when the
timeline has no cues; every file is written to a temporary name and renamed, so a failed run never
leaves half a timeline.
"""
from __future__ import annotations

import glob
import math
import os
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

import opentimelineio as otio
import soundfile as sf

from takefit.engine import bwf
from takefit.engine.audio import exact_length, write_wav
from takefit.engine.backend import is_clip_voice
from takefit.engine.bwf import Broadcast
from takefit.engine.delivery_specs import spec_for
from takefit.engine.emotion.spec import reference_stat
from takefit.engine.errors import FitError, InputError, OutputError
from takefit.engine.request import RenderRequest
from takefit.engine.take import Take
from takefit.engine.target import Target
from takefit.otio_adapters import (audio_edl, cast as castfile, formats, limits, place, rates, sidecar, srt,
                                   substation, webvtt)
from takefit.otio_adapters.cue import SUBTITLE, Cue
from takefit.otio_adapters.extract import extract, nothing_to_say
from takefit.bridges.dub.broadcast import Stamp
from takefit.bridges.dub.render import Renderer
from takefit.bridges.dub.report import CACHED, FAILED, FLAGGED, RENDERED, SKIPPED, CueResult, DubReport
from takefit.bridges.dub.stem import StemItem, character_stem_paths, check_fits, export_stem, write_stem
from takefit.bridges.dub.takes import MANIFEST, TakeFolder, claim

# subtitle formats: the written file holds the cues (the takes are in the .otio and the stem)
SUBTITLE_WRITERS = {"srt": srt, "vtt": webvtt, "ass": substation}
# A subtitle stays on screen for reading (a second or more, however short the line), so a slow read is
# often the subtitle's margin, not the line's: the cast's natural pace is the fix there.
SUBTITLE_PACE = ("a subtitle stays on screen longer than its line takes to say: speed = \"natural\" in the "
                 "cast ([defaults] or the character) keeps each line at its own pace, silence after it")


@dataclass
class DubOptions:
    input: Path
    output: Path | None = None          # default: <input>_dub.<format suffix> beside the input
    format: str | None = None           # a formats.FORMATS name; default: the input's (or -o's suffix)
    cast: Path | None = None            # default: takefit.cast.toml beside the input, if any
    sidecar: Path | None = None         # edited lines and picked takes; default: INPUT.takefit.toml, if any
    no_sidecar: bool = False            # --no-sidecar: the timeline's lines and the standard reads
    tracks: tuple[str, ...] = ()        # take cues from the clips of these tracks instead of markers
    colors: tuple[str, ...] = ()        # only markers of these colours
    track_name: str = place.DUB_TRACK
    rate: str | None = None             # frame rate for EDL / SRT input
    timeline: str | None = None         # which timeline of a file holding several
    sample_rate: int = 48000
    loudness: float | None = -23.0
    true_peak: float = -1.0             # dBTP ceiling (EBU R128; Netflix, ATSC A/85: -2)
    delivery: str | None = None         # the spec the stem is judged by (engine.delivery_specs); default: the
                                        # one loudness and true_peak are (-23 / -1: EBU R128)
    method: str = "auto"
    pre_roll: float = 0.0
    jobs: int = 2                       # cues rendering at once, up to what the renderer allows
    stems: str = "mix"                  # mix | per-character: also one stem per character beside the mix
    stem_format: str = "wav"            # wav, or also a flac | mp3 | aac copy of every stem (stem.EXPORTS)
    stereo: bool = False                # stems as dual mono: two identical channels


@dataclass
class Outputs:
    timeline: Path
    format: str
    otio: Path
    takes: Path
    stem: Path
    report: Path

    def to_json(self) -> dict[str, str]:
        return {"timeline": str(self.timeline), "format": self.format, "otio": str(self.otio),
                "takes": str(self.takes), "stem": str(self.stem), "report": str(self.report)}


@dataclass
class Plan:
    """What a run will do, before anything renders (also what `takefit dub --list` shows)."""

    source: formats.Source
    cues: list[Cue]
    cast: castfile.Cast
    rate: Fraction
    start: int
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0                # reading the timeline and the cast
    sidecar: sidecar.Applied = field(default_factory=sidecar.Applied)   # what the sidecar changed


ProgressFn = Callable[[int, int, CueResult], None]


# ------------------------------------------------------------------ planning
def plan(opts: DubOptions) -> Plan:
    t0 = time.perf_counter()
    spec_for(opts.loudness, opts.true_peak, opts.delivery)   # an unknown delivery fails before the timeline is read
    source = formats.read(opts.input, opts.rate, opts.timeline)
    cast = castfile.load(castfile.find(Path(opts.input), opts.cast))
    edits = sidecar.find(Path(opts.input), opts.sidecar)
    folder = Path(opts.input).resolve().parent
    rate = rates.timeline_rate(source.timeline)
    start = rates.timeline_start(source.timeline, rate)
    # after the tag and the cast, as the panel that wrote it resolves: an edited line keeps its tag
    resolved, applied = sidecar.load(None if opts.no_sidecar else edits).apply(
        extract(source.timeline, opts.tracks, opts.colors, cast=frozenset(cast.characters)), cast, start)
    if opts.no_sidecar and edits is not None:
        applied = sidecar.Applied(edits, ignored=True)
    cues = [with_reference_beside(within_limits(c), folder) for c in resolved]
    notes = list(source.notes) + castfile.uncast(cues, cast)
    if cast.path:
        notes.append(f"cast: {cast.path}")
    return Plan(source, cues, cast, rate, start, notes + applied.notes(), time.perf_counter() - t0, applied)


def within_limits(cue: Cue) -> Cue:
    """The cue, with a problem added where its slot is too long or too far out (limits.py): that cue
    fails alone, and nothing is rendered or written for it."""
    problems = limits.slot_problems(cue.start, cue.duration, cue.rate)
    return replace(cue, problems=cue.problems + tuple(problems)) if problems else cue


def with_reference_beside(cue: Cue, folder: Path) -> Cue:
    """A tag's emotion reference clip and clip voice as absolute paths (relative ones are beside the
    timeline, as the cast's are beside the cast file), the emotion clip checked now: a clip that is missing
    or no file fails its cue alone, before anything renders (a daemon would refuse the request, a relative
    path it cannot read). A clip voice is checked with the other voices (check_voices)."""
    if is_clip_voice(cue.voice) and not Path(cue.voice).expanduser().is_absolute():
        cue = replace(cue, voice=str(folder / Path(cue.voice).expanduser()))
    emotion = cue.emotion
    if emotion is None or emotion.reference is None:
        return cue
    path = Path(emotion.reference).expanduser()
    path = path if path.is_absolute() else folder / path
    try:
        reference_stat(path)
    except InputError as e:
        hint = "" if Path(emotion.reference).is_absolute() else " (a tag's path is relative to the timeline's folder)"
        return replace(cue, problems=cue.problems + (f"{e}{hint}",))
    return replace(cue, emotion=replace(emotion, reference=str(path)))


def plan_outputs(opts: DubOptions, source: formats.Source) -> Outputs:
    fmt = formats.format_name(opts.format) if opts.format else None
    if opts.output is not None:
        out = Path(opts.output).expanduser()
        if out.is_dir():
            raise OutputError(f"output {out} is a folder: give a file name, e.g. {out / 'dub.xml'}")
        if fmt is None:
            suffix = out.suffix.lower()
            by_suffix = {v[1]: k for k, v in formats.FORMATS.items()}
            fmt = by_suffix.get(suffix) or source.format
        if out.suffix.lower() != formats.FORMATS[fmt][1]:
            out = out.with_name(out.name + formats.FORMATS[fmt][1]) if not out.suffix else out.with_suffix(formats.FORMATS[fmt][1])
    else:
        fmt = fmt or source.format
        inp = Path(opts.input)
        out = inp.with_name(f"{inp.stem}_dub{formats.FORMATS[fmt][1]}")
    base = out.with_suffix("")
    return Outputs(timeline=out, format=fmt, otio=out.with_suffix(".otio"),
                   takes=base.with_name(base.name + "_takes"), stem=base.with_name(base.name + "_stem.wav"),
                   report=base.with_name(base.name + "_report.json"))


def check_writable(outputs: Outputs) -> None:
    """Fail before the slow part if the outputs cannot be written."""
    folder = outputs.timeline.parent
    if not folder.is_dir():
        raise OutputError(f"cannot write {outputs.timeline}: folder {folder} does not exist (create it or choose another -o)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {outputs.timeline}: folder {folder} is not writable (choose another -o)")
    for p in (outputs.timeline, outputs.otio, outputs.stem, outputs.report):
        if p.exists() and (p.is_dir() or not os.access(p, os.W_OK)):
            raise OutputError(f"cannot write {p}: it exists and is {'a folder' if p.is_dir() else 'read-only'}")
    if outputs.takes.exists() and not outputs.takes.is_dir():
        raise OutputError(f"cannot use {outputs.takes} for the takes: a file has that name")


# ------------------------------------------------------------------ rendering one cue
def request_for(cue: Cue, opts: DubOptions) -> RenderRequest:
    target = Target.frames(cue.duration, cue.rate) if cue.duration else Target.natural()
    # the cue's emotion (tag > colour > cast) shapes the natural reading; the fit then meets the slot
    return RenderRequest(text=cue.text, voice=cue.voice, language=cue.language, target=target,
                         sample_rate=opts.sample_rate, pre_roll=opts.pre_roll, method=opts.method,
                         loudness=opts.loudness, emotion=cue.emotion, lead=cue.lead, tail=cue.tail,
                         frame_rate=cue.rate, variant=cue.variant,   # the read picked (take=N, the panel)
                         true_peak=opts.true_peak)


def _fit_failure(cue: Cue, e: FitError, sample_rate: int) -> str:
    msg = str(e)
    if e.min_seconds is not None:
        need = math.ceil(Fraction(e.min_seconds).limit_denominator(1_000_000) * cue.rate)
        msg += f" (the slot is {cue.duration} frames; it needs at least {need})"
    return msg


def remove_stale_partials(outputs: Outputs) -> list[Path]:
    """Temporary files of this run's outputs that a killed run left (each output is written to a
    `.<name>.<random>.partial` beside it, then renamed), and any in its takes folder."""
    found = [q for out in (outputs.timeline, outputs.otio, outputs.stem, outputs.report)
             for q in out.parent.glob(f".{glob.escape(out.stem)}.*partial")]
    found += outputs.stem.parent.glob(f".{glob.escape(outputs.stem.stem)}_*.partial")   # per-character stems
    if outputs.takes.is_dir():
        found += outputs.takes.glob(".*partial")
    removed = []
    for q in set(found):
        if q.is_file() and not q.is_symlink():
            q.unlink(missing_ok=True)
            removed.append(q)
    return removed


def render_cue(cue: Cue, renderer: Renderer, folder: TakeFolder, opts: DubOptions,
               stamp: Stamp | None = None) -> tuple[CueResult, place.Placement | None]:
    """Render one cue into its take file; never raises for the cue's own problems (they go in the result)."""
    return file_take(render_take(cue, renderer, opts), folder, stamp)


@dataclass
class Rendering:
    """One cue's rendering, before it is filed: several can be in flight (`run`); filing is in cue order."""
    cue: Cue
    res: CueResult
    started: float                         # perf_counter when its rendering began
    r: Take | None = None                  # None when the cue failed or was skipped
    padded: bool = False                   # a slot far longer than the line: natural pace + silence
    stretched: bool = False                # read outside the natural range (0.7–1.4×): audibly fast or slow
    natural_fit: tuple[int, int] | None = None   # (frames, samples) of a take kept at its natural pace


def render_take(cue: Cue, renderer: Renderer, opts: DubOptions) -> Rendering:
    """The renderer's part of a cue (safe in a worker thread: it touches no file of the run)."""
    sr = opts.sample_rate
    out = Rendering(cue, CueResult(cue, FAILED, sample_rate=sr), time.perf_counter())
    res = out.res
    if cue.problems:
        res.error = "; ".join(cue.problems)
        return out
    if not cue.text.strip():
        res.status = SKIPPED
        res.error = nothing_to_say(cue)
        return out
    try:
        req = request_for(cue, opts)
    except InputError as e:        # this cue's line cannot be asked for (a 15,000-character subtitle): it fails alone
        res.error = str(e)
        return out
    slot = rates.samples(cue.duration, cue.rate, sr) if cue.duration else None
    try:
        try:
            r = None
            if cue.speed == "natural" and slot is not None:
                r, out.natural_fit, note = _natural_take(cue, req, slot, renderer, sr)
                res.warnings.append(note)
            if r is None:
                r = renderer.render(req)
        except FitError as e:
            too_long = e.max_seconds is not None and cue.duration and \
                rates.seconds(cue.duration, cue.rate) > Fraction(e.max_seconds).limit_denominator(1_000_000)
            if not too_long:
                res.error = _fit_failure(cue, e, sr)
                return out
            # A slot far longer than the line: read it at its natural pace and fill the rest with
            # silence, so the editor still gets the line, exactly in its slot, flagged.
            r = renderer.render(replace(req, target=Target.natural()))
            out.padded = True
            res.warnings.append(f"{e} Rendered at the natural pace ({r.samples / sr:.2f} s) and padded with "
                                f"silence to the slot.")
    except InputError as e:
        res.error = str(e)
        return out
    out.r = r
    lo, hi = req.natural_range
    out.stretched = out.natural_fit is None and not out.padded and not lo <= r.ratio <= hi
    if out.stretched and r.ratio > hi and lingers(cue):
        res.warnings.append(SUBTITLE_PACE)   # joined after the flag: "…; a subtitle stays …"
    return out


def lingers(cue: Cue) -> bool:
    """A subtitle fitted exactly to its display time (the cast asks for no natural pace)."""
    return cue.source == SUBTITLE and cue.speed == "exact"


def file_take(rendering: Rendering, folder: TakeFolder,
              stamp: Stamp | None = None) -> tuple[CueResult, place.Placement | None]:
    """Write a rendered take into the takes folder at its slot's exact length (the run's thread only),
    carrying its cue's timecode (bridges/dub/broadcast.py) where `stamp` knows the timeline."""
    cue, res, r = rendering.cue, rendering.res, rendering.r
    if r is None:
        res.seconds = time.perf_counter() - rendering.started
        return res, None
    sr = res.sample_rate
    res.engine_seconds = r.engine_seconds
    res.natural_seconds, res.method, res.voice = r.natural_seconds, r.method, r.voice
    res.warnings = list(r.warnings) + res.warnings
    if rendering.natural_fit is not None:
        frames, samples = rendering.natural_fit
    elif cue.duration:
        frames, samples = cue.duration, rates.samples(cue.duration, cue.rate, sr)
    else:  # a point marker: the natural length, rounded up to whole frames so the clip is frame-exact
        frames = math.ceil(Fraction(r.samples) * cue.rate / sr)
        samples = rates.samples(frames, cue.rate, sr)
        res.warnings.append(f"point marker: no slot length, so the take keeps its natural length "
                            f"({frames} frames)")
    res.ratio = r.ratio
    res.speech_start, res.speech_end = r.speech_start, r.speech_end
    res.pins = [p.to_json() for p in r.pins]
    key = r.key + (f":pad{samples}" if samples != r.samples else "")
    path, number, exists = folder.path_for(cue.id, cue.character, key)
    if exists and (problem := _kept_take_problem(path, samples, sr)):
        old, (path, number), exists = path.name, folder.next_take(cue.id, cue.character), False
        res.warnings.append(f"{old} {problem}: filed anew as {path.name} (the old file is left as it is)")
    meta = (stamp or Stamp()).take(cue, number, r.voice)
    if not exists:
        audio = exact_length(r.load(), samples)
        if r.levels is not None and samples == r.samples:    # measured where it was made: these samples
            meta = replace(meta, **r.levels)
        write_wav(path, audio, sr, comment=f"synthetic speech (takefit dub, cue {cue.id}, voice {r.voice})",
                  title=cue.text[:200], broadcast=meta)
        if found := folder.found_same(cue.id, path):         # filed before the takes list was lost
            path.unlink()
            (path, number), exists = found, True
    if exists and stamp is not None:
        res.warnings += _restamp(path, stamp.take(cue, number, r.voice))
    folder.record(path, cue.id, key, number)
    res.cached = r.cached
    res.status = FLAGGED if rendering.padded or rendering.stretched else (CACHED if r.cached else RENDERED)
    res.take, res.take_number, res.frames, res.samples = path, number, frames, samples
    res.seconds = time.perf_counter() - rendering.started
    return res, place.Placement(cue, path, frames, samples, sr, number)


def _kept_take_problem(path: Path, samples: int, sr: int) -> str | None:
    """Why a take filed by an earlier run can no longer stand for its cue (edited, cut short, replaced),
    or None: it must still be a mono WAV of exactly the slot's samples at the run's rate."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as e:
        return f"is no longer readable audio ({e})"
    if (info.frames, info.samplerate, info.channels) != (samples, sr, 1):
        return (f"now holds {info.frames} samples, {info.channels} channel(s) at {info.samplerate} Hz, not the "
                f"slot's {samples} mono at {sr} Hz")
    return None


def _restamp(path: Path, meta: Broadcast) -> list[str]:
    """A kept take gets this run's timecode (the cue moved, the timeline's start changed, or another tool
    filed it): its chunks only, atomically, the audio untouched. A warning where that failed."""
    try:
        bwf.restamp(path, meta)
        return []
    except (InputError, OSError) as e:
        return [f"{path.name}: its BWF timecode could not be updated ({e}); drop it by the timeline, not by hand"]


def renderings(cues: list[Cue], renderer: Renderer, opts: DubOptions) -> Iterator[Rendering]:
    """Each cue's rendering, in cue order, with up to the renderer's `max_in_flight` cues rendering at
    once: one line's decoder then overlaps the next line's frontend, duration, prosody, fit and output
    (bench/dub_bench.py measures it). A renderer that does not say runs one cue at a time."""
    jobs = max(1, min(opts.jobs, int(getattr(renderer, "max_in_flight", 1))))
    if jobs == 1:
        yield from (render_take(c, renderer, opts) for c in cues)
        return
    with ThreadPoolExecutor(jobs, thread_name_prefix="takefit-dub") as pool:
        window: deque = deque()
        for cue in cues:
            window.append(pool.submit(render_take, cue, renderer, opts))
            if len(window) > jobs:            # keep `jobs` rendering while the oldest is filed
                yield window.popleft().result()
        while window:
            yield window.popleft().result()


def _natural_take(cue: Cue, req: RenderRequest, slot: int, renderer: Renderer,
                  sr: int) -> tuple[object | None, tuple[int, int] | None, str]:
    """The cast's `speed = "natural"`: the line at its own pace when it fits in max_ratio × its slot.

    Returns (the natural take or None when it must be fitted after all, (frames, samples) it
    occupies, a note for the report). A shorter line keeps the slot (silence after it); a longer
    one overruns the slot by whole frames."""
    r = renderer.render(replace(req, target=Target.natural()))
    if r.samples <= slot:
        return r, (cue.duration, slot), (f"speed natural: read at its own pace ({r.samples / sr:.2f} s), "
                                         f"silence fills the rest of the {slot / sr:.2f} s slot")
    if r.samples <= slot * cue.max_ratio:
        frames = math.ceil(Fraction(r.samples) * cue.rate / sr)
        return r, (frames, rates.samples(frames, cue.rate, sr)), (
            f"speed natural: read at its own pace ({r.samples / sr:.2f} s), overrunning its slot by "
            f"{frames - cue.duration} frame(s) ({r.samples / slot:.2f}× the slot, max_ratio {cue.max_ratio:g})")
    return None, None, (f"speed natural: the line at its own pace is {r.samples / slot:.2f}× its slot, over "
                        f"max_ratio {cue.max_ratio:g}: fitted to the slot")


def check_voices(cues: list[Cue], renderer: Renderer) -> list[Cue]:
    """Unknown voices fail their cues before anything renders (one check per distinct name). A clip
    voice becomes the path the renderer answers (absolute: the daemon's working folder is not ours)."""
    verdict: dict[str, tuple[str, str | None]] = {}      # voice → (the voice to render, problem)
    out = []
    for c in cues:
        if c.voice not in ("", "auto") and c.voice not in verdict:
            try:
                checked = renderer.check_voice(c.voice)
                verdict[c.voice] = (checked if is_clip_voice(c.voice) and checked else c.voice, None)
            except InputError as e:
                verdict[c.voice] = (c.voice, str(e))
        voice, problem = verdict.get(c.voice, (c.voice, None))
        if problem:
            c = replace(c, problems=c.problems + (problem,))
        out.append(replace(c, voice=voice) if voice != c.voice else c)
    return out


# ------------------------------------------------------------------ the run
def run(opts: DubOptions, renderer: Renderer, progress: ProgressFn | None = None,
        the_plan: Plan | None = None) -> DubReport:
    p = the_plan or plan(opts)
    t0 = time.perf_counter() - p.seconds  # the run's wall time includes reading the timeline
    tl = p.source.timeline
    report = DubReport(input=Path(opts.input), timeline=tl.name, rate=p.rate, start=p.start,
                       sample_rate=opts.sample_rate, notes=list(p.notes), sidecar=p.sidecar.to_json(),
                       drop_frame=rates.drop_frame(tl, p.rate))
    if not p.cues:
        report.wall_seconds = time.perf_counter() - t0
        return report  # nothing to dub: nothing is written
    outputs = plan_outputs(opts, p.source)
    check_writable(outputs)
    # a stem no WAV can hold fails now, not after hours of rendering (point cues end later: checked again)
    check_fits(outputs.stem, rates.samples(_stem_frames(tl, p.rate, [c.end for c in p.cues if not c.problems])[0],
                                           p.rate, opts.sample_rate), 2 if opts.stereo else 1)
    lock = claim(outputs.takes, str(outputs.timeline))
    try:
        report.outputs = {**outputs.to_json(), **_render_and_write(p, opts, renderer, outputs, report, progress)}
        report.engine_load_seconds = getattr(renderer, "engine_load_seconds", 0.0)
        report.wall_seconds = time.perf_counter() - t0
        report.write(outputs.report)
    finally:
        if lock is not None:
            lock.release()
    return report


def _render_and_write(p: Plan, opts: DubOptions, renderer: Renderer, outputs: Outputs, report: DubReport,
                      progress: ProgressFn | None) -> dict:
    """Every cue rendered and filed, then the stem and the timelines written; the stems' extra outputs."""
    tl = p.source.timeline
    folder = _prepare_folders(outputs, tl.name or Path(opts.input).stem, report)
    stamp = Stamp.of(tl, p.rate, p.start, Path(opts.input).stem)
    cues = check_voices(p.cues, renderer)
    placements: list[place.Placement] = []
    try:
        for i, rendering in enumerate(renderings(cues, renderer, opts)):
            res, placement = file_take(rendering, folder, stamp)
            report.results.append(res)
            if placement is not None:
                placements.append(placement)
            if progress:
                progress(i + 1, len(cues), res)
    finally:   # a run stopped mid-way (a lost cluster, Ctrl+C) keeps the takes it filed listed
        folder.save()
    dubbed = _dub_tracks(tl, placements, p.rate, opts.track_name, report)
    report.stem, more = _write_the_stem(outputs, tl, placements, p, opts, stamp, report)
    _write_timelines(outputs, p, dubbed, placements, report)
    return more


def _prepare_folders(outputs: Outputs, name: str, report: DubReport) -> TakeFolder:
    """The takes folder, ready: what an interrupted run left half-written is removed (and said)."""
    stale = remove_stale_partials(outputs)
    if stale:
        report.notes.append(f"removed {len(stale)} temporary file(s) an interrupted run left: "
                            + ", ".join(sorted(x.name for x in stale)[:5]) + (" …" if len(stale) > 5 else ""))
    folder = TakeFolder(outputs.takes, name)
    folder.create()
    if folder.manifest_problem and (kept := folder.adopt_unlisted()):
        report.notes.append(f"the takes folder's list ({MANIFEST}) was {folder.manifest_problem}: its {len(kept)} "
                            f"take file(s) are kept; one holding a cue's take sample for sample is used again, "
                            f"new takes are numbered after them")
    orphans = folder.remove_unlisted()
    if orphans:
        report.notes.append(f"removed {len(orphans)} take file(s) an interrupted run wrote but never listed")
    return folder


def _dub_tracks(tl, placements: list[place.Placement], rate, track_name: str, report: DubReport):
    """The timeline with its dub track(s); each cue's result learns its track."""
    tracks = place.build_tracks(placements, rate, track_name, like=place.reference_track(tl))
    report.tracks = [t.name for t in tracks]
    lane_of = {c.metadata["takefit"]["cue"]: t.name for t in tracks for c in t if isinstance(c, otio.schema.Clip)}
    for r in report.results:
        r.track = lane_of.get(r.cue.id)
    return place.with_dub_tracks(tl, tracks, track_name)


def _stem_frames(tl, rate: Fraction, ends: list[int]) -> tuple[int, bool]:
    """The stem's length in frames: the timeline's, or to the last take's end where that is further;
    (…, True) where the timeline runs past the extent limit and the stem ends with the last take."""
    length = max([rates.frames(tl.tracks.duration(), rate) if len(tl.tracks) else 0] + ends)
    if length > limits.extent_frames(rate):   # one far-out item (a typo) must not make a stem of tens of GB
        return max([0] + ends), True
    return length, False


def _write_the_stem(outputs: Outputs, tl, placements: list[place.Placement], p: Plan, opts: DubOptions,
                    stamp: Stamp, report: DubReport) -> tuple[dict, dict]:
    """The stem: the whole timeline, sample 0 = its first frame (its BWF time reference the timeline's
    start); per character too with --stems per-character, and a copy of each in --stem-format.
    Returns (the mix's level, what the report's outputs add)."""
    length, capped = _stem_frames(tl, p.rate, [x.end for x in placements])
    if capped:
        report.notes.append(f"{outputs.stem.name}: the timeline runs past {limits.max_extent_seconds() / 3600:g} h; "
                            f"the stem ends with the last take")
    sr, channels = opts.sample_rate, 2 if opts.stereo else 1
    start = rates.timecode(p.start, p.rate)

    def mix(path: Path, chosen: list[place.Placement], character: str | None) -> dict:
        what = "dub stem" if character is None else f"{character or 'no character'} stem"
        return write_stem(path, [StemItem(rates.samples(x.start, p.rate, sr), x.samples, x.path) for x in chosen],
                          rates.samples(length, p.rate, sr), sr, channels=channels,
                          comment=f"takefit {what} of {tl.name!r}; sample 0 = timeline start {start}",
                          title=f"{tl.name} {what}", broadcast=stamp.stem(character, channels),
                          ceiling=opts.true_peak)

    level, more, written = mix(outputs.stem, placements, None), {}, [outputs.stem]
    spec = spec_for(opts.loudness, opts.true_peak, opts.delivery)
    if spec is not None:     # the mix is what is delivered: judged as a broadcaster's QC would
        level["delivery"] = spec.check(level.get("loudness"), level.get("true_peak"), opts.loudness).to_json()
    if opts.stems == "per-character":
        paths = character_stem_paths(outputs.stem, [x.cue.character for x in placements])
        level["characters"] = {c: mix(q, [x for x in placements if x.cue.character == c], c) for c, q in paths.items()}
        more["stems"] = {c: str(q) for c, q in paths.items()}
        written += paths.values()
    if opts.stem_format != "wav":
        more["stem_exports"] = [str(export_stem(q, opts.stem_format)) for q in written]
    return level, more


def _write_timelines(outputs: Outputs, p: Plan, dubbed, placements: list[place.Placement], report: DubReport) -> None:
    """Every text first (a writer that fails leaves nothing behind), then each renamed into place."""
    tl = p.source.timeline
    container = formats.replace_timeline(p.source.container, tl, dubbed)
    texts = {outputs.otio: formats.to_string(container, "otio")}
    if outputs.format == "edl":
        texts[outputs.timeline] = audio_edl.write_to_string(placements, p.rate, p.start, f"{tl.name} takefit dub")
        report.notes.append(f"{outputs.timeline.name}: an audio-only EDL of the takes (the CMX 3600 writer drops "
                            f"audio tracks); the full timeline with the dub track is in {outputs.otio.name}, the mix "
                            f"in {outputs.stem.name}")
    elif outputs.format in SUBTITLE_WRITERS:
        texts[outputs.timeline] = SUBTITLE_WRITERS[outputs.format].write_to_string(dubbed)
        report.notes.append(f"{outputs.timeline.name}: {formats.NO_AUDIO_TRACK[outputs.format]}; the dub track is in "
                            f"{outputs.otio.name}, the mix in {outputs.stem.name}")
    elif outputs.format != "otio":
        texts[outputs.timeline] = formats.to_string(container, outputs.format)
        if outputs.format == "fcpx_xml":
            report.notes.append(f"{outputs.timeline.name}: the FCPXML writer places the takes as connected audio "
                                f"clips and drops timeline markers and the start timecode; "
                                f"{outputs.otio.name} keeps them")
    for path, text in texts.items():
        formats.write_text(path, text)
