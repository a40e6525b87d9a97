"""Checks of the encoders group, read from what the stage wrote.

encoders_load (blocking): both checkpoints load and embed a test motion and its caption into
finite unit vectors. real_retrieval (warning): the evaluator ranks real motions far above
motions shuffled across captions. encoders_differ (warning): reward and evaluator are not
interchangeable, so GRPO cannot simply game the metric.
"""

from collections.abc import Iterator

import dagster as dg

from motion_r1_core.encoders.model import embedding_check
from motion_r1_core.stages.text_motion_encoders import ROLES, agreement_check, retrieval_check
from pipelines.asset_checks import dataset_check_specs, outcome_result
from pipelines.defs.encoders.assets import text_motion_encoders
from pipelines.defs.resources import PipelineConfigResource

_SPECS = dataset_check_specs(
    text_motion_encoders,
    {
        "encoders_load": "reward.safetensors and evaluator.safetensors load and embed a test "
        "motion and its caption as finite unit vectors.",
        "real_retrieval": "Evaluator R-Precision top-3 of real test motions >= "
        "encoders.min_real_top3 and of caption-shuffled motions <= "
        "encoders.max_shuffled_top3 (warning).",
        "encoders_differ": "Correlation of the reward's and the evaluator's text-motion scores < "
        "encoders.max_agreement (warning).",
    },
    blocking={"encoders_load"},
)


@dg.multi_asset_check(specs=_SPECS)
def text_motion_encoders_checks(
    context: dg.AssetCheckExecutionContext, pipeline_config: PipelineConfigResource
) -> Iterator[dg.AssetCheckResult]:
    """Load both encoders of the partition once, then read the stage's metrics."""
    cfg, dataset = pipeline_config.load(), context.partition_key
    out = cfg.artifacts_dir(dataset, "encoders")
    checkpoints = {role: out / f"{role}.safetensors" for role in ROLES}
    loaded = embedding_check(checkpoints, cfg.raw_dir(dataset), cfg.data.min_frames)
    yield outcome_result(text_motion_encoders, "encoders_load", loaded)
    metrics = out / "metrics.json"
    retrieval = retrieval_check(metrics, cfg.encoders)
    yield outcome_result(text_motion_encoders, "real_retrieval", retrieval, warn=True)
    differ = agreement_check(metrics, cfg.encoders)
    yield outcome_result(text_motion_encoders, "encoders_differ", differ, warn=True)
