"""Stage `registered_model`: the champion of the evaluation report as a registered MLflow model.

Reads artifacts/<dataset>/report/summary.json (written by eval_report), picks the policy with
the best `registry.metric`, checks the `registry` floors, and registers it as a new version of
`registry.model_name` with the alias `registry.alias` (`models:/motion-r1@champion`); see
`motion_r1_core.registry`. Writes artifacts/<dataset>/registry/registered.json: the model URI,
version, champion, its metrics and the floors' verdict.
"""

from __future__ import annotations

import json
from pathlib import Path

from motion_r1_core.config import Config
from motion_r1_core.registry import Registration, log_champion
from motion_r1_core.tracking import Tracker, log_stage

SUMMARY = "summary.json"  # in artifacts/<dataset>/report/, written by eval_report
RECORD = "registered.json"  # in artifacts/<dataset>/registry/


def summary_path(cfg: Config, dataset: str) -> Path:
    """artifacts/<dataset>/report/summary.json."""
    return cfg.artifacts_dir(dataset, "report") / SUMMARY


def record_path(cfg: Config, dataset: str) -> Path:
    """artifacts/<dataset>/registry/registered.json."""
    return cfg.artifacts_dir(dataset, "registry") / RECORD


def run_registered_model(
    cfg: Config, dataset: str, tracker: Tracker, progress: bool = True
) -> Registration:
    """Register the report's champion of `dataset` and record where it went. Raises
    FileNotFoundError without a report, BelowFloors when the champion misses a floor
    (unless `registry.enforce_floors` is false). `progress` is unused (nothing long runs)."""
    source = summary_path(cfg, dataset)
    log_stage(
        tracker,
        cfg,
        "registered_model",
        dataset,
        {"registry": cfg.registry.model_dump(mode="json"), "summary": str(source)},
    )
    result = log_champion(cfg, dataset, source, tracker)
    out = record_path(cfg, dataset)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result.as_metadata(), indent=2, sort_keys=True, default=str) + "\n")
    tracker.log_artifact(out)
    return result
