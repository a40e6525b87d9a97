"""Own mocap in (`motion-r1 data import`): BVH files exported from procedural motions come back
as the same features, other rigs are recognised by their joint names, bad files are named and
skipped, and the imported folder trains a tokenizer through raw_motions."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import new_project

from motion_r1_core.bvh import write_bvh
from motion_r1_core.data.humanml3d import check_layout, read_captions, read_split
from motion_r1_core.data.importer import import_folder, load_rigs
from motion_r1_core.data.procedural import generate_motion
from motion_r1_core.features import extract_features
from motion_r1_core.skeleton import HUMANML3D

CLI = str(Path(sys.executable).with_name("motion-r1"))


def _mocap(folder: Path, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """`n` procedural motions as BVH files (every 5th as a .npy of joints) with a captions CSV;
    the features the corpus would store for each."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    features = {}
    with open(folder / "captions.csv", "w", newline="") as f:
        rows = csv.writer(f)
        rows.writerow(["file", "caption"])
        for i in range(n):
            motion, name = generate_motion(rng), f"take_{i:03d}"
            if i % 5 == 4:
                np.save(folder / f"{name}.npy", motion.joints)
            else:
                write_bvh(folder / f"{name}.bvh", motion.joints, HUMANML3D)
            features[name] = extract_features(torch.from_numpy(motion.joints)).numpy()
            for caption in motion.captions:
                rows.writerow([f"{name}.bvh", caption])
    return features


def test_exported_procedural_motions_come_back_as_their_features(tmp_path: Path) -> None:
    features = _mocap(tmp_path / "mocap", 10)
    np.save(tmp_path / "mocap" / "wrong_shape.npy", np.zeros((50, 5, 3)))
    (tmp_path / "mocap" / "cut.bvh").write_text("HIERARCHY\nROOT hips\n{\n")
    summary = import_folder(tmp_path / "mocap", tmp_path / "out")
    assert sorted(summary.imported) == sorted(features)
    assert summary.skipped == {
        "cut.bvh": "bad MOTION section ('Frames:' is not in list)",
        "wrong_shape.npy": "shape (50, 5, 3), expected (T, 22, 3)",
    }
    out = tmp_path / "out"
    for name, expected in features.items():
        got = np.load(out / "new_joint_vecs" / f"{name}.npy")
        assert got.shape == expected.shape and np.abs(got - expected).max() < 1e-3, name
    check_layout(out, need_joints=True)
    assert read_captions(out / "texts" / "take_000.txt")[0].text
    ids = [i for s in ("train", "val", "test") for i in read_split(out, s)]
    assert sorted(ids) == sorted(features)
    assert np.load(out / "Mean.npy").shape == np.load(out / "Std.npy").shape == (263,)
    report = json.loads((out / "import_report.json").read_text())
    assert set(report["rigs"].values()) == {"humanml3d"} and len(report["skipped"]) == 2


@pytest.mark.parametrize("rig", ["cmu", "mixamo", "smpl"])
def test_a_rig_is_recognised_by_its_joint_names(tmp_path: Path, rig: str) -> None:
    """Our export with its joints renamed as `rig` names them (mixamo: with its prefix)."""
    features = _mocap(tmp_path / "ours", 2)
    mapping = load_rigs()[rig].joints
    src = tmp_path / rig
    src.mkdir()
    (src / "captions.csv").write_text((tmp_path / "ours" / "captions.csv").read_text())
    text = (tmp_path / "ours" / "take_000.bvh").read_text()
    prefix = "mixamorig:" if rig == "mixamo" else ""
    for ours, theirs in mapping.items():
        text = text.replace(f"JOINT {ours}\n", f"JOINT {prefix}{theirs}\n")
        text = text.replace(f"ROOT {ours}\n", f"ROOT {prefix}{theirs}\n")
    (src / "take_000.bvh").write_text(text)
    summary = import_folder(src, tmp_path / "out")
    assert summary.rigs == {"take_000": rig}
    got = np.load(tmp_path / "out" / "new_joint_vecs" / "take_000.npy")
    assert np.abs(got - features["take_000"]).max() < 1e-3
    other = "smpl" if rig != "smpl" else "cmu"  # a rig forced on a file it does not fit
    with pytest.raises(ValueError, match=f"nothing imported .*rig '{other}' names joints"):
        import_folder(src, tmp_path / "none", rig=other)


@pytest.mark.slow
def test_the_imported_folder_trains_a_tokenizer_through_raw_motions(tmp_path: Path) -> None:
    from motion_r1_core.config import load_config
    from motion_r1_core.stages.motion_vqvae import run_motion_vqvae
    from motion_r1_core.stages.raw_motions import run_raw_motions
    from motion_r1_core.tracking import NullTracker

    _mocap(tmp_path / "mocap", 60, seed=3)
    out = tmp_path / "imported"
    env = {k: v for k, v in os.environ.items() if k not in ("MOTION_R1_PROFILE", "MOTION_R1_ROOT")}
    res = subprocess.run(
        [CLI, "data", "import", str(tmp_path / "mocap"), "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    assert "imported 60 motions" in res.stdout + res.stderr
    root = new_project(tmp_path / "project")
    cfg = load_config(
        "smoke",
        [f"data.humanml3d.source={out}", "vqvae.train.iterations=20", "vqvae.gifs=0"],
        root,
    )
    raw = run_raw_motions(cfg, "humanml3d", NullTracker(), progress=False)
    assert raw.as_metadata()["n_motions"] == 60
    vq = run_motion_vqvae(cfg, "humanml3d", NullTracker(), progress=False).as_metadata()
    assert vq["train_steps"] == 20 and np.isfinite(vq["test_mpjpe_mm"])
