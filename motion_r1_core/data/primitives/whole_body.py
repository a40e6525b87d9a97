"""Whole-body actions: bow, sit down, stand up and stand still.

Sitting keeps the feet planted and moves the pelvis back and down onto an (invisible) chair,
leaning forward in between; standing up is the reverse. Conventions as in `body.py`: y up, facing
+z at yaw 0, +x is the body's left.
"""

from __future__ import annotations

import numpy as np

from motion_r1_core.data.body import (
    CHEST,
    FPS,
    LEFT,
    NECK,
    NEUTRAL_UPPER,
    RIGHT,
    SEATED_LEAN,
    SEATED_UPPER,
    SPINE,
    STAND_HEIGHT,
    Body,
    Segment,
    forward_dir,
    keyframes,
    left_dir,
    set_arm,
    slerp_rotvec,
)
from motion_r1_core.data.primitives.sampling import frame_range, uniform
from motion_r1_core.skeleton import HUMANML3D


# ----------------------------------------------------------------------- whole-body actions
def sample_bow(rng: np.random.Generator) -> dict:
    """Parameters of a bow: angle (deg), down, hold and up times (s), frame range."""
    down, hold, up = uniform(rng, 0.6, 1.0), uniform(rng, 0.3, 1.0), uniform(rng, 0.6, 1.0)
    action = (2 + (down + hold + up) * FPS + 3) / FPS
    return {
        "angle_deg": uniform(rng, 30, 65),
        "down_time": down,
        "hold_time": hold,
        "up_time": up,
        "_frames": frame_range(action, action + uniform(rng, 0, 0.4), action + 1.5),
    }


def build_bow(body: Body, p: dict, n: int) -> tuple[Segment, dict]:
    """A bow of n frames: hips, spine and neck share the bend, the hips move back to balance."""
    d, h, u = p["down_time"] * FPS, p["hold_time"] * FPS, p["up_time"] * FPS
    s = keyframes([2, 2 + d, 2 + d + h, 2 + d + h + u], [0, 1, 1, 0], n)
    angle = np.radians(p["angle_deg"])
    seg = Segment.hold(body, n)
    # the bend is shared by the hips (pelvis), the three spine joints and the neck
    seg.tilt[:, 0] = 0.45 * angle * s
    for j in SPINE:
        seg.upper[:, j, 0] = 0.15 * angle * s
    seg.upper[:, NECK, 0] = 0.1 * angle * s
    seg.xz = body.xz - (0.12 * angle * s)[:, None] * forward_dir(body.yaw)  # hips back: balance
    seg.height = STAND_HEIGHT - 0.02 * s
    for side in (LEFT, RIGHT):
        set_arm(seg.upper, side, flex=0.08 + 0.6 * angle * s, abd=0.12, elbow=0.2)
    return seg, {}


def sample_sit_down(rng: np.random.Generator) -> dict:
    """Parameters of sitting down: seat height and distance behind the feet (m), sit
    time (s) and the frame range."""
    sit, hold = uniform(rng, 1.2, 1.8), uniform(rng, 0.4, 1.2)
    action = (2 + (sit + hold) * FPS) / FPS
    return {
        "seat_height": uniform(rng, 0.5, 0.58),
        "seat_back": uniform(rng, 0.33, 0.42),
        "sit_time": sit,
        "_frames": frame_range(action, action, action + 2.0),
    }


