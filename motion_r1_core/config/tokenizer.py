"""Sections `vqvae` and `tokens`: the motion tokenizer and the token dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from motion_r1_core.config.base import _Section


class VQVAEModelConfig(_Section):
    """The T2M-GPT tokenizer's shape (REFERENCE.md section 3); the input width comes from the data."""

    codebook_size: int = Field(256, ge=2, description="Number of codes K.")
    code_dim: int = Field(128, ge=1, description="Width of each code (the encoder's output).")
    width: int = Field(128, ge=1, description="Channels of every hidden conv layer.")
    depth: int = Field(3, ge=1, description="Dilated residual blocks after each resampling.")
    down_t: int = Field(
        2, ge=0, le=4, description="Stride-2 downsamplings: one token per 2**down_t frames."
    )
    dilation_growth_rate: int = Field(3, ge=1, description="Dilations 1, r, r^2, ...")
    ema_decay: float = Field(0.99, gt=0, lt=1, description="EMA decay of the codebook update.")
    dead_code_threshold: float = Field(
        1.0,
        ge=0,
        description="Codes whose EMA count falls below this are reset to encoder outputs.",
    )
    kmeans_init: bool = Field(
        True, description="Initialise the codebook by k-means on the first batch (else random)."
    )

    @property
    def frames_per_token(self) -> int:
        """Temporal compression: frames per token (4 for down_t = 2)."""
        return 2**self.down_t


class VQVAETrainConfig(_Section):
    """Training of the tokenizer: windows, loss weights, AdamW with warm-up and step decay."""

    iterations: int = Field(1000, ge=1, description="Optimiser steps.")
    batch_size: int = Field(64, ge=1, description="Windows per step.")
    window: int = Field(
        64, ge=4, description="Frames per training window (motions shorter are skipped)."
    )
    lr: float = Field(5e-4, gt=0, description="Peak learning rate.")
    warmup: int = Field(100, ge=0, description="Linear warm-up steps from 0 to lr.")
    milestones: tuple[int, ...] = Field(
        (800,), description="Steps at which the learning rate is multiplied by gamma."
    )
    gamma: float = Field(0.1, gt=0, description="Step-decay factor.")
    betas: tuple[float, float] = Field((0.9, 0.99), description="AdamW betas.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    grad_clip: float = Field(1.0, ge=0, description="Max global gradient norm; 0 disables.")
    loss_joints: float = Field(
        0.5, ge=0, description="Weight of smooth L1 on the root-relative joint slice (4:4+3(J-1))."
    )
    commitment: float = Field(0.02, ge=0, description="Weight of the commitment loss.")
    normalisation: Literal["evaluator", "dataset"] = Field(
        "evaluator",
        description="evaluator: the evaluator's mean/std convention (std of root and feet / 5, "
        "as T2M-GPT trains); read from evaluator_meta when given, else computed on train. "
        "dataset: the folder's Mean.npy/Std.npy.",
    )
    evaluator_meta: Path | None = Field(
        None, description="Folder with the published evaluator's mean.npy/std.npy (real data)."
    )
    seed: int = Field(0, description="Seed of initialisation, window sampling and code resets.")
    log_every: int = Field(50, ge=1, description="Steps between MLflow metric logs.")
    eval_every: int = Field(
        250, ge=1, description="Steps between validation reconstruction metrics."
    )
    checkpoint_every: int = Field(
        250, ge=1, description="Steps between resumable checkpoints (and at the end)."
    )
    device: str = Field("auto", description="auto (cuda if available), cpu, cuda, cuda:1, ...")
    bf16: bool = Field(False, description="bf16 autocast on CUDA (ignored on CPU).")
    compile: bool = Field(False, description="torch.compile the encoder and decoder.")

    @model_validator(mode="after")
    def _schedule(self) -> VQVAETrainConfig:
        if list(self.milestones) != sorted(self.milestones):
            raise ValueError(f"vqvae.train.milestones must be increasing, got {self.milestones}")
        return self


class VQVAEConfig(_Section):
    """Section `vqvae`: model shape, training, and what the reconstruction report shows."""

    model: VQVAEModelConfig = VQVAEModelConfig()
    train: VQVAETrainConfig = VQVAETrainConfig()
    eval_batch: int = Field(64, ge=1, description="Motions per batch when evaluating/encoding.")
    gifs: int = Field(3, ge=0, description="Test motions rendered beside their reconstruction.")
    max_test_mpjpe_mm: float = Field(
        60.0, gt=0, description="Quality check: test MPJPE (root-aligned, mm) must not exceed this."
    )
    min_codes_used: float = Field(
        0.6, ge=0, le=1, description="Quality check: share of codes used on test must reach this."
    )

    @model_validator(mode="after")
    def _window(self) -> VQVAEConfig:
        if self.train.window % self.model.frames_per_token:
            raise ValueError(
                f"vqvae.train.window ({self.train.window}) must be a multiple of "
                f"2**vqvae.model.down_t ({self.model.frames_per_token})"
            )
        return self


class TokensConfig(_Section):
    """Section `tokens`: the token dataset written from the trained tokenizer."""

    mirror: bool = Field(
        True,
        description="Also encode a left/right mirrored copy of each motion (id `M<id>`); "
        "ignored for motions whose id already starts with M (HumanML3D ships them).",
    )
