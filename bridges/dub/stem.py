"""The dub stem: every take mixed into one WAV the length of the timeline, sample 0 = the timeline's
first frame — for editors whose format cannot carry the new track (EDL, SRT, FCPXML markers …).

Mixed in blocks straight from the take files, so a feature-length timeline needs little memory. The
WAV carries bext/iXML (engine/bwf.py) with the timeline's start, so an editor drops it at its place;
`export_stem` adds a FLAC, MP3 or AAC copy of it (no ffmpeg download: libsndfile's own FLAC and LAME
encoders, AAC through PyAV's bundled FFmpeg libraries).
"""
from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from takefit.engine import bwf
from takefit.engine.bwf import Broadcast
from takefit.engine.errors import InputError, OutputError
from takefit.engine.audio import PEAK_CEILING_DBTP, publish_wav
from takefit.engine.files import publish, temp_beside
from takefit.engine.meter import Meter
from takefit.bridges.dub.overlap import overlap_gain
from takefit.bridges.dub.takes import safe_name

BLOCK_SECONDS = 30
# --stem-format: the suffix of each copy beside the WAV stem (which is always written: only it carries
# the timecode). MP3 at 128 kbit/s CBR (libsndfile's compression level 0.667 ↦ 128), AAC at 192 kbit/s.
EXPORTS = {"flac": ".flac", "mp3": ".mp3", "aac": ".m4a"}
_MP3_LEVEL = 0.667
_AAC_BITRATE = 192_000
_NO_AAC = ("--stem-format aac needs PyAV (FFmpeg's AAC encoder inside its wheel): pip install 'takefit[export]'; "
           "or use mp3, which needs nothing more")


@dataclass(frozen=True)
class StemItem:
    start: int      # sample offset from the timeline's first frame
    samples: int
    path: Path


def character_stem_paths(stem: Path, characters: Sequence[str]) -> dict[str, Path]:
    """Where each character's stem goes, beside the full mix: cut_dub_stem.wav → cut_dub_stem_alice.wav
    (no character: _default; two names that make the same file name get _2, _3 …)."""
    out: dict[str, Path] = {}
    for character in sorted(set(characters)):
        base, n = safe_name(character, "default"), 1
        while (path := stem.with_name(f"{stem.stem}_{base}{f'_{n}' if n > 1 else ''}{stem.suffix}")) in out.values():
            n += 1
        out[character] = path
    return out


def write_stem(path: Path, items: Sequence[StemItem], total_samples: int, sample_rate: int = 48000,
               comment: str = "", title: str = "", broadcast: Broadcast | None = None, channels: int = 1,
               ceiling: float = PEAK_CEILING_DBTP) -> dict:
    """Mix `items` into a 24-bit WAV of exactly `total_samples`, atomically, carrying `broadcast`'s
    chunks with the mix's five R128 values as measured; where takes overlap, their sum is limited to
    `ceiling` dBTP (overlap.py). `channels=2`: dual mono, both channels the mix itself. Returns {"peak":
    …, "clipped": samples still over full scale, "overlap_limited": seconds limited where takes overlap,
    and the R128 values: "loudness", "loudness_range", "true_peak", "max_momentary", "max_short_term"}."""
    path = Path(path)
    check_fits(path, total_samples, channels)
    level: dict = {}
    meter = Meter(sample_rate)

    def measured() -> Broadcast | None:
        levels = meter.levels()
        level.update(bwf.level_fields(levels))
        return None if broadcast is None else broadcast.with_levels(levels)
    publish_wav(path, sample_rate, channels, "PCM_24",
                lambda out: level.update(_mix(out, items, total_samples, sample_rate, channels, meter, ceiling)),
                comment, title, measured, what=f"the stem {path}")
    return level


def check_fits(path: Path, total_samples: int, channels: int) -> None:
    """Refuse a stem a WAV cannot hold (4 GiB: ≈ 8.2 h mono, 4.1 h stereo at 48 kHz 24-bit), before
    writing anything: libsndfile would wrap the size fields into a file no editor reads."""
    data = max(total_samples, 0) * channels * 3
    if data > bwf.RIFF_MAX - bwf.HEADER_ROOM:
        raise OutputError(f"cannot write the stem {path}: {total_samples} samples × {channels} channel(s) is "
                          f"{data / 2**30:.1f} GiB, over the 4 GiB a WAV can hold; split the timeline, lower "
                          f"$TAKEFIT_MAX_EXTENT_HOURS so far-out cues fail alone, or drop --stereo")


