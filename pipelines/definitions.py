"""Entry point of the code location: load every definition under `pipelines/defs/`."""

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    """All assets, checks, jobs and resources of the project (the defs folder, merged)."""
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
