"""Checks of the cot group: the Great Expectations triplet checks, read from what the stage wrote.

format, step_counts, tokens and unique_ids are blocking (SFT must not train on broken rows);
acceptance_rate is a warning (a weak local model is still a usable smoke run).
"""

from collections.abc import Iterator

import dagster as dg

from motion_r1_core.cot.engine import read_statuses
from motion_r1_core.cot.triplet_checks import TRIPLET_CHECKS, validate_triplets
from pipelines.asset_checks import dataset_check_specs, error_results, report_results
from pipelines.defs.cot.assets import cot_triplets
from pipelines.defs.resources import PipelineConfigResource

_DESCRIPTIONS = {
    "format": "Each cot parses back (strict parser) into exactly its steps and plan.",
    "step_counts": "Every chain has cot.limits.min_steps to max_steps steps.",
    "tokens": "Every triplet has at least one motion token.",
    "unique_ids": "No triplet id twice.",
    "acceptance_rate": "Accepted / decided captions >= cot.min_acceptance_rate (warning).",
}
_WARN = {"acceptance_rate"}
_SPECS = dataset_check_specs(
    cot_triplets,
    {name: _DESCRIPTIONS[name] for name in TRIPLET_CHECKS},
    blocking=set(TRIPLET_CHECKS) - _WARN,
)


@dg.multi_asset_check(specs=_SPECS)
def cot_triplets_checks(
    context: dg.AssetCheckExecutionContext, pipeline_config: PipelineConfigResource
) -> Iterator[dg.AssetCheckResult]:
    """Validate triplets.parquet and the statuses of the verification log once."""
    cfg = pipeline_config.load()
    out = cfg.artifacts_dir(context.partition_key, "cot")
    limits = cfg.cot.limits
    try:
        statuses = read_statuses(out / "verification_log.jsonl")
        report = validate_triplets(
            out / "triplets.parquet",
            statuses,
            limits.min_steps,
            limits.max_steps,
            cfg.cot.min_acceptance_rate,
        )
    except (FileNotFoundError, ValueError, KeyError) as e:
        yield from error_results(cot_triplets, TRIPLET_CHECKS, e, warn=_WARN)
        return
    yield from report_results(
        cot_triplets, report, TRIPLET_CHECKS, warn=_WARN, metadata={"triplets": report.n_rows}
    )
