"""What the inversion minimises: (1 − speaker cosine) + 0.1 × L1 of the long-term average log-mel
+ 0.1 × the distance between the cepstra's mean and spread (issue #23).

All terms are computed in torch from the decoder's waveform. The speaker term is Resemblyzer's GE2E
encoder (engine/speaker.py, differentiable); the spectrum term is an 80-band log-mel averaged over the
whole utterance, level-normalised, and only over the bands the reference really carries, so a
telephone or MP3 reference cannot teach the voice to sound muffled. A frame-aligned mel loss is
deliberately absent: it pulls the style off the voices' manifold (measured worse).

The cepstrum term is the Gaussian speaker model of pre-neural speaker recognition: the mean and the
covariance of 20 cepstral coefficients (c1–c20 of the in-band log-mel, level-free) over the speech
frames. Resemblyzer is satisfied early (0.94–0.98 on the optimised utterances) by a timbre that another
encoder hears as only 0.73–0.82 of the speaker; the spread of the spectral envelope from frame to frame
is something it is invariant to and a speaker has. Like the spectrum term it compares statistics of whole
utterances, never frames, so other words can be held to it. Held-out d-vector on real recordings,
bench/enroll_real.py: see pipeline.py RECIPES.

Band-limited references (below FULL_BAND) say nothing about the voice above their cut-off, and the
speaker term only sees band-limited audio, so nothing would hold the upper bands: the tilt term keeps
the generated voice's long-term spectrum above the cut-off, relative to its own in-band level, where
the starting voice had it, reading the same words (Δ = 0; one anchor per utterance) — the voice keeps its brightness.

An optional channel (`channel_bands` > 0, off in the shipped recipes): a smooth EQ of K mel-spaced gains,
learned jointly with Δ and applied to the generated audio before the speaker and spectrum terms, so that
the reference's microphone and room colour can be absorbed by the channel rather than by Δ (issue #23).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..kokoro import SAMPLE_RATE
from ..speaker import ResemblyzerEncoder

SPECTRUM_WEIGHT = 0.1
CEPSTRUM_WEIGHT = 0.1       # the recipes' default (pipeline.py Recipe.cepstrum)
CEPSTRA = 20                # c1 … c20: the envelope's shape; c0 (the level) is left out
TILT_WEIGHT = 0.1           # same scale as the spectrum term: L1 in log-mel units above the cut-off
N_FFT, HOP, BANDS = 1024, 256, 80
FULL_BAND = 7600.0          # the speaker encoder sees up to 8 kHz: narrower references get the same band-limit
CHANNEL_LOW_HZ = 60.0       # below the lowest voice fundamental: the channel is 0 dB there
CHANNEL_LIMIT_DB = 12.0     # gains are bounded (tanh) so the channel cannot mute or boost a band without limit
CHANNEL_WEIGHT = 1e-3       # L2 on the gains (dB²): a 3 dB band costs 0.009, against 1 − cos of 0.3 → 0.06 over a run


def _lowpass_filter() -> torch.Tensor:
    """FIR for 24 → 16 kHz polyphase resampling (×2 up, lowpass at 7.6 kHz, ÷3 down)."""
    from scipy.signal import firwin

    return torch.from_numpy(2.0 * firwin(121, 7600 / 24000, window=("kaiser", 8.0)).astype(np.float32))


def _dct(bands: int, count: int) -> torch.Tensor:
    """DCT-II rows 1 … count over `bands` log-mel bands (row 0, the level, left out)."""
    k = torch.arange(bands, dtype=torch.float32)
    rows = torch.arange(1, count + 1, dtype=torch.float32)
    return torch.cos(torch.pi / bands * (k[None, :] + 0.5) * rows[:, None])


@dataclass
class Terms:
    total: float
    speaker: float           # cosine similarity (higher is closer)
    spectrum: float          # L1 in log-mel (natural log units)
    tilt: float = 0.0        # L1 above a band-limited reference's cut-off, vs the starting voice
    cepstrum: float = 0.0    # the cepstra's mean and covariance against the reference's (0 when off)
    channel: float = 0.0     # the channel's L2 penalty (0 without a channel)


@dataclass(frozen=True)
class ChannelCurve:
    """A learned channel: gains (dB) at mel-spaced centres, 0 dB at CHANNEL_LOW_HZ and from 1.3 × the last
    centre up, linear in log-frequency between (bench/enroll_eq.py design_fir reads the same points)."""
    centres_hz: np.ndarray
    gains_db: np.ndarray


def channel_centres(bands: int, top_hz: float) -> np.ndarray:
    """`bands` centres, mel-spaced from CHANNEL_LOW_HZ to `top_hz` (geometric centres of the mel bands)."""
    lo, hi = (2595 * np.log10(1 + f / 700) for f in (CHANNEL_LOW_HZ, top_hz))
    edges = 700.0 * (10 ** (np.linspace(lo, hi, bands + 1) / 2595) - 1)
    return np.sqrt(edges[:-1] * edges[1:])


class Channel:
    """A smooth, bounded EQ with learnable gains, applied by one rfft multiply over the whole utterance
    (zero-phase; circular, which the long-term terms cannot hear). Interpolation weights are cached per length."""

    def __init__(self, bands: int, top_hz: float):
        if bands < 2:
            raise ValueError(f"a channel needs ≥ 2 bands (got {bands}); 0 turns it off")
        self.centres = channel_centres(bands, top_hz)
        self.raw = torch.zeros(bands, requires_grad=True)       # dB before the tanh bound
        self._basis: dict[int, torch.Tensor] = {}

    def gains_db(self) -> torch.Tensor:
        return CHANNEL_LIMIT_DB * torch.tanh(self.raw / CHANNEL_LIMIT_DB)

    def basis(self, n: int) -> torch.Tensor:
        """(bins, bands): each band's share of each rfft bin's dB, the hat functions of the interpolation."""
        if n not in self._basis:
            logf = np.log(np.maximum(np.fft.rfftfreq(n, 1 / SAMPLE_RATE), 1.0))
            points = np.log(np.concatenate([[CHANNEL_LOW_HZ], self.centres, [self.centres[-1] * 1.3]]))
            eye = np.eye(len(self.centres))
            hats = [np.interp(logf, points, np.concatenate([[0.0], e, [0.0]])) for e in eye]
            self._basis[n] = torch.from_numpy(np.stack(hats, 1).astype(np.float32))
        return self._basis[n]

    def __call__(self, wav: torch.Tensor) -> torch.Tensor:
        gain = 10 ** (self.basis(len(wav)) @ self.gains_db() / 20)
        return torch.fft.irfft(torch.fft.rfft(wav) * gain, n=len(wav))

    def penalty(self) -> torch.Tensor:
        return CHANNEL_WEIGHT * self.gains_db().pow(2).sum()

    def curve(self) -> ChannelCurve:
        return ChannelCurve(self.centres.copy(), self.gains_db().detach().numpy().astype(np.float64))


class Objective:
    def __init__(self, reference: np.ndarray, bandwidth_hz: float, encoder: ResemblyzerEncoder | None = None,
                 channel_bands: int = 0, cepstrum_weight: float = CEPSTRUM_WEIGHT):
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
        # up to what both terms hear: the encoder's 7.6 kHz, or the reference's narrower band
        self.channel = Channel(channel_bands, min(self.band, FULL_BAND)) if channel_bands else None
        self.cepstrum_weight = float(cepstrum_weight)
        self.dct = _dct(int(self.valid.sum()), CEPSTRA)
        ref = torch.from_numpy(np.asarray(reference, np.float32))
        self.ref_rms = ref.pow(2).mean().sqrt()
        with torch.no_grad():
            self.target_embed = self._embed(ref)
            self.target_ltas = self._ltas(ref)
            self.target_cepstra = self._cepstra(ref)

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

    def _speech_mel(self, wav: torch.Tensor) -> torch.Tensor:
        """Mel power (80 bands × frames) of the speech frames: within 40 dB of the loudest, not the pauses."""
        spec = torch.stft(wav, N_FFT, HOP, window=self.window, return_complex=True).abs().pow(2)
        frame_db = 10 * torch.log10(spec.sum(0) + 1e-10)
        active = (frame_db > frame_db.max() - 40).detach()
        return self.mel @ spec[:, active]

    def _log_mel(self, wav: torch.Tensor) -> torch.Tensor:
        """Long-term average log-mel over the speech frames, all 80 bands."""
        return torch.log(self._speech_mel(wav).mean(1) + 1e-8)

    def _cepstra(self, wav: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and covariance of c1 … c20 of the in-band log-mel, over the speech frames."""
        cep = self.dct @ torch.log(self._speech_mel(wav)[self.valid] + 1e-8)
        mean = cep.mean(1)
        centred = cep - mean[:, None]
        return mean, centred @ centred.T / max(1, centred.shape[1] - 1)

    def _cepstrum_distance(self, wav: torch.Tensor) -> torch.Tensor:
        """|Δ mean| / 10 (a coefficient moves by units) + ‖Δ covariance‖ relative to the reference's."""
        mean, cov = self._cepstra(wav)
        ref_mean, ref_cov = self.target_cepstra
        return (mean - ref_mean).abs().mean() / 10 + torch.linalg.norm(cov - ref_cov) / torch.linalg.norm(ref_cov)

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
        if self.channel is None:
            return self._terms(wav, tilt, torch.zeros(()))
        # the channel after the tilt: that term keeps the voice's own brightness, not the microphone's
        return self._terms(self.channel(wav), tilt, self.channel.penalty())

    def _terms(self, wav: torch.Tensor, tilt: torch.Tensor, penalty: torch.Tensor) -> tuple[torch.Tensor, Terms]:
        wav = wav * (self.ref_rms / (wav.pow(2).mean().sqrt() + 1e-8))       # level is not identity
        cos = torch.dot(self._embed(wav), self.target_embed)
        spec = (self._ltas(wav) - self.target_ltas).abs().mean()
        cep = self._cepstrum_distance(wav) if self.cepstrum_weight else torch.zeros(())
        loss = (1 - cos) + SPECTRUM_WEIGHT * spec + TILT_WEIGHT * tilt + self.cepstrum_weight * cep
        if self.channel is not None:
            loss = loss + penalty
        return loss, Terms(loss.item(), cos.item(), spec.item(), tilt=tilt.item(), cepstrum=cep.item(),
                           channel=penalty.item())
