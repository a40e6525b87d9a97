"""`grpo_policy/<ablation>`: GRPO of the CoT SFT policy, one asset per reward ablation.

Each ablation of `policy.grpo.ablations` (semantic, motion, both, both_physics) is its own
asset under the key prefix `grpo_policy`, so every variant shows in the UI with its own
metadata and history. `grpo_policy/both` (the paper's model) belongs to the `policy` group and
the default pipeline; the others form the `ablation` group that `ablation_job` materialises
with it. Each runs the `grpo_policy` stage through Pipes with `policy.grpo.ablation` set, and
is checked (blocking) on format validity not below the SFT policy's.
"""

from collections.abc import Iterator

import dagster as dg

from motion_r1_core.config.grpo import default_ablations
from motion_r1_core.stages.grpo_policy import format_floor_check, grpo_dir
from pipelines.asset_checks import dataset_check_specs, outcome_result
from pipelines.defs.cot.assets import cot_triplets
from pipelines.defs.data.assets import raw_motions
from pipelines.defs.encoders.assets import text_motion_encoders
from pipelines.defs.partitions import dataset_partitions
from pipelines.defs.policy.assets import sft_policy
from pipelines.defs.resources import MlflowResource, PipelineConfigResource, StageLauncherResource
from pipelines.defs.tokenizer.assets import motion_tokens, motion_vqvae

MAIN_ABLATION = "both"
ABLATIONS = tuple(default_ablations())  # the names params.yaml ships; the UI needs them at load


def grpo_asset(ablation: str) -> dg.AssetsDefinition:
    """The asset `grpo_policy/<ablation>` running the stage with that ablation's rewards."""

    @dg.asset(
        name=ablation,
        key_prefix="grpo_policy",
        group_name="policy" if ablation == MAIN_ABLATION else "ablation",
        partitions_def=dataset_partitions,
        deps=[
            raw_motions,
            motion_vqvae,
            motion_tokens,
            text_motion_encoders,
            cot_triplets,
            sft_policy,
        ],
        kinds={"pytorch", "mlflow"},
        description=f"The CoT SFT policy refined by GRPO with the `{ablation}` rewards "
        "(policy.grpo.ablations) at artifacts/<dataset>/grpo/"
        f"{ablation}/model/, with the held-out rewards of SFT vs GRPO (95% "
        "intervals), format validity, R-Precision and FID beside the SFT policy's, sample "
        "completion tables and curves. Resumes from its checkpoints.",
    )
    def _asset(
        context: dg.AssetExecutionContext,
        pipeline_config: PipelineConfigResource,
        mlflow: MlflowResource,
        stage_launcher: StageLauncherResource,
    ) -> dg.MaterializeResult:
        cfg = pipeline_config.load()
        result = stage_launcher.run(
            context,
            "grpo_policy",
            pipeline_config,
            mlflow,
            overrides=[f"policy.grpo.ablation={ablation}"],
        )
        return dg.MaterializeResult(
            asset_key=result.asset_key,
            metadata={
                **(result.metadata or {}),
                "ablation": ablation,
                "cot_source": cfg.policy.cot_source,
            },
            check_results=result.check_results,
            data_version=result.data_version,
            tags=result.tags,
        )

    return _asset


def grpo_check(asset: dg.AssetsDefinition, ablation: str) -> dg.AssetChecksDefinition:
    """The blocking format-validity check of one ablation's asset."""
    specs = dataset_check_specs(
        asset,
        {
            "format_validity": "Unconstrained format validity on held-out captions not below "
            "the SFT policy's on the same captions (policy.grpo.eval.format_tolerance).",
        },
        blocking={"format_validity"},
    )

    @dg.multi_asset_check(specs=specs, name=f"grpo_policy_{ablation}_checks")
    def _checks(
        context: dg.AssetCheckExecutionContext, pipeline_config: PipelineConfigResource
    ) -> Iterator[dg.AssetCheckResult]:
        cfg = pipeline_config.load()
        metrics = grpo_dir(cfg, context.partition_key, ablation) / "metrics.json"
        outcome = format_floor_check(metrics, cfg.policy.grpo.eval.format_tolerance)
        yield outcome_result(asset, "format_validity", outcome)

    return _checks


grpo_assets = [grpo_asset(a) for a in ABLATIONS]
grpo_checks = [grpo_check(asset, a) for asset, a in zip(grpo_assets, ABLATIONS, strict=True)]
