"""What a line's emotion is asked to be, in one of five forms (IndexTTS2's, plus presets):

    preset      Emotion("angry", 0.7)                    a named emotion at an intensity 0-1
    vector      Emotion(vector=(0, .8, 0, 0, 0, 0, .1, .1))   8 weights, blended
    text        Emotion(text="愤怒地质问，语气急促")        a description, mapped by the text model
    reference   Emotion(reference="/abs/angry.wav")      a clip whose delivery is measured and transferred
    from_line   Emotion(from_line=True)                  the emotion the spoken line itself suggests

`alpha` (IndexTTS2's emo_alpha, 0-1) scales any form. The wire form (daemon protocol, reports, the
take cache key) is `to_json()` / `from_json()`; the string form (cue tags, cast files) is `parse()`.
"""
from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from . import presets
from .vector import (DIM, EMOTIONS, NEUTRAL, Vector, check_alpha, check_intensity, check_vector, normalized,
                     scaled)

MAX_TEXT_CHARS = 500
MAX_REFERENCE_BYTES = 200_000_000   # a minute of 96 kHz 32-bit stereo is 46 MB; only the first minute is read
KINDS = ("preset", "vector", "text", "reference", "from_line")
WIRE_KEYS = ("preset", "intensity", "vector", "text", "reference", "from_line", "alpha")
WIRE_HELP = ('{"preset": "angry", "intensity": 0.7} | {"vector": [8 numbers 0-1], "alpha": a} | '
             '{"text": "...", "alpha": a} | {"reference": "/abs/path.wav", "alpha": a} | '
             '{"from_line": true, "alpha": a}')
FROM_LINE_WORDS = ("from_line", "from-line", "from line", "line", "自动")
_NUMBER = re.compile(r"^(?P<v>\d+(?:\.\d+)?|\.\d+)\s*(?P<pct>%?)$")


