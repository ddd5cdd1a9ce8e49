"""A tiny random-weight IndexTTS2 checkpoint set, built through upstream's own classes (indextts2-inference).

Upstream's layout (index-tts/index-tts checkpoints/, docs: its README "Download models"): `config.yaml`,
`gpt.pth`, `s2mel.pth`, `bpe.model`, `wav2vec2bert_stats.pt`, `feat1.pt`, `feat2.pt`, the text-emotion
model's folder, and four auxiliary models it takes from the Hugging Face hub by id. Here every model is
built from a shrunken config with random init and saved where upstream's loaders look: the checkpoint
folder, and a hub cache (`HF_HUB_CACHE`, read with `HF_HUB_OFFLINE=1`) holding the auxiliary ones.

Shapes upstream hard-codes stay: the w2v-BERT features are 1024 wide and the 17th hidden state is read
(so 17 layers of width 1024 — the bulk of the set, ≈ 0.5 GB), and the GPT is 1280 wide (s2mel's
`gpt_layer` is Linear(1280, …)). Everything else is as small as the classes allow. Seeded: the same files
every time. Not a test file: tests/test_indextts.py asks for the set (`shared`) and it is built once per
test run: ≈ 18 s and 0.5 GB, three modules use it, and pytest-xdist's workers share the one built first.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

TEXT_TOKENS = 120          # the BPE's vocabulary (upstream: 12000)
MEL_CODES = 64             # the semantic codec's codebook (upstream: 8192); + start/stop tokens in the GPT
MAX_CODES = 58             # the GPT's cap, and (never stopping) every line's length: 58 × 1.72 = 99 mel frames
EMO_NUM = (2, 1, 1, 1, 1, 1, 1, 2)    # rows per emotion in feat1/feat2 (upstream: 3, 17, 2, 8, 4, 5, 10, 24)
SNAPSHOT = "0" * 40        # the hub cache's revision folder name (any commit-like name resolves offline)
HUB_IDS = {"w2v": "facebook/w2v-bert-2.0", "codec": "amphion/MaskGCT", "campplus": "funasr/campplus",
           "vocoder": "nvidia/bigvgan_v2_22khz_80band_256x"}


@dataclass(frozen=True)
class TinySet:
    """Where a built set lies: the checkpoint folder (config.yaml …) and the hub cache for HF_HUB_CACHE."""
    model_dir: Path
    hub_cache: Path

    def env(self) -> dict[str, str]:
        return {"HF_HUB_CACHE": str(self.hub_cache), "HF_HUB_OFFLINE": "1"}


def tiny_config() -> dict:
    """Upstream's config.yaml (IndexTTS-2 checkpoints/config.yaml) with every free size shrunk."""
    cond = {"output_size": 32, "linear_units": 32, "attention_heads": 2, "num_blocks": 1,
            "input_layer": "conv2d2", "perceiver_mult": 1}
    spect = {"n_fft": 1024, "win_length": 1024, "hop_length": 256, "n_mels": 80, "fmin": 0, "fmax": "None"}
    return {
        "dataset": {"bpe_model": "bpe.model", "sample_rate": 24000, "squeeze": False},
        "gpt": {"model_dim": 1280, "max_mel_tokens": MAX_CODES, "max_text_tokens": 120, "heads": 2,
                "use_mel_codes_as_input": True, "mel_length_compression": 1024, "layers": 1,
                "number_text_tokens": TEXT_TOKENS, "number_mel_codes": MEL_CODES + 2,
                "start_mel_token": MEL_CODES, "stop_mel_token": MEL_CODES + 1, "start_text_token": 0,
                "stop_text_token": 1, "train_solo_embeddings": False, "condition_type": "conformer_perceiver",
                "condition_module": dict(cond), "emo_condition_module": dict(cond)},
        "semantic_codec": {"codebook_size": MEL_CODES, "hidden_size": 1024, "codebook_dim": 8, "vocos_dim": 16,
                           "vocos_intermediate_dim": 32, "vocos_num_layers": 1},
        "s2mel": {
            "preprocess_params": {"sr": 22050, "spect_params": spect},
            "dit_type": "DiT", "reg_loss_type": "l1", "style_encoder": {"dim": 192},
            "length_regulator": {"channels": 32, "is_discrete": False, "in_channels": 1024,
                                 "content_codebook_size": 64, "sampling_ratios": [1, 1, 1, 1],
                                 "vector_quantize": False, "n_codebooks": 1, "quantizer_dropout": 0.0,
                                 "f0_condition": False, "n_f0_bins": 64},
            "DiT": {"hidden_dim": 32, "num_heads": 2, "depth": 1, "class_dropout_prob": 0.1, "block_size": 8192,
                    "in_channels": 80, "style_condition": True, "final_layer_type": "wavenet", "target": "mel",
                    "content_dim": 32, "content_codebook_size": 64, "content_type": "discrete",
                    "f0_condition": False, "n_f0_bins": 64, "content_codebooks": 1, "is_causal": False,
                    "long_skip_connection": True, "zero_prompt_speech_token": False, "time_as_token": False,
                    "style_as_token": False, "uvit_skip_connection": True, "add_resblock_in_transformer": False},
            "wavenet": {"hidden_dim": 32, "num_layers": 1, "kernel_size": 5, "dilation_rate": 1, "p_dropout": 0.0,
                        "style_condition": True},
        },
        "gpt_checkpoint": "gpt.pth", "w2v_stat": "wav2vec2bert_stats.pt", "s2mel_checkpoint": "s2mel.pth",
        "emo_matrix": "feat2.pt", "spk_matrix": "feat1.pt", "emo_num": list(EMO_NUM),
        "qwen_emo_path": "qwen0.6bemo4-merge/",
        "vocoder": {"type": "bigvgan", "name": HUB_IDS["vocoder"]},
        "version": 2.0,
    }


