"""`takefit dub` — dub every marked line of a timeline, each take exactly filling its slot."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from takefit.bridges.cluster import guard
from takefit.otio_adapters import rates
from takefit.bridges.cluster.address import parse
from takefit.bridges.commands.levels import add_levels, level_options
from takefit.bridges.dub.no_cues import all_silent, no_cues_message, silent_message
from takefit.otio_adapters.formats import format_name
from takefit.engine.backend import DEFAULT_BACKEND, REGISTRY
from takefit.engine.errors import InputError
from takefit.engine.request import FIT_METHODS

EPILOG = """where the lines come from (see docs/cues.md):
  timeline markers and clip markers     the marker's comment/note is the line (else its name);
                                        the marker's length is the slot (a point marker: natural length)
  --track NAME                          instead: the clips of a subtitle / guide track (V2, A1 work too)
  subtitles                             an .srt .vtt .ass .ttml .dfxp .scc or .stl is a timeline of
                                        subtitle cues; an .ass line's Actor, a TTML agent and SDH speaker
                                        labels (JOHN:, <v John>) pick the character, [sounds], (manner)
                                        and ♪ lyrics ♪ are not said

  A line may start with a tag:   [alice | angry 0.7] You dare say that to me?
      [bob]  [bob | voice=zm_yunxi]  [calm 0.3]  [alice | lang=en | takefit=/tˈAkfɪt/]  [| 行=xíng]
  Untagged lines use takefit.cast.toml beside the timeline (or --cast): characters → voice and
  emotion, marker colour → character.
  Lines edited and takes picked in the casting panel (`takefit panel`) are kept beside the timeline
  in INPUT.takefit.toml (cut.xml → cut.xml.takefit.toml) and applied; an entry whose line changed on
  the timeline since is left out with a note. A damaged sidecar stops the run with the entry to fix:
  fix or delete it, or dub with --no-sidecar (the timeline's lines, the standard reads).

what it writes (OUTPUT defaults to INPUT_dub.<same format> beside the input):
  OUTPUT                 the timeline with a "takefit" audio track of the takes at the exact cue
                         positions (overlapping cues on "takefit 2" …); everything else unchanged
  OUTPUT.otio            always, the same timeline as OpenTimelineIO
  OUTPUT_takes/          the takes: <timeline>_<cue>_<character>_t<take>.wav (48 kHz, 24-bit)
  OUTPUT_stem.wav        all takes mixed, full length, sample 0 = the timeline start
                         (--stems per-character: also OUTPUT_stem_<character>.wav, one per character;
                         --stem-format flac|mp3|aac: also a copy of each stem as .flac / .mp3 / .m4a)
  OUTPUT_report.json     per cue: requested / achieved length, ratio, warnings, take, timing

levels: every take at -23 LUFS under -1 dBTP (EBU R128), or what --delivery asks:
  ebu-r128 -23/-1   atsc-a85 -24/-2   netflix -27/-2   arib -24/-1   podcast -16/-1   streaming -14/-1
  (LUFS / dBTP). The report judges the stem against that spec as QC would, e.g.
  "stem: -27.2 LUFS integrated, …, true peak -4.0 dBTP — meets Netflix (-27 ±2 LU, ≤ -2 dBTP)";
  where takes overlap, the stem limits their sum to the true-peak ceiling (the stem line says how long).

  Takes and stems are Broadcast WAVs: bext (the line, time reference = samples since midnight of the
  take's first sample at the timeline's timecode) and iXML (timeline, cue as scene, take number, note,
  timecode rate, DF/NDF). Dragged into Resolve, Premiere or Pro Tools by hand (Spot / "place at source
  timecode"), a take lands at its cue and a stem at the timeline's start.

formats: .otio, .xml (FCP7: Premiere, Resolve, Avid), .fcpxml (Final Cut Pro X), .edl (CMX 3600 and
  Resolve marker EDLs), .srt, .vtt (WebVTT), .ass/.ssa (SubStation Alpha: Aegisub), .ttml/.dfxp
  (TTML, IMSC), .scc (broadcast captions), .stl (EBU STL), and .csv/.tsv cue sheets (start,end,
  character,text; docs/watch.md). An EDL cannot carry audio tracks: for .edl the output is an
  audio-only EDL of the takes, plus the .otio and the stem. A subtitle output (.srt, .vtt, .ass) holds
  the cues; the takes are in the .otio and the stem. TTML, SCC and STL are read only: the .otio.

examples:
  takefit dub cut.xml                                # → cut_dub.xml, cut_dub.otio, cut_dub_takes/ …
  takefit dub cut.xml --list                         # show the cues, render nothing
  takefit dub episode.fcpxml -o out/ep1.fcpxml --cast cast.toml
  takefit dub lines.srt --rate 25 -o lines.otio
  takefit dub cut.xml --delivery netflix             # -27 LUFS takes under -2 dBTP, the stem judged by it
  takefit dub markers.edl --rate 29.97 --format xml  # Resolve marker export → FCP7 XML with the takes
  takefit dub cut.otio --track Subtitles --color red --color blue
  takefit dub cut.xml --stems per-character --stem-format mp3   # + one stem per character, MP3 copies
  takefit dub ep*.xml --cluster ray://gpu-head:10001 --trust-cluster --backend indextts
                                                     # IndexTTS2 on the cluster's GPUs, clip voices sent along

Re-running after editing a few lines re-renders only those (takes are cached by content); a changed
line gets the next take number, so earlier timelines keep their files. A slot shorter than 0.4× the
line's natural length fails that cue (the report names the frames it needs); one longer than 3× is
read at natural pace and padded, flagged. Neither stops the run; --strict makes them exit 3.
"""


def register(sub) -> None:
    p = sub.add_parser("dub", help="dub every marked line of a timeline, each take exactly its slot",
                       description="Render every cue (marker, clip marker, subtitle or guide clip) of a timeline, "
                                   "each take fitted exactly to its slot (frame-accurate at the timeline rate, "
                                   "sample-exact at 48 kHz), and write the timeline back with the takes on an "
                                   "audio track.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", type=Path, nargs="+", metavar="INPUT",
                   help="the timeline: .otio .xml .fcpxml .edl .srt .vtt .ass .ttml .scc .stl, or a .csv/.tsv cue "
                        "sheet; several are "
                        "each dubbed as their own run would dub them, with one progress bar")
    p.add_argument("-o", "--output", type=Path, help="the dubbed timeline (default: INPUT_dub.<format>)")
    p.add_argument("--format", help="write this format instead of the input's: otio, fcp_xml (xml), "
                                    "fcpx_xml (fcpxml), edl, srt, vtt, ass")
    p.add_argument("--cast", type=Path, metavar="FILE", help="cast file (default: takefit.cast.toml beside INPUT)")
    p.add_argument("--no-sidecar", action="store_true",
                   help="ignore INPUT.takefit.toml (the panel's edited lines and picked takes): say the timeline's "
                        "lines, standard reads")
    p.add_argument("--track", action="append", default=[], metavar="NAME",
                   help="take the cues from this track's clips instead of markers (repeatable; V2/A1 by position)")
    p.add_argument("--color", action="append", default=[], metavar="COLOUR",
                   help="only markers of this colour (repeatable), e.g. red, ResolveColorBlue")
    p.add_argument("--track-name", default="takefit", metavar="NAME", help="name of the added track (default: takefit)")
    p.add_argument("--rate", metavar="FPS", help="frame rate of an EDL, SRT or cue sheet (they carry none): 24, 25, "
                                                 "29.97 …")
    p.add_argument("--timeline", "--project", metavar="NAME",
                   help="which timeline (an FCPXML project), when the file holds several; without it, the first")
    p.add_argument("--method", default="auto", choices=FIT_METHODS, help="duration fitting (default: auto)")
    add_levels(p)
    p.add_argument("--pre-roll", type=float, default=0.0, metavar="S", help="seconds of silence first, inside each slot")
    p.add_argument("--jobs", type=int, default=2, metavar="N",
                   help="cues rendering at once (default 2: one line's model work overlaps the next line's; "
                        "through a daemon, up to its --workers)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--cache", type=Path, metavar="DIR", help="take cache folder (default: $TAKEFIT_CACHE or the user cache)")
    g.add_argument("--no-cache", action="store_true", help="render every cue afresh")
    p.add_argument("--list", action="store_true", help="print the cues as they will be read; render nothing")
    p.add_argument("--json", action="store_true", help="print the report (or with --list, the cues) as JSON")
    p.add_argument("--strict", action="store_true", help="exit 3 if any cue failed or was flagged")
    stems = p.add_argument_group("stems (the mix of all takes; defaults: one mono 24-bit 48 kHz WAV)")
    stems.add_argument("--stems", choices=("mix", "per-character"), default="mix",
                   help="per-character: one more stem per character beside the mix, OUTPUT_stem_<character>.wav "
                        "(each the full length, its takes where they belong: they sum to the mix)")
    stems.add_argument("--stem-format", choices=("wav", "flac", "mp3", "aac"), default="wav",
                   help="also write each stem as FLAC (lossless, 24-bit), MP3 (128 kbit/s, decodes to the exact "
                        "length) or AAC (.m4a, 192 kbit/s; needs PyAV: pip install 'takefit[export]'). The WAV is "
                        "always written: only it carries the timecode (bext/iXML) editors place by")
    stems.add_argument("--stereo", action="store_true",
                   help="stems as dual mono: the mix on both channels, sample-identical at the same level (no "
                        "-3 dB pan law: each channel nulls against the mono takes, and a player sends a mono file "
                        "to both speakers just so; panning is the editor's). A 2-channel stem reads 3 dB louder "
                        "on a BS.1770 meter, which sums channels")
    add_cluster_arguments(p)
    p.set_defaults(func=run)


def add_cluster_arguments(p) -> None:
    """--cluster and its companions (also on `takefit watch`): docs/cluster.md."""
    c = p.add_argument_group("cluster (pip install 'takefit[cluster]'; docs/cluster.md)")
    c.add_argument("--cluster", metavar="ADDRESS",
                   help="render on Ray actors: local (a Ray cluster on this machine), auto ($RAY_ADDRESS), "
                        "ray://HOST:PORT or HOST:PORT. Takes are bit-identical to a local run and share its cache")
    c.add_argument("--trust-cluster", action="store_true",
                   help="allow an address off this machine: a Ray cluster runs whatever reaches its ports, so use "
                        "only your own, on a private network")
    c.add_argument("--actors", type=int, metavar="N",
                   help="engines on the cluster (default: its CPUs ÷ (threads × lines) per actor)")
    c.add_argument("--threads-per-actor", type=int, default=1, metavar="T",
                   help="CPU threads per engine (default 1: several 1-thread engines render more per core)")
    c.add_argument("--lines-per-actor", type=int, default=1, metavar="L",
                   help="lines each actor renders at once, overlapping their stages as a local run does (Kokoro; "
                        "default 1). Each actor asks Ray for L × T CPUs: --lines-per-actor 2 puts one actor on "
                        "each 2-core share (docs/cluster.md: measured beside two 1-line actors)")
    known = "; ".join(f"{name}: {entry.summary}" for name, entry in REGISTRY.items())
    c.add_argument("--backend", metavar="NAME",
                   help=f"the speech model every actor loads (default {DEFAULT_BACKEND}). {known}. A voice that is "
                        f"an audio file (a clip to clone) is sent to the actors with its cue. Only with --cluster: "
                        f"a run on this machine renders with the backend its daemon was started with "
                        f"(takefit daemon start --backend NAME), or with Kokoro in this process")
    c.add_argument("--device", metavar="DEV",
                   help="where each actor runs the backend: cuda (IndexTTS2's default: Ray gives each actor a GPU "
                        "of its own, seen as cuda) or cpu (Kokoro's only one)")
    c.add_argument("--gpus-per-actor", type=float, metavar="G",
                   help="GPUs Ray reserves for each actor on cuda (default 1; 0.5 puts two actors on a GPU whose "
                        "memory holds two copies of the model)")


def cluster_options(args):
    """--cluster and its companions as ClusterOptions, or an InputError naming the flag to fix."""
    from takefit.bridges.cluster.renderer import ClusterOptions

    try:
        return ClusterOptions(parse(args.cluster, args.trust_cluster), actors=args.actors,
                              threads_per_actor=args.threads_per_actor, lines_per_actor=args.lines_per_actor,
                              backend=args.backend or DEFAULT_BACKEND,
                              device=args.device, gpus_per_actor=1.0 if args.gpus_per_actor is None
                              else args.gpus_per_actor)
    except ValueError as e:   # the registry's InputError for an unknown backend or device is one too
        raise InputError(str(e)) from None


def cluster_renderer(args, cache_dir, no_cache: bool):
    """The RayRenderer --cluster asks for (ray is imported only here)."""
    from takefit.bridges.cluster.renderer import cluster_renderer as connect

    return connect(cluster_options(args), cache_dir=cache_dir, no_cache=no_cache)


def guarded_run(args) -> int | None:
    """A --cluster run that Ray may end runs in a child (bridges/cluster/guard.py): the child's exit status;
    None when this process drives the cluster itself. Bad cluster flags are refused here first."""
    check_cluster_flags(args)
    if args.cluster and getattr(args, "argv", None) and guard.wanted(parse(args.cluster, args.trust_cluster)):
        return guard.run_guarded(args.argv)
    return None


def check_cluster_flags(args) -> None:
    """Refused before any timeline is read or Ray starts: companions without --cluster, a bad address,
    actor count, backend or device."""
    if args.cluster is None and (args.backend or args.device or args.gpus_per_actor is not None):
        name = args.backend or "NAME"
        raise InputError(f"--backend, --device and --gpus-per-actor go with --cluster ADDRESS (the actors load the "
                         f"backend). A run on this machine renders with this user's takefit daemon, which serves the "
                         f"backend it was started with (`takefit daemon start --backend {name}`), or with Kokoro in "
                         f"this process")
    if args.cluster is None and (args.trust_cluster or args.actors or args.threads_per_actor != 1
                                 or args.lines_per_actor != 1):
        raise InputError("--trust-cluster, --actors, --threads-per-actor and --lines-per-actor go with --cluster "
                         "ADDRESS")
    if args.cluster is not None:
        cluster_options(args)


def options(args, source: Path):
    from takefit.bridges.dub.pipeline import DubOptions
    from takefit.bridges.dub.stem import check_export

    if not 1 <= args.jobs <= 16:
        raise InputError(f"--jobs takes 1 to 16 cues at once (2 suits a 2-core machine); got {args.jobs}")
    check_export(args.stem_format)
    return DubOptions(input=source, output=args.output, format=args.format, cast=args.cast,
                      no_sidecar=args.no_sidecar,
                      tracks=tuple(args.track), colors=tuple(args.color), track_name=args.track_name,
                      rate=args.rate, timeline=args.timeline, **level_options(args),
                      method=args.method, pre_roll=args.pre_roll, jobs=args.jobs,
                      stems=args.stems, stem_format=args.stem_format, stereo=args.stereo)


def plans(args) -> list:
    """(options, plan) per input, all read before anything renders; a timeline given twice is refused."""
    from takefit.bridges.dub import pipeline as dub

    if not args.track_name.strip():
        raise InputError("--track-name must not be empty")
    if len(args.input) > 1 and args.output is not None:
        raise InputError(f"-o names one output, but {len(args.input)} timelines were given: drop -o (each is "
                         f"written beside its input, INPUT_dub.<format>) or dub them one at a time")
    seen = [p.expanduser().resolve() for p in args.input]
    twice = sorted({str(p) for p in seen if seen.count(p) > 1})
    if twice:
        raise InputError(f"{', '.join(twice)} given more than once: give each timeline once")
    check_cluster_flags(args)
    if args.list and (args.backend or DEFAULT_BACKEND) != DEFAULT_BACKEND:
        raise InputError(f"--list predicts each line's length with Kokoro's duration stage on this machine; the "
                         f"{args.backend} backend knows a line's length only by rendering it. Drop --list (the "
                         f"report lists every take), or drop --backend to preview Kokoro's reading")
    out = []
    for source in args.input:
        opts = options(args, source)
        if opts.format:
            format_name(opts.format)  # a bad --format fails before anything is read
        out.append((opts, dub.plan(opts)))
    return out


def run(args) -> int:
    from takefit.bridges.dub import pipeline as dub
    from takefit.bridges.dub.render import make_renderer

    if not args.list and (status := guarded_run(args)) is not None:
        return status
    jobs = plans(args)
    if args.list:
        checker = make_renderer(cache_dir=args.cache, no_cache=True)   # the duration stage only: no audio
        try:
            for opts, the_plan in jobs:
                the_plan.cues = dub.check_voices(the_plan.cues, checker)
                print_cues(the_plan, checker, opts, as_json=args.json)
        finally:
            checker.close()
        return 0
    for opts, the_plan in jobs:
        if not the_plan.cues:
            print(f"takefit: {no_cues_message(str(opts.input), opts, the_plan.source.timeline)} — nothing "
                  f"dubbed, nothing written.", file=sys.stderr)
        elif all_silent(the_plan.cues):
            print(f"takefit: {silent_message(str(opts.input), the_plan.cues)} — nothing dubbed, nothing written.",
                  file=sys.stderr)
    jobs = [(o, p) for o, p in jobs if p.cues and not all_silent(p.cues)]
    if not jobs:
        return 0
    if args.cluster:
        renderer = cluster_renderer(args, args.cache, args.no_cache)
        jobs = [(replace(o, jobs=renderer.max_in_flight), p) for o, p in jobs]
    else:
        renderer = make_renderer(cache_dir=args.cache, no_cache=args.no_cache, parallel=args.jobs)
    try:
        reports = run_with_progress(jobs, renderer, quiet=args.json, at_once=len(jobs) if args.cluster else 1)
    finally:
        renderer.close()
    return print_reports(reports, args)


def print_reports(reports: list, args) -> int:
    if args.json:
        docs = [r.to_json() for r in reports]
        print(json.dumps(docs[0] if len(docs) == 1 else {"timelines": docs, **season_totals(reports)},
                         ensure_ascii=False, indent=1))
    else:
        for report in reports:
            for note in report.notes:
                print(f"note: {note}", file=sys.stderr)
            for r in report.results:
                if r.status in ("failed", "flagged", "skipped"):
                    print(f"{r.cue.id} {r.status}: {r.error or '; '.join(r.warnings)}  [{r.cue.origin}]",
                          file=sys.stderr)
            print(report.summary_line())
            if (stem := report.stem_line()) is not None:
                print(stem)
        if len(reports) > 1:
            t = season_totals(reports)
            print(f"{len(reports)} timelines, {t['cues']} cues in {t['wall_seconds']:.1f} s: "
                  f"{t['cues_per_second']:.2f} cues/s")
    if args.strict and any(r.count("failed") or r.count("flagged") for r in reports):
        return 3
    return 0


def season_totals(reports: list) -> dict:
    wall = max(r.wall_seconds for r in reports)    # they ran side by side, each from its own start
    cues = sum(len(r.results) for r in reports)
    return {"cues": cues, "wall_seconds": round(wall, 3), "cues_per_second": round(cues / wall if wall else 0.0, 3)}


def run_with_progress(jobs: list, renderer, quiet: bool = False, at_once: int = 1) -> list:
    """Every timeline dubbed under one bar over all their cues, a line as each finishes; the first
    timeline's error is raised once all have stopped."""
    from takefit.bridges.dub.season import run_all
    from tqdm import tqdm

    with tqdm(total=sum(len(p.cues) for _, p in jobs), desc="dubbing", unit="cue", file=sys.stderr,
              disable=quiet or not sys.stderr.isatty()) as bar:
        def progress(done: int, total: int, result) -> None:
            bar.update(done - bar.n)
            bar.set_postfix_str(f"{result.cue.id} {result.status}")

        def finished(end) -> None:
            if len(jobs) > 1 and not quiet:
                what = end.report.summary_line() if end.report else f"stopped: {end.error}"
                bar.write(f"{end.opts.input.name}: {what}", file=sys.stderr)

        ends = run_all(jobs, renderer, at_once, progress, finished)
    for end in ends:
        if end.error is not None:
            raise end.error
    return [end.report for end in ends]


def print_cues(the_plan, renderer, opts, as_json: bool = False) -> None:
    """The cues as the run will treat them: who reads each, how long it runs naturally, the ratio its
    slot asks, and which will be flagged, skipped or fail (bridges/dub/preview.py)."""
    from takefit.bridges.dub.preview import preview

    rows = []
    drop = rates.drop_frame(the_plan.source.timeline, the_plan.rate)
    for c in the_plan.cues:
        seen = preview(c, renderer, opts)
        rows.append({"id": c.id, "timecode": rates.timecode(the_plan.start + c.start, c.rate, drop),
                     "frames": c.duration,
                     "source": c.source, "character": c.character, "voice": c.voice, "language": c.language,
                     "emotion": str(c.emotion) if c.emotion else None, "text": c.text,
                     "edited": c.id in the_plan.sidecar.edits, "take": c.variant,
                     "problems": list(c.problems), "notes": list(c.notes), **seen.to_json()})
    if as_json:
        print(json.dumps({"rate": rates.rate_text(the_plan.rate), "cues": rows, "notes": the_plan.notes},
                         ensure_ascii=False, indent=1))
        return
    print(f"{len(rows)} cue(s) at {rates.rate_text(the_plan.rate)} fps   (natural length and ratio: predicted by "
          f"the duration stage; the render measures)")
    print(f"{'cue':5} {'timecode':11} {'slot':>6} {'natural':>7} {'ratio':>5}  {'who/voice':24} line")
    for r in rows:
        print_row(r)
    for n in the_plan.notes:
        print(f"note: {n}")
    verdicts = [r["verdict"] for r in rows]
    print(", ".join(f"{verdicts.count(v)} will {v}" for v in ("render", "flag", "skip", "fail") if v in verdicts)
          or f"note: {no_cues_message(opts.input.name, opts, the_plan.source.timeline)}")


def print_row(r: dict) -> None:
    slot = f"{r['frames']}f" if r["frames"] else "point"
    natural = "-" if r["natural_seconds"] is None else f"{r['natural_seconds']:.2f}s"
    ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}"
    picked = r["voice"] in ("", "auto") and r["voice_used"]
    who = f"{r['character'] or '-'}/" + (f"{r['voice_used']} (auto)" if picked else r["voice"])
    emo = f" ({r['emotion']})" if r["emotion"] else ""
    take = f" [take {r['take']}]" if r["take"] != 1 else ""
    edited = "✎ " if r["edited"] else ""     # the sidecar's line, not the timeline's
    print(f"{r['id']:5} {r['timecode']:11} {slot:>6} {natural:>7} {ratio:>5}  {who:24} {edited}{r['text']}{emo}{take}")
    if r["verdict"] != "render":
        print(f"      {r['verdict']}: {r['reason']}")
    for msg in r["notes"]:
        print(f"      note: {msg}")
