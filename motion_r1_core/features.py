"""Joint positions <-> HumanML3D motion features (263-d for 22 joints, 251-d for KIT's 21).

This is the feature definition of Guo et al. (2022) that every HumanML3D / KIT-ML model, VQ-VAE
and evaluator is trained on, re-implemented in vectorised torch (REFERENCE.md section 4):

    [0]      root angular velocity about y (half the yaw step, arcsin of q_y)
    [1:3]    root linear velocity on xz, in the root's facing frame
    [3]      root height
    [4:4+3(J-1)]          joint positions relative to the root, facing +z (height absolute)
    [.. +6(J-1)]          joint rotations as continuous 6D (first two matrix columns)
    [.. +3J]              joint velocities, in the facing frame of the current frame
    [-4:]                 foot contacts, left (ankle, toe) then right

T frames of positions give T-1 feature rows. The quaternion maths runs in float32, as in the
reference, so features match published files to ~1e-5.

Documented deviation: the reference's relative root quaternion flips sign when the heading passes
+-180 degrees, so feature 0 is wrong at that row and its own `recover_from_ric` drifts for every
later frame. We keep the root quaternions sign-continuous, which changes feature 0 at exactly
those rows and nothing else.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from motion_r1_core.skeleton import HUMANML3D, Skeleton

# ------------------------------------------------------------------------ quaternions (w, x, y, z)
# Written out rather than taken from a library: the feature values depend on these exact
# formulas (e.g. qbetween's half-way construction), and published files were made with them.


def qmul(q: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Hamilton product q * r of quaternions (..., 4), w first."""
    q0, q1, q2, q3 = q.unbind(-1)
    r0, r1, r2, r3 = r.unbind(-1)
    return torch.stack(
        (
            r0 * q0 - r1 * q1 - r2 * q2 - r3 * q3,
            r0 * q1 + r1 * q0 - r2 * q3 + r3 * q2,
            r0 * q2 + r1 * q3 + r2 * q0 - r3 * q1,
            r0 * q3 - r1 * q2 + r2 * q1 + r3 * q0,
        ),
        dim=-1,
    )


def qinv(q: torch.Tensor) -> torch.Tensor:
    """Conjugate of unit quaternions (..., 4)."""
    return q * q.new_tensor([1.0, -1.0, -1.0, -1.0])


