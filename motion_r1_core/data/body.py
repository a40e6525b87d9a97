"""The kinematic body model behind the procedural corpus: rest pose, leg IK, forward kinematics.

A `Segment` describes a stretch of motion by channels: the pelvis path and heading, a desired
pelvis height and tilt, ankle targets for both feet and the local rotations of the spine, head and
arms. `Body` is the state one segment leaves for the next (position, heading, planted feet).
Forward kinematics is hierarchical on a rest pose with the target subject's bone lengths, so bone
lengths are exact; two-bone IK places the feet.

Conventions: y is up, the body faces +z at yaw 0 and +x is its left; a positive yaw (rotation
about +y, counter-clockwise seen from above) turns the body to its left. 20 frames per second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import roma
import torch
from scipy.interpolate import CubicHermiteSpline, PchipInterpolator

from motion_r1_core.skeleton import HUMANML3D

FPS = HUMANML3D.fps
GRAVITY = 9.81
LEFT, RIGHT = 0, 1
SIDE = (1.0, -1.0)  # +x is the subject's left
MIN_FRAMES, MAX_FRAMES = 41, 197  # joint frames: 40..196 feature rows, as HumanML3D keeps

# ------------------------------------------------------------------------------------ joints
# Joint indices by name (the skeleton's SMPL order); pairs are (left, right), indexed by LEFT
# and RIGHT.


def _pair(part: str) -> tuple[int, int]:
    return HUMANML3D.joint(f"left_{part}"), HUMANML3D.joint(f"right_{part}")


PELVIS = HUMANML3D.joint("pelvis")
SPINE = tuple(HUMANML3D.joint(f"spine{i}") for i in (1, 2, 3))  # lower back to chest
CHEST = SPINE[-1]  # spine3: the collars hang from it
NECK, HEAD = HUMANML3D.joint("neck"), HUMANML3D.joint("head")
HIPS, KNEES, ANKLES = _pair("hip"), _pair("knee"), _pair("ankle")
TOES = _pair("foot")  # SMPL's "foot" joint sits at the toes
COLLARS, SHOULDERS = _pair("collar"), _pair("shoulder")
ELBOWS, WRISTS = _pair("elbow"), _pair("wrist")
# joints driven by pose rotations (`Segment.upper`), in index order; the legs come from IK
UPPER = tuple(sorted((*SPINE, NECK, HEAD, *COLLARS, *SHOULDERS, *ELBOWS, *WRISTS)))

# --------------------------------------------------------------------------------- rest pose
# A natural standing rest pose (arms hanging, shoulders beside the neck, head above it, feet
# pointing forward and down to the toes). The HumanML3D `raw_offsets` are only the reference axes
# of its IK; the feature code recovers rotations from positions, so any rest pose works as long as
# the bone lengths are the target subject's.
_REST_DIRECTIONS = np.array(  # one row per joint, the bone from its parent
    [
        (0, 0, 0),  # pelvis
        (0.8, -0.6, 0),  # left_hip
        (-0.8, -0.6, 0),  # right_hip
        (0, 1, 0),  # spine1
        (0, -1, 0),  # left_knee
        (0, -1, 0),  # right_knee
        (0, 1, 0),  # spine2
        (0, -1, 0),  # left_ankle
        (0, -1, 0),  # right_ankle
        (0, 1, 0),  # spine3
        (0, -0.4, 0.917),  # left_foot
        (0, -0.4, 0.917),  # right_foot
        (0, 1, 0),  # neck
        (0.45, 0.89, 0),  # left_collar
        (-0.45, 0.89, 0),  # right_collar
        (0, 1, 0.1),  # head
        (0.96, 0.28, 0),  # left_shoulder
        (-0.96, 0.28, 0),  # right_shoulder
        (0, -1, 0),  # left_elbow
        (0, -1, 0),  # right_elbow
        (0, -1, 0),  # left_wrist
        (0, -1, 0),  # right_wrist
    ]
)
_norms = np.linalg.norm(_REST_DIRECTIONS, axis=1, keepdims=True)
REST_OFFSETS = (
    _REST_DIRECTIONS / np.maximum(_norms, 1e-9) * HUMANML3D.bone_lengths[:, None].astype(np.float64)
)

THIGH = np.linalg.norm(REST_OFFSETS[list(KNEES)], axis=-1)  # (left, right) metres
SHIN = np.linalg.norm(REST_OFFSETS[list(ANKLES)], axis=-1)
FOOT = float(np.linalg.norm(REST_OFFSETS[TOES[LEFT]]))  # ankle to toe joint
FOOT_DROP = float(np.arcsin(-REST_OFFSETS[TOES[LEFT], 1] / FOOT))  # toes below the ankle, flat
ANKLE_HEIGHT = 0.02 - REST_OFFSETS[TOES[LEFT], 1]  # toe joint 2 cm above the floor, foot flat
FOOT_HALF_WIDTH = 0.10
REACH = 0.985  # fraction of the leg length a stance leg may stretch to (no locked knees)
STAND_HEIGHT = float(ANKLE_HEIGHT + np.min(-REST_OFFSETS[list(HIPS), 1] + REACH * (THIGH + SHIN)))
TOE_RISE = 0.05  # ankle lift when rising onto the toes (jump take-off)


# ------------------------------------------------------------------------------------ helpers
def minjerk(u: np.ndarray | float) -> np.ndarray:
    """Minimum-jerk ease 0 -> 1 on u in [0, 1] (clipped): zero velocity and acceleration at ends."""
    u = np.clip(u, 0.0, 1.0)
    return u**3 * (10 - 15 * u + 6 * u**2)


def keyframes(times: list[float], values: list, n: int) -> np.ndarray:
    """Monotone cubic (PCHIP) through keys at frame `times`, held outside them; (n, ...)."""
    t = np.clip(np.arange(n, dtype=float), times[0], times[-1])
    return PchipInterpolator(np.asarray(times, float), np.asarray(values, float), axis=0)(t)


def hermite(times: list[float], values: list[float], slopes: list[float], n: int) -> np.ndarray:
    """Cubic Hermite curve (n,) through values with slopes (per frame); exact on parabolas."""
    t = np.clip(np.arange(n, dtype=float), times[0], times[-1])
    return CubicHermiteSpline(np.asarray(times, float), values, slopes)(t)


def forward_dir(yaw: np.ndarray | float) -> np.ndarray:
    """Facing direction (..., 2) on the ground plane (x, z) of a heading."""
    return np.stack([np.sin(yaw), np.cos(yaw)], -1)


def left_dir(yaw: np.ndarray | float) -> np.ndarray:
    """The subject's left (..., 2) on the ground plane (x, z) of a heading."""
    return np.stack([np.cos(yaw), -np.sin(yaw)], -1)


