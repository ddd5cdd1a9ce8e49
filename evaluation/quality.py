"""Quality: DNSMOS P.835 (SIG, BAK, OVRL) and P.808, the ONNX models bundled in PyPI ``speechmos``.

DNSMOS scores 9.01 s windows of 16 kHz audio; speechmos repeats a shorter clip end to end until it
fills one window (the reference implementation does the same), so a 3 s take is scored as three
copies of itself. Non-personalised model (the take has one clean voice and no interferer).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RATE = 16000


@dataclass(frozen=True)
class Dnsmos:
    ovrl: float   # overall quality, 1–5
    sig: float    # speech signal quality, 1–5
    bak: float    # background (noise) quality, 1–5
    p808: float   # ITU-T P.808 MOS estimate, 1–5


def dnsmos(audio: np.ndarray, rate: int = RATE) -> Dnsmos:
    """DNSMOS of a mono take at 16 kHz (values clipped to [-1, 1] first: DNSMOS refuses beyond)."""
    if rate != RATE:
        raise ValueError(f"DNSMOS needs {RATE} Hz audio, got {rate} Hz: resample first")
    if len(audio) == 0:
        raise ValueError("DNSMOS of an empty take")
    from speechmos import dnsmos as _dnsmos

    d = _dnsmos.run(np.clip(audio.astype(np.float32), -1.0, 1.0), sr=RATE)
    return Dnsmos(float(d["ovrl_mos"]), float(d["sig_mos"]), float(d["bak_mos"]), float(d["p808_mos"]))
