"""Results appended per item to a `.partial` JSON-lines file (first line: the run's configuration), so a
run killed on a shared machine can go on with --resume instead of starting again."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Hashable


def resume(partial: Path | None, config: dict, key: Callable[[dict], Hashable], enabled: bool = True) -> dict:
    """The records already measured under the same configuration (empty when not resuming), and
    the partial file restarted with the configuration and those records."""
    done: dict = {}
    if enabled and partial is not None and partial.is_file():
        lines = partial.read_text("utf-8").splitlines()
        if not lines or json.loads(lines[0]) != json.loads(json.dumps(config)):
            raise SystemExit(f"--resume: {partial} was written with other settings; run without --resume")
        for line in lines[1:]:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:      # a line cut short by the kill
                continue
            done[key(rec)] = rec
    if partial is not None:
        partial.parent.mkdir(parents=True, exist_ok=True)
        with open(partial, "w", encoding="utf-8") as f:
            f.write(json.dumps(config, ensure_ascii=False) + "\n")
            for rec in done.values():
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return done
