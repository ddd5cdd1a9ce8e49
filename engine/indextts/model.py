"""Upstream's IndexTTS2 (indextts2-inference), loaded offline, run one segment at a time with the S2Mel
length chosen by takefit — the step upstream fixes at `code_lens * 1.72` (its exact-duration mode is
not enabled: `use_speed` is zeros). Everything else is upstream's own code: its loaders, conditioning
(speaker: w2v-BERT + semantic codec + CAMPPlus + length regulator; emotion: w2v-BERT + the emotion
perceiver, or the 8-vector through feat1/feat2), GPT sampling, flow-matching S2Mel and BigVGAN.

Not thread-safe by itself: the backend holds a lock around every call (upstream keeps per-call caches).
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
import torch.nn.functional as F
from huggingface_hub import constants as hub_constants
from indextts.infer_v2 import IndexTTS2
from indextts.utils.front import TextTokenizer

from ..assets import sha256_file
from ..backend import clip_identity
from ..errors import InputError
from .checkpoint import Checkpoint
from .fit import FRAMES_PER_CODE

DIFFUSION_STEPS = 25      # upstream's defaults in infer_generator
CFG_RATE = 0.7
MAX_CLIP_SECONDS = 15     # upstream reads no more of a voice or emotion clip


@dataclass(frozen=True)
class Conditioning:
    """What the GPT and S2Mel are conditioned on for one take (tensors as upstream makes them)."""
    speaker: Any              # w2v-BERT features of the voice clip (1, T, 1024)
    style: Any                # CAMPPlus speaker embedding (1, 192)
    prompt: Any               # length-regulated codec of the clip (S2Mel prompt)
    ref_mel: Any              # the clip's mel (S2Mel prompt)
    emotion: Any              # w2v-BERT features of the emotion clip (the voice clip when none)
    emovec: Any               # the merged emotion vector the GPT reads (1, model_dim)
    emo_alpha: float




def load_upstream(ckpt: Checkpoint, device: str):
    """IndexTTS2 from the checked folder, offline. Without nemo-text-processing (it needs pynini) the
    text goes to upstream's tokenizer unnormalised: takefit's lines are written out already."""
    offline_hub()
    return OfflineIndexTTS2(model_dir=str(ckpt.model_dir), device=device)


class OfflineIndexTTS2(IndexTTS2):
    """Upstream's class; only its text loader changes, and only when nemo-text-processing is absent."""

    def _load_text(self, language):
        if importlib.util.find_spec("nemo_text_processing") is not None:
            super()._load_text(language)
            return
        self.bpe_path = os.path.join(self.model_dir, self.cfg.dataset["bpe_model"])
        self.normalizer = None
        self.tokenizer = TextTokenizer(self.bpe_path, None)


def offline_hub() -> None:
    """Never download: huggingface_hub reads HF_HUB_OFFLINE and HF_HUB_CACHE once, when first imported
    (perhaps by another part of this process, before the environment was set), so set both there too."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    hub_constants.HF_HUB_OFFLINE = True
    if os.environ.get("HF_HUB_CACHE"):
        hub_constants.HF_HUB_CACHE = os.environ["HF_HUB_CACHE"]


class ClipExcerpts:
    """Clips as upstream uses them: at most MAX_CLIP_SECONDS (its _load_and_cut_audio cut). librosa would
    decode a two-hour file whole before cutting it; a longer clip's excerpt is read with soundfile and kept
    here, keyed by the clip's path and stat, so neither time nor memory grows with the file."""

    def __init__(self):
        self._folder = tempfile.TemporaryDirectory(prefix="takefit-indextts-clips-")
        self._hashes: dict[str, str] = {}          # a clip as it is now (engine/backend.clip_identity) → sha256

    def content(self, clip: str) -> tuple[str, str]:
        """(the file upstream reads for `clip`, its sha256): hashed once per version of the clip, not at every
        plan and conditioning of every line it voices."""
        path = self.excerpt(clip)
        version = clip_identity(clip)
        if version not in self._hashes:
            self._hashes[version] = sha256_file(path)
        return path, self._hashes[version]

    def excerpt(self, clip: str) -> str:
        try:
            info = sf.info(clip)
        except (RuntimeError, OSError) as e:     # soundfile's LibsndfileError is a RuntimeError
            raise InputError(f"clip {clip!r} is not audio this machine reads ({e}): give a WAV, FLAC, OGG or "
                             f"MP3 file") from None
        if info.frames <= 0:
            raise InputError(f"clip {clip!r} holds no samples: give a recording of 3-15 s of speech")
        keep = int(MAX_CLIP_SECONDS * info.samplerate)
        if info.frames <= keep:
            return clip
        name = hashlib.sha256(clip_identity(clip).encode()).hexdigest()[:32]
        out = Path(self._folder.name) / f"{name}.wav"
        if not out.exists():
            data, rate = sf.read(clip, frames=keep, dtype="float32", always_2d=True)
            tmp = out.with_suffix(".partial")
            sf.write(tmp, data, rate, format="WAV", subtype="FLOAT")
            os.replace(tmp, out)
        return str(out)


