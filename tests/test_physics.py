"""Physical plausibility quantities on motions with known answers, and on the real fixture."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from motion_r1_core.physics import (
    PhysicsScales,
    foot_skating,
    ground_penetration,
    jitter,
    physics_quantities,
    physics_score,
)
from motion_r1_core.skeleton import HUMANML3D

FIXTURE = Path(__file__).parent / "fixtures" / "humanml3d-sample" / "new_joints" / "012314.npy"
FPS = HUMANML3D.fps
LEFT, RIGHT = list(HUMANML3D.feet_left), list(HUMANML3D.feet_right)


def _rest_pose() -> torch.Tensor:
    """(22, 3) rest pose of the target skeleton with its lowest joints (ankles, toes) at y = 0."""
    off = HUMANML3D.offsets()
    pose = torch.zeros(22, 3)
    for j, p in enumerate(HUMANML3D.parents):
        if p >= 0:
            pose[j] = pose[p] + off[j]
    return pose - torch.tensor([0.0, pose[:, 1].min().item(), 0.0])


def _standing(t: int = 30) -> torch.Tensor:
    """(1, t, 22, 3) motion standing still."""
    return _rest_pose().expand(1, t, 22, 3).clone()


def _one(t: int) -> torch.Tensor:
    return torch.tensor([t])


def test_the_rest_pose_stands_on_the_floor_with_both_feet() -> None:
    pose = _rest_pose()
    assert pose[:, 1].min().item() == 0.0
    assert pose[LEFT, 1].abs().max().item() == 0.0  # the right leg is 1 cm shorter:
    assert 0.005 < pose[RIGHT, 1].min().item() < 0.02  # all four feet within 5 cm: in contact


def test_standing_still_is_perfectly_plausible() -> None:
    q = physics_quantities(_standing(), _one(30))
    assert {k: v.item() for k, v in q.items()} == {
        "skating": 0.0,
        "penetration": 0.0,
        "jitter": 0.0,
        "score": 1.0,
    }


def test_sliding_on_the_floor_at_one_metre_per_second_is_one_metre_per_second_of_skating() -> None:
    t = torch.arange(30, dtype=torch.float32)
    x = _standing()
    x[0, :, :, 0] += t[:, None] / FPS  # the whole body glides along x at 1 m/s
    assert foot_skating(x, _one(30)).item() == pytest.approx(1.0, abs=1e-4)
    assert jitter(x, _one(30), FPS).item() == pytest.approx(0.0, abs=1e-2)  # constant velocity

    y = _standing()
    y[0, :, LEFT, 2] += t[:, None] / FPS  # only the left foot slides: half of the contacts
    assert foot_skating(y, _one(30)).item() == pytest.approx(0.5, abs=1e-4)
    y[0, :, RIGHT, 1] += 0.2  # right foot lifted: its (still) joints no longer count
    y[0, :, RIGHT, 0] += 3 * t[:, None] / FPS  # ... nor does it fast swing in the air
    assert foot_skating(y, _one(30)).item() == pytest.approx(1.0, abs=1e-4)
    assert foot_skating(y, _one(30), contact_height=0.3).item() == pytest.approx(
        (1 + 3) / 2, abs=1e-4
    )  # a higher threshold sees the right foot in contact again


def test_no_contact_means_no_skating() -> None:
    x = _standing()
    x[..., 1] += 0.5  # jumping, all 30 frames in the air
    x[..., 0] += torch.arange(30.0)[None, :, None] / FPS
    assert foot_skating(x, _one(30)).item() == 0.0


def test_lowering_the_body_under_the_floor_is_penetration() -> None:
    x = _standing()
    x[..., 1] -= 0.1
    assert ground_penetration(x, _one(30)).item() == pytest.approx(0.1, abs=1e-6)
    x[0, 10:, :, 1] += 0.1  # back on the floor after 10 of 30 frames
    assert ground_penetration(x, _one(30)).item() == pytest.approx(0.1 / 3, abs=1e-6)
    x[0, 20:, :, 1] += 0.3  # in the air: no negative penetration
    assert ground_penetration(x, _one(30)).item() == pytest.approx(0.1 / 3, abs=1e-6)


def test_alternating_one_centimetre_jitter_has_the_analytic_acceleration() -> None:
    # p[t] = e (-1)^t: p[t+2] - 2 p[t+1] + p[t] = 4 e (-1)^t, so |a| = 4 e fps^2
    x = _standing(40)
    x[0, :, :, 0] += 0.01 * (-1.0) ** torch.arange(40.0)[:, None]
    assert jitter(x, _one(40), 20.0).item() == pytest.approx(4 * 0.01 * 20**2, rel=1e-4)  # 16
    assert jitter(x, _one(40), 30.0).item() == pytest.approx(4 * 0.01 * 30**2, rel=1e-4)  # 36
    x[0, :20] = _rest_pose()  # jitter from frame 20 on: 18 differences 0, then e, 3e, 18 x 4e
    assert jitter(x, _one(40), 20.0).item() == pytest.approx((4 + 12 + 18 * 16) / 38, rel=1e-4)
    assert jitter(x[:, :2], _one(2), 20.0).item() == 0.0  # fewer than 3 frames


def test_padded_frames_do_not_count() -> None:
    real = torch.from_numpy(np.load(FIXTURE))[:60]
    rng = torch.Generator().manual_seed(0)
    batch = torch.randn(3, 80, 22, 3, generator=rng)  # garbage everywhere, incl. under the floor
    batch[0, :60] = real
    batch[1, :25] = real[:25]
    batch[2, :80] = _standing(80)[0]
    lengths = torch.tensor([60, 25, 80])
    together = physics_quantities(batch, lengths)
    for i, n in enumerate(lengths.tolist()):
        alone = physics_quantities(batch[i : i + 1, :n], _one(n))
        for k, v in alone.items():
            assert together[k][i].item() == pytest.approx(v.item(), rel=1e-5, abs=1e-7), (i, k)
    assert together["jitter"][0].item() > 1.0  # the real clip moves
    # and the garbage would have counted without the lengths
    assert physics_quantities(batch[1:2], _one(80))["penetration"].item() > 0.1


def test_the_score_maps_each_quantity_through_exp_of_minus_value_over_scale() -> None:
    s = PhysicsScales()
    zero = torch.zeros(1)
    assert physics_score(zero, zero, zero).item() == 1.0
    one_scale = physics_score(torch.tensor([s.skating]), zero, zero).item()
    assert one_scale == pytest.approx((math.exp(-1) + 2) / 3, rel=1e-6)
    custom = PhysicsScales(skating=1.0, penetration=0.1, jitter=10.0)
    got = physics_score(torch.tensor([0.5]), torch.tensor([0.05]), torch.tensor([20.0]), custom)
    assert got.item() == pytest.approx((2 * math.exp(-0.5) + math.exp(-2)) / 3, rel=1e-6)
    huge = torch.tensor([1e6])
    assert physics_score(huge, huge, huge).item() == 0.0
    with pytest.raises(ValueError, match="jitter must be > 0"):
        PhysicsScales(jitter=0.0)


def test_the_real_fixture_motion_is_plausible_and_matches_the_documented_measurement() -> None:
    real = torch.from_numpy(np.load(FIXTURE))[None]  # (1, 170, 22, 3)
    q = physics_quantities(real, _one(170))
    # the values PhysicsScales' docstring reports, from which its defaults were chosen
    assert q["skating"].item() == pytest.approx(0.301, abs=1e-3)
    assert q["penetration"].item() == 0.0
    assert q["jitter"].item() == pytest.approx(5.61, abs=1e-2)
    assert q["score"].item() == pytest.approx(0.87, abs=5e-3)
    assert 0.7 <= q["score"].item() <= 1.0


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match=r"\(B, T, J, 3\)"):
        jitter(torch.zeros(2, 10, 22), torch.tensor([10, 10]))
    with pytest.raises(ValueError, match=r"must be \(2,\)"):
        ground_penetration(torch.zeros(2, 10, 22, 3), torch.tensor([10]))
    with pytest.raises(ValueError, match=r"lengths must lie in \[0, 10\]"):
        foot_skating(torch.zeros(1, 10, 22, 3), torch.tensor([11]))
