"""The built-in voices: 510×256 style tables (first 128 timbre for the decoder, last 128 prosody)."""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UnknownVoiceError

_LANG = {"a": ("en", "American English"), "b": ("en", "British English"), "e": ("es", "Spanish"),
         "f": ("fr", "French"), "h": ("hi", "Hindi"), "i": ("it", "Italian"), "j": ("ja", "Japanese"),
         "p": ("pt", "Brazilian Portuguese"), "z": ("zh", "Mandarin Chinese")}
DEFAULT_VOICE = {"en": "af_heart", "zh": "zf_xiaoxiao"}


@dataclass(frozen=True)
class VoiceInfo:
    name: str
    language: str        # 'en', 'zh', ...
    accent: str          # 'American English', 'Mandarin Chinese', ...
    gender: str          # 'female' | 'male'


def describe(name: str) -> VoiceInfo:
    lang, accent = _LANG.get(name[:1], ("?", "unknown"))
    return VoiceInfo(name, lang, accent, "female" if name[1:2] == "f" else "male")


class VoiceBank:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.names = sorted(p.stem for p in self.directory.glob("*.bin"))
        self._tables: dict[str, np.ndarray] = {}

    def info(self) -> list[VoiceInfo]:
        return [describe(n) for n in self.names]

    def check(self, name: str) -> str:
        if name in self.names:
            return name
        close = difflib.get_close_matches(name, self.names, n=4, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UnknownVoiceError(f"unknown voice {name!r}.{hint} `takefit voices` lists all {len(self.names)}.")

    def table(self, name: str) -> np.ndarray:
        name = self.check(name)
        if name not in self._tables:
            self._tables[name] = np.fromfile(self.directory / f"{name}.bin", dtype=np.float32).reshape(510, 256)
        return self._tables[name]
