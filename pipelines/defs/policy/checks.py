"""Checks of the policy group, read from what the stage wrote.

format_validity (blocking, error): every variant, sampled without the grammar, writes a
parseable answer at least `policy.eval.min_format_validity` of the time; a policy below that
has not learned the output format, and nothing should build on it.
"""

from collections.abc import Iterator

import dagster as dg

from motion_r1_core.stages.sft_policy import format_check
from pipelines.asset_checks import dataset_check_specs, outcome_result
from pipelines.defs.policy.assets import sft_policy
from pipelines.defs.resources import PipelineConfigResource

_SPECS = dataset_check_specs(
    sft_policy,
    {
        "format_validity": "Share of test captions whose unconstrained answer parses, for every "
        "variant >= policy.eval.min_format_validity.",
    },
    blocking={"format_validity"},
)


@dg.multi_asset_check(specs=_SPECS)
def sft_policy_checks(
    context: dg.AssetCheckExecutionContext, pipeline_config: PipelineConfigResource
) -> Iterator[dg.AssetCheckResult]:
    """Read the format validity of each variant from the stage's metrics.json."""
    cfg = pipeline_config.load()
    metrics = cfg.artifacts_dir(context.partition_key, "sft") / "metrics.json"
    outcome = format_check(metrics, cfg.policy.eval.min_format_validity)
    yield outcome_result(sft_policy, "format_validity", outcome)
