"""`sft_policy`: a GPU stage, run through Dagster Pipes like the tokenizer and the encoders.

The stage's metrics (per variant: `cot/format_validity`, `cot/train_loss`, `cot/top3`, ...)
come back from the Pipes process; the asset adds the chain source of the configuration, which
the metrics do not name.
"""

import dagster as dg

from pipelines.defs.cot.assets import cot_triplets
from pipelines.defs.data.assets import raw_motions
from pipelines.defs.encoders.assets import text_motion_encoders
from pipelines.defs.partitions import dataset_partitions
from pipelines.defs.resources import MlflowResource, PipelineConfigResource, StageLauncherResource
from pipelines.defs.tokenizer.assets import motion_tokens, motion_vqvae


@dg.asset(
    group_name="policy",
    partitions_def=dataset_partitions,
    deps=[raw_motions, motion_vqvae, motion_tokens, text_motion_encoders, cot_triplets],
    kinds={"pytorch", "mlflow"},
)
def sft_policy(
    context: dg.AssetExecutionContext,
    pipeline_config: PipelineConfigResource,
    mlflow: MlflowResource,
    stage_launcher: StageLauncherResource,
) -> dg.MaterializeResult:
    """The motion-aware LLM after cold-start SFT, one per variant (cot: chain, plan and motion;
    no_cot: motion only, same captions and budget) at artifacts/<dataset>/sft/<variant>/model/,
    with format validity without the grammar, the protocol metrics beside the "Real" row
    (report.md), length errors, curves and GIFs. Chains: `policy.cot_source` (ground_truth:
    the procedural decompositions; engine: the accepted cot_triplets). Resumes from the latest
    checkpoints if a previous run was interrupted."""
    cfg = pipeline_config.load()
    result = stage_launcher.run(context, "sft_policy", pipeline_config, mlflow)
    return dg.MaterializeResult(
        asset_key=result.asset_key,
        metadata={**(result.metadata or {}), "cot_source": cfg.policy.cot_source},
        check_results=result.check_results,
        data_version=result.data_version,
        tags=result.tags,
    )
