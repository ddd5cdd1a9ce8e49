"""`takefit panel` — the casting panel: cast voices and emotions, audition, render, dub."""
from __future__ import annotations

import argparse
from pathlib import Path

from takefit.bridges.commands.levels import add_levels, level_options
from takefit.bridges.panel import qt_platform
from takefit.bridges.panel.app import main
from takefit.daemon.paths import Dirs
from takefit.engine.errors import InputError

EPILOG = """The panel talks only to the takefit daemon: every take renders there and reports its progress
back, so the window never freezes. If no daemon runs, the panel says so and offers to start one
(or run `takefit daemon start` yourself).

  cast list     the characters the cues name (tag, marker colour, [defaults]); per character a voice,
                a default emotion (8 sliders in IndexTTS2's order + intensity, a text description,
                or a reference clip) and a speed policy (exact fit, or natural pace up to a ratio)
  cue table     time, slot, character, text (double-click to edit), the ratio slot ÷ natural length
                (green 0.85–1.15, amber 0.7–1.4, red outside), status, take
  ▶ Audition    render the selected cue and play it;  Render all: every cue, with progress and Cancel
  Save cast     writes takefit.cast.toml (beside the timeline, or --cast FILE); `takefit dub` reads it
  Dub timeline  writes TIMELINE_dub.<format>, .otio, _takes/, _stem.wav, _report.json like `takefit dub`

examples:
  takefit panel cut.xml
  takefit panel episode.fcpxml --cast casting/ep1.cast.toml
  takefit panel lines.srt --rate 25
  takefit panel cut.xml --delivery netflix      # auditions and the dub at -27 LUFS, -2 dBTP (also in the window)
"""


def register(sub) -> None:
    p = sub.add_parser("panel", help="casting window: voices and emotions per character, audition, render",
                       description="Open the casting panel (PyQt6) on a timeline: assign voices, emotions and "
                                   "speed per character, audition cues, render them all and dub the timeline, "
                                   "all through the takefit daemon.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("timeline", nargs="?", type=Path, metavar="TIMELINE",
                   help="the timeline: .otio .xml .fcpxml .edl .srt .vtt .ass .ttml .scc .stl (or open one from the window)")
    p.add_argument("--cast", type=Path, metavar="FILE",
                   help="cast file (default: takefit.cast.toml beside TIMELINE; created on Save)")
    p.add_argument("--rate", metavar="FPS", help="frame rate of an EDL or SRT (they carry none): 24, 25, 29.97 …")
    p.add_argument("--track", action="append", default=[], metavar="NAME",
                   help="take the cues from this track's clips instead of markers (repeatable)")
    p.add_argument("--color", action="append", default=[], metavar="COLOUR", help="only markers of this colour")
    add_levels(p)
    p.add_argument("--home", metavar="DIR", help="the daemon's home (default: $TAKEFIT_DAEMON_HOME or the user dirs)")
    p.set_defaults(func=run)


def run(args) -> int:
    try:
        import PyQt6.QtWidgets  # noqa: F401
    except ImportError as e:   # PyQt6 absent, or a system library its Qt links (libEGL, libfontconfig …)
        raise qt_platform.import_error(e) from None
    if args.timeline is not None and not args.timeline.is_file():
        raise InputError(f"cannot open {args.timeline}: no such file")

    return main(args.timeline, args.cast, args.rate, tuple(args.track), tuple(args.color), Dirs.resolve(args.home),
                levels=level_options(args))
