"""takefit's own onnxruntime kernels, compiled on this machine at fetch time (kernels/snake.c).

Kokoro's generator applies the Snake activation x + sin²(αx)/α 48 times; as graph ops it is Mul, Sin,
Pow, Mul, Add: five passes over every tensor, and onnxruntime's Sin is not vectorised (9.5 ns an
element on a 2-core Xeon, the fused kernel 0.68 ns). With the kernels built, each Snake becomes one
`takefit.Snake` node (snake.py); on the VNNI decoder, with the AdaIN before it and the quantised im2col
after it, one `takefit.NormSnakeColumns` node reading time-major streams (time_major.py): the VNNI
decoder at 0.47× its time with the graph's Snakes (bench/results/native_kernels.md).

Building needs a C compiler (`cc`, or $CC) and onnxruntime's C API header. No PyPI wheel ships that
header; Debian's libonnxruntime-dev does: its .deb comes from Debian's archive (sources.json, sha256
pinned) and only the header is kept. Before first use the library must match the graph's own Snake
(`check`, in a child process: a kernel that crashes cannot take `assets fetch` with it). Without a
compiler, the header or a passed check, the decoder keeps its graph Snakes (the same takes within
float rounding) and `takefit assets fetch` says why. $TAKEFIT_NATIVE=off keeps them even when built.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path

from platformdirs import user_cache_dir

from ..errors import InputError

ENV = "TAKEFIT_NATIVE"              # auto (default): the kernel where it is built | off
LIBRARY = "libtakefit_kernels.so"
STAMP = "kernels.json"              # what the library was built from and that it passed its check
MAX_ERROR = 1e-4                    # the kernel against onnxruntime's five nodes; measured 3.8e-6
FUSION = 4      # snake.py's rewrite: 1 Snakes, 2 SnakeColumns, 3 NormSnakeColumns, 4 time-major streams (a new
                # one writes a new cached graph and gives the takes new keys)
DOWNLOAD_TIMEOUT = 60


def wanted() -> bool:
    value = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if value not in ("auto", "off"):
        raise InputError(f"{ENV}={value!r} is not a setting; use auto (takefit's compiled Snake kernel where "
                         f"`takefit assets fetch` built it) or off (the decoder's graph Snakes)")
    return value == "auto"


def source() -> bytes:
    return resources.files("takefit.engine.kokoro").joinpath("kernels", "snake.c").read_bytes()


@lru_cache(maxsize=1)
def source_digest() -> str:
    return hashlib.sha256(source()).hexdigest()


def spec() -> dict:
    return json.loads(resources.files("takefit.engine.kokoro").joinpath("sources.json").read_text("utf-8"))["kernels"]


def kernels_dir() -> Path:
    """One build per machine, shared by every checkpoint folder: it depends on the CPU and the compiler,
    not on the model (the user's cache, beside onnxruntime's optimised graphs)."""
    return Path(user_cache_dir("takefit")) / "kernels"


def _stamp_of(lib: Path) -> dict:
    st = lib.stat()
    return {"source_sha256": source_digest(), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def built(folder: Path | None = None) -> Path | None:
    """The library in `folder` (default kernels_dir()), if it is the build of today's source that passed
    its check, for an onnxruntime whose C API has the header's version."""
    folder = Path(folder) if folder else kernels_dir()
    lib = folder / LIBRARY
    try:
        stamp = json.loads((folder / STAMP).read_text("utf-8"))
        if stamp.get("file") != _stamp_of(lib) or not stamp.get("checked"):
            return None
    except (OSError, ValueError, AttributeError):
        return None
    return lib if _onnxruntime_has_api() else None


def library() -> Path | None:
    """The kernel library the decoder registers: built, checked and not turned off. Decided once per
    process (for a setting, folder and source): the decoders this process loads and its takes' cache
    keys (snake_form) name the same kernels even when another process rebuilds them meanwhile — a
    daemon started before `takefit assets fetch` keeps its graph Snakes, and its keys say so, until
    it restarts."""
    return _decided(wanted(), kernels_dir(), source_digest())


@lru_cache(maxsize=None)
def _decided(on: bool, folder: Path, digest: str) -> Path | None:
    return built(folder) if on else None


def stale(folder: Path | None = None) -> bool:
    """A library is there but not the checked build of this takefit's source (an upgrade): `takefit assets
    fetch` rebuilds it; until then the decoder runs its graph Snakes."""
    folder = Path(folder) if folder else kernels_dir()
    return wanted() and _onnxruntime_has_api() and (folder / LIBRARY).is_file() and built(folder) is None


