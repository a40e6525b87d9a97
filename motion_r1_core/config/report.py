"""Section `report`: what stage eval_report measures, beyond the protocol of `evaluation`."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from motion_r1_core.config.base import _Section

_POLICY = re.compile(r"^(sft/(cot|no_cot)|grpo/[A-Za-z0-9_]+)$")


class ReportConfig(_Section):
    """The evaluation report: its rows, its protocol sizes and its extra columns."""

    policies: list[str] | None = Field(
        None,
        description="Policy rows, e.g. [sft/no_cot, sft/cot, grpo/both]; null: every policy "
        "present under artifacts/<dataset>/ (sft/<variant>/model, grpo/<ablation>/model).",
    )
    replications: int | None = Field(
        5, ge=1, description="Protocol replications of each row; null: evaluation.replications."
    )
    mm_num_samples: int | None = Field(
        32, ge=1, description="MultiModality texts; null: evaluation.mm_num_samples (100)."
    )
    mm_repeats: int | None = Field(
        11, ge=2, description="Generations per MultiModality text; null: evaluation.mm_repeats."
    )
    format_captions: int = Field(
        450, ge=1, description="Test captions sampled without the grammar (format validity)."
    )
    chain_captions: int = Field(
        450, ge=1, description="Test captions whose chains are counted and compared with the truth."
    )
    length_captions: int = Field(
        128, ge=1, description="Whole test motions for the length error (free, hinted, pinned)."
    )
    gallery: int = Field(4, ge=0, description="Test motions in the GIF gallery.")
    published: bool = Field(
        True,
        description="Also score with the published Guo evaluator when evaluation.published "
        "paths are all set (real HumanML3D / KIT-ML).",
    )
    curves: bool = Field(True, description="Training curves of the policy runs, from MLflow.")

    @field_validator("policies")
    @classmethod
    def _names(cls, v: list[str] | None) -> list[str] | None:
        for name in v or []:
            if not _POLICY.match(name):
                raise ValueError(
                    f"report.policies: {name!r} is not sft/cot, sft/no_cot or grpo/<ablation>"
                )
        return v
