"""Enrolled voices (profiles): a style table plus what it takes to render and account for it.

A profile is one `.npz` file in the user's voice directory (`$TAKEFIT_VOICES_DIR`, else the platform's
user data dir /voices): the 510×256 style table (the built-in voice it started from, with the learned
timbre added to every row), the pitch ratio applied to the F0 curve at synthesis, the reference's
speaker embeddings on both encoders, the reference's sha256, the consent record, date, quality and
base voice; and, for voices enrolled since format 2, an optional decoder adaptation (offsets to the
decoder's AdaIN biases, engine/adaptation.py: the `adapt` vector and its layout in the metadata). It
renders on the int8 model (with those biases fed as inputs), so using a profile never needs torch. Format-1
files have no adaptation and render as they always did. Files are written atomically (temp file +
rename): a failed enrollment leaves nothing behind.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from platformdirs import user_data_dir

from .adaptation import Adaptation
from .errors import InputError, UnknownVoiceError
from .files import publish

ENV_DIR = "TAKEFIT_VOICES_DIR"
SUFFIX = ".voice.npz"
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,39}$")
FORMAT = 2                 # 2: optional decoder adaptation (1: style table only; still read)


def voices_dir() -> Path:
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR]).expanduser()

    return Path(user_data_dir("takefit")) / "voices"


def is_name(name) -> bool:
    return isinstance(name, str) and NAME_RE.match(name) is not None


def shown_name(name, limit: int = 60) -> str:
    """A name for an error message: quoted, and cut short (a 64-emoji 'name' must not flood the log)."""
    text = repr(name if isinstance(name, str) else str(name))
    return text if len(text) <= limit else text[:limit] + "…'"


def check_name(name: str, builtin: list[str] | tuple[str, ...] = ()) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InputError(f"voice name {name!r} is not usable: start with a letter, then up to 39 letters, digits, "
                         f"'-' or '_' (e.g. anna_narrator)")
    if name in builtin:
        raise InputError(f"{name!r} is a built-in voice; pick another name for the enrolled voice")
    return name


@dataclass
class Profile:
    name: str
    table: np.ndarray                       # (510, 256) float32
    pitch_ratio: float
    base_voice: str                         # the built-in voice the timbre started from
    language: str                           # 'en' | 'zh'
    quality: str                            # 'fast' | 'best' | 'preview'
    reference_sha256: str
    consent: str | None                     # who agreed, when; None only with an explicit opt-out
    created: str                            # ISO 8601 UTC
    embeddings: dict[str, list[float]] = field(default_factory=dict)     # reference: resemblyzer, dvector
    similarity: dict[str, dict[str, float]] = field(default_factory=dict)  # start_pitch/enrolled × encoder
    transcript: str = ""
    prosody_from: str | None = None
    notices: list[str] = field(default_factory=list)
    stats: dict[str, float] = field(default_factory=dict)               # steps, seconds, …
    reference_name: str = ""                # the reference clip's file name (older profiles: unknown)
    adapt: Adaptation | None = None         # decoder adaptation (format 2; None: the style table alone)

    def meta(self) -> dict:
        adapt = self.adapt
        d = asdict(dataclasses.replace(self, adapt=None, table=np.zeros(0)))
        d.pop("table")
        d.pop("adapt")
        if adapt is not None:
            d["adapt_layout"] = adapt.layout()
        d["format"] = FORMAT
        return d

    def summary(self) -> dict:
        """What `takefit voice show` and the daemon report (no arrays)."""
        d = self.meta()
        d.pop("embeddings")
        layout = d.pop("adapt_layout", None)
        d["adapted_layers"] = len(layout) if layout else 0
        return d


class ProfileStore:
    def __init__(self, directory: Path | None = None):
        self.directory = Path(directory) if directory else voices_dir()

    def path(self, name: str) -> Path:
        """The profile file of a voice *name* (never a path: `../x` or `/abs/x` would load any file)."""
        if not is_name(name):
            raise UnknownVoiceError(f"{shown_name(name)} is not a voice name: names are 1-40 letters, digits, '-' or "
                                    f"'_', starting with a letter (`takefit voices` lists them)")
        return self.directory / f"{name}{SUFFIX}"

    def names(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(p.name[: -len(SUFFIX)] for p in self.directory.glob(f"*{SUFFIX}") if not p.name.startswith("."))

    def exists(self, name: str) -> bool:
        return is_name(name) and self.path(name).is_file()

    def load(self, name: str) -> Profile:
        path = self.path(name)
        if not path.is_file():
            raise UnknownVoiceError(f"no enrolled voice named {name!r} in {self.directory}; "
                                    f"`takefit voice list` shows the enrolled voices")
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                table = np.asarray(z["table"], np.float32)
                layout = meta.pop("adapt_layout", None)
                adapt = Adaptation.unpack(layout, np.asarray(z["adapt"], np.float32)) if layout else None
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise InputError(f"the enrolled voice file {path} is damaged ({e}); remove it with "
                             f"`takefit voice remove {name}` and enroll again") from None
        if table.shape != (510, 256):
            raise InputError(f"the enrolled voice file {path} has a {table.shape} table, expected (510, 256)")
        meta.pop("format", None)
        return Profile(table=table, adapt=adapt, **meta)

    def save(self, profile: Profile, force: bool = False) -> Path:
        """Atomic: written to a temp file in the same directory, then renamed over the target."""
        if profile.table.shape != (510, 256) or not np.all(np.isfinite(profile.table)):
            raise InputError("refusing to save a profile whose style table is not a finite 510×256 array")
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.path(profile.name)
        if target.exists() and not force:
            raise InputError(f"an enrolled voice named {profile.name!r} already exists; use --force to replace it "
                             f"or pick another name")
        fd, tmp = tempfile.mkstemp(prefix=f".{profile.name}.", suffix=".partial", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as f:
                extra = {"adapt": profile.adapt.flat()} if profile.adapt is not None else {}
                np.savez(f, table=profile.table.astype(np.float32), meta=np.array(json.dumps(profile.meta())), **extra)
            publish(Path(tmp), target, private=True)      # a voice is a person's: owner only
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def remove(self, name: str) -> None:
        path = self.path(name)
        if not path.is_file():
            raise UnknownVoiceError(f"no enrolled voice named {name!r}; `takefit voice list` shows the enrolled voices")
        path.unlink()
