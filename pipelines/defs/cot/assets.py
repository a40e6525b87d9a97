"""`cot_triplets`: the CoT data engine, run through Pipes against the `chat_endpoint` resource."""

import dagster as dg

from pipelines.defs.data.assets import raw_motions
from pipelines.defs.partitions import dataset_partitions
from pipelines.defs.resources import (
    ChatEndpointResource,
    MlflowResource,
    PipelineConfigResource,
    StageLauncherResource,
)
from pipelines.defs.tokenizer.assets import motion_tokens


@dg.asset(
    group_name="cot",
    partitions_def=dataset_partitions,
    deps=[raw_motions, motion_tokens],
    kinds={"openai", "mlflow"},
)
def cot_triplets(
    context: dg.AssetExecutionContext,
    pipeline_config: PipelineConfigResource,
    mlflow: MlflowResource,
    stage_launcher: StageLauncherResource,
    chat_endpoint: ChatEndpointResource,
) -> dg.MaterializeResult:
    """(caption, chain of thought, plan, motion tokens) rows at
    artifacts/<dataset>/cot/triplets.parquet, with the verification log, fidelity against the
    procedural ground truth and judge score histograms. Every paid answer is cached, so a rerun
    (or a run after a crash) pays only for what is missing."""
    cfg = pipeline_config.load()
    log = cfg.artifacts_dir(context.partition_key, "cot") / "server.log"
    with chat_endpoint.endpoint(cfg, log) as url:
        context.log.info(f"chat endpoint {url} ({cfg.cot.client.model})")
        return stage_launcher.run(
            context,
            "cot_triplets",
            pipeline_config,
            mlflow,
            overrides=[f"cot.client.base_url={url}"],
        )
