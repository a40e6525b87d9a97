"""The shared check outcomes: a table report's text, rules over a table, metrics verdicts."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import great_expectations as gx
import pandas as pd
import pytest

from motion_r1_core.expectations import (
    CheckFailure,
    CheckOutcome,
    Rule,
    TableReport,
    metrics_outcome,
    read_table,
    rule_failures,
)


class _Report(TableReport):
    rows_name: ClassVar[str] = "things"
    checks_name: ClassVar[str] = "thing"


def test_format_lists_failures_with_capped_ids() -> None:
    ok = _Report(Path("t.parquet"), 3)
    assert ok.format() == "t.parquet: 3 things: all thing checks passed"
    bad = _Report(
        Path("t.parquet"),
        3,
        (CheckFailure("a", "2 bad", ("x", "y")), CheckFailure("b", "1 odd", ("z",))),
    )
    text = bad.format(max_files=1)
    assert text.splitlines() == [
        "t.parquet: 3 things: 2 failed check(s)",
        "[a] 2 bad",
        "    x",
        "    ... and 1 more",
        "[b] 1 odd",
        "    z",
    ]
    assert "[a]" not in bad.format(checks=("b",)) and bad.failed_checks() == ("a", "b")
    assert "**2 failed check(s)**" in bad.to_markdown()


def test_rule_failures_name_the_failing_ids_once() -> None:
    table = pd.DataFrame({"id": ["a", "b", "b", "c"], "n": [1, 5, 5, -2]})
    E = gx.expectations
    rules = [
        Rule(
            "range",
            "rows out of range",
            E.ExpectColumnValuesToBeBetween(column="n", min_value=0, max_value=3),
            True,
        ),
        Rule("unique", "ids listed more than once", E.ExpectColumnValuesToBeUnique(column="id")),
    ]
    [out_of_range, twice] = rule_failures(table, rules, name="t")
    assert out_of_range == CheckFailure("range", "3 rows out of range (found -2, 5)", ("b", "c"))
    assert twice.files == ("b",) and "found" not in twice.detail


def test_metrics_outcome_and_read_table(tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    missing = metrics_outcome(path, lambda m: CheckOutcome(True))
    assert not missing.passed and missing.metadata == {"error": f"{path}: missing"}
    path.write_text('{"loss": 0.5}')
    judged = metrics_outcome(path, lambda m: CheckOutcome(m["loss"] < 1, {"loss": m["loss"]}))
    assert judged == CheckOutcome(True, {"loss": 0.5})
    with pytest.raises(FileNotFoundError, match="run the some_stage stage"):
        read_table(tmp_path / "t.parquet", ["id"], "table", "some_stage")
    pd.DataFrame({"id": [1]}).to_parquet(tmp_path / "t.parquet")
    with pytest.raises(ValueError, match=r"columns \['n'\] missing"):
        read_table(tmp_path / "t.parquet", ["id", "n"], "table", "some_stage")
