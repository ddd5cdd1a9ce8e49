"""The wire protocol (version 1): framing, msgpack codec with limits, and the schema every frame is
checked against. docs/protocol.md is the human description; this module is the definition.

A message, either way, is two ZeroMQ frames (a ROUTER adds/strips the routing id):

    frame 0   b"TKF1"            signature: "takefit protocol, major version 1"
    frame 1   msgpack map        the body (client → daemon: a request with "op"; daemon → client: "type")

Only msgpack, never pickle; ext types are refused; strings are UTF-8.
"""
from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Any, Callable

import msgpack

from takefit.engine.emotion import Emotion
from takefit.engine.errors import FitError, InputError, TakefitError
from takefit.engine.request import (FIT_METHODS, LANGUAGES, MAX_HANDLE_SECONDS, MAX_PRE_ROLL, MAX_TEXT_CHARS,
                                    MAX_VARIANT, SAMPLE_RATES, SPEED_RANGE, TRUE_PEAK_RANGE, WIRE_DEFAULTS,
                                    target_string)
from takefit.engine.target import Target

PROTOCOL = 1
SUPPORTED_PROTOCOLS = (1,)
SIGNATURE = b"TKF1"
TOKEN_USER = "takefit"      # the ZeroMQ PLAIN user name of a local peer; its password is the token

# limits (the daemon reports them in `hello`)
MAX_MESSAGE_BYTES = 8 * 1024 * 1024        # one incoming message (socket ZMQ_MAXMSGSIZE and decoder)
MAX_CLIENT_MESSAGE_BYTES = 256 * 1024 * 1024  # what a client accepts (inline audio)
MAX_INLINE_BYTES = 128 * 1024 * 1024       # inline WAV bytes in one reply
MAX_BATCH = 1000                           # items in one render_batch / jobs in one watch or cancel
MAX_ID_CHARS = 64                          # request ids, job ids, batch ids
MAX_DICT_BYTES = 256 * 1024                # an inline pronunciation dictionary
MAX_OUTPUT_CHARS = 255                     # a client-chosen output name
MAX_CONTAINER = 4096                       # any msgpack array/map the decoder will build

PRIORITIES = {"low": 0, "normal": 1, "high": 2}
JOB_STATES = ("queued", "running", "done", "failed", "canceled")
FINAL_STATES = ("done", "failed", "canceled")

# every error code a daemon sends (type "error", field "code")
ERROR_CODES = {
    # protocol
    "bad_frame": "not a TKF message: wrong frame count, signature or undecodable msgpack",
    "unsupported_version": "the signature or hello names a protocol version this daemon does not speak",
    "too_large": "the message (or a field in it) is over a size limit",
    "bad_message": "a field has the wrong type, size or range, or a required field is missing",
    "unknown_op": "no such operation",
    "unknown_field": "a field the operation does not define",
    # jobs and daemon state
    "busy": "the queue is full; retry later (details: queued, limit, retry_after_ms)",
    "not_found": "no such job (or it was pruned from the journal)",
    "conflict": "a job id reused with a different request",
    "canceled": "the job was canceled",
    "shutting_down": "the daemon is stopping; accepted jobs stay queued and resume on the next start",
    "bad_path": "an output name that is absolute, uses '..', is not .wav or escapes the output root",
    "internal": "a bug in the daemon (logged); the daemon keeps running",
    # engine (TakefitError.code)
    "bad_input": "the request is wrong (text, target, rate, ranges, dictionary)",
    "unknown_voice": "no such voice",
    "impossible_fit": "the target length cannot be met (details: min_seconds, max_seconds)",
    "asset": "model assets missing or corrupted",
    "output": "the take could not be written",
}


class ProtocolError(Exception):
    """A message the daemon refuses; becomes a typed `error` reply."""

    def __init__(self, code: str, message: str, details: dict | None = None):
        super().__init__(message)
        assert code in ERROR_CODES, code
        self.code = code
        self.message = message
        self.details = details or {}


