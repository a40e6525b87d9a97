"""The GRPO assets without training: one asset per reward ablation under `grpo_policy/`, the
main one in the policy group and the default pipeline, the rest in `ablation_job`; each asset
runs the stage with its ablation set, and its check compares format validity with the SFT
policy's (hand-written metrics.json)."""

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
from pipelines.defs.policy.grpo import ABLATIONS, grpo_assets, grpo_checks
from pipelines.defs.resources import MlflowResource, PipelineConfigResource, StageLauncherResource

KEYS = {a: dg.AssetKey(["grpo_policy", a]) for a in ABLATIONS}
METRICS = {"grpo/format_validity": 0.97, "sft/format_validity": 0.95, "grpo/reward/total": 2.1}
CALLS: list[tuple[str, list[str]]] = []


class RecordingLauncher(StageLauncherResource):
    """Records the stage and overrides it was asked to run; reports METRICS."""

    def run(self, context, stage, pipeline_config, mlflow, overrides=None):  # type: ignore[override]
        CALLS.append((stage, list(overrides or [])))
        return dg.MaterializeResult(metadata={**METRICS, "mlflow_run_id": "fake"})


def _resources(root: Path) -> dict[str, Any]:
    return {
        "pipeline_config": PipelineConfigResource(profile="smoke", root=str(root)),
        "mlflow": MlflowResource(tracking_uri=f"sqlite:///{root / 'mlflow' / 'mlruns.db'}"),
        "stage_launcher": RecordingLauncher(),
    }


def _write(root: Path, ablation: str, metrics: dict[str, float]) -> None:
    out = root / "artifacts" / "procedural" / "grpo" / ablation
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics))


@pytest.fixture(scope="module")
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


def test_each_ablation_is_an_asset_and_the_jobs_pick_them() -> None:
    d = defs()
    graph = d.resolve_asset_graph()
    assert set(ABLATIONS) == {"semantic", "motion", "both", "both_physics"}
    for ablation, key in KEYS.items():
        node = graph.get(key)
        assert node.group_name == ("policy" if ablation == "both" else "ablation")
        assert node.partitions_def == dataset_partitions
        assert node.parent_keys == {
            dg.AssetKey(k)
            for k in (
                "raw_motions",
                "motion_vqvae",
                "motion_tokens",
                "text_motion_encoders",
                "cot_triplets",
                "sft_policy",
            )
        }
        assert {k for k in graph.asset_check_keys if k.asset_key == key} == {
            dg.AssetCheckKey(key, "format_validity")
        }
    assert all(spec.blocking for c in grpo_checks for spec in c.check_specs)
    assert d.resolve_job_def("ablation_job").asset_layer.selected_asset_keys == set(KEYS.values())
    pipeline = d.resolve_job_def("pipeline_job").asset_layer.selected_asset_keys
    assert KEYS["both"] in pipeline and not ({KEYS["semantic"], KEYS["motion"]} & pipeline)
    assert KEYS["both"] in d.resolve_job_def("policy_job").asset_layer.selected_asset_keys


def test_an_ablation_asset_runs_the_stage_with_its_rewards_and_checks_format(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    root = new_project(tmp_path / "project")
    _write(root, "semantic", METRICS)
    i = ABLATIONS.index("semantic")
    CALLS.clear()
    result = dg.materialize(
        [grpo_assets[i], grpo_checks[i]],
        partition_key="procedural",
        instance=instance,
        resources=_resources(root),
    )
    assert result.success
    assert CALLS == [("grpo_policy", ["policy.grpo.ablation=semantic"])]
    [mat] = result.get_asset_materialization_events()
    assert mat.asset_key == KEYS["semantic"]
    meta = {k: v.value for k, v in mat.materialization.metadata.items()}
    assert meta["ablation"] == "semantic" and meta["grpo/reward/total"] == 2.1
    [check] = result.get_asset_check_evaluations()
    assert check.passed and check.asset_key == KEYS["semantic"]


def test_the_check_fails_when_grpo_loses_the_format(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    root = new_project(tmp_path / "project")
    _write(root, "both", {"grpo/format_validity": 0.90, "sft/format_validity": 0.95})
    i = ABLATIONS.index("both")
    result = dg.materialize(
        [grpo_assets[i], grpo_checks[i]],
        selection=dg.AssetSelection.checks_for_assets(grpo_assets[i]),
        tags={"dagster/partition": "procedural"},
        instance=instance,
        resources=_resources(root),
        raise_on_error=False,
    )
    [check] = result.get_asset_check_evaluations()
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    meta = {k: v.value for k, v in check.metadata.items()}
    assert meta == {"grpo": 0.90, "sft": 0.95, "tolerance": 0.01}
