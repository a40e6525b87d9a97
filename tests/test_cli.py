"""The `motion-r1` command as a user runs it: synth, check, render, stage, config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

CLI = str(Path(sys.executable).with_name("motion-r1"))


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})}
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "p"
    res = run("data", "synth", "--out", str(out), "--motions", "40", "--seed", "1")
    assert res.returncode == 0, res.stderr
    assert "wrote 40 motions, 120 captions" in res.stderr
    return out


def test_check_passes_then_names_a_deleted_file(corpus: Path, tmp_path: Path):
    res = run("data", "check", str(corpus))
    assert res.returncode == 0, res.stdout
    assert "all checks passed" in res.stdout
    broken = tmp_path / "broken"
    subprocess.run(["cp", "-r", str(corpus), str(broken)], check=True)
    (broken / "new_joint_vecs" / "000007.npy").unlink()
    res = run("data", "check", str(broken))
    assert res.returncode == 1
    assert "new_joint_vecs/000007.npy" in res.stdout
    assert "000008" not in res.stdout  # only the broken motion is named


def test_synth_and_check_take_their_defaults_from_the_configuration(corpus: Path, tmp_path: Path):
    out = tmp_path / "q"
    res = run("data", "synth", "--out", str(out), "-p", "smoke", "-s", "data.procedural.motions=12")
    assert res.returncode == 0, res.stderr
    assert "wrote 12 motions" in res.stderr  # seed and max_primitives from the profile too
    res = run("data", "check", str(corpus), "--set", "data.min_frames=190")
    assert res.returncode == 1 and "motions outside 190..199 frames" in res.stdout
    res = run("data", "check", str(corpus), "--min-frames", "40", "--set", "data.min_frames=190")
    assert res.returncode == 0, res.stdout


def test_check_of_a_folder_out_of_layout(tmp_path: Path):
    (tmp_path / "new_joint_vecs").mkdir()
    res = run("data", "check", str(tmp_path))
    assert res.returncode == 1
    assert "texts/" in res.stdout and "Mean.npy" in res.stdout


def test_render_writes_a_gif_with_one_frame_per_pose(corpus: Path, tmp_path: Path):
    vec = corpus / "new_joint_vecs" / "000000.npy"
    res = run("render", str(vec), "--out", str(tmp_path / "m.gif"))
    assert res.returncode == 0, res.stderr
    frames = iio.imread(tmp_path / "m.gif", index=None)
    assert frames.shape[0] == np.load(vec).shape[0]
    res = run("render", str(tmp_path / "nope.npy"), "--out", str(tmp_path / "x.gif"))
    assert res.returncode == 2 and "nope.npy" in res.stderr


def test_stage_raw_motions_is_tracked(project_root: Path):
    uri = f"sqlite:///{project_root / 'runs.db'}"
    res = run(
        "stage",
        "raw_motions",
        "--profile",
        "smoke",
        "--set",
        "data.procedural.motions=30",
        env={"MLFLOW_TRACKING_URI": uri},
    )
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["n_motions"] == 30 and summary["n_captions"] == 90
    assert (project_root / "data" / "raw" / "procedural" / "Mean.npy").is_file()
    [exp] = [e for e in MlflowClient(uri).search_experiments() if e.name == "motion-r1"]
    [mlrun] = MlflowClient(uri).search_runs([exp.experiment_id])
    assert mlrun.info.run_name == "raw_motions/procedural" and mlrun.info.status == "FINISHED"
    assert mlrun.data.params["data.procedural.motions"] == "30"
    assert mlrun.data.metrics["n_motions"] == 30


def test_bad_input_gives_one_readable_line(project_root: Path):
    res = run("stage", "raw_motions", "--set", "data.procedural.motions=3")
    assert res.returncode == 2
    assert "greater than or equal to 10" in res.stderr and "Traceback" not in res.stderr
    res = run("stage", "tokenize_everything")
    assert res.returncode == 2 and "unknown stage 'tokenize_everything'" in res.stderr
    res = run("stage", "raw_motions", "--dataset", "humanml3d")
    assert res.returncode == 2 and "data.humanml3d.source is not set" in res.stderr
