"""The embedded Kokoro-82M v1.0 (int8 ONNX), split into duration / prosody / decoder stages.

Units: the duration stage predicts, per token, a length in frames of 600 samples at 24 kHz (25 ms);
the prosody stage turns whole-frame durations into F0 and energy curves (2 values per frame); the
decoder renders exactly sum(durations) * 600 samples.
"""
from .model import KokoroModel, SAMPLE_RATE, FRAME_SAMPLES, MAX_TOKENS
from .voices import VoiceBank, VoiceInfo

__all__ = ["KokoroModel", "VoiceBank", "VoiceInfo", "SAMPLE_RATE", "FRAME_SAMPLES", "MAX_TOKENS"]
