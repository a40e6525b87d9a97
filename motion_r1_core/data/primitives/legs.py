"""Leg actions: jump, squat and kick.

Jumps follow ballistics (flight time from the rise under gravity), squats lower the pelvis with
the hips back for balance, a kick shifts the weight over the stance foot first. Conventions as in
`body.py`: y up, facing +z at yaw 0, +x is the body's left.
"""

from __future__ import annotations

import numpy as np

from motion_r1_core.data.body import (
    ANKLE_HEIGHT,
    FOOT,
    FOOT_DROP,
    FPS,
    GRAVITY,
    HIPS,
    LEFT,
    NECK,
    REST_OFFSETS,
    RIGHT,
    SHIN,
    STAND_HEIGHT,
    THIGH,
    TOE_RISE,
    Body,
    Segment,
    forward_dir,
    hermite,
    keyframes,
    minjerk,
    on_ground,
    set_arm,
)
from motion_r1_core.data.primitives.sampling import frame_range, uniform


# ------------------------------------------------------------------------------------ jump
def _jump_timing(p: dict) -> tuple[float, float, float, float, float]:
    crouch, push, land, recover = 0.35 * FPS, 0.2 * FPS, 0.2 * FPS, 0.45 * FPS
    flight = 2 * np.sqrt(2 * p["rise"] / GRAVITY) * FPS
    return crouch, push, flight, land, recover


def sample_jump(rng: np.random.Generator) -> dict:
    """Parameters of jumps: mode (forward or in place), count, rise (m), crouch depth (m),
    distance per jump (m) and the frame range."""
    forward = rng.random() < 0.45
    count = int(
        rng.choice([1, 2], p=[0.7, 0.3]) if forward else rng.choice([1, 2, 3], p=[0.5, 0.3, 0.2])
    )
    p = {
        "mode": "forward" if forward else "in_place",
        "count": count,
        "rise": uniform(rng, 0.12, 0.3),
        "crouch": uniform(rng, 0.12, 0.22),
        "distance": uniform(rng, 0.4, 1.0) if forward else 0.0,
    }
    crouch, push, flight, land, recover = _jump_timing(p)
    action = (2 + crouch + count * (push + flight + land) + recover) / FPS
    p["_frames"] = frame_range(action, action + uniform(rng, 0, 0.4), action + 1.5)
    return p


def build_jump(body: Body, p: dict, n: int) -> tuple[Segment, dict]:
    """n frames of jumps: crouch, push onto the toes, ballistic flight, landing, recovery.

    Derived: the whole distance (m) and the flight time of one jump (s)."""
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
        rise = np.maximum(
            rise,
            np.interp(
                frames, [start, take, touch, touch + 2], [0, TOE_RISE, TOE_RISE, 0], left=0, right=0
            ),
        )
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
    seg.upper[:, NECK, 0] = -0.5 * seg.tilt[:, 0]
    flex = keyframes(arm_t, arm_v, n)
    for side in (LEFT, RIGHT):
        set_arm(seg.upper, side, flex=flex, abd=0.15, elbow=0.35)
    return seg, {"distance_m": round(p["count"] * dist, 3), "flight_s": round(flight / FPS, 3)}


# ----------------------------------------------------------------------------------- squat
def sample_squat(rng: np.random.Generator) -> dict:
    """Parameters of squats: reps, depth (m), time per rep (s), arms forward, frame range."""
    reps = int(rng.choice([1, 2, 3], p=[0.5, 0.3, 0.2]))
    rep_time = uniform(rng, 1.3, 2.0)
    action = (2 + reps * rep_time * FPS + 4) / FPS
    return {
        "reps": reps,
        "depth": uniform(rng, 0.25, 0.45),
        "rep_time": rep_time,
        "arms_forward": bool(rng.random() < 0.6),
        "_frames": frame_range(action, action + uniform(rng, 0, 0.4), action + 1.5),
    }


def _reps_profile(n: int, start: float, reps: int, rep: float, hold: float = 0.1) -> np.ndarray:
    """0 -> 1 -> 0 bumps, `reps` times from `start`, each `rep` frames with a hold at the bottom."""
    u = (np.arange(n) - start) / rep
    inside = (u >= 0) & (u < reps)
    f = np.where(inside, u % 1.0, 0.0)
    half = (1 - hold) / 2
    return np.where(inside, minjerk(f / half) * minjerk((1 - f) / half), 0.0)


def build_squat(body: Body, p: dict, n: int) -> tuple[Segment, dict]:
    """n frames of squats: the pelvis drops `depth` and rises, hips back, arms forward."""
    s = _reps_profile(n, 2, p["reps"], p["rep_time"] * FPS)
    seg = Segment.hold(body, n)
    seg.height = STAND_HEIGHT - p["depth"] * s
    seg.xz = body.xz - (0.45 * p["depth"] * s)[:, None] * forward_dir(body.yaw)
    seg.tilt[:, 0] = (0.3 + 0.7 * p["depth"]) * s
    seg.upper[:, NECK, 0] = -0.5 * seg.tilt[:, 0]
    flex = 0.08 + (1.4 if p["arms_forward"] else 0.25) * s
    for side in (LEFT, RIGHT):
        set_arm(seg.upper, side, flex=flex, abd=0.12, elbow=0.2)
    return seg, {}


# ------------------------------------------------------------------------------------ kick
def sample_kick(rng: np.random.Generator) -> dict:
    """Parameters of a kick: side, foot height (m), leg extension (share of its length),
    duration (s) and the frame range."""
    duration = uniform(rng, 1.0, 1.5)
    action = duration + 6 / FPS
    return {
        "side": str(rng.choice(["left", "right"])),
        "height": uniform(rng, 0.35, 0.85),
        "extension": uniform(rng, 0.9, 0.97),
        "duration": duration,
        "_frames": frame_range(action, action + uniform(rng, 0, 0.4), action + 1.5),
    }


def build_kick(body: Body, p: dict, n: int) -> tuple[Segment, dict]:
    """A kick of n frames: the weight moves over the stance foot, the other swings forward and
    up. Derived: how far ahead the foot reaches (m)."""
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
