"""Delivery specs: the loudness and true-peak ceiling a broadcaster or platform asks of a programme,
and whether a measured mix meets one.

An editor is told "deliver to Netflix spec", not "-27 LUFS under -2 dBTP": `--delivery netflix` sets
both numbers at once, and the dub report says whether the stem (the mix that is delivered) meets the
spec: the takes are leveled to it one by one, but the mix is what a broadcaster measures (takes that
overlap sum louder; the pauses around each take weigh in the gated average).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import InputError
from .request import TRUE_PEAK_RANGE


@dataclass(frozen=True)
class Delivery:
    name: str            # what --delivery takes
    title: str           # who asks for it, as a dialog lists it
    loudness: float      # LUFS (LKFS) integrated
    tolerance: float     # ± LU the spec allows around it
    true_peak: float     # dBTP: the maximum
    source: str          # the document that says so

    def __post_init__(self):
        if not -70 <= self.loudness <= 0 or not 0 < self.tolerance <= 5:
            raise ValueError(f"{self.name}: loudness {self.loudness} ± {self.tolerance} LU is not a spec")
        if not TRUE_PEAK_RANGE[0] <= self.true_peak <= TRUE_PEAK_RANGE[1]:
            raise ValueError(f"{self.name}: true peak {self.true_peak} dBTP out of {TRUE_PEAK_RANGE}")

    @property
    def label(self) -> str:
        return f"{self.title} ({self.loudness:g} LUFS ±{self.tolerance:g} LU, true peak ≤ {self.true_peak:g} dBTP)"

    def check(self, loudness: float | None, true_peak: float | None, takes_at: float | None = None) -> "Verdict":
        """What a QC pass of a mix measured at these values finds against this spec (None: not measured,
        e.g. a stem under 400 ms, which no spec can judge). `takes_at`: the loudness the takes were leveled
        to; a mix off the spec then says which would bring it there (emotions move each take's level —
        an angry line +5 dB — so a dramatic scene's mix sits above its takes' target)."""
        problems = []
        if loudness is not None:
            off = loudness - self.loudness
            if abs(off) > self.tolerance + 0.05:     # bext and the report round to 0.1: judge what is shown
                fix = "" if takes_at is None else (f": takes leveled to {takes_at - off:.1f} LUFS would put it "
                                                   f"at {self.loudness:g}")
                problems.append(f"{abs(off):.1f} LU too {'loud' if off > 0 else 'quiet'} "
                                f"({loudness:.1f} LUFS, spec {self.loudness:g} ±{self.tolerance:g}){fix}")
        if true_peak is not None and true_peak > self.true_peak + 0.05:
            problems.append(f"true peak {true_peak:+.1f} dBTP over the {self.true_peak:g} dBTP maximum")
        return Verdict(self, loudness is not None and true_peak is not None, tuple(problems))


@dataclass(frozen=True)
class Verdict:
    spec: Delivery
    measured: bool                   # both values were there to judge
    problems: tuple[str, ...] = ()

    @property
    def meets(self) -> bool | None:
        """False with any problem; None where nothing could be judged; True otherwise."""
        if self.problems:
            return False
        return True if self.measured else None

    def line(self) -> str:
        if self.problems:
            return f"misses {self.spec.title}: " + "; ".join(self.problems)
        if not self.measured:
            return f"too short to judge against {self.spec.title}"
        spec = self.spec
        return f"meets {spec.title} ({spec.loudness:g} ±{spec.tolerance:g} LU, ≤ {spec.true_peak:g} dBTP)"

    def to_json(self) -> dict:
        return {"spec": self.spec.name, "loudness": self.spec.loudness, "tolerance": self.spec.tolerance,
                "true_peak": self.spec.true_peak, "meets": self.meets, "problems": list(self.problems),
                "verdict": self.line()}


DELIVERIES = {d.name: d for d in (
    Delivery("ebu-r128", "EBU R128 broadcast", -23.0, 0.5, -1.0, "EBU R 128 (2020), EBU Tech 3343"),
    Delivery("atsc-a85", "ATSC A/85 (US broadcast)", -24.0, 2.0, -2.0, "ATSC A/85:2013, CALM Act"),
    Delivery("netflix", "Netflix", -27.0, 2.0, -2.0, "Netflix Sound Mix Specifications (dialogue-gated)"),
    Delivery("arib", "ARIB TR-B32 (Japan broadcast)", -24.0, 1.0, -1.0, "ARIB TR-B32"),
    Delivery("podcast", "Podcasts (Apple, Spotify)", -16.0, 1.0, -1.0, "Apple Podcasts audio requirements"),
    Delivery("streaming", "Streaming video (YouTube)", -14.0, 1.0, -1.0, "YouTube / Spotify loudness reference"),
)}
DEFAULT_DELIVERY = "ebu-r128"


def menu_entries() -> list[list]:
    """[name, label, LUFS, dBTP] per spec: what the editor windows list (bridges/delivery_menu.py)."""
    return [[d.name, d.label, d.loudness, d.true_peak] for d in DELIVERIES.values()]


def delivery(name: str) -> Delivery:
    """The spec called `name` (case and `_` forgiven); InputError listing the names otherwise."""
    key = str(name).strip().lower().replace("_", "-").replace(" ", "-")
    if key not in DELIVERIES:
        raise InputError(f"unknown delivery {name!r}: accepted " + ", ".join(
            f"{d.name} ({d.loudness:g} LUFS, {d.true_peak:g} dBTP)" for d in DELIVERIES.values()))
    return DELIVERIES[key]


def spec_for(loudness: float | None, true_peak: float, name: str | None = None) -> Delivery | None:
    """The spec a run's levels are judged by: the named one; else the one these two numbers are (the
    defaults −23 / −1 are EBU R128); else the editor's own target, held to ±1 LU; None with loudness off."""
    if name:
        return delivery(name)
    if loudness is None or not math.isfinite(loudness):
        return None
    for spec in DELIVERIES.values():
        if spec.loudness == loudness and spec.true_peak == true_peak:
            return spec
    return Delivery("custom", "the target", float(loudness), 1.0, float(true_peak), "--loudness / --true-peak")
