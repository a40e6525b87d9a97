"""The encoders group on a real Dagster instance: a Pipes process, an MLflow run, the checks."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest
from mlflow.tracking import MlflowClient
from test_pipelines_tokenizer import materialize_on_smoke

from pipelines.defs.data.assets import raw_motions
from pipelines.defs.encoders.assets import text_motion_encoders
from pipelines.defs.encoders.checks import text_motion_encoders_checks

OVERRIDES = [
    "data.procedural.motions=240",  # 36 test motions: one R-Precision group of 32
    "encoders.iterations=20",
    "encoders.log_every=10",
    "encoders.checkpoint_every=10",
    "evaluation.replications=2",
    "evaluation.diversity_times=20",
]


@pytest.mark.slow
def test_encoders_asset_runs_through_pipes_and_reports_its_checks(tmp_path: Path) -> None:
    assets = [raw_motions, text_motion_encoders, text_motion_encoders_checks]
    root, uri, result, messages = materialize_on_smoke(tmp_path, OVERRIDES, assets)
    assert result.success
    progress = [m.split(":")[0] for m in messages if m.startswith("text_motion_encoders step ")]
    assert progress[:2] == ["text_motion_encoders step 10", "text_motion_encoders step 20"]
    mats = {
        e.asset_key.path[-1]: e.materialization for e in result.get_asset_materialization_events()
    }
    meta = {k: v.value for k, v in mats["text_motion_encoders"].metadata.items()}
    on_disk = json.loads((root / "artifacts/procedural/encoders/metrics.json").read_text())
    assert meta["real/top3"] == on_disk["real/top3"]
    assert Path(meta["evaluator_checkpoint"]).is_file()

    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["encoders_load"].passed
    assert checks["encoders_load"].metadata["evaluator_arch"].value == "transformer"
    # 20 steps cannot reach top-3 0.75: a warning, not a failed run
    assert not checks["real_retrieval"].passed
    assert checks["real_retrieval"].severity == dg.AssetCheckSeverity.WARN
    assert "encoders_differ" in checks

    run = MlflowClient(tracking_uri=uri).get_run(meta["mlflow_run_id"])
    assert run.info.status == "FINISHED" and run.data.tags["dagster.run_id"] == result.run_id
    assert run.data.params["encoders.iterations"] == "20"
