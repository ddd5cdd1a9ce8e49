"""The built-in voices: 510×256 style tables (first 128 timbre for the decoder, last 128 prosody)."""
from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import UnknownVoiceError
from ..profiles import ProfileStore, shown_name
from .notes import builtin_note, enrolled_note, preview_for

_LANG = {"a": ("en", "American English"), "b": ("en", "British English"), "e": ("es", "Spanish"),
         "f": ("fr", "French"), "h": ("hi", "Hindi"), "i": ("it", "Italian"), "j": ("ja", "Japanese"),
         "p": ("pt", "Brazilian Portuguese"), "z": ("zh", "Mandarin Chinese")}
DEFAULT_VOICE = {"en": "af_heart", "zh": "zf_xiaoxiao", "ja": "jf_alpha", "es": "ef_dora", "fr": "ff_siwis",
                 "it": "if_sara", "pt": "pf_dora", "hi": "hf_alpha"}   # per language: the voice `auto` picks


@dataclass(frozen=True)
class VoiceInfo:
    name: str
    language: str        # 'en', 'zh', ...
    accent: str          # 'American English', 'Mandarin Chinese', ...
    gender: str          # 'female' | 'male'
    note: str = ""       # one line for the voice picker (notes.py)
    grade: str | None = None   # upstream's overall grade; None for ungraded and enrolled voices
    kind: str = "builtin"      # 'builtin' | 'enrolled'

    def __post_init__(self):
        if self.kind not in ("builtin", "enrolled"):
            raise ValueError(f"voice kind {self.kind!r}: accepted 'builtin' or 'enrolled'")

    def to_wire(self) -> dict:
        """The `voices` op's entry (docs/protocol.md), with the line its preview reads."""
        return {**asdict(self), "preview": preview_for(self.language, self.accent).to_wire()}


def describe(name: str) -> VoiceInfo:
    lang, accent = _LANG.get(name[:1], ("?", "unknown"))
    gender = "female" if name[1:2] == "f" else "male"
    note = builtin_note(name, accent, gender)
    default = f"; takefit's default for {accent.split()[-1]} lines" if DEFAULT_VOICE.get(lang) == name else ""
    return VoiceInfo(name, lang, accent, gender, note.note + default, note.grade)


class VoiceBank:
    """Built-in voices (`names`) and, resolved by the same calls, enrolled voices (engine/profiles.py)."""

    def __init__(self, directory: Path, profiles=None):
        self.directory = Path(directory)
        self.names = sorted(p.stem for p in self.directory.glob("*.bin"))
        self.profiles = profiles if profiles is not None else ProfileStore()
        self._tables: dict[str, np.ndarray] = {}
        self._enrolled: dict[str, tuple[float, object]] = {}      # name → (file mtime, Profile)

    def info(self) -> list[VoiceInfo]:
        return [describe(n) for n in self.names]

    def enrolled_info(self) -> list[VoiceInfo]:
        out = []
        for n, p in self.loadable_profiles():
            note = enrolled_note(p)
            out.append(VoiceInfo(n, p.language, f"enrolled (from {p.base_voice})", describe(p.base_voice).gender,
                                 note.note, note.grade, kind="enrolled"))
        return out

    def loadable_profiles(self):
        """(name, profile) of each enrolled voice whose file loads: a damaged file is reported by
        `takefit voice show`, never listed or rendered."""
        for n in self.profiles.names():
            try:
                p = self.profile(n)
            except Exception:
                continue
            yield n, p

    def check(self, name: str) -> str:
        if name in self.names or (isinstance(name, str) and name and self.profiles.exists(name)):
            return name
        known = self.names + self.profiles.names()
        close = difflib.get_close_matches(name, known, n=4, cutoff=0.5) if isinstance(name, str) and \
            len(name) <= 64 else []
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UnknownVoiceError(f"unknown voice {shown_name(name)}.{hint} `takefit voices` lists all {len(self.names)} built-in "
                                f"voices, `takefit voice list` the enrolled ones.")

    # ---- enrolled voices: reloaded when their file changes (re-enrollment with --force)
    def profile(self, name: str):
        mtime = self.profiles.path(name).stat().st_mtime if self.profiles.exists(name) else -1.0   # path(): names only
        cached = self._enrolled.get(name)
        if cached is None or cached[0] != mtime:
            self._enrolled[name] = (mtime, self.profiles.load(name))
        return self._enrolled[name][1]

    def is_enrolled(self, name: str) -> bool:
        return name not in self.names and self.profiles.exists(name)

    def base(self, name: str) -> str:
        """The built-in voice a name stands on (itself for built-ins): language, accent, British reading."""
        return self.profile(name).base_voice if self.is_enrolled(name) else name

    def pitch_ratio(self, name: str) -> float:
        return float(self.profile(name).pitch_ratio) if self.is_enrolled(name) else 1.0

    def adapt(self, name: str):
        """An enrolled voice's decoder adaptation (engine/adaptation.py), None for the rest."""
        return self.profile(name).adapt if self.is_enrolled(name) else None

    def table(self, name: str) -> np.ndarray:
        name = self.check(name)
        if name not in self.names:
            return self.profile(name).table
        if name not in self._tables:
            self._tables[name] = np.fromfile(self.directory / f"{name}.bin", dtype=np.float32).reshape(510, 256)
        return self._tables[name]
