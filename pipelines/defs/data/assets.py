"""`raw_motions`: the motion folder of one dataset (data/raw/<dataset>/), validated.

Thin: read the configuration, open the MLflow run, call the stage, report its result.
"""

import dagster as dg

from motion_r1_core.stages.raw_motions import run_raw_motions
from pipelines.defs.partitions import dataset_partitions
from pipelines.defs.resources import MlflowResource, PipelineConfigResource


@dg.asset(
    group_name="data",
    partitions_def=dataset_partitions,
    kinds={"python", "mlflow"},
)
def raw_motions(
    context: dg.AssetExecutionContext,
    pipeline_config: PipelineConfigResource,
    mlflow: MlflowResource,
) -> dg.MaterializeResult:
    """Motion folder in the HumanML3D layout at data/raw/<dataset>/: the procedural corpus, or
    the user's HumanML3D / KIT-ML folder linked or copied; validated by Great Expectations."""
    cfg = pipeline_config.load()
    dataset = context.partition_key
    with mlflow.run(cfg, stage="raw_motions", dataset=dataset) as tracker:
        result = run_raw_motions(cfg, dataset, tracker)
    return dg.MaterializeResult(
        metadata={
            **result.as_metadata(),  # plain values: dataset, counts, split sizes, corpus metrics
            "path": dg.MetadataValue.path(str(result.path)),
            "n_motions": result.n_motions,
            "n_captions": result.n_captions,
            "mlflow_run_id": tracker.run_id or "",
            "validation": dg.MetadataValue.md(result.validation.to_markdown()),
        }
    )
