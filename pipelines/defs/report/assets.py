"""`eval_report`: the evaluation report, run through Dagster Pipes like the policy stages.

It reads every policy present (SFT no-CoT and CoT, each GRPO ablation materialised so far), so
it depends on the SFT policy and the paper's GRPO policy; materialise `ablation_job` first to
have the ablation rows. The asset shows the main table as Markdown metadata.
"""

import dagster as dg

from pipelines.defs.data.assets import raw_motions
from pipelines.defs.encoders.assets import text_motion_encoders
from pipelines.defs.partitions import dataset_partitions
from pipelines.defs.policy.assets import sft_policy
from pipelines.defs.policy.grpo import MAIN_ABLATION
from pipelines.defs.resources import MlflowResource, PipelineConfigResource, StageLauncherResource
from pipelines.defs.tokenizer.assets import motion_vqvae


@dg.asset(
    group_name="report",
    partitions_def=dataset_partitions,
    deps=[
        raw_motions,
        motion_vqvae,
        text_motion_encoders,
        sft_policy,
        dg.AssetKey(["grpo_policy", MAIN_ABLATION]),
    ],
    kinds={"pytorch", "mlflow", "html"},
)
def eval_report(
    context: dg.AssetExecutionContext,
    pipeline_config: PipelineConfigResource,
    mlflow: MlflowResource,
    stage_launcher: StageLauncherResource,
) -> dg.MaterializeResult:
    """The evaluation report at artifacts/<dataset>/report/ (report.html, report.md,
    metrics.json, summary.json): Real, VQ-VAE and every policy under the protocol with the
    evaluator encoder, 95% intervals, MultiModality, format validity, chain length and
    fidelity, length errors, physical plausibility, the ablation beside the paper's, curves
    from MLflow and a GIF gallery. Generation is cached per policy and seed."""
    cfg = pipeline_config.load()
    result = stage_launcher.run(context, "eval_report", pipeline_config, mlflow)
    table = cfg.artifacts_dir(context.partition_key, "report") / "table.md"
    extra = {"table": dg.MetadataValue.md(table.read_text())} if table.is_file() else {}
    return dg.MaterializeResult(
        asset_key=result.asset_key,
        metadata={
            **(result.metadata or {}),
            **extra,
            "report": dg.MetadataValue.path(
                str(cfg.artifacts_dir(context.partition_key, "report") / "report.html")
            ),
        },
        check_results=result.check_results,
        data_version=result.data_version,
        tags=result.tags,
    )
