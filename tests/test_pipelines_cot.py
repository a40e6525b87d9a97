"""The cot group on a real Dagster instance: the chat_endpoint resource, a Pipes process, an
MLflow run and the Great Expectations checks."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
from misbehaving_server import Script, misbehaving_server
from mlflow.tracking import MlflowClient
from test_cot_stage import _cot_project, _oracle

from pipelines.defs.cot.assets import cot_triplets
from pipelines.defs.cot.checks import cot_triplets_checks
from pipelines.defs.resources import (
    ChatEndpointResource,
    MlflowResource,
    PipelineConfigResource,
    StageLauncherResource,
)


def test_cot_asset_runs_through_pipes_and_reports_its_checks(smoke_project, tmp_path: Path) -> None:
    root = _cot_project(smoke_project, tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow' / 'mlruns.db'}"
    script = Script(responder=_oracle(root / "data/raw/procedural"))
    with misbehaving_server(script) as url, dg.instance_for_test() as instance:
        resources = {
            "pipeline_config": PipelineConfigResource(
                profile="smoke",
                overrides=["cot.max_captions=10", "cot.client.backoff=0"],
                root=str(root),
            ),
            "mlflow": MlflowResource(tracking_uri=uri),
            "stage_launcher": StageLauncherResource(),
            "chat_endpoint": ChatEndpointResource(base_url=url),
        }
        result = dg.materialize(
            [cot_triplets, cot_triplets_checks],
            partition_key="procedural",
            instance=instance,
            resources=resources,
        )
        messages = [e.user_message for e in instance.all_logs(result.run_id)]
    assert result.success
    assert any(m.startswith(f"chat endpoint {url}") for m in messages)
    assert any(m.startswith("cot_triplets step 10: progress/captions 10") for m in messages)
    mat = result.get_asset_materialization_events()[0].materialization
    meta = {k: v.value for k, v in mat.metadata.items()}
    on_disk = json.loads((root / "artifacts/procedural/cot/metrics.json").read_text())
    assert meta["acceptance_rate"] == on_disk["acceptance_rate"] > 0.3
    assert meta["paid_requests"] == len(script.requests) > 10

    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(checks) == {"format", "step_counts", "tokens", "unique_ids", "acceptance_rate"}
    assert all(c.passed for c in checks.values())
    assert checks["format"].metadata["triplets"].value == on_disk["triplets"]

    run = MlflowClient(tracking_uri=uri).get_run(meta["mlflow_run_id"])
    assert run.info.status == "FINISHED" and run.data.tags["dagster.run_id"] == result.run_id
    assert run.data.params["cot.client.base_url"] == url
    assert run.data.metrics["captions"] == 10
