"""`pipes_stage_asset`: the asset of a (GPU) stage that runs in its own process through Pipes.

Thin, like the template's pipeline factory: the asset hands its stage to the `stage_launcher`
resource, which runs it in its own process (`pipelines.pipes_stage`) logging to the `mlflow`
store, and returns the materialization that process reported.
"""

from collections.abc import Sequence

import dagster as dg

from pipelines.defs.partitions import dataset_partitions
from pipelines.defs.resources import MlflowResource, PipelineConfigResource, StageLauncherResource


def pipes_stage_asset(
    stage: str,
    group: str,
    deps: Sequence[dg.AssetsDefinition],
    kinds: set[str],
    description: str,
) -> dg.AssetsDefinition:
    """The dataset-partitioned asset `stage` of asset group `group`, run through Pipes."""

    @dg.asset(
        name=stage,
        group_name=group,
        partitions_def=dataset_partitions,
        deps=deps,
        kinds=kinds,
        description=description,
    )
    def _asset(
        context: dg.AssetExecutionContext,
        pipeline_config: PipelineConfigResource,
        mlflow: MlflowResource,
        stage_launcher: StageLauncherResource,
    ) -> dg.MaterializeResult:
        return stage_launcher.run(context, stage, pipeline_config, mlflow)

    return _asset
