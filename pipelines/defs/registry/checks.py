"""Checks of the registry group.

floors (blocking, error): the champion of the evaluation report reaches `registry.
min_format_validity` and `registry.min_top3`; a model below them must not serve.
"""

from collections.abc import Iterator

import dagster as dg

from motion_r1_core.registry import floor_check
from motion_r1_core.stages.registered_model import summary_path
from pipelines.asset_checks import dataset_check_specs, outcome_result
from pipelines.defs.registry.assets import registered_model
from pipelines.defs.resources import PipelineConfigResource

_SPECS = dataset_check_specs(
    registered_model,
    {
        "floors": "The report's champion (best registry.metric) has format validity >= "
        "registry.min_format_validity and R-Precision top-3 >= registry.min_top3.",
    },
    blocking={"floors"},
)


@dg.multi_asset_check(specs=_SPECS)
def registered_model_checks(
    context: dg.AssetCheckExecutionContext, pipeline_config: PipelineConfigResource
) -> Iterator[dg.AssetCheckResult]:
    """Judge the champion of the partition's summary.json against the floors."""
    cfg = pipeline_config.load()
    outcome = floor_check(summary_path(cfg, context.partition_key), cfg.registry)
    yield outcome_result(registered_model, "floors", outcome)
