"""`takefit` — the command line. Each subcommand lives in bridges/commands/<name>.py."""
from __future__ import annotations

import argparse
import gc
import importlib
import sys

from takefit.bridges.cluster import guard
from takefit.engine import __version__
from takefit.engine.errors import AssetError, FitError, InputError, OutputError, TakefitError

# Subcommands, in the order `takefit --help` lists them.
COMMANDS = ("say", "dub", "panel", "watch", "voices", "voice", "emotion", "assets", "daemon", "resolve")

# most specific first: FitError is an InputError
EXIT_CODES = {FitError: 3, InputError: 2, AssetError: 4, OutputError: 5}

EPILOG = """examples:
  takefit say "Hello there." --fit 1.5s -o hello.wav          # one take, exactly 1.5 s
  takefit say "我们用 takefit 给视频配音。" --frames 77@23.976
  takefit say --explain "这个行(xíng)不行？"                    # how it will be read; renders nothing
  takefit dub cut.xml                                          # every marked line → a fitted take track
  takefit panel cut.xml                                        # casting window: voices, emotions, audition
  takefit daemon start                                         # keep the engine warm for editor tools
  takefit watch ~/dubbing                                      # render whatever lands in ~/dubbing/inbox
  takefit resolve install --user                               # scripts under Workspace › Scripts
  takefit voices --language zh
  takefit emotion "愤怒地质问，语气急促"                          # the emotion vector a description maps to
  takefit assets verify

`takefit COMMAND --help` explains each command with its own examples.
"""


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The whole parser; given the command line, only the command it names is imported (each command
    module loads what it runs, so `takefit say` need not import the watch folder or the daemon's admin)."""
    parser = argparse.ArgumentParser(
        prog="takefit",
        description="Exactly fitted voice takes for video editors: speech rendered offline on the CPU, "
                    "its length matching the slot to the sample.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"takefit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    named = [a for a in (argv or [])[:1] if a in COMMANDS]
    for name in named or COMMANDS:
        importlib.import_module(f"takefit.bridges.commands.{name}").register(sub)
    return parser


def exit_code(err: TakefitError) -> int:
    for cls, code in EXIT_CODES.items():
        if isinstance(err, cls):
            return code
    return 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    guard.adopt()
    try:
        return run(argv)
    finally:
        guard.finished()             # in a --cluster run's child: it ended by itself (bridges/cluster/guard.py)


def run(argv: list[str]) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    args.argv = argv                  # a --cluster run may re-run itself in a child (bridges/cluster/guard.py)
    try:
        return int(args.func(args) or 0)
    except TakefitError as e:
        print(f"takefit: error: {e}", file=sys.stderr)
        return exit_code(e)
    except KeyboardInterrupt:
        print("takefit: interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    """The `takefit` command (pyproject's script, `python -m`): main()'s status as the exit code. What the
    command loaded (the model, spaCy, the lexicons) is frozen out of the collector first: the exit's last
    collection otherwise frees it object by object, 0.5–0.6 s of a cold `takefit say` (the OS takes the
    memory back at once). Not in main(): tests call it in a process that lives on."""
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    entry()