@dataclass(frozen=True)
class Emotion:
    preset: str | None = None
    intensity: float = 1.0
    vector: Vector | None = None
    text: str | None = None
    reference: str | None = None
    from_line: bool = False
    alpha: float = 1.0

    def __post_init__(self):
        given = [k for k, v in (("preset", self.preset), ("vector", self.vector), ("text", self.text),
                                ("reference", self.reference), ("from_line", self.from_line or None))
                 if v is not None]
        if len(given) != 1:
            raise InputError(f"an emotion needs exactly one of {', '.join(KINDS)}"
                             + (f" (got {', '.join(given)})" if given else ""))
        if self.preset is not None:
            object.__setattr__(self, "preset", presets.resolve(self.preset))
        object.__setattr__(self, "intensity", check_intensity(self.intensity))
        object.__setattr__(self, "alpha", check_alpha(self.alpha))
        if self.vector is not None:
            object.__setattr__(self, "vector", check_vector(self.vector))
        if self.text is not None:
            t = str(self.text).strip()
            if not t:
                raise InputError("emotion text is empty: describe the emotion, e.g. \"angrily, fast\" or \"愤怒地质问\"")
            if len(t) > MAX_TEXT_CHARS:
                raise InputError(f"emotion text is {len(t)} characters; at most {MAX_TEXT_CHARS}")
            object.__setattr__(self, "text", t)
        if self.reference is not None and not str(self.reference).strip():
            raise InputError("emotion reference is empty: give the path of a WAV clip")

    # ------------------------------------------------------------------ views
    @property
    def kind(self) -> str:
        return ("preset" if self.preset is not None else "vector" if self.vector is not None else
                "text" if self.text is not None else "reference" if self.reference is not None else "from_line")

    def fixed_vector(self) -> Vector | None:
        """The effective 8-vector for presets and vectors (alpha and intensity applied); None for the
        forms that need a model or a clip to resolve (text, reference, from_line)."""
        if self.preset is not None:
            return scaled(presets.preset_vector(self.preset, self.intensity), self.alpha)
        if self.vector is not None:
            return scaled(normalized(self.vector), self.alpha)
        return None

    def __str__(self) -> str:
        a = f" alpha {self.alpha:g}" if self.alpha != 1.0 else ""
        if self.preset is not None:
            return f"{self.preset} {self.intensity:g}" + a
        if self.vector is not None:
            return "[" + ", ".join(f"{v:g}" for v in self.vector) + "]" + a
        if self.text is not None:
            return f"text {self.text!r}" + a
        if self.reference is not None:
            return f"reference {self.reference}" + a
        return "from the line" + a

    # ------------------------------------------------------------------ wire form
    def to_json(self) -> dict:
        if self.preset is not None:
            doc = {"preset": self.preset, "intensity": self.intensity}
            if self.alpha != 1.0:
                doc["alpha"] = self.alpha
            return doc
        if self.vector is not None:
            doc = {"vector": list(self.vector)}
        elif self.text is not None:
            doc = {"text": self.text}
        elif self.reference is not None:
            doc = {"reference": str(self.reference)}
        else:
            doc = {"from_line": True}
        doc["alpha"] = self.alpha
        return doc

    @classmethod
    def from_json(cls, doc) -> "Emotion":
        if isinstance(doc, Emotion):
            return doc
        if isinstance(doc, str):
            return cls.parse(doc)
        if not isinstance(doc, dict):
            raise InputError(f"emotion must be a map, one of: {WIRE_HELP}")
        bad = [k for k in doc if k not in WIRE_KEYS]
        if bad:
            raise InputError(f"emotion has unknown field(s) {', '.join(map(repr, bad))}: accepted {WIRE_HELP}")
        kinds = [k for k in KINDS if doc.get(k) not in (None, False)]
        if len(kinds) != 1:
            raise InputError("emotion needs exactly one of preset, vector, text, reference, from_line"
                             + (f" (got {', '.join(kinds)})" if kinds else "") + f": {WIRE_HELP}")
        if "intensity" in doc and kinds[0] != "preset":
            raise InputError("emotion intensity goes with a preset; scale the other forms with alpha")
        if "from_line" in doc and doc["from_line"] is not True and kinds[0] == "from_line":
            raise InputError("emotion from_line must be true")
        for k in ("preset", "text", "reference"):
            if k in doc and doc[k] is not None and not isinstance(doc[k], str):
                raise InputError(f"emotion {k} must be a string")
        return cls(preset=doc.get("preset"), intensity=doc.get("intensity", 1.0), vector=doc.get("vector"),
                   text=doc.get("text"), reference=doc.get("reference"), from_line=bool(doc.get("from_line")),
                   alpha=doc.get("alpha", 1.0))

    def cache_doc(self) -> dict:
        """The wire form plus, for a reference clip, its file identity (an edited clip is a new take)."""
        doc = self.to_json()
        if self.reference is not None:
            doc["reference_file"] = reference_identity(self.reference)
        return doc

    # ------------------------------------------------------------------ string form (tags, cast files)
    @classmethod
    def parse(cls, text: str, alpha: float = 1.0) -> "Emotion":
        """'angry 0.7', 'angry 70%', 'angry:0.7', '生气', 'neutral', '[0, .8, 0, 0, 0, 0, .1, .1]',
        '0,0.8,0,0,0,0,0.1,0.1', 'from_line' → an Emotion."""
        s = str(text).strip()
        if s.lower() in FROM_LINE_WORDS:
            return cls(from_line=True, alpha=alpha)
        if s[:1] in "[(" or "," in s:
            body = s.strip("[]() ")
            parts = [p for p in re.split(r"[,\s]+", body) if p]
            try:
                values = [float(p) for p in parts]
            except ValueError:
                raise InputError(f"emotion vector {s!r}: give {DIM} numbers 0-1 separated by commas, in the "
                                 f"order [{', '.join(EMOTIONS)}]") from None
            return cls(vector=values, alpha=alpha)
        parts = re.split(r"[\s:]+", s, maxsplit=1)
        preset = presets.resolve(parts[0])
        intensity = 1.0
        if len(parts) > 1 and parts[1].strip():
            intensity = parse_intensity(parts[1], preset)
        return cls(preset, intensity, alpha=alpha)


def parse_intensity(text: str, preset: str = "") -> float:
    m = _NUMBER.match(str(text).strip())
    if not m:
        raise InputError(f"bad emotion intensity {text!r}{' for ' + preset if preset else ''}: "
                         f"give a number from 0 to 1 (0.7) or a percentage (70%)")
    v = float(m.group("v")) / (100 if m.group("pct") else 1)
    if not 0 <= v <= 1:
        raise InputError(f"emotion intensity {str(text).strip()} out of range: 0 to 1 (or 0% to 100%)")
    return round(v, 4)


def reference_identity(path) -> list[int]:
    """What identifies a reference clip in a take's cache key: [size, mtime_ns, inode] of a regular file
    (an edited or replaced clip is a new take). Metadata only: the daemon's loop admits requests with
    this, and reading the clip there would let a FIFO or /dev/zero freeze every client."""
    st = reference_stat(path)
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def reference_stat(path) -> os.stat_result:
    """The clip's stat, or a clear InputError: it must be a regular file (not a FIFO, device or folder)
    of at most MAX_REFERENCE_BYTES."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise InputError(f"emotion reference clip {p} not found") from None
    except OSError as e:
        raise InputError(f"cannot read emotion reference clip {p}: {e.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"emotion reference clip {p} is not a regular file (a pipe, device or folder); "
                         f"give a WAV, FLAC or OGG file")
    if st.st_size > MAX_REFERENCE_BYTES:
        raise InputError(f"emotion reference clip {p} is {st.st_size / 1e6:.0f} MB; give a clip under "
                         f"{MAX_REFERENCE_BYTES // 1_000_000} MB (its first minute is what is used)")
    return st


__all__ = ["Emotion", "parse_intensity", "reference_identity", "reference_stat", "KINDS", "WIRE_HELP", "NEUTRAL"]
