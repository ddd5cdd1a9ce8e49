"""`takefit watch` — a watch folder: files dropped into DIR/inbox are dubbed unattended."""
from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from pathlib import Path

from takefit.bridges.commands.daemon import install_service as install
from takefit.bridges.commands.daemon import uninstall_service as uninstall
from takefit.bridges.commands.dub import add_cluster_arguments, check_cluster_flags, cluster_renderer, guarded_run
from takefit.bridges.commands.levels import add_levels, level_options
from takefit.bridges.watch.jobs import Layout, WatchOptions
from takefit.bridges.watch.service import watch_service
from takefit.bridges.watch.status import format_status, status
from takefit.bridges.watch.watcher import Watcher
from takefit.engine.errors import InputError
from takefit.engine.request import FIT_METHODS
from takefit.otio_adapters import rates

ACTIONS = ("install-service", "uninstall-service")

EPILOG = """the folder (created when missing; see docs/watch.md):
  DIR/inbox/              drop files here: .otio .otioz .xml (FCP7) .fcpxml .edl (CMX 3600 / Resolve markers)
                          .srt .vtt .ass .ttml .dfxp .scc .stl, and cue sheets .csv/.tsv (start, end,
                          character, text)
  DIR/outbox/<name>/      the results: <name>.<format> (the timeline with the takes), <name>.otio,
                          <name>_takes/, <name>_stem.wav, <name>_report.json — as `takefit dub` writes them
  DIR/done/               the input, once its outputs are complete
  DIR/failed/             an input that could not be dubbed, with <name>.error.txt: what was wrong, how to fix it
  DIR/takefit.cast.toml   the cast for every input (or --cast FILE)
  DIR/inbox/NAME.takefit.toml
                          an input's sidecar: the lines edited and takes picked in `takefit panel`
                          (scene.xml → scene.xml.takefit.toml); drop it before or with its timeline. It stays
                          in inbox/ for the next drop of that timeline; --no-sidecar ignores it
  DIR/.takefit-watch/     the journal, the log (watch.log) and the lock: one watcher per folder

A file is taken once its size and time have stopped changing for --settle seconds, so a slow copy
is never read half-way; hidden and temporary files (.name, ~name, *.part, *.tmp, *.crdownload …)
are ignored. Files are dubbed one at a time, in the order they became complete. Each job is journaled
by the file's content: the same file dropped again is not dubbed twice, and a watcher killed
mid-job finishes that job on its next start without duplicating a take. A cue that fails (a slot
too short …) is in the report; the file still goes to done/ unless every cue failed (or --strict).

examples:
  takefit watch ~/dubbing                      # watch until Ctrl-C
  takefit watch ~/dubbing --cast cast.toml --rate 25
  takefit watch ~/dubbing --once               # dub what is in the inbox now, then exit (cron, scripts)
  takefit watch ~/dubbing --cluster auto --backend indextts   # IndexTTS2 on the Ray cluster's GPUs
  takefit watch --status ~/dubbing             # is it running, what waits, what ran
  takefit watch install-service ~/dubbing --enable --daemon start
  takefit watch uninstall-service ~/dubbing --disable

Takes are rendered by the takefit daemon when one runs (--daemon start: start it when needed),
otherwise by the engine in this process (loaded once, on the first take not already cached); with
--cluster by Ray actors, each holding the backend --backend names (docs/cluster.md).
"""


