"""Arm gestures: wave, raise arms and clap.

Arms are posed by anatomical angles (`set_arm`: flexion, abduction, twist, elbow) eased in and
out of the neutral pose; clapping places the hands by two-bone IK instead. Conventions as in
`body.py`: y up, facing +z at yaw 0, +x is the body's left.
"""

from __future__ import annotations

import numpy as np
import roma
import torch

from motion_r1_core.data.body import (
    COLLARS,
    ELBOWS,
    FPS,
    LEFT,
    NECK,
    REST_OFFSETS,
    RIGHT,
    SHOULDERS,
    SIDE,
    WRISTS,
    Body,
    Segment,
    as_tensor,
    keyframes,
    minjerk,
    set_arm,
    slerp_rotvec,
    two_bone_ik,
)
from motion_r1_core.data.primitives.sampling import frame_range, uniform


# ------------------------------------------------------------------------------------ arms
def sample_wave(rng: np.random.Generator) -> dict:
    """Parameters of a wave: side, waves, frequency (Hz), arm abduction and elbow bend (rad),
    forearm amplitude (rad), raise and lower times (s) and the frame range."""
    waves = int(rng.integers(2, 6))
    freq, raise_t, lower_t = uniform(rng, 1.5, 2.5), uniform(rng, 0.4, 0.6), uniform(rng, 0.4, 0.6)
    action = (2 + (raise_t + waves / freq + lower_t) * FPS + 3) / FPS
    return {
        "side": str(rng.choice(["left", "right"])),
        "waves": waves,
        "frequency": freq,
        "abduction": uniform(rng, 1.9, 2.2),
        "elbow": uniform(rng, 1.4, 1.7),
        "amplitude": uniform(rng, 0.3, 0.5),
        "raise_time": raise_t,
        "lower_time": lower_t,
        "_frames": frame_range(action, action + uniform(rng, 0, 0.5), action + 1.5),
    }


def build_wave(body: Body, p: dict, n: int) -> tuple[Segment, dict]:
    """A wave of n frames: the arm rises, the forearm swings about the raised elbow, it lowers."""
    side = LEFT if p["side"] == "left" else RIGHT
    r, w, lo = p["raise_time"] * FPS, p["waves"] / p["frequency"] * FPS, p["lower_time"] * FPS
    keys = [2, 2 + r, 2 + r + w, 2 + r + w + lo]
    up = keyframes(keys, [0, 1, 1, 0], n)
    t = np.arange(n) - keys[1]
    # the forearm swings side to side about the raised elbow, faded in and out
    env = minjerk(t / 3) * minjerk((keys[2] - np.arange(n)) / 3)
    wave = p["amplitude"] * np.sin(2 * np.pi * p["frequency"] * t / FPS) * env
    seg = Segment.hold(body, n)
    set_arm(
        seg.upper,
        side,
        flex=0.08 + 0.17 * up,
        abd=0.12 + (p["abduction"] - 0.12) * up,
        twist=np.pi / 2 * up,
        elbow=0.2 + (p["elbow"] - 0.2) * up + wave,
    )
    seg.upper[:, NECK, 1] = SIDE[side] * 0.12 * up  # looks towards whoever is greeted
    return seg, {}


_RAISE_POSES = {  # (flex, abduction, elbow) in radians
    "up": (2.9, 0.2, 0.1),
    "forward": (1.55, 0.05, 0.1),
    "sideways": (0.1, 1.55, 0.1),
}


def sample_raise_arms(rng: np.random.Generator) -> dict:
    """Parameters of raising arms: which (left, right, both), style (up, forward,
    sideways), raise, hold and lower times (s) and the frame range."""
    raise_t, hold, lower_t = uniform(rng, 0.5, 0.9), uniform(rng, 0.4, 1.5), uniform(rng, 0.5, 0.9)
    action = (2 + (raise_t + hold + lower_t) * FPS + 3) / FPS
    return {
        "arms": str(rng.choice(["left", "right", "both"], p=[0.3, 0.3, 0.4])),
        "style": str(rng.choice(list(_RAISE_POSES))),
        "raise_time": raise_t,
        "hold_time": hold,
        "lower_time": lower_t,
        "_frames": frame_range(action, action + uniform(rng, 0, 0.4), action + 1.5),
    }


