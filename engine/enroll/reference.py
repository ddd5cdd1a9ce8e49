"""The reference clip: read any format soundfile reads, check it, pick the speech, level it, measure it."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import audio
from ..errors import InputError
from ..kokoro import SAMPLE_RATE
import soundfile as sf
from .denoise import denoise as remove_noise

MIN_SPEECH = 3.0          # refused below: too little of the voice to learn from
ASK_SPEECH = 5.0          # below this, enrollment still runs (with more steps) but says 5 s is better
MAX_WINDOW = 10.0         # longer clips: the best 10 s of speech are used
MAX_FILE_SECONDS = 600.0  # beyond this, ask the user to cut the clip (reading it whole would be wasteful)
LEVEL_LUFS = -23.0
VAD_RATE, VAD_FRAME = 16000, 480      # webrtcvad: 30 ms frames at 16 kHz
ACCEPTED = "WAV, FLAC, OGG/Vorbis, Opus, MP3, AIFF (anything libsndfile reads), mono or stereo, any sample rate"


@dataclass
class Reference:
    wav: np.ndarray                      # 24 kHz mono float32, loudness-normalised, edges trimmed
    source_rate: int
    source_seconds: float
    speech_seconds: float
    bandwidth_hz: float                  # highest frequency the recording actually carries
    sha256: str
    notices: list[str] = field(default_factory=list)
    window: tuple[float, float] | None = None   # (start, end) in the source when a window was chosen

    @property
    def seconds(self) -> float:
        return len(self.wav) / SAMPLE_RATE


def _vad():
    """webrtcvad (comes with resemblyzer). Its C core `_webrtcvad` is used directly because the
    Python wrapper of the original package imports pkg_resources, which setuptools ≥ 81 dropped."""
    import _webrtcvad

    handle = _webrtcvad.create()
    _webrtcvad.init(handle)
    _webrtcvad.set_mode(handle, 2)
    return lambda pcm: bool(_webrtcvad.process(handle, VAD_RATE, pcm, len(pcm) // 2))


def speech_frames(wav: np.ndarray, sr: int) -> np.ndarray:
    """One bool per 30 ms: is there speech (webrtcvad, mode 2, on a level-normalised 16 kHz copy)."""
    x = audio.resample(wav, sr, VAD_RATE) if sr != VAD_RATE else wav
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    if peak <= 0:
        return np.zeros(len(x) // VAD_FRAME, bool)
    x = x / peak * 0.7
    n = len(x) // VAD_FRAME
    pcm = (np.clip(x[: n * VAD_FRAME], -1, 1) * 32767).astype("<i2")
    vad = _vad()
    flags = np.array([vad(pcm[i * VAD_FRAME:(i + 1) * VAD_FRAME].tobytes()) for i in range(n)], bool)
    # webrtcvad also fires on loud noise: require some energy relative to the clip's loudest frames
    if n:
        e = 10 * np.log10(np.square(x[: n * VAD_FRAME].reshape(n, VAD_FRAME), dtype=np.float64).mean(1) + 1e-12)
        flags &= e > np.percentile(e, 95) - 35
    return flags


def clipped_fraction(wav: np.ndarray) -> float:
    """Share of samples inside runs of ≥ 3 equal near-full-scale samples (flat tops of clipping)."""
    a = np.abs(wav)
    peak = float(a.max()) if len(a) else 0.0
    if peak < 0.95:
        return 0.0
    hot = a >= peak * 0.999
    runs = hot[:-2] & hot[1:-1] & hot[2:]
    return float(runs.sum()) / len(wav)


def bandwidth(wav: np.ndarray, sr: int) -> float:
    """Highest frequency (Hz) whose long-term level is within 60 dB of the spectrum's peak, capped at the
    source's Nyquist: an 8 kHz telephone clip says 4 kHz, a 64 kbps MP3 ~ 15 kHz, studio speech ~ 12 kHz."""
    n_fft = 2048
    if len(wav) < n_fft:
        return sr / 2
    frames = np.lib.stride_tricks.sliding_window_view(wav, n_fft)[::512] * np.hanning(n_fft)
    power = np.mean(np.abs(np.fft.rfft(frames, axis=1)) ** 2, axis=0)
    freqs = np.fft.rfftfreq(n_fft, 1 / sr)
    db = 10 * np.log10(np.convolve(power, np.ones(9) / 9, mode="same") + 1e-20)
    loud = np.flatnonzero(db > db.max() - 60)
    return float(min(freqs[loud[-1]] if len(loud) else sr / 2, sr / 2))


def _best_window(flags: np.ndarray, frame_s: float, length_s: float) -> tuple[int, int]:
    """The `length_s` stretch of frames with the most speech, as a frame range."""
    w = max(1, int(round(length_s / frame_s)))
    if len(flags) <= w:
        return 0, len(flags)
    csum = np.concatenate([[0], np.cumsum(flags)])
    counts = csum[w:] - csum[:-w]
    start = int(np.argmax(counts))
    return start, start + w


