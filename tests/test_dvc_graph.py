"""dvc.yaml, the Dagster asset graph and the provenance record name the same stages, the same
edges between them and the same files; every stage reports metrics, every training stage
plots its curves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from motion_r1_core import provenance
from pipelines.definitions import defs

REPO = Path(__file__).resolve().parents[1]
DATASET = "procedural"
CURVES = ("motion_vqvae", "text_motion_encoders", "sft_policy", "grpo_policy")


def _path(entry: str | dict[str, Any]) -> str:
    return entry if isinstance(entry, str) else next(iter(entry))


def dvc_yaml(dataset: str = DATASET) -> dict[str, Any]:
    """dvc.yaml with `${dataset}` (params.yaml's `dataset`) set to `dataset`."""
    return yaml.safe_load((REPO / "dvc.yaml").read_text().replace("${dataset}", dataset))


def dvc_stages(dataset: str = DATASET) -> dict[str, dict[str, Any]]:
    """dvc.yaml's stages by the name `dvc repro` uses (`grpo_policy@both`), foreach expanded."""
    out = {}
    for name, stage in dvc_yaml(dataset)["stages"].items():
        if "foreach" not in stage:
            out[name] = stage
            continue
        for key in stage["foreach"]:
            text = yaml.safe_dump(stage["do"]).replace("${key}", key).replace("${item}", key)
            out[f"{name}@{key}"] = yaml.safe_load(text)
    return out


def asset_key(stage: str) -> dg.AssetKey:
    """The Dagster asset of a DVC stage: `grpo_policy@both` -> grpo_policy/both."""
    return dg.AssetKey(stage.split("@")) if "@" in stage else dg.AssetKey(stage)


def producers(stages: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Every path a stage writes (outs, metrics, plots) -> that stage."""
    return {
        _path(o): name
        for name, stage in stages.items()
        for kind in ("outs", "metrics", "plots")
        for o in stage.get(kind, [])
    }


STAGES = dvc_stages()


def test_dvc_and_dagster_name_the_same_stages_with_the_same_parents() -> None:
    from motion_r1_core.stages import STAGES as REGISTERED

    graph = defs().resolve_asset_graph()
    assert {asset_key(s) for s in STAGES} == graph.get_all_asset_keys()
    for name, stage in STAGES.items():  # each runs the stage function of its name
        base, _, ablation = name.partition("@")
        assert base in REGISTERED and stage["cmd"].startswith(f"motion-r1 stage {base} "), name
        assert not ablation or stage["cmd"].endswith(f"policy.grpo.ablation={ablation}"), name
    made_by = producers(STAGES)
    for name, stage in STAGES.items():
        parents = {asset_key(made_by[d]) for d in stage["deps"] if d in made_by}
        assert parents == graph.get(asset_key(name)).parent_keys, name


@pytest.mark.parametrize("dataset", ["procedural", "humanml3d", "kit"])
def test_each_stage_reads_and_writes_the_files_its_runs_record(dataset: str) -> None:
    for name, stage in dvc_stages(dataset).items():
        base, _, ablation = name.partition("@")
        data = [d for d in stage["deps"] if not d.startswith("motion_r1_core")]
        assert sorted(data) == sorted(provenance.stage_inputs(base, dataset, ablation or "both"))
        cached = [_path(o) for o in stage.get("outs", []) if not _cache_off(o)]
        assert sorted(cached) == sorted(provenance.stage_outputs(base, dataset, ablation or "both"))
        assert f"--dataset {dataset}" in stage["cmd"], name


def _cache_off(entry: str | dict[str, Any]) -> bool:
    return isinstance(entry, dict) and next(iter(entry.values())).get("cache") is False


def test_every_stage_reports_metrics_and_the_training_stages_plot_their_curves() -> None:
    plots = dvc_yaml()["plots"]
    drawn = {f for p in plots for spec in p.values() for f in spec["y"]}
    for name, stage in STAGES.items():
        [metrics] = stage["metrics"]
        assert _path(metrics).endswith(".json") and _cache_off(metrics), name
        curves = [o for o in stage.get("outs", []) if _path(o).endswith("training_curves.csv")]
        assert len(curves) == (name.split("@")[0] in CURVES), name
        assert all(_cache_off(c) for c in curves), name  # small: git keeps them
    # every chart reads a stage's curves, and the main run's curves are all drawn
    written = {_path(o) for s in STAGES.values() for o in s.get("outs", [])}
    assert drawn <= written
    assert {p for p in written if p.endswith(".csv") and "/grpo/" not in p} < drawn
    for p in plots:
        [spec] = p.values()
        assert spec["x"] == "step" and spec["template"] == "linear"


def test_a_stage_with_a_wrong_parent_is_named() -> None:
    """The graph check fails on drift: a dvc.yaml dep the Dagster asset does not have."""
    stage = dict(STAGES["motion_tokens"])
    stage["deps"] = [*stage["deps"], "artifacts/procedural/encoders/reward.safetensors"]
    made_by = producers(STAGES)
    parents = {asset_key(made_by[d]) for d in stage["deps"] if d in made_by}
    graph = defs().resolve_asset_graph()
    assert parents - graph.get(dg.AssetKey("motion_tokens")).parent_keys == {
        dg.AssetKey("text_motion_encoders")
    }


def test_provenance_names_the_inputs_of_the_ablation_it_runs() -> None:
    assert provenance.stage_outputs("grpo_policy", "kit", "motion") == [
        "artifacts/kit/grpo/motion/model"
    ]
    assert "data/raw/humanml3d" in provenance.stage_inputs("sft_policy", "humanml3d")
