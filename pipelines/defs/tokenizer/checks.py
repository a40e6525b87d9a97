"""Checks of the tokenizer group, read from what the stages wrote.

motion_vqvae: the checkpoint loads and decodes (blocking), and its test reconstruction meets
the configured quality bars (a warning: a weak tokenizer is still usable for a smoke run).
motion_tokens: the Great Expectations token checks; ids in range and lengths are blocking.
"""

from collections.abc import Iterator

import dagster as dg

from motion_r1_core.vqvae.evaluate import quality_check
from motion_r1_core.vqvae.token_checks import TOKEN_CHECKS, validate_tokens
from motion_r1_core.vqvae.tokenizer import CHECKPOINT, roundtrip_check, token_layout
from pipelines.asset_checks import dataset_check_specs, outcome_result, report_results
from pipelines.defs.resources import PipelineConfigResource
from pipelines.defs.tokenizer.assets import motion_tokens, motion_vqvae

_VQ_SPECS = dataset_check_specs(
    motion_vqvae,
    {
        "checkpoint_roundtrip": "vqvae.safetensors loads, its mean/std fit the data width, and "
        "decoding the first and last code gives finite features.",
        "reconstruction_quality": "Test MPJPE <= vqvae.max_test_mpjpe_mm and codes used >= "
        "vqvae.min_codes_used (warning).",
    },
    blocking={"checkpoint_roundtrip"},
)
_TOKEN_DESCRIPTIONS = {
    "ids_in_range": "Every token id lies in [0, codebook size).",
    "lengths": "Each motion has n_frames // frames-per-token tokens (at least one).",
    "unique_ids": "No motion id appears twice.",
    "splits": "Every row's split is train, val or test.",
}
_TOKEN_SPECS = dataset_check_specs(
    motion_tokens,
    {name: _TOKEN_DESCRIPTIONS[name] for name in TOKEN_CHECKS},
    blocking={"ids_in_range", "lengths"},
)


@dg.multi_asset_check(specs=_VQ_SPECS)
def motion_vqvae_checks(
    context: dg.AssetCheckExecutionContext, pipeline_config: PipelineConfigResource
) -> Iterator[dg.AssetCheckResult]:
    """Load the partition's tokenizer once; check it decodes, then read its test metrics."""
    cfg = pipeline_config.load()
    out = cfg.artifacts_dir(context.partition_key, "vqvae")
    yield outcome_result(motion_vqvae, "checkpoint_roundtrip", roundtrip_check(out / CHECKPOINT))
    v = cfg.vqvae
    quality = quality_check(out / "metrics.json", v.max_test_mpjpe_mm, v.min_codes_used)
    yield outcome_result(motion_vqvae, "reconstruction_quality", quality, warn=True)


@dg.multi_asset_check(specs=_TOKEN_SPECS)
def motion_tokens_checks(
    context: dg.AssetCheckExecutionContext, pipeline_config: PipelineConfigResource
) -> Iterator[dg.AssetCheckResult]:
    """Run the token suite on the partition's tokens.parquet and report each concern."""
    cfg, dataset = pipeline_config.load(), context.partition_key
    path = cfg.artifacts_dir(dataset, "tokens") / "tokens.parquet"
    K, frames_per_token = token_layout(cfg.artifacts_dir(dataset, "vqvae") / CHECKPOINT)
    report = validate_tokens(path, K, frames_per_token)
    context.log.info(report.format())
    yield from report_results(
        motion_tokens,
        report,
        TOKEN_CHECKS,
        metadata={"path": dg.MetadataValue.path(str(path)), "codebook_size": K},
    )
