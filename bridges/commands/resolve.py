"""`takefit resolve` — the DaVinci Resolve bridge: install the Workspace › Scripts entries, or drive
Resolve Studio from outside (external scripting)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from takefit.bridges.resolve import api, cues, dub, install, ui
from takefit.engine.errors import InputError

EPILOG = """commands:
  install     copy the scripts into Resolve's Fusion/Scripts folders (restart Resolve afterwards):
                Workspace › Scripts › Edit › takefit – Dub timeline
                Workspace › Scripts › Edit › takefit – Re-render selected cue
                Workspace › Scripts › Utility › takefit – Open casting panel
  uninstall   remove them again
  dub         dub the timeline open in Resolve Studio from this shell (external scripting must be
              allowed: Preferences › System › General › External scripting using: Local)
  otio        the free edition by hand: dub a timeline Resolve exported as OTIO (File › Export ›
              Timeline…), then File › Import › Timeline… the result

In Resolve, write each line in a marker's note (its length is the slot; a 1-frame marker keeps the
line's natural length). Tags and the cast file work as in `takefit dub`: [alice | angry 0.7] Hello.
The takes go on an audio track "takefit" ("takefit 2" … where lines overlap), at the exact frame, with
the exact length; the takefit daemon renders them (`takefit daemon start`).

examples:
  takefit resolve install                     # for you (--system: all users, needs admin)
  takefit resolve install --dry-run           # what goes where
  takefit resolve dub --cast cast.toml        # Resolve Studio running, timeline open
  takefit resolve dub --selected              # re-render the cue under the playhead, in place
  takefit resolve dub --list                  # the cues as they will be read
  takefit resolve otio "Scene 1.otio"         # → Scene 1_dub.otio (+ takes) to import in Resolve

