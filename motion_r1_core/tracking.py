"""MLflow behind one small interface, so a stage logs the same way from the CLI, Dagster or a GPU node.

A stage function receives a `Tracker` and never imports mlflow itself. `stage_run` opens the MLflow
run of one stage (the CLI, the Dagster asset and the Pipes process all call it), `mlflow_run` any
MLflow run (any tracking URI); `NullTracker` records in memory (for tests and dry runs).
Secrets never go through here: params are filtered for names that look like credentials.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from motion_r1_core.config import Config

# A key whose last part names a secret (api_key, hf_token, password, ...); counts such as
# max_tokens and names of environment variables (api_key_env) are not secrets.
_SECRET = re.compile(
    r"(secret|passw|credential)[a-z_]*$|(^|[._-])(api[_-]?key|access[_-]?key|private[_-]?key"
    r"|key|token|auth)$",
    re.IGNORECASE,
)


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings to dotted keys: {"a": {"b": 1}} -> {"a.b": 1}."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def public_params(params: Mapping[str, Any]) -> dict[str, str]:
    """Flattened params as strings, without keys that look like secrets."""
    return {k: str(v) for k, v in flatten(params).items() if not _SECRET.search(k)}


def run_tags(
    stage: str, dataset: str, profile: str, dagster_run_id: str | None = None
) -> dict[str, str]:
    """The tags of a stage's MLflow run, the same from the CLI, Dagster and a Pipes process."""
    tags = {"stage": stage, "dataset": dataset, "profile": profile}
    if dagster_run_id:
        tags |= {"dagster.run_id": dagster_run_id, "dagster.partition": dataset}
    return tags


def log_stage(
    tracker: Tracker, cfg: Config, stage: str, dataset: str, params: Mapping[str, Any]
) -> None:
    """What every stage logs first: the `run_tags` of (stage, dataset, profile) as tags, and
    the profile, the dataset and `params` (e.g. its config section, dumped) as params."""
    tracker.set_tags(run_tags(stage, dataset, cfg.profile))
    tracker.log_params({"profile": cfg.profile, "dataset": dataset, **params})


class Tracker(Protocol):
    """What a stage may log: params once, metrics by step, files as artifacts, tags."""

    run_id: str | None

    def log_params(self, params: Mapping[str, Any]) -> None: ...
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None: ...
    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None: ...
    def set_tags(self, tags: Mapping[str, str]) -> None: ...


class NullTracker:
    """A tracker that keeps everything in memory; `run_id` is None."""

    def __init__(self) -> None:
        self.run_id: str | None = None
        self.params: dict[str, str] = {}
        self.metrics: list[tuple[int | None, dict[str, float]]] = []
        self.artifacts: list[tuple[Path, str | None]] = []
        self.tags: dict[str, str] = {}

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.params.update(public_params(params))

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self.metrics.append((step, {k: float(v) for k, v in metrics.items()}))

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self.artifacts.append((Path(path), artifact_path))

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self.tags.update({k: str(v) for k, v in tags.items()})


class MlflowTracker:
    """A tracker writing into the active MLflow run `run_id` through an MlflowClient."""

    def __init__(self, client: Any, run_id: str) -> None:
        self.client = client
        self.run_id: str | None = run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, v[:6000]) for k, v in public_params(params).items()]
        for i in range(0, len(items), 100):  # MLflow caps a batch at 100 params
            self.client.log_batch(self.run_id, params=items[i : i + 100])

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step or 0) for k, v in metrics.items()]
        for i in range(0, len(items), 1000):
            self.client.log_batch(self.run_id, metrics=items[i : i + 1000])

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        path = Path(path)
        if path.is_dir():
            self.client.log_artifacts(self.run_id, str(path), artifact_path)
        else:
            self.client.log_artifact(self.run_id, str(path), artifact_path)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        for k, v in tags.items():
            self.client.set_tag(self.run_id, k, str(v))


