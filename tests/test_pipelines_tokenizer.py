"""The tokenizer group on a real Dagster instance: Pipes processes, MLflow runs, checks."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from conftest import new_project
from mlflow.tracking import MlflowClient

from pipelines.defs.data.assets import raw_motions
from pipelines.defs.resources import MlflowResource, PipelineConfigResource, StageLauncherResource
from pipelines.defs.tokenizer.assets import motion_tokens, motion_vqvae
from pipelines.defs.tokenizer.checks import motion_tokens_checks, motion_vqvae_checks

OVERRIDES = [
    "data.procedural.motions=60",
    "vqvae.train.iterations=30",
    "vqvae.train.log_every=10",
    "vqvae.train.eval_every=30",
    "vqvae.train.checkpoint_every=10",
]


def materialize_on_smoke(
    tmp_path: Path,
    overrides: list[str],
    assets: list,
    launcher: StageLauncherResource | None = None,
) -> tuple[Path, str, dg.ExecuteInProcessResult, list[str]]:
    """Materialise `assets` for `procedural` in a new smoke project, with the stage launcher
    (default: Pipes subprocesses) and an MLflow store of its own: (root, MLflow URI, result,
    the run's log messages)."""
    root = new_project(tmp_path / "project")
    uri = f"sqlite:///{tmp_path / 'mlflow' / 'mlruns.db'}"
    resources = {
        "pipeline_config": PipelineConfigResource(
            profile="smoke", overrides=overrides, root=str(root)
        ),
        "mlflow": MlflowResource(tracking_uri=uri),
        "stage_launcher": launcher or StageLauncherResource(),
    }
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            assets, partition_key="procedural", instance=instance, resources=resources
        )
        messages = [e.user_message for e in instance.all_logs(result.run_id)]
    return root, uri, result, messages


@pytest.mark.slow
def test_tokenizer_assets_run_through_pipes_and_pass_their_checks(tmp_path: Path) -> None:
    assets = [raw_motions, motion_vqvae, motion_tokens, motion_vqvae_checks, motion_tokens_checks]
    root, uri, result, messages = materialize_on_smoke(tmp_path, OVERRIDES, assets)
    assert result.success
    # the Pipes process's progress reaches the run's log, one line per logged step
    progress = [m for m in messages if m.startswith("motion_vqvae step ")]
    assert [m.split(":")[0] for m in progress][:3] == [
        f"motion_vqvae step {n}" for n in (10, 20, 30)
    ]
    mats = {
        e.asset_key.path[-1]: e.materialization for e in result.get_asset_materialization_events()
    }
    assert set(mats) == {"raw_motions", "motion_vqvae", "motion_tokens"}
    vq = {k: v.value for k, v in mats["motion_vqvae"].metadata.items()}
    on_disk = json.loads((root / "artifacts/procedural/vqvae/metrics.json").read_text())
    assert vq["test_mpjpe_mm"] == on_disk["test_mpjpe_mm"] and vq["train_steps"] == 30
    assert mats["motion_vqvae"].partition == "procedural"

    tokens = pd.read_parquet(root / "artifacts/procedural/tokens/tokens.parquet")
    assert len(tokens) == 120  # 60 motions and their mirrors
    checks = {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}
    assert checks["motion_vqvae", "checkpoint_roundtrip"].passed
    assert not checks["motion_vqvae", "reconstruction_quality"].passed  # 30 steps: a weak model
    assert checks["motion_vqvae", "reconstruction_quality"].severity == dg.AssetCheckSeverity.WARN
    for name in ("ids_in_range", "lengths", "unique_ids", "splits"):
        assert checks["motion_tokens", name].passed, name

    # the Pipes process logged to the same MLflow store, tagged with this Dagster run
    run = MlflowClient(tracking_uri=uri).get_run(vq["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["dagster.run_id"] == result.run_id
    assert run.data.tags["stage"] == "motion_vqvae"
    assert run.data.params["vqvae.train.iterations"] == "30"
    assert run.data.metrics["test_codes_used"] == on_disk["test_codes_used"]
    history = MlflowClient(tracking_uri=uri).get_metric_history(run.info.run_id, "recon")
    assert [m.step for m in history] == [10, 20, 30]
    artifacts = {a.path for a in MlflowClient(tracking_uri=uri).list_artifacts(run.info.run_id)}
    assert {"vqvae.safetensors", "metrics.json", "training_curves.png"} <= artifacts