def _mix(out: sf.SoundFile, items: Sequence[StemItem], total_samples: int, sample_rate: int, channels: int,
         meter: Meter, ceiling: float) -> dict:
    """Write the mix block by block, each metered as written, limited to `ceiling` dBTP where takes
    overlap; its peak, how many samples still clipped and how long the overlaps needed limiting."""
    items = sorted(items, key=lambda it: it.start)
    spans = [(it.start, it.start + it.samples) for it in items]
    block = BLOCK_SECONDS * sample_rate
    peak, clipped, limited = 0.0, 0, 0
    for b0 in range(0, max(total_samples, 0), block):
        n = min(block, total_samples - b0)
        buf = _span(items, b0, b0 + n, sample_rate)
        gain = overlap_gain(spans, b0, b0 + n, sample_rate, ceiling, lambda a, b: _span(items, a, b, sample_rate))
        if gain is not None:
            buf *= gain
            limited += int(np.count_nonzero(gain < 1.0))
        peak = max(peak, float(np.max(np.abs(buf))) if n else 0.0)
        clipped += int(np.count_nonzero(np.abs(buf) > 1.0))
        mixed = np.clip(buf, -1.0, 1.0)
        meter.add(mixed)
        # dual mono: the same samples on both channels at the same level. A pan law (−3 dB) belongs to
        # the editor's panner; baked in here, the stem would no longer null against the mono takes.
        out.write(np.repeat(mixed[:, None], channels, axis=1) if channels > 1 else mixed)
    return {"peak": round(peak, 6), "clipped": clipped, "overlap_limited": round(limited / sample_rate, 3)}


def _span(items: Sequence[StemItem], first: int, end: int, sample_rate: int) -> np.ndarray:
    """The takes summed over stem samples [first, end) (`items` in start order)."""
    buf = np.zeros(end - first, np.float32)
    for it in items:
        if it.start >= end:
            break
        lo, hi = max(it.start, first), min(it.start + it.samples, end)
        if hi > lo:
            buf[lo - first:hi - first] += _take_samples(it, lo - it.start, hi - lo, sample_rate)
    return buf


def _take_samples(item: StemItem, offset: int, count: int, sample_rate: int) -> np.ndarray:
    """`count` samples of a filed take from `offset`; a take changed since it was filed (cut short, another
    rate, more channels, not audio) is named, not mixed in part."""
    fix = "it changed after it was filed; run the dub again: it files a take that no longer fits anew"
    try:
        with sf.SoundFile(item.path) as f:
            if f.samplerate != sample_rate or f.channels != 1:
                raise InputError(f"the take {item.path} is {f.channels} channel(s) at {f.samplerate} Hz, not "
                                 f"mono at {sample_rate} Hz like the stem: {fix}")
            f.seek(offset)
            samples = f.read(count, dtype="float32", always_2d=False)
    except (sf.LibsndfileError, RuntimeError, OSError) as e:
        raise InputError(f"cannot read the take {item.path} ({e}): {fix}") from None
    if len(samples) != count:
        raise InputError(f"the take {item.path} ends {count - len(samples)} samples before its slot does "
                         f"({item.samples} samples): {fix}")
    return samples


def check_export(fmt: str) -> None:
    """Fail before anything renders when `fmt` cannot be written here."""
    if fmt == "aac" and importlib.util.find_spec("av") is None:
        raise InputError(_NO_AAC)


def export_stem(wav: Path, fmt: str) -> Path:
    """A copy of the WAV stem `wav` in `fmt` (flac | mp3 | aac) beside it, atomically; its path."""
    if fmt not in EXPORTS:
        raise InputError(f"stem format {fmt!r} is not one takefit writes: wav, {', '.join(EXPORTS)}")
    wav = Path(wav)
    out = wav.with_suffix(EXPORTS[fmt])
    tmp = temp_beside(out, EXPORTS[fmt] + ".partial")
    try:
        if fmt == "aac":
            _encode_aac(wav, tmp)
        else:
            _encode_soundfile(wav, tmp, fmt)
        publish(tmp, out)
    except OSError as e:
        raise OutputError(f"cannot write {out}: {e.strerror or e}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _encode_soundfile(wav: Path, tmp: Path, fmt: str) -> None:
    """FLAC (24-bit, lossless) or MP3 (LAME inside libsndfile ≥ 1.1; it writes the LAME gapless header,
    so decoders trim its 1105-sample delay and padding: the MP3 decodes to exactly the stem's length)."""
    kind = {"flac": {"format": "FLAC", "subtype": "PCM_24"},
            "mp3": {"format": "MP3", "subtype": "MPEG_LAYER_III", "compression_level": _MP3_LEVEL,
                    "bitrate_mode": "CONSTANT"}}[fmt]
    with sf.SoundFile(wav) as src, sf.SoundFile(tmp, "w", samplerate=src.samplerate, channels=src.channels,
                                                **kind) as dst:
        for block in src.blocks(blocksize=BLOCK_SECONDS * src.samplerate, dtype="float32"):
            dst.write(block)


def _encode_aac(wav: Path, tmp: Path) -> None:
    """AAC-LC in an .m4a through PyAV (its wheel bundles FFmpeg's native encoder: nothing downloaded).
    The encoder adds 1024 priming samples, recorded in the MP4 edit list, and pads the last 1024-sample
    frame; editors and players honour the edit list."""
    try:
        import av
    except ImportError:
        raise InputError(_NO_AAC) from None
    with sf.SoundFile(wav) as src, av.open(str(tmp), "w", format="ipod") as box:
        layout = "mono" if src.channels == 1 else "stereo"
        stream = box.add_stream("aac", rate=src.samplerate, layout=layout)
        stream.bit_rate = _AAC_BITRATE
        for block in src.blocks(blocksize=BLOCK_SECONDS * src.samplerate, dtype="float32", always_2d=True):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block.T), format="fltp", layout=layout)
            frame.sample_rate = src.samplerate
            for packet in stream.encode(frame):
                box.mux(packet)
        for packet in stream.encode(None):
            box.mux(packet)
