"""Great Expectations, the way every check of the pipeline runs it: one suite over one table.

An ephemeral, offline context (no analytics, no data docs, no progress bars), a pandas data
source with a whole-dataframe batch, and one validation run. Results come back in the order of
the expectations given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd


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
