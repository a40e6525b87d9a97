"""`motion_vqvae` and `motion_tokens`: GPU stages, run through Dagster Pipes.

Thin: each asset hands its stage to the `stage_launcher` resource, which runs it in its own
process (`pipelines.pipes_stage`) and returns the materialization that process reported.
"""

import dagster as dg

from pipelines.defs.data.assets import raw_motions
from pipelines.defs.partitions import dataset_partitions
from pipelines.defs.resources import MlflowResource, PipelineConfigResource, StageLauncherResource


@dg.asset(
    group_name="tokenizer",
    partitions_def=dataset_partitions,
    deps=[raw_motions],
    kinds={"pytorch", "mlflow"},
)
def motion_vqvae(
    context: dg.AssetExecutionContext,
    pipeline_config: PipelineConfigResource,
    mlflow: MlflowResource,
    stage_launcher: StageLauncherResource,
) -> dg.MaterializeResult:
    """VQ-VAE motion tokenizer at artifacts/<dataset>/vqvae/vqvae.safetensors (with the mean/std
    it was trained on), its test reconstruction metrics, curves and GIFs. Resumes from its
    latest checkpoint if a previous run was interrupted."""
    return stage_launcher.run(context, "motion_vqvae", pipeline_config, mlflow)


@dg.asset(
    group_name="tokenizer",
    partitions_def=dataset_partitions,
    deps=[motion_vqvae],
    kinds={"pytorch", "parquet"},
)
def motion_tokens(
    context: dg.AssetExecutionContext,
    pipeline_config: PipelineConfigResource,
    mlflow: MlflowResource,
    stage_launcher: StageLauncherResource,
) -> dg.MaterializeResult:
    """Every motion (and its mirrored copy) as token ids: artifacts/<dataset>/tokens/
    tokens.parquet with id, source_id, split, mirrored, n_frames, tokens."""
    return stage_launcher.run(context, "motion_tokens", pipeline_config, mlflow)
