"""What went wrong with a watch-folder file and how to fix it: the text of its `.error.txt`."""
from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from takefit.daemon.control import DaemonError
from takefit.engine import __version__
from takefit.engine.errors import AssetError, InputError, OutputError

from takefit.otio_adapters import cuesheet

if TYPE_CHECKING:                   # types only: jobs.py uses this module
    from .jobs import Layout
    from .journal import Job

SUPPORTED_TEXT = (".otio/.otioz (OpenTimelineIO), .xml (FCP7 XML: Premiere, Resolve, Avid), .fcpxml (Final Cut "
                  "Pro X), .edl (CMX 3600 or Resolve marker EDL), .srt (SubRip), .vtt (WebVTT), .ass/.ssa (SubStation "
                  "Alpha), .ttml/.dfxp (TTML, IMSC), .scc (captions), .stl (EBU STL), .csv/.tsv (cue sheet: start, end, character, text)")


def explain(e: BaseException, layout: Layout, name: str) -> tuple[str, str]:
    """(what was wrong, how to fix it) for the error file."""
    what = str(e)
    again = f"Then drop the corrected file into {layout.rel(layout.inbox)}/ again."
    if isinstance(e, cuesheet.CueSheetError):
        how = ("Fix the rows listed above in the cue sheet (columns: start, end, character, text; times as "
               "seconds, HH:MM:SS.mmm or timecode HH:MM:SS:FF — see docs/watch.md). " + again)
    elif isinstance(e, AssetError):
        how = ("The voice model is missing or damaged: run `takefit assets verify` and `takefit assets fetch`. "
               "Then move the file from failed/ back into inbox/.")
    elif isinstance(e, OutputError):
        how = (f"Check that {layout.outbox} is writable and the disk has space. Then move the file from failed/ "
               f"back into inbox/.")
    elif isinstance(e, InputError) and "cast file" in what:
        how = ("Fix the cast file (see docs/cues.md for its keys), then move the file from failed/ back into "
               "inbox/ (a changed cast file applies to every file dropped after it).")
    elif isinstance(e, InputError) and what.startswith("sidecar "):
        how = (f"Fix or delete the entry named above in {name}.takefit.toml (docs/cues.md, 'Edited lines and "
               f"picked takes'), or delete that file (or watch with --no-sidecar) to dub the timeline's own lines; "
               f"then move the file from failed/ back into inbox/.")
    elif isinstance(e, InputError) and "unsupported file type" in what:
        how = f"Export the timeline as one of: {SUPPORTED_TEXT}. " + again
    elif isinstance(e, InputError):
        how = "Correct the file as the message above says. " + again
    elif isinstance(e, DaemonError):
        how = ("The takefit daemon failed: see `takefit daemon status` and `takefit daemon logs`, or run the "
               "watcher with --daemon off. Then move the file from failed/ back into inbox/.")
    else:
        what = f"internal error: {type(e).__name__}: {e}\n\n" + "".join(
            traceback.format_exception(type(e), e, e.__traceback__))
        how = ("This is a bug in takefit, not a problem with the file: please report it with this error file and "
               "the input. Moving the file from failed/ back into inbox/ tries again.")
    return what, how


def explain_cues(report, layout: Layout, outdir: Path) -> tuple[str, str]:
    failed = [r for r in report.results if r.status == "failed"]
    lines = [f"  {r.cue.id} ({r.cue.origin or 'cue'}): {r.error}" for r in failed[:30]]
    if len(failed) > 30:
        lines.append(f"  … and {len(failed) - 30} more (all in the report)")
    what = (f"{len(failed)} of {len(report.results)} cue{'s' if len(report.results) != 1 else ''} could not be "
            f"dubbed:\n" + "\n".join(lines))
    hints = []
    text = " ".join(r.error or "" for r in failed)
    if "slot" in text or "frames" in text or "shorter" in text:
        hints.append("a slot too short for its line: lengthen the slot (the message names the frames it needs) "
                     "or shorten the line")
    if "voice" in text:
        hints.append("an unknown voice: fix the voice name in the tag or in takefit.cast.toml (`takefit voices` "
                     "lists them)")
    if "tag" in text:
        hints.append("a bad [tag] at the start of a line: see docs/cues.md for the syntax")
    how = ("Fix " + "; ".join(hints) + ". " if hints else "Fix the cues listed above. ")
    if len(failed) < len(report.results):
        how += f"The outputs of the cues that worked are in {layout.rel(outdir)}/ (the report lists every cue). "
    else:
        how += f"The report in {layout.rel(outdir)}/ lists every cue. "
    how += "Then drop the corrected file into inbox/ again."
    return what, how


def error_text(name: str, what: str, how: str, job: Job | None, digest: str | None) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S")
    details = []
    if job is not None:
        details.append(f"job {job.id}, attempt {job.attempts}")
    if digest:
        details.append(f"sha256 {digest[:16]}…")
    details.append(f"takefit {__version__}")
    return (f"takefit watch could not dub {name!r} ({when}).\n\nWhat was wrong:\n{_indent(what)}\n\n"
            f"How to fix it:\n{_indent(how)}\n\n({', '.join(details)})\n")


def _indent(text: str) -> str:
    return "\n".join(("  " + ln) if ln.strip() and not ln.startswith("  ") else ln for ln in text.splitlines())
