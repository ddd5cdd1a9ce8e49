"""The embedded Kokoro-82M v1.0 (int8 ONNX), split into duration / prosody / decoder stages.

Units: the duration stage predicts, per token, a length in frames of 600 samples at 24 kHz (25 ms);
the prosody stage turns whole-frame durations into F0 and energy curves (2 values per frame); the
decoder renders exactly sum(durations) * 600 samples.
"""
from .units import FRAME_SAMPLES, MAX_TOKENS, SAMPLE_RATE
from .voices import VoiceBank, VoiceInfo

# KokoroModel (onnxruntime) loads on first use, so light users (voice lists, the daemon client, the
# CLI's parser) stay fast.

__all__ = ["KokoroModel", "VoiceBank", "VoiceInfo", "SAMPLE_RATE", "FRAME_SAMPLES", "MAX_TOKENS"]


def __getattr__(name: str):
    if name == "KokoroModel":
        from .model import KokoroModel

        globals()[name] = KokoroModel
        return KokoroModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