def on_ground(xz: np.ndarray, y: float | np.ndarray = ANKLE_HEIGHT) -> np.ndarray:
    """(..., 3) points from ground-plane (..., 2) positions and a height."""
    y = np.broadcast_to(y, xz.shape[:-1])
    return np.stack([xz[..., 0], y, xz[..., 1]], -1)


def value_at(arr: np.ndarray, t: float) -> np.ndarray:
    """Linear interpolation of a per-frame array at a fractional frame (clipped)."""
    t = float(np.clip(t, 0, len(arr) - 1))
    i = min(int(t), len(arr) - 2) if len(arr) > 1 else 0
    w = t - i
    return arr[i] * (1 - w) + arr[min(i + 1, len(arr) - 1)] * w


def as_tensor(x: np.ndarray) -> torch.Tensor:
    """A float64 tensor of an array (same shape), made contiguous first."""
    return torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float64)


# -------------------------------------------------------------------------------- kinematics
def forward_kinematics(
    local: torch.Tensor,
    root: torch.Tensor,
    offsets: torch.Tensor,
    parents: tuple[int, ...] = HUMANML3D.parents,
) -> torch.Tensor:
    """Joint positions (T, J, 3) from local rotations (T, J, 3, 3), root path (T, 3), rest
    offsets (J, 3) to each joint's parent. A joint's rotation turns the bones to its children;
    parents must precede children (true for the SMPL order)."""
    glob, pos = [local[:, 0]], [root]
    for j in range(1, len(parents)):
        p = parents[j]
        pos.append(pos[p] + glob[p] @ offsets[j])
        glob.append(glob[p] @ local[:, j])
    return torch.stack(pos, 1)


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(1e-9)


