"""Feature extraction against a published HumanML3D motion, and the joints -> features -> joints round trip."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from motion_r1_core.features import (
    feature_groups,
    feature_mean_std,
    mirror_joints,
    process_joints,
    qrot,
    recover_from_ric,
)
from motion_r1_core.skeleton import HUMANML3D, KIT

SAMPLE = Path(__file__).parent / "fixtures" / "humanml3d-sample"


@pytest.fixture(scope="module")
def sample() -> tuple[np.ndarray, np.ndarray]:
    return (
        np.load(SAMPLE / "new_joint_vecs" / "012314.npy"),
        np.load(SAMPLE / "new_joints" / "012314.npy"),
    )


def _spin(joints: torch.Tensor, turns: float) -> torch.Tensor:
    """Rotate a motion about its root's vertical axis by `turns` full turns over its length."""
    t = joints.shape[0]
    ang = torch.linspace(0, 2 * math.pi * turns, t)
    q = torch.stack([torch.cos(ang / 2), torch.zeros(t), torch.sin(ang / 2), torch.zeros(t)], -1)
    root = joints[:, :1] * torch.tensor([1.0, 0.0, 1.0])
    drift = torch.stack([0.3 * ang, 0 * ang, 0.1 * ang], -1)[:, None]
    return qrot(q[:, None], joints - root) + root + drift


def test_recover_from_ric_reproduces_published_joints(sample):
    vec, joints = sample
    assert np.array_equal(recover_from_ric(torch.from_numpy(vec)).numpy(), joints)


def test_recover_from_ric_is_batched(sample):
    vec, joints = sample
    batch = torch.from_numpy(np.stack([vec, vec[::-1].copy()]))
    out = recover_from_ric(batch)
    assert out.shape == (2, 170, 22, 3)
    assert torch.equal(out[0], torch.from_numpy(joints))


def test_features_match_published_features(sample):
    vec, joints = sample
    feats = process_joints(joints)[0].numpy()
    assert feats.shape == (169, 263)
    # Rows far from the end: the facing smoother sees the same frames as the reference did.
    assert np.abs(feats[:100] - vec[:100]).max() < 2e-5
    # Without retargeting (the sample is already on the target skeleton) parity is tighter.
    plain = process_joints(joints, retarget_skeleton=False)[0].numpy()
    assert np.abs(plain[:100] - vec[:100]).max() < 8e-6
    # The known tail drift (one frame fewer for the smoother) is there, and bounded.
    assert 1e-3 < np.abs(feats - vec[:169]).max() < 2e-2
    # Frame 0's identity root rotation makes row 0 of feature 0 an outlier, as in the data.
    assert feats[0, 0] == pytest.approx(vec[0, 0], abs=1e-5)
    assert abs(feats[0, 0]) > 10 * np.abs(feats[1:20, 0]).mean()
    np.testing.assert_array_equal(feats[:, -4:], vec[:169, -4:])


@pytest.mark.parametrize("turns", [0.0, 0.4, 1.5, -1.5])
def test_round_trip_reproduces_aligned_joints(sample, turns):
    """joints -> features -> joints gives back the floor/origin/facing-normalised input."""
    joints = _spin(torch.from_numpy(sample[1]), turns)
    feats, aligned = process_joints(joints)
    assert (recover_from_ric(feats) - aligned[:-1]).abs().max() < 1e-4
    # Normalised: on the floor, frame-0 root at the xz origin.
    assert aligned[..., 1].min().abs() < 1e-6
    assert aligned[0, 0, [0, 2]].abs().max() < 1e-6


def test_turn_past_180_degrees_keeps_feature_zero_continuous(sample):
    """A still pose spun 1.5 turns counter-clockwise: feature 0 never flips sign at +-180 degrees."""
    still = torch.from_numpy(sample[1])[:1].repeat(120, 1, 1)
    feats, aligned = process_joints(_spin(still, 1.5))
    half_step = 3 * math.pi / 119 / 2
    # A left (counter-clockwise, +y) turn has a negative feature 0: recovery applies -yaw.
    assert (feats[1:, 0] < 0).all()
    assert feats[55:65, 0].numpy() == pytest.approx(-half_step, rel=0.02)  # away from the ends
    assert (recover_from_ric(feats) - aligned[:-1]).abs().max() < 1e-4