# ------------------------------------------------------------------------------------------- codec
def error_doc(err: BaseException) -> dict:
    """An exception → the error fields of a reply (code, message, details); unknown kinds are `internal`."""
    if isinstance(err, ProtocolError):
        return {"code": err.code, "message": err.message, "details": err.details}
    if isinstance(err, TakefitError):
        details = {}
        if isinstance(err, FitError):
            details = {k: v for k, v in (("min_seconds", err.min_seconds), ("max_seconds", err.max_seconds))
                       if v is not None}
        code = err.code if err.code in ERROR_CODES else "internal"
        return {"code": code, "message": str(err), "details": details}
    return {"code": "internal", "message": f"{type(err).__name__}: {err}"[:500], "details": {}}


def pack(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True, strict_types=False)


def _no_ext(code: int, data: bytes):
    raise ProtocolError("bad_frame", f"msgpack ext type {code} is not allowed")


def unpack(data: bytes, limit: int = MAX_MESSAGE_BYTES) -> Any:
    """Decode one body with hard limits; anything odd is a ProtocolError, never another exception."""
    if len(data) > limit:
        raise ProtocolError("too_large", f"message is {len(data)} bytes; the limit is {limit}",
                            {"limit": limit})
    try:
        doc = msgpack.unpackb(data, raw=False, use_list=True, strict_map_key=True, ext_hook=_no_ext,
                              timestamp=0, max_str_len=limit, max_bin_len=limit,
                              max_array_len=MAX_CONTAINER if limit <= MAX_MESSAGE_BYTES else limit,
                              max_map_len=MAX_CONTAINER if limit <= MAX_MESSAGE_BYTES else limit)
        if _TIMESTAMP_MARK.search(data):              # rare: only then walk the document
            _refuse_timestamps(doc)
        return doc
    except ProtocolError:
        raise
    except msgpack.ExtraData:
        raise ProtocolError("bad_frame", "trailing bytes after the msgpack body") from None
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError, UnicodeDecodeError, OverflowError,
            MemoryError) as e:
        raise ProtocolError("bad_frame", f"undecodable msgpack body: {type(e).__name__}: {e}"[:300]) from None


# msgpack decodes extension type -1 (timestamps) itself, past ext_hook; their three encodings start so
_TIMESTAMP_MARK = re.compile(rb"\xd6\xff|\xd7\xff|\xc7\x0c\xff")


def _refuse_timestamps(doc: Any) -> None:
    """The protocol has no timestamp type: refuse one anywhere (iterative: a document may be deep)."""
    todo = [doc]
    while todo:
        item = todo.pop()
        if isinstance(item, msgpack.Timestamp):
            raise ProtocolError("bad_frame", "msgpack timestamps are not part of the protocol (ext type -1); "
                                "send times as numbers")
        if isinstance(item, dict):
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)


def split_frames(frames: list[bytes], limit: int = MAX_MESSAGE_BYTES) -> Any:
    """[signature, body] → decoded body; framing errors are ProtocolErrors."""
    if len(frames) != 2:
        raise ProtocolError("bad_frame", f"expected 2 frames (signature, body), got {len(frames)}")
    sig, body = frames
    if sig != SIGNATURE:
        if len(sig) == 4 and sig[:3] == SIGNATURE[:3]:
            raise ProtocolError("unsupported_version", f"signature {sig!r}: this daemon speaks {SIGNATURE!r}",
                                {"supported": list(SUPPORTED_PROTOCOLS)})
        raise ProtocolError("bad_frame", f"bad signature frame {sig[:16]!r}: expected {SIGNATURE!r}")
    return unpack(body, limit)


# ------------------------------------------------------------------------------------------- schema
Validator = Callable[[Any, str], Any]


def _fail(path: str, what: str, value: Any) -> ProtocolError:
    kind = type(value).__name__
    return ProtocolError("bad_message", f"{path}: expected {what}, got {kind}"
                         + (f" {value!r}"[:80] if isinstance(value, (int, float, bool)) or value is None else ""),
                         {"field": path})