def build(root: Path, seed: int = 0) -> TinySet:
    """Build the whole set under `root` (model/ and hub/); returns where it lies."""
    import torch
    from omegaconf import OmegaConf

    torch.manual_seed(seed)
    tiny = TinySet(Path(root) / "model", Path(root) / "hub")
    tiny.model_dir.mkdir(parents=True, exist_ok=True)
    cfg = OmegaConf.create(tiny_config())
    OmegaConf.save(cfg, tiny.model_dir / "config.yaml")
    _gpt(cfg, tiny.model_dir)
    _s2mel(cfg, tiny.model_dir)
    _matrices(cfg, tiny.model_dir)
    _bpe(tiny.model_dir / cfg.dataset.bpe_model)
    _qwen_emotion(tiny.model_dir / cfg.qwen_emo_path)
    _w2v_bert(_snapshot(tiny.hub_cache, HUB_IDS["w2v"]))
    _codec(cfg, _snapshot(tiny.hub_cache, HUB_IDS["codec"]))
    _campplus(_snapshot(tiny.hub_cache, HUB_IDS["campplus"]))
    _bigvgan(_snapshot(tiny.hub_cache, HUB_IDS["vocoder"]))
    return tiny


def shared(base: Path, finish=None, seed: int = 0) -> TinySet:
    """The set under `base`, built there by the first caller and reused by the rest — other processes
    included (pytest-xdist's workers): an exclusive lock while building, the set built in a scratch folder
    and renamed into place, so a reader never sees half a set. The folder is named by this file's hash and
    the seed, so a changed builder builds anew. `finish(tiny)` adds files to the set before it is renamed."""
    digest = hashlib.sha256(Path(__file__).read_bytes() + str(seed).encode()).hexdigest()[:12]
    final = Path(base) / f"indextts-tiny-{digest}"
    Path(base).mkdir(parents=True, exist_ok=True)
    with open(Path(base) / f".indextts-tiny-{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)          # released when the file closes, also if this process dies
        if not final.is_dir():
            scratch = Path(base) / f".indextts-tiny-{digest}.building"
            shutil.rmtree(scratch, ignore_errors=True)     # what a killed builder left
            tiny = build(scratch, seed)
            if finish is not None:
                finish(tiny)
            os.replace(scratch, final)
    return TinySet(final / "model", final / "hub")


def _snapshot(hub: Path, repo_id: str) -> Path:
    """A repo's folder in huggingface_hub's cache layout (models--org--name/snapshots/REV, refs/main)."""
    repo = hub / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(SNAPSHOT)
    snap = repo / "snapshots" / SNAPSHOT
    snap.mkdir(parents=True, exist_ok=True)
    return snap


def _gpt(cfg, model_dir: Path) -> None:
    import torch
    from indextts.gpt.model_v2 import UnifiedVoice

    gpt = UnifiedVoice(**cfg.gpt)
    # A trained GPT never samples the start token (it would index past the codec's codebook) and stops
    # when the line is read. This random one must not emit it either, and never stops: every line is then
    # max_mel_tokens codes, a fixed natural length the tests can aim slots at.
    with torch.no_grad():
        gpt.mel_head.bias[cfg.gpt.start_mel_token] = -1e4
        gpt.mel_head.bias[cfg.gpt.stop_mel_token] = -1e4
    torch.save(gpt.state_dict(), model_dir / cfg.gpt_checkpoint)


def _s2mel(cfg, model_dir: Path) -> None:
    import torch
    from indextts.s2mel.modules.commons import MyModel

    model = MyModel(cfg.s2mel, use_gpt_latent=True)
    # load_checkpoint2 reads state["net"][module name]
    torch.save({"net": {k: m.state_dict() for k, m in model.models.items()}}, model_dir / cfg.s2mel_checkpoint)


def _matrices(cfg, model_dir: Path) -> None:
    """w2v-BERT feature statistics, and the per-emotion speaker (campplus, 192) / emotion (GPT width) rows."""
    import torch

    rows = sum(cfg.emo_num)
    torch.save({"mean": torch.randn(1024) * 0.1, "var": torch.rand(1024) + 0.5}, model_dir / cfg.w2v_stat)
    torch.save(torch.randn(rows, 192), model_dir / cfg.spk_matrix)
    torch.save(torch.randn(rows, cfg.gpt.model_dim) * 0.1, model_dir / cfg.emo_matrix)


def _bpe(path: Path) -> None:
    """A SentencePiece BPE of TEXT_TOKENS pieces over upper-case English and common Chinese characters
    (upstream's tokenizer upper-cases and splits CJK characters before encoding)."""
    import io

    import sentencepiece as spm

    words = ["THE", "A", "AN", "IS", "ARE", "WAS", "ROLL", "CAMERA", "READY", "GO", "HELLO", "WORLD", "TAKE", "FIT",
             "SLOT", "LINE", "TIME", "ON", "EXACTLY", "WE", "YOU", "THEY", "IT", "THIS", "THAT", "AND", "OR", "NOT"]
    hanzi = "你好我们用给视频配音他还没钱去银行这是一个测试的了在有不人中大"
    lines = [" ".join(words[i:] + words[:i]) for i in range(len(words))]
    lines += [" ".join(hanzi[i:] + hanzi[:i]) for i in range(len(hanzi))]
    out = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines * 4), model_writer=out, vocab_size=TEXT_TOKENS,
                                   model_type="bpe", character_coverage=1.0, bos_id=0, eos_id=1, unk_id=2,
                                   pad_id=-1, hard_vocab_limit=False, minloglevel=2)
    path.write_bytes(out.getvalue())


