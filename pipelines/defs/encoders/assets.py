"""`text_motion_encoders`: a GPU stage, run through Dagster Pipes like the tokenizer."""

import dagster as dg

from pipelines.defs.data.assets import raw_motions
from pipelines.defs.partitions import dataset_partitions
from pipelines.defs.resources import MlflowResource, PipelineConfigResource, StageLauncherResource


@dg.asset(
    group_name="encoders",
    partitions_def=dataset_partitions,
    deps=[raw_motions],
    kinds={"pytorch", "mlflow"},
)
def text_motion_encoders(
    context: dg.AssetExecutionContext,
    pipeline_config: PipelineConfigResource,
    mlflow: MlflowResource,
    stage_launcher: StageLauncherResource,
) -> dg.MaterializeResult:
    """The reward (GRPO) and evaluator (metrics) text-motion encoders at
    artifacts/<dataset>/encoders/{reward,evaluator}.safetensors, their test retrieval recall,
    the "Real" row of the metric protocol and how much the two encoders agree. Resumes from
    the latest checkpoints if a previous run was interrupted."""
    return stage_launcher.run(context, "text_motion_encoders", pipeline_config, mlflow)
