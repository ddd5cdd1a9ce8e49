"""The field's post-hoc fitting: a natural take time-stretched to the slot's length.

* ``atempo``: ffmpeg's ``atempo`` filter (WSOLA), what subtitle-dubbing tools call. The binary is
  imageio-ffmpeg's bundled static ffmpeg (installs from PyPI without root); ``TAKEFIT_FFMPEG`` or an
  ``ffmpeg`` on PATH are used only when imageio-ffmpeg is absent.
* ``rubberband``: the Rubber Band command-line tool (Debian ``rubberband-cli``, which ``make eval``
  installs with apt when it can) with its default settings, ``rubberband --time R``: the R2 engine,
  which is what pyrubberband and the tools built on it run. When the CLI is missing the stretch
  falls back to pedalboard's Rubber Band library (R3, the engine takefit's own ``stretch`` uses),
  and the results name it ``rubberband (pedalboard R3)``.

Both produce a take of exactly ``out_samples`` samples: the tool's output is padded with silence or
trimmed with a 64-sample fade (the tools land within a few ms of the asked length).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from takefit.engine import audio as eaudio


@dataclass(frozen=True)
class Stretcher:
    name: str        # method name in the results: "atempo" | "rubberband"
    tool: str        # what actually ran, e.g. "ffmpeg 7.1 atempo" or "rubberband 3.1.2 CLI (R2)"


def ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg
        return imageio_ffmpeg.get_ffmpeg_exe()
    except ImportError:
        exe = os.environ.get("TAKEFIT_FFMPEG") or shutil.which("ffmpeg")
        if not exe:
            raise RuntimeError("no ffmpeg: pip install -e '.[eval]' (imageio-ffmpeg bundles one)") from None
        return exe


def rubberband_exe() -> str | None:
    return shutil.which("rubberband")


def _version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else "?"


def describe() -> dict[str, str]:
    """What runs for each stretcher, for the results' metadata."""
    ff = ffmpeg_exe()
    rb = rubberband_exe()
    ff_version = _version([ff, "-version"]).replace("ffmpeg version ", "").split(" ")[0]
    return {
        "atempo": f"ffmpeg {ff_version} atempo ({'imageio-ffmpeg' if 'imageio_ffmpeg' in ff else ff})",
        "rubberband": (f"rubberband {_version([rb, '--version'])} CLI, default R2 engine" if rb
                       else "rubberband (pedalboard R3): the CLI is not installed"),
    }


def _run(cmd: list[str], what: str) -> None:
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{what} failed ({out.returncode}): {out.stderr.strip()[-500:]}")


def atempo(audio: np.ndarray, rate: int, out_samples: int) -> np.ndarray:
    """ffmpeg ``atempo`` to ``out_samples`` (tempo = input length / output length)."""
    tempo = len(audio) / out_samples
    with tempfile.TemporaryDirectory(prefix="takefit-eval-") as d:
        src, dst = Path(d) / "in.wav", Path(d) / "out.wav"
        sf.write(src, audio.astype(np.float32), rate, subtype="FLOAT")
        # atempo takes 0.5–100 in one instance since ffmpeg 4.3; ratios here stay in 0.7–1.4
        _run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-i", str(src), "-af", f"atempo={tempo:.6f}",
              "-c:a", "pcm_f32le", str(dst)], "ffmpeg atempo")
        out, _ = sf.read(dst, dtype="float32")
    return eaudio.exact_length(out.reshape(-1) if out.ndim == 1 else out[:, 0], out_samples)


def rubberband(audio: np.ndarray, rate: int, out_samples: int) -> np.ndarray:
    """Rubber Band to ``out_samples``: the CLI with its defaults, or pedalboard's library without it."""
    exe = rubberband_exe()
    if exe is None:
        return eaudio.exact_length(eaudio.stretch(audio, rate, out_samples), out_samples)
    with tempfile.TemporaryDirectory(prefix="takefit-eval-") as d:
        src, dst = Path(d) / "in.wav", Path(d) / "out.wav"
        sf.write(src, audio.astype(np.float32), rate, subtype="FLOAT")
        _run([exe, "-q", "--time", f"{out_samples / len(audio):.6f}", str(src), str(dst)], "rubberband")
        out, _ = sf.read(dst, dtype="float32")
    return eaudio.exact_length(out.reshape(-1) if out.ndim == 1 else out[:, 0], out_samples)


STRETCHERS = {"atempo": atempo, "rubberband": rubberband}
