"""IndexTTS voices are reference clips (zero-shot cloning): the audio files in the checkpoint's `voices/`
folder and in $TAKEFIT_INDEXTTS_VOICES, named by their stem, or any audio file given by its path."""
from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path

from ..backend import CLIP_SUFFIXES as AUDIO_SUFFIXES
from ..errors import InputError, UnknownVoiceError


@dataclass(frozen=True)
class ClipVoice:
    """A voice as listed: its name and the clip it clones (language and gender are the clip's, unknown)."""
    name: str
    path: str
    language: str = ""
    gender: str = ""
    kind: str = "reference_clip"

    def to_wire(self) -> dict:
        return {"name": self.name, "language": self.language, "gender": self.gender, "kind": self.kind,
                "path": self.path}


def voice_folders(model_dir: Path) -> list[Path]:
    folders = [model_dir / "voices"]
    if os.environ.get("TAKEFIT_INDEXTTS_VOICES"):
        folders.insert(0, Path(os.environ["TAKEFIT_INDEXTTS_VOICES"]).expanduser())
    return folders


def list_voices(model_dir: Path) -> list[ClipVoice]:
    seen: dict[str, ClipVoice] = {}
    for folder in voice_folders(model_dir):
        if folder.is_dir():
            for p in sorted(folder.iterdir()):
                if p.suffix.lower() in AUDIO_SUFFIXES and p.stem not in seen:
                    seen[p.stem] = ClipVoice(p.stem, str(p.resolve()))
    return list(seen.values())


def find_voice(name: str, model_dir: Path) -> ClipVoice:
    """A listed voice by name, or a clip by path; 'auto' is the first listed one."""
    voices = list_voices(model_dir)
    if name == "auto":
        if not voices:
            raise InputError(f"IndexTTS clones a reference clip: give the voice as an audio file's path, or put "
                             f"clips in {' or '.join(map(str, voice_folders(model_dir)))}")
        return voices[0]
    for v in voices:
        if v.name == name:
            return v
    p = Path(name).expanduser()
    if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file():
        return ClipVoice(p.stem, str(p.resolve()))
    close = difflib.get_close_matches(name, [v.name for v in voices], n=3)
    raise UnknownVoiceError(f"unknown IndexTTS voice {name!r}: not a listed clip and not an audio file "
                            f"({', '.join(AUDIO_SUFFIXES)})" + (f"; did you mean {', '.join(close)}?" if close else
                                                                 f"; listed: {', '.join(v.name for v in voices)}"
                                                                 if voices else ""))


__all__ = ["AUDIO_SUFFIXES", "ClipVoice", "find_voice", "list_voices", "voice_folders"]
