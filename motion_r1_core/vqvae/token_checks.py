"""Great Expectations checks of a token dataset (tokens.parquet).

The parquet holds one row per motion: id, source_id, split, mirrored, n_frames, tokens. Checks
(one concern each, failures name the offending row ids):

    ids_in_range   every token id lies in [0, codebook_size)
    lengths        len(tokens) == n_frames // frames_per_token, and at least one token
    unique_ids     no id twice
    splits         split is train, val or test
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from motion_r1_core.data.humanml3d import SPLITS
from motion_r1_core.expectations import Rule, TableReport, read_table, rule_failures

COLUMNS = ("id", "source_id", "split", "mirrored", "n_frames", "tokens")
TOKEN_CHECKS = ("ids_in_range", "lengths", "unique_ids", "splits")


@dataclass(frozen=True)
class TokenReport(TableReport):
    """Outcome of `validate_tokens`: failures (CheckFailure.files holds row ids) and stats."""

    checks_name: ClassVar[str] = "token"


def read_tokens(path: Path) -> pd.DataFrame:
    """Read tokens.parquet; a missing file or column raises an error naming it."""
    return read_table(path, COLUMNS, "token dataset", "motion_tokens")


def _table(df: pd.DataFrame, frames_per_token: int) -> pd.DataFrame:
    """One row per motion with the numbers the expectations look at."""
    lengths = df["tokens"].map(len).astype(int)
    lo = df["tokens"].map(lambda t: int(np.min(t)) if len(t) else 0)
    hi = df["tokens"].map(lambda t: int(np.max(t)) if len(t) else 0)
    return pd.DataFrame(
        {
            "id": df["id"].astype(str),
            "split": df["split"].astype(str),
            "n_tokens": lengths,
            "expected_tokens": (df["n_frames"].astype(int) // frames_per_token).clip(lower=1),
            "min_token": lo,
            "max_token": hi,
        }
    )


def validate_tokens(
    path: Path, codebook_size: int, frames_per_token: int, df: pd.DataFrame | None = None
) -> TokenReport:
    """Run the token checks on tokens.parquet (or on `df`, read from there)."""
    import great_expectations as gx

    df = read_tokens(path) if df is None else df
    table = _table(df, frames_per_token)
    E = gx.expectations
    rules = [
        Rule(
            "ids_in_range",
            "motions with a token id below 0",
            E.ExpectColumnValuesToBeBetween(column="min_token", min_value=0),
            show_values=True,
        ),
        Rule(
            "ids_in_range",
            f"motions with a token id above {codebook_size - 1}",
            E.ExpectColumnValuesToBeBetween(column="max_token", max_value=codebook_size - 1),
            show_values=True,
        ),
        Rule(
            "lengths",
            f"motions whose token count is not n_frames // {frames_per_token}",
            E.ExpectColumnPairValuesToBeEqual(column_A="n_tokens", column_B="expected_tokens"),
            show_values=True,
        ),
        Rule(
            "unique_ids", "ids listed more than once", E.ExpectColumnValuesToBeUnique(column="id")
        ),
        Rule(
            "splits",
            f"rows with a split not in {list(SPLITS)}",
            E.ExpectColumnValuesToBeInSet(column="split", value_set=list(SPLITS)),
            show_values=True,
        ),
    ]
    failures = rule_failures(table, rules, name="motion_tokens")
    stats = {
        "n_rows": len(table),
        "n_tokens": int(table["n_tokens"].sum()),
        "tokens_mean": float(table["n_tokens"].mean()) if len(table) else 0.0,
        **{f"n_{s}": int((table["split"] == s).sum()) for s in SPLITS},
    }
    return TokenReport(Path(path), len(table), tuple(failures), stats)
