"""Checks of the tokenizer group, read from what the stages wrote.

motion_vqvae: the checkpoint loads and decodes (blocking), and its test reconstruction meets
the configured quality bars (a warning: a weak tokenizer is still usable for a smoke run).
motion_tokens: the Great Expectations token checks; ids in range and lengths are blocking.
"""

import json
import warnings
from collections.abc import Iterator

import dagster as dg
import numpy as np

from motion_r1_core.stages.motion_vqvae import CHECKPOINT
from motion_r1_core.vqvae.token_checks import TOKEN_CHECKS, validate_tokens
from motion_r1_core.vqvae.tokenizer import MotionTokenizer, read_metadata
from pipelines.defs.partitions import dataset_partitions
from pipelines.defs.resources import PipelineConfigResource
from pipelines.defs.tokenizer.assets import motion_tokens, motion_vqvae

_TOKEN_DESCRIPTIONS = {
    "ids_in_range": "Every token id lies in [0, codebook size).",
    "lengths": "Each motion has n_frames // frames-per-token tokens (at least one).",
    "unique_ids": "No motion id appears twice.",
    "splits": "Every row's split is train, val or test.",
}

with warnings.catch_warnings():
    # Partitioned checks are a preview feature of Dagster 1.13; they give one result per dataset.
    warnings.simplefilter("ignore", dg.PreviewWarning)
    _VQ_SPECS = [
        dg.AssetCheckSpec(
            "checkpoint_roundtrip",
            asset=motion_vqvae,
            blocking=True,
            partitions_def=dataset_partitions,
            description="vqvae.safetensors loads, its mean/std fit the data width, and decoding "
            "the first and last code gives finite features.",
        ),
        dg.AssetCheckSpec(
            "reconstruction_quality",
            asset=motion_vqvae,
            partitions_def=dataset_partitions,
            description="Test MPJPE <= vqvae.max_test_mpjpe_mm and codes used >= "
            "vqvae.min_codes_used (warning).",
        ),
    ]
    _TOKEN_SPECS = [
        dg.AssetCheckSpec(
            name,
            asset=motion_tokens,
            description=_TOKEN_DESCRIPTIONS[name],
            blocking=name in ("ids_in_range", "lengths"),
            partitions_def=dataset_partitions,
        )
        for name in TOKEN_CHECKS
    ]


@dg.multi_asset_check(specs=_VQ_SPECS)
def motion_vqvae_checks(
    context: dg.AssetCheckExecutionContext, pipeline_config: PipelineConfigResource
) -> Iterator[dg.AssetCheckResult]:
    """Load the partition's tokenizer once; check it decodes, then read its test metrics."""
    cfg, dataset = pipeline_config.load(), context.partition_key
    out = cfg.artifacts_dir(dataset, "vqvae")
    try:
        meta = read_metadata(out / CHECKPOINT)
        tok = MotionTokenizer.load(out / CHECKPOINT)
        feats = tok.decode([0, tok.codebook_size - 1])
        ok = bool(np.isfinite(feats.numpy()).all() and (tok.std > 0).all())
        detail = {
            "in_dim": meta["in_dim"],
            "step": meta["info"].get("step", -1),
            "stats_source": meta["info"].get("stats_source", ""),
            "decoded_frames": int(feats.shape[0]),
        }
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        ok, detail = False, {"error": str(e)}
    yield dg.AssetCheckResult(
        check_name="checkpoint_roundtrip", asset_key=motion_vqvae.key, passed=ok, metadata=detail
    )

    metrics_path = out / "metrics.json"
    if not metrics_path.is_file():
        yield dg.AssetCheckResult(
            check_name="reconstruction_quality",
            asset_key=motion_vqvae.key,
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"error": f"{metrics_path}: missing"},
        )
        return
    m = json.loads(metrics_path.read_text())
    mpjpe, used = m["test_mpjpe_mm"], m["test_codes_used"]
    passed = mpjpe <= cfg.vqvae.max_test_mpjpe_mm and used >= cfg.vqvae.min_codes_used
    yield dg.AssetCheckResult(
        check_name="reconstruction_quality",
        asset_key=motion_vqvae.key,
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "test_mpjpe_mm": mpjpe,
            "max_test_mpjpe_mm": cfg.vqvae.max_test_mpjpe_mm,
            "test_codes_used": used,
            "min_codes_used": cfg.vqvae.min_codes_used,
        },
    )


@dg.multi_asset_check(specs=_TOKEN_SPECS)
def motion_tokens_checks(
    context: dg.AssetCheckExecutionContext, pipeline_config: PipelineConfigResource
) -> Iterator[dg.AssetCheckResult]:
    """Run the token suite on the partition's tokens.parquet and report each concern."""
    cfg, dataset = pipeline_config.load(), context.partition_key
    path = cfg.artifacts_dir(dataset, "tokens") / "tokens.parquet"
    meta = read_metadata(cfg.artifacts_dir(dataset, "vqvae") / CHECKPOINT)
    K = int(meta["model"]["codebook_size"])
    report = validate_tokens(path, K, 2 ** int(meta["model"]["down_t"]))
    context.log.info(report.format())
    for name in TOKEN_CHECKS:
        failures = report.failures_for(name)
        ids = [i for f in failures for i in f.files]
        yield dg.AssetCheckResult(
            check_name=name,
            asset_key=motion_tokens.key,
            passed=not failures,
            metadata={
                "path": dg.MetadataValue.path(str(path)),
                "codebook_size": K,
                "details": [f.detail for f in failures],
                "ids": ids[:50],
                "n_ids": len(ids),
                **report.stats,
            },
        )
