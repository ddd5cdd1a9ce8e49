"""The takes folder beside the output: `<timeline>_<cue>_<character>_t<take>.wav`.

A take file, once a timeline points at it, is never overwritten: a cue whose line changed gets the
next take number, so earlier versions of the timeline keep their audio. An unchanged cue keeps its
file. `.takefit-takes.json` in the folder remembers which content each file holds.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

MANIFEST = ".takefit-takes.json"


def safe_name(text: str, fallback: str) -> str:
    """A file-name part: letters (any script), digits, '-', '.'; the rest becomes '-'."""
    s = re.sub(r"[^\w.\-]+", "-", (text or "").strip(), flags=re.UNICODE).strip("-._")
    return s[:48] or fallback


class TakeFolder:
    def __init__(self, folder: Path, timeline_name: str):
        self.folder = Path(folder)
        self.prefix = safe_name(timeline_name, "timeline")
        self._entries: dict[str, dict] = {}
        try:
            self._entries = json.loads((self.folder / MANIFEST).read_text("utf-8")).get("takes", {})
        except (OSError, ValueError, AttributeError):
            self._entries = {}

    def create(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def path_for(self, cue_id: str, character: str, key: str) -> tuple[Path, int, bool]:
        """(path, take number, already written): the file holding this content for this cue, else the
        next take number for the cue."""
        for name, entry in self._entries.items():
            if entry.get("cue") == cue_id and entry.get("key") == key and (self.folder / name).is_file():
                return self.folder / name, int(entry.get("take", 1)), True
        number = self._last_take(cue_id) + 1
        char = safe_name(character, "default")
        return self.folder / f"{self.prefix}_{cue_id}_{char}_t{number}.wav", number, False

    def _last_take(self, cue_id: str) -> int:
        numbers = [int(e.get("take", 0)) for e in self._entries.values() if e.get("cue") == cue_id]
        pat = re.compile(rf"^{re.escape(self.prefix)}_{re.escape(cue_id)}_.*_t(\d+)\.wav$")
        if self.folder.is_dir():
            numbers += [int(m.group(1)) for p in self.folder.iterdir() if (m := pat.match(p.name))]
        return max(numbers, default=0)

    def record(self, path: Path, cue_id: str, key: str, take: int) -> None:
        self._entries[path.name] = {"cue": cue_id, "key": key, "take": take}

    def save(self) -> None:
        self.create()
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".takes.", suffix=".json.partial")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"takes": self._entries}, f, ensure_ascii=False, indent=1, sort_keys=True)
        os.replace(tmp, self.folder / MANIFEST)
