"""The level options every rendering command takes: --delivery, --loudness and --true-peak.

`--delivery netflix` sets the loudness and the true-peak ceiling a spec asks for; `--loudness` and
`--true-peak` given beside it win (the dub report then judges the stem against the spec as named).
"""
from __future__ import annotations

import argparse

from takefit.engine.delivery_specs import DEFAULT_DELIVERY, DELIVERIES, delivery
from takefit.engine.errors import InputError
from takefit.engine.request import TRUE_PEAK_RANGE


def add_levels(p, what: str = "per take") -> None:
    """--delivery, --loudness and --true-peak on parser (or group) `p`; their defaults are None so that
    `levels` can tell a value given from one the delivery spec supplies."""
    p.add_argument("--delivery", type=parse_delivery, metavar="SPEC",
                   help=f"the loudness spec to deliver to: {', '.join(DELIVERIES)} (default {DEFAULT_DELIVERY}: "
                        f"-23 LUFS, -1 dBTP); sets --loudness and --true-peak")
    p.add_argument("--loudness", metavar="LUFS",
                   help=f"integrated LUFS {what}, or 'off' (default: the delivery's, -23)")
    p.add_argument("--true-peak", type=parse_true_peak, metavar="DBTP",
                   help="true-peak ceiling in dBTP (default: the delivery's; -1 for EBU R128, -2 for Netflix and "
                        "ATSC A/85)")


def levels(args) -> tuple[float | None, float]:
    """(loudness LUFS or None for off, true-peak ceiling dBTP) from the parsed options."""
    spec = args.delivery or DELIVERIES[DEFAULT_DELIVERY]
    loudness = spec.loudness if args.loudness is None else parse_loudness(args.loudness)
    return loudness, spec.true_peak if args.true_peak is None else args.true_peak


def level_options(args) -> dict:
    """loudness, true_peak and delivery (the spec's name where one was given) as DubOptions and
    WatchOptions take them."""
    loudness, ceiling = levels(args)
    return {"loudness": loudness, "true_peak": ceiling, "delivery": args.delivery.name if args.delivery else None}


def parse_delivery(value: str):
    """A spec from the command line, checked as the arguments are read (argparse exits 2 naming them)."""
    try:
        return delivery(value)
    except InputError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def parse_true_peak(value: str) -> float:
    """A ceiling from the command line, checked as the arguments are read (argparse names the option and
    exits 2), so a dub fails before its first cue renders."""
    try:
        ceiling = float(value)
    except ValueError:
        ceiling = float("nan")
    if not TRUE_PEAK_RANGE[0] <= ceiling <= TRUE_PEAK_RANGE[1]:
        raise argparse.ArgumentTypeError(f"a ceiling in dBTP from {TRUE_PEAK_RANGE[0]:g} to {TRUE_PEAK_RANGE[1]:g}, "
                                         f"e.g. -1 (EBU R128) or -2 (Netflix, ATSC A/85); got {value!r}")
    return ceiling


def parse_loudness(value: str) -> float | None:
    if str(value).lower() in ("off", "none", "raw"):
        return None
    try:
        return float(value)
    except ValueError:
        raise InputError(f"--loudness takes a LUFS value such as -23, or 'off'; got {value!r}") from None