@contextmanager
def mlflow_run(
    tracking_uri: str,
    experiment: str,
    run_name: str,
    tags: Mapping[str, str] | None = None,
) -> Iterator[MlflowTracker]:
    """Open an MLflow run in `experiment` at `tracking_uri`; end it FINISHED or FAILED.

    Creates the experiment (and a local sqlite file's folder) when missing. Does not touch the
    global `mlflow.set_tracking_uri`, so several stores can be used in one process.
    """
    from mlflow.tracking import MlflowClient

    artifact_location = None
    if tracking_uri.startswith("sqlite:///"):
        # A local store keeps its artifacts beside the database, not in the current directory.
        db = Path(tracking_uri[len("sqlite:///") :])
        db.parent.mkdir(parents=True, exist_ok=True)
        artifact_location = (db.parent / "artifacts").resolve().as_uri()
    client = MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    exp_id = (
        exp.experiment_id
        if exp
        else client.create_experiment(experiment, artifact_location=artifact_location)
    )
    run = client.create_run(exp_id, run_name=run_name, tags=dict(tags or {}))
    tracker = MlflowTracker(client, run.info.run_id)
    try:
        yield tracker
    except BaseException:
        client.set_terminated(run.info.run_id, status="FAILED")
        raise
    client.set_terminated(run.info.run_id, status="FINISHED")


@contextmanager
def stage_run(
    cfg: Config,
    stage: str,
    dataset: str,
    dagster_run_id: str | None = None,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> Iterator[MlflowTracker]:
    """Open the MLflow run `stage/dataset` of one stage and yield its tracker.

    The run goes to `tracking_uri` and `experiment` (None: the configuration's
    `tracking_uri()` and `tracking.experiment`), tagged with `run_tags` (stage, dataset,
    profile, and the Dagster run and partition when `dagster_run_id` is given), then `tags`.
    Provenance (provenance.py) goes in as tags too: the git commit and whether the tree was
    dirty, the DVC content hash of every input (`dvc.in.<path>`) and, once the block has run,
    of every output (`dvc.out.<path>`). It ends FINISHED, or FAILED if the block raises.
    """
    from motion_r1_core import provenance

    with mlflow_run(
        tracking_uri or cfg.tracking_uri(),
        experiment or cfg.tracking.experiment,
        run_name=f"{stage}/{dataset}",
        tags={
            **run_tags(stage, dataset, cfg.profile, dagster_run_id),
            **provenance.input_tags(cfg, stage, dataset),
            **(tags or {}),
        },
    ) as tracker:
        yield tracker
        tracker.set_tags(provenance.output_tags(cfg, stage, dataset))


def store_uri(tracker: Tracker) -> str | None:
    """The tracking URI an `MlflowTracker` writes to, also behind wrappers that keep it as
    `.tracker` (the Pipes progress echo); None for a tracker without an MLflow client."""
    while tracker is not None:
        client = getattr(tracker, "client", None)
        if client is not None:
            return str(client.tracking_uri)
        tracker = getattr(tracker, "tracker", None)
    return None


@contextmanager
def fluent_store(tracking_uri: str, run_id: str | None = None) -> Iterator[None]:
    """Point MLflow's fluent API (`log_model`, `load_model` of `models:/` URIs, which have no
    client form) at `tracking_uri`, inside the existing run `run_id` if given. The previous
    tracking URI and MLFLOW_TRACKING_URI are restored afterwards."""
    import mlflow

    saved_uri = mlflow.get_tracking_uri() if mlflow.tracking.is_tracking_uri_set() else None
    saved_env = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(tracking_uri)
    try:
        if run_id:
            with mlflow.start_run(run_id=run_id):
                yield
        else:
            yield
    finally:
        mlflow.set_tracking_uri(saved_uri)  # None also unsets MLFLOW_TRACKING_URI
        if saved_env is not None:
            os.environ["MLFLOW_TRACKING_URI"] = saved_env