def snake_form() -> str:
    """'graph' where the decoder runs its graph Snakes, else which compiled kernels it runs ('native/<the
    rewrite>/<the source's digest>'): part of a take's identity (cache keys, a cluster's workers), as each
    one's float rounding differs."""
    return f"native/{FUSION}/{source_digest()[:12]}" if library() else "graph"


@lru_cache(maxsize=1)
def _onnxruntime_has_api() -> bool:
    try:
        have = tuple(int(x) for x in metadata.version("onnxruntime").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        return False
    return have >= tuple(int(x) for x in spec()["min_onnxruntime"].split("."))


def build(folder: Path | None = None, log=print) -> Path | None:
    """Build and check the library in `folder` (default kernels_dir()) unless it is there; None (and why,
    in `log`) if not."""
    folder = Path(folder) if folder else kernels_dir()
    if built(folder):
        return folder / LIBRARY
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not compiler:
        log("  kernels: no C compiler (install gcc, e.g. `apt-get install gcc`): the decoder keeps its graph "
            "Snakes (about 2× slower where the CPU has VNNI)")
        return None
    try:
        header = _header(folder, log)
        lib = _compile(compiler, header.parent, folder)
    except (OSError, ValueError, subprocess.CalledProcessError) as e:
        log(f"  kernels: not built ({e}): the decoder keeps its graph Snakes (about 2× slower where the CPU has VNNI)")
        return None
    return _checked(lib, log)


def _header(folder: Path, log) -> Path:
    """onnxruntime's C API header, from Debian's libonnxruntime-dev (kept after the first fetch)."""
    s = spec()
    header = folder / "include" / s["header"]
    if header.is_file():
        return header
    log(f"  kernels: onnxruntime's C API header from Debian ({s['deb'].rsplit('/', 1)[-1]})")
    with urllib.request.urlopen(s["deb"], timeout=DOWNLOAD_TIMEOUT) as response:
        deb = response.read()
    if hashlib.sha256(deb).hexdigest() != s["sha256"]:
        raise ValueError(f"{s['deb']} does not have the expected sha256")
    header.parent.mkdir(parents=True, exist_ok=True)
    part = _partial(header)
    part.write_bytes(_member(deb, s["member"]))
    os.replace(part, header)
    return header


def _member(deb: bytes, name: str) -> bytes:
    """One file of a .deb: an `ar` archive whose data.tar.* holds the package's files."""
    if not deb.startswith(b"!<arch>\n"):
        raise ValueError("not a Debian package")
    at = 8
    while at + 60 <= len(deb):
        entry, size = deb[at:at + 16].decode().strip().rstrip("/"), int(deb[at + 48:at + 58])
        if entry.startswith("data.tar"):
            with tarfile.open(fileobj=io.BytesIO(deb[at + 60:at + 60 + size])) as tar:
                return tar.extractfile(name).read()
        at += 60 + size + size % 2
    raise ValueError(f"no {name} in the package")


def _compile(compiler: str, include: Path, folder: Path) -> Path:
    with tempfile.TemporaryDirectory(prefix="takefit-kernels-") as t:
        src = Path(t) / "snake.c"
        src.write_bytes(source())
        part = _partial(folder / LIBRARY)
        subprocess.run([compiler, "-O3", "-std=c11", "-fPIC", "-shared", "-I", str(include), str(src), "-o",
                        str(part)], check=True, capture_output=True, timeout=300)
    lib = folder / LIBRARY
    os.replace(part, lib)
    return lib


def _partial(path: Path) -> Path:
    """A new temporary name beside `path` (two processes may build at once)."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    return Path(name)


def _checked(lib: Path, log) -> Path | None:
    """Run `check` in a child process; stamp the library if it passed, remove it if not."""
    stamp = lib.parent / STAMP
    stamp.unlink(missing_ok=True)
    done = subprocess.run([sys.executable, "-m", "takefit.engine.kokoro.snake", str(lib)], capture_output=True,
                          text=True, timeout=300)
    error = done.stdout.strip().rsplit("\n", 1)[-1] if done.returncode == 0 else ""
    if done.returncode != 0 or float(error or "inf") > MAX_ERROR:
        lib.unlink(missing_ok=True)
        why = f"max error {error}" if done.returncode == 0 else f"exit {done.returncode}: {done.stderr.strip()[-200:]}"
        log(f"  kernels: the compiled Snake failed its check ({why}): the decoder keeps its graph Snakes")
        return None
    part = _partial(stamp)
    part.write_text(json.dumps({"file": _stamp_of(lib), "checked": True, "max_error": float(error)}), "utf-8")
    os.replace(part, stamp)
    log(f"  kernels: compiled and checked (the Snake within {float(error):.1e} of the graph's own; the columns "
        f"nodes' codes as onnxruntime's)")
    return lib