def register(sub) -> None:
    p = sub.add_parser("watch", help="dub every file dropped into a watch folder, unattended",
                       description="Watch DIR/inbox and dub every timeline, subtitle file or cue sheet dropped into "
                                   "it (as `takefit dub` does) into DIR/outbox/<name>/; inputs then move to "
                                   "DIR/done/, or DIR/failed/ with an explanation.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", metavar="DIR", help="the watch folder (or: install-service DIR, uninstall-service DIR)")
    p.add_argument("service_folder", nargs="?", metavar="", help=argparse.SUPPRESS)
    p.add_argument("--status", action="store_true", help="show the folder's watcher, queue and recent jobs; exit")
    p.add_argument("--json", action="store_true", help="with --status: as JSON")
    p.add_argument("--once", action="store_true", help="dub what the inbox holds, then exit (1 if any file failed)")
    g = p.add_argument_group("dubbing (applies to every file)")
    g.add_argument("--cast", type=Path, metavar="FILE", help="cast file (default: DIR/takefit.cast.toml)")
    g.add_argument("--rate", metavar="FPS", help="frame rate of EDL, SRT and cue sheet inputs (they carry none; a cue "
                                                 "sheet's '# rate:' line wins): 24, 25, 29.97 …")
    g.add_argument("--track", action="append", default=[], metavar="NAME",
                   help="take the cues from this track's clips instead of markers (repeatable)")
    g.add_argument("--color", action="append", default=[], metavar="COLOUR", help="only markers of this colour")
    g.add_argument("--method", default="auto", choices=FIT_METHODS, help="duration fitting (default: auto)")
    add_levels(g)
    g.add_argument("--pre-roll", type=float, default=0.0, metavar="S", help="seconds of silence first, in each slot")
    g.add_argument("--strict", action="store_true", help="a file with any failed cue goes to failed/")
    g.add_argument("--no-sidecar", action="store_true",
                   help="ignore the inputs' NAME.takefit.toml (the panel's edited lines and picked takes)")
    w = p.add_argument_group("watching")
    w.add_argument("--settle", type=float, default=3.0, metavar="S",
                   help="seconds a file must stay unchanged before it is read (default 3; more for slow network "
                        "copies)")
    w.add_argument("--rescan", type=float, default=10.0, metavar="S",
                   help="also list the inbox every S seconds, for shares without file events (default 10)")
    w.add_argument("--daemon", choices=("auto", "start", "off"), default="auto",
                   help="auto: use the takefit daemon when it runs (default); start: start it if needed; "
                        "off: always the engine in this process")
    c = w.add_mutually_exclusive_group()
    c.add_argument("--cache", type=Path, metavar="DIR", help="take cache folder (default: $TAKEFIT_CACHE or the "
                                                             "user cache)")
    c.add_argument("--no-cache", action="store_true", help="render every cue afresh")
    w.add_argument("-q", "--quiet", action="store_true", help="log only warnings and failures")
    add_cluster_arguments(p)
    s = p.add_argument_group("service (install-service / uninstall-service)")
    s.add_argument("--enable", action="store_true", help="install-service: also enable and start it now")
    s.add_argument("--disable", action="store_true", help="uninstall-service: stop and disable it first")
    s.add_argument("--base", metavar="DIR", help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def options(args):
    cast = args.cast.expanduser().absolute() if args.cast else None
    if cast is not None and not cast.is_file():
        raise InputError(f"cast file {cast} not found")
    if args.rate:
        try:
            rates.parse(args.rate)
        except ValueError as e:
            raise InputError(str(e)) from None
    if args.settle < 0 or args.rescan <= 0:
        raise InputError("--settle must be 0 or more and --rescan more than 0 seconds")
    return WatchOptions(cast=cast, rate=args.rate, tracks=tuple(args.track), colors=tuple(args.color),
                        method=args.method, **level_options(args),
                        pre_roll=args.pre_roll,
                        strict=args.strict, no_sidecar=args.no_sidecar)


def run(args) -> int:
    action = args.folder if args.folder in ACTIONS else None
    if action:
        if not args.service_folder:
            raise InputError(f"takefit watch {action} DIR: which watch folder?")
        folder = Path(args.service_folder)
    else:
        if args.service_folder:
            raise InputError(f"unexpected argument {args.service_folder!r}: takefit watch takes one folder")
        folder = Path(args.folder)
    folder = folder.expanduser().absolute()
    if action == "install-service":
        return install_service(args, folder)
    if action == "uninstall-service":
        return uninstall_service(args, folder)
    if args.status:
        return show_status(folder, args.json)
    return watch(args, folder)


def watch(args, folder: Path) -> int:
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder} is a file; give a folder to watch")
    opts = options(args)
    setup_logging(args.quiet)
    if (status := guarded_run(args)) is not None:      # bad cluster flags are refused in it, before Ray starts
        return status
    renderer = cluster_renderer(args, args.cache, args.no_cache) if args.cluster else None
    try:
        w = Watcher(folder, opts, renderer=renderer, daemon=args.daemon, cache_dir=args.cache,
                    no_cache=args.no_cache, settle=args.settle, rescan=args.rescan)
        return w.run(once=args.once)
    finally:
        if renderer is not None:
            renderer.close()


