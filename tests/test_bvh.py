"""BVH export: joints -> BVH -> joints within 1 mm (our forward kinematics and an independent
reader's, bvhio), on procedural motions and on the published HumanML3D motion."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from motion_r1_core.bvh import read_bvh, shortest_rotation, write_bvh
from motion_r1_core.features import recover_from_ric
from motion_r1_core.skeleton import HUMANML3D

FIXTURE = Path(__file__).parent / "fixtures" / "humanml3d-sample"
CLI = str(Path(sys.executable).with_name("motion-r1"))


def _round_trip_mm(joints: np.ndarray, path: Path, unit: str = "cm") -> float:
    write_bvh(path, joints, HUMANML3D, unit=unit)
    back = read_bvh(path).positions(HUMANML3D.joint_names)
    return float(np.abs(back - joints).max() * 1000)


def test_the_real_humanml3d_motion_comes_back_within_a_millimetre(tmp_path: Path) -> None:
    joints = np.load(FIXTURE / "new_joints" / "012314.npy")
    assert _round_trip_mm(joints, tmp_path / "cm.bvh") < 1.0
    assert _round_trip_mm(joints, tmp_path / "m.bvh", unit="m") < 1.0
    cm, m = read_bvh(tmp_path / "cm.bvh"), read_bvh(tmp_path / "m.bvh")
    assert (cm.scale, m.scale) == (100.0, 1.0)  # the unit is found from the rig's size
    np.testing.assert_allclose(cm.offsets, m.offsets * 100, atol=1e-4)
    np.testing.assert_allclose(cm.frames[:, :3], joints[:, 0] * 100, atol=1e-5)


def test_procedural_motions_come_back_within_a_millimetre(
    smoke_project: tuple[Path, object], tmp_path: Path
) -> None:
    root, _ = smoke_project
    files = sorted((root / "data" / "raw" / "procedural" / "new_joints").glob("*.npy"))[:25]
    assert len(files) == 25
    errors = [_round_trip_mm(np.load(f), tmp_path / f"{f.stem}.bvh") for f in files]
    assert max(errors) < 1.0, dict(zip([f.stem for f in files], errors))


def test_an_independent_reader_opens_the_file_with_its_joints_frames_and_frame_time(
    tmp_path: Path,
) -> None:
    import bvhio

    joints = np.load(FIXTURE / "new_joints" / "012314.npy")
    path = write_bvh(tmp_path / "walk.bvh", joints, HUMANML3D, fps=20)
    container = bvhio.readAsBvh(str(path))
    assert container.FrameCount == len(joints) and container.FrameTime == pytest.approx(0.05)
    hierarchy = bvhio.readAsHierarchy(str(path))
    layout = hierarchy.layout()
    assert sorted(j.Name for j, _, _ in layout) == sorted(HUMANML3D.joint_names)
    for frame in (0, len(joints) // 2, len(joints) - 1):  # bvhio's own forward kinematics
        hierarchy.loadPose(frame)
        world = {j.Name: np.array(j.PositionWorld) / 100 for j, _, _ in layout}
        ours = np.stack([world[n] for n in HUMANML3D.joint_names])
        assert np.abs(ours - joints[frame]).max() < 1e-3


def test_features_export_through_the_cli(tmp_path: Path) -> None:
    vec = FIXTURE / "new_joint_vecs" / "012314.npy"
    out = tmp_path / "out" / "motion.bvh"
    env = {k: v for k, v in os.environ.items() if k != "MOTION_R1_PROFILE"}
    res = subprocess.run(
        [CLI, "export", str(vec), "--bvh", str(out)], capture_output=True, text=True, env=env
    )
    assert res.returncode == 0, res.stderr
    feats = torch.from_numpy(np.load(vec).astype(np.float32))
    joints = recover_from_ric(feats, HUMANML3D).numpy()
    back = read_bvh(out).positions(HUMANML3D.joint_names)
    assert back.shape == joints.shape and np.abs(back - joints).max() < 1e-3
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((4, 5, 6)))
    res = subprocess.run(
        [CLI, "export", str(bad), "--bvh", str(out)], capture_output=True, text=True
    )
    assert res.returncode != 0 and "bad.npy" in res.stderr


def test_the_shortest_rotation_handles_equal_and_opposite_directions() -> None:
    a = np.array([[0.0, 1, 0], [0, 1, 0], [1, 0, 0], [0, 0, 2]])
    b = np.array([[0.0, 2, 0], [0, -1, 0], [0, 1, 0], [0, 0, -1]])
    r = shortest_rotation(a, b)
    np.testing.assert_allclose(
        np.einsum("kij,kj->ki", r, a / np.linalg.norm(a, axis=1)[:, None]),
        b / np.linalg.norm(b, axis=1)[:, None],
        atol=1e-9,
    )
    np.testing.assert_allclose(r[0], np.eye(3), atol=1e-12)  # already aligned: no rotation
    assert np.allclose(np.linalg.det(r), 1.0)


def test_a_broken_file_is_refused_with_its_name(tmp_path: Path) -> None:
    joints = np.load(FIXTURE / "new_joints" / "012314.npy")[:10]
    good = write_bvh(tmp_path / "a.bvh", joints, HUMANML3D).read_text()
    cut = tmp_path / "cut.bvh"
    cut.write_text(good[: len(good) - 40])  # the last frame loses values
    with pytest.raises(ValueError, match=r"cut\.bvh: .* values for 10 frames"):
        read_bvh(cut)
    (tmp_path / "x.bvh").write_text("hello")
    with pytest.raises(ValueError, match=r"x\.bvh: not a BVH file"):
        read_bvh(tmp_path / "x.bvh")