def v_str(max_chars: int, min_chars: int = 0, choices: tuple | None = None, pattern: str | None = None,
          max_bytes: int | None = None) -> Validator:
    rx = re.compile(pattern) if pattern else None

    def check(value, path):
        if not isinstance(value, str):
            raise _fail(path, "a string", value)
        if max_bytes is not None and len(value.encode("utf-8", "surrogatepass")) > max_bytes:
            raise ProtocolError("too_large", f"{path}: at most {max_bytes} bytes", {"field": path, "limit": max_bytes})
        if len(value) > max_chars:
            raise ProtocolError("too_large", f"{path}: {len(value)} characters, at most {max_chars}",
                                {"field": path, "limit": max_chars})
        if len(value) < min_chars:
            raise ProtocolError("bad_message", f"{path}: at least {min_chars} character(s)", {"field": path})
        if choices is not None and value not in choices:
            raise ProtocolError("bad_message", f"{path}: {value[:40]!r} is not one of {', '.join(choices)}",
                                {"field": path, "accepted": list(choices)})
        if rx is not None and not rx.fullmatch(value):
            raise ProtocolError("bad_message", f"{path}: {value[:40]!r} does not match {pattern}", {"field": path})
        return value
    return check


def v_int(lo: int, hi: int, choices: tuple | None = None) -> Validator:
    def check(value, path):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(path, "an integer", value)
        if not (lo <= value <= hi) or (choices is not None and value not in choices):
            raise ProtocolError("bad_message", f"{path}: {value} out of range "
                                + (f"(accepted {', '.join(map(str, choices))})" if choices else f"[{lo}, {hi}]"),
                                {"field": path})
        return value
    return check


def v_num(lo: float, hi: float) -> Validator:
    def check(value, path):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(path, "a number", value)
        v = float(value)
        if not math.isfinite(v) or not (lo <= v <= hi):
            raise ProtocolError("bad_message", f"{path}: {value!r} out of range [{lo:g}, {hi:g}]", {"field": path})
        return v
    return check


def v_bool() -> Validator:
    def check(value, path):
        if not isinstance(value, bool):
            raise _fail(path, "true or false", value)
        return value
    return check


def v_opt(inner: Validator) -> Validator:
    def check(value, path):
        return None if value is None else inner(value, path)
    return check


def v_list(item: Validator, max_len: int, min_len: int = 0) -> Validator:
    def check(value, path):
        if not isinstance(value, list):
            raise _fail(path, "an array", value)
        if len(value) > max_len:
            raise ProtocolError("too_large", f"{path}: {len(value)} items, at most {max_len}",
                                {"field": path, "limit": max_len})
        if len(value) < min_len:
            raise ProtocolError("bad_message", f"{path}: at least {min_len} item(s)", {"field": path})
        return [item(v, f"{path}[{i}]") for i, v in enumerate(value)]
    return check


class Field:
    def __init__(self, validator: Validator, required: bool = False, default: Any = None):
        self.validator, self.required, self.default = validator, required, default


def v_map(fields: dict[str, Field]) -> Validator:
    def check(value, path):
        if not isinstance(value, dict):
            raise _fail(path, "a map", value)
        out = {}
        for k in value:
            if k not in fields:
                name = k if isinstance(k, str) else repr(k)
                raise ProtocolError("unknown_field", f"{path}.{name}"[:120] + ": unknown field; accepted: "
                                    + ", ".join(sorted(fields)), {"field": f"{path}.{name}"[:120]})
        for k, f in fields.items():
            if k in value:
                out[k] = f.validator(value[k], f"{path}.{k}")
            elif f.required:
                raise ProtocolError("bad_message", f"{path}.{k}: required field missing", {"field": f"{path}.{k}"})
            else:
                out[k] = f.default() if callable(f.default) else f.default
        return out
    return check


ID = v_str(MAX_ID_CHARS, 1, pattern=r"[A-Za-z0-9_.:\-]+")
REQ_ID = Field(lambda v, p: v if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2 ** 63
               else ID(v, p))
PRIORITY = v_str(8, choices=tuple(PRIORITIES))
VOICE_NAME = v_str(40, 1, pattern=r"[A-Za-z][A-Za-z0-9_\-]{0,39}")

