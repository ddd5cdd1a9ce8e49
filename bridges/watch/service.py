"""A watcher as a per-user service: one systemd user unit (Linux) or launchd agent (macOS) per watch
folder, named after it, so several folders can each have one. The files are written by
takefit.installer.service; this module only says what the watcher's service is.

    spec = watch_service(Path("/jobs/ep1"), ["--cast", "/jobs/cast.toml"])
    path = installer.service.install(spec)
"""
from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

from takefit.installer.service import ServiceSpec


def slug(folder: Path) -> str:
    """A stable, file-name-safe id for a watch folder: its name plus a hash of its absolute path."""
    folder = Path(folder).expanduser().absolute()
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", folder.name).strip("-.") or "folder"
    return f"{name[:40]}-{hashlib.sha1(str(folder).encode()).hexdigest()[:8]}"


def watch_argv(folder: Path, extra: list[str] | None = None, python: str | None = None) -> list[str]:
    return [python or sys.executable, "-m", "takefit.bridges.cli", "watch",
            str(Path(folder).expanduser().absolute()), *(extra or [])]


def watch_service(folder: Path, extra: list[str] | None = None, python: str | None = None) -> ServiceSpec:
    folder = Path(folder).expanduser().absolute()
    return ServiceSpec(
        f"takefit-watch-{slug(folder)}", f"org.takefit.watch.{slug(folder)}", f"takefit watch folder {folder}",
        tuple(watch_argv(folder, extra, python)),
        # ordering only: the watcher uses the daemon when it runs, and the engine in-process otherwise
        after="default.target takefit-daemon.service", restart_seconds=5, stop_seconds=60,
        stop_note="SIGTERM: the job in progress stops after its current cue and resumes on the next start",
        log_path=str(folder / ".takefit-watch" / "service.log"))
