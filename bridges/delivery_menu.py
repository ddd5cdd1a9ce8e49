"""The "Deliver to" menu both editor windows show (Resolve's dub dialog, the Qt panel): the delivery
specs, the raw level, and the levels in use where they are none of those. Standard library only, as
Resolve's Python loads it; the specs come from engine.delivery_specs (through the launcher's config
there).
"""
from __future__ import annotations

RAW = ("Raw level (no loudness normalisation), true peak ≤ -1 dBTP", None, None, -1.0)


def choices(deliveries, loudness, true_peak: float, delivery: str | None = None) -> list:
    """(label, spec name, LUFS or None, dBTP) per entry, from `deliveries` = (name, label, LUFS, dBTP)
    rows; first the levels in use, "as set", where no entry is them (a hand-edited setting, a launcher
    older than the list, `--loudness -20` on the command line)."""
    menu = [(label, name, lufs, peak) for name, label, lufs, peak in deliveries] + [RAW]
    if chosen(menu, loudness, true_peak, delivery) is None:
        what = "loudness off" if loudness is None else "{:g} LUFS".format(loudness)
        menu.insert(0, ("As set: {}, true peak ≤ {:g} dBTP".format(what, true_peak), delivery, loudness, true_peak))
    return menu


def chosen(menu, loudness, true_peak: float, delivery: str | None = None):
    """The index of the entry holding these levels (the named spec's, where one is named), or None."""
    for i, (_, name, lufs, peak) in enumerate(menu):
        if (lufs, peak) == (loudness, true_peak) and (name == delivery or not delivery):
            return i
    return None
