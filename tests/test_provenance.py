"""Provenance: DVC's content hashes and the git state of a run, and (slow) the chain from a
registered model version, run by run, back to the hash of the raw motions that made it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import git_commit, git_head, new_project

from motion_r1_core.provenance import content_hash, git_state


def test_content_hash_is_dvcs_md5_of_a_file_and_of_a_folder_listing(tmp_path: Path) -> None:
    import hashlib

    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.txt").write_text("a\n")
    (tmp_path / "d" / "sub" / "b.txt").write_text("bb\n")
    assert content_hash(tmp_path / "d" / "a.txt") == hashlib.md5(b"a\n").hexdigest()
    # DVC's folder hash: md5 of the JSON listing of (relpath, md5), sorted, plus ".dir"
    listing = [
        {"md5": hashlib.md5(b"a\n").hexdigest(), "relpath": "a.txt"},
        {"md5": hashlib.md5(b"bb\n").hexdigest(), "relpath": "sub/b.txt"},
    ]
    expected = hashlib.md5(json.dumps(listing, sort_keys=True).encode()).hexdigest() + ".dir"
    assert content_hash(tmp_path / "d") == expected
    first = content_hash(tmp_path / "d")
    (tmp_path / "d" / "sub" / "b.txt").write_text("bc\n")
    assert content_hash(tmp_path / "d") != first


def test_a_run_under_dvc_exp_names_its_experiment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from motion_r1_core.config import load_config
    from motion_r1_core.provenance import input_tags

    cfg = load_config("smoke", root=new_project(tmp_path / "project"))
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    monkeypatch.delenv("DVC_EXP_BASELINE_REV", raising=False)
    assert "dvc.exp_name" not in input_tags(cfg, "motion_vqvae", "procedural")
    monkeypatch.setenv("DVC_EXP_NAME", "depth1")
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", "0123abc")
    tags = input_tags(cfg, "motion_vqvae", "procedural")
    assert tags["dvc.exp_name"] == "depth1" and tags["dvc.exp_baseline"] == "0123abc"
    assert "dvc.in.data/raw/procedural" not in tags  # no corpus yet: nothing to hash


def test_git_state_is_dirty_for_code_not_for_pipeline_outputs(tmp_path: Path) -> None:
    assert git_state(tmp_path) is None  # not a checkout
    (tmp_path / "code.py").write_text("x = 1\n")
    head = git_commit(tmp_path)
    assert git_state(tmp_path) == (head, False)
    (tmp_path / "artifacts" / "procedural").mkdir(parents=True)
    (tmp_path / "artifacts" / "procedural" / "metrics.json").write_text("{}")
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\n")
    assert git_state(tmp_path) == (head, False)  # what the pipeline writes is not a change
    (tmp_path / "code.py").write_text("x = 2\n")
    assert git_state(tmp_path) == (head, True)


CHAIN = [  # (what the run read, the stage whose run wrote it), from the champion down
    ("artifacts/procedural/tokens/tokens.parquet", "motion_tokens"),
    ("artifacts/procedural/vqvae/vqvae.safetensors", "motion_vqvae"),
    ("data/raw/procedural", "raw_motions"),
]


@pytest.mark.slow
def test_a_registered_model_leads_back_to_the_raw_motions_and_commit_that_made_it(
    smoke_sft: tuple,
) -> None:
    """The session's smoke stages ran inside MLflow runs with their provenance; register the
    CoT policy, then walk from the model version to the raw motions by hash alone."""
    from conftest import register_smoke_policy, smoke_store
    from mlflow.tracking import MlflowClient

    cfg, root, sft, _, _ = smoke_sft
    uri = smoke_store(cfg)
    head = git_head(root)
    register_smoke_policy(smoke_sft, uri)

    client = MlflowClient(tracking_uri=uri)
    version = client.get_model_version_by_alias(cfg.registry.model_name, cfg.registry.alias)
    run = client.get_run(version.run_id)
    experiment = [run.info.experiment_id]
    policy = str(sft.policies["cot"].relative_to(root))
    for path, stage in [(policy, "sft_policy"), *CHAIN]:  # a hash names the run that wrote it
        digest = run.data.tags[f"dvc.in.{path}"]
        found = client.search_runs(experiment, filter_string=f"tags.`dvc.out.{path}` = '{digest}'")
        assert [r.data.tags["stage"] for r in found] == [stage]
        run = found[0]
        assert run.info.status == "FINISHED"
        assert run.data.tags["mlflow.source.git.commit"] == head
        assert run.data.tags["git.dirty"] == "false"
    assert run.data.tags["dvc.out.data/raw/procedural"] == content_hash(root / CHAIN[-1][0])


def test_the_outputs_of_explicit_reward_weights_are_the_custom_folder(tmp_path: Path) -> None:
    from motion_r1_core.config import load_config
    from motion_r1_core.provenance import output_tags

    weights = "{format: 1.0, motion_similarity: 0.5, semantic_similarity: 0.5, physics: 0.0}"
    root = new_project(tmp_path / "project")
    cfg = load_config("smoke", [f"policy.grpo.rewards={weights}"], root=root)
    for name in ("both", "custom"):
        (root / "artifacts/procedural/grpo" / name / "model").mkdir(parents=True)
        (root / "artifacts/procedural/grpo" / name / "model" / "w").write_text(name)
    tags = output_tags(cfg, "grpo_policy", "procedural")
    assert list(tags) == ["dvc.out.artifacts/procedural/grpo/custom/model"]
    assert tags[next(iter(tags))] == content_hash(root / "artifacts/procedural/grpo/custom/model")
