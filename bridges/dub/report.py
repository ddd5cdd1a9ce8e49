"""The run's report: per cue what was asked and what was delivered, and one summary line."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from takefit.engine import __version__
from takefit.otio_adapters import rates
from takefit.otio_adapters.cue import Cue
from takefit.otio_adapters.formats import write_text

RENDERED, CACHED, FLAGGED, FAILED, SKIPPED = "rendered", "cached", "flagged", "failed", "skipped"
STATUSES = (RENDERED, CACHED, FLAGGED, FAILED, SKIPPED)


@dataclass
class CueResult:
    cue: Cue
    status: str
    take: Path | None = None
    take_number: int | None = None
    track: str | None = None
    frames: int | None = None            # achieved length on the timeline
    samples: int | None = None           # achieved length of the WAV
    sample_rate: int = 48000
    natural_seconds: float | None = None
    ratio: float | None = None
    method: str | None = None
    voice: str | None = None             # the voice actually used
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    engine_seconds: float = 0.0
    seconds: float = 0.0
    speech_start: float | None = None    # seconds from the take's start to the first sound
    speech_end: float | None = None      # ... to the end of the last sound
    pins: list[dict] = field(default_factory=list)
    cached: bool = False                 # the take came from the cache (also when it is flagged)

    def to_json(self, tl_start: int, drop_frame: bool = False) -> dict:
        c = self.cue
        requested = None
        if c.duration:
            requested = {"frames": c.duration, "seconds": round(float(rates.seconds(c.duration, c.rate)), 6),
                         "seconds_exact": str(rates.seconds(c.duration, c.rate)),
                         "samples": rates.samples(c.duration, c.rate, self.sample_rate)}
        achieved = None
        if self.samples is not None:
            achieved = {"frames": self.frames, "seconds": round(self.samples / self.sample_rate, 6),
                        "samples": self.samples}
        return {
            "id": c.id, "status": self.status, "source": c.source, "origin": c.origin,
            "text": c.text, "raw_text": c.raw_text, "character": c.character,
            "voice": c.voice, "voice_used": self.voice, "language": c.language,
            "emotion": {**c.emotion.to_json(), "applied": True} if c.emotion else None,
            "position": {"start_frame": c.start,
                         "start_timecode": rates.timecode(tl_start + c.start, c.rate, drop_frame),
                         "duration_frames": c.duration},
            "requested": requested if requested else "natural length (point marker)",
            "achieved": achieved,
            "natural_seconds": _r(self.natural_seconds, 3), "ratio": _r(self.ratio, 4), "method": self.method,
            "speech_start": _r(self.speech_start, 4), "speech_end": _r(self.speech_end, 4), "pins": list(self.pins),
            "warnings": list(c.notes) + self.warnings, "error": self.error,
            "take": str(self.take) if self.take else None, "take_number": self.take_number, "track": self.track,
            "timing": {"seconds": round(self.seconds, 3), "engine_seconds": round(self.engine_seconds, 3),
                       "cached": self.cached},
        }


def _r(v, n):
    return None if v is None else round(float(v), n)


@dataclass
class DubReport:
    input: Path
    timeline: str = ""
    rate: Fraction = Fraction(24)
    start: int = 0
    sample_rate: int = 48000
    results: list[CueResult] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    tracks: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    engine_load_seconds: float = 0.0
    stem: dict = field(default_factory=dict)
    sidecar: dict | None = None          # the sidecar read, and the cues it changed (otio_adapters/sidecar.py)
    drop_frame: bool = False             # timecodes written drop-frame (the timeline's own, broadcast.py)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    def _from_cache(self, status: str) -> str:
        """' (N from the cache)' for flagged takes a rerun found ready (the cached count holds only clean ones)."""
        cached = sum(1 for r in self.results if r.status == status and r.cached) if status == FLAGGED else 0
        return f" ({cached} from the cache)" if cached else ""

    @property
    def engine_seconds(self) -> float:
        return sum(r.engine_seconds for r in self.results)

    @property
    def cues_per_second(self) -> float:
        return len(self.results) / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def to_json(self) -> dict:
        return {
            "takefit": __version__, "input": str(self.input), "timeline": self.timeline,
            "rate": rates.rate_text(self.rate),
            "start_timecode": rates.timecode(self.start, self.rate, self.drop_frame),
            "sample_rate": self.sample_rate, "outputs": self.outputs,
            "summary": {"cues": len(self.results), **{s: self.count(s) for s in STATUSES},
                        "tracks": self.tracks, "wall_seconds": round(self.wall_seconds, 3),
                        "cues_per_second": round(self.cues_per_second, 3),
                        "engine_seconds": round(self.engine_seconds, 3),
                        "engine_load_seconds": round(self.engine_load_seconds, 3),
                        "stem": self.stem},
            "notes": self.notes, "sidecar": self.sidecar,
            "cues": [r.to_json(self.start, self.drop_frame) for r in self.results],
        }

    def write(self, path: Path) -> Path:
        return write_text(path, json.dumps(self.to_json(), ensure_ascii=False, indent=1) + "\n")

    def stem_line(self) -> str | None:
        """The mix as a loudness meter reads it (and any overlap that clipped), or None without a stem."""
        shown = (("loudness", "{:.1f} LUFS integrated"), ("loudness_range", "range {:.1f} LU"),
                 ("true_peak", "true peak {:+.1f} dBTP"))
        parts = [form.format(self.stem[key]) for key, form in shown if self.stem.get(key) is not None]
        if not parts:
            return None
        clipped, limited = self.stem.get("clipped") or 0, self.stem.get("overlap_limited") or 0
        overlap = ""
        if limited:
            how_long = f"{limited:.1f} s" if limited >= 1 else f"{1000 * limited:.0f} ms"
            overlap = f"; limited for {how_long} where takes overlap"
        if clipped:
            overlap += f"; {clipped} samples clipped"
        verdict = (self.stem.get("delivery") or {}).get("verdict")
        return f"stem: {', '.join(parts)}{overlap}" + (f" — {verdict}" if verdict else "")

    def summary_line(self) -> str:
        counts = ", ".join(f"{self.count(s)} {s}{self._from_cache(s)}" for s in STATUSES if self.count(s))
        lanes = f" on {len(self.tracks)} track{'s' if len(self.tracks) != 1 else ''}" if self.tracks else ""
        outs = ", ".join(self.outputs[k] for k in ("timeline", "otio", "stem") if k in self.outputs and
                         (k != "otio" or self.outputs.get("otio") != self.outputs.get("timeline")))
        return (f"dubbed {len(self.results)} cue{'s' if len(self.results) != 1 else ''} ({counts}){lanes} in "
                f"{self.wall_seconds:.1f} s ({self.cues_per_second:.2f} cues/s, engine {self.engine_seconds:.1f} s) "
                f"→ {outs}; "
                f"report {self.outputs.get('report', '-')}")
