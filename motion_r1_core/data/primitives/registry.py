"""The registry of action primitives: name, corpus weight, parameter sampler, segment builder.

Each primitive has `sample(rng) -> params` (with "_frames": (min, nominal, max) joint frames) and
`build(body, params, n) -> (segment, derived)`; `derived` adds measured values (distance, angle)
to the parameters reported in the decomposition. The order of `PRIMITIVES` is part of the corpus
definition: the step sampler draws from it in this order, so reordering changes every corpus.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from motion_r1_core.data.body import Body, Segment
from motion_r1_core.data.primitives.arms import (
    build_clap,
    build_raise_arms,
    build_wave,
    sample_clap,
    sample_raise_arms,
    sample_wave,
)
from motion_r1_core.data.primitives.legs import (
    build_jump,
    build_kick,
    build_squat,
    sample_jump,
    sample_kick,
    sample_squat,
)
from motion_r1_core.data.primitives.locomotion import (
    build_locomotion,
    build_sidestep,
    build_turn,
    sample_locomotion,
    sample_sidestep,
    sample_spin,
    sample_turn,
)
from motion_r1_core.data.primitives.whole_body import (
    build_bow,
    build_sit_down,
    build_stand_up,
    build_still,
    sample_bow,
    sample_sit_down,
    sample_stand_up,
    sample_still,
)


@dataclass(frozen=True)
class Primitive:
    """An action primitive: a sampler of parameters and a builder of its segment."""

    name: str
    weight: float  # relative frequency in the corpus
    sample: Callable[[np.random.Generator], dict]
    build: Callable[[Body, dict, int], tuple[Segment, dict]]


PRIMITIVES: dict[str, Primitive] = {
    p.name: p
    for p in (
        Primitive(
            "walk",
            3.0,
            lambda r: sample_locomotion(r, "walk"),
            lambda b, p, n: build_locomotion(b, p, n, run=False),
        ),
        Primitive(
            "run",
            1.5,
            lambda r: sample_locomotion(r, "run"),
            lambda b, p, n: build_locomotion(b, p, n, run=True),
        ),
        Primitive("turn", 1.5, sample_turn, build_turn),
        Primitive("spin", 0.7, sample_spin, build_turn),
        Primitive("sidestep", 1.0, sample_sidestep, build_sidestep),
        Primitive("jump", 1.2, sample_jump, build_jump),
        Primitive("squat", 1.0, sample_squat, build_squat),
        Primitive("kick", 1.0, sample_kick, build_kick),
        Primitive("wave", 1.2, sample_wave, build_wave),
        Primitive("raise_arms", 1.0, sample_raise_arms, build_raise_arms),
        Primitive("clap", 1.0, sample_clap, build_clap),
        Primitive("bow", 0.8, sample_bow, build_bow),
        Primitive("sit_down", 0.8, sample_sit_down, build_sit_down),
        Primitive("stand_up", 0.4, sample_stand_up, build_stand_up),
        Primitive("still", 0.6, sample_still, build_still),
    )
}
