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

from dagster_pipes import PipesDefaultContextLoader, PipesEnvVarParamsLoader, open_dagster_pipes

from motion_r1_core.config import Config, load_config
from motion_r1_core.runtime import is_main_process
from motion_r1_core.stages import get_stage
from motion_r1_core.tracking import NullTracker, stage_run


def plain(value: Any) -> Any:
    """A metadata value Pipes can carry: numbers, strings, bools, lists of those."""
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return str(value)


class ProgressTracker:
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


def stage_metadata(result: Any, mlflow_run_id: str | None) -> dict[str, Any]:
    """The materialization metadata of a stage's result: its plain values and its MLflow run."""
    metadata = {k: plain(v) for k, v in result.as_metadata().items()}
    return {**metadata, "mlflow_run_id": mlflow_run_id}


def main() -> None:
    """Run the stage named in the Pipes extras and report its materialization.

    Under `accelerate launch` every rank runs the stage (the trainers need them all), and only
    rank 0 talks to Dagster and MLflow: the others read the same Pipes context, log nowhere,
    and leave the evaluation and the files to rank 0.
    """
    if not is_main_process():
        params = PipesEnvVarParamsLoader().load_context_params()
        with PipesDefaultContextLoader().load_context(params) as data:
            extras, partition = dict(data["extras"]), data.get("partition_key")
        cfg, stage, dataset = _resolve(extras, partition)
        get_stage(stage)(cfg, dataset, NullTracker(), progress=False)
        return
    with open_dagster_pipes() as pipes:
        cfg, stage, dataset = _resolve(dict(pipes.extras), pipes.partition_key)
        ex = pipes.extras
        with stage_run(
            cfg,
            stage,
            dataset,
            dagster_run_id=pipes.run_id,
            tracking_uri=ex.get("tracking_uri"),
            experiment=ex.get("experiment"),
        ) as tracker:
            pipes.log.info(f"{stage}/{dataset}: MLflow run {tracker.run_id}, profile {cfg.profile}")
            echo = ProgressTracker(tracker, pipes.log, stage)
            result = get_stage(stage)(cfg, dataset, echo, progress=False)
        pipes.report_asset_materialization(metadata=stage_metadata(result, tracker.run_id))


def _resolve(extras: dict[str, Any], partition: str | None) -> tuple[Config, str, str]:
    """(configuration, stage, dataset) from the Pipes extras and partition key."""
    root = Path(extras["root"]) if extras.get("root") else None
    cfg = load_config(extras.get("profile"), extras.get("overrides") or [], root)
    return cfg, extras["stage"], partition or extras.get("dataset") or cfg.dataset


if __name__ == "__main__":
    main()
