"""What the inversion minimises: (1 − speaker cosine) + 0.1 × L1 of the long-term average log-mel.

Both terms are computed in torch from the decoder's waveform. The speaker term is Resemblyzer's GE2E
encoder (engine/speaker.py, differentiable); the spectrum term is an 80-band log-mel averaged over the
whole utterance, level-normalised, and only over the bands the reference really carries, so a
telephone or MP3 reference cannot teach the voice to sound muffled. A frame-aligned mel loss is
deliberately absent: it pulls the style off the voices' manifold (measured worse).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..kokoro import SAMPLE_RATE
from ..speaker import ResemblyzerEncoder

SPECTRUM_WEIGHT = 0.1
N_FFT, HOP, BANDS = 1024, 256, 80
FULL_BAND = 7600.0          # the speaker encoder sees up to 8 kHz: narrower references get the same band-limit


def _lowpass_filter() -> torch.Tensor:
    """FIR for 24 → 16 kHz polyphase resampling (×2 up, lowpass at 7.6 kHz, ÷3 down)."""
    from scipy.signal import firwin

    return torch.from_numpy(2.0 * firwin(121, 7600 / 24000, window=("kaiser", 8.0)).astype(np.float32))


@dataclass
class Terms:
    total: float
    speaker: float           # cosine similarity (higher is closer)
    spectrum: float          # L1 in log-mel (natural log units)


class Objective:
    def __init__(self, reference: np.ndarray, bandwidth_hz: float, encoder: ResemblyzerEncoder | None = None):
        import librosa

        self.encoder = encoder or ResemblyzerEncoder()
        self.fir = _lowpass_filter()[None, None]
        self.band = float(min(bandwidth_hz, SAMPLE_RATE / 2))
        mel = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=BANDS, fmax=SAMPLE_RATE / 2)
        centers = librosa.mel_frequencies(BANDS + 2, fmax=SAMPLE_RATE / 2)[1:-1]
        self.mel = torch.from_numpy(mel)
        self.valid = torch.from_numpy(centers < self.band * 0.95)
        self.window = torch.hann_window(N_FFT)
        ref = torch.from_numpy(np.asarray(reference, np.float32))
        self.ref_rms = ref.pow(2).mean().sqrt()
        with torch.no_grad():
            self.target_embed = self._embed(ref)
            self.target_ltas = self._ltas(ref)

    # ------------------------------------------------------------------ pieces
    def band_limit(self, wav: torch.Tensor) -> torch.Tensor:
        """Brick-wall the generated audio to the reference's bandwidth (telephone-like references)."""
        if self.band >= FULL_BAND:
            return wav
        spec = torch.fft.rfft(wav)
        freqs = torch.fft.rfftfreq(len(wav), 1 / SAMPLE_RATE)
        return torch.fft.irfft(spec * (freqs < self.band), n=len(wav))

    def to16k(self, wav: torch.Tensor) -> torch.Tensor:
        up = torch.stack([wav, torch.zeros_like(wav)], dim=-1).reshape(1, 1, -1)
        y = F.conv1d(up, self.fir, padding=self.fir.shape[-1] // 2)
        return y.reshape(-1)[::3]

    def _embed(self, wav: torch.Tensor) -> torch.Tensor:
        return self.encoder.embed_torch(self.to16k(wav))

    def _ltas(self, wav: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(wav, N_FFT, HOP, window=self.window, return_complex=True).abs().pow(2)
        frame_db = 10 * torch.log10(spec.sum(0) + 1e-10)
        active = (frame_db > frame_db.max() - 40).detach()         # speech frames, not the pauses
        ltas = torch.log((self.mel @ spec[:, active]).mean(1) + 1e-8)[self.valid]
        return ltas - ltas.mean()

    # ------------------------------------------------------------------ the loss
    def __call__(self, wav: torch.Tensor) -> tuple[torch.Tensor, Terms]:
        wav = self.band_limit(wav)
        wav = wav * (self.ref_rms / (wav.pow(2).mean().sqrt() + 1e-8))       # level is not identity
        cos = torch.dot(self._embed(wav), self.target_embed)
        spec = (self._ltas(wav) - self.target_ltas).abs().mean()
        loss = (1 - cos) + SPECTRUM_WEIGHT * spec
        return loss, Terms(loss.item(), cos.item(), spec.item())
