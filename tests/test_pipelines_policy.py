"""The policy group without training: the definitions, the asset's metadata (the stage launcher
replaced by one that reports fixed metrics) and the format check on a hand-written metrics.json."""

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
from pipelines.defs.policy.assets import sft_policy
from pipelines.defs.policy.checks import sft_policy_checks
from pipelines.defs.resources import MlflowResource, PipelineConfigResource, StageLauncherResource

SFT = dg.AssetKey("sft_policy")
FLOOR = 0.9
METRICS = {
    "examples": 48.0,
    "cot/format_validity": 0.95,
    "cot/train_loss": 1.5,
    "cot/top3": 0.4,
    "no_cot/format_validity": 1.0,
    "no_cot/train_loss": 1.2,
    "no_cot/top3": 0.5,
}


class FixedLauncher(StageLauncherResource):
    """Reports METRICS as the stage's materialization instead of running it."""

    def run(self, context, stage, pipeline_config, mlflow, overrides=None):  # type: ignore[override]
        assert stage == "sft_policy" and context.partition_key == "procedural"
        return dg.MaterializeResult(metadata={**METRICS, "mlflow_run_id": "fake"})


def _resources(root: Path, *overrides: str) -> dict[str, Any]:
    return {
        "pipeline_config": PipelineConfigResource(
            profile="smoke",
            overrides=[f"policy.eval.min_format_validity={FLOOR}", *overrides],
            root=str(root),
        ),
        "mlflow": MlflowResource(tracking_uri=f"sqlite:///{root / 'mlflow' / 'mlruns.db'}"),
        "stage_launcher": FixedLauncher(),
    }


def _write_metrics(root: Path, metrics: dict[str, float]) -> None:
    out = root / "artifacts" / "procedural" / "sft"
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics))


@pytest.fixture(scope="module")
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


def test_definitions_load_the_policy_group_its_check_and_job() -> None:
    d = defs()
    graph = d.resolve_asset_graph()
    node = graph.get(SFT)
    assert node.group_name == "policy" and node.partitions_def == dataset_partitions
    assert node.parent_keys == {
        dg.AssetKey("raw_motions"),
        dg.AssetKey("motion_vqvae"),
        dg.AssetKey("motion_tokens"),
        dg.AssetKey("text_motion_encoders"),
        dg.AssetKey("cot_triplets"),
    }
    assert {k for k in graph.asset_check_keys if k.asset_key == SFT} == {
        dg.AssetCheckKey(SFT, "format_validity")
    }
    [spec] = sft_policy_checks.check_specs
    assert spec.blocking and spec.partitions_def == dataset_partitions
    job = d.resolve_job_def("policy_job")
    # the SFT policies and GRPO with both rewards (the other ablations are ablation_job's)
    assert job.asset_layer.selected_asset_keys == {SFT, dg.AssetKey(["grpo_policy", "both"])}
    assert job.partitions_def == dataset_partitions
    # `make run` (pipeline_job) materialises every asset, the policy included
    assert SFT in d.resolve_job_def("pipeline_job").asset_layer.selected_asset_keys


def test_asset_reports_the_stage_metrics_and_the_chain_source(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    root = new_project(tmp_path / "project")
    _write_metrics(root, METRICS)
    result = dg.materialize(
        [sft_policy, sft_policy_checks],
        partition_key="procedural",
        instance=instance,
        resources=_resources(root, "policy.cot_source=engine"),
    )
    assert result.success
    [mat] = result.get_asset_materialization_events()
    meta = {k: v.value for k, v in mat.materialization.metadata.items()}
    assert meta["cot_source"] == "engine"  # from the configuration, not the stage
    for variant in ("cot", "no_cot"):
        for key in ("format_validity", "train_loss", "top3"):
            assert meta[f"{variant}/{key}"] == METRICS[f"{variant}/{key}"]
    [check] = result.get_asset_check_evaluations()
    assert check.check_name == "format_validity" and check.passed


@pytest.mark.parametrize(
    ("cot", "no_cot", "passed"),
    [(FLOOR, 1.0, True), (1.0, FLOOR - 0.01, False), (None, None, False)],
    ids=["at_the_floor", "one_variant_below", "no_metrics"],
)
def test_format_check_passes_at_the_floor_and_fails_below_it(
    tmp_path: Path,
    instance: dg.DagsterInstance,
    cot: float | None,
    no_cot: float | None,
    passed: bool,
) -> None:
    root = new_project(tmp_path / "project")
    if cot is not None:
        _write_metrics(root, {"cot/format_validity": cot, "no_cot/format_validity": no_cot})
    # the check alone, for one partition (what the UI launches): nothing is trained
    result = dg.materialize(
        [sft_policy, sft_policy_checks],
        selection=dg.AssetSelection.checks_for_assets(sft_policy),
        tags={"dagster/partition": "procedural"},
        instance=instance,
        resources=_resources(root),
        raise_on_error=False,
    )
    assert not result.get_asset_materialization_events()
    [check] = result.get_asset_check_evaluations()
    assert check.check_name == "format_validity" and check.partition == "procedural"
    assert check.passed is passed
    assert check.severity == dg.AssetCheckSeverity.ERROR
    assert result.success is passed  # a failed blocking check fails its step
    meta = {k: v.value for k, v in check.metadata.items()}
    if cot is None:
        assert "metrics.json: missing" in meta["error"]
    else:
        assert meta == {
            "cot/format_validity": cot,
            "no_cot/format_validity": no_cot,
            "minimum": FLOOR,
        }