def qrot(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Rotate vectors v (..., 3) by unit quaternions q (..., 4) (broadcast)."""
    shape = torch.broadcast_shapes(q.shape[:-1], v.shape[:-1])
    q, v = q.expand(*shape, 4), v.expand(*shape, 3)
    qvec = q[..., 1:]
    uv = torch.linalg.cross(qvec, v, dim=-1)
    uuv = torch.linalg.cross(qvec, uv, dim=-1)
    return v + 2 * (q[..., :1] * uv + uuv)


def qbetween(v0: torch.Tensor, v1: torch.Tensor) -> torch.Tensor:
    """Unit quaternion (..., 4) rotating direction v0 (..., 3) onto direction v1 (..., 3).

    Opposite directions (where the reference divides 0 by 0) get a half turn about an axis
    orthogonal to v0: +y when v0 is horizontal, as a heading of exactly -z needs.
    """
    v = torch.linalg.cross(v0, v1, dim=-1)
    w = torch.sqrt((v0**2).sum(-1, keepdim=True) * (v1**2).sum(-1, keepdim=True)) + (v0 * v1).sum(
        -1, keepdim=True
    )
    q = torch.cat([w, v], dim=-1)
    norm = q.norm(dim=-1, keepdim=True)
    opposite = norm[..., 0] <= 1e-12 * (v0.norm(dim=-1) * v1.norm(dim=-1)).clamp_min(1e-30)
    if opposite.any():
        a = v0[opposite]
        axis = torch.linalg.cross(a, a.new_tensor([0.0, 1.0, 0.0]).expand_as(a), dim=-1)
        axis = torch.linalg.cross(axis, a, dim=-1)  # the part of +y orthogonal to a
        vertical = axis.norm(dim=-1, keepdim=True) < 1e-6 * a.norm(dim=-1, keepdim=True)
        alt = torch.linalg.cross(a, a.new_tensor([1.0, 0.0, 0.0]).expand_as(a), dim=-1)
        axis = torch.where(vertical, alt, axis)
        q = q.clone()
        q[opposite] = torch.cat([torch.zeros_like(a[..., :1]), axis], dim=-1)
        norm = q.norm(dim=-1, keepdim=True)
    return q / norm


def quat_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) of quaternions (..., 4)."""
    r, i, j, k = q.unbind(-1)
    two_s = 2.0 / (q * q).sum(-1)
    m = torch.stack(
        (
            1 - two_s * (j * j + k * k),
            two_s * (i * j - k * r),
            two_s * (i * k + j * r),
            two_s * (i * j + k * r),
            1 - two_s * (i * i + k * k),
            two_s * (j * k - i * r),
            two_s * (i * k - j * r),
            two_s * (j * k + i * r),
            1 - two_s * (i * i + j * j),
        ),
        dim=-1,
    )
    return m.reshape((*q.shape[:-1], 3, 3))


def quat_to_cont6d(q: torch.Tensor) -> torch.Tensor:
    """Continuous 6D rotation (..., 6): the first two columns of the rotation matrix of q."""
    m = quat_to_matrix(q)
    return torch.cat([m[..., 0], m[..., 1]], dim=-1)


# ------------------------------------------------------------------------------------- helpers
def gaussian_smooth(x: torch.Tensor, sigma: float, truncate: float = 4.0) -> torch.Tensor:
    """Gaussian filter along dim 0 with edge replication (scipy's gaussian_filter1d, mode nearest)."""
    radius = int(truncate * sigma + 0.5)
    offsets = torch.arange(-radius, radius + 1)
    weights = torch.exp(-0.5 * (offsets.double() / sigma) ** 2)
    weights = (weights / weights.sum()).to(x.dtype)
    idx = (torch.arange(x.shape[0])[:, None] + offsets[None, :]).clamp(0, x.shape[0] - 1)
    return torch.einsum("tk,tk...->t...", weights.expand(x.shape[0], -1), x[idx])


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / torch.sqrt((v**2).sum(-1, keepdim=True))


def _across(joints: torch.Tensor, a: int, b: int, c: int, d: int) -> torch.Tensor:
    """(j[a] - j[b]) + (j[c] - j[d]), normalised: the left-to-right axis used for facing."""
    return _unit((joints[..., a, :] - joints[..., b, :]) + (joints[..., c, :] - joints[..., d, :]))


def _forward_from_across(across: torch.Tensor, smooth_sigma: float | None) -> torch.Tensor:
    """Facing direction cross(up, across) on the xz plane, optionally smoothed over time (dim 0)."""
    # The reference computes this in float64 (numpy promotes), then goes back to float32.
    a = across.double()
    forward = torch.stack([a[..., 2], torch.zeros_like(a[..., 0]), -a[..., 0]], dim=-1)
    if smooth_sigma:
        forward = gaussian_smooth(forward, smooth_sigma)
    return _unit(forward).float()


# --------------------------------------------------------------------------- kinematics (IK/FK)
def inverse_kinematics(
    joints: torch.Tensor, skeleton: Skeleton = HUMANML3D, smooth_sigma: float | None = None
) -> torch.Tensor:
    """Local joint rotations (T, J, 4) that map the rest directions onto joints (T, J, 3).

    The root rotation turns the facing direction (from hips and shoulders, in the reference's
    swapped-hip order, optionally Gaussian-smoothed over time) onto +z; frame 0's root rotation is
    the identity. Every chain, arms included, starts from the root rotation, as in the reference.
    """
    r_hip, l_hip, r_sdr, l_sdr = skeleton.face_joints
    # The per-frame rule uses (l_hip - r_hip) where the initial alignment uses (r_hip - l_hip):
    # a quirk of the reference that published features contain.
    forward = _forward_from_across(_across(joints, l_hip, r_hip, r_sdr, l_sdr), smooth_sigma)
    target = forward.new_tensor([0.0, 0.0, 1.0]).expand_as(forward)
    root_quat = qbetween(forward, target)
    root_quat[0] = root_quat.new_tensor([1.0, 0.0, 0.0, 0.0])

    raw = torch.as_tensor(skeleton.raw_offsets, dtype=joints.dtype)
    quats = joints.new_zeros((*joints.shape[:-1], 4))
    quats[:, 0] = root_quat
    for chain in skeleton.chains:
        rot = root_quat
        for parent, child in itertools.pairwise(chain):
            u = raw[child].expand(joints.shape[0], 3)
            v = _unit(joints[:, child] - joints[:, parent])
            local = qmul(qinv(rot), qbetween(u, v))
            quats[:, child] = local
            rot = qmul(rot, local)
    return quats


def forward_kinematics(
    quats: torch.Tensor,
    root_pos: torch.Tensor,
    offsets: torch.Tensor,
    skeleton: Skeleton = HUMANML3D,
) -> torch.Tensor:
    """Joint positions (T, J, 3) from local rotations (T, J, 4), root path (T, 3), offsets (J, 3).

    Mirrors `inverse_kinematics`: each chain starts from the root rotation.
    """
    joints = quats.new_zeros((*quats.shape[:-1], 3))
    joints[:, 0] = root_pos
    for chain in skeleton.chains:
        rot = quats[:, 0]
        for parent, child in itertools.pairwise(chain):
            rot = qmul(rot, quats[:, child])
            joints[:, child] = (
                qrot(rot, offsets[child].expand(quats.shape[0], 3)) + joints[:, parent]
            )
    return joints


def retarget(joints: torch.Tensor, skeleton: Skeleton = HUMANML3D) -> torch.Tensor:
    """Move joints (T, J, 3) onto the target subject's bone lengths (HumanML3D's uniform_skeleton).

    Rotations come from IK on the source; the root path is scaled by the ratio of leg lengths
    (bones of `skeleton.leg_joints`).
    """
    target = skeleton.offsets().to(joints.dtype)
    src_len = skeleton.bone_lengths_of(joints[0])
    i, k = skeleton.leg_joints
    scale = (target[i].abs().max() + target[k].abs().max()) / (src_len[i] + src_len[k])
    quats = inverse_kinematics(joints, skeleton)
    return forward_kinematics(quats, joints[:, 0] * scale, target, skeleton)


# ------------------------------------------------------------------------------------ features
def _continuous_sign(q: torch.Tensor) -> torch.Tensor:
    """Flip quaternions (T, 4) so consecutive ones have a non-negative dot product."""
    dots = (q[1:] * q[:-1]).sum(-1)
    flips = torch.where(dots < 0, -1.0, 1.0).to(q.dtype)
    signs = torch.cat([q.new_ones(1), torch.cumprod(flips, 0)])
    return q * signs[:, None]


def align_joints(joints: torch.Tensor, skeleton: Skeleton = HUMANML3D) -> torch.Tensor:
    """Put joints (T, J, 3) on the floor, frame-0 root at the xz origin, frame 0 facing +z."""
    joints = joints - joints.new_tensor([0.0, 1.0, 0.0]) * joints[..., 1].min()
    joints = joints - joints[0, 0] * joints.new_tensor([1.0, 0.0, 1.0])
    r_hip, l_hip, r_sdr, l_sdr = skeleton.face_joints
    forward = _forward_from_across(_across(joints[0], r_hip, l_hip, r_sdr, l_sdr), None)
    quat = qbetween(forward, forward.new_tensor([0.0, 0.0, 1.0]))
    return qrot(quat.expand((*joints.shape[:-1], 4)), joints)


def foot_contacts(joints: torch.Tensor, skeleton: Skeleton = HUMANML3D) -> torch.Tensor:
    """Foot contact labels (T-1, 4): squared frame-to-frame displacement under the threshold."""
    feet = list(skeleton.feet_left) + list(skeleton.feet_right)
    step = ((joints[1:, feet] - joints[:-1, feet]) ** 2).sum(-1)
    return (step < skeleton.contact_threshold).to(joints.dtype)


@torch.no_grad()
def process_joints(
    joints: torch.Tensor | np.ndarray,
    skeleton: Skeleton = HUMANML3D,
    retarget_skeleton: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """HumanML3D processing of one motion: features (T-1, D) and the aligned joints (T, J, 3).

    joints: (T, J, 3) positions in metres, y up, at the dataset's frame rate (T >= 2).
    retarget_skeleton: move onto the target subject first (needs `skeleton.bone_lengths`).
    """
    joints = torch.as_tensor(np.asarray(joints), dtype=torch.float32)
    if joints.ndim != 3 or joints.shape[1:] != (skeleton.n_joints, 3) or joints.shape[0] < 2:
        raise ValueError(
            f"expected joints of shape (T>=2, {skeleton.n_joints}, 3), got {tuple(joints.shape)}"
        )
    if retarget_skeleton and skeleton.bone_lengths is not None:
        joints = retarget(joints, skeleton)
    positions = align_joints(joints, skeleton)
    n = positions.shape[0]

    quats = inverse_kinematics(positions, skeleton, smooth_sigma=20.0)
    r_rot = _continuous_sign(quats[:, 0])
    velocity = qrot(r_rot[1:], positions[1:, 0] - positions[:-1, 0])
    r_velocity = torch.asin(qmul(r_rot[1:], qinv(r_rot[:-1]))[:, 2:3])

    local = positions.clone()
    local[..., 0] -= positions[:, 0:1, 0]
    local[..., 2] -= positions[:, 0:1, 2]
    ric = qrot(r_rot[:, None].expand(-1, skeleton.n_joints, -1), local)

    rot6d = quat_to_cont6d(quats[:, 1:]).reshape(n, -1)
    local_vel = qrot(
        r_rot[:-1, None].expand(-1, skeleton.n_joints, -1), positions[1:] - positions[:-1]
    ).reshape(n - 1, -1)
    features = torch.cat(
        [
            r_velocity,
            velocity[:, [0, 2]],
            ric[:-1, 0, 1:2],
            ric[:-1, 1:].reshape(n - 1, -1),
            rot6d[:-1],
            local_vel,
            foot_contacts(positions, skeleton),
        ],
        dim=-1,
    )
    return features, positions


def extract_features(
    joints: torch.Tensor | np.ndarray,
    skeleton: Skeleton = HUMANML3D,
    retarget_skeleton: bool = True,
) -> torch.Tensor:
    """HumanML3D features (T-1, D) of joint positions (T, J, 3); see `process_joints`."""
    return process_joints(joints, skeleton, retarget_skeleton)[0]


# ------------------------------------------------------------------------------------- inverse
def recover_root_rot_pos(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Root rotation quaternions (..., T, 4) and root positions (..., T, 3) from features (..., T, D).

    Yaw is the cumulative sum of feature 0 (frame 0 has yaw 0); root xz is the cumulative sum of
    the velocities rotated back to the world frame; root y is feature 3.
    """
    ang = torch.zeros_like(features[..., 0])
    ang[..., 1:] = features[..., :-1, 0]
    ang = torch.cumsum(ang, dim=-1)
    quat = torch.zeros((*features.shape[:-1], 4), dtype=features.dtype, device=features.device)
    quat[..., 0] = torch.cos(ang)
    quat[..., 2] = torch.sin(ang)
    pos = torch.zeros((*features.shape[:-1], 3), dtype=features.dtype, device=features.device)
    pos[..., 1:, 0] = features[..., :-1, 1]
    pos[..., 1:, 2] = features[..., :-1, 2]
    pos = torch.cumsum(qrot(qinv(quat), pos), dim=-2)
    pos[..., 1] = features[..., 3]
    return quat, pos


def recover_from_ric(
    features: torch.Tensor | np.ndarray, skeleton: Skeleton = HUMANML3D
) -> torch.Tensor:
    """Joint positions (..., T, J, 3) in metres from features (..., T, D) (de-normalised)."""
    features = torch.as_tensor(np.asarray(features) if not torch.is_tensor(features) else features)
    features = features.float() if not features.is_floating_point() else features
    if features.shape[-1] != skeleton.feature_dim:
        raise ValueError(
            f"expected {skeleton.feature_dim}-d {skeleton.name} features, got width {features.shape[-1]}"
        )
    quat, root = recover_root_rot_pos(features)
    local = features[..., skeleton.ric_slice].unflatten(-1, (skeleton.n_joints - 1, 3))
    local = qrot(qinv(quat)[..., None, :].expand((*local.shape[:-1], 4)), local)
    local[..., 0] += root[..., None, 0]
    local[..., 2] += root[..., None, 2]
    return torch.cat([root[..., None, :], local], dim=-2)


# ------------------------------------------------------------------------------- normalisation
def feature_groups(skeleton: Skeleton = HUMANML3D) -> dict[str, slice]:
    """Column slices of the feature groups: root_rot_vel, root_lin_vel, root_y, ric, rot, vel, feet."""
    j = skeleton.n_joints
    bounds = {
        "root_rot_vel": 1,
        "root_lin_vel": 2,
        "root_y": 1,
        "ric": 3 * (j - 1),
        "rot": 6 * (j - 1),
        "vel": 3 * j,
        "feet": 4,
    }
    out, start = {}, 0
    for name, width in bounds.items():
        out[name] = slice(start, start + width)
        start += width
    return out


def feature_mean_std(
    features: list[torch.Tensor | np.ndarray],
    skeleton: Skeleton = HUMANML3D,
    feat_bias: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and Std (D,) float32 of stacked feature rows, with HumanML3D's group-averaged Std.

    Each group (root angular velocity, root linear velocity, root height, ric, rotations,
    velocities, foot contacts) gets the mean of its columns' stds. `feat_bias` = 5 gives the
    evaluator/VQ meta convention (std of root [0:4] and feet divided by 5); 1 gives Mean/Std.npy.
    """
    x = np.concatenate([np.asarray(f, dtype=np.float64) for f in features], axis=0)
    if x.shape[-1] != skeleton.feature_dim:
        raise ValueError(f"expected {skeleton.feature_dim}-d features, got {x.shape[-1]}")
    mean, std = x.mean(0), x.std(0)
    groups = feature_groups(skeleton)
    for name, sl in groups.items():
        std[sl] = std[sl].mean()
        if name in ("root_rot_vel", "root_lin_vel", "root_y", "feet"):
            std[sl] /= feat_bias
    if not np.all(np.isfinite(std)) or np.any(std <= 0):
        raise ValueError("a feature group has zero or non-finite std; too few or constant motions")
    return mean.astype(np.float32), std.astype(np.float32)


def mirror_joints(joints: torch.Tensor, skeleton: Skeleton = HUMANML3D) -> torch.Tensor:
    """Left/right mirror of joints (..., J, 3): negate x and swap left and right joints."""
    return joints[..., skeleton.mirror_indices(), :] * joints.new_tensor([-1.0, 1.0, 1.0])


def seconds_to_frames(seconds: float, fps: float) -> int:
    """Frame index of a time stamp, as the reference crops sub-captions: int(t * fps)."""
    return int(seconds * fps)
