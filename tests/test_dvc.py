"""`dvc repro` in a copy of the project: runs, skips, reruns on a param change; the tokenizer chain."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the environment's bin: dvc and the motion-r1 console script
MOTIONS = 60
PROJECT_FILES = (
    "params.yaml",
    "configs",
    "dvc.yaml",
    ".dvcignore",
    "motion_r1_core",
    "pipelines",
    "pyproject.toml",
)

pytestmark = pytest.mark.skipif(
    not (BIN / "dvc").exists() or not (BIN / "motion-r1").exists(),
    reason="needs dvc and the motion-r1 console script in the environment (pip install -e .)",
)


def _copy_project(dst: Path) -> Path:
    """Copy the files a DVC run needs (the tree may hold nothing committed yet), minus caches."""
    dst.mkdir()
    for name in PROJECT_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(src, dst / name)
    return dst


def _edit_yaml(path: Path, edit: dict) -> None:
    """Set dotted keys in a YAML file, e.g. {"data.procedural.seed": 3}."""
    data = yaml.safe_load(path.read_text()) or {}
    for dotted, value in edit.items():
        node = data
        *parents, last = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _env(tmp_path: Path) -> dict[str, str]:
    """The environment of a user running dvc: our bin on PATH, MLflow in tmp_path, no overrides."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("MOTION_R1_ROOT", "MOTION_R1_PROFILE", "VIRTUAL_ENV")
    }
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        DVC_NO_ANALYTICS="1",
        MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow' / 'mlruns.db'}",
    )
    return env


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{out}"
    return out


def test_repro_runs_skips_and_reruns_on_a_param_change(tmp_path: Path) -> None:
    root = _copy_project(tmp_path / "project")
    env = _env(tmp_path)
    # smoke profile; the profile's overlay sets the corpus size, so edit it there too
    _edit_yaml(root / "params.yaml", {"profile": "smoke", "data.procedural.motions": MOTIONS})
    _edit_yaml(root / "configs" / "smoke.yaml", {"data.procedural.motions": MOTIONS})
    _run(["git", "init", "-q"], root, env)
    _run(["dvc", "init", "-q"], root, env)

    out = _run(["dvc", "repro", "raw_motions"], root, env)
    assert "Running stage 'raw_motions'" in out
    folder = root / "data" / "raw" / "procedural"
    assert len(list((folder / "new_joint_vecs").glob("*.npy"))) == MOTIONS
    metrics = json.loads((root / "artifacts/procedural/raw_motions/metrics.json").read_text())
    assert metrics["n_motions"] == MOTIONS
    lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"]["raw_motions"]
    params = lock["params"]
    assert params["params.yaml"]["profile"] == "smoke"
    assert params["configs/smoke.yaml"]["data"]["procedural"]["motions"] == MOTIONS
    assert {o["path"] for o in lock["outs"]} == {
        "data/raw/procedural",
        "artifacts/procedural/raw_motions/metrics.json",
    }
    first_mean = (folder / "Mean.npy").read_bytes()

    out = _run(["dvc", "repro", "raw_motions"], root, env)
    assert "Stage 'raw_motions' didn't change" in out or "up to date" in out
    assert "Running stage" not in out

    _edit_yaml(root / "params.yaml", {"data.procedural.seed": 3})
    status = _run(["dvc", "status", "raw_motions"], root, env)
    assert "data.procedural" in status
    out = _run(["dvc", "repro", "raw_motions"], root, env)
    assert "Running stage 'raw_motions'" in out
    lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"]["raw_motions"]
    assert lock["params"]["params.yaml"]["data.procedural"]["seed"] == 3
    assert len(list((folder / "new_joint_vecs").glob("*.npy"))) == MOTIONS
    assert (folder / "Mean.npy").read_bytes() != first_mean  # a new seed, a new corpus


