"""Audio output: resampling (soxr), exact length, loudness (BS.1770: loudness.py), Rubber Band stretching,
and atomic 24-bit WAV writing."""
from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from . import bwf, loudness
from .bwf import Broadcast
from .errors import OutputError
from .files import check_writable, publish, temp_beside

# EBU R128's ceiling, on the true peak: sample peaks held at −1 dBFS still put the waveform between them
# up to +0.1 dBTP (bench/true_peak.py: 5 of 16 angry takes at −14 LUFS over −1 dBTP), which a lossy
# encode or a broadcaster's meter reads as an over. Takes aim a little under it: true-peak meters differ
# by a few hundredths of a dB (libebur128 read up to 0.06 dB above loudness.true_peak on takes)
PEAK_CEILING_DBTP = -1.0
_AIM_DBTP = PEAK_CEILING_DBTP - 0.1
# Limiting runs on the take oversampled to this rate: a limiter on the samples alone clamps them and
# leaves the peaks between them, up to 3 dB higher
LIMIT_RATE = loudness.TRUE_PEAK_RATE
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
    """Integrated loudness to `lufs` (ITU-R BS.1770), the true peak kept ≤ −1 dBTP."""
    warnings: list[str] = []
    if not np.any(np.abs(audio) > 1e-6):
        return audio, warnings
    block = int(loudness.BLOCK_SECONDS * rate)
    measured_on = audio if len(audio) >= block else np.concatenate([audio, np.zeros(block - len(audio), np.float32)])
    current = loudness.integrated(measured_on, rate)
    if not np.isfinite(current):
        return audio, warnings
    wanted = 10 ** ((lufs - current) / 20)
    gain = _under_ceiling(audio, rate, wanted)
    if gain < wanted * 10 ** (-0.05 / 20):      # a shortfall under 0.05 LU is inside the meters' rounding
        reached = current + 20 * np.log10(gain)
        warnings.append(f"loudness {reached:.1f} LUFS instead of {lufs:g}: true peak held at "
                        f"{PEAK_CEILING_DBTP:g} dBTP")
    return (audio * gain).astype(np.float32), warnings


def _under_ceiling(audio: np.ndarray, rate: int, gain: float) -> float:
    """`gain`, lowered as far as the true peak after it must fall to the ceiling."""
    peak = loudness.true_peak(audio, rate) * gain
    ceiling = 10 ** (_AIM_DBTP / 20)
    return gain * ceiling / peak if peak > ceiling else gain


def make_headroom(audio: np.ndarray, rate: int, lufs: float) -> np.ndarray:
    """Limit the peaks (Rubber Band's neighbour in pedalboard: JUCE's limiter) just enough that the take
    can reach `lufs` with its true peak under the ceiling, so a loud line is loud instead of held back.
    The first threshold makes room (1 dB to spare: limiting lowers the loudness too); JUCE's limiter
    then often takes 1–2 dB more than asked (its first stage compresses below the peaks), so up to two
    more tries raise the threshold by what was left unused, kept only while the take still fits."""
    if len(audio) < int(loudness.BLOCK_SECONDS * rate) or not np.any(np.abs(audio) > 1e-6):
        return audio
    excess = _peak_at(audio, rate, lufs) - _AIM_DBTP
    if not np.isfinite(excess) or excess <= 0:
        return audio
    threshold = 20 * np.log10(loudness.true_peak(audio, rate)) - excess - 1.0
    best = limit(audio, rate, threshold)
    for _ in range(2):
        unused = _AIM_DBTP - _peak_at(best, rate, lufs)
        if unused < 0.1:
            break
        threshold += unused
        trial = limit(audio, rate, threshold)
        if _peak_at(trial, rate, lufs) > _AIM_DBTP:
            break
        best = trial
    return best


def _peak_at(audio: np.ndarray, rate: int, lufs: float) -> float:
    """The true peak (dBTP) `audio` would have at `lufs` integrated."""
    return float(20 * np.log10(loudness.true_peak(audio, rate)) + lufs - loudness.integrated(audio, rate))


def limit(audio: np.ndarray, rate: int, threshold_db: float) -> np.ndarray:
    """JUCE's limiter at `threshold_db`, run on the audio oversampled to ≥ 192 kHz: its final clipper
    then clamps the waveform between the samples too, not the samples alone."""
    from pedalboard import Limiter

    factor = max(1, -(-LIMIT_RATE // rate))
    up = audio.astype(np.float32) if factor == 1 else soxr.resample(audio.astype(np.float32), rate, rate * factor, "HQ")
    limited = np.asarray(Limiter(threshold_db=threshold_db, release_ms=50.0)(up, rate * factor), np.float32).reshape(-1)
    down = limited if factor == 1 else soxr.resample(limited, rate * factor, rate, "HQ")
    return exact_length(down.astype(np.float32), len(audio))


def apply_gain(audio: np.ndarray, rate: int, db: float) -> np.ndarray:
    """`db` of gain, the true peak still kept ≤ −1 dBTP (emotion's level when loudness is off)."""
    return (audio * _under_ceiling(audio, rate, 10 ** (db / 20))).astype(np.float32)


def write_wav(path: str | Path, audio: np.ndarray, rate: int, subtype: str = "PCM_24",
              comment: str = "", title: str = "", broadcast: Broadcast | None = None) -> Path:
    """Write atomically: a temporary file in the same folder, renamed when complete. With `broadcast`,
    the file carries its bext and iXML chunks (engine/bwf.py: the line, where it sits on the timeline),
    inserted into the temporary file, so the final name appears whole or not at all; a loudness it
    leaves open is measured here."""
    p = check_writable(path)
    if broadcast is not None and broadcast.loudness is None:
        broadcast = broadcast.with_levels(loudness.measure(audio, rate))
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

