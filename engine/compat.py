"""An IndexTTS2-compatible facade, so IndexTTS2 users' scripts run offline on takefit unchanged:

    from takefit.engine.compat import IndexTTS2
    tts = IndexTTS2(cfg_path="checkpoints/config.yaml", model_dir="checkpoints")
    tts.infer(spk_audio_prompt="voice.wav", text="你好", output_path="out.wav",
              emo_vector=[0, 0.8, 0, 0, 0, 0, 0.1, 0.1], emo_alpha=0.9)
    tts.infer("voice.wav", "Hello.", "out.wav", duration=2.5)      # takefit's extra: exactly 2.5 s

Behaviour follows IndexTTS2's `infer` (indextts/infer_v2.py):
- the emotion comes from emo_vector, else from text (use_emo_text: emo_text, or the line itself when
  emo_text is None), else from emo_audio_prompt; vector and text override the clip; emo_alpha scales
  a vector or text emotion and blends a clip's; with none of these the speaker's own delivery is used;
- the text is split into segments of at most max_text_tokens_per_segment tokens, joined with
  interval_silence ms of silence (unless a duration is asked for: then one exactly fitted take);
- with output_path the WAV is written and its path returned; without it, (sampling_rate, int16 array
  of shape (samples, 1)) is returned, as IndexTTS2 does for its web UI.
- use_random and the sampling keyword arguments (temperature, top_p, num_beams, …) shape IndexTTS2's
  autoregressive sampling; takefit's engine is not autoregressive, so they are accepted and ignored.

takefit extras: duration= (seconds, or a takefit target such as "77@23.976") or duration_ratio= (a
multiple of the natural length), sample_rate= (48000 by default, written as 24-bit WAV).

The speaker of spk_audio_prompt: `_voice_for_prompt(path)`, cached per file content, uses voice
enrollment (takefit.engine.enroll) where it is installed, else the nearest built-in voice by speaker
embedding (takefit.engine.speaker's d-vector against each built-in voice's own rendering).
"""
from __future__ import annotations

import hashlib
import re
import sys
import warnings
from pathlib import Path

import numpy as np

from .emotion import Emotion
from .enroll import index
from .errors import AssetError, InputError
from .kokoro.voices import DEFAULT_VOICE
from .profiles import ProfileStore
from .request import RenderRequest
from .speaker import cosine, encoder
from .target import Target

_HAN = re.compile(r"[\u3400-\u9fff]")
_SENTENCE = re.compile(r"(?<=[.!?;。！？；…])\s*")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _language(text: str) -> str:
    return "zh" if _HAN.search(text) else "en"


class IndexTTS2:
    def __init__(self, cfg_path: str | None = None, model_dir: str | None = None, use_fp16: bool = False,
                 device: str | None = None, use_cuda_kernel: bool | None = None, use_deepspeed: bool = False,
                 *, engine=None, sample_rate: int = 48000, consent: str | None = None,
                 enroll_quality: str = "fast", enroll_steps: int | None = None, **_ignored):
        """IndexTTS2's constructor arguments are accepted for compatibility; takefit's embedded model
        needs none of them (it runs on the CPU from its own assets). takefit's own: `consent` is recorded
        in the profile of every speaker prompt this object enrolls (who agreed, when); without it the
        profile says no consent was recorded. `enroll_quality` is "fast" or "best" (voice enrollment, once
        per clip and machine), or "preview": the nearest built-in voice, instantly; `enroll_steps`
        overrides the optimiser's step count (quick trials)."""
        if enroll_quality not in ("preview", "fast", "best"):
            raise InputError(f"enroll_quality {enroll_quality!r} unknown: accepted preview, fast, best")
        if engine is None:
            from .engine import Engine
            engine = Engine()
        self.engine = engine
        self.sample_rate = int(sample_rate)
        self._voices: dict[tuple[str, str], str] = {}
        self.consent = consent
        self.enroll_quality = enroll_quality
        self.enroll_steps = enroll_steps

    # ------------------------------------------------------------------ speaker
    def _voice_for_prompt(self, path, language: str = "en") -> str:
        """The voice for a speaker prompt, cached per (file content, language)."""
        p = Path(path).expanduser()
        if not p.is_file():
            raise InputError(f"spk_audio_prompt {p} not found: give the path of a WAV clip of the speaker")
        digest = _sha256(p)
        key = (digest, language)
        if key not in self._voices:
            enrolled = None
            if self.enroll_quality != "preview":
                enrolled = _enrolled_voice(self.engine, p, digest, self.consent, self.enroll_quality, self.enroll_steps)
            self._voices[key] = enrolled or _nearest_builtin(self.engine, p, language)
        return self._voices[key]

    # ------------------------------------------------------------------ emotion
    @staticmethod
    def _emotion(emo_audio_prompt, emo_alpha, emo_vector, use_emo_text, emo_text, text) -> Emotion | None:
        if emo_vector is not None:
            return Emotion(vector=list(emo_vector), alpha=emo_alpha)
        if use_emo_text:
            if emo_text is None:
                return Emotion(from_line=True, alpha=emo_alpha)
            return Emotion(text=emo_text, alpha=emo_alpha)
        if emo_audio_prompt is not None:
            p = Path(emo_audio_prompt).expanduser()
            if not p.is_file():
                raise InputError(f"emo_audio_prompt {p} not found: give the path of an emotion reference clip")
            return Emotion(reference=str(p.resolve()), alpha=emo_alpha)
        return None   # IndexTTS2: the speaker prompt is its own emotion reference (alpha 1): neutral here

    # ------------------------------------------------------------------ infer
    def infer(self, spk_audio_prompt, text, output_path, emo_audio_prompt=None, emo_alpha=1.0, emo_vector=None,
              use_emo_text=False, emo_text=None, use_random=False, interval_silence=200, verbose=False,
              max_text_tokens_per_segment=120, *, duration=None, duration_ratio=None, **generation_kwargs):
        if not isinstance(text, str) or not text.strip():
            raise InputError("text is empty: give the line to speak")
        if duration is not None and duration_ratio is not None:
            raise InputError("give duration= or duration_ratio=, not both")
        if not (isinstance(interval_silence, (int, float)) and 0 <= interval_silence <= 10000):
            raise InputError(f"interval_silence {interval_silence!r} out of range: 0 to 10000 ms")
        alpha = max(0.0, min(1.0, float(emo_alpha)))          # IndexTTS2 clamps emo_alpha the same way
        emotion = self._emotion(emo_audio_prompt, alpha, emo_vector, use_emo_text, emo_text, text)
        language = _language(text)
        voice = self._voice_for_prompt(spk_audio_prompt, language)
        if duration is not None:
            target = Target.parse(duration) if isinstance(duration, str) else Target.parse(f"{float(duration)}s")
        elif duration_ratio is not None:
            target = Target.parse(f"{float(duration_ratio)}x")
        else:
            target = Target.natural()
        sr = self.sample_rate
        if verbose:
            print(f">> takefit IndexTTS2 facade: voice {voice}, emotion {emotion or 'neutral'}, target {target}",
                  file=sys.stderr)
        if target.kind != "natural":
            # one exactly fitted take: segmenting would put unfitted silences into the length
            take = self.engine.render(RenderRequest(text, voice=voice, target=target, sample_rate=sr, emotion=emotion))
            wav = take.audio
        else:
            parts = []
            gap = np.zeros(int(round(interval_silence / 1000 * sr)), np.float32)
            segments = segment(text, max_text_tokens_per_segment)
            for i, seg in enumerate(segments):
                take = self.engine.render(RenderRequest(seg, voice=voice, sample_rate=sr, emotion=emotion))
                parts += [take.audio] + ([gap] if i < len(segments) - 1 else [])
                if verbose:
                    print(f">> segment {i + 1}/{len(segments)}: {take.seconds:.2f} s", file=sys.stderr)
            wav = np.concatenate(parts)
        if output_path:
            from .audio import write_wav
            out = Path(output_path)
            if out.parent and not out.parent.exists():
                out.parent.mkdir(parents=True, exist_ok=True)   # IndexTTS2 creates the folder too
            write_wav(out, wav, sr)
            return str(output_path)
        pcm = (np.clip(wav, -1.0, 1.0) * 32767).astype(np.int16).reshape(-1, 1)
        return sr, pcm


