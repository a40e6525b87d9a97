"""The Dagster project: definitions load, `raw_motions` materialises on a real instance, checks bite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from conftest import new_project
from mlflow.tracking import MlflowClient

from motion_r1_core.data.validation import validate_motion_folder
from pipelines.definitions import defs
from pipelines.defs.data.assets import raw_motions
from pipelines.defs.data.checks import CHECK_CONCERNS, check_result, raw_motions_checks
from pipelines.defs.partitions import dataset_partitions
from pipelines.defs.resources import MlflowResource, PipelineConfigResource

REPO = Path(__file__).resolve().parents[1]
MOTIONS = 60
RAW_KEY = dg.AssetKey("raw_motions")


def _resources(root: Path, tracking_uri: str) -> dict[str, Any]:
    return {
        "pipeline_config": PipelineConfigResource(
            profile="smoke", overrides=[f"data.procedural.motions={MOTIONS}"], root=str(root)
        ),
        "mlflow": MlflowResource(tracking_uri=tracking_uri),
    }


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Materialise `raw_motions` for `procedural` once, with its checks, on a real instance."""
    tmp = tmp_path_factory.mktemp("pipelines")
    root = new_project(tmp / "project")
    uri = f"sqlite:///{tmp / 'mlflow' / 'mlruns.db'}"
    resources = _resources(root, uri)
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [raw_motions, raw_motions_checks],
            partition_key="procedural",
            instance=instance,
            resources=resources,
        )
        yield {
            "root": root,
            "uri": uri,
            "resources": resources,
            "instance": instance,
            "result": result,
        }


def test_definitions_load_every_asset_check_job_and_resource() -> None:
    d = defs()
    graph = d.resolve_asset_graph()
    vq, tokens = dg.AssetKey("motion_vqvae"), dg.AssetKey("motion_tokens")
    enc, cot = dg.AssetKey("text_motion_encoders"), dg.AssetKey("cot_triplets")
    sft = dg.AssetKey("sft_policy")
    grpo = {dg.AssetKey(["grpo_policy", a]) for a in ("semantic", "motion", "both", "both_physics")}
    report, registered = dg.AssetKey("eval_report"), dg.AssetKey("registered_model")
    assert graph.get_all_asset_keys() == {
        RAW_KEY,
        vq,
        tokens,
        enc,
        cot,
        sft,
        *grpo,
        report,
        registered,
    }
    both = dg.AssetKey(["grpo_policy", "both"])
    # every asset whose files a stage reads is its parent (tests/test_dvc_graph.py: as dvc.yaml)
    assert graph.get(report).parent_keys == {RAW_KEY, vq, enc, sft, both}
    assert graph.get(registered).parent_keys == {report, vq, sft, both}
    assert graph.get(sft).parent_keys == {RAW_KEY, vq, tokens, enc, cot}
    assert graph.get(sft).group_name == "policy"
    assert graph.get(cot).parent_keys == {RAW_KEY, tokens} and graph.get(cot).group_name == "cot"
    assert {k.name for k in graph.asset_check_keys if k.asset_key == cot} == {
        "format",
        "step_counts",
        "tokens",
        "unique_ids",
        "acceptance_rate",
    }
    assert graph.get(vq).parent_keys == {RAW_KEY} and graph.get(tokens).parent_keys == {RAW_KEY, vq}
    assert graph.get(enc).parent_keys == {RAW_KEY} and graph.get(enc).group_name == "encoders"
    assert {k.name for k in graph.asset_check_keys if k.asset_key == enc} == {
        "encoders_load",
        "real_retrieval",
        "encoders_differ",
    }
    assert {k for k in graph.asset_check_keys if k.asset_key == RAW_KEY} == {
        dg.AssetCheckKey(RAW_KEY, name) for name in CHECK_CONCERNS
    }
    assert set(d.resources) == {"pipeline_config", "mlflow", "stage_launcher", "chat_endpoint"}
    assert {j.name for j in d.resolve_all_job_defs()} >= {
        "raw_data_job",
        "tokenizer_job",
        "encoders_job",
        "cot_job",
        "policy_job",
        "report_job",
        "registry_job",
        "pipeline_job",
    }
    node = graph.get(RAW_KEY)
    assert node.group_name == "data" and node.partitions_def == dataset_partitions
    assert dataset_partitions.get_partition_keys() == ["procedural", "humanml3d", "kit"]
    job = d.resolve_job_def("raw_data_job")
    assert job.partitions_def == dataset_partitions
    specs = {s.name: s for s in raw_motions_checks.check_specs}
    assert specs["layout_and_dims"].blocking and not specs["captions"].blocking
    assert all(s.partitions_def == dataset_partitions for s in specs.values())


