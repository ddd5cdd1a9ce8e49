"""Where the daemon keeps its things, and which paths a client may name.

Three platformdirs locations for "takefit" (all under one folder when TAKEFIT_DAEMON_HOME is set):

    runtime  daemon.lock, daemon.json (pid + endpoints), the ipc socket      per user and machine
    state    jobs.sqlite3 (the journal), daemon.log, keys/, takes/ (the default output root)
    cache    takes/ (the content-addressed take cache)
"""
from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

import platformdirs

ENV_HOME = "TAKEFIT_DAEMON_HOME"
ENV_ENDPOINT = "TAKEFIT_DAEMON_ENDPOINT"
APP = "takefit"
IPC_PATH_MAX = 100          # sun_path is 104-108 bytes depending on the platform
OUTPUT_NAME_MAX = 255


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
            d.mkdir(parents=True, exist_ok=True)
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


_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f]")


def safe_output(root: str | os.PathLike, name: str) -> Path:
    """The file `name` (a relative path like 'ep01/cue-017.wav') inside `root`, or PathEscapeError.

    Refused: absolute paths, drive letters, '..' components, control characters, names that are not
    .wav, and anything that — after resolving symlinks already inside the root — lands outside it.
    """
    if not isinstance(name, str) or not name.strip():
        raise PathEscapeError("output name is empty")
    if len(name) > OUTPUT_NAME_MAX:
        raise PathEscapeError(f"output name is {len(name)} characters; at most {OUTPUT_NAME_MAX}")
    if _BAD_CHARS.search(name):
        raise PathEscapeError("output name contains control characters")
    win = PureWindowsPath(name)
    posix = PurePosixPath(name.replace("\\", "/"))
    if posix.is_absolute() or win.is_absolute() or win.drive or win.root:
        raise PathEscapeError(f"output name {name!r} is absolute; give a path relative to the output root")
    parts = [p for p in posix.parts if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        raise PathEscapeError(f"output name {name!r} leaves the output root ('..' is not allowed)")
    if PurePosixPath(parts[-1]).suffix.lower() not in (".wav", ".wave"):
        raise PathEscapeError(f"output name {name!r} must end in .wav (takes are 24-bit WAV)")
    root = Path(root)
    target = root.joinpath(*parts)
    real_root = root.resolve()
    resolved = target.resolve()
    if resolved != real_root and real_root not in resolved.parents:
        raise PathEscapeError(f"output name {name!r} resolves outside the output root (symlink?)")
    return target
