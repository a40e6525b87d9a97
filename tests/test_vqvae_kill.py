"""`motion-r1 stage motion_vqvae` killed with SIGKILL mid-run, then rerun, ends bit-identical."""

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
from motion_r1_core.stages.motion_vqvae import run_motion_vqvae
from motion_r1_core.stages.raw_motions import run_raw_motions
from motion_r1_core.tracking import NullTracker

CLI = Path(sys.executable).parent / "motion-r1"
ITERATIONS = 1500
OVERRIDES = [
    "data.procedural.motions=60",
    "vqvae.model.codebook_size=16",
    "vqvae.model.code_dim=8",
    "vqvae.model.width=16",
    "vqvae.model.depth=1",
    "vqvae.train.batch_size=8",
    f"vqvae.train.iterations={ITERATIONS}",
    "vqvae.train.milestones=[1200]",
    "vqvae.train.log_every=50",
    f"vqvae.train.eval_every={ITERATIONS}",
    "vqvae.train.checkpoint_every=100",
    "vqvae.gifs=0",
]


def _latest_step(ckpt: Path) -> int:
    try:
        return int((ckpt / "latest").read_text().strip().split("_")[-1])
    except (FileNotFoundError, ValueError):
        return 0


@pytest.mark.skipif(
    not CLI.exists(), reason="needs the motion-r1 console script (pip install -e .)"
)
def test_sigkill_then_rerun_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    root = new_project(tmp_path / "killed")
    cfg = load_config("smoke", overrides=OVERRIDES, root=root)
    run_raw_motions(cfg, "procedural", NullTracker(), progress=False)
    other = new_project(tmp_path / "straight")
    shutil.copytree(root / "data", other / "data")

    args = [str(CLI), "stage", "motion_vqvae", "--profile", "smoke"]
    for o in OVERRIDES:
        args += ["--set", o]
    env = {
        **os.environ,
        "MOTION_R1_ROOT": str(root),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlruns.db'}",
    }
    env.pop("MOTION_R1_PROFILE", None)
    ckpt = root / "artifacts" / "procedural" / "vqvae" / "checkpoints"
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while _latest_step(ckpt) < 300 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    _out, err = proc.communicate(timeout=60)
    killed_at = _latest_step(ckpt)
    assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
    assert 300 <= killed_at < ITERATIONS, killed_at
    assert not (root / "artifacts" / "procedural" / "vqvae" / "vqvae.safetensors").exists()

    res = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    summary = json.loads(res.stdout)
    assert summary["resumed_from_step"] == killed_at and summary["train_steps"] == ITERATIONS

    straight = run_motion_vqvae(
        load_config("smoke", overrides=OVERRIDES, root=other),
        "procedural",
        NullTracker(),
        progress=False,
    )
    assert straight.metrics["resumed_from_step"] == 0
    a = load_file(str(root / "artifacts" / "procedural" / "vqvae" / "vqvae.safetensors"))
    b = load_file(str(straight.checkpoint))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
