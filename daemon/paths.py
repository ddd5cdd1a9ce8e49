"""Where the daemon keeps its things, and which paths a client may name.

Three platformdirs locations for "takefit" (all under one folder when TAKEFIT_DAEMON_HOME is set):

    runtime  daemon.lock, daemon.json (pid + endpoints), the ipc socket      per user and machine
    state    jobs.sqlite3 (the journal), daemon.log, keys/, takes/ (the default output root)
    cache    takes/ (the content-addressed take cache)
"""
from __future__ import annotations

import os
import re
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

import platformdirs

from takefit.engine.errors import OutputError

ENV_HOME = "TAKEFIT_DAEMON_HOME"
ENV_ENDPOINT = "TAKEFIT_DAEMON_ENDPOINT"
APP = "takefit"
IPC_PATH_MAX = 100          # sun_path is 104-108 bytes depending on the platform
OUTPUT_NAME_MAX = 255
COMPONENT_BYTES_MAX = 200   # a folder or file name; room for the writer's ".NAME.XXXXXXXX.wav.partial" (255)
RESERVED_FOLDER = "jobs"    # default-named outputs (jobs/<id>.wav): a client's name never lands there


class PathEscapeError(ValueError):
    """A client-supplied output name that is not a plain relative path inside the output root."""


@dataclass(frozen=True)
class Dirs:
    runtime: Path
    state: Path
    cache: Path

    @classmethod
    def resolve(cls, home: str | os.PathLike | None = None) -> "Dirs":
        """`home` (or $TAKEFIT_DAEMON_HOME) puts everything under one folder; else platformdirs."""
        home = home if home not in (None, "") else os.environ.get(ENV_HOME) or None
        if home:
            base = Path(home).expanduser().absolute()
            return cls(base / "run", base / "state", base / "cache")

        with warnings.catch_warnings():  # "XDG_RUNTIME_DIR is not set, falling back to /tmp/runtime-UID"
            warnings.simplefilter("ignore")
            runtime = Path(platformdirs.user_runtime_dir(APP))
        return cls(runtime, Path(platformdirs.user_state_dir(APP)), Path(platformdirs.user_cache_dir(APP)))

    # runtime
    @property
    def lock(self) -> Path:
        return self.runtime / "daemon.lock"

    @property
    def info(self) -> Path:
        return self.runtime / "daemon.json"

    @property
    def ipc(self) -> Path:
        return self.runtime / "daemon.sock"

    # state
    @property
    def journal(self) -> Path:
        return self.state / "jobs.sqlite3"

    @property
    def log(self) -> Path:
        return self.state / "daemon.log"

    @property
    def stderr_log(self) -> Path:
        return self.state / "daemon.stderr.log"

    @property
    def keys(self) -> Path:
        return self.state / "keys"

    @property
    def outputs(self) -> Path:
        return self.state / "takes"

    # cache
    @property
    def take_cache(self) -> Path:
        return self.cache / "takes"

    def ensure(self) -> "Dirs":
        for d in (self.runtime, self.state, self.cache):
            try:
                d.mkdir(parents=True, exist_ok=True)
            except OSError as e:                   # a file in the way, no permission, a read-only disk
                raise OutputError(f"cannot make the daemon's folder {d} ({e.strerror or e}): give a folder you can "
                                  f"write with --home or ${ENV_HOME}") from None
        # owner only: the runtime folder holds the ipc socket; the state folder the journal (every job's
        # text), the log and the default output root — another local user must read none of them
        for d in (self.runtime, self.state):
            try:
                os.chmod(d, 0o700)
            except OSError:
                pass
        return self

    def ipc_endpoint(self) -> str | None:
        """ipc://… on platforms that have it, when the socket path fits in sun_path."""
        import zmq

        if not zmq.has("ipc") or os.name == "nt":
            return None
        path = str(self.ipc)
        if len(path.encode()) > IPC_PATH_MAX:
            return None
        return f"ipc://{path}"


