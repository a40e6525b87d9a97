"""Jobs: one per asset group, each run for one dataset partition."""

import dagster as dg

raw_data_job = dg.define_asset_job(
    "raw_data_job",
    selection=dg.AssetSelection.groups("data"),
    description="Build and validate the raw motion folder of one dataset partition.",
)
