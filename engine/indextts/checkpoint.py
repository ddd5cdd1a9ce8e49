"""Where an IndexTTS2 checkpoint lies and whether it is whole — checked before upstream loads anything.

Upstream (index-tts/index-tts, README "Download models"; code here: indextts2-inference's infer_v2.py)
reads its own files from one folder (`checkpoints/` in its repo) and four auxiliary models from the
Hugging Face hub by id. takefit never downloads: the folder is `$TAKEFIT_INDEXTTS_DIR`, else
`<checkout>/checkpoints/indextts2/`, and the auxiliary models must already be in the hub cache
(`$HF_HUB_CACHE`, default ~/.cache/huggingface/hub), read with `HF_HUB_OFFLINE=1`.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import yaml
from huggingface_hub import try_to_load_from_cache

from ..errors import AssetError

UPSTREAM_DOCS = "https://github.com/index-tts/index-tts#-model-download (IndexTeam/IndexTTS-2)"
# (repo id, file) upstream's infer_v2.py asks huggingface_hub for; the vocoder's id comes from config.yaml
AUXILIARY = (("facebook/w2v-bert-2.0", "config.json"), ("facebook/w2v-bert-2.0", "model.safetensors"),
             ("facebook/w2v-bert-2.0", "preprocessor_config.json"),
             ("amphion/MaskGCT", "semantic_codec/model.safetensors"),
             ("funasr/campplus", "campplus_cn_common.bin"))
VOCODER_FILES = ("config.json", "bigvgan_generator.pt")
CONFIG_FILES = ("gpt_checkpoint", "s2mel_checkpoint", "w2v_stat", "emo_matrix", "spk_matrix")


class CheckpointMissing(AssetError):
    """The checkpoint folder or auxiliary models are incomplete; the message lists every missing file."""


@dataclass(frozen=True)
class Checkpoint:
    """A checked checkpoint: its folder, parsed config and an id for cache keys (config and weight sizes)."""
    model_dir: Path
    config: dict
    engine_id: str

    @property
    def version(self) -> str:
        return str(self.config.get("version", "2"))


def default_dir() -> Path:
    env = os.environ.get("TAKEFIT_INDEXTTS_DIR")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[2] / "checkpoints" / "indextts2"


def locate(model_dir: str | Path | None = None) -> Checkpoint:
    """The checkpoint at `model_dir` (or the default), or CheckpointMissing naming everything absent."""
    folder = Path(model_dir).expanduser() if model_dir else default_dir()
    config_path = folder / "config.yaml"
    if not config_path.is_file():
        raise CheckpointMissing(f"no IndexTTS2 checkpoint at {folder} (no config.yaml). Download IndexTeam/IndexTTS-2 "
                                f"yourself as {UPSTREAM_DOCS} says, then point TAKEFIT_INDEXTTS_DIR at the folder "
                                f"(or put it in checkpoints/indextts2/).")
    config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    missing = [str(folder / name) for name in own_files(config) if not (folder / name).exists()]
    missing += [f"{repo}: {name} (hub cache)" for repo, name in auxiliary_files(config) if not _cached(repo, name)]
    if missing:
        raise CheckpointMissing(f"the IndexTTS2 checkpoint at {folder} is incomplete; missing:\n  "
                                + "\n  ".join(missing) + f"\nUpstream documents them at {UPSTREAM_DOCS}; the "
                                f"auxiliary models go in the Hugging Face cache ({_hub_cache()}, or set "
                                f"HF_HUB_CACHE), e.g. `hf download facebook/w2v-bert-2.0` on a machine online. "
                                f"takefit reads them offline and never downloads.")
    return Checkpoint(folder, config, _engine_id(folder, config))


def own_files(config: dict) -> list[str]:
    """The files config.yaml names inside the checkpoint folder."""
    names = [str(config[k]).strip() for k in CONFIG_FILES if k in config]
    names.append(str(config.get("dataset", {}).get("bpe_model", "bpe.model")).strip())
    if config.get("qwen_emo_path"):
        names.append(str(config["qwen_emo_path"]).strip().rstrip("/") + "/config.json")
    return names


def auxiliary_files(config: dict) -> list[tuple[str, str]]:
    """(repo id, file) in the hub cache; a vocoder given as a local folder is checked as a path instead."""
    vocoder = str(config.get("vocoder", {}).get("name", "nvidia/bigvgan_v2_22khz_80band_256x"))
    files = list(AUXILIARY)
    if not os.path.isdir(vocoder):
        files += [(vocoder, name) for name in VOCODER_FILES]
    return files


def _cached(repo: str, name: str) -> bool:
    found = try_to_load_from_cache(repo, name, cache_dir=os.environ.get("HF_HUB_CACHE"))
    return isinstance(found, str) and os.path.isfile(found)


def _hub_cache() -> str:
    return os.environ.get("HF_HUB_CACHE") or str(Path("~/.cache/huggingface/hub").expanduser())


def _engine_id(folder: Path, config: dict) -> str:
    """Model and version, plus a digest of config.yaml and the weights' sizes: another checkpoint, other
    cache keys (weights are not hashed whole: gigabytes at every start)."""
    h = hashlib.sha256((folder / "config.yaml").read_bytes())
    for name in own_files(config):
        p = folder / name
        h.update(f"{name}:{p.stat().st_size if p.is_file() else 0};".encode())
    return f"indextts2-v{config.get('version', 2)}-{h.hexdigest()[:12]}"


__all__ = ["UPSTREAM_DOCS", "Checkpoint", "CheckpointMissing", "auxiliary_files", "default_dir", "locate",
           "own_files"]
