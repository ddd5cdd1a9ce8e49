"""What the voice picker says about a voice: a one-line note and upstream's grade (voice_notes.json),
and the short line its preview reads.

Built-in voices are described from upstream's published grades only (hexgrad/Kokoro-82M VOICES.md);
an enrolled voice is described from its profile: the reference it was learned from, when, and how
close the result came to it.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

from ..request import LANGUAGES

NOTES_FILE = Path(__file__).with_name("voice_notes.json")
PREVIEW_FALLBACK = "en"          # a language takefit's reader does not speak previews in English


@dataclass(frozen=True)
class VoiceNote:
    note: str                    # one line, never empty
    grade: str | None            # upstream's overall grade (A … F-); None when it published none

    def __post_init__(self):
        if not self.note.strip():
            raise ValueError("a voice note must say something")


@dataclass(frozen=True)
class Preview:
    """The line a voice reads when previewed, in a language takefit's reader speaks."""
    text: str
    language: str                # 'en' | 'zh'
    note: str = ""               # why it is not the voice's own language, when it is not

    def to_wire(self) -> dict:
        return asdict(self)


@cache
def _notes() -> dict:
    return json.loads(NOTES_FILE.read_text("utf-8"))


def builtin_note(name: str, accent: str, gender: str) -> VoiceNote:
    """The data file's note; a voice it does not list (a newer voice pack) still gets an honest line."""
    entry = _notes()["voices"].get(name)
    if entry is None:
        return VoiceNote(f"{accent} {gender}; no notes for this voice yet", None)
    return VoiceNote(entry["note"], entry.get("grade"))


def enrolled_note(profile) -> VoiceNote:
    """'enrolled from anna.wav, 2026-03-02, similarity 0.83 (d-vector); built on af_heart': what the
    profile records (older profiles do not record the reference's file name)."""
    source = getattr(profile, "reference_name", "") or ""
    bits = [f"enrolled from {source}" if source else "enrolled"]
    if profile.created:
        bits.append(profile.created[:10])
    enrolled = (profile.similarity or {}).get("enrolled", {})
    if "dvector" in enrolled:
        bits.append(f"similarity {enrolled['dvector']:.2f} (d-vector, to the reference)")
    return VoiceNote(", ".join(bits) + f"; built on {profile.base_voice}", None)


def preview_for(language: str, accent: str) -> Preview:
    """The preview line: in the voice's own language where takefit's reader speaks it (request.LANGUAGES)
    and the data file has a line for it, else English, saying why."""
    lines = _notes()["previews"]
    if language in LANGUAGES and language in lines:
        return Preview(lines[language], language)
    why = "takefit does not read it yet" if language not in LANGUAGES else "there is no preview line for it yet"
    return Preview(lines[PREVIEW_FALLBACK], PREVIEW_FALLBACK, f"an English line: {accent} — {why}")
