"""The tracking interface against a real MLflow store, and the secret filter."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from motion_r1_core.config import load_config
from motion_r1_core.tracking import NullTracker, flatten, mlflow_run, public_params, stage_run


def test_flatten_and_secret_filter():
    params = {
        "cot": {"api_key_env": "DEEPSEEK_API_KEY", "model": "r1", "api_key": "sk-1"},
        "token": "x",
        "hf_token": "hf_1",
        "db": {"password": "p"},
        "max_tokens": 400,
        "lr": 1e-4,
    }
    assert flatten(params)["cot.model"] == "r1"
    assert public_params(params) == {
        "cot.api_key_env": "DEEPSEEK_API_KEY",  # the variable's name, not its value
        "cot.model": "r1",
        "max_tokens": "400",
        "lr": "0.0001",
    }


def test_mlflow_run_logs_into_a_real_store(tmp_path: Path):
    uri = f"sqlite:///{tmp_path / 'store' / 'mlruns.db'}"
    artifact = tmp_path / "metrics.json"
    artifact.write_text('{"a": 1}')
    with mlflow_run(uri, "exp", "raw_motions/procedural", tags={"stage": "raw_motions"}) as t:
        t.log_params({"data": {"seed": 3}, "password": "hunter2"})
        t.log_metrics({"loss": 0.5}, step=1)
        t.log_metrics({"loss": 0.25}, step=2)
        t.log_artifact(artifact)
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(t.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params == {"data.seed": "3"}
    assert run.data.tags["stage"] == "raw_motions"
    history = client.get_metric_history(t.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(1, 0.5), (2, 0.25)]
    assert [a.path for a in client.list_artifacts(t.run_id)] == ["metrics.json"]
    # Artifacts live beside the database, not in the current directory.
    assert (tmp_path / "store" / "artifacts").is_dir()


def test_failed_stage_marks_the_run_failed(tmp_path: Path):
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    with pytest.raises(RuntimeError, match="boom"), mlflow_run(uri, "exp", "x") as t:
        raise RuntimeError("boom")
    assert MlflowClient(tracking_uri=uri).get_run(t.run_id).info.status == "FAILED"


def test_null_tracker_records():
    t = NullTracker()
    t.log_metrics({"a": 1})
    t.log_params({"secret_key": "s", "b": 2})
    assert t.metrics == [(None, {"a": 1.0})] and t.params == {"b": "2"}


def test_stage_run_names_tags_and_places_the_run(project_root: Path, tmp_path: Path):
    cfg = load_config("smoke")
    with stage_run(cfg, "raw_motions", "kit") as t:
        pass
    run = MlflowClient(tracking_uri=cfg.tracking_uri()).get_run(t.run_id)
    assert run.info.run_name == "raw_motions/kit" and run.info.status == "FINISHED"
    assert {"stage": "raw_motions", "dataset": "kit", "profile": "smoke"}.items() <= (
        run.data.tags.items()
    )
    assert "dagster.run_id" not in run.data.tags
    client = MlflowClient(tracking_uri=cfg.tracking_uri())
    assert client.get_experiment(run.info.experiment_id).name == cfg.tracking.experiment

    uri = f"sqlite:///{tmp_path / 'other.db'}"
    with stage_run(
        cfg, "motion_vqvae", "procedural", "d-1", uri, "exp", tags={"dagster.partition": "p"}
    ) as t:
        pass
    run = MlflowClient(tracking_uri=uri).get_run(t.run_id)
    assert run.data.tags["dagster.run_id"] == "d-1" and run.data.tags["dagster.partition"] == "p"
    assert MlflowClient(tracking_uri=uri).get_experiment(run.info.experiment_id).name == "exp"
