"""Great Expectations, the way every check of the pipeline runs it: one suite over one table.

An ephemeral, offline context (no analytics, no data docs, no progress bars), a pandas data
source with a whole-dataframe batch, and one validation run. Results come back in the order of
the expectations given.

The outcomes every check reports: a `TableReport` of `CheckFailure`s (the motion folder, the
token dataset and the SFT triplets extend it), built from `Rule`s by `rule_failures`, and a
`CheckOutcome` for a single verdict on an artifact (a checkpoint loads, a metric meets its bar).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import pandas as pd


# -------------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class CheckFailure:
    """One failed check: its name, what is wrong, the files (relative paths) or row ids."""

    check: str
    detail: str
    files: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableReport:
    """Outcome of a suite of checks over one table: failures (CheckFailure.files holds the ids
    of the failing rows) and plain-number stats. Subclasses name their rows and checks."""

    path: Path
    n_rows: int
    failures: tuple[CheckFailure, ...] = ()
    stats: dict[str, Any] = field(default_factory=dict)
    rows_name: ClassVar[str] = "rows"
    checks_name: ClassVar[str] = "table"  # "all <checks_name> checks passed"; "" for plain

    @property
    def ok(self) -> bool:
        """True when every check held."""
        return not self.failures

    def failed_checks(self) -> tuple[str, ...]:
        """Names of the failed checks, in report order, without repeats."""
        return tuple(dict.fromkeys(f.check for f in self.failures))

    def failures_for(self, *checks: str) -> tuple[CheckFailure, ...]:
        """The failures whose check is one of `checks`."""
        return tuple(f for f in self.failures if f.check in checks)

    def header(self) -> str:
        """The first line of `format()`: what was checked and how much of it."""
        return f"{self.path}: {self.n_rows} {self.rows_name}"

    def format(self, max_files: int = 10, checks: tuple[str, ...] | None = None) -> str:
        """A readable report: the header, then `[check] detail` and the files of each failure.

        At most `max_files` files (or row ids) per failure, then "... and N more"; `checks`
        restricts the failures listed (the header still counts all).
        """
        if self.ok:
            kind = f"{self.checks_name} " if self.checks_name else ""
            return f"{self.header()}: all {kind}checks passed"
        lines = [f"{self.header()}: {len(self.failures)} failed check(s)"]
        for f in self.failures:
            if checks is None or f.check in checks:
                lines.append(f"[{f.check}] {f.detail}")
                lines += [f"    {i}" for i in f.files[:max_files]]
                if len(f.files) > max_files:
                    lines.append(f"    ... and {len(f.files) - max_files} more")
        return "\n".join(lines)

    def to_markdown(self, max_files: int = 10) -> str:
        """The report as markdown: a status line and the `format()` text in a code block."""
        status = "passed" if self.ok else f"**{len(self.failures)} failed check(s)**"
        return f"Validation {status}\n\n```\n{self.format(max_files)}\n```"


class ChecksFailed(RuntimeError):
    """A table failed its checks; the message is the readable report, `.report` the report."""

    def __init__(self, report: TableReport) -> None:
        super().__init__(report.format())
        self.report = report


@dataclass(frozen=True)
class CheckOutcome:
    """One check's verdict on an artifact: passed, and plain metadata (numbers, strings)."""

    passed: bool
    metadata: dict[str, Any] = field(default_factory=dict)


def metrics_outcome(path: Path, judge: Callable[[Mapping[str, Any]], CheckOutcome]) -> CheckOutcome:
    """`judge` the metrics.json a stage wrote at `path`; a missing file fails with `error`."""
    path = Path(path)
    if not path.is_file():
        return CheckOutcome(False, {"error": f"{path}: missing"})
    return judge(json.loads(path.read_text()))


def read_table(path: Path, columns: Sequence[str], what: str, stage: str) -> pd.DataFrame:
    """Read the parquet `path` written by `stage`; a missing file or column raises naming it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} missing (run the {stage} stage)")
    df = pd.read_parquet(path)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: columns {missing} missing (has {list(df.columns)})")
    return df


# ------------------------------------------------------------------------------ rules of a table
class Rule(NamedTuple):
    """One expectation over a table whose rows carry an `id` column."""

    check: str  # the report's check name
    what: str  # what the failing rows are, e.g. "ids listed more than once"
    expectation: Any  # a great_expectations Expectation
    show_values: bool = False  # add "(found ...)" with up to 5 unexpected values


def run_suite(
    df: pd.DataFrame, expectations: Sequence[Any], name: str, index_column: str = "id"
) -> list[Any]:
    """Validate `df` against `expectations`; one result per expectation, in the same order.

    Each result's `.success` says whether it held; `.result["unexpected_index_list"]` lists the
    failing rows as {index_column: value} (the column must exist in `df`).
    """
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    ctx = gx.get_context(
        mode="ephemeral",
        project_config=DataContextConfig(
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False),
            store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        ),
    )
    batch = (
        ctx.data_sources.add_pandas(name)
        .add_dataframe_asset("table")
        .add_batch_definition_whole_dataframe("all")
    )
    suite = ctx.suites.add(gx.ExpectationSuite(name=name))
    for n, expectation in enumerate(expectations):
        expectation.meta = {"order": n}  # maps each result back to its expectation
        suite.add_expectation(expectation)
    run = ctx.validation_definitions.add(
        gx.ValidationDefinition(name=name, data=batch, suite=suite)
    )
    result = run.run(
        batch_parameters={"dataframe": df},
        result_format={
            "result_format": "COMPLETE",
            "unexpected_index_column_names": [index_column],
        },
    )
    return sorted(result.results, key=lambda r: int(r.expectation_config.meta["order"]))


def rule_failures(table: pd.DataFrame, rules: Sequence[Rule], name: str) -> list[CheckFailure]:
    """Run `rules` as one suite `name` over `table`; one CheckFailure per rule that failed,
    naming the failing rows' ids (each once, in table order)."""
    results = run_suite(table, [r.expectation for r in rules], name=name)
    failures = []
    for rule, res in zip(rules, results, strict=True):
        if res.success:
            continue
        ids = [row["id"] for row in res.result.get("unexpected_index_list") or []]
        detail = f"{len(ids)} {rule.what}"
        if rule.show_values and (values := res.result.get("unexpected_list")):
            detail += f" (found {', '.join(sorted({str(v) for v in values})[:5])})"
        failures.append(CheckFailure(rule.check, detail, tuple(dict.fromkeys(ids))))
    return failures
