"""Stage functions: (config, dataset, tracker) in, a small frozen result out.

The CLI (`motion-r1 stage NAME`), the Dagster assets and the DVC stages all call these; no stage
logic lives anywhere else. Modules are imported lazily so one stage's heavy imports don't slow
the others.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

# stage name -> "module:function"
STAGES: dict[str, str] = {
    "raw_motions": "motion_r1_core.stages.raw_motions:run_raw_motions",
    "motion_vqvae": "motion_r1_core.stages.motion_vqvae:run_motion_vqvae",
    "motion_tokens": "motion_r1_core.stages.motion_tokens:run_motion_tokens",
    "text_motion_encoders": "motion_r1_core.stages.text_motion_encoders:run_text_motion_encoders",
    "cot_triplets": "motion_r1_core.stages.cot_triplets:run_cot_triplets",
    "sft_policy": "motion_r1_core.stages.sft_policy:run_sft_policy",
    "grpo_policy": "motion_r1_core.stages.grpo_policy:run_grpo_policy",
    "eval_report": "motion_r1_core.stages.eval_report:run_eval_report",
    "registered_model": "motion_r1_core.stages.registered_model:run_registered_model",
}


def get_stage(name: str) -> Callable[..., Any]:
    """The stage function called `name`; a clear error listing the known stages otherwise."""
    if name not in STAGES:
        raise ValueError(f"unknown stage {name!r}; known stages: {', '.join(STAGES)}")
    module, func = STAGES[name].split(":")
    return getattr(importlib.import_module(module), func)
