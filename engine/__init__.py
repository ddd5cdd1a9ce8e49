"""takefit.engine — offline speech takes fitted to the sample.

    from takefit.engine import Engine, RenderRequest, Target
    take = Engine().render(RenderRequest("你好，takefit!", target=Target.parse("77@23.976")))
"""
from .engine import Engine, choose_method
from .errors import AssetError, FitError, InputError, OutputError, TakefitError, UnknownVoiceError
from .frontend import Lexicon
from .request import FIT_METHODS, PhonemeDuration, RenderRequest, Take
from .target import Target, parse_rate

__version__ = "0.1.0"
ENGINE_ID = "kokoro-82m-v1.0-int8"

__all__ = ["Engine", "RenderRequest", "Take", "Target", "PhonemeDuration", "Lexicon", "FIT_METHODS",
           "TakefitError", "InputError", "UnknownVoiceError", "FitError", "AssetError", "OutputError",
           "parse_rate", "choose_method", "__version__", "ENGINE_ID"]
