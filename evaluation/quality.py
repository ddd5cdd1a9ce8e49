"""Quality: DNSMOS P.835 (SIG, BAK, OVRL) and P.808, the ONNX models bundled in PyPI ``speechmos``.

DNSMOS scores 9.01 s windows of 16 kHz audio. A shorter clip is repeated end to end until it fills a
window (as in Microsoft's ``dnsmos_local.py`` and ``speechmos.dnsmos.run``). Those scripts then also
score every 1 s shift of the repeated clip (a 4 s take doubled to 16 s gives seven windows), but each
such window holds the same audio, only rotated: here a short take is scored on its first window
only: on 36 real 1.5–5 s takes that cost 3.4× less CPU and moved OVRL by 0.005 per take on average
(mean difference 0.000, r = 0.996; bench/dnsmos_windows.py, bench/results/dnsmos_windows.md). A take of 9.01 s or more is scored on
every 1 s hop, as the reference does. The ONNX sessions are created once per process with a
fixed thread count. Non-personalised model (the take has one clean voice and no interferer).

Because a short take is repeated, the silence it carries becomes the pause between repetitions and
moves the score: the same 12 natural takes scored 3.17 as rendered (40 ms after the speech), 3.26
with 0.5 s of digital silence appended. Takes are therefore scored on their speech span (10 ms frames
within 40 dB of the loudest) with a fixed PAUSE of silence after it (`speech_with_pause`), so that a
take's trailing silence (a slot-filling change, a padded slot) does not count as quality.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from takefit.engine.speech import speech_span

RATE = 16000
WINDOW = int(9.01 * RATE)    # samples per scored window
HOP = RATE                   # between windows of a long clip

# Non-personalised P.835 polynomials (speechmos / dnsmos_local.py).
_P_OVR = np.poly1d([-0.06766283, 1.11546468, 0.04602535])
_P_SIG = np.poly1d([-0.08397278, 1.22083953, 0.0052439])
_P_BAK = np.poly1d([-0.13166888, 1.60915514, -0.39604546])


PAUSE = int(0.3 * RATE)      # silence after the speech span: the pause between repetitions


def speech_with_pause(audio: np.ndarray) -> np.ndarray:
    """The speech span of a 16 kHz take (takefit.engine.speech: 10 ms frames within 40 dB of the
    loudest) and PAUSE of silence; a silent take whole."""
    x = np.asarray(audio, np.float32).reshape(-1)
    span = speech_span(x, RATE)
    start, end = span if span is not None else (0, len(x))
    return np.concatenate([x[start:end], np.zeros(PAUSE, np.float32)])


@dataclass(frozen=True)
class Dnsmos:
    ovrl: float   # overall quality, 1–5
    sig: float    # speech signal quality, 1–5
    bak: float    # background (noise) quality, 1–5
    p808: float   # ITU-T P.808 MOS estimate, 1–5


def windows(audio: np.ndarray) -> list[np.ndarray]:
    """The 9.01 s windows DNSMOS scores: one (the take repeated to fill it) for a short take, every
    1 s hop for a long one."""
    if len(audio) < WINDOW:
        return [np.resize(audio, WINDOW)]     # np.resize repeats the clip end to end
    count = (len(audio) - WINDOW) // HOP + 1
    return [audio[i * HOP: i * HOP + WINDOW] for i in range(count)]


class DnsmosMeter:
    """The two DNSMOS networks (P.835 sig/bak/ovr and P.808), loaded once."""

    def __init__(self, threads: int = 1):
        import onnxruntime as ort
        import speechmos

        models = Path(speechmos.__file__).parent / "dnsmos_models"
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.primary = ort.InferenceSession(str(models / "sig_bak_ovr.onnx"), opts, providers=["CPUExecutionProvider"])
        self.p808 = ort.InferenceSession(str(models / "model_v8.onnx"), opts, providers=["CPUExecutionProvider"])

    @staticmethod
    def _melspec(audio: np.ndarray) -> np.ndarray:
        import librosa

        mel = librosa.feature.melspectrogram(y=audio, sr=RATE, n_fft=321, hop_length=160, n_mels=120)
        return ((librosa.power_to_db(mel, ref=np.max) + 40) / 40).T

    def __call__(self, audio: np.ndarray, rate: int = RATE) -> Dnsmos:
        """DNSMOS of a mono take at 16 kHz (values clipped to [-1, 1] first: DNSMOS refuses beyond)."""
        if rate != RATE:
            raise ValueError(f"DNSMOS needs {RATE} Hz audio, got {rate} Hz: resample first")
        if len(audio) == 0:
            raise ValueError("DNSMOS of an empty take")
        x = np.clip(np.asarray(audio, np.float32).reshape(-1), -1.0, 1.0)
        scores = []
        for w in windows(x):
            sig, bak, ovr = self.primary.run(None, {"input_1": w[None, :]})[0][0]
            mel = self._melspec(w[:-160]).astype(np.float32)[None]
            p808 = self.p808.run(None, {"input_1": mel})[0][0][0]
            scores.append((_P_OVR(ovr), _P_SIG(sig), _P_BAK(bak), p808))
        return Dnsmos(*(float(v) for v in np.mean(scores, axis=0)))