def _qwen_emotion(folder: Path) -> None:
    """The text-emotion model's folder (upstream: a fine-tuned Qwen3-0.6B that answers JSON scores): a
    one-layer Qwen3 and a word-level tokenizer with a chat template, loadable by AutoTokenizer /
    AutoModelForCausalLM as QwenEmotion does. Its output layer is zero, so greedy decoding answers the
    end token (id 0) at once: an empty answer, which upstream reads as calm (QwenEmotion.convert)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GenerationConfig, PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

    words = ["<|im_end|>", "<unk>", "<|endoftext|>", "<|im_start|>", "system", "user", "assistant",
             "文本情感分类", "高兴", "愤怒", "悲伤", "恐惧", "反感", "低落", "惊讶", "自然", "{", "}", ":", ","]
    tok = Tokenizer(models.WordLevel({t: i for i, t in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>")
    fast.chat_template = ("{% for m in messages %}<|im_start|> {{ m['role'] }} {{ m['content'] }} <|im_end|> "
                          "{% endfor %}{% if add_generation_prompt %}<|im_start|> assistant {% endif %}")
    fast.save_pretrained(folder)
    config = Qwen3Config(vocab_size=len(words), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=8, max_position_embeddings=256,
                         tie_word_embeddings=False, bos_token_id=0, eos_token_id=0, pad_token_id=2)
    model = Qwen3ForCausalLM(config)
    with torch.no_grad():
        model.lm_head.weight.zero_()
    model.generation_config = GenerationConfig(do_sample=False, eos_token_id=0, pad_token_id=2)
    model.save_pretrained(folder)


def _w2v_bert(snap: Path) -> None:
    """facebook/w2v-bert-2.0: 17 layers (upstream reads hidden_states[17]) of width 1024 in 16 heads, as the real
    model has (fewer, wider heads would make each layer's relative-position table T × T × 1024/heads: 1.1 GB
    for a 15 s clip with 2), thin otherwise."""
    from transformers import SeamlessM4TFeatureExtractor, Wav2Vec2BertConfig, Wav2Vec2BertModel

    config = Wav2Vec2BertConfig(hidden_size=1024, num_hidden_layers=17, num_attention_heads=16, intermediate_size=16,
                                conv_depthwise_kernel_size=3, left_max_position_embeddings=8,
                                right_max_position_embeddings=8, add_adapter=False)
    Wav2Vec2BertModel(config).save_pretrained(snap)
    SeamlessM4TFeatureExtractor().save_pretrained(snap)


def _codec(cfg, snap: Path) -> None:
    """amphion/MaskGCT semantic_codec/model.safetensors: upstream's RepCodec from cfg.semantic_codec."""
    import safetensors.torch
    from indextts.utils.maskgct_utils import build_semantic_codec

    (snap / "semantic_codec").mkdir(exist_ok=True)
    safetensors.torch.save_model(build_semantic_codec(cfg.semantic_codec), str(snap / "semantic_codec" /
                                                                                "model.safetensors"))