def test_retarget_scales_onto_target_bone_lengths(sample):
    joints = torch.from_numpy(sample[1]) * 1.1
    _, aligned = process_joints(joints)
    lengths = HUMANML3D.bone_lengths_of(aligned)
    np.testing.assert_allclose(
        lengths[:, 1:].numpy(),
        np.broadcast_to(HUMANML3D.bone_lengths[1:], lengths[:, 1:].shape),
        atol=1e-5,
    )


def test_feature_layout_and_kit_width():
    assert HUMANML3D.feature_dim == 263 and KIT.feature_dim == 251
    groups = feature_groups(KIT)
    assert groups["ric"] == slice(4, 64) and groups["feet"] == slice(247, 251)
    rng = np.random.default_rng(0)
    t = 30
    # A KIT-like figure: random limb wiggles around a rest pose built from the raw offsets.
    offsets = KIT.raw_offsets * 0.25
    rest = np.zeros((21, 3), np.float32)
    for chain in KIT.chains:
        for p, c in itertools.pairwise(chain):
            rest[c] = rest[p] + offsets[c]
    joints = rest[None] + 0.02 * rng.standard_normal((t, 21, 3)).astype(np.float32)
    joints[..., 1] += 1.0
    feats, aligned = process_joints(joints, KIT)
    assert feats.shape == (t - 1, 251)
    assert (recover_from_ric(feats, KIT) - aligned[:-1]).abs().max() < 1e-4


def test_group_averaged_std(sample):
    vec = sample[0]
    mean, std = feature_mean_std([vec, vec[:50]])
    rows = np.concatenate([vec, vec[:50]]).astype(np.float64)
    np.testing.assert_allclose(mean, rows.mean(0), rtol=1e-5, atol=1e-6)
    for sl in feature_groups().values():
        assert np.allclose(std[sl], rows[:, sl].std(0).mean(), rtol=1e-5)
    _, std5 = feature_mean_std([vec], feat_bias=5.0)
    _, std1 = feature_mean_std([vec])
    np.testing.assert_allclose(std5[:4], std1[:4] / 5, rtol=1e-6)
    np.testing.assert_allclose(std5[4:259], std1[4:259], rtol=1e-6)


def test_published_std_is_group_averaged():
    std = np.load(SAMPLE / "Std.npy")
    for sl in feature_groups().values():
        assert np.ptp(std[sl]) < 1e-6


def test_mirror_swaps_sides(sample):
    joints = torch.from_numpy(sample[1])
    m = mirror_joints(joints)
    assert torch.allclose(m[:, 21, 0], -joints[:, 20, 0])  # right wrist <- left wrist, x negated
    assert torch.equal(mirror_joints(m), joints)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match=r"\(T>=2, 22, 3\)"):
        process_joints(np.zeros((10, 21, 3), np.float32))
    with pytest.raises(ValueError, match="263-d"):
        recover_from_ric(torch.zeros(5, 251))


def test_qbetween_handles_opposite_directions():
    from motion_r1_core.features import qbetween

    v0 = torch.tensor([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 1.0]])
    v1 = torch.tensor([[0.0, 0.0, 1.0], [-3.0, 0.0, 0.0], [0.0, -1.0, 0.0], [1.0, 0.0, 0.0]])
    q = qbetween(v0, v1)
    assert torch.isfinite(q).all()
    rotated = qrot(q, v0 / v0.norm(dim=-1, keepdim=True))
    assert torch.allclose(rotated, v1 / v1.norm(dim=-1, keepdim=True), atol=1e-6)
    # A horizontal half turn is about the vertical axis, as a heading change must be.
    assert torch.allclose(q[0].abs(), torch.tensor([0.0, 0.0, 1.0, 0.0]))


def test_motion_facing_exactly_minus_z_has_finite_features(sample):
    joints = torch.from_numpy(sample[1])[:60]
    half_turn = torch.tensor([0.0, 0.0, 1.0, 0.0])  # 180 degrees about y
    root = joints[:, :1] * torch.tensor([1.0, 0.0, 1.0])
    facing_back = qrot(half_turn, joints - root) + root
    # Frame 0 of the sample faces +z exactly, so the turned copy faces -z exactly.
    feats, aligned = process_joints(facing_back)
    assert torch.isfinite(feats).all()
    assert (recover_from_ric(feats) - aligned[:-1]).abs().max() < 1e-4
