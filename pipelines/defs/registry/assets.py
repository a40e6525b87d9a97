"""`registered_model`: the report's champion policy as `models:/<registry.model_name>@<alias>`.

Thin: read the configuration, open the MLflow run, call the stage, report its result. The stage
is light (it packages and registers files the report already evaluated), so it runs in-process.
"""

import dagster as dg

from motion_r1_core.stages.registered_model import run_registered_model
from pipelines.defs.partitions import dataset_partitions
from pipelines.defs.resources import MlflowResource, PipelineConfigResource

EVAL_REPORT = dg.AssetKey("eval_report")  # the upstream assets, by key (no import cycle)
# the report picks the champion; the registered model packages its policy and the tokenizer
UPSTREAM = [
    EVAL_REPORT,
    dg.AssetKey("motion_vqvae"),
    dg.AssetKey("sft_policy"),
    dg.AssetKey(["grpo_policy", "both"]),
]


@dg.asset(
    group_name="registry",
    partitions_def=dataset_partitions,
    deps=UPSTREAM,
    kinds={"python", "mlflow"},
)
def registered_model(
    context: dg.AssetExecutionContext,
    pipeline_config: PipelineConfigResource,
    mlflow: MlflowResource,
) -> dg.MaterializeResult:
    """The policy of artifacts/<dataset>/report/summary.json with the best `registry.metric`,
    packaged as an MLflow pyfunc (policy folder, motion tokenizer, generation settings) and
    registered as a new version of `registry.model_name` with the alias `registry.alias`
    (`models:/motion-r1@champion`; `mlflow models serve` it offline). Refused when the champion
    misses the `registry` floors (format validity, R-Precision top-3) unless
    `registry.enforce_floors` is false. Every dataset registers under the same name: the alias
    follows the latest registration, and each version is tagged with its dataset."""
    cfg = pipeline_config.load()
    dataset = context.partition_key
    with mlflow.run(cfg, stage="registered_model", dataset=dataset) as tracker:
        result = run_registered_model(cfg, dataset, tracker, progress=False)
    return dg.MaterializeResult(
        metadata={
            **result.as_metadata(),
            "policy": dg.MetadataValue.path(str(result.policy)),
            "mlflow_run_id": tracker.run_id or "",
        }
    )
