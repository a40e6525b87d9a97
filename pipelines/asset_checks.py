"""Shared shapes of the partitioned asset checks: their specs, and results from what the core
computed (a `CheckOutcome`, a `TableReport`, or the error that stopped it).

The checks modules under `defs/` stay thin: compute with a core function, then one of these.
"""

import warnings
from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Any

import dagster as dg

from motion_r1_core.expectations import CheckOutcome, TableReport
from pipelines.defs.partitions import dataset_partitions

MAX_IDS = 50  # offending ids (or files) listed in a check's metadata


def dataset_check_specs(
    asset: dg.AssetsDefinition, descriptions: Mapping[str, str], blocking: Collection[str] = ()
) -> list[dg.AssetCheckSpec]:
    """One spec per check name of `descriptions`, partitioned by dataset like the asset; the
    checks in `blocking` stop downstream assets when they fail."""
    with warnings.catch_warnings():
        # Partitioned checks are a preview feature of Dagster 1.13; they give one result per dataset.
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return [
            dg.AssetCheckSpec(
                name,
                asset=asset,
                description=description,
                blocking=name in blocking,
                partitions_def=dataset_partitions,
            )
            for name, description in descriptions.items()
        ]


def _severity(warn: bool) -> dg.AssetCheckSeverity:
    return dg.AssetCheckSeverity.WARN if warn else dg.AssetCheckSeverity.ERROR


def outcome_result(
    asset: dg.AssetsDefinition, name: str, outcome: CheckOutcome, warn: bool = False
) -> dg.AssetCheckResult:
    """The result of check `name` from a core `CheckOutcome`; a warning if `warn`."""
    return dg.AssetCheckResult(
        check_name=name,
        asset_key=asset.key,
        passed=outcome.passed,
        severity=_severity(warn),
        metadata=outcome.metadata,
    )


def error_results(
    asset: dg.AssetsDefinition, names: Iterable[str], error: Exception, warn: Collection[str] = ()
) -> Iterator[dg.AssetCheckResult]:
    """Every check of `names` failed with `error` (what it checks could not be read)."""
    for name in names:
        yield outcome_result(asset, name, CheckOutcome(False, {"error": str(error)}), name in warn)


def report_results(
    asset: dg.AssetsDefinition,
    report: TableReport,
    names: Iterable[str],
    warn: Collection[str] = (),
    metadata: Mapping[str, Any] | None = None,
) -> Iterator[dg.AssetCheckResult]:
    """One result per check of `names` from a table report: its failures' details, the ids of
    the failing rows (the first MAX_IDS), the report's stats and `metadata`."""
    for name in names:
        failures = report.failures_for(name)
        ids = [i for f in failures for i in f.files]
        yield dg.AssetCheckResult(
            check_name=name,
            asset_key=asset.key,
            passed=not failures,
            severity=_severity(name in warn),
            metadata={
                **(metadata or {}),
                "details": [f.detail for f in failures],
                "ids": ids[:MAX_IDS],
                "n_ids": len(ids),
                **report.stats,
            },
        )
