"""CurveZMQ keys for remote access (zmq.auth certificate files).

    <state>/keys/server.key, server.key_secret     the daemon's keypair (`takefit daemon keys init`)
    <state>/keys/authorized/<name>.key            public keys allowed to connect to a --remote-bind endpoint
    <state>/keys/clients/<name>.key[_secret]       client keypairs made here, to copy to the client machine

The daemon checks authorized/ at every CurveZMQ handshake (re-reading it when it changed):
authorising or revoking takes effect for the next connection, without a restart.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import threading
from pathlib import Path

from takefit.engine.errors import InputError

from .paths import Dirs

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
_Z85 = re.compile(r"[0-9A-Za-z.\-:+=^!/*?&<>()\[\]{}@%$#]{40}")


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name or ""):
        raise InputError(f"key name {name!r}: use letters, digits, '.', '_' or '-' (at most 64)")
    return name


def authorized_dir(dirs: Dirs) -> Path:
    return dirs.keys / "authorized"


def server_files(dirs: Dirs) -> tuple[Path, Path]:
    return dirs.keys / "server.key", dirs.keys / "server.key_secret"


def _private(path: Path) -> None:
    try:
        os.chmod(path, 0o600)
    except OSError:
        pass


def init_server(dirs: Dirs, force: bool = False) -> Path:
    """Create the daemon's keypair (kept if it exists unless `force`); returns the public key file."""
    import zmq.auth

    pub, sec = server_files(dirs)
    if pub.exists() and sec.exists() and not force:
        return pub
    dirs.keys.mkdir(parents=True, exist_ok=True)
    authorized_dir(dirs).mkdir(parents=True, exist_ok=True)
    os.chmod(dirs.keys, 0o700)
    p, s = zmq.auth.create_certificates(str(dirs.keys), "server")
    _private(Path(s))
    return Path(p)


def load_server(dirs: Dirs) -> tuple[bytes, bytes] | None:
    import zmq.auth

    pub, sec = server_files(dirs)
    if not sec.exists():
        return None
    public, secret = zmq.auth.load_certificate(str(sec))
    if not secret:
        return None
    return public, secret


def new_client(dirs: Dirs, name: str) -> tuple[Path, Path]:
    """Make a client keypair under keys/clients/ and authorise it; returns (public, secret) files."""
    import zmq.auth

    _check_name(name)
    d = dirs.keys / "clients"
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(dirs.keys, 0o700)
    p, s = zmq.auth.create_certificates(str(d), name)
    _private(Path(s))
    authorize(dirs, name, Path(p))
    return Path(p), Path(s)


def read_public(value: str | Path) -> bytes:
    """A public key from a certificate file or a 40-character Z85 string."""
    import zmq.auth

    s = str(value)
    if _Z85.fullmatch(s) and not Path(s).exists():
        return s.encode()
    try:
        public, _ = zmq.auth.load_certificate(s)
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read a public key from {s!r}: {e}") from None
    return public


def read_secret(path: str | Path) -> tuple[bytes, bytes]:
    import zmq.auth

    try:
        public, secret = zmq.auth.load_certificate(str(path))
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read a key pair from {path}: {e}") from None
    if not secret:
        raise InputError(f"{path} has no secret key (give the .key_secret file)")
    return public, secret


def authorize(dirs: Dirs, name: str, public: str | Path | bytes) -> Path:
    _check_name(name)
    d = authorized_dir(dirs)
    d.mkdir(parents=True, exist_ok=True)
    key = public if isinstance(public, bytes) else read_public(public)
    dest = d / f"{name}.key"
    tmp = d / f".{name}.key.partial"
    tmp.write_text("#   ZeroMQ CURVE Public Certificate (takefit authorised client)\n"
                   "metadata\ncurve\n"
                   f'    public-key = "{key.decode()}"\n', "utf-8")
    os.replace(tmp, dest)
    return dest


def revoke(dirs: Dirs, name: str) -> bool:
    _check_name(name)
    p = authorized_dir(dirs) / f"{name}.key"
    if p.exists():
        p.unlink()
        return True
    return False


def list_authorized(dirs: Dirs) -> list[tuple[str, str]]:
    out = []
    for p in sorted(authorized_dir(dirs).glob("*.key")):
        try:
            out.append((p.stem, read_public(p).decode()))
        except InputError:
            continue
    return out


def export_client(dirs: Dirs, name: str, dest: Path) -> list[Path]:
    """Copy a client's keypair and the server's public key into `dest` (to carry to the client machine)."""
    dest.mkdir(parents=True, exist_ok=True)
    src = dirs.keys / "clients"
    out = []
    for f in (src / f"{name}.key", src / f"{name}.key_secret", server_files(dirs)[0]):
        if f.exists():
            shutil.copy2(f, dest / f.name)
            out.append(dest / f.name)
    return out


class AuthorizedKeys:
    """zmq.auth credentials provider: is this client's public key in authorized/ right now?"""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self._stamp = None
        self._keys: set[bytes] = set()
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        import zmq.auth

        try:
            files = sorted(self.directory.glob("*.key"))
            stamp = (self.directory.stat().st_mtime_ns, tuple((p.name, p.stat().st_mtime_ns) for p in files))
        except OSError:
            stamp, files = None, []
        if stamp == self._stamp:
            return
        found = set()
        for p in files:
            try:
                public, _ = zmq.auth.load_certificate(str(p))
                found.add(public)
            except (OSError, ValueError):
                continue
        self._keys, self._stamp = found, stamp

    def callback(self, domain: str, key: bytes) -> bool:
        with self._lock:
            self._refresh()
            allowed = key in self._keys

        logging.getLogger("takefit.daemon.auth").log(logging.DEBUG if allowed else logging.WARNING,
                                                     "CurveZMQ client %s: %s", key.decode(errors="replace"),
                                                     "allowed" if allowed else "refused (key not authorised)")
        return allowed
