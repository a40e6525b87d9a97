"""The registry group: its definitions, the blocking floors check on hand-written reports (nothing
registered), and (slow) the asset registering the smoke CoT policy into a sqlite store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from conftest import new_project

from pipelines.definitions import defs
from pipelines.defs.partitions import dataset_partitions
from pipelines.defs.registry.assets import registered_model
from pipelines.defs.registry.checks import registered_model_checks
from pipelines.defs.resources import MlflowResource, PipelineConfigResource

KEY = dg.AssetKey("registered_model")


def _resources(root: Path, *overrides: str) -> dict[str, Any]:
    return {
        "pipeline_config": PipelineConfigResource(
            profile="smoke", overrides=list(overrides), root=str(root)
        ),
        "mlflow": MlflowResource(tracking_uri=f"sqlite:///{root / 'mlflow' / 'mlruns.db'}"),
    }


def _write_summary(root: Path, policies: dict[str, dict[str, Any]]) -> Path:
    path = root / "artifacts" / "procedural" / "report" / "summary.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "dataset": "procedural",
                "evaluator": "trained",
                "chain_source": "ground_truth",
                "policies": policies,
            }
        )
    )
    return path


@pytest.fixture(scope="module")
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


def test_definitions_load_the_registry_group_after_the_report() -> None:
    d = defs()
    node = d.resolve_asset_graph().get(KEY)
    assert node.group_name == "registry" and node.partitions_def == dataset_partitions
    assert node.parent_keys == {
        dg.AssetKey("eval_report"),
        dg.AssetKey("motion_vqvae"),
        dg.AssetKey("sft_policy"),
        dg.AssetKey(["grpo_policy", "both"]),
    }
    [spec] = registered_model_checks.check_specs
    assert spec.name == "floors" and spec.blocking and spec.partitions_def == dataset_partitions
    assert d.resolve_job_def("registry_job").asset_layer.selected_asset_keys == {KEY}
    assert KEY in d.resolve_job_def("pipeline_job").asset_layer.selected_asset_keys


@pytest.mark.parametrize(
    ("metrics", "passed", "failed"),
    [
        ({"top3": 0.5, "format_validity": 0.9}, True, ""),
        ({"top3": 0.49, "format_validity": 0.95}, False, "top3"),
        ({"top3": 0.8, "format_validity": 0.85}, False, "format_validity"),
        (None, False, None),
    ],
    ids=["at_the_floors", "top3_below", "format_below", "no_report"],
)
def test_floors_check_alone_passes_at_the_floors_and_fails_below(
    tmp_path: Path,
    instance: dg.DagsterInstance,
    metrics: dict[str, float] | None,
    passed: bool,
    failed: str | None,
) -> None:
    root = new_project(tmp_path / "project")
    if metrics is not None:
        _write_summary(root, {"best": {"path": "", "metrics": metrics}})
    result = dg.materialize(
        [registered_model, registered_model_checks],
        selection=dg.AssetSelection.checks_for_assets(registered_model),
        tags={"dagster/partition": "procedural"},
        instance=instance,
        resources=_resources(root, "registry.min_top3=0.5", "registry.min_format_validity=0.9"),
        raise_on_error=False,
    )
    assert not result.get_asset_materialization_events()
    [check] = result.get_asset_check_evaluations()
    assert check.check_name == "floors" and check.partition == "procedural"
    assert check.passed is passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert result.success is passed  # a failed blocking check fails its step
    meta = {k: v.value for k, v in check.metadata.items()}
    if metrics is None:
        assert "summary.json: missing" in meta["error"]
    else:
        assert meta["champion"] == "best" and meta["failed"] == failed
        assert meta["min_top3"] == 0.5 and meta["min_format_validity"] == 0.9


@pytest.mark.slow
def test_the_asset_registers_the_champion_and_its_check_passes(
    smoke_sft: tuple, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    from mlflow.tracking import MlflowClient

    _, _, sft, _, _ = smoke_sft
    root = new_project(tmp_path / "project")
    _write_summary(
        root,
        {
            "SFT no_cot": {
                "path": str(sft.policies["no_cot"]),
                "metrics": {"top3": 0.6, "format_validity": 0.95},
            },
            "SFT cot": {
                "path": str(sft.policies["cot"]),
                "metrics": {"top3": 0.7, "format_validity": 0.94},
            },
        },
    )
    result = dg.materialize(
        [registered_model, registered_model_checks],
        partition_key="procedural",
        instance=instance,
        resources=_resources(root),
    )
    assert result.success
    [mat] = result.get_asset_materialization_events()
    meta = {k: v.value for k, v in mat.materialization.metadata.items()}
    assert meta["champion"] == "SFT cot" and meta["model_uri"] == "models:/motion-r1@champion"
    assert meta["champion/top3"] == 0.7 and meta["floors_passed"] is True
    [check] = result.get_asset_check_evaluations()
    assert check.check_name == "floors" and check.passed
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow' / 'mlruns.db'}")
    version = client.get_model_version_by_alias("motion-r1", "champion")
    assert str(version.version) == meta["version"] and version.tags["champion"] == "SFT cot"
    run = client.get_run(meta["mlflow_run_id"])
    assert run.data.tags["stage"] == "registered_model" and "dagster.run_id" in run.data.tags
