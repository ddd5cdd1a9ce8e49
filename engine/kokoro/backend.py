"""Kokoro-82M behind the backend seam (engine/backend.py): the Engine as it is, nothing in how it
renders changed — the same takes bit for bit, the same cache keys (ENGINE_ID, RENDER_REVISION) and
the same wire forms. Kokoro-only features (enrollment) reach the Engine through `engine`."""
from __future__ import annotations

import copy

from ..backend import (
    Capabilities,
    LoadReport,
    NaturalLength,
    Progress,
    backend_entry,
    clip_refusal,
    is_clip_voice,
    resident_bytes,
)
from ..engine import Engine, LinePlan
from ..errors import UnknownVoiceError
from ..frontend import Lexicon
from ..languages import SPOKEN
from ..request import RenderRequest
from ..take import Take
from .notes import preview_for
from .voices import VoiceInfo

NAME = "kokoro"


class KokoroBackend:
    """The embedded model as a backend. `engine`: wrap one already loaded (tests, the CLI's own);
    otherwise one is loaded with the Engine's options (threads per call, sessions = lines at once)."""

    def __init__(self, engine: Engine | None = None, *, assets_dir=None, threads: int | None = None,
                 sessions: int = 1, lexicon: Lexicon | None = None, log=None, device: str | None = None):
        self._entry = backend_entry(NAME)
        self._entry.check_device(device)             # onnxruntime on the CPU only
        before = resident_bytes()
        self.engine = engine if engine is not None else Engine(assets_dir, threads, lexicon, log, sessions)
        # memory is only known for a model this call loaded; a wrapped one was loaded before we looked
        added = max(0, resident_bytes() - before) if engine is None and before else None
        self._report = LoadReport(self.engine.load_seconds, added, None,
                                  (f"{sessions} session(s) per stage",) if engine is None else ())

    # ---- what it is
    @property
    def name(self) -> str:
        return NAME

    @property
    def engine_id(self) -> str:
        return self._entry.engine_id

    @property
    def sample_rate(self) -> int:
        return self._entry.sample_rate

    @property
    def device(self) -> str:
        return "cpu"

    @property
    def capabilities(self) -> Capabilities:
        return self._entry.capabilities

    def report(self) -> LoadReport:
        return self._report

    def warm(self) -> list[str]:
        """What a daemon prepares once loaded, so that no first audition waits for it (a one-shot `takefit say`
        prepares nothing: it loads only what its line needs): every language's reader (English 2.7 s and
        +210 MB, Mandarin 1.7 s and +120 MB, British English 0.6 s and +60 MB, the others ≈ 0.1 s) and
        English's espeak-ng fallback for unknown words (0.3 s), then,
        where an enrolled voice has a decoder adaptation, the decoder session that renders it (0.7–1.1 s,
        kokoro/decoder.py)."""
        for language in SPOKEN:
            self.engine.frontend.read(preview_for(language, "").text, language)
        self.engine.frontend.read(preview_for("en", "").text, "en", british=True)    # bf_/bm_ voices
        self.engine.frontend.start_fallbacks()
        done = [f"the readers of {', '.join(SPOKEN)} (English: American and British)"]
        adapted = self._adapted_voice()
        if adapted:
            self.engine.model.decoder.adapted()
            done.append(f"the decoder session for adapted enrolled voices (such as {adapted})")
        return done

    def _adapted_voice(self) -> str | None:
        return next((name for name, p in self.engine.voice_bank.loadable_profiles() if p.adapt is not None), None)

    # ---- voices and reading
    def voices(self) -> list[VoiceInfo]:
        """Built-in, then enrolled (as the `voices` op has always listed them)."""
        bank = self.engine.voice_bank
        return bank.info() + bank.enrolled_info()

    def check_voice(self, name: str) -> str:
        if is_clip_voice(name):
            raise UnknownVoiceError(clip_refusal(name))
        return self.engine.voice_bank.check(name)

    def voice_identity(self, name: str) -> str | None:
        return None         # an enrolled profile's identity is engine/cache.request_key's (keys unchanged)

    def plan(self, req: RenderRequest) -> LinePlan:
        return self.engine.plan_request(req)[0]

    def natural_length(self, plan: LinePlan) -> NaturalLength:
        return NaturalLength(plan.natural_seconds, Engine.predicted_speech(plan), predicted=True)

    def explain(self, text: str, voice: str = "auto", language: str = "auto", speed: float = 1.0) -> dict:
        return self.engine.explain(text, voice, language, speed)

    def with_lexicon(self, lexicon: Lexicon) -> "KokoroBackend":
        view = copy.copy(self)
        view.engine = self.engine.with_lexicon(lexicon)     # shares the model, voices and natural-take cache
        return view

    # ---- the take
    def render(self, req: RenderRequest, progress: Progress | None = None) -> Take:
        return self.engine.render(req, progress=progress)