More: docs/resolve.md.
"""


def register(sub) -> None:
    p = sub.add_parser("resolve", help="DaVinci Resolve: install the scripts, or dub the open timeline",
                       description="The DaVinci Resolve bridge: scripts under Workspace › Scripts that dub the "
                                   "current timeline's markers through the takefit daemon, placing every take at "
                                   "its exact frame with its exact length.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    rs = p.add_subparsers(dest="resolve_command", metavar="COMMAND")

    for name, helptext in (("install", "copy the scripts into Resolve's Scripts folders"),
                           ("uninstall", "remove the scripts")):
        s = rs.add_parser(name, help=helptext, description=helptext[0].upper() + helptext[1:] + ".")
        g = s.add_mutually_exclusive_group()
        g.add_argument("--user", dest="scope", action="store_const", const="user",
                       help="for the current user (default)")
        g.add_argument("--system", dest="scope", action="store_const", const="system",
                       help="for all users (needs administrator rights)")
        s.add_argument("--dry-run", action="store_true", help="list what would go where; change nothing")
        s.add_argument("--os", choices=("macos", "windows", "linux"), help="lay out for this OS (default: this one)")
        s.add_argument("--destdir", metavar="DIR", help="stage all-users paths below DIR (packaging)")
        if name == "install":
            s.add_argument("--python", metavar="EXE", help="the Python the scripts run takefit with "
                                                          "(default: this one, %s)" % sys.executable)
        s.set_defaults(func=cmd_install if name == "install" else cmd_uninstall, scope="user")

    d = rs.add_parser("dub", help="dub the timeline open in Resolve Studio (external scripting)",
                      description="Dub the current timeline of the running Resolve Studio: read its cues, render "
                                  "them through the daemon, place the takes on the 'takefit' track.")
    d.add_argument("--cast", type=Path, metavar="FILE", help="cast file (default: the one the scripts used last)")
    d.add_argument("--track-name", metavar="NAME", help="audio track for the takes (default: takefit)")
    d.add_argument("--from", dest="sources", metavar="SOURCES",
                   help="where the lines are: markers,clip_markers,subtitles (default: markers,clip_markers)")
    d.add_argument("--color", action="append", default=[], metavar="COLOUR", help="only markers of this colour")
    d.add_argument("--takes-dir", type=Path, metavar="DIR", help="where the take files go")
    d.add_argument("--selected", action="store_true", help="only the cue under the playhead, replaced in place")
    d.add_argument("--via-otio", action="store_true",
                   help="export OTIO, dub, import as a new timeline (the current one stays untouched)")
    d.add_argument("--list", action="store_true", help="show the cues as they will be read; render nothing")
    d.add_argument("--json", action="store_true", help="machine-readable output")
    d.add_argument("--no-autostart", action="store_true", help="do not start the daemon if it is not running")
    d.add_argument("--endpoint", metavar="ENDPOINT", help="the daemon's endpoint (default: the local daemon)")
    d.add_argument("--home", metavar="DIR", help="the daemon's home (default: $TAKEFIT_DAEMON_HOME / user dirs)")
    d.set_defaults(func=cmd_dub)

    o = rs.add_parser("otio", help="dub an OTIO timeline exported from Resolve (free edition, by hand)",
                      description="Dub a timeline Resolve exported as OTIO (File › Export › Timeline… › OTIO): "
                                  "marker notes are the lines. Import the result with File › Import › Timeline….")
    o.add_argument("input", type=Path, metavar="EXPORTED.otio")
    o.add_argument("-o", "--output", type=Path, help="default: INPUT_dub.otio beside the input")
    o.add_argument("--cast", type=Path, metavar="FILE", help="cast file (default: takefit.cast.toml beside INPUT)")
    o.add_argument("--track-name", default="takefit", metavar="NAME")
    o.add_argument("--json", action="store_true")
    o.add_argument("--endpoint", metavar="ENDPOINT")
    o.add_argument("--home", metavar="DIR")
    o.set_defaults(func=cmd_otio)


def cmd_install(args) -> int:
    actions = install.install(args.scope, args.os, destdir=args.destdir, dry_run=args.dry_run, python=args.python)
    for a in actions:
        print(a.describe(args.dry_run))
    if not args.dry_run:
        print("restart DaVinci Resolve; the scripts are under Workspace › Scripts (Edit, Utility). They run takefit "
              "with {} and need the daemon: `takefit daemon start` (or `takefit daemon install-service --enable`)."
              .format(install.config(args.python)["python"]))
    return 0


def cmd_uninstall(args) -> int:
    actions = install.uninstall(args.scope, args.os, destdir=args.destdir, dry_run=args.dry_run)
    for a in actions:
        print(a.describe(args.dry_run))
    if not actions:
        print("no takefit scripts installed there ({})".format(
            install.scripts_dir(args.os or install.current_os(), args.scope, destdir=args.destdir)))
    return 0


def cmd_dub(args) -> int:
    try:
        resolve = api.connect({})
        opts = dub.options_for(resolve, {"python": sys.executable, "worker": "inprocess",
                                         "autostart": not args.no_autostart})
        opts.endpoint, opts.home = args.endpoint, args.home
        if args.cast:
            opts.cast = str(args.cast.expanduser().absolute())
        if args.track_name:
            opts.track_name = args.track_name
        if args.sources:
            wanted = tuple(s.strip().replace("-", "_") for s in args.sources.split(",") if s.strip())
            bad = [s for s in wanted if s not in cues.SOURCES]
            if bad:
                raise InputError("--from {}: accepted {}".format(", ".join(bad), ", ".join(cues.SOURCES)))
            opts.sources = wanted
        if args.color:
            opts.colors = tuple(args.color)
        if args.takes_dir:
            opts.takes_dir = str(args.takes_dir.expanduser().absolute())
        if args.list:
            doc = dub.preview(resolve, opts)
            print(json.dumps(doc, ensure_ascii=False, indent=1) if args.json else "\n".join(ui.preview_lines(doc)))
            return 0
        out = ui.Console(printer=lambda line: print(line, file=sys.stderr))
        quiet = (lambda *a, **k: None) if args.json else None
        if args.via_otio:
            report = dub.dub_via_otio(resolve, opts, progress=quiet or out.progress, log=quiet or out.say)
        else:
            report = dub.dub(resolve, opts, selected=args.selected, progress=quiet or out.progress,
                             log=quiet or out.say)
        dub.save_settings(api.Context(resolve).project_name, opts)
    except api.BridgeError as e:
        print("takefit: error: {}".format(e), file=sys.stderr)
        return 5 if isinstance(e, api.NoDaemon) else 2
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=1))
    else:
        print("\n".join(report.lines()))
    return 3 if report.failed else 0


def cmd_otio(args) -> int:
    from takefit.bridges.resolve import worker

    if not args.input.is_file():
        raise InputError("{} not found".format(args.input))
    job = {"op": "dub_otio", "input": str(args.input), "output": str(args.output) if args.output else None,
           "cast": str(args.cast) if args.cast else None, "track_name": args.track_name,
           "daemon": {"endpoint": args.endpoint, "home": args.home, "autostart": True}}
    doc = worker.dub_otio(job, lambda d: None)
    if args.json:
        print(json.dumps(doc, ensure_ascii=False, indent=1))
        return 0
    for s in doc.get("skipped_markers") or []:
        print("skipped {}".format(s), file=sys.stderr)
    s = doc.get("summary") or {}
    print("dubbed {} cue(s) → {} (import it in Resolve: File › Import › Timeline…)".format(
        s.get("cues", 0), (doc.get("outputs") or {}).get("otio", "nothing written")))
    return 0
