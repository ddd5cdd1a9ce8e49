"""Files takefit hands to people: written whole or not at all, with the permissions the user asked for.

Every output goes through a temporary file beside its final name, renamed over it when complete, so a
crash or a full disk never leaves half a take, stem or timeline under a final name. mkstemp creates
that file 0600; what people share (takes, stems, timelines, reports, cast files) gets the mode the
umask gives a new file (0644 under the usual 022, 0664 under 002 on shared storage), while private
data (voice profiles, the take cache) stays owner-only.
"""
from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path

from .errors import OutputError


def _read_umask() -> int:
    """The process's umask, without os.umask's set-and-restore where the kernel reports it (a thread
    creating a file in that instant would get the wrong mode)."""
    try:
        found = re.search(r"^Umask:\s*([0-7]+)", Path("/proc/self/status").read_text(), re.M)
        if found:
            return int(found.group(1), 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def shared_mode() -> int:
    """The mode a new file gets from open() under the current umask (0o666 & ~umask)."""
    return 0o666 & ~_read_umask()


def temp_beside(path: Path, suffix: str = ".partial") -> Path:
    """A new, empty, owner-only temporary file in `path`'s folder (a rename there is atomic)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix, dir=path.parent if str(path.parent) else ".")
    os.close(fd)
    return Path(tmp)


def publish(tmp: Path, path: Path, private: bool = False) -> Path:
    """Give the finished `tmp` its final mode and rename it over `path`."""
    os.chmod(tmp, 0o600 if private else shared_mode())
    os.replace(tmp, path)
    return path


def write_atomic(path: str | os.PathLike, data: str | bytes, private: bool = False) -> Path:
    """`data` (text is written as UTF-8 with \\n line ends) to `path`, whole or not at all."""
    p = Path(path)
    tmp = None
    try:
        tmp = temp_beside(p)
        with open(tmp, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        return publish(tmp, p, private)
    except OSError as e:
        raise OutputError(f"cannot write {p}: {e.strerror or e}") from None
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink(missing_ok=True)


def remove_others(path: Path, pattern: str) -> None:
    """Remove the files beside `path` that match `pattern`, other than `path`: the copies a cache entry
    just written replaces (its name carries what it was built from, so theirs differ)."""
    for other in path.parent.glob(pattern):
        if other != path:
            other.unlink(missing_ok=True)


def check_writable(path: str | Path) -> Path:
    """Fail before rendering if the output cannot be written."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise OutputError(f"output path {p} is a directory: give a file name, e.g. {p / 'take.wav'}")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"cannot write {p}: folder {parent} does not exist (create it or choose another -o)")
    if not os.access(parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise OutputError(f"cannot write {p}: permission denied (choose another -o)")
    if p.suffix.lower() not in (".wav", ".wave"):
        raise OutputError(f"output {p} must be a .wav file (takes are 24-bit WAV)")
    return p


def keep_aside(path: Path, sidecars: tuple[str, ...] = ("-journal", "-wal", "-shm")) -> Path:
    """Rename a file no one can read any more to <name>.damaged-<time> (with its SQLite side files), so a
    fresh one can start where it was and the old one is still there to look at or restore."""
    aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}")
    path.rename(aside)
    for suffix in sidecars:
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.rename(aside.with_name(aside.name + suffix))
    return aside
