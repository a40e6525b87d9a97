"""Great Expectations checks of the SFT triplets (triplets.parquet) and the verification log.

Checks (one concern each; failures name the offending ids):

    format           each `cot` parses back (strict parser) into exactly its `steps` and `plan`
    step_counts      every chain has cot.limits.min_steps..max_steps steps
    tokens           every triplet has at least one motion token
    unique_ids       no triplet id twice
    acceptance_rate  accepted / decided captions (accepted + rejected) >= cot.min_acceptance_rate
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pandas as pd

from motion_r1_core.cot.prompts import ParseError, parse_chain
from motion_r1_core.expectations import (
    CheckFailure,
    Rule,
    TableReport,
    read_table,
    rule_failures,
    run_suite,
)

COLUMNS = (
    "id",
    "motion_id",
    "split",
    "mirrored",
    "caption",
    "cot",
    "steps",
    "plan",
    "tokens",
    "n_tokens",
)
TRIPLET_CHECKS = ("format", "step_counts", "tokens", "unique_ids", "acceptance_rate")


@dataclass(frozen=True)
class TripletReport(TableReport):
    """Outcome of `validate_triplets`: failures (CheckFailure.files holds ids) and stats."""

    rows_name: ClassVar[str] = "triplets"
    checks_name: ClassVar[str] = "triplet"


def read_triplets(path: Path) -> pd.DataFrame:
    """Read triplets.parquet; a missing file or column raises an error naming it."""
    return read_table(path, COLUMNS, "triplets", "cot_triplets")


def _round_trips(cot: str, steps: Sequence[str], plan: str) -> bool:
    try:
        chain = parse_chain(cot)
    except ParseError:
        return False
    return list(chain.steps) == list(steps) and chain.plan == plan


def validate_triplets(
    path: Path,
    statuses: Sequence[str],
    min_steps: int,
    max_steps: int,
    min_acceptance_rate: float,
    df: pd.DataFrame | None = None,
) -> TripletReport:
    """Run the triplet checks on triplets.parquet (or `df`) and the captions' `statuses`.

    `statuses` holds one engine status per decomposed caption (accepted, rejected, unanswered,
    failed); the acceptance rate counts accepted among accepted + rejected.
    """
    import great_expectations as gx

    df = read_triplets(path) if df is None else df
    table = pd.DataFrame(
        {
            "id": df["id"].astype(str),
            "format_ok": [
                _round_trips(c, s, p)
                for c, s, p in zip(df["cot"], df["steps"], df["plan"], strict=True)
            ],
            "n_steps": df["steps"].map(len).astype(int),
            "n_tokens": df["n_tokens"].astype(int),
        }
    )
    E = gx.expectations
    rules = [
        Rule(
            "format",
            "chains that do not parse back into their steps and plan",
            E.ExpectColumnValuesToBeInSet(column="format_ok", value_set=[True]),
        ),
        Rule(
            "step_counts",
            f"chains without {min_steps} to {max_steps} steps",
            E.ExpectColumnValuesToBeBetween(
                column="n_steps", min_value=min_steps, max_value=max_steps
            ),
        ),
        Rule(
            "tokens",
            "triplets without a motion token",
            E.ExpectColumnValuesToBeBetween(column="n_tokens", min_value=1),
        ),
        Rule(
            "unique_ids", "ids listed more than once", E.ExpectColumnValuesToBeUnique(column="id")
        ),
    ]
    failures = rule_failures(table, rules, name="cot_triplets")

    decided = [s for s in statuses if s in ("accepted", "rejected")]
    rate = sum(s == "accepted" for s in decided) / len(decided) if decided else 0.0
    status_table = pd.DataFrame(
        {
            "id": [str(i) for i in range(len(decided))],
            "accepted": [float(s == "accepted") for s in decided],
        }
    )
    ok_rate = (
        bool(decided)
        and run_suite(
            status_table,
            [E.ExpectColumnMeanToBeBetween(column="accepted", min_value=min_acceptance_rate)],
            name="cot_acceptance",
        )[0].success
    )
    if not ok_rate:
        failures.append(
            CheckFailure(
                "acceptance_rate",
                f"acceptance rate {rate:.3f} of {len(decided)} decided captions is below "
                f"{min_acceptance_rate}",
                (),
            )
        )
    stats = {
        "n_triplets": len(table),
        "steps_mean": float(table["n_steps"].mean()) if len(table) else 0.0,
        "acceptance_rate": rate,
        "decided_captions": len(decided),
    }
    return TripletReport(Path(path), len(table), tuple(failures), stats)
