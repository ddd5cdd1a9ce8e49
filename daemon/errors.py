"""What a client raises for a daemon's `error` message: the engine's own classes for engine codes (a
caller handles a bad line the same whether it rendered here or in the daemon), DaemonError kinds for the rest."""
from __future__ import annotations

from takefit.engine.errors import AssetError, FitError, InputError, OutputError, TakefitError, UnknownVoiceError

from .control import DaemonError


class DaemonBusy(DaemonError):
    code = "busy"


class JobCanceledError(DaemonError):
    code = "canceled"


class BadPathError(InputError):
    code = "bad_path"


class Unauthorized(DaemonError):
    code = "unauthorized"


ENGINE_ERRORS = {"unknown_voice": UnknownVoiceError, "bad_input": InputError, "bad_path": BadPathError,
                 "asset": AssetError, "output": OutputError}
DAEMON_ERRORS = {"busy": DaemonBusy, "canceled": JobCanceledError}


def remote_error(doc: dict) -> TakefitError:
    """A daemon `error` message → the matching exception (engine codes keep their engine classes)."""
    code = str(doc.get("code", "internal"))
    message = str(doc.get("message", code))
    details = doc.get("details") or {}
    if code == "impossible_fit":
        e: TakefitError = FitError(message, details.get("min_seconds"), details.get("max_seconds"))
    elif code in ENGINE_ERRORS:
        e = ENGINE_ERRORS[code](message)
    else:
        e = DAEMON_ERRORS.get(code, DaemonError)(message, code, details)
    e.code = code
    e.details = details  # type: ignore[attr-defined]
    e.job = doc.get("job")  # type: ignore[attr-defined]
    return e
