"""What `takefit dub --list` shows before anything renders: per cue, the voice `auto` picks, the
natural length (the duration stage only, no audio) and the ratio its slot asks, and whether the cue
will render, be flagged, be skipped or fail — so an editor fixes a line before the run, not after.
"""
from __future__ import annotations

from dataclasses import dataclass

from takefit.engine.errors import TakefitError
from takefit.engine.request import RenderRequest
from takefit.otio_adapters.cue import Cue
from takefit.otio_adapters.extract import nothing_to_say

from .pipeline import SUBTITLE_PACE, DubOptions, lingers, request_for
from .render import Renderer

RENDER, FLAG, SKIP, FAIL = "render", "flag", "skip", "fail"


@dataclass
class Preview:
    cue: Cue
    verdict: str                           # render | flag | skip | fail
    reason: str = ""                       # why it is flagged, skipped or failing
    voice: str | None = None               # the voice that will read it (auto resolved)
    natural_seconds: float | None = None   # predicted by the duration stage (the render measures)
    ratio: float | None = None             # slot speech ÷ natural speech, predicted

    def to_json(self) -> dict:
        return {"verdict": self.verdict, "reason": self.reason, "voice_used": self.voice,
                "natural_seconds": None if self.natural_seconds is None else round(self.natural_seconds, 3),
                "ratio": None if self.ratio is None else round(self.ratio, 3)}


def preview(cue: Cue, renderer: Renderer, opts: DubOptions) -> Preview:
    """One cue as the run will treat it (the engine's or the daemon's explain: no audio is made)."""
    if cue.problems:
        return Preview(cue, FAIL, "; ".join(cue.problems))
    if not cue.text.strip():
        return Preview(cue, SKIP, nothing_to_say(cue))
    try:
        req = request_for(cue, opts)
        got = renderer.explain(req)
    except TakefitError as e:       # a line no request can hold, or the daemon's or engine's refusal
        return Preview(cue, FAIL, str(e))
    speech = float(got["speech_seconds"])
    out = Preview(cue, RENDER, voice=got.get("voice"), natural_seconds=req.lead + speech + req.tail)
    if speech > 0:       # the slot's ratio on the predicted speech span (a point marker has none)
        out.ratio = req.speech_ratio(speech)
        if out.ratio is not None:
            out.verdict, out.reason = verdict_for(out.ratio, req, cue)
    return out


def verdict_for(ratio: float, req: RenderRequest, cue: Cue | None = None) -> tuple[str, str]:
    lo, hi = req.natural_range
    if lo <= ratio <= hi:
        return RENDER, ""
    side = "fast: lengthen the slot or shorten the text" if ratio < lo else \
        "slow: shorten the slot or lengthen the text" + (f"; {SUBTITLE_PACE}" if cue and lingers(cue) else "")
    return FLAG, f"≈{ratio:.2f}× natural, outside {lo:g}–{hi:g}× ({side})"
