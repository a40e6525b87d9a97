"""`make run`'s Dagster run config: valid for pipeline_job, and one step at a time."""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import yaml

REPO = Path(__file__).resolve().parents[1]


def test_make_run_passes_a_run_config_that_runs_one_step_at_a_time() -> None:
    makefile = (REPO / "Makefile").read_text()
    path = re.search(r"^RUN_CONFIG \?= (\S+)$", makefile, re.M).group(1)
    assert "-c $(RUN_CONFIG)" in makefile
    config = yaml.safe_load((REPO / path).read_text())
    defs = dg.load_from_defs_folder(path_within_project=REPO / "pipelines")
    resolved = dg.validate_run_config(defs.resolve_job_def("pipeline_job"), config)
    executor = resolved["execution"]["multi_or_in_process_executor"]["multiprocess"]
    assert executor["max_concurrent"] == 1
