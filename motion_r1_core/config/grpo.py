"""Section `policy.grpo`: GRPO of the CoT policy (TRL `GRPOTrainer`) and its reward ablations.

Every TRL setting that decides the algorithm is written here explicitly: TRL 1.x defaults
differ from the public Qwen2.5-3B recipe (REFERENCE.md section 2), which the paper profile
follows (beta 0.001 rather than 0.0, loss `grpo` rather than `dapo`, no reward scaling).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from motion_r1_core.config.base import _Section


class RewardWeights(_Section):
    """Weights of the four reward callables; TRL sums them into the total reward."""

    format: float = Field(1.0, description="1 if the completion parses in the full grammar.")
    motion_similarity: float = Field(
        1.0, description="cos(reward-encoder embedding of the motion, of the reference motion)."
    )
    semantic_similarity: float = Field(
        1.0, description="cos(reward-encoder embedding of the motion, of the caption)."
    )
    physics: float = Field(
        0.0, description="Foot skating, ground penetration and jitter mapped to [0, 1]."
    )

    def as_dict(self) -> dict[str, float]:
        """Reward name -> weight, in the order the reward callables are built."""
        return self.model_dump()


def default_ablations() -> dict[str, RewardWeights]:
    """The paper's reward ablation: format always, plus one or both similarities (and physics)."""
    return {
        "semantic": RewardWeights(motion_similarity=0.0),
        "motion": RewardWeights(semantic_similarity=0.0),
        "both": RewardWeights(),
        "both_physics": RewardWeights(physics=0.5),
    }


class GRPOEvalSection(_Section):
    """What grpo_policy measures at the end, on held-out (test) captions."""

    captions: int = Field(
        2000,
        ge=2,
        description="Test captions (at most; drawn without replacement) sampled like the "
        "rollouts, for the mean rewards.",
    )
    replications: int = Field(5, ge=1, description="Protocol replications (R-Precision, FID).")
    gifs: int = Field(3, ge=0, description="Test captions rendered.")
    format_tolerance: float = Field(
        0.01,
        ge=0.0,
        le=1.0,
        description="Check: unconstrained format validity may fall at most this much below the "
        "SFT policy's on the same captions and seed.",
    )


class GRPOSection(_Section):
    """GRPO of the CoT SFT policy (TRL GRPOTrainer; group-relative advantages)."""

    ablation: str = Field(
        "both",
        description="Which entry of `ablations` this run trains (the run's name; names keep to "
        "letters, digits and _ so they are valid MLflow keys and folder names).",
    )
    ablations: dict[str, RewardWeights] = Field(
        default_factory=default_ablations,
        description="Named reward weightings (the paper's ablation); `ablation_job` runs them all.",
    )
    finetune: Literal["full", "lora"] = Field(
        "full", description="full (the public recipe) or lora (policy.sft.lora settings)."
    )
    steps: int = Field(72, ge=1, description="Optimiser steps (one generation round each).")
    num_generations: int = Field(8, ge=2, description="Completions per prompt, G (recipe: 8).")
    batch_size: int = Field(
        64, ge=2, description="Completions per device step (prompts = batch_size / G)."
    )
    grad_accum: int = Field(1, ge=1, description="Gradient accumulation steps.")
    lr: float = Field(2e-4, gt=0.0, description="AdamW peak learning rate (recipe: 5e-5).")
    warmup_steps: int = Field(7, ge=0, description="Linear warm-up (recipe: 10% of the steps).")
    scheduler: str = Field("cosine", description="transformers lr scheduler type.")
    weight_decay: float = Field(0.1, ge=0.0, description="AdamW weight decay (recipe: 0.1).")
    adam_beta2: float = Field(0.99, gt=0.0, lt=1.0, description="AdamW beta2 (recipe: 0.99).")
    max_grad_norm: float = Field(0.1, gt=0.0, description="Gradient clipping (recipe: 0.1).")
    beta: float = Field(
        0.001,
        ge=0.0,
        description="KL weight to the SFT policy (recipe 0.001; TRL's default 0.0 loads no "
        "reference model and logs no KL).",
    )
    epsilon: float = Field(0.2, gt=0.0, description="PPO clipping of the ratio (recipe: 0.2).")
    loss_type: Literal["grpo", "dr_grpo", "dapo", "bnpo"] = Field(
        "grpo",
        description="Token aggregation of the loss (recipe: grpo, per-sequence mean; TRL's "
        "default is dapo).",
    )
    scale_rewards: Literal["none", "group", "batch"] = Field(
        "none",
        description="Divide advantages by the reward std (recipe: none, advantage = reward - "
        "group mean; TRL's default is group).",
    )
    num_iterations: int = Field(1, ge=1, description="Updates per generation round (recipe 1).")
    mask_truncated_completions: bool = Field(
        False, description="Drop completions cut at max_completion_length from the loss."
    )
    temperature: float = Field(1.0, gt=0.0, description="Rollout temperature (recipe: 1.0).")
    top_k: int = Field(10, ge=0, description="Rollout top-k (0: whole vocabulary).")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="Rollout nucleus mass.")
    max_completion_length: int = Field(
        256, ge=8, description="Longest rollout in tokens (recipe: 400)."
    )
    rewards: RewardWeights | None = Field(
        None, description="Explicit weights; null: those of `ablations[ablation]`."
    )
    use_vllm: bool = Field(False, description="Roll out with vLLM (GPU nodes; recipe: on).")
    vllm_mode: Literal["colocate", "server"] = Field(
        "colocate", description="vLLM beside the trainer (recipe) or a separate server."
    )
    vllm_gpu_memory_utilization: float = Field(
        0.2, gt=0.0, le=1.0, description="GPU memory share of a colocated vLLM (recipe: 0.2)."
    )
    bf16: bool = Field(False, description="bf16 mixed precision (GPU).")
    gradient_checkpointing: bool = Field(False, description="Recompute activations (GPU).")
    device: str = Field("auto", description="auto (cuda if available), cpu, cuda, cuda:N.")
    deepspeed: Path | None = Field(
        None, description="DeepSpeed JSON for several GPUs (configs/accelerate/zero2.json)."
    )
    log_every: int = Field(1, ge=1, description="Steps between logged rows.")
    sample_every: int = Field(
        12, ge=1, description="Steps between tables of sample completions (MLflow artifacts)."
    )
    checkpoint_every: int = Field(24, ge=1, description="Steps between resumable checkpoints.")
    keep_checkpoints: int = Field(2, ge=1, description="Checkpoints kept on disk.")
    seed: int = Field(0, description="Seed of the prompt order and the rollouts.")
    eval: GRPOEvalSection = GRPOEvalSection()

    @model_validator(mode="after")
    def _consistent(self) -> GRPOSection:
        bad = [n for n in self.ablations if not n.replace("_", "").isalnum()]
        if bad:
            raise ValueError(
                f"policy.grpo.ablations: names {bad} may hold only letters, digits and _"
            )
        if self.rewards is None and self.ablation not in self.ablations:
            raise ValueError(
                f"policy.grpo.ablation {self.ablation!r} is not one of policy.grpo.ablations "
                f"({', '.join(sorted(self.ablations))})"
            )
        if self.batch_size % self.num_generations:
            raise ValueError(
                f"policy.grpo.batch_size ({self.batch_size}) must be a multiple of "
                f"policy.grpo.num_generations ({self.num_generations})"
            )
        return self

    @property
    def weights(self) -> RewardWeights:
        """The reward weights of this run."""
        return self.rewards if self.rewards is not None else self.ablations[self.ablation]