def segment(text: str, max_tokens: int = 120) -> list[str]:
    """Sentences grouped into segments of at most `max_tokens` (a Han character or an English word
    counts as one, a rough match for IndexTTS2's BPE tokens)."""
    if not isinstance(max_tokens, int) or max_tokens < 1:
        raise InputError(f"max_text_tokens_per_segment {max_tokens!r} must be a positive integer")
    sentences = [s.strip() for s in _SENTENCE.split(text.strip()) if s.strip()]

    def tokens(s: str) -> int:
        return len(_HAN.findall(s)) + len(re.findall(r"[A-Za-z0-9']+", s))

    out, cur = [], ""
    for s in sentences:
        joined = (cur + (" " if cur and not _HAN.search(cur[-1:]) else "") + s) if cur else s
        if cur and tokens(joined) > max_tokens:
            out.append(cur)
            cur = s
        else:
            cur = joined
    if cur:
        out.append(cur)
    return out


# ------------------------------------------------------------------ speaker resolution
def _enrolled_voice(engine, path: Path, digest: str, consent: str | None, quality: str,
                    steps: int | None = None) -> str | None:
    """The prompt enrolled as voice `prompt-<sha256 prefix>` (reused when that profile exists, so a
    clip is enrolled once per machine); None where the enroll extra is not installed."""
    try:
        from .enroll import enroll_voice
    except ImportError:
        return None
    name = f"prompt-{digest[:12]}"
    if ProfileStore().exists(name):
        return name
    if consent is None:
        warnings.warn(f"enrolling speaker prompt {path.name} as voice {name} with no consent record; pass "
                      f"IndexTTS2(consent='who agreed, when') to record it. Clone only voices you are "
                      f"authorised to use.", stacklevel=4)
    try:
        profile = enroll_voice(name, str(path), quality=quality, consent=consent,
                               no_consent_record=consent is None, engine=engine, steps=steps)
    except InputError as e:          # a clip IndexTTS2 would take (e.g. 2 s) is still usable as a preview
        warnings.warn(f"speaker prompt {path.name} cannot be enrolled ({e}); using the nearest built-in voice",
                      stacklevel=4)
        return None
    return profile.name


def _nearest_builtin(engine, path: Path, language: str) -> str:
    """The built-in voice of `language` whose own rendering sounds most like the prompt (d-vector cosine),
    against the built-in voices' embeddings that voice enrollment ships (engine/enroll/index.py)."""
    try:
        from .emotion.reference import load_clip   # soundfile, soxr: only when a prompt is matched

        entries = [e for e in index.load(engine, ProfileStore().directory) if e.language == language]
        prompt = encoder("dvector").embed(load_clip(path), 16000)
    except (ImportError, AssetError) as e:
        warnings.warn(f"speaker prompt {path.name}: no speaker encoder ({e}); using the default "
                      f"{language} voice {DEFAULT_VOICE[language]}", stacklevel=3)
        return DEFAULT_VOICE[language]
    return max(entries, key=lambda e: cosine(prompt, e.dvector)).name


__all__ = ["IndexTTS2", "segment"]
