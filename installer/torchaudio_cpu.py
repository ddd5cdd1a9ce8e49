"""Make PyPI's torchaudio import beside a CPU-only torch (run by `make setup`; does nothing elsewhere).

The IndexTTS backend (engine/indextts/) runs upstream's code, which imports torchaudio. On Linux, PyPI's
torchaudio wheel is built against CUDA torch: its native libraries link libc10_cuda.so, so beside the
CPU torch this project pins (torch==2.13.0+cpu) `import torchaudio` fails. torchaudio loads those
libraries only if they are there, and upstream uses only its pure-Python parts (Resample,
compliance.kaldi.fbank), so they are set aside (renamed *.so.cuda-build). Only when torch has no CUDA
and torchaudio does not import as installed; idempotent; a CUDA machine's install is left as it is.
"""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

CHECK = "import torchaudio, torchaudio.compliance.kaldi, torchaudio.transforms"
ASIDE = ".cuda-build"


def imports() -> tuple[bool, str]:
    """Whether torchaudio imports in a fresh interpreter (a failed import leaves half a module behind),
    and the error's chain (its cause, e.g. libc10_cuda.so missing, is above the last line)."""
    run = subprocess.run([sys.executable, "-c", CHECK], check=False, capture_output=True, text=True)
    errors = [line for line in run.stderr.splitlines() if "Error" in line]
    return run.returncode == 0, " ← ".join(reversed(errors))


def torch_has_cuda() -> bool:
    run = subprocess.run([sys.executable, "-c", "import torch, sys; sys.exit(0 if torch.version.cuda else 1)"],
                         check=False, capture_output=True)
    return run.returncode == 0


def main() -> int:
    if importlib.util.find_spec("torchaudio") is None or importlib.util.find_spec("torch") is None:
        return 0                                   # no IndexTTS extra here: nothing to do
    ok, error = imports()
    if ok:
        return 0
    if torch_has_cuda() or "cuda" not in error.lower():
        print(f"torchaudio does not import ({error}); reinstall torch and torchaudio as a matching pair",
              file=sys.stderr)
        return 1
    lib = Path(importlib.util.find_spec("torchaudio").submodule_search_locations[0]) / "lib"
    for so in sorted(lib.glob("*.so")):
        so.rename(so.with_name(so.name + ASIDE))
    ok, error = imports()
    if not ok:
        print(f"torchaudio still does not import with its CUDA libraries set aside: {error}", file=sys.stderr)
        return 1
    print("torchaudio: CUDA-built native libraries set aside beside the CPU torch (pure-Python parts in use)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