def _sit_keys(body: Body, p: dict, n: int, standing_up: bool) -> Segment:
    """Pelvis back and down onto the seat (or the reverse), leaning forward in between."""
    d = p["sit_time"] * FPS
    feet_mid = body.feet[:, [0, 2]].mean(0)
    back_dir = -forward_dir(body.yaw)
    if standing_up:
        back, seat = float(np.dot(body.xz - feet_mid, back_dir)), body.height
        u = [0, 0.3, 0.55, 0.8, 1]
        backs, heights = (
            [back, 0.95 * back, 0.5 * back, 0.1 * back, 0],
            [
                seat,
                seat + 0.01,
                seat + 0.35 * (STAND_HEIGHT - seat),
                STAND_HEIGHT - 0.03,
                STAND_HEIGHT,
            ],
        )
        leans, pose_w = [SEATED_LEAN, 0.6, 0.45, 0.1, 0], [1, 1, 0.6, 0.2, 0]
    else:
        back, seat = p["seat_back"], p["seat_height"]
        u = [0, 0.25, 0.6, 1]
        backs = [0, 0.1 * back, 0.65 * back, back]
        heights = [
            STAND_HEIGHT,
            STAND_HEIGHT - 0.05,
            STAND_HEIGHT - 0.6 * (STAND_HEIGHT - seat),
            seat,
        ]
        leans, pose_w = [0, 0.25, 0.55, SEATED_LEAN], [0, 0.2, 0.6, 1]
    keys = [3 + ui * d for ui in u]
    seg = Segment.hold(body, n)
    seg.xz = feet_mid + keyframes(keys, backs, n)[:, None] * back_dir
    seg.height = keyframes(keys, heights, n)
    seg.tilt[:, 0] = keyframes(keys, leans, n)
    w = np.clip(keyframes(keys, pose_w, n), 0, 1)
    seg.upper = slerp_rotvec(
        np.broadcast_to(NEUTRAL_UPPER, seg.upper.shape),
        np.broadcast_to(SEATED_UPPER, seg.upper.shape),
        np.repeat(w[:, None], HUMANML3D.n_joints, 1),
    )
    seg.upper[:, NECK, 0] -= 0.5 * seg.tilt[:, 0]
    return seg


def build_sit_down(body: Body, p: dict, n: int) -> tuple[Segment, dict]:
    """n frames of sitting down onto an (invisible) chair behind the feet."""
    return _sit_keys(body, p, n, standing_up=False), {}


def sample_stand_up(rng: np.random.Generator) -> dict:
    """Parameters of standing up: seat height and distance (m, used when the motion starts
    seated), rise time (s) and the frame range."""
    rise = uniform(rng, 1.2, 1.8)
    action = (3 + rise * FPS + 4) / FPS
    # the seat is only used when the motion starts seated (stand up is its first step)
    return {
        "seat_height": uniform(rng, 0.5, 0.58),
        "seat_back": uniform(rng, 0.33, 0.42),
        "sit_time": rise,
        "_frames": frame_range(action, action + uniform(rng, 0, 0.3), action + 1.5),
    }


def build_stand_up(body: Body, p: dict, n: int) -> tuple[Segment, dict]:
    """n frames of standing up from the seat the body is on."""
    return _sit_keys(body, p, n, standing_up=True), {}


def sample_still(rng: np.random.Generator) -> dict:
    """Parameters of standing still: sway (m), sway period (s) and the frame range."""
    return {
        "sway": uniform(rng, 0.01, 0.03),
        "sway_period": uniform(rng, 2.0, 4.0),
        "_frames": frame_range(1.5, uniform(rng, 1.5, 3.5), 6.0),
    }


def build_still(body: Body, p: dict, n: int) -> tuple[Segment, dict]:
    """n frames of standing still, with a slight sway and breathing."""
    t = np.arange(n, dtype=float)
    window = np.sin(np.pi * t / max(n - 1, 1)) ** 2  # starts and ends at rest
    sway = p["sway"] * window * np.sin(2 * np.pi * t / (p["sway_period"] * FPS))
    seg = Segment.hold(body, n)
    seg.xz = body.xz + sway[:, None] * left_dir(body.yaw)
    seg.tilt[:, 2] = -2.0 * sway  # the pelvis rolls a little as the weight shifts
    seg.upper[:, NECK, 0] = 0.05 * window * np.sin(2 * np.pi * t / (1.3 * p["sway_period"] * FPS))
    seg.upper[:, CHEST, 0] = 0.02 * np.sin(2 * np.pi * t / (3.5 * FPS))  # breathing
    return seg, {}