def setup_logging(quiet: bool = False) -> None:
    logger = logging.getLogger("takefit.watch")
    logger.setLevel(logging.INFO)
    if not any(getattr(h, "_takefit_cli", False) for h in logger.handlers):
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter("%(asctime)s takefit watch: %(message)s", "%H:%M:%S"))
        h.setLevel(logging.WARNING if quiet else logging.INFO)
        h._takefit_cli = True  # type: ignore[attr-defined]
        logger.addHandler(h)
    logger.propagate = False


def show_status(folder: Path, as_json: bool) -> int:
    doc = status(folder)
    print(json.dumps(doc, ensure_ascii=False, indent=1) if as_json else format_status(doc))
    return 0


def service_args(args) -> list[str]:
    """The watch options to bake into the service's command line."""
    out: list[str] = []
    if args.cast:
        out += ["--cast", str(args.cast.expanduser().absolute())]
    for flag, value in (("--rate", args.rate), ("--method", args.method if args.method != "auto" else None),
                        ("--delivery", args.delivery.name if args.delivery else None), ("--loudness", args.loudness),
                        ("--true-peak", f"{args.true_peak:g}" if args.true_peak is not None else None),
                        ("--settle", f"{args.settle:g}" if args.settle != 3.0 else None),
                        ("--rescan", f"{args.rescan:g}" if args.rescan != 10.0 else None),
                        ("--daemon", args.daemon if args.daemon != "auto" else None),
                        ("--pre-roll", f"{args.pre_roll:g}" if args.pre_roll else None),
                        ("--cluster", args.cluster), ("--actors", str(args.actors) if args.actors else None),
                        ("--threads-per-actor", str(args.threads_per_actor) if args.threads_per_actor != 1 else None),
                        ("--lines-per-actor", str(args.lines_per_actor) if args.lines_per_actor != 1 else None),
                        ("--backend", args.backend), ("--device", args.device),
                        ("--gpus-per-actor", f"{args.gpus_per_actor:g}" if args.gpus_per_actor is not None else None),
                        ("--cache", str(args.cache.expanduser().absolute()) if args.cache else None)):
        if value is not None:
            out += [flag, value]
    for t in args.track:
        out += ["--track", t]
    for col in args.color:
        out += ["--color", col]
    for flag, on in (("--strict", args.strict), ("--no-sidecar", args.no_sidecar), ("--no-cache", args.no_cache),
                     ("--trust-cluster", args.trust_cluster),
                     ("--quiet", args.quiet)):
        if on:
            out.append(flag)
    return out


def install_service(args, folder: Path) -> int:
    options(args)  # bad options fail now, not at login
    check_cluster_flags(args)
    if not sys.platform.startswith("win"):
        Layout(folder).ensure()
    code = install(watch_service(folder, service_args(args)), args.base, args.enable)
    print(f"check it with: takefit watch --status {shlex.quote(str(folder))}")
    return code


def uninstall_service(args, folder: Path) -> int:
    return uninstall(watch_service(folder), args.base, args.disable)
