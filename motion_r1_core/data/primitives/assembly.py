"""Assembly of a motion from primitives: chain the segments, blend the joins, solve the legs.

`build_motion` chains segments (each starts from the body state the previous one left: position,
heading, planted feet), cross-fades the pose channels at the joins, lowers the pelvis where the
legs cannot reach their feet, and solves the legs by two-bone IK before forward kinematics.
"""

from __future__ import annotations

import itertools

import numpy as np
import roma
import torch

from motion_r1_core.data.body import (
    ANKLES,
    HIPS,
    KNEES,
    PELVIS,
    REACH,
    REST_OFFSETS,
    SHIN,
    THIGH,
    UPPER,
    Body,
    Segment,
    as_tensor,
    forward_kinematics,
    minjerk,
    seated_body,
    slerp_rotvec,
    standing_body,
    two_bone_ik,
)
from motion_r1_core.data.primitives.registry import PRIMITIVES
from motion_r1_core.skeleton import HUMANML3D

BLEND_FRAMES = 8  # 0.4 s cross-fade of the pose channels at each join
SOFTMIN = 0.01  # m; smooths the pelvis height where it meets the legs' reach
_CHANNELS = ("xz", "yaw", "height", "tilt", "upper", "feet", "foot_yaw", "foot_pitch")


def concat_segments(segments: list[Segment]) -> Segment:
    """Chain segments, cross-fading height, tilt and pose rotations over BLEND_FRAMES at joins.

    Path, heading and feet are continuous already (each segment starts from the body state the
    previous one left), so only the pose channels, which each primitive sets freely, are blended:
    before a join the next pose is held, after it the previous one, weights eased (minimum jerk).
    """
    raw = Segment(*(np.concatenate([getattr(s, c) for s in segments]) for c in _CHANNELS))
    out = Segment(*(getattr(raw, c).copy() for c in _CHANNELS))
    b = 0
    for prev, nxt in itertools.pairwise(segments):
        b += len(prev)
        half = min(BLEND_FRAMES // 2, len(prev), len(nxt))
        idx = np.arange(b - half, b + half)
        w = minjerk((idx - (b - half) + 0.5) / (2 * half))
        a, c = np.minimum(idx, b - 1), np.maximum(idx, b)
        for ch in ("height", "tilt"):
            x = getattr(raw, ch)
            wx = w.reshape(-1, *([1] * (x.ndim - 1)))
            getattr(out, ch)[idx] = x[a] * (1 - wx) + x[c] * wx
        out.upper[idx] = slerp_rotvec(
            raw.upper[a], raw.upper[c], np.repeat(w[:, None], raw.upper.shape[1], 1)
        )
    return out


def solve(seg: Segment) -> np.ndarray:
    """Joint positions (n, 22, 3) float32 metres of a plan.

    The pelvis height is a soft minimum of the desired height and the highest the stance legs
    allow (so the pelvis follows the legs), the legs come from two-bone IK to the ankle targets
    with the knees towards the toes, and everything goes through forward kinematics.
    """
    n = len(seg)
    yaw, zeros = as_tensor(seg.yaw), torch.zeros(n, dtype=torch.float64)
    r_pelvis = roma.rotvec_to_rotmat(torch.stack([zeros, yaw, zeros], -1)) @ roma.rotvec_to_rotmat(
        as_tensor(seg.tilt)
    )
    off = as_tensor(REST_OFFSETS)
    hip_off = torch.einsum("tij,kj->tki", r_pelvis, off[list(HIPS)])
    feet, xz = as_tensor(seg.feet), as_tensor(seg.xz)
    horiz = (xz[:, None] + hip_off[..., [0, 2]] - feet[..., [0, 2]]).norm(dim=-1)
    legs = as_tensor(REACH * (THIGH + SHIN))
    limit = feet[..., 1] - hip_off[..., 1] + (legs**2 - horiz**2).clamp_min(0).sqrt()
    heights = torch.cat([as_tensor(seg.height)[:, None], limit], 1)
    h = -SOFTMIN * torch.logsumexp(-heights / SOFTMIN, 1)
    root = torch.stack([xz[:, 0], h, xz[:, 1]], -1)

    fy, fz = as_tensor(seg.foot_yaw), torch.zeros((n, 2), dtype=torch.float64)
    pole = torch.stack([fy.sin(), fz, fy.cos()], -1)  # knees point where the toes point
    thigh, shin = two_bone_ik(
        root[:, None] + hip_off, feet, as_tensor(THIGH), as_tensor(SHIN), pole
    )
    ankle = roma.rotvec_to_rotmat(torch.stack([fz, fy, fz], -1)) @ roma.rotvec_to_rotmat(
        torch.stack([as_tensor(seg.foot_pitch), fz, fz], -1)
    )

    def inv(m: torch.Tensor) -> torch.Tensor:
        return m.transpose(-1, -2)

    local = torch.eye(3, dtype=torch.float64).repeat(n, HUMANML3D.n_joints, 1, 1)
    local[:, PELVIS] = r_pelvis
    local[:, list(UPPER)] = roma.rotvec_to_rotmat(as_tensor(seg.upper[:, list(UPPER)]))
    local[:, list(HIPS)] = inv(r_pelvis)[:, None] @ thigh
    local[:, list(KNEES)] = inv(thigh) @ shin
    local[:, list(ANKLES)] = inv(shin) @ ankle
    return forward_kinematics(local, root, off).numpy().astype(np.float32)


def initial_body(first: str, params: dict, yaw: float = 0.0) -> Body:
    """Standing at the origin facing `yaw`, or seated when the motion starts by standing up."""
    if first == "stand_up":
        return seated_body(params["seat_height"], params["seat_back"], yaw)
    return standing_body(yaw=yaw)


def build_motion(
    steps: list[tuple[str, dict, int]], yaw: float = 0.0
) -> tuple[np.ndarray, list[dict]]:
    """Joints (T, 22, 3) float32 of primitives (name, params, frames) chained in order, starting
    at the origin facing `yaw`, and each step's derived parameters (measured distance, angle,
    ...). T = the sum of the frames."""
    body = initial_body(steps[0][0], steps[0][1], yaw)
    segments, derived = [], []
    for name, params, n in steps:
        seg, extra = PRIMITIVES[name].build(body, params, n)
        segments.append(seg)
        derived.append(extra)
        body = seg.end(seated=name == "sit_down")
    return solve(concat_segments(segments)), derived
