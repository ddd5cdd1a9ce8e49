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

from . import bwf, limiter, loudness
from .bwf import Broadcast
from .errors import OutputError
from .files import check_writable, publish, temp_beside

# EBU R128's ceiling, on the true peak (the default; a request may ask another, e.g. −2 for Netflix or
# ATSC A/85): sample peaks held at −1 dBFS still put the waveform between them up to +0.1 dBTP
# (bench/true_peak.py: 5 of 16 angry takes at −14 LUFS over −1 dBTP), which a lossy encode or a
# broadcaster's meter reads as an over. Takes aim a little under it: the true peak is read as the highest
# of three meters' readings, and a meter rounds
PEAK_CEILING_DBTP = -1.0
AIM_UNDER_DB = 0.1
_LIMIT_TRIES = 6          # the secant search's tries: "Hold the door!" read with the compiled Snakes needed 6
                           # (after 4: −2.45 dBTP under a −2 ceiling, 0.35 dB more limiting than it needed)
_LEFT_TO_LIMIT_DB = (3.0, 1.0, -1.0)   # of a loud line's room, what JUCE's leveling leaves to the limiter
_FIT_DB = 0.1              # a try this close under the ceiling is kept: limiting 0.1 dB more is inaudible
_MAX_LIMIT_DB = 12.0       # no threshold further under the take's peak: past it the line is turned down, not louder
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


def level(audio: np.ndarray, rate: int, lufs: float,
          ceiling: float = PEAK_CEILING_DBTP) -> tuple[np.ndarray, list[str]]:
    """`audio` at `lufs` integrated with its true peak under `ceiling` dBTP: limited first where its
    peaks leave no room (make_headroom), measured once where they do."""
    if len(audio) < int(loudness.BLOCK_SECONDS * rate) or not np.any(np.abs(audio) > 1e-6):
        return loudness_normalize(audio, rate, lufs, ceiling)
    current, peak = loudness.integrated(audio, rate), loudness.true_peak(audio, rate)
    if np.isfinite(current) and 20 * np.log10(peak) + lufs - current > ceiling - AIM_UNDER_DB:
        return loudness_normalize(make_headroom(audio, rate, lufs, ceiling, (current, peak)), rate, lufs, ceiling)
    return loudness_normalize(audio, rate, lufs, ceiling, measured=(current, peak))


def loudness_normalize(audio: np.ndarray, rate: int, lufs: float, ceiling: float = PEAK_CEILING_DBTP,
                       measured: tuple[float, float] | None = None) -> tuple[np.ndarray, list[str]]:
    """Integrated loudness to `lufs` (ITU-R BS.1770), the true peak kept under `ceiling` dBTP.
    `measured`: the audio's integrated loudness and linear true peak where the caller has read them."""
    warnings: list[str] = []
    if not np.any(np.abs(audio) > 1e-6):
        return audio, warnings
    block = int(loudness.BLOCK_SECONDS * rate)
    measured_on = audio if len(audio) >= block else np.concatenate([audio, np.zeros(block - len(audio), np.float32)])
    current = measured[0] if measured else loudness.integrated(measured_on, rate)
    if not np.isfinite(current):
        return audio, warnings
    wanted = 10 ** ((lufs - current) / 20)
    gain = _under_ceiling(measured[1] if measured else loudness.true_peak(audio, rate), wanted, ceiling)
    if gain < wanted * 10 ** (-0.05 / 20):      # a shortfall under 0.05 LU is inside the meters' rounding
        reached = current + 20 * np.log10(gain)
        warnings.append(f"loudness {reached:.1f} LUFS instead of {lufs:g}: true peak held at "
                        f"{ceiling:g} dBTP")
    return (audio * gain).astype(np.float32), warnings


def _under_ceiling(true_peak: float, gain: float, ceiling: float) -> float:
    """`gain`, lowered as far as the true peak (linear) after it must fall under `ceiling` dBTP."""
    peak, aim = true_peak * gain, 10 ** ((ceiling - AIM_UNDER_DB) / 20)
    return gain * aim / peak if peak > aim else gain