def v_emotion() -> Validator:
    """A render request's emotion (docs/protocol.md): exactly one form, values in range, clear errors."""
    shape = v_map({
        "preset": Field(v_opt(v_str(32, 1))), "intensity": Field(v_opt(v_num(0.0, 1.0))),
        "vector": Field(v_opt(v_list(v_num(0.0, 1.0), 8, 8))),
        "text": Field(v_opt(v_str(500, 1))), "reference": Field(v_opt(v_str(4096, 1))),
        "from_line": Field(v_opt(v_bool())), "alpha": Field(v_opt(v_num(0.0, 1.0))),
    })

    def check(value, path):
        doc = {k: v for k, v in shape(value, path).items() if v is not None}
        if doc.get("reference") is not None and not doc["reference"].startswith("/") and \
                not re.match(r"^[A-Za-z]:[\\/]", doc["reference"]):
            raise ProtocolError("bad_message", f"{path}.reference: must be an absolute path (the daemon's working "
                                "folder is not the client's)", {"field": f"{path}.reference"})
        try:
            Emotion.from_json(doc)
        except InputError as e:
            raise ProtocolError("bad_message", f"{path}: {e}", {"field": path}) from None
        return doc
    return check


_D = WIRE_DEFAULTS          # RenderRequest's own defaults: defined once, in the engine
# a voice is a name (built-in, enrolled, a backend's listed clip) or, for a backend with clip voices, an
# audio file's path on the daemon's host (engine/backend.py is_clip_voice): as long as a path may be
VOICE = v_str(4096, 1)
REQUEST = v_map({
    "text": Field(v_str(MAX_TEXT_CHARS, 1, max_bytes=4 * MAX_TEXT_CHARS), required=True),
    "voice": Field(VOICE, default=_D["voice"]),
    "language": Field(v_str(8, choices=LANGUAGES), default=_D["language"]),
    "target": Field(v_str(64, 1), default=_D["target"]),
    "sample_rate": Field(v_int(8000, 192000, SAMPLE_RATES), default=_D["sample_rate"]),
    "pre_roll": Field(v_num(0.0, MAX_PRE_ROLL), default=_D["pre_roll"]),
    "method": Field(v_str(16, choices=FIT_METHODS), default=_D["method"]),
    "loudness": Field(v_opt(v_num(-70.0, 0.0)), default=_D["loudness"]),
    "true_peak": Field(v_num(*TRUE_PEAK_RANGE), default=_D["true_peak"]),
    "speed": Field(v_num(*SPEED_RANGE), default=_D["speed"]),
    "natural_range": Field(v_list(v_num(0.01, 100.0), 2, 2), default=lambda: list(_D["natural_range"])),
    "lead": Field(v_num(0.0, MAX_HANDLE_SECONDS), default=_D["lead"]),
    "tail": Field(v_num(0.0, MAX_HANDLE_SECONDS), default=_D["tail"]),
    "frame_rate": Field(v_opt(v_str(32, 1)), default=None),
    "dictionary": Field(v_opt(v_str(MAX_DICT_BYTES, max_bytes=MAX_DICT_BYTES)), default=None),
    "emotion": Field(v_opt(v_emotion()), default=None),
    "variant": Field(v_int(1, MAX_VARIANT), default=_D["variant"]),
})

ITEM = v_map({
    "request": Field(REQUEST, required=True),
    "job": Field(v_opt(ID)),
    "output": Field(v_opt(v_str(MAX_OUTPUT_CHARS, 1))),
})

_COMMON = {"op": Field(v_str(32), required=True), "id": REQ_ID}
_DELIVERY = {"inline": Field(v_bool(), default=False), "phonemes": Field(v_bool(), default=False),
             "progress": Field(v_bool(), default=True)}