def check_private_root(root: Path) -> None:
    """Refuse an output root that every user may write into (or a folder above it): one of them could swap a
    folder inside it for a symlink between the containment check and the rename (safe_output checks twice,
    but a check and a rename are never one step)."""
    if os.name == "nt":
        return
    owner = root.stat().st_uid
    if owner != os.geteuid():
        raise PathEscapeError(f"the output root {root} belongs to another user (uid {owner}); use a folder of your own")
    for folder in (root, *root.parents):
        mode = folder.stat().st_mode
        if mode & 0o002 and not mode & 0o1000:       # /tmp's sticky bit keeps entries their owners'
            raise PathEscapeError(f"the output root {root} is inside {folder}, which other users may write (mode "
                                  f"{mode & 0o777:o}): one could redirect takes through a symlink. Use a "
                                  f"folder only you can write (chmod go-w {folder}), or the default")


_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f]")


def _check_characters(name: str) -> None:
    if _BAD_CHARS.search(name):
        raise PathEscapeError("output name contains control characters")
    odd = next((c for c in name if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")), None)
    if odd is not None:     # U+202E turns 'evil\u202ewav.exe' around on screen; U+0085 is a line break
        raise PathEscapeError(f"output name contains U+{ord(odd):04X} ({unicodedata.name(odd, 'a control')}): "
                              f"invisible or reordering characters are not allowed in file names")
    if ":" in name:
        raise PathEscapeError(f"output name {name!r} contains ':' (a drive or a data stream on Windows); "
                              f"use letters, digits, spaces, '-', '_', '.' and '/' for folders")


def _check_parts(name: str, parts: list[str], daemon_named: bool) -> None:
    if not parts or any(p == ".." for p in parts):
        raise PathEscapeError(f"output name {name!r} leaves the output root ('..' is not allowed)")
    long = next((p for p in parts if len(p.encode("utf-8")) > COMPONENT_BYTES_MAX), None)
    if long is not None:
        raise PathEscapeError(f"output name has a part of {len(long.encode('utf-8'))} bytes; at most "
                              f"{COMPONENT_BYTES_MAX} per folder or file name (UTF-8)")
    if not daemon_named and len(parts) > 1 and parts[0].casefold() == RESERVED_FOLDER:
        raise PathEscapeError(f"output name {name!r} is inside '{RESERVED_FOLDER}/', which holds the daemon's "
                              f"own default-named takes; choose another folder")
    if PurePosixPath(parts[-1]).suffix.lower() not in (".wav", ".wave"):
        raise PathEscapeError(f"output name {name!r} must end in .wav (takes are 24-bit WAV)")


def safe_output(root: str | os.PathLike, name: str, daemon_named: bool = False) -> Path:
    """The file `name` (a relative path like 'ep01/cue-017.wav') inside `root`, or PathEscapeError.

    Refused: absolute paths, drive letters and ':', '..' components, control, invisible and reordering
    characters, parts over 200 bytes, names inside the daemon's own `jobs/`, names that are not .wav,
    and anything that — after resolving symlinks already inside the root — lands outside it.
    `daemon_named`: the daemon's own default name (jobs/<id>.wav), the one name allowed inside jobs/.
    """
    if not isinstance(name, str) or not name.strip():
        raise PathEscapeError("output name is empty")
    if len(name) > OUTPUT_NAME_MAX:
        raise PathEscapeError(f"output name is {len(name)} characters; at most {OUTPUT_NAME_MAX}")
    win = PureWindowsPath(name)
    posix = PurePosixPath(name.replace("\\", "/"))
    if posix.is_absolute() or win.root or (win.drive and len(name) > 2 and name[2:3] in "\\/"):
        raise PathEscapeError(f"output name {name!r} is absolute; give a path relative to the output root")
    _check_characters(name)
    parts = [p for p in posix.parts if p not in ("", ".")]
    _check_parts(name, parts, daemon_named)
    root = Path(root)
    target = root.joinpath(*parts)
    real_root = root.resolve()
    resolved = target.resolve()
    if resolved != real_root and real_root not in resolved.parents:
        raise PathEscapeError(f"output name {name!r} resolves outside the output root (symlink?)")
    return target
