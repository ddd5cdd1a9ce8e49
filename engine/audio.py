"""Audio output: resampling (soxr), exact length, loudness (BS.1770: loudness.py), Rubber Band stretching,
and atomic 24-bit WAV writing."""
from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from . import bwf, loudness
from .bwf import Broadcast
from .errors import OutputError
from .files import check_writable, publish, temp_beside

PEAK_CEILING_DBFS = -1.0
_FADE = 64  # samples; a trimmed tail ends on a short fade so it never clicks


def resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    if rate_in == rate_out:
        return audio.astype(np.float32, copy=False)
    return soxr.resample(audio.astype(np.float32), rate_in, rate_out, quality="VHQ").astype(np.float32)


def stretch(audio: np.ndarray, rate: int, out_samples: int) -> np.ndarray:
    """Time-scale to `out_samples` keeping pitch and formants: Rubber Band R3 (pedalboard)."""
    from pedalboard import time_stretch

    if out_samples <= 0 or len(audio) == 0:
        return np.zeros(max(out_samples, 0), np.float32)
    factor = len(audio) / out_samples
    if abs(factor - 1.0) < 1e-4:
        return audio.astype(np.float32, copy=False)
    out = time_stretch(audio.reshape(1, -1).astype(np.float32), float(rate), stretch_factor=float(factor),
                       high_quality=True, transient_mode="mixed", preserve_formants=True)
    return out.reshape(-1)


def exact_length(audio: np.ndarray, samples: int) -> np.ndarray:
    """Pad with silence or trim the tail (with a short fade) to exactly `samples`."""
    n = len(audio)
    if n == samples:
        return audio
    if n < samples:
        return np.concatenate([audio, np.zeros(samples - n, np.float32)])
    out = audio[:samples].copy()
    fade = min(_FADE, samples)
    if fade:
        out[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return out


@functools.cache
def warm_imports() -> None:
    """Import pedalboard (Rubber Band, JUCE's limiter: ≈ 0.1 s) in the background, once per process.
    Called as the first line goes to the model, which then holds no GIL for a while: started with the
    engine, an import fights the text frontend's (spaCy) for the GIL instead. Python's import locks make
    a concurrent first use wait for this one."""
    threading.Thread(target=_import_output_stage, name="takefit-warm-imports", daemon=True).start()


def _import_output_stage() -> None:
    import pedalboard  # noqa: F401


def loudness_normalize(audio: np.ndarray, rate: int, lufs: float) -> tuple[np.ndarray, list[str]]:
    """Integrated loudness to `lufs` (ITU-R BS.1770), peaks kept ≤ −1 dBFS."""
    warnings: list[str] = []
    if not np.any(np.abs(audio) > 1e-6):
        return audio, warnings
    block = int(loudness.BLOCK_SECONDS * rate)
    measured_on = audio if len(audio) >= block else np.concatenate([audio, np.zeros(block - len(audio), np.float32)])
    current = loudness.integrated(measured_on, rate)
    if not np.isfinite(current):
        return audio, warnings
    gain = 10 ** ((lufs - current) / 20)
    peak = float(np.max(np.abs(audio))) * gain
    ceiling = 10 ** (PEAK_CEILING_DBFS / 20)
    if peak > ceiling:
        gain *= ceiling / peak
        reached = current + 20 * np.log10(gain)
        warnings.append(f"loudness {reached:.1f} LUFS instead of {lufs:g}: peaks held at {PEAK_CEILING_DBFS:g} dBFS")
    return (audio * gain).astype(np.float32), warnings


def make_headroom(audio: np.ndarray, rate: int, lufs: float) -> np.ndarray:
    """Limit the peaks (Rubber Band's neighbour in pedalboard: JUCE's limiter) just enough that the take
    can reach `lufs` with peaks ≤ −1 dBFS, so a loud (angry) line is loud instead of held back."""
    from pedalboard import Limiter

    if len(audio) < int(loudness.BLOCK_SECONDS * rate) or not np.any(np.abs(audio) > 1e-6):
        return audio
    current = loudness.integrated(audio, rate)
    peak_db = 20 * np.log10(float(np.max(np.abs(audio))))
    excess = peak_db + (lufs - current) - PEAK_CEILING_DBFS
    if not np.isfinite(excess) or excess <= 0:
        return audio
    limited = Limiter(threshold_db=float(peak_db - excess - 1.0), release_ms=50.0)(audio.astype(np.float32), rate)
    return np.asarray(limited, np.float32).reshape(-1)[:len(audio)]


def apply_gain(audio: np.ndarray, db: float) -> np.ndarray:
    """`db` of gain, peaks still kept ≤ −1 dBFS (used for emotion's level when loudness is off)."""
    gain = 10 ** (db / 20)
    peak = float(np.max(np.abs(audio), initial=0.0)) * gain
    ceiling = 10 ** (PEAK_CEILING_DBFS / 20)
    if peak > ceiling:
        gain *= ceiling / peak
    return (audio * gain).astype(np.float32)


def write_wav(path: str | Path, audio: np.ndarray, rate: int, subtype: str = "PCM_24",
              comment: str = "", title: str = "", broadcast: Broadcast | None = None) -> Path:
    """Write atomically: a temporary file in the same folder, renamed when complete. With `broadcast`,
    the file carries its bext and iXML chunks (engine/bwf.py: the line, where it sits on the timeline),
    inserted into the temporary file, so the final name appears whole or not at all; a loudness it
    leaves open is measured here."""
    p = check_writable(path)
    if broadcast is not None and broadcast.loudness is None:
        broadcast = replace(broadcast, loudness=integrated_loudness(audio, rate))
    publish_wav(p, rate, 1, subtype, lambda f: f.write(np.clip(audio, -1.0, 1.0)), comment, title, broadcast,
                what=str(p))
    return p


def publish_wav(path: Path, rate: int, channels: int, subtype: str, fill: Callable[[sf.SoundFile], object],
                comment: str = "", title: str = "", broadcast: Broadcast | None = None, what: str = "") -> None:
    """`fill` writes the samples into a WAV opened on a temporary file beside `path`; `broadcast`'s chunks
    go into a second temporary, and only a whole file is renamed to `path`. An OSError becomes an
    OutputError naming `what` (one from making the temporary too); no temporary is left behind either way."""
    tmp = final = None
    try:
        tmp = final = temp_beside(path, ".wav.partial")
        with sf.SoundFile(tmp, "w", samplerate=rate, channels=channels, subtype=subtype, format="WAV") as f:
            if comment:
                f.comment = comment
            if title:
                f.title = title
            f.software = "takefit"
            fill(f)
        if broadcast is not None:
            final = temp_beside(path, ".wav.partial")
            bwf.copy_with_chunks(tmp, final, broadcast)
        publish(final, path)
    except OutputError:
        raise
    except OSError as e:
        raise OutputError(f"cannot write {what or path}: {e.strerror or e}") from None
    finally:
        for t in {tmp, final} - {None}:
            Path(t).unlink(missing_ok=True)


def integrated_loudness(audio: np.ndarray, rate: int) -> float | None:
    """EBU R128 integrated loudness in LUFS, or None for audio shorter than one 400 ms block or silent."""
    if len(audio) < int(loudness.BLOCK_SECONDS * rate) + 1:
        return None
    lufs = loudness.integrated(audio, rate)
    return round(lufs, 2) if np.isfinite(lufs) else None
