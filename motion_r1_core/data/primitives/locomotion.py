"""Locomotion primitives: walk and run (the gait engine), turn and spin, sidestep.

The feet lead: each builder plans footsteps (`Swing`s) that stay planted between swings, and the
pelvis path follows them. Conventions as in `body.py`: y up, facing +z at yaw 0, +x is the
body's left.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from motion_r1_core.data.body import (
    CHEST,
    FOOT_HALF_WIDTH,
    FPS,
    LEFT,
    NECK,
    RIGHT,
    SIDE,
    STAND_HEIGHT,
    Body,
    Segment,
    Swing,
    feet_from_swings,
    forward_dir,
    keyframes,
    left_dir,
    on_ground,
    set_arm,
    value_at,
)
from motion_r1_core.data.primitives.sampling import frame_range, uniform


# ------------------------------------------------------------------ walk / run (gait engine)
def sample_locomotion(rng: np.random.Generator, kind: str) -> dict:
    """Parameters of a walk or run (`kind`): direction, curve, speed (m/s), step time (s),
    lead foot and the frame range."""
    run = kind == "run"
    direction = str(rng.choice(["forward", "backward"], p=[0.85, 0.15] if run else [0.7, 0.3]))
    back = direction == "backward"
    curve = "none" if back else str(rng.choice(["none", "left", "right"], p=[0.6, 0.2, 0.2]))
    if run:
        speed = uniform(rng, 1.3, 1.8) if back else uniform(rng, 2.2, 3.2)
        step = uniform(rng, 0.55, 0.75) if back else uniform(rng, 0.9, 1.25)
        step_time = float(np.clip(step / speed, 0.3, 0.42))
    else:
        speed = uniform(rng, 0.5, 0.85) if back else uniform(rng, 0.9, 1.5)
        step = uniform(rng, 0.35, 0.5) if back else uniform(rng, 0.55, 0.78)
        step_time = float(np.clip(step / speed, 0.42, 0.68))
    p = {
        "direction": direction,
        "curve": curve,
        "speed": speed,
        "step_time": round(step_time, 3),
        "lead_foot": str(rng.choice(["left", "right"])),
    }
    if curve != "none":
        p["curve_deg"] = uniform(rng, 60, 180)
    p["_frames"] = frame_range(1.6, uniform(rng, 1.8, 3.5) if run else uniform(rng, 2.2, 5.0), 7.0)
    return p


def build_locomotion(body: Body, p: dict, n: int, run: bool) -> tuple[Segment, dict]:
    """A walk or run of n frames (the gait engine): footsteps first, the pelvis over them.

    Derived: distance (m), steps, step length (m) and, on a curve, the turn (deg)."""
    tau = p["step_time"] * FPS  # frames per step
    swing = (1.3 if run else 0.8) * tau  # a running foot swings longer than a step: flight
    t0, settle = 2.0, 4.0
    steps = max(2, int((n - 1 - settle - t0 - swing) // tau) + 1)
    t_land = t0 + (steps - 1) * tau + swing
    t = np.arange(n, dtype=float)
    stance = 2 * tau - swing
    length = p["speed"] * p["step_time"]
    # Footsteps first: step i lands `dist[i]` along the path, the first ones shorter (gait
    # initiation); the pelvis passes over each foot at its mid-stance, so stride length =
    # speed x cycle time. To stop, a shorter braking step lands where the pelvis comes to rest
    # when the closing step puts the other foot beside it.
    mids = [t0 + i * tau + swing + stance / 2 for i in range(steps - 2)]
    dist = list(np.cumsum([length * min(1.0, 0.5 + 0.35 * i) for i in range(steps - 2)]))
    s_end = (dist[-1] if dist else 0.0) + (0.7 if run else 0.8) * length * min(1, len(dist))
    s_end = max(s_end, 0.5 * length)
    t_stop = min(t_land, n - 2.0)
    s = keyframes([0, t0, *mids, t_stop, t_stop + 1], [0, 0, *dist, s_end, s_end], n)
    profile = np.clip(np.gradient(s) * FPS / p["speed"], 0, 1)
    turn = 0.0
    if p["curve"] != "none":
        turn = np.radians(p["curve_deg"]) * (1 if p["curve"] == "left" else -1)
    yaw = body.yaw + turn * s / s_end
    heading = yaw + (np.pi if p["direction"] == "backward" else 0.0)
    mid = (heading[1:] + heading[:-1]) / 2
    xz = body.xz + np.concatenate(
        [[[0.0, 0.0]], np.cumsum(np.diff(s)[:, None] * forward_dir(mid), 0)]
    )
    lead = LEFT if p["lead_foot"] == "left" else RIGHT
    swings = []
    for i in range(steps):
        foot = lead if i % 2 == 0 else 1 - lead
        start = t0 + i * tau
        t_mid = n - 1 if i >= steps - 2 else mids[i]
        y = float(value_at(yaw, t_mid))
        to = on_ground(value_at(xz, t_mid) + SIDE[foot] * FOOT_HALF_WIDTH * left_dir(y))
        swings.append(
            Swing(
                foot,
                start,
                start + swing,
                to,
                y,
                lift=0.2 if run else 0.07,
                toe=0.6 if run else 0.4,
                skew=0.7 if run else 1.0,
            )
        )
    feet, foot_yaw, pitch = feet_from_swings(body, n, swings)
    seg = Segment.hold(body, n)
    seg.xz, seg.yaw, seg.feet, seg.foot_yaw, seg.foot_pitch = xz, yaw, feet, foot_yaw, pitch
    if run:
        m0 = t0 + swing + stance / 2
        seg.height = STAND_HEIGHT - profile * (0.035 + 0.03 * np.cos(2 * np.pi * (t - m0) / tau))
    else:
        seg.height = STAND_HEIGHT - 0.01 * profile
    # arms swing against the legs: the left arm is forward when the right foot is ahead
    ahead = np.einsum("tc,tc->t", feet[:, RIGHT, [0, 2]] - feet[:, LEFT, [0, 2]], forward_dir(yaw))
    ahead = np.clip(ahead / max(p["speed"] * p["step_time"], 0.2), -1, 1)
    amp = 0.7 if run else 0.35
    lean = {True: 0.15, False: 0.05}[run] * (-0.5 if p["direction"] == "backward" else 1.0)
    seg.tilt[:, 0] = lean * profile
    seg.tilt[:, 1] = 0.12 * amp * ahead  # the hip of the forward leg leads
    seg.upper[:, CHEST, 1] = -0.25 * amp * ahead  # shoulders counter-rotate
    seg.upper[:, NECK, 0] = -lean * profile  # keep the gaze level
    elbow = 0.2 + (1.2 if run else 0.15) * profile
    abd = 0.12 + (0.1 if run else 0.0) * profile
    set_arm(seg.upper, LEFT, flex=amp * ahead, abd=abd, elbow=elbow)
    set_arm(seg.upper, RIGHT, flex=-amp * ahead, abd=abd, elbow=elbow)
    derived = {
        "distance_m": round(float(s_end), 3),
        "steps": steps,
        "step_length_m": round(p["speed"] * p["step_time"], 3),
    }
    if turn:
        derived["turn_deg"] = round(float(np.degrees(turn)), 1)
    return seg, derived


# ------------------------------------------------------------------------------ turn / spin
def sample_turn(rng: np.random.Generator) -> dict:
    """Parameters of a turn on the spot: side, angle (deg, 45..180), step time (s), frames."""
    angle = uniform(rng, 45, 180)
    step_time = uniform(rng, 0.3, 0.42)
    k = int(np.ceil(angle / 45)) + 1
    action = (2 + (k - 1) * step_time * FPS + 0.8 * step_time * FPS + 4) / FPS
    return {
        "side": str(rng.choice(["left", "right"])),
        "angle_deg": angle,
        "step_time": step_time,
        "_frames": frame_range(action, action + uniform(rng, 0, 0.5), 4.5),
    }


def sample_spin(rng: np.random.Generator) -> dict:
    """Parameters of a full spin: direction (counter/clockwise), 360 deg, step time (s), frames."""
    step_time = uniform(rng, 0.2, 0.27)
    action = (2 + 8 * step_time * FPS + 0.8 * step_time * FPS + 4) / FPS
    return {
        "direction": str(rng.choice(["counterclockwise", "clockwise"])),
        "angle_deg": 360.0,
        "step_time": step_time,
        "_frames": frame_range(action, action + uniform(rng, 0, 0.4), 5.0),
    }


def build_turn(body: Body, p: dict, n: int) -> tuple[Segment, dict]:
    """A turn or spin of n frames: the feet step round (at most 45 deg a step), the pelvis faces
    their mean heading. Derived: the turn (deg) and the steps."""
    sign = 1.0 if p.get("side", p.get("direction")) in ("left", "counterclockwise") else -1.0
    theta = sign * np.radians(p["angle_deg"])
    tau = p["step_time"] * FPS
    # at most 45 degrees per step keeps the planted foot within the hip's twist range
    k = int(np.ceil(abs(np.degrees(theta)) / 45 - 1e-6)) + 1
    lead = LEFT if sign > 0 else RIGHT  # open the turn with the foot on the turning side
    swings = []
    for j in range(k):
        foot = lead if j % 2 == 0 else 1 - lead
        y = body.yaw + theta * min(1.0, (j + 1) / (k - 1))
        to = on_ground(body.xz + SIDE[foot] * FOOT_HALF_WIDTH * left_dir(y))
        swings.append(Swing(foot, 2 + j * tau, 2 + j * tau + 0.8 * tau, to, y, lift=0.06, toe=0.2))
    seg = Segment.hold(body, n)
    seg.feet, seg.foot_yaw, seg.foot_pitch = feet_from_swings(body, n, swings)
    # the pelvis faces the mean of the feet, a little smoothed: never twisted far from either
    mean = seg.foot_yaw.mean(1)
    seg.yaw = body.yaw + gaussian_filter1d(mean - mean[0], 1.5, mode="nearest")
    progress = (seg.yaw - body.yaw) / theta
    seg.height = np.full(n, STAND_HEIGHT - 0.02)
    seg.upper[:, NECK, 1] = sign * 0.3 * np.sin(np.pi * np.clip(progress, 0, 1))  # head leads
    if p.get("direction"):  # spinning: arms float out
        out = 0.12 + 0.35 * np.sin(np.pi * np.clip(progress, 0, 1))
        for side in (LEFT, RIGHT):
            set_arm(seg.upper, side, flex=0.1, abd=out, elbow=0.4)
    return seg, {"turn_deg": round(float(np.degrees(seg.yaw[-1] - body.yaw)), 1), "steps": k}


# -------------------------------------------------------------------------------- sidestep
def sample_sidestep(rng: np.random.Generator) -> dict:
    """Parameters of side steps: side, steps, step width (m), step time (s), frame range."""
    count = int(rng.choice([1, 2, 3, 4], p=[0.25, 0.35, 0.25, 0.15]))
    step_time = uniform(rng, 0.5, 0.75)
    action = (2 + count * step_time * FPS + 4) / FPS
    return {
        "side": str(rng.choice(["left", "right"])),
        "steps": count,
        "step_width": uniform(rng, 0.25, 0.45),
        "step_time": step_time,
        "_frames": frame_range(action, action + uniform(rng, 0, 0.5), action + 1.5),
    }


def build_sidestep(body: Body, p: dict, n: int) -> tuple[Segment, dict]:
    """n frames of side steps: the lead foot steps out, the other closes. Derived: distance (m)."""
    lead = LEFT if p["side"] == "left" else RIGHT
    out = SIDE[lead] * left_dir(body.yaw)
    tau = p["step_time"] * FPS
    swings, lead_pos = [], body.feet[lead, [0, 2]]
    for i in range(p["steps"]):
        start = 2 + i * tau
        lead_pos = lead_pos + p["step_width"] * out
        trail = lead_pos - 2 * FOOT_HALF_WIDTH * out
        swings += [
            Swing(lead, start, start + 0.42 * tau, on_ground(lead_pos), body.yaw, 0.06, 0.1),
            Swing(
                1 - lead,
                start + 0.5 * tau,
                start + 0.92 * tau,
                on_ground(trail),
                body.yaw,
                0.06,
                0.1,
            ),
        ]
    seg = Segment.hold(body, n)
    seg.feet, seg.foot_yaw, seg.foot_pitch = feet_from_swings(body, n, swings)
    centre = seg.feet[:, :, [0, 2]].mean(1)
    seg.xz = body.xz + gaussian_filter1d(centre - centre[0], 2.0, axis=0, mode="nearest")
    seg.height = np.full(n, STAND_HEIGHT - 0.03)
    return seg, {"distance_m": round(p["steps"] * p["step_width"], 3)}