def _campplus(snap: Path) -> None:
    """funasr/campplus campplus_cn_common.bin: CAMPPlus(80, 192) as upstream builds it (its size is fixed)."""
    import torch
    from indextts.s2mel.modules.campplus.DTDNN import CAMPPlus

    torch.save(CAMPPlus(feat_dim=80, embedding_size=192).state_dict(), snap / "campplus_cn_common.bin")


def _bigvgan(snap: Path) -> None:
    """nvidia/bigvgan_v2_22khz_80band_256x: the real config's rates (×256 = s2mel's hop), narrow channels."""
    import torch
    from indextts.s2mel.modules.bigvgan import bigvgan
    from indextts.s2mel.modules.bigvgan.env import AttrDict

    h = {"resblock": "1", "num_mels": 80, "upsample_rates": [4, 4, 2, 2, 2, 2],
         "upsample_kernel_sizes": [8, 8, 4, 4, 4, 4], "upsample_initial_channel": 64, "resblock_kernel_sizes": [3],
         "resblock_dilation_sizes": [[1, 3, 5]], "use_tanh_at_final": False, "use_bias_at_final": False,
         "activation": "snakebeta", "snake_logscale": True, "sampling_rate": 22050, "hop_size": 256,
         "n_fft": 1024, "win_size": 1024, "fmin": 0, "fmax": None, "num_freq": 1025}
    (snap / "config.json").write_text(json.dumps(h))
    torch.save({"generator": bigvgan.BigVGAN(AttrDict(h)).state_dict()}, snap / "bigvgan_generator.pt")


if __name__ == "__main__":      # python tests/indextts_tiny.py DIR: build a set by hand
    import sys

    built = build(Path(sys.argv[1]))
    print(" ".join(f"{k}={v}" for k, v in built.env().items()), f"TAKEFIT_INDEXTTS_DIR={built.model_dir}",
          os.linesep.join(str(p) for p in sorted(built.model_dir.iterdir())), sep=os.linesep)