class IndexModel:
    """The loaded model with conditioning cached by the clips' sha256 (upstream caches one path only)."""

    def __init__(self, tts):
        self.tts = tts
        self._speakers: dict[str, tuple] = {}
        self._emotions: dict[str, Any] = {}
        self.clips = ClipExcerpts()

    @property
    def device(self) -> str:
        return str(self.tts.device)

    def tokens(self, text: str) -> list[int]:
        tok = self.tts.tokenizer
        return tok.convert_tokens_to_ids(tok.tokenize(text))

    def speaker(self, clip: str):
        """(w2v features, style, prompt, ref_mel) of a voice clip, computed once per content."""
        clip, key = self.clips.content(clip)
        if key not in self._speakers:
            self.tts.cache_spk_cond = None           # upstream's own cache is by path: never trust it here
            with torch.no_grad():                    # upstream runs CAMPPlus with autograd on
                self._speakers[key] = self.tts._get_speaker_conditioning(clip)
        return self._speakers[key]

    def emotion_features(self, clip: str):
        clip, key = self.clips.content(clip)
        if key not in self._emotions:
            self.tts.cache_emo_cond = None
            with torch.no_grad():
                self._emotions[key] = self.tts._get_emotion_conditioning(clip)
        return self._emotions[key]

    def condition(self, voice_clip: str, vector: list[float] | None = None, emotion_clip: str | None = None,
                  alpha: float = 1.0) -> Conditioning:
        """Upstream's emotion mixing (infer_generator): a vector picks feat2 rows by the speaker's style
        and blends them with the clip's own emotion; an emotion clip is merged with weight alpha."""
        tts = self.tts
        spk, style, prompt, ref_mel = self.speaker(voice_clip)
        if vector is not None or emotion_clip is None:
            emotion_clip, alpha = voice_clip, 1.0
        emo = self.emotion_features(emotion_clip)
        with torch.no_grad():
            emovec = tts.gpt.merge_emovec(spk, emo, self._len(spk), self._len(emo), alpha=alpha)
            if vector is not None:
                weight = torch.tensor(vector, device=tts.device, dtype=torch.float32)
                index = [_most_similar(style, rows) for rows in tts.spk_matrix]
                mat = torch.cat([rows[i].unsqueeze(0) for i, rows in zip(index, tts.emo_matrix)], 0)
                emovec = torch.sum(weight.unsqueeze(1) * mat, 0).unsqueeze(0) + (1 - torch.sum(weight)) * emovec
        return Conditioning(spk, style, prompt, ref_mel, emo, emovec, alpha)

    def codes(self, tokens: list[int], cond: Conditioning, max_codes: int, seed: int):
        """Upstream's GPT sampling (its defaults but one beam); returns (codes, latent for S2Mel)."""
        tts = self.tts
        text = torch.tensor(tokens, dtype=torch.int32, device=tts.device).unsqueeze(0)
        spk, emo = cond.speaker, cond.emotion
        lens = {"cond_lengths": self._len(spk), "emo_cond_lengths": self._len(emo)}
        torch.manual_seed(seed)
        with torch.no_grad():
            codes, spk_latent = tts.gpt.inference_speech(
                spk, text, emo, **lens, emo_vec=cond.emovec, do_sample=True, top_p=0.8, top_k=30,
                temperature=0.8, num_return_sequences=1, length_penalty=0.0, num_beams=1,
                repetition_penalty=10.0, max_generate_length=max_codes)
            stops = (codes[0] == tts.stop_mel_token).nonzero()
            n = int(stops[0][0]) if len(stops) else codes.shape[-1]
            if n == 0:
                raise InputError("IndexTTS produced no speech codes for this line (it stopped at once): "
                                 "rephrase it, or render it again as another take")
            codes = codes[:, :n]
            latent = tts.gpt(spk_latent, text, self._len(text), codes, self._len(codes), emo,
                             cond_mel_lengths=self._len(spk), emo_cond_mel_lengths=self._len(emo), emo_vec=cond.emovec,
                             use_speed=torch.zeros(1, dtype=torch.long, device=tts.device))
        return codes, latent

    def _len(self, tensor):
        return torch.tensor([tensor.shape[-1]], device=self.tts.device)

    def waveform(self, codes, latent, cond: Conditioning, frames: int, seed: int) -> np.ndarray:
        """S2Mel to exactly `frames` mel frames (upstream: codes × 1.72), then BigVGAN: frames × HOP samples.
        The flow-matching noise is seeded: a line renders the same way every time, on every machine."""
        tts = self.tts
        torch.manual_seed(seed)
        with torch.no_grad():
            latent = tts.s2mel.models["gpt_layer"](latent)
            s_infer = tts.semantic_codec.quantizer.vq2emb(codes.unsqueeze(1)).transpose(1, 2) + latent
            lengths = torch.LongTensor([frames]).to(s_infer.device)
            regulated = tts.s2mel.models["length_regulator"](s_infer, ylens=lengths, n_quantizers=3, f0=None)[0]
            cat = torch.cat([cond.prompt, regulated], dim=1)
            mel = tts.s2mel.models["cfm"].inference(cat, torch.LongTensor([cat.size(1)]).to(cat.device), cond.ref_mel,
                                                    cond.style, None, DIFFUSION_STEPS, inference_cfg_rate=CFG_RATE)
            mel = mel[:, :, cond.ref_mel.size(-1):]
            wav = tts.bigvgan(mel.float()).squeeze()
        return torch.clamp(wav, -1.0, 1.0).cpu().numpy().astype(np.float32).reshape(-1)


def _most_similar(style, rows) -> int:
    return int(F.cosine_similarity(style.float(), rows.float(), dim=1).argmax())


def natural_frames(code_count: int) -> int:
    """Upstream's S2Mel length for `code_count` semantic codes (its natural pace)."""
    return int(code_count * FRAMES_PER_CODE)


__all__ = ["CFG_RATE", "DIFFUSION_STEPS", "MAX_CLIP_SECONDS", "ClipExcerpts", "Conditioning", "IndexModel",
           "OfflineIndexTTS2", "load_upstream", "natural_frames", "offline_hub", "sha256_file"]
