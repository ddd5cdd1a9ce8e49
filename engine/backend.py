"""The backend seam: what a speech model must do for takefit, and the registry of the ones it knows.

Everything above the engine (daemon, dub, watch, panel, cache) needs only this from a model: its voices,
the emotion inputs it takes, how a line is planned and how long it runs at its own pace, and a render
to *exactly* the requested number of output samples. Kokoro-82M on the CPU is one backend
(engine/kokoro/backend.py, the Engine unchanged behind it); a GPU model (IndexTTS2, issue #25) is
meant to be another, selected with `takefit daemon start --backend NAME`.

The registry names every backend with what is known before loading it (capabilities, whether it
wants a GPU), so `hello` can answer while the model loads and `--backend` can be refused at once.
Loading imports the backend's module only then: its weights and extras stay unloaded otherwise.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass, fields
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol, runtime_checkable

from . import ENGINE_ID
from .errors import AssetError, InputError, UnknownVoiceError

if TYPE_CHECKING:
    from .frontend import Lexicon
    from .request import RenderRequest
    from .take import Take

DEFAULT_BACKEND = "kokoro"
EMOTION_INPUTS = ("vector", "reference_clip", "text")   # IndexTTS2's three ways to say an emotion
CLIP_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")        # what libsndfile reads: a voice named so is a clip
Progress = Callable[[float, str], None]


def is_clip_voice(name: str) -> bool:
    """A voice given as an audio file's path (a reference clip to clone) rather than a listed name:
    built-in and enrolled names never end in an audio suffix (engine/profiles.py NAME_RE)."""
    return isinstance(name, str) and name.lower().endswith(CLIP_SUFFIXES)


def clip_identity(path: str) -> str:
    """Which file a clip voice is, as it is now: its real path, size, mtime and inode (stat only, no read:
    the daemon's loop asks). The cache keys a clip voice's takes by it, so a clip recorded over is new."""
    try:
        st = os.stat(path)
    except OSError:
        raise InputError(f"voice clip {path!r} not found: give an audio file's path ({', '.join(CLIP_SUFFIXES)})") \
            from None
    return f"{os.path.realpath(path)}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"


def checked_clip(name: str, backend: str, clones: bool) -> str:
    """A clip voice as a renderer sends it: its absolute path (the renderer's working folder is not this
    one), if the backend clones clips and the file is there; else UnknownVoiceError saying which."""
    if not clones:
        raise UnknownVoiceError(clip_refusal(name, backend))
    path = Path(name).expanduser()
    if not path.is_file():
        raise UnknownVoiceError(f"voice clip {name!r}: no such file {path.absolute()} (a voice ending in "
                                f"{', '.join(CLIP_SUFFIXES)} is a reference clip; a cast file's path is "
                                f"relative to the cast file, a tag's to the timeline's folder)")
    return str(path.resolve())


def clip_refusal(name: str, backend: str = DEFAULT_BACKEND) -> str:
    """Why a backend without clip voices refuses one, and the two ways to use that recording."""
    clones = [n for n, e in REGISTRY.items() if e.capabilities.reference_clip_voices]
    return (f"voice {name!r} is an audio file (a reference clip to clone), and the {backend} backend has no clip "
            f"voices. Either run a backend that clones clips (`takefit daemon start --backend {clones[0]}`), or "
            f"enroll the recording as a voice once (`takefit voice enroll NAME {name} --consent \"who, when\"`) "
            f"and give NAME as the voice")


class BackendUnavailable(AssetError):
    """A known backend that cannot load here: its code or its extra's packages are not installed."""


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do beyond the common contract; clients grey out what it lacks."""
    languages: tuple[str, ...]               # what it reads ('en', 'zh', …)
    emotion_inputs: tuple[str, ...]          # of EMOTION_INPUTS
    exact_length: bool = True                # every take exactly the target's samples (all of takefit's are)
    reference_clip_voices: bool = False      # a voice may be a reference clip (zero-shot cloning)
    enrolled_voices: bool = False            # `takefit voice enroll` profiles render in it
    pinyin: bool = False                     # inline pinyin after Chinese characters corrects the reading
    hit_points: bool = False                 # {@1.5s} pins a word to a frame in the slot
    alternate_takes: bool = False            # `take=N` reads the line another way
    dictionaries: bool = False               # pronunciation dictionaries (files, inline in a request)

    def __post_init__(self):
        odd = [x for x in self.emotion_inputs if x not in EMOTION_INPUTS]
        if odd:
            raise ValueError(f"emotion inputs {odd}: accepted {', '.join(EMOTION_INPUTS)}")

    def flags(self) -> list[str]:
        """The names of the features it has, in declaration order (the wire form)."""
        return [f.name for f in fields(self) if f.type in (bool, "bool") and getattr(self, f.name)]


@dataclass(frozen=True)
class NaturalLength:
    """A line at its own pace, before fitting: the whole take (speech, the model's own edges) and the
    speech in it. `predicted`: from the plan alone, nothing rendered (Kokoro's duration stage)."""
    seconds: Fraction
    speech_seconds: float
    predicted: bool = True


@dataclass(frozen=True)
class LoadReport:
    """How loading went, for `takefit daemon info`. Memory is what the load added to this process
    (resident, measured around it) and, on a GPU, what the device holds for it after loading and the
    most it has held since (the largest take's activations included); None where unknown."""
    load_seconds: float
    memory_bytes: int | None = None
    device_memory_bytes: int | None = None
    notes: tuple[str, ...] = ()
    device_peak_bytes: int | None = None

    def to_wire(self) -> dict:
        return {"load_seconds": round(self.load_seconds, 3), "memory_bytes": self.memory_bytes,
                "device_memory_bytes": self.device_memory_bytes, "device_peak_bytes": self.device_peak_bytes,
                "notes": list(self.notes)}


@runtime_checkable
class Voice(Protocol):
    """One voice as listed (engine/kokoro/voices.py VoiceInfo is one); gender '' where not known."""
    @property
    def name(self) -> str: ...
    @property
    def language(self) -> str: ...
    @property
    def gender(self) -> str: ...
    @property
    def kind(self) -> str: ...
    def to_wire(self) -> dict: ...           # the `voices` reply's entry (docs/protocol.md)


@runtime_checkable
class Plan(Protocol):
    """A line as the backend will read it (Kokoro: engine.LinePlan); opaque beyond these."""
    @property
    def voice(self) -> str: ...


@runtime_checkable
class Backend(Protocol):
    """A loaded speech model. `render` is thread-safe and returns a take of exactly the samples the
    request's target resolves to at its sample rate; everything else is read-only."""
    @property
    def name(self) -> str: ...               # its registry name
    @property
    def engine_id(self) -> str: ...          # model and version: goes into cache keys, `hello`
    @property
    def sample_rate(self) -> int: ...        # the model's own rate (takes are resampled to the request's)
    @property
    def device(self) -> str: ...             # 'cpu', 'cuda:0', …
    @property
    def capabilities(self) -> Capabilities: ...

    def voices(self) -> list[Voice]: ...
    def check_voice(self, name: str) -> str: ...        # the name, or UnknownVoiceError with close matches
    def voice_identity(self, name: str) -> str | None: ...   # what besides the name sets its sound (a clip's
                                                            # stat), for cache keys; None: the name alone
    def plan(self, req: RenderRequest) -> Plan: ...     # text, voice, emotion → the reading (no audio)
    def natural_length(self, plan: Plan) -> NaturalLength: ...
    def render(self, req: RenderRequest, progress: Progress | None = None) -> Take: ...
    def explain(self, text: str, voice: str = "auto", language: str = "auto", speed: float = 1.0) -> dict: ...
    def with_lexicon(self, lexicon: Lexicon) -> Backend: ...   # the same model reading with a dictionary
    def report(self) -> LoadReport: ...
    def warm(self) -> list[str]: ...         # a long-running process, once loaded: prepare what a first request
    #                                           would otherwise wait for; returns what it prepared (for the log)


# ------------------------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class BackendEntry:
    """A backend as known before loading: enough for `hello`, `--backend` checks and the cluster's
    choice of GPU actors, without importing its model."""
    name: str
    summary: str
    module: str                          # where `cls` lives; imported only by load_backend
    cls: str
    engine_id: str
    sample_rate: int
    capabilities: Capabilities
    default_device: str = "cpu"
    devices: tuple[str, ...] = ("cpu",)  # the device kinds it runs on ('cuda' covers 'cuda:1')
    requires: tuple[str, ...] = ()       # modules its extra installs, looked up (not imported) before loading
    extra: str | None = None             # the pip extra that installs them
    note: str = ""                       # why its code may be absent (said instead of "not installed")

    @property
    def wants_gpu(self) -> bool:
        return not self.default_device.startswith("cpu")

    @property
    def install(self) -> str:
        return f'pip install "takefit[{self.extra}]"' if self.extra else "pip install takefit"

    def check_device(self, device: str | None) -> str:
        """The device it will run on, or an InputError naming those it accepts."""
        if not device:
            return self.default_device
        if not isinstance(device, str) or device.split(":")[0] not in self.devices:
            raise InputError(f"backend {self.name!r} runs on {' or '.join(self.devices)}, not {device!r}: give "
                             f"--device {self.devices[0]}, or leave --device out ({self.default_device})")
        return device

    def missing(self) -> list[str]:
        """What keeps it from loading here: its module, or the packages of its extra ([] = loadable)."""
        if not _findable(self.module):
            return [self.module]
        return [m for m in self.requires if not _findable(m)]

    def check(self) -> None:
        """Raise BackendUnavailable, naming the fix, when it cannot load here; nothing is imported."""
        missing = self.missing()
        if not missing:
            return
        if missing == [self.module]:
            if self.note:
                raise BackendUnavailable(f"backend {self.name!r} is {self.note} (no module {self.module}). Once "
                                         f"it ships it installs with {self.install}; meanwhile use --backend "
                                         f"{DEFAULT_BACKEND}.")
            raise BackendUnavailable(f"backend {self.name!r} is not installed here (no module {self.module}): "
                                     f"run {self.install}")
        raise BackendUnavailable(f"backend {self.name!r} needs {', '.join(missing)}, not installed here: "
                                 f"run {self.install}")

    def to_wire(self, device: str | None = None, capabilities: Capabilities | None = None) -> dict:
        """The `backend` map of `hello`, `voices` and `health` (docs/protocol.md), before it loads."""
        caps = capabilities or self.capabilities
        return {"name": self.name, "engine": self.engine_id, "device": device or self.default_device,
                "sample_rate": self.sample_rate, "capabilities": caps.flags(),
                "emotion_inputs": list(caps.emotion_inputs), "languages": list(caps.languages),
                "gpu": self.wants_gpu}


def describe(backend: Backend) -> dict:
    """A loaded backend's `backend` map: as it loaded (its device, what this checkpoint can do) and how
    the load went (`load`: seconds, memory)."""
    doc = backend_entry(backend.name).to_wire(backend.device, backend.capabilities)
    return {**doc, "engine": backend.engine_id, "sample_rate": backend.sample_rate,
            "gpu": not backend.device.startswith("cpu"), "load": backend.report().to_wire()}


def _findable(module: str) -> bool:
    if module in sys.modules:
        return True
    try:
        return importlib.util.find_spec(module) is not None
    except (ModuleNotFoundError, ValueError):     # a parent package is absent
        return False


_KOKORO_LANGUAGES = ("en", "zh", "ja", "es", "fr", "it", "pt", "hi")
REGISTRY: dict[str, BackendEntry] = {e.name: e for e in (
    BackendEntry("kokoro", "Kokoro-82M v1.0, int8 ONNX, on the CPU",
                 "takefit.engine.kokoro.backend", "KokoroBackend", ENGINE_ID, 24000,
                 Capabilities(_KOKORO_LANGUAGES, EMOTION_INPUTS, enrolled_voices=True, pinyin=True,
                              hit_points=True, alternate_takes=True, dictionaries=True)),
    # Upstream's code comes with the extra; the weights are the user's (checkpoints/indextts2/ or
    # $TAKEFIT_INDEXTTS_DIR, auxiliary models in the Hugging Face cache, read offline): engine/indextts/.
    BackendEntry("indextts", "IndexTTS2 from a local checkpoint (zero-shot clip voices, emotion), best on a GPU",
                 "takefit.engine.indextts.backend", "IndexTTSBackend", "indextts2", 22050,
                 Capabilities(("zh", "en"), EMOTION_INPUTS, reference_clip_voices=True),
                 default_device="cuda", devices=("cuda", "cpu", "mps"),
                 requires=("torch", "torchaudio", "transformers", "indextts"), extra="indextts"),
)}


def backend_names() -> list[str]:
    return list(REGISTRY)


def backend_entry(name: str) -> BackendEntry:
    """The registry's entry, or an InputError listing the known backends."""
    entry = REGISTRY.get(name) if isinstance(name, str) else None
    if entry is None:
        known = "; ".join(f"{n}: {e.summary}{' (the default)' if n == DEFAULT_BACKEND else ''}"
                          f"{'' if not e.missing() else ' (not available here)'}" for n, e in REGISTRY.items())
        raise InputError(f"unknown backend {name!r}. Known backends: {known}. Name one of "
                         f"{', '.join(REGISTRY)} with --backend.")
    return entry


def check_backend(name: str, device: str | None = None) -> BackendEntry:
    """Known, loadable here (without importing it) and given a device it runs on: for refusing
    `--backend`/`--device` before a daemon is spawned."""
    entry = backend_entry(name)
    entry.check_device(device)
    entry.check()
    return entry


def load_backend(name: str = DEFAULT_BACKEND, **options: Any) -> Backend:
    """Load a backend by name; `options` go to its constructor (threads, sessions, device, log …)."""
    entry = check_backend(name)
    try:
        module = importlib.import_module(entry.module)
    except ModuleNotFoundError as e:          # a package its extra installs, found but broken or partial
        raise BackendUnavailable(f"backend {name!r} could not import {e.name}: run {entry.install}") from e
    return getattr(module, entry.cls)(**options)


def resident_bytes() -> int:
    """This process's resident memory (0 where the platform does not say)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import resource     # not on Windows

        r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return r if sys.platform == "darwin" else r * 1024
    except (ImportError, OSError):
        return 0


__all__ = ["Backend", "BackendEntry", "BackendUnavailable", "CLIP_SUFFIXES", "Capabilities", "DEFAULT_BACKEND",
           "EMOTION_INPUTS", "checked_clip", "clip_identity", "clip_refusal", "is_clip_voice",
           "LoadReport", "NaturalLength", "Plan", "Voice", "backend_entry", "backend_names", "check_backend",
           "describe", "load_backend", "resident_bytes", "REGISTRY"]