def make_headroom(audio: np.ndarray, rate: int, lufs: float, ceiling: float = PEAK_CEILING_DBTP,
                  measured: tuple[float, float] | None = None) -> np.ndarray:
    """Make the room a take needs to reach `lufs` with its true peak under the ceiling, so a loud line
    is loud instead of held back: the least true-peak limiting that does it (engine/limiter.py). A
    limiter alone cannot take a shouted line's whole top down — its gain follows the syllables, and past
    a few dB it turns the line down as much as its peaks — so where it cannot, JUCE's limiter, whose
    first stage compresses the top 10 dB 4:1 as a mixer's leveling would, first takes all but
    3 dB of the room, and the true-peak limiter the rest; a short line may need the leveling to take
    more (1 dB left, then the room and 1 dB more, as before 2026-12-04) (bench/true_peak.py).
    `measured`: the take's integrated loudness and linear true peak, where the caller has read them."""
    if len(audio) < int(loudness.BLOCK_SECONDS * rate) or not np.any(np.abs(audio) > 1e-6):
        return audio
    aim = ceiling - AIM_UNDER_DB
    current, peak = measured or (loudness.integrated(audio, rate), loudness.true_peak(audio, rate))
    peak_db = 20 * np.log10(peak)
    excess = peak_db + lufs - current - aim
    if not np.isfinite(excess) or excess <= 0:
        return audio
    missed, limited = _limited(audio, rate, lufs, aim, (current, peak))
    for left in _LEFT_TO_LIMIT_DB:
        if missed <= 0:
            break
        missed, limited = _limited(_leveled(audio, rate, peak_db - excess + left), rate, lufs, aim)
    return limited


def _leveled(audio: np.ndarray, rate: int, threshold_db: float) -> np.ndarray:
    """JUCE's limiter (pedalboard) at `threshold_db`, on the take oversampled as the true peak is read."""
    from pedalboard import Limiter

    factor = loudness.oversampling(rate)
    x = audio.astype(np.float32)
    up = x if factor == 1 else soxr.resample(x, rate, rate * factor, "HQ")
    out = np.asarray(Limiter(threshold_db=float(threshold_db), release_ms=50.0)(up, rate * factor), np.float32)
    down = out.reshape(-1) if factor == 1 else soxr.resample(out.reshape(-1), rate * factor, rate, "HQ")
    return exact_length(down.astype(np.float32), len(x))


def _limited(audio: np.ndarray, rate: int, lufs: float, aim: float,
             measured: tuple[float, float] | None = None) -> tuple[float, np.ndarray]:
    """(dB it still misses `aim` dBTP by, the take) after the least limiting that lets it reach `lufs`
    under it (`measured`: its integrated loudness and linear true peak, where known). Limiting lowers
    the loudness too, which the level then makes up, so the threshold is found by the secant method:
    the fitting try that limits least is kept, else the closest."""
    current, peak = measured or (loudness.integrated(audio, rate), loudness.true_peak(audio, rate))
    peak_db = 20 * np.log10(peak)
    excess = peak_db + lufs - current - aim
    if not np.isfinite(excess) or excess <= 0:
        return excess, audio
    last = (peak_db, excess)                  # at the take's own peak the limiter does nothing
    threshold, kept = peak_db - excess, None  # kept: (missed by dB, limited)
    limit = limiter.Limiter(audio, rate)
    for _ in range(_LIMIT_TRIES):
        limited, limited_peak_db = limit.limited(threshold)
        missed = limited_peak_db + lufs - loudness.integrated(limited, rate) - aim
        if kept is None or (missed > 0, abs(missed)) < (kept[0] > 0, abs(kept[0])):
            kept = (missed, limited)
        if -_FIT_DB <= missed <= 0 or threshold == last[0]:
            break
        slope = (missed - last[1]) / (threshold - last[0])     # dB missed per dB of threshold
        step = missed / slope if slope > 0.05 else missed + 0.02
        last, threshold = (threshold, missed), max(threshold - step, peak_db - _MAX_LIMIT_DB)
    return kept


def apply_gain(audio: np.ndarray, rate: int, db: float, ceiling: float = PEAK_CEILING_DBTP) -> np.ndarray:
    """`db` of gain, the true peak still kept under `ceiling` dBTP (emotion's level when loudness is off)."""
    return (audio * _under_ceiling(loudness.true_peak(audio, rate), 10 ** (db / 20), ceiling)).astype(np.float32)


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
                comment: str = "", title: str = "",
                broadcast: Broadcast | Callable[[], Broadcast] | None = None, what: str = "") -> None:
    """`fill` writes the samples into a WAV opened on a temporary file beside `path`; `broadcast`'s chunks
    (or those a callable gives once the samples are written: a stem's measured loudness) go into a second
    temporary, and only a whole file is renamed to `path`. An OSError becomes an OutputError naming `what`
    (one from making the temporary too); no temporary is left behind either way."""
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
        chunks = broadcast() if callable(broadcast) else broadcast
        if chunks is not None:
            final = temp_beside(path, ".wav.partial")
            bwf.copy_with_chunks(tmp, final, chunks)
        publish(final, path)
    except OutputError:
        raise
    except OSError as e:
        raise OutputError(f"cannot write {what or path}: {e.strerror or e}") from None
    finally:
        for t in {tmp, final} - {None}:
            Path(t).unlink(missing_ok=True)