def load_reference(path: str | Path, denoise: bool = False) -> Reference:
    """The checked, levelled reference; `denoise` runs DeepFilterNet3 on it first (noisy recordings)."""
    path = Path(path)
    data, wav, sr = _read_clip(path)
    source_seconds = len(wav) / sr
    _refuse_long_or_invalid(path, wav, source_seconds)
    mono = wav.mean(axis=1).astype(np.float32)
    _refuse_bad_level(path, wav, mono)
    flags = speech_frames(mono, sr)
    frame_s = VAD_FRAME / VAD_RATE
    speech_s = _speech_seconds(flags, frame_s)
    _refuse_too_little_speech(path, speech_s)
    notices: list[str] = []
    window = None
    if source_seconds > MAX_WINDOW + 0.5:
        mono, flags, window = _cut_to_best_speech(mono, flags, sr, frame_s)
        notices.append(f"the clip is {source_seconds:.1f} s; using its best {window[1] - window[0]:.1f} s of speech "
                       f"({window[0]:.1f}–{window[1]:.1f} s)")
        speech_s = _speech_seconds(flags, frame_s)
    if denoise:                 # after the window: at most ~10 s to clean

        mono = remove_noise(mono, sr)
        notices.append("the reference was denoised (DeepFilterNet3) before enrollment")
    mono = _trim_edges(mono, flags, frame_s, sr)
    bw = bandwidth(mono, sr)
    wav24 = _levelled_24k(mono, sr)
    notices += _quality_notices(speech_s, bw)
    return Reference(np.ascontiguousarray(wav24, np.float32), sr, source_seconds, speech_s, bw,
                     hashlib.sha256(data).hexdigest(), notices, window)


def _read_clip(path: Path) -> tuple[bytes, np.ndarray, int]:
    """(the file's bytes, its samples as frames × channels, sample rate); refused unless it holds audio."""
    if not path.is_file():
        raise InputError(f"reference clip not found: {path}")
    data = path.read_bytes()
    try:
        wav, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:                                  # libsndfile: unknown format, corrupt header …
        raise InputError(f"cannot read the reference {path.name}: {e}. Accepted: {ACCEPTED}.") from None
    if wav.size == 0 or sr <= 0:
        raise InputError(f"the reference {path.name} holds no audio. Accepted: {ACCEPTED}, 3 to 30 s of speech.")
    return data, wav, sr


def _refuse_long_or_invalid(path: Path, wav: np.ndarray, source_seconds: float) -> None:
    """Refuse a file too long to read whole or with NaN/inf samples."""
    if source_seconds > MAX_FILE_SECONDS:
        raise InputError(f"the reference {path.name} is {source_seconds / 60:.1f} min long; give a clip of 5 to 30 s "
                         f"of one speaker (cut it in an editor first).")
    if not np.all(np.isfinite(wav)):
        raise InputError(f"the reference {path.name} contains invalid samples (NaN/inf); re-export it as WAV or FLAC.")


def _refuse_bad_level(path: Path, wav: np.ndarray, mono: np.ndarray) -> None:
    """Clipping would be learned as part of the voice; silence holds no voice at all."""
    clip = max(clipped_fraction(wav[:, c]) for c in range(wav.shape[1]))
    if clip > 0.001:
        raise InputError(f"the reference {path.name} is clipped ({clip:.1%} of samples flat at full scale): "
                         f"the distortion would become part of the voice. Record or export it at a lower level.")
    rms_db = 20 * np.log10(np.sqrt(np.mean(np.square(mono, dtype=np.float64))) + 1e-12)
    if rms_db < -60:
        raise InputError(f"the reference {path.name} is silent ({rms_db:.0f} dBFS): it needs 3 to 30 s of clear speech.")


def _refuse_too_little_speech(path: Path, speech_s: float) -> None:
    if speech_s < MIN_SPEECH:
        what = "no speech" if speech_s == 0 else f"only {speech_s:.1f} s of speech"
        raise InputError(f"the reference {path.name} has {what}; enrollment needs at least {MIN_SPEECH:.0f} s "
                         f"(5 to 10 s of one speaker reading is best).")


def _speech_seconds(flags: np.ndarray, frame_s: float) -> float:
    return float(flags.sum()) * frame_s


def _cut_to_best_speech(mono: np.ndarray, flags: np.ndarray, sr: int,
                        frame_s: float) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """The best MAX_WINDOW seconds of speech: (samples, speech flags, (start, end) in the source)."""
    a, b = _best_window(flags, frame_s, MAX_WINDOW)
    window = (a * frame_s, b * frame_s)
    return mono[int(window[0] * sr): int(window[1] * sr)], flags[a:b], window


def _trim_edges(mono: np.ndarray, flags: np.ndarray, frame_s: float, sr: int) -> np.ndarray:
    """Silence at the edges cut, keeping 0.15 s of air."""
    on = np.flatnonzero(flags)
    lo = max(0, int((on[0] * frame_s - 0.15) * sr))
    hi = min(len(mono), int(((on[-1] + 1) * frame_s + 0.15) * sr))
    return mono[lo:hi]


def _levelled_24k(mono: np.ndarray, sr: int) -> np.ndarray:
    """At the model's rate and LEVEL_LUFS, peaks kept under 0.99."""
    wav24 = audio.resample(mono, sr, SAMPLE_RATE) if sr != SAMPLE_RATE else mono
    wav24, _ = audio.loudness_normalize(wav24.astype(np.float32), SAMPLE_RATE, LEVEL_LUFS)
    peak = float(np.max(np.abs(wav24)))
    if peak > 0.99:
        wav24 = wav24 * (0.99 / peak)
    return wav24


def _quality_notices(speech_s: float, bw: float) -> list[str]:
    """What the user should know about a usable but weak reference."""
    notices = []
    if speech_s < ASK_SPEECH:
        notices.append(f"only {speech_s:.1f} s of speech: enrollment uses more optimisation steps; "
                       f"5 to 10 s of speech gives a closer voice")
    if bw < 7000:
        notices.append(f"the recording carries sound only up to {bw / 1000:.1f} kHz (telephone or low bit rate): "
                       f"the voice is matched below that, and keeps the starting voice's brightness above it")
    return notices
