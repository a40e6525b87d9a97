"""Checks of the cot group: the Great Expectations triplet checks, read from what the stage wrote.

format, step_counts, tokens and unique_ids are blocking (SFT must not train on broken rows);
acceptance_rate is a warning (a weak local model is still a usable smoke run).
"""

import json
import warnings
from collections.abc import Iterator

import dagster as dg

from motion_r1_core.cot.triplet_checks import TRIPLET_CHECKS, validate_triplets
from pipelines.defs.cot.assets import cot_triplets
from pipelines.defs.partitions import dataset_partitions
from pipelines.defs.resources import PipelineConfigResource

_DESCRIPTIONS = {
    "format": "Each cot parses back (strict parser) into exactly its steps and plan.",
    "step_counts": "Every chain has cot.limits.min_steps to max_steps steps.",
    "tokens": "Every triplet has at least one motion token.",
    "unique_ids": "No triplet id twice.",
    "acceptance_rate": "Accepted / decided captions >= cot.min_acceptance_rate (warning).",
}

with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.PreviewWarning)  # partitioned checks: preview in 1.13
    _SPECS = [
        dg.AssetCheckSpec(
            name,
            asset=cot_triplets,
            description=_DESCRIPTIONS[name],
            blocking=name != "acceptance_rate",
            partitions_def=dataset_partitions,
        )
        for name in TRIPLET_CHECKS
    ]


@dg.multi_asset_check(specs=_SPECS)
def cot_triplets_checks(
    context: dg.AssetCheckExecutionContext, pipeline_config: PipelineConfigResource
) -> Iterator[dg.AssetCheckResult]:
    """Validate triplets.parquet and the statuses of the verification log once."""
    cfg, dataset = pipeline_config.load(), context.partition_key
    out = cfg.artifacts_dir(dataset, "cot")
    try:
        log = (out / "verification_log.jsonl").read_text(encoding="utf-8").splitlines()
        statuses = [json.loads(line)["status"] for line in log if line.strip()]
        report = validate_triplets(
            out / "triplets.parquet",
            statuses,
            cfg.cot.limits.min_steps,
            cfg.cot.limits.max_steps,
            cfg.cot.min_acceptance_rate,
        )
    except (FileNotFoundError, ValueError, KeyError) as e:
        for name in TRIPLET_CHECKS:
            yield dg.AssetCheckResult(
                check_name=name,
                asset_key=cot_triplets.key,
                passed=False,
                severity=dg.AssetCheckSeverity.WARN
                if name == "acceptance_rate"
                else dg.AssetCheckSeverity.ERROR,
                metadata={"error": str(e)},
            )
        return
    for name in TRIPLET_CHECKS:
        failed = report.failures_for(name)
        meta: dict = {"triplets": report.n_rows, **report.stats}
        if failed:
            meta |= {"detail": failed[0].detail, "ids": ", ".join(failed[0].files[:10])}
        yield dg.AssetCheckResult(
            check_name=name,
            asset_key=cot_triplets.key,
            passed=not failed,
            severity=dg.AssetCheckSeverity.WARN
            if name == "acceptance_rate"
            else dg.AssetCheckSeverity.ERROR,
            metadata=meta,
        )
