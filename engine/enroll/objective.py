"""What the inversion minimises: (1 − speaker cosine) + 0.1 × L1 of the long-term average log-mel.

Both terms are computed in torch from the decoder's waveform. The speaker term is Resemblyzer's GE2E
encoder (engine/speaker.py, differentiable); the spectrum term is an 80-band log-mel averaged over the
whole utterance, level-normalised, and only over the bands the reference really carries, so a
telephone or MP3 reference cannot teach the voice to sound muffled. A frame-aligned mel loss is
deliberately absent: it pulls the style off the voices' manifold (measured worse).

Band-limited references (below FULL_BAND) say nothing about the voice above their cut-off, and the
speaker term only sees band-limited audio, so nothing would hold the upper bands: the tilt term keeps
the generated voice's long-term spectrum above the cut-off, relative to its own in-band level, where
the starting voice had it, reading the same words (Δ = 0; one anchor per utterance) — the voice keeps its brightness.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..kokoro import SAMPLE_RATE
from ..speaker import ResemblyzerEncoder

SPECTRUM_WEIGHT = 0.1
TILT_WEIGHT = 0.1           # same scale as the spectrum term: L1 in log-mel units above the cut-off
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
    tilt: float = 0.0        # L1 above a band-limited reference's cut-off, vs the starting voice


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
        self.upper = torch.from_numpy(centers >= self.band) if self.band < FULL_BAND else None
        self.anchors: dict[int, torch.Tensor] = {}       # per utterance: the starting voice's upper bands
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

    def _log_mel(self, wav: torch.Tensor) -> torch.Tensor:
        """Long-term average log-mel over the speech frames (not the pauses), all 80 bands."""
        spec = torch.stft(wav, N_FFT, HOP, window=self.window, return_complex=True).abs().pow(2)
        frame_db = 10 * torch.log10(spec.sum(0) + 1e-10)
        active = (frame_db > frame_db.max() - 40).detach()
        return torch.log((self.mel @ spec[:, active]).mean(1) + 1e-8)

    def _ltas(self, wav: torch.Tensor) -> torch.Tensor:
        ltas = self._log_mel(wav)[self.valid]
        return ltas - ltas.mean()

    def _upper(self, wav: torch.Tensor) -> torch.Tensor:
        """Log-mel above the cut-off relative to the in-band mean: the voice's brightness, level-free."""
        full = self._log_mel(wav)
        return full[self.upper] - full[self.valid].mean()

    def anchor(self, utterance: int, start: torch.Tensor) -> None:
        """The starting voice's own reading of `utterance` (Δ = 0): where its upper bands stay. Each
        utterance needs its own: other words have another long-term spectrum above the cut-off."""
        if self.upper is not None:
            with torch.no_grad():
                self.anchors[utterance] = self._upper(start)

    # ------------------------------------------------------------------ the loss
    def __call__(self, wav: torch.Tensor, utterance: int = 0) -> tuple[torch.Tensor, Terms]:
        """Loss for `wav`, a reading of `utterance`; without an anchor for it, this call (Δ = 0) sets it."""
        tilt = torch.zeros(())
        if self.upper is not None:
            upper = self._upper(wav)
            if utterance not in self.anchors:
                self.anchors[utterance] = upper.detach()
            tilt = (upper - self.anchors[utterance]).abs().mean()
        wav = self.band_limit(wav)
        wav = wav * (self.ref_rms / (wav.pow(2).mean().sqrt() + 1e-8))       # level is not identity
        cos = torch.dot(self._embed(wav), self.target_embed)
        spec = (self._ltas(wav) - self.target_ltas).abs().mean()
        loss = (1 - cos) + SPECTRUM_WEIGHT * spec + TILT_WEIGHT * tilt
        return loss, Terms(loss.item(), cos.item(), spec.item(), tilt.item())
