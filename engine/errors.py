"""Typed errors: every one says what was wrong and what is accepted or how to fix it."""


class TakefitError(Exception):
    """Base of all takefit errors; `code` is stable for machines (CLI exit, daemon replies)."""

    code = "error"


class InputError(TakefitError, ValueError):
    """The request itself is wrong (text, voice, target, override syntax)."""

    code = "bad_input"


class UnknownVoiceError(InputError):
    code = "unknown_voice"


class FitError(InputError):
    """The target length cannot be met at all (not merely outside the natural range)."""

    code = "impossible_fit"

    def __init__(self, message: str, min_seconds: float | None = None, max_seconds: float | None = None):
        super().__init__(message)
        self.min_seconds = min_seconds
        self.max_seconds = max_seconds


class AssetError(TakefitError, RuntimeError):
    """Model assets are missing, corrupted or could not be fetched."""

    code = "asset"


class OutputError(TakefitError, OSError):
    """The output could not be written (nothing partial is left behind)."""

    code = "output"