OPS: dict[str, Validator] = {
    "hello": v_map({**_COMMON, "protocol": Field(v_int(0, 2 ** 31), required=True),
                    "client": Field(v_opt(v_str(128))), "capabilities": Field(v_opt(v_list(v_str(32), 64)))}),
    "ping": v_map(_COMMON),
    "heartbeat": v_map(_COMMON),
    "health": v_map(_COMMON),
    "voices": v_map({**_COMMON, "language": Field(v_opt(v_str(8)))}),
    "explain": v_map({**_COMMON, "text": Field(v_str(MAX_TEXT_CHARS, 1, max_bytes=4 * MAX_TEXT_CHARS), required=True),
                      "voice": Field(VOICE, default="auto"),
                      "language": Field(v_str(8, choices=LANGUAGES), default="auto"),
                      "speed": Field(v_num(*SPEED_RANGE), default=1.0),
                      "dictionary": Field(v_opt(v_str(MAX_DICT_BYTES, max_bytes=MAX_DICT_BYTES)))}),
    "render": v_map({**_COMMON, **_DELIVERY, "request": Field(REQUEST, required=True), "job": Field(v_opt(ID)),
                     "output": Field(v_opt(v_str(MAX_OUTPUT_CHARS, 1))),
                     "priority": Field(PRIORITY, default="normal")}),
    "render_batch": v_map({**_COMMON, **_DELIVERY, "items": Field(v_list(ITEM, MAX_BATCH, 1), required=True),
                           "batch": Field(v_opt(ID)), "priority": Field(PRIORITY, default="low"),
                           "stream": Field(v_bool(), default=True)}),
    "watch": v_map({**_COMMON, **_DELIVERY, "jobs": Field(v_list(ID, MAX_BATCH, 1), required=True)}),
    "job": v_map({**_COMMON, "job": Field(ID, required=True), "inline": Field(v_bool(), default=False),
                  "phonemes": Field(v_bool(), default=False)}),
    "jobs": v_map({**_COMMON, "state": Field(v_opt(v_str(16, choices=JOB_STATES))), "batch": Field(v_opt(ID)),
                   "limit": Field(v_int(1, MAX_BATCH), default=100)}),
    "cancel": v_map({**_COMMON, "jobs": Field(v_list(ID, MAX_BATCH), default=list), "batch": Field(v_opt(ID))}),
    "cache_clear": v_map(_COMMON),
    "shutdown": v_map(_COMMON),
    # enrolled voices (engine/enroll, engine/profiles.py); the reference path is read on the daemon's host
    "voice_enroll": v_map({**_COMMON, "name": Field(VOICE_NAME, required=True),
                           "reference": Field(v_str(4096, 1), required=True),
                           "text": Field(v_opt(v_str(MAX_TEXT_CHARS, 1, max_bytes=4 * MAX_TEXT_CHARS))),
                           "quality": Field(v_str(8, choices=("fast", "best")), default="fast"),
                           "consent": Field(v_opt(v_str(1000))), "no_consent_record": Field(v_bool(), default=False),
                           "prosody_from": Field(v_opt(v_str(4096, 1))), "force": Field(v_bool(), default=False),
                           "progress": Field(v_bool(), default=True),
                           "denoise": Field(v_bool(), default=False)}),
    "voice_list": v_map(_COMMON),
    "voice_show": v_map({**_COMMON, "name": Field(VOICE_NAME, required=True)}),
    "voice_remove": v_map({**_COMMON, "name": Field(VOICE_NAME, required=True)}),
}


def request_id(msg: Any) -> Any:
    """The request id, if the message has a usable one (for echoing in errors)."""
    if isinstance(msg, dict):
        rid = msg.get("id")
        try:
            return REQ_ID.validator(rid, "id") if rid is not None else None
        except ProtocolError:
            return None
    return None


def validate(msg: Any) -> dict:
    """Check a decoded request against its operation's schema; returns it normalised (defaults filled)."""
    if not isinstance(msg, dict):
        raise _fail("message", "a map", msg)
    op = msg.get("op")
    if not isinstance(op, str):
        raise ProtocolError("bad_message", "message.op: required string field missing", {"field": "message.op"})
    schema = OPS.get(op)
    if schema is None:
        raise ProtocolError("unknown_op", f"unknown op {op[:40]!r}; accepted: {', '.join(OPS)}",
                            {"accepted": list(OPS)})
    return schema(msg, "message")


# ------------------------------------------------------------------------------------------- requests
def normalise_target(value) -> str:
    """Accept a Target, a number of seconds, or the CLI syntax; return the exact wire string."""
    if value is None:
        return "natural"
    if isinstance(value, Target):
        return target_string(value)
    if isinstance(value, (int, float, Fraction)) and not isinstance(value, bool):
        return f"{Fraction(str(value)) if isinstance(value, float) else Fraction(value)}s"
    return str(value)
