"""Run one pipeline stage as a Dagster Pipes process (on this machine or a GPU node).

    python -m pipelines.pipes_stage        # launched by StageLauncherResource, never by hand

The asset passes the stage, the dataset and the configuration (profile, overrides, root, MLflow
store) as Pipes extras. This process imports only `dagster_pipes` and the core: it opens the
stage's MLflow run (tagged with the Dagster run), calls the stage function, and reports the
result as the asset's materialization. Outside Dagster, `open_dagster_pipes` does nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dagster_pipes import open_dagster_pipes

from motion_r1_core.config import load_config
from motion_r1_core.stages import get_stage
from motion_r1_core.tracking import stage_run


def _plain(value: Any) -> Any:
    """A metadata value Pipes can carry: numbers, strings, bools, lists of those."""
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


class _ProgressTracker:
    """Forward to `tracker`, and echo each logged metrics row to the Dagster run's log.

    Long stages log every `log_every` steps; this is how their progress reaches the Dagster UI
    and `dagster job execute` (a Pipes process has no terminal for a progress bar).
    """

    def __init__(self, tracker: Any, log: Any, stage: str) -> None:
        self.tracker, self.log, self.stage = tracker, log, stage
        self.run_id = getattr(tracker, "run_id", None)

    def log_params(self, params: Any) -> None:
        self.tracker.log_params(params)

    def log_metrics(self, metrics: Any, step: int | None = None) -> None:
        self.tracker.log_metrics(metrics, step=step)
        shown = ", ".join(f"{k} {v:.4g}" for k, v in list(metrics.items())[:8])
        self.log.info(f"{self.stage} step {step}: {shown}" if step is not None else shown)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self.tracker.log_artifact(path, artifact_path)

    def set_tags(self, tags: Any) -> None:
        self.tracker.set_tags(tags)


def main() -> None:
    """Run the stage named in the Pipes extras and report its materialization."""
    with open_dagster_pipes() as pipes:
        ex = pipes.extras
        root = Path(ex["root"]) if ex.get("root") else None
        cfg = load_config(ex.get("profile"), ex.get("overrides") or [], root)
        stage = ex["stage"]
        dataset = pipes.partition_key or ex.get("dataset") or cfg.dataset
        with stage_run(
            cfg,
            stage,
            dataset,
            dagster_run_id=pipes.run_id,
            tracking_uri=ex.get("tracking_uri"),
            experiment=ex.get("experiment"),
        ) as tracker:
            pipes.log.info(f"{stage}/{dataset}: MLflow run {tracker.run_id}, profile {cfg.profile}")
            echo = _ProgressTracker(tracker, pipes.log, stage)
            result = get_stage(stage)(cfg, dataset, echo, progress=False)
        metadata = {k: _plain(v) for k, v in result.as_metadata().items()}
        pipes.report_asset_materialization(metadata={**metadata, "mlflow_run_id": tracker.run_id})


if __name__ == "__main__":
    main()