def two_bone_ik(
    root: torch.Tensor,
    target: torch.Tensor,
    l1: torch.Tensor,
    l2: torch.Tensor,
    pole: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Global rotations (..., 3, 3) of a limb's two bones so that its end reaches `target`.

    root, target, pole: (..., 3); l1, l2: bone lengths broadcastable to (...). Both bones point
    along -y at rest; the middle joint bends towards `pole` about the bones' common local x axis
    (a hinge). An unreachable target is approached as far as the limb stretches.
    """
    d_vec = target - root
    d = d_vec.norm(dim=-1).clamp((l1 - l2).abs() + 1e-4, (l1 + l2) * (1 - 1e-4))
    u = _unit(d_vec)
    v = _unit(pole - (pole * u).sum(-1, keepdim=True) * u)
    cos_a = ((l1**2 + d**2 - l2**2) / (2 * l1 * d)).clamp(-1, 1)
    sin_a = (1 - cos_a**2).sqrt()
    dir1 = cos_a[..., None] * u + sin_a[..., None] * v
    dir2 = _unit(d[..., None] * u - l1[..., None] * dir1)
    n = _unit(torch.linalg.cross(v, u, dim=-1))

    def frame(direction: torch.Tensor) -> torch.Tensor:
        return torch.stack([n, -direction, torch.linalg.cross(n, -direction, dim=-1)], -1)

    return frame(dir1), frame(dir2)


def arm_rotvecs(side: float, flex, abd, twist=0.0, elbow=0.0) -> np.ndarray:
    """Local rotvecs (n, 2, 3) of a shoulder and elbow from anatomical angles in radians.

    side: +1 left arm, -1 right arm. flex raises the arm forward, abd sideways, twist rotates it
    outwards about its own axis, elbow bends the forearm. Angles broadcast to (n,).
    """
    flex, abd, twist, elbow = np.broadcast_arrays(
        *(np.atleast_1d(np.asarray(a, dtype=float)) for a in (flex, abd, twist, elbow))
    )
    angles = as_tensor(np.stack([side * abd, -flex, side * twist], -1))
    shoulder = roma.rotmat_to_rotvec(roma.euler_to_rotmat("ZXY", angles)).numpy()
    elbow_rv = np.zeros_like(shoulder)
    elbow_rv[:, 0] = -elbow
    return np.stack([shoulder, elbow_rv], 1)


def set_arm(upper: np.ndarray, side: int, flex, abd, twist=0.0, elbow=0.0) -> None:
    """Write one arm's rotations into pose rotvecs (n, 22, 3); side LEFT or RIGHT."""
    upper[:, [SHOULDERS[side], ELBOWS[side]]] = arm_rotvecs(SIDE[side], flex, abd, twist, elbow)


def slerp_rotvec(r0: np.ndarray, r1: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per-element spherical interpolation of rotvecs (..., 3) with weights w (...,)."""
    q0, q1 = roma.rotvec_to_unitquat(as_tensor(r0)), roma.rotvec_to_unitquat(as_tensor(r1))
    rel = roma.unitquat_to_rotvec(roma.quat_product(roma.quat_conjugation(q0), q1))
    step = roma.rotvec_to_unitquat(rel * as_tensor(w)[..., None])
    return roma.unitquat_to_rotvec(roma.quat_product(q0, step)).numpy()


def _neutral_upper() -> np.ndarray:
    upper = np.zeros((1, HUMANML3D.n_joints, 3))
    for side in (LEFT, RIGHT):
        set_arm(upper, side, flex=0.08, abd=0.12, elbow=0.2)
    return upper[0]


NEUTRAL_UPPER = _neutral_upper()  # relaxed standing: arms hang slightly bent and away from hips


def _seated_upper() -> np.ndarray:
    upper = NEUTRAL_UPPER.copy()[None]
    for side in (LEFT, RIGHT):
        set_arm(upper, side, flex=0.45, abd=0.15, elbow=0.7)  # hands rest on the thighs
    return upper[0]


SEATED_UPPER = _seated_upper()
SEATED_LEAN = 0.08


# ------------------------------------------------------------------------- state and segments
@dataclass(frozen=True)
class Body:
    """Where a primitive leaves the body for the next: pelvis position (2,) on the ground, heading
    (rad), desired pelvis height (m), planted ankles (2, 3) and their headings (2,), seated."""

    xz: np.ndarray
    yaw: float
    height: float
    feet: np.ndarray
    foot_yaw: np.ndarray
    seated: bool = False


def standing_body(xz: np.ndarray | None = None, yaw: float = 0.0) -> Body:
    """A body standing with feet a hip-width apart under the pelvis."""
    xz = np.zeros(2) if xz is None else np.asarray(xz, float)
    feet = on_ground(xz + np.outer(SIDE, FOOT_HALF_WIDTH * left_dir(yaw)))
    return Body(xz, float(yaw), STAND_HEIGHT, feet, np.full(2, float(yaw)))


def seated_body(seat_height: float, seat_back: float, yaw: float = 0.0) -> Body:
    """A body sitting on an (invisible) chair: pelvis `seat_back` behind the feet."""
    body = standing_body(yaw=yaw)
    return Body(
        -seat_back * forward_dir(yaw), float(yaw), seat_height, body.feet, body.foot_yaw, True
    )


@dataclass
class Segment:
    """Per-frame plan of one primitive (n frames).

    xz (n, 2) pelvis on the ground plane; yaw (n,) heading; height (n,) desired pelvis height
    (lowered where the legs cannot reach); tilt (n, 3) pelvis rotvec after the heading (x > 0
    leans forward); upper (n, 22, 3) local rotvecs of spine, head and arms (legs unused); feet
    (n, 2, 3) ankle targets (left, right); foot_yaw (n, 2); foot_pitch (n, 2) toes-down angle.
    """

    xz: np.ndarray
    yaw: np.ndarray
    height: np.ndarray
    tilt: np.ndarray
    upper: np.ndarray
    feet: np.ndarray
    foot_yaw: np.ndarray
    foot_pitch: np.ndarray

    @classmethod
    def hold(cls, body: Body, n: int) -> Segment:
        """The body standing (or sitting) still for n frames."""
        pose = SEATED_UPPER if body.seated else NEUTRAL_UPPER
        tilt = np.array([SEATED_LEAN if body.seated else 0.0, 0, 0])
        return cls(
            np.tile(body.xz, (n, 1)),
            np.full(n, body.yaw),
            np.full(n, body.height),
            np.tile(tilt, (n, 1)),
            np.tile(pose, (n, 1, 1)),
            np.tile(body.feet, (n, 1, 1)),
            np.tile(body.foot_yaw, (n, 1)),
            np.zeros((n, 2)),
        )

    def end(self, seated: bool = False) -> Body:
        """The body state at the last frame."""
        return Body(
            self.xz[-1].copy(),
            float(self.yaw[-1]),
            float(self.height[-1]),
            self.feet[-1].copy(),
            self.foot_yaw[-1].copy(),
            seated,
        )

    def __len__(self) -> int:
        return len(self.yaw)


@dataclass(frozen=True)
class Swing:
    """One step of a foot: frames [start, end), landing ankle position (3,), heading, arc."""

    foot: int
    start: float
    end: float
    to: np.ndarray
    yaw: float
    lift: float = 0.08
    toe: float = 0.4
    skew: float = 1.0


def feet_from_swings(body: Body, n: int, swings: list[Swing]) -> tuple[np.ndarray, ...]:
    """Ankle targets (n, 2, 3), foot headings (n, 2) and pitches (n, 2) from a list of steps.

    A foot stays exactly where it landed between its swings (no sliding); during a swing it
    follows a minimum-jerk path with an arc of height `lift` and a toe-off/heel-strike pitch.
    """
    feet = np.tile(body.feet, (n, 1, 1))
    yaw = np.tile(body.foot_yaw, (n, 1))
    pitch = np.zeros((n, 2))
    t = np.arange(n, dtype=float)
    for foot in (LEFT, RIGHT):
        pos, fy = body.feet[foot].copy(), float(body.foot_yaw[foot])
        for sw in sorted((s for s in swings if s.foot == foot), key=lambda s: s.start):
            s = np.clip((t - sw.start) / (sw.end - sw.start), 0, 1)
            on = t >= sw.start
            m = minjerk(s)[on, None]
            feet[on, foot] = pos + (sw.to - pos) * m
            feet[on, foot, 1] += sw.lift * np.sin(np.pi * s[on] ** sw.skew)
            yaw[on, foot] = fy + (sw.yaw - fy) * m[:, 0]
            # toes down after push-off, up before heel strike
            pitch[on, foot] = sw.toe * np.sin(np.pi * s[on]) * (1 - 1.6 * s[on])
            pos, fy = sw.to.copy(), sw.yaw
    return feet, yaw, pitch
