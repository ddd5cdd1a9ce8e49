"""takefit.engine — offline speech takes fitted to the sample.

    from takefit.engine import Engine, RenderRequest, Target
    take = Engine().render(RenderRequest("你好，takefit!", target=Target.parse("77@23.976")))

The model-facing names (Engine, Lexicon) and the take (numpy) load on first use, so light users of
this package (errors, targets, requests: the daemon client, the CLI's argument parsing) stay fast.
"""
import importlib

from .errors import AssetError, FitError, InputError, OutputError, TakefitError, UnknownVoiceError
from .request import AUTO_METHOD, FIT_METHODS, RenderRequest
from .target import Target, parse_rate

__version__ = "0.1.0"
ENGINE_ID = "kokoro-82m-v1.0-int8"
# Bumped whenever the same request renders different audio (fitting, emotion, voicing changes), so
# cached takes from an older rendering are not served for it. 3: speech fills the slot (engine/fill.py).
# 4: the level's ceiling is on the true peak, −1 dBTP (engine/audio.py), not on the samples.
RENDER_REVISION = 4

_LAZY = {"Engine": ".engine", "Lexicon": ".frontend", "Take": ".take", "PhonemeDuration": ".take"}

__all__ = ["Engine", "RenderRequest", "Take", "Target", "PhonemeDuration", "Lexicon", "FIT_METHODS",
           "TakefitError", "InputError", "UnknownVoiceError", "FitError", "AssetError", "OutputError",
           "parse_rate", "AUTO_METHOD", "__version__", "ENGINE_ID", "RENDER_REVISION"]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
