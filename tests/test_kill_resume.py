"""A training stage killed with SIGKILL mid-run, then rerun, ends bit-identical to a run never
interrupted: the resume protocol of `motion_r1_core.checkpoints`, for both trainers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import new_project
from safetensors.torch import load_file

from motion_r1_core.config import load_config
from motion_r1_core.stages import get_stage
from motion_r1_core.stages.raw_motions import run_raw_motions
from motion_r1_core.tracking import NullTracker

CLI = Path(sys.executable).parent / "motion-r1"
CORPUS = ["data.procedural.motions=60"]
# stage -> (overrides, checkpoint folder watched, step to kill after, total steps, outputs)
CASES = {
    "motion_vqvae": (
        [
            "vqvae.model.codebook_size=16",
            "vqvae.model.code_dim=8",
            "vqvae.model.width=16",
            "vqvae.model.depth=1",
            "vqvae.train.batch_size=8",
            "vqvae.train.iterations=900",
            "vqvae.train.milestones=[700]",
            "vqvae.train.log_every=50",
            "vqvae.train.eval_every=400",
            "vqvae.train.checkpoint_every=100",
            "vqvae.gifs=0",
        ],
        "vqvae/checkpoints",
        300,
        900,
        ["vqvae/vqvae.safetensors"],
    ),
    "text_motion_encoders": (
        [
            "encoders.iterations=125",
            "encoders.batch_size=16",
            "encoders.checkpoint_every=25",
            "evaluation.replications=1",
            "evaluation.batch=8",  # 60 motions leave 9 for test
            "evaluation.diversity_times=5",
        ],
        "encoders/checkpoints/reward",
        50,
        125,
        ["encoders/reward.safetensors", "encoders/evaluator.safetensors"],
    ),
}


def _latest_step(ckpt: Path) -> int:
    try:
        return int((ckpt / "latest").read_text().strip().split("_")[-1])
    except (FileNotFoundError, ValueError):
        return 0


@pytest.mark.slow
@pytest.mark.skipif(
    not CLI.exists(), reason="needs the motion-r1 console script (pip install -e .)"
)
@pytest.mark.parametrize("stage", sorted(CASES))
def test_sigkill_then_rerun_matches_an_uninterrupted_run(tmp_path: Path, stage: str) -> None:
    overrides, watched, kill_after, total, outputs = CASES[stage]
    overrides = CORPUS + overrides
    root = new_project(tmp_path / "killed")
    run_raw_motions(load_config("smoke", CORPUS, root), "procedural", NullTracker(), progress=False)
    other = new_project(tmp_path / "straight")
    shutil.copytree(root / "data", other / "data")

    args = [str(CLI), "stage", stage, "--profile", "smoke"]
    for o in overrides:
        args += ["--set", o]
    env = {
        **os.environ,
        "MOTION_R1_ROOT": str(root),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlruns.db'}",
    }
    env.pop("MOTION_R1_PROFILE", None)
    art = root / "artifacts" / "procedural"
    ckpt = art / watched
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while _latest_step(ckpt) < kill_after and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    _out, err = proc.communicate(timeout=60)
    killed_at = _latest_step(ckpt)
    assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
    assert kill_after <= killed_at < total, killed_at
    assert not (art / outputs[0]).exists()

    res = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    resumed = json.loads(res.stdout)
    straight = get_stage(stage)(
        load_config("smoke", overrides=overrides, root=other),
        "procedural",
        NullTracker(),
        progress=False,
    ).as_metadata()
    if stage == "motion_vqvae":
        assert (resumed["resumed_from_step"], resumed["train_steps"]) == (killed_at, total)
        assert straight["resumed_from_step"] == 0
    else:
        assert resumed["reward/resumed_from_step"] == killed_at
        assert straight["reward/resumed_from_step"] == 0
    for name in outputs:
        a = load_file(str(art / name))
        b = load_file(str(other / "artifacts" / "procedural" / name))
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), (name, k)