def build_raise_arms(body: Body, p: dict, n: int) -> tuple[Segment, dict]:
    """n frames of one or both arms raised to a pose, held, and lowered."""
    r, h, lo = p["raise_time"] * FPS, p["hold_time"] * FPS, p["lower_time"] * FPS
    up = keyframes([2, 2 + r, 2 + r + h, 2 + r + h + lo], [0, 1, 1, 0], n)
    flex, abd, elbow = _RAISE_POSES[p["style"]]
    seg = Segment.hold(body, n)
    sides = (LEFT, RIGHT) if p["arms"] == "both" else ((LEFT,) if p["arms"] == "left" else (RIGHT,))
    for side in sides:
        set_arm(
            seg.upper,
            side,
            flex=0.08 + (flex - 0.08) * up,
            abd=0.12 + (abd - 0.12) * up,
            elbow=0.2 + (elbow - 0.2) * up,
        )
        if p["style"] == "up":  # the shoulder girdle lifts with an arm overhead
            seg.upper[:, COLLARS[side], 2] = SIDE[side] * 0.2 * up
    return seg, {}


def sample_clap(rng: np.random.Generator) -> dict:
    """Parameters of clapping: claps, frequency (Hz), hand height and reach (m, in the chest
    frame) and the frame range."""
    claps = int(rng.integers(2, 7))
    freq = uniform(rng, 1.6, 2.6)
    action = (2 + 0.45 * FPS * 2 + claps / freq * FPS + 3) / FPS
    return {
        "claps": claps,
        "frequency": freq,
        "height": uniform(rng, -0.02, 0.12),
        "reach": uniform(rng, 0.28, 0.36),
        "_frames": frame_range(action, action + uniform(rng, 0, 0.5), action + 1.5),
    }


def build_clap(body: Body, p: dict, n: int) -> tuple[Segment, dict]:
    """n frames of clapping: both arms reach by IK for hands meeting in front of the chest."""
    r = 0.45 * FPS
    t_clap = p["claps"] / p["frequency"] * FPS
    t = np.arange(n) - (2 + r)
    phase = np.clip(t, 0, t_clap) / FPS
    gap = 0.07 + 0.3 * (0.5 + 0.5 * np.cos(2 * np.pi * p["frequency"] * phase))
    centre = np.array([0.0, p["height"], p["reach"]])  # in the chest (spine3) frame
    seg = Segment.hold(body, n)
    for side in (LEFT, RIGHT):
        # with the collar at rest the shoulder's frame is the chest's: IK directly in it
        shoulder = REST_OFFSETS[COLLARS[side]] + REST_OFFSETS[SHOULDERS[side]]
        wrist = centre + np.outer(SIDE[side] * gap / 2, [1.0, 0, 0])
        pole = torch.tensor([SIDE[side] * 0.5, -1.0, -0.6], dtype=torch.float64)
        r1, r2 = two_bone_ik(
            as_tensor(shoulder),
            as_tensor(wrist),
            as_tensor(REST_OFFSETS[ELBOWS[side], 1]).abs(),
            as_tensor(REST_OFFSETS[WRISTS[side], 1]).abs(),
            pole,
        )
        rv = np.stack(
            [
                roma.rotmat_to_rotvec(r1).numpy(),
                roma.rotmat_to_rotvec(r1.transpose(-1, -2) @ r2).numpy(),
            ],
            1,
        )
        w = minjerk((np.arange(n) - 2) / r) * minjerk((2 + 2 * r + t_clap - np.arange(n)) / r)
        joints = [SHOULDERS[side], ELBOWS[side]]
        seg.upper[:, joints] = slerp_rotvec(seg.upper[:, joints], rv, np.repeat(w[:, None], 2, 1))
    return seg, {}