def test_dvc_stages_are_the_registered_stages() -> None:
    from motion_r1_core.stages import STAGES

    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert set(stages) <= set(STAGES)
    for name, stage in stages.items():
        stage = stage.get("do", stage)  # a foreach stage: its template
        assert stage["cmd"].startswith(f"motion-r1 stage {name} "), name
        for dep in stage["deps"]:
            produced = any(
                dep == (o if isinstance(o, str) else next(iter(o))).replace("${key}", key)
                for other in stages.values()
                for key in other.get("foreach", {"": None})  # a foreach stage: each key
                for kind in ("outs", "metrics")  # a metrics file is an output too
                for o in other.get("do", other).get(kind, [])
            )
            assert produced or (REPO / dep).exists(), f"{name}: dependency {dep} is missing"
    # the tokenizer chain: tokens depend on the checkpoint that motion_vqvae writes
    vq_outs = [o if isinstance(o, str) else next(iter(o)) for o in stages["motion_vqvae"]["outs"]]
    assert "artifacts/procedural/vqvae/vqvae.safetensors" in vq_outs
    assert "artifacts/procedural/vqvae/vqvae.safetensors" in stages["motion_tokens"]["deps"]
    # the CoT triplets join the token dataset; their answer cache survives `dvc repro`
    assert "artifacts/procedural/tokens/tokens.parquet" in stages["cot_triplets"]["deps"]
    cache = next(
        o
        for o in stages["cot_triplets"]["outs"]
        if isinstance(o, dict) and "artifacts/procedural/cot/cache" in o
    )
    assert cache["artifacts/procedural/cot/cache"]["persist"] is True


@pytest.mark.slow
def test_repro_chains_corpus_tokenizer_and_tokens(tmp_path: Path) -> None:
    """`dvc repro motion_tokens` builds all three stages; a tokens-only param reruns only tokens."""
    root = _copy_project(tmp_path / "project")
    env = _env(tmp_path)
    _edit_yaml(root / "params.yaml", {"profile": "smoke"})
    tiny = {
        "data.procedural.motions": 40,
        "vqvae.model.codebook_size": 16,
        "vqvae.model.code_dim": 8,
        "vqvae.model.width": 16,
        "vqvae.model.depth": 1,
        "vqvae.train.iterations": 20,
        "vqvae.train.warmup": 5,
        "vqvae.train.milestones": [15],
        "vqvae.train.log_every": 10,
        "vqvae.train.eval_every": 20,
        "vqvae.train.checkpoint_every": 10,
        "vqvae.gifs": 0,
        "vqvae.max_test_mpjpe_mm": 10_000.0,
        "vqvae.min_codes_used": 0.0,
    }
    _edit_yaml(root / "configs" / "smoke.yaml", tiny)
    _run(["git", "init", "-q"], root, env)
    _run(["dvc", "init", "-q"], root, env)

    out = _run(["dvc", "repro", "motion_tokens"], root, env)
    for stage in ("raw_motions", "motion_vqvae", "motion_tokens"):
        assert f"Running stage '{stage}'" in out
    vq = json.loads((root / "artifacts/procedural/vqvae/metrics.json").read_text())
    assert vq["train_steps"] == 20
    tokens = json.loads((root / "artifacts/procedural/tokens/metrics.json").read_text())
    assert tokens["n_rows"] == 2 * 40 and tokens["check_failures"] == 0  # mirrored copies too
    lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    assert lock["motion_vqvae"]["params"]["configs/smoke.yaml"]["vqvae"]["model"]["width"] == 16

    _edit_yaml(root / "params.yaml", {"tokens.mirror": False})
    out = _run(["dvc", "repro", "motion_tokens"], root, env)
    assert "Running stage 'motion_tokens'" in out
    assert "Running stage 'motion_vqvae'" not in out and "Running stage 'raw_motions'" not in out
    tokens = json.loads((root / "artifacts/procedural/tokens/metrics.json").read_text())
    assert tokens["n_rows"] == 40 and tokens["n_mirrored"] == 0
