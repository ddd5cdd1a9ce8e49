"""The dub stem: every take mixed into one WAV the length of the timeline, sample 0 = the timeline's
first frame — for editors whose format cannot carry the new track (EDL, SRT, FCPXML markers …).

Mixed in blocks straight from the take files, so a feature-length timeline needs little memory.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf

from takefit.engine.errors import OutputError
from takefit.engine.files import publish, temp_beside

BLOCK_SECONDS = 30


@dataclass(frozen=True)
class StemItem:
    start: int      # sample offset from the timeline's first frame
    samples: int
    path: Path


def write_stem(path: Path, items: Sequence[StemItem], total_samples: int, sample_rate: int = 48000,
               comment: str = "", title: str = "") -> dict:
    """Mix `items` into a 24-bit mono WAV of exactly `total_samples`, atomically. Returns
    {"peak": …, "clipped": samples over full scale (overlapping takes summed)}."""
    path = Path(path)
    items = sorted(items, key=lambda it: it.start)
    block = BLOCK_SECONDS * sample_rate
    peak, clipped = 0.0, 0
    tmp = temp_beside(path, ".wav.partial")
    try:
        with sf.SoundFile(tmp, "w", samplerate=sample_rate, channels=1, subtype="PCM_24", format="WAV") as out:
            if comment:
                out.comment = comment
            if title:
                out.title = title
            out.software = "takefit"
            first = 0  # items before this index end before the current block
            for b0 in range(0, max(total_samples, 0), block):
                n = min(block, total_samples - b0)
                buf = np.zeros(n, np.float32)
                while first < len(items) and items[first].start + items[first].samples <= b0:
                    first += 1
                for it in items[first:]:
                    if it.start >= b0 + n:
                        break
                    lo, hi = max(it.start, b0), min(it.start + it.samples, b0 + n)
                    if hi <= lo:
                        continue
                    with sf.SoundFile(it.path) as f:
                        f.seek(lo - it.start)
                        buf[lo - b0:hi - b0] += f.read(hi - lo, dtype="float32", always_2d=False)
                peak = max(peak, float(np.max(np.abs(buf))) if n else 0.0)
                clipped += int(np.count_nonzero(np.abs(buf) > 1.0))
                out.write(np.clip(buf, -1.0, 1.0))
        publish(tmp, path)
    except OSError as e:
        raise OutputError(f"cannot write the stem {path}: {e.strerror or e}") from None
    finally:
        Path(tmp).unlink(missing_ok=True)
    return {"peak": round(peak, 6), "clipped": clipped}
