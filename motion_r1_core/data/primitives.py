"""Parameterised action primitives on the 22-joint HumanML3D skeleton, and their assembly.

A primitive turns a few parameters (speed, side, angle, count, ...) into a `Segment` of the body
model (`body.py`). `build_motion` chains segments (each starts from the body state the previous
one left: position, heading, planted feet), cross-fades the pose channels at the joins, lowers the
pelvis where the legs cannot reach their feet, and solves the legs by two-bone IK before forward
kinematics. Conventions as in `body.py`: y up, facing +z at yaw 0, +x is the body's left.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import roma
import torch
from scipy.ndimage import gaussian_filter1d

from motion_r1_core.data.body import (
    ANKLE_HEIGHT,
    ANKLES,
    ELBOWS,
    FOOT,
    FOOT_DROP,
    FOOT_HALF_WIDTH,
    FPS,
    GRAVITY,
    HIPS,
    KNEES,
    LEFT,
    NEUTRAL_UPPER,
    REACH,
    REST_OFFSETS,
    RIGHT,
    SEATED_LEAN,
    SEATED_UPPER,
    SHIN,
    SHOULDERS,
    SIDE,
    STAND_HEIGHT,
    THIGH,
    TOE_RISE,
    UPPER,
    WRISTS,
    Body,
    Segment,
    Swing,
    as_tensor,
    feet_from_swings,
    forward_dir,
    forward_kinematics,
    hermite,
    keyframes,
    left_dir,
    minjerk,
    on_ground,
    seated_body,
    set_arm,
    slerp_rotvec,
    standing_body,
    two_bone_ik,
    value_at,
)
from motion_r1_core.skeleton import HUMANML3D

# --------------------------------------------------------------------------------- primitives
# Each primitive has `sample(rng) -> params` (with "_frames": (min, nominal, max)) and
# `build(body, params, n) -> (segment, derived params)`; `derived` adds measured values
# (distance, angle) to the parameters reported in the decomposition.


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return round(float(rng.uniform(lo, hi)), 3)


def _frames(lo_s: float, nominal_s: float, hi_s: float) -> tuple[int, int, int]:
    lo = int(np.ceil(lo_s * FPS))
    return lo, max(lo, round(nominal_s * FPS)), max(lo, int(hi_s * FPS))


# ------------------------------------------------------------------ walk / run (gait engine)
def _sample_locomotion(rng: np.random.Generator, kind: str) -> dict:
    run = kind == "run"
    direction = str(rng.choice(["forward", "backward"], p=[0.85, 0.15] if run else [0.7, 0.3]))
    back = direction == "backward"
    curve = "none" if back else str(rng.choice(["none", "left", "right"], p=[0.6, 0.2, 0.2]))
    if run:
        speed = _u(rng, 1.3, 1.8) if back else _u(rng, 2.2, 3.2)
        step = _u(rng, 0.55, 0.75) if back else _u(rng, 0.9, 1.25)
        step_time = float(np.clip(step / speed, 0.3, 0.42))
    else:
        speed = _u(rng, 0.5, 0.85) if back else _u(rng, 0.9, 1.5)
        step = _u(rng, 0.35, 0.5) if back else _u(rng, 0.55, 0.78)
        step_time = float(np.clip(step / speed, 0.42, 0.68))
    p = {"direction": direction, "curve": curve, "speed": speed,
         "step_time": round(step_time, 3), "lead_foot": str(rng.choice(["left", "right"]))}
    if curve != "none":
        p["curve_deg"] = _u(rng, 60, 180)
    p["_frames"] = _frames(1.6, _u(rng, 1.8, 3.5) if run else _u(rng, 2.2, 5.0), 7.0)
    return p


def _build_locomotion(body: Body, p: dict, n: int, run: bool) -> tuple[Segment, dict]:
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
    xz = body.xz + np.concatenate([[[0.0, 0.0]],
                                   np.cumsum(np.diff(s)[:, None] * forward_dir(mid), 0)])
    lead = LEFT if p["lead_foot"] == "left" else RIGHT
    swings = []
    for i in range(steps):
        foot = lead if i % 2 == 0 else 1 - lead
        start = t0 + i * tau
        t_mid = n - 1 if i >= steps - 2 else mids[i]
        y = float(value_at(yaw, t_mid))
        to = on_ground(value_at(xz, t_mid) + SIDE[foot] * FOOT_HALF_WIDTH * left_dir(y))
        swings.append(Swing(foot, start, start + swing, to, y,
                            lift=0.2 if run else 0.07, toe=0.6 if run else 0.4,
                            skew=0.7 if run else 1.0))
    feet, foot_yaw, pitch = feet_from_swings(body, n, swings)
    seg = Segment.hold(body, n)
    seg.xz, seg.yaw, seg.feet, seg.foot_yaw, seg.foot_pitch = xz, yaw, feet, foot_yaw, pitch
    if run:
        m0 = t0 + swing + stance / 2
        seg.height = STAND_HEIGHT - profile * (0.035 + 0.03 * np.cos(2 * np.pi * (t - m0) / tau))
    else:
        seg.height = STAND_HEIGHT - 0.01 * profile
    # arms swing against the legs: the left arm is forward when the right foot is ahead
    ahead = np.einsum("tc,tc->t", feet[:, RIGHT, [0, 2]] - feet[:, LEFT, [0, 2]],
                      forward_dir(yaw))
    ahead = np.clip(ahead / max(p["speed"] * p["step_time"], 0.2), -1, 1)
    amp = 0.7 if run else 0.35
    lean = {True: 0.15, False: 0.05}[run] * (-0.5 if p["direction"] == "backward" else 1.0)
    seg.tilt[:, 0] = lean * profile
    seg.tilt[:, 1] = 0.12 * amp * ahead  # the hip of the forward leg leads
    seg.upper[:, 9, 1] = -0.25 * amp * ahead  # shoulders counter-rotate
    seg.upper[:, 12, 0] = -lean * profile  # keep the gaze level
    elbow = 0.2 + (1.2 if run else 0.15) * profile
    abd = 0.12 + (0.1 if run else 0.0) * profile
    set_arm(seg.upper, LEFT, flex=amp * ahead, abd=abd, elbow=elbow)
    set_arm(seg.upper, RIGHT, flex=-amp * ahead, abd=abd, elbow=elbow)
    derived = {"distance_m": round(float(s_end), 3), "steps": steps,
               "step_length_m": round(p["speed"] * p["step_time"], 3)}
    if turn:
        derived["turn_deg"] = round(float(np.degrees(turn)), 1)
    return seg, derived


# ------------------------------------------------------------------------------ turn / spin
def _sample_turn(rng: np.random.Generator) -> dict:
    angle = _u(rng, 45, 180)
    step_time = _u(rng, 0.3, 0.42)
    k = int(np.ceil(angle / 45)) + 1
    action = (2 + (k - 1) * step_time * FPS + 0.8 * step_time * FPS + 4) / FPS
    return {"side": str(rng.choice(["left", "right"])), "angle_deg": angle,
            "step_time": step_time, "_frames": _frames(action, action + _u(rng, 0, 0.5), 4.5)}


def _sample_spin(rng: np.random.Generator) -> dict:
    step_time = _u(rng, 0.2, 0.27)
    action = (2 + 8 * step_time * FPS + 0.8 * step_time * FPS + 4) / FPS
    return {"direction": str(rng.choice(["counterclockwise", "clockwise"])), "angle_deg": 360.0,
            "step_time": step_time, "_frames": _frames(action, action + _u(rng, 0, 0.4), 5.0)}


def _build_turn(body: Body, p: dict, n: int) -> tuple[Segment, dict]:
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
    seg.upper[:, 12, 1] = sign * 0.3 * np.sin(np.pi * np.clip(progress, 0, 1))  # head leads
    if p.get("direction"):  # spinning: arms float out
        out = 0.12 + 0.35 * np.sin(np.pi * np.clip(progress, 0, 1))
        for side in (LEFT, RIGHT):
            set_arm(seg.upper, side, flex=0.1, abd=out, elbow=0.4)
    return seg, {"turn_deg": round(float(np.degrees(seg.yaw[-1] - body.yaw)), 1), "steps": k}


# -------------------------------------------------------------------------------- sidestep
def _sample_sidestep(rng: np.random.Generator) -> dict:
    count = int(rng.choice([1, 2, 3, 4], p=[0.25, 0.35, 0.25, 0.15]))
    step_time = _u(rng, 0.5, 0.75)
    action = (2 + count * step_time * FPS + 4) / FPS
    return {"side": str(rng.choice(["left", "right"])), "steps": count,
            "step_width": _u(rng, 0.25, 0.45), "step_time": step_time,
            "_frames": _frames(action, action + _u(rng, 0, 0.5), action + 1.5)}


def _build_sidestep(body: Body, p: dict, n: int) -> tuple[Segment, dict]:
    lead = LEFT if p["side"] == "left" else RIGHT
    out = SIDE[lead] * left_dir(body.yaw)
    tau = p["step_time"] * FPS
    swings, lead_pos = [], body.feet[lead, [0, 2]]
    for i in range(p["steps"]):
        start = 2 + i * tau
        lead_pos = lead_pos + p["step_width"] * out
        trail = lead_pos - 2 * FOOT_HALF_WIDTH * out
        swings += [Swing(lead, start, start + 0.42 * tau, on_ground(lead_pos), body.yaw, 0.06, 0.1),
                   Swing(1 - lead, start + 0.5 * tau, start + 0.92 * tau, on_ground(trail),
                         body.yaw, 0.06, 0.1)]
    seg = Segment.hold(body, n)
    seg.feet, seg.foot_yaw, seg.foot_pitch = feet_from_swings(body, n, swings)
    centre = seg.feet[:, :, [0, 2]].mean(1)
    seg.xz = body.xz + gaussian_filter1d(centre - centre[0], 2.0, axis=0, mode="nearest")
    seg.height = np.full(n, STAND_HEIGHT - 0.03)
    return seg, {"distance_m": round(p["steps"] * p["step_width"], 3)}


# ------------------------------------------------------------------------------------ jump
def _jump_timing(p: dict) -> tuple[float, float, float, float, float]:
    crouch, push, land, recover = 0.35 * FPS, 0.2 * FPS, 0.2 * FPS, 0.45 * FPS
    flight = 2 * np.sqrt(2 * p["rise"] / GRAVITY) * FPS
    return crouch, push, flight, land, recover


def _sample_jump(rng: np.random.Generator) -> dict:
    forward = rng.random() < 0.45
    count = int(rng.choice([1, 2], p=[0.7, 0.3]) if forward else rng.choice([1, 2, 3],
                                                                             p=[0.5, 0.3, 0.2]))
    p = {"mode": "forward" if forward else "in_place", "count": count, "rise": _u(rng, 0.12, 0.3),
         "crouch": _u(rng, 0.12, 0.22), "distance": _u(rng, 0.4, 1.0) if forward else 0.0}
    crouch, push, flight, land, recover = _jump_timing(p)
    action = (2 + crouch + count * (push + flight + land) + recover) / FPS
    p["_frames"] = _frames(action, action + _u(rng, 0, 0.4), action + 1.5)
    return p


def _build_jump(body: Body, p: dict, n: int) -> tuple[Segment, dict]:
    crouch, push, flight, land, recover = _jump_timing(p)
    h_ext = STAND_HEIGHT + 0.04  # legs extended on the toes at take-off
    v0 = np.sqrt(2 * GRAVITY * p["rise"]) / FPS  # m per frame
    fwd = forward_dir(body.yaw)
    dist, c = p["distance"], p["crouch"]
    a = 0.1 * min(1.0, dist / 0.5)  # pelvis ahead of the feet at take-off (and behind at landing)
    vx = (dist - 2 * a) / flight
    t = 2 + crouch
    th, hh, sh = [0, 2, t], [STAND_HEIGHT] * 2 + [STAND_HEIGHT - c], [0.0] * 3
    xh, sx = [0, 0, -0.03], [0.0] * 3
    arm_t, arm_v = [0, 2, t], [0.08, 0.08, -0.6]
    lean_v = [0, 0, 0.35]
    flights = []
    for j in range(p["count"]):
        base = j * dist
        take, touch = t + push, t + push + flight
        low = touch + land
        th += [take, touch, low]
        hh += [h_ext, h_ext, STAND_HEIGHT - 0.75 * c]
        sh += [v0, -v0, 0.0]
        xh += [base + a, base + dist - a, base + dist]
        sx += [vx, vx, 0.0]
        last = j == p["count"] - 1
        arm_t += [take, take + flight / 2, touch, low]
        arm_v += [1.5, 1.9, 0.9, 0.3 if last else -0.5]
        lean_v += [0.1, 0.05, 0.1, 0.3]
        flights.append((t, take, touch, base))
        t = low
    th.append(min(t + recover, n - 1.0))
    hh.append(STAND_HEIGHT)
    sh.append(0.0)
    xh.append(p["count"] * dist)
    sx.append(0.0)
    lean_t = [*arm_t, th[-1]]
    arm_t, arm_v = [*arm_t, th[-1]], [*arm_v, 0.08]
    lean_v = [*lean_v, 0.0]
    seg = Segment.hold(body, n)
    seg.height = hermite(th, hh, sh, n)
    seg.xz = body.xz + hermite(th, xh, sx, n)[:, None] * fwd
    # feet: planted, up onto the toes during the push, carried through the flight, then down
    frames = np.arange(n, dtype=float)
    rise, shift, lift = np.zeros(n), np.zeros(n), np.zeros(n)
    for start, take, touch, base in flights:
        rise = np.maximum(rise, np.interp(frames, [start, take, touch, touch + 2],
                                          [0, TOE_RISE, TOE_RISE, 0], left=0, right=0))
        s = np.clip((frames - take) / (touch - take), 0, 1)
        in_air = (frames > take) & (frames < touch)
        lift[in_air] = (seg.height[in_air] - h_ext) + 0.12 * np.sin(np.pi * s[in_air])
        shift = np.where(frames >= take, base + dist * minjerk(s), shift)
    # rising onto the toes pivots the foot about them: it pitches down and the ankle moves
    # towards the toes as it goes up
    pitch = np.arcsin(np.sin(FOOT_DROP) + rise / FOOT) - FOOT_DROP
    ahead = FOOT * (np.cos(FOOT_DROP) - np.cos(FOOT_DROP + pitch))
    for foot in (LEFT, RIGHT):
        xz_f = body.feet[foot, [0, 2]] + (shift + ahead)[:, None] * fwd
        seg.feet[:, foot] = on_ground(xz_f, body.feet[foot, 1] + rise + lift)
    seg.foot_pitch[:] = pitch[:, None]
    seg.tilt[:, 0] = keyframes(lean_t, lean_v, n)
    seg.upper[:, 12, 0] = -0.5 * seg.tilt[:, 0]
    flex = keyframes(arm_t, arm_v, n)
    for side in (LEFT, RIGHT):
        set_arm(seg.upper, side, flex=flex, abd=0.15, elbow=0.35)
    return seg, {"distance_m": round(p["count"] * dist, 3), "flight_s": round(flight / FPS, 3)}


# ----------------------------------------------------------------------------------- squat
def _sample_squat(rng: np.random.Generator) -> dict:
    reps = int(rng.choice([1, 2, 3], p=[0.5, 0.3, 0.2]))
    rep_time = _u(rng, 1.3, 2.0)
    action = (2 + reps * rep_time * FPS + 4) / FPS
    return {"reps": reps, "depth": _u(rng, 0.25, 0.45), "rep_time": rep_time,
            "arms_forward": bool(rng.random() < 0.6),
            "_frames": _frames(action, action + _u(rng, 0, 0.4), action + 1.5)}


def _reps_profile(n: int, start: float, reps: int, rep: float, hold: float = 0.1) -> np.ndarray:
    """0 -> 1 -> 0 bumps, `reps` times from `start`, each `rep` frames with a hold at the bottom."""
    u = (np.arange(n) - start) / rep
    inside = (u >= 0) & (u < reps)
    f = np.where(inside, u % 1.0, 0.0)
    half = (1 - hold) / 2
    return np.where(inside, minjerk(f / half) * minjerk((1 - f) / half), 0.0)


def _build_squat(body: Body, p: dict, n: int) -> tuple[Segment, dict]:
    s = _reps_profile(n, 2, p["reps"], p["rep_time"] * FPS)
    seg = Segment.hold(body, n)
    seg.height = STAND_HEIGHT - p["depth"] * s
    seg.xz = body.xz - (0.45 * p["depth"] * s)[:, None] * forward_dir(body.yaw)
    seg.tilt[:, 0] = (0.3 + 0.7 * p["depth"]) * s
    seg.upper[:, 12, 0] = -0.5 * seg.tilt[:, 0]
    flex = 0.08 + (1.4 if p["arms_forward"] else 0.25) * s
    for side in (LEFT, RIGHT):
        set_arm(seg.upper, side, flex=flex, abd=0.12, elbow=0.2)
    return seg, {}


# ------------------------------------------------------------------------------------ kick
def _sample_kick(rng: np.random.Generator) -> dict:
    duration = _u(rng, 1.0, 1.5)
    action = duration + 6 / FPS
    return {"side": str(rng.choice(["left", "right"])), "height": _u(rng, 0.35, 0.85),
            "extension": _u(rng, 0.9, 0.97), "duration": duration,
            "_frames": _frames(action, action + _u(rng, 0, 0.4), action + 1.5)}


def _build_kick(body: Body, p: dict, n: int) -> tuple[Segment, dict]:
    foot = LEFT if p["side"] == "left" else RIGHT
    stance = 1 - foot
    fwd = forward_dir(body.yaw)
    legs = THIGH[foot] + SHIN[foot]
    hip_y = STAND_HEIGHT - 0.02 - abs(REST_OFFSETS[HIPS[foot], 1])
    reach = min(p["extension"] * legs, legs * 0.97)
    apex = np.sqrt(max(reach**2 - (hip_y - p["height"]) ** 2, 0.01))
    d = p["duration"] * FPS
    keys = [2, 2 + 0.2 * d, 2 + 0.38 * d, 2 + 0.52 * d, 2 + 0.68 * d, 2 + 0.85 * d, 2 + d]
    ahead = keyframes(keys, [0, 0, -0.05, apex, 0.15, 0, 0], n)
    up = keyframes(keys, [0, 0, 0.25, p["height"] - ANKLE_HEIGHT, 0.22, 0, 0], n)
    shift = keyframes(keys, [0, 1, 1, 1, 1, 1, 0], n)
    seg = Segment.hold(body, n)
    # weight moves over the stance foot before the other leaves the ground
    seg.xz = body.xz + 0.45 * shift[:, None] * (body.feet[stance, [0, 2]] - body.xz)
    seg.feet[:, foot] = body.feet[foot] + on_ground(ahead[:, None] * fwd, up)
    seg.foot_pitch[:, foot] = keyframes(keys, [0, 0, 0.3, 0.35, 0.2, 0, 0], n)
    seg.height = STAND_HEIGHT - 0.02 * shift
    seg.tilt[:, 0] = keyframes(keys, [0, 0, -0.05, -0.15, -0.05, 0, 0], n)
    swing = keyframes(keys, [0, 0, 0.1, 1, 0.3, 0, 0], n)
    set_arm(seg.upper, stance, flex=0.08 + 0.5 * swing, abd=0.12 + 0.25 * shift, elbow=0.5)
    set_arm(seg.upper, foot, flex=0.08 - 0.3 * swing, abd=0.12 + 0.25 * shift, elbow=0.3)
    return seg, {"apex_forward_m": round(float(apex), 3)}


# ------------------------------------------------------------------------------------ arms
def _sample_wave(rng: np.random.Generator) -> dict:
    waves = int(rng.integers(2, 6))
    freq, raise_t, lower_t = _u(rng, 1.5, 2.5), _u(rng, 0.4, 0.6), _u(rng, 0.4, 0.6)
    action = (2 + (raise_t + waves / freq + lower_t) * FPS + 3) / FPS
    return {"side": str(rng.choice(["left", "right"])), "waves": waves, "frequency": freq,
            "abduction": _u(rng, 1.9, 2.2), "elbow": _u(rng, 1.4, 1.7),
            "amplitude": _u(rng, 0.3, 0.5), "raise_time": raise_t, "lower_time": lower_t,
            "_frames": _frames(action, action + _u(rng, 0, 0.5), action + 1.5)}


def _build_wave(body: Body, p: dict, n: int) -> tuple[Segment, dict]:
    side = LEFT if p["side"] == "left" else RIGHT
    r, w, lo = p["raise_time"] * FPS, p["waves"] / p["frequency"] * FPS, p["lower_time"] * FPS
    keys = [2, 2 + r, 2 + r + w, 2 + r + w + lo]
    up = keyframes(keys, [0, 1, 1, 0], n)
    t = np.arange(n) - keys[1]
    # the forearm swings side to side about the raised elbow, faded in and out
    env = minjerk(t / 3) * minjerk((keys[2] - np.arange(n)) / 3)
    wave = p["amplitude"] * np.sin(2 * np.pi * p["frequency"] * t / FPS) * env
    seg = Segment.hold(body, n)
    set_arm(seg.upper, side, flex=0.08 + 0.17 * up, abd=0.12 + (p["abduction"] - 0.12) * up,
            twist=np.pi / 2 * up, elbow=0.2 + (p["elbow"] - 0.2) * up + wave)
    seg.upper[:, 12, 1] = SIDE[side] * 0.12 * up  # looks towards whoever is greeted
    return seg, {}


_RAISE_POSES = {  # (flex, abduction, elbow) in radians
    "up": (2.9, 0.2, 0.1), "forward": (1.55, 0.05, 0.1), "sideways": (0.1, 1.55, 0.1)}


def _sample_raise_arms(rng: np.random.Generator) -> dict:
    raise_t, hold, lower_t = _u(rng, 0.5, 0.9), _u(rng, 0.4, 1.5), _u(rng, 0.5, 0.9)
    action = (2 + (raise_t + hold + lower_t) * FPS + 3) / FPS
    return {"arms": str(rng.choice(["left", "right", "both"], p=[0.3, 0.3, 0.4])),
            "style": str(rng.choice(list(_RAISE_POSES))), "raise_time": raise_t,
            "hold_time": hold, "lower_time": lower_t,
            "_frames": _frames(action, action + _u(rng, 0, 0.4), action + 1.5)}


def _build_raise_arms(body: Body, p: dict, n: int) -> tuple[Segment, dict]:
    r, h, lo = p["raise_time"] * FPS, p["hold_time"] * FPS, p["lower_time"] * FPS
    up = keyframes([2, 2 + r, 2 + r + h, 2 + r + h + lo], [0, 1, 1, 0], n)
    flex, abd, elbow = _RAISE_POSES[p["style"]]
    seg = Segment.hold(body, n)
    sides = (LEFT, RIGHT) if p["arms"] == "both" else ((LEFT,) if p["arms"] == "left" else (RIGHT,))
    for side in sides:
        set_arm(seg.upper, side, flex=0.08 + (flex - 0.08) * up, abd=0.12 + (abd - 0.12) * up,
                elbow=0.2 + (elbow - 0.2) * up)
        if p["style"] == "up":  # the shoulder girdle lifts with an arm overhead
            seg.upper[:, (13, 14)[side], 2] = SIDE[side] * 0.2 * up
    return seg, {}


def _sample_clap(rng: np.random.Generator) -> dict:
    claps = int(rng.integers(2, 7))
    freq = _u(rng, 1.6, 2.6)
    action = (2 + 0.45 * FPS * 2 + claps / freq * FPS + 3) / FPS
    return {"claps": claps, "frequency": freq, "height": _u(rng, -0.02, 0.12),
            "reach": _u(rng, 0.28, 0.36),
            "_frames": _frames(action, action + _u(rng, 0, 0.5), action + 1.5)}


def _build_clap(body: Body, p: dict, n: int) -> tuple[Segment, dict]:
    r = 0.45 * FPS
    t_clap = p["claps"] / p["frequency"] * FPS
    t = np.arange(n) - (2 + r)
    phase = np.clip(t, 0, t_clap) / FPS
    gap = 0.07 + 0.3 * (0.5 + 0.5 * np.cos(2 * np.pi * p["frequency"] * phase))
    centre = np.array([0.0, p["height"], p["reach"]])  # in the chest (spine3) frame
    seg = Segment.hold(body, n)
    for side in (LEFT, RIGHT):
        # with the collar at rest the shoulder's frame is the chest's: IK directly in it
        shoulder = REST_OFFSETS[(13, 14)[side]] + REST_OFFSETS[SHOULDERS[side]]
        wrist = centre + np.outer(SIDE[side] * gap / 2, [1.0, 0, 0])
        pole = torch.tensor([SIDE[side] * 0.5, -1.0, -0.6], dtype=torch.float64)
        r1, r2 = two_bone_ik(as_tensor(shoulder), as_tensor(wrist),
                             as_tensor(REST_OFFSETS[ELBOWS[side], 1]).abs(),
                             as_tensor(REST_OFFSETS[WRISTS[side], 1]).abs(), pole)
        rv = np.stack([roma.rotmat_to_rotvec(r1).numpy(),
                       roma.rotmat_to_rotvec(r1.transpose(-1, -2) @ r2).numpy()], 1)
        w = minjerk((np.arange(n) - 2) / r) * minjerk((2 + 2 * r + t_clap - np.arange(n)) / r)
        joints = [SHOULDERS[side], ELBOWS[side]]
        seg.upper[:, joints] = slerp_rotvec(seg.upper[:, joints], rv, np.repeat(w[:, None], 2, 1))
    return seg, {}


# ----------------------------------------------------------------------- whole-body actions
def _sample_bow(rng: np.random.Generator) -> dict:
    down, hold, up = _u(rng, 0.6, 1.0), _u(rng, 0.3, 1.0), _u(rng, 0.6, 1.0)
    action = (2 + (down + hold + up) * FPS + 3) / FPS
    return {"angle_deg": _u(rng, 30, 65), "down_time": down, "hold_time": hold, "up_time": up,
            "_frames": _frames(action, action + _u(rng, 0, 0.4), action + 1.5)}


def _build_bow(body: Body, p: dict, n: int) -> tuple[Segment, dict]:
    d, h, u = p["down_time"] * FPS, p["hold_time"] * FPS, p["up_time"] * FPS
    s = keyframes([2, 2 + d, 2 + d + h, 2 + d + h + u], [0, 1, 1, 0], n)
    angle = np.radians(p["angle_deg"])
    seg = Segment.hold(body, n)
    # the bend is shared by the hips (pelvis), the three spine joints and the neck
    seg.tilt[:, 0] = 0.45 * angle * s
    for j in (3, 6, 9):
        seg.upper[:, j, 0] = 0.15 * angle * s
    seg.upper[:, 12, 0] = 0.1 * angle * s
    seg.xz = body.xz - (0.12 * angle * s)[:, None] * forward_dir(body.yaw)  # hips back: balance
    seg.height = STAND_HEIGHT - 0.02 * s
    for side in (LEFT, RIGHT):
        set_arm(seg.upper, side, flex=0.08 + 0.6 * angle * s, abd=0.12, elbow=0.2)
    return seg, {}


def _sample_sit_down(rng: np.random.Generator) -> dict:
    sit, hold = _u(rng, 1.2, 1.8), _u(rng, 0.4, 1.2)
    action = (2 + (sit + hold) * FPS) / FPS
    return {"seat_height": _u(rng, 0.5, 0.58), "seat_back": _u(rng, 0.33, 0.42),
            "sit_time": sit, "_frames": _frames(action, action, action + 2.0)}


def _sit_keys(body: Body, p: dict, n: int, standing_up: bool) -> Segment:
    """Pelvis back and down onto the seat (or the reverse), leaning forward in between."""
    d = p["sit_time"] * FPS
    feet_mid = body.feet[:, [0, 2]].mean(0)
    back_dir = -forward_dir(body.yaw)
    if standing_up:
        back, seat = float(np.dot(body.xz - feet_mid, back_dir)), body.height
        u = [0, 0.3, 0.55, 0.8, 1]
        backs, heights = [back, 0.95 * back, 0.5 * back, 0.1 * back, 0], [
            seat, seat + 0.01, seat + 0.35 * (STAND_HEIGHT - seat), STAND_HEIGHT - 0.03,
            STAND_HEIGHT]
        leans, pose_w = [SEATED_LEAN, 0.6, 0.45, 0.1, 0], [1, 1, 0.6, 0.2, 0]
    else:
        back, seat = p["seat_back"], p["seat_height"]
        u = [0, 0.25, 0.6, 1]
        backs = [0, 0.1 * back, 0.65 * back, back]
        heights = [STAND_HEIGHT, STAND_HEIGHT - 0.05, STAND_HEIGHT - 0.6 * (STAND_HEIGHT - seat),
                   seat]
        leans, pose_w = [0, 0.25, 0.55, SEATED_LEAN], [0, 0.2, 0.6, 1]
    keys = [3 + ui * d for ui in u]
    seg = Segment.hold(body, n)
    seg.xz = feet_mid + keyframes(keys, backs, n)[:, None] * back_dir
    seg.height = keyframes(keys, heights, n)
    seg.tilt[:, 0] = keyframes(keys, leans, n)
    w = np.clip(keyframes(keys, pose_w, n), 0, 1)
    seg.upper = slerp_rotvec(np.broadcast_to(NEUTRAL_UPPER, seg.upper.shape),
                             np.broadcast_to(SEATED_UPPER, seg.upper.shape),
                             np.repeat(w[:, None], HUMANML3D.n_joints, 1))
    seg.upper[:, 12, 0] -= 0.5 * seg.tilt[:, 0]
    return seg


def _build_sit_down(body: Body, p: dict, n: int) -> tuple[Segment, dict]:
    return _sit_keys(body, p, n, standing_up=False), {}


def _sample_stand_up(rng: np.random.Generator) -> dict:
    rise = _u(rng, 1.2, 1.8)
    action = (3 + rise * FPS + 4) / FPS
    # the seat is only used when the motion starts seated (stand up is its first step)
    return {"seat_height": _u(rng, 0.5, 0.58), "seat_back": _u(rng, 0.33, 0.42),
            "sit_time": rise, "_frames": _frames(action, action + _u(rng, 0, 0.3), action + 1.5)}


def _build_stand_up(body: Body, p: dict, n: int) -> tuple[Segment, dict]:
    return _sit_keys(body, p, n, standing_up=True), {}


def _sample_still(rng: np.random.Generator) -> dict:
    return {"sway": _u(rng, 0.01, 0.03), "sway_period": _u(rng, 2.0, 4.0),
            "_frames": _frames(1.5, _u(rng, 1.5, 3.5), 6.0)}


def _build_still(body: Body, p: dict, n: int) -> tuple[Segment, dict]:
    t = np.arange(n, dtype=float)
    window = np.sin(np.pi * t / max(n - 1, 1)) ** 2  # starts and ends at rest
    sway = p["sway"] * window * np.sin(2 * np.pi * t / (p["sway_period"] * FPS))
    seg = Segment.hold(body, n)
    seg.xz = body.xz + sway[:, None] * left_dir(body.yaw)
    seg.tilt[:, 2] = -2.0 * sway  # the pelvis rolls a little as the weight shifts
    seg.upper[:, 12, 0] = 0.05 * window * np.sin(2 * np.pi * t / (1.3 * p["sway_period"] * FPS))
    seg.upper[:, 9, 0] = 0.02 * np.sin(2 * np.pi * t / (3.5 * FPS))  # breathing
    return seg, {}


# ---------------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class Primitive:
    """An action primitive: a sampler of parameters and a builder of its segment."""

    name: str
    weight: float  # relative frequency in the corpus
    sample: Callable[[np.random.Generator], dict]
    build: Callable[[Body, dict, int], tuple[Segment, dict]]


PRIMITIVES: dict[str, Primitive] = {p.name: p for p in (
    Primitive("walk", 3.0, lambda r: _sample_locomotion(r, "walk"),
              lambda b, p, n: _build_locomotion(b, p, n, run=False)),
    Primitive("run", 1.5, lambda r: _sample_locomotion(r, "run"),
              lambda b, p, n: _build_locomotion(b, p, n, run=True)),
    Primitive("turn", 1.5, _sample_turn, _build_turn),
    Primitive("spin", 0.7, _sample_spin, _build_turn),
    Primitive("sidestep", 1.0, _sample_sidestep, _build_sidestep),
    Primitive("jump", 1.2, _sample_jump, _build_jump),
    Primitive("squat", 1.0, _sample_squat, _build_squat),
    Primitive("kick", 1.0, _sample_kick, _build_kick),
    Primitive("wave", 1.2, _sample_wave, _build_wave),
    Primitive("raise_arms", 1.0, _sample_raise_arms, _build_raise_arms),
    Primitive("clap", 1.0, _sample_clap, _build_clap),
    Primitive("bow", 0.8, _sample_bow, _build_bow),
    Primitive("sit_down", 0.8, _sample_sit_down, _build_sit_down),
    Primitive("stand_up", 0.4, _sample_stand_up, _build_stand_up),
    Primitive("still", 0.6, _sample_still, _build_still),
)}


# ---------------------------------------------------------------------------------- assembly
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
        out.upper[idx] = slerp_rotvec(raw.upper[a], raw.upper[c],
                                      np.repeat(w[:, None], raw.upper.shape[1], 1))
    return out


def solve(seg: Segment) -> np.ndarray:
    """Joint positions (n, 22, 3) float32 metres of a plan.

    The pelvis height is a soft minimum of the desired height and the highest the stance legs
    allow (so the pelvis follows the legs), the legs come from two-bone IK to the ankle targets
    with the knees towards the toes, and everything goes through forward kinematics.
    """
    n = len(seg)
    yaw, zeros = as_tensor(seg.yaw), torch.zeros(n, dtype=torch.float64)
    r_pelvis = roma.rotvec_to_rotmat(torch.stack([zeros, yaw, zeros], -1)) @ \
        roma.rotvec_to_rotmat(as_tensor(seg.tilt))
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
    thigh, shin = two_bone_ik(root[:, None] + hip_off, feet, as_tensor(THIGH), as_tensor(SHIN), pole)
    ankle = roma.rotvec_to_rotmat(torch.stack([fz, fy, fz], -1)) @ roma.rotvec_to_rotmat(
        torch.stack([as_tensor(seg.foot_pitch), fz, fz], -1))

    def inv(m: torch.Tensor) -> torch.Tensor:
        return m.transpose(-1, -2)

    local = torch.eye(3, dtype=torch.float64).repeat(n, HUMANML3D.n_joints, 1, 1)
    local[:, 0] = r_pelvis
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


def build_motion(steps: list[tuple[str, dict, int]],
                 yaw: float = 0.0) -> tuple[np.ndarray, list[dict]]:
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