def test_config_resource_applies_profile_overrides_and_root(tmp_path: Path) -> None:
    root = new_project(tmp_path / "p")
    cfg = PipelineConfigResource(
        profile="smoke", overrides=["data.procedural.seed=7"], root=str(root)
    ).load()
    assert (cfg.profile, cfg.data.procedural.seed, cfg.root) == ("smoke", 7, root.resolve())
    assert cfg.data.procedural.max_primitives == 2  # from configs/smoke.yaml
    with pytest.raises(ValueError, match="unknown profile"):
        PipelineConfigResource(profile="nope", root=str(root)).load()


def test_materialisation_writes_the_partition_folder(built: dict[str, Any]) -> None:
    result, root = built["result"], built["root"]
    assert result.success
    folder = root / "data" / "raw" / "procedural"
    assert len(list((folder / "new_joint_vecs").glob("*.npy"))) == MOTIONS
    assert (root / "artifacts" / "procedural" / "raw_motions" / "metrics.json").is_file()
    [mat] = result.get_asset_materialization_events()
    assert mat.materialization.partition == "procedural"
    meta = {k: v.value for k, v in mat.materialization.metadata.items()}
    assert meta["n_motions"] == MOTIONS and meta["n_captions"] >= MOTIONS
    assert meta["n_train"] + meta["n_val"] + meta["n_test"] == MOTIONS
    assert Path(meta["path"]) == folder
    assert "passed" in meta["validation"]
    # the instance (not just the result object) recorded the partition
    stored = built["instance"].get_latest_materialization_event(RAW_KEY)
    assert stored.asset_materialization.partition == "procedural"


def test_checks_ran_for_the_partition_and_passed(built: dict[str, Any]) -> None:
    checks = _checks(built["result"])
    assert set(checks) == set(CHECK_CONCERNS)
    for name, ev in checks.items():
        assert ev.passed, (name, ev.metadata)
        assert ev.partition == "procedural"
    assert checks["layout_and_dims"].metadata["n_motions"].value == MOTIONS


def test_mlflow_run_has_params_metrics_and_dagster_tags(built: dict[str, Any]) -> None:
    result = built["result"]
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    run = MlflowClient(tracking_uri=built["uri"]).get_run(meta["mlflow_run_id"].value)
    assert run.info.status == "FINISHED"
    assert run.data.params["data.procedural.motions"] == str(MOTIONS)
    assert run.data.params["profile"] == "smoke"
    assert run.data.metrics["n_motions"] == MOTIONS
    assert run.data.metrics["validation_failures"] == 0
    tags = run.data.tags
    assert tags["dagster.run_id"] == result.run_id
    assert (tags["dagster.partition"], tags["stage"], tags["dataset"]) == (
        "procedural",
        "raw_motions",
        "procedural",
    )


def test_deleted_file_fails_the_blocking_check_naming_it(built: dict[str, Any]) -> None:
    folder = built["root"] / "data" / "raw" / "procedural"
    victim = sorted((folder / "new_joint_vecs").glob("*.npy"))[7]
    victim.unlink()
    # checks only, for one partition: a run tagged with the partition (what the UI launches)
    result = dg.materialize(
        [raw_motions, raw_motions_checks],
        selection=dg.AssetSelection.checks_for_assets(raw_motions),
        tags={"dagster/partition": "procedural"},
        instance=built["instance"],
        resources=built["resources"],
        raise_on_error=False,
    )
    assert not result.success  # a failed blocking check fails its step, so nothing downstream runs
    assert not result.get_asset_materialization_events()  # the folder was not rebuilt
    checks = _checks(result)
    blocking = checks["layout_and_dims"]
    assert not blocking.passed and blocking.partition == "procedural"
    assert blocking.metadata["files"].value == [f"new_joint_vecs/{victim.name}"]
    assert blocking.metadata["failed"].value == ["files"]
    assert victim.name in blocking.metadata["report"].value
    assert all(checks[n].passed for n in CHECK_CONCERNS if n != "layout_and_dims")


def test_a_folder_out_of_layout_fails_every_check(tmp_path: Path) -> None:
    (tmp_path / "ds" / "new_joint_vecs").mkdir(parents=True)  # nothing else of the layout
    report = validate_motion_folder(tmp_path / "ds")
    results = {name: check_result(report, name) for name in CHECK_CONCERNS}
    assert not any(r.passed for r in results.values())  # unevaluated concerns cannot pass
    layout = results["layout_and_dims"].metadata
    assert "texts/" in layout["files"].value and "Mean.npy" in layout["files"].value
