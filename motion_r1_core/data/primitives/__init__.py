"""Parameterised action primitives on the 22-joint HumanML3D skeleton, and their assembly.

A primitive turns a few parameters (speed, side, angle, count, ...) into a `Segment` of the body
model (`body.py`); `build_motion` chains them into joint positions. One module per family:
`locomotion` (walk, run, turn, spin, sidestep), `legs` (jump, squat, kick), `arms` (wave, raise
arms, clap), `whole_body` (bow, sit down, stand up, stand still); `registry` lists them all and
`assembly` chains, blends and solves them.

    params = PRIMITIVES["walk"].sample(np.random.default_rng(0))
    joints, derived = build_motion([("walk", params, 60), ("wave", wave_params, 50)])
"""

from motion_r1_core.data.primitives.assembly import (
    BLEND_FRAMES,
    SOFTMIN,
    build_motion,
    concat_segments,
    initial_body,
    solve,
)
from motion_r1_core.data.primitives.registry import PRIMITIVES, Primitive

__all__ = [
    "BLEND_FRAMES",
    "PRIMITIVES",
    "SOFTMIN",
    "Primitive",
    "build_motion",
    "concat_segments",
    "initial_body",
    "solve",
]
