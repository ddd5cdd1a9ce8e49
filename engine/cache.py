"""The take cache: content-addressed takes on disk, bounded in size (least recently used goes first).

The key covers everything that changes the audio: text, voice, language, target, rate, pre-roll,
method, loudness, speed, natural range, variant, emotion (a reference clip by its size, mtime and inode: never read
on the daemon's loop), pronunciation dictionary, the engine/model version, rendering revision and the
decoder's form on this CPU.
An identical request returns the cached take's exact bytes at once.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path

import numpy as np
import soundfile as sf

from . import ENGINE_ID, RENDER_REVISION, __version__
from .backend import DEFAULT_BACKEND
from .errors import OutputError
from .kokoro.forms import decoder_form
from .kokoro.native import snake_form
from .profiles import NAME_RE, ProfileStore
from .request import RenderRequest
from .take import Take

DEFAULT_MAX_BYTES = 2 * 1024 ** 3


def _enrolled_identity(voice: str) -> str | None:
    if not isinstance(voice, str) or not NAME_RE.match(voice):
        return None
    try:
        st = ProfileStore().path(voice).stat()
    except OSError:
        return None
    return f"{st.st_mtime_ns}:{st.st_size}"


def backend_extra(backend: str, engine_id: str, voice_identity: str | None) -> dict:
    """The cache key's `extra` fields for a take of `backend` (the daemon's admission and the cluster's
    renderer both key by this): another model's take never answers for Kokoro's, one engine id's for
    another's, nor a clip voice's for a clip recorded over it (`voice_identity`: engine/backend.py's, the
    clip's path and stat). Kokoro's takes get none, so its keys stay as they always were."""
    if backend == DEFAULT_BACKEND:
        return {}
    return {"backend": [backend, engine_id], "voice": voice_identity}


def request_key(req: RenderRequest, extra: dict | None = None) -> str:
    """A stable sha256 over every field that affects the rendered audio."""
    t = req.target
    doc = {
        "engine": ENGINE_ID, "version": __version__, "revision": RENDER_REVISION,
        "text": req.text, "voice": req.voice, "language": req.language,
        "target": [t.kind, str(t.value), str(t.rate) if t.rate is not None else None],
        "rate": req.sample_rate, "pre_roll": repr(float(req.pre_roll)), "method": req.method,
        "loudness": None if req.loudness is None else repr(float(req.loudness)),
        "speed": repr(float(req.speed)), "natural_range": [repr(float(x)) for x in req.natural_range],
        "handles": [repr(float(req.lead)), repr(float(req.tail))],
        "frame_rate": None if req.frame_rate is None else str(req.frame_rate),
        "extra": extra or {},
    }
    if req.emotion is not None:   # only when set, so emotion-free keys stay as they were
        doc["emotion"] = req.emotion.cache_doc()
    if req.variant != 1:          # likewise: the standard read keeps its keys
        doc["variant"] = req.variant
    if req.true_peak != -1.0:     # and the default ceiling
        doc["true_peak"] = repr(float(req.true_peak))
    form = decoder_form()
    if form != "shipped":                    # the VNNI decoder's float rounding differs (engine/kokoro/forms.py)
        doc["decoder"] = form
    snakes = snake_form()
    if snakes != "graph":           # and so does each build of the compiled kernels' (engine/kokoro/native.py)
        doc["snake"] = snakes
    enrolled = _enrolled_identity(req.voice)
    if enrolled:                              # a re-enrolled voice (same name, new profile) is a new key
        doc["enrolled"] = enrolled
    return hashlib.sha256(json.dumps(doc, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


class TakeCache:
    def __init__(self, root: str | Path, max_bytes: int = DEFAULT_MAX_BYTES):
        self.root = Path(root)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:                      # a file in the way, no permission, a read-only disk
            raise OutputError(f"cannot use {self.root} as the take cache folder ({e.strerror or e}): give a "
                              f"folder you can write with --cache or $TAKEFIT_CACHE, or --no-cache") from None
        self.max_bytes = int(max_bytes)
        self._lock = threading.Lock()
        self._known_size: int | None = None   # running total, so a put need not rescan the whole cache

    def _paths(self, key: str) -> tuple[Path, Path]:
        if not (len(key) == 64 and all(c in "0123456789abcdef" for c in key)):
            raise ValueError(f"bad cache key {key!r}")
        d = self.root / key[:2]
        return d / f"{key}.wav", d / f"{key}.json"

    def wav_path(self, key: str) -> Path | None:
        """The cached WAV for `key` (touched as recently used), or None."""
        wav, meta = self._paths(key)
        if wav.is_file() and meta.is_file():
            try:  # mtime marks "recently used" for eviction
                os.utime(wav)
                os.utime(meta)
            except OSError:
                return None
            return wav
        return None

    def get(self, key: str) -> Take | None:
        """The cached take with its samples read, or None."""
        take = self.lookup(key)
        if take is None:
            return None
        try:
            take.load()
        except (OSError, ValueError, RuntimeError):
            return None
        return take

    def lookup(self, key: str) -> Take | None:
        """The cached take without decoding its audio (`wav` is the file; touched as recently used)."""
        wav = self.wav_path(key)
        if wav is None:
            return None
        try:
            meta = json.loads(wav.with_suffix(".json").read_text("utf-8"))
            return Take.from_wire(meta, wav=wav, key=key, cached=True)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, take: Take, comment: str = "", title: str = "") -> Path:
        """Store atomically (WAV then metadata; an entry counts only when both exist).

        `comment`/`title` go into the WAV's INFO chunk (e.g. the synthetic-speech notice)."""
        wav, meta = self._paths(key)
        wav.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=wav.parent, suffix=".wav.partial")
        os.close(fd)
        tmpm = meta.with_suffix(f".{os.getpid()}.{threading.get_ident()}.json.partial")
        try:
            with sf.SoundFile(tmp, "w", samplerate=take.sample_rate, channels=1, subtype="PCM_24",
                              format="WAV") as f:
                if comment:
                    f.comment = comment
                if title:
                    f.title = title
                if comment or title:
                    f.software = "takefit"
                f.write(np.clip(take.audio, -1.0, 1.0))
            os.replace(tmp, wav)
            tmpm.write_text(json.dumps(take.to_wire(), ensure_ascii=False), "utf-8")
            os.replace(tmpm, meta)
        finally:
            Path(tmp).unlink(missing_ok=True)
            tmpm.unlink(missing_ok=True)
        with self._lock:
            if self._known_size is not None:
                try:
                    self._known_size += wav.stat().st_size + meta.stat().st_size
                except OSError:
                    self._known_size = None
            known = self._known_size
        if known is None or known > self.max_bytes:   # rescan only when it may be over the bound
            self.evict()
        return wav

    def entries(self) -> list[tuple[float, int, Path]]:
        out = []
        for wav in self.root.glob("??/*.wav"):
            try:
                st = wav.stat()
                meta = wav.with_suffix(".json")
                out.append((st.st_mtime, st.st_size + (meta.stat().st_size if meta.exists() else 0), wav))
            except OSError:
                continue
        return out

    def size(self) -> int:
        total = sum(s for _, s, _ in self.entries())
        with self._lock:
            self._known_size = total
        return total

    def approx_size(self) -> int:
        """The running total (exact unless another process writes the same cache); no rescan."""
        with self._lock:
            known = self._known_size
        return self.size() if known is None else known

    def evict(self) -> int:
        """Drop least recently used entries until the cache fits; returns how many went."""
        with self._lock:
            entries = sorted(self.entries())
            total = sum(s for _, s, _ in entries)
            dropped = 0
            for _, size, wav in entries:
                if total <= self.max_bytes:
                    break
                wav.unlink(missing_ok=True)
                wav.with_suffix(".json").unlink(missing_ok=True)
                total -= size
                dropped += 1
            self._known_size = total
            return dropped

    def clear(self) -> int:
        with self._lock:
            n = 0
            for wav in self.root.glob("??/*.wav"):
                wav.unlink(missing_ok=True)
                wav.with_suffix(".json").unlink(missing_ok=True)
                n += 1
            self._known_size = 0
            return n
