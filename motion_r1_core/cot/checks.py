"""Deterministic checks of a parsed chain, run before (and regardless of) the LLM judge.

Each check returns the reasons a chain fails it (empty: passes). They are cheap, and they catch
what small models get wrong most often: swapped sides or directions, invented filler steps,
repeated steps, rambling.
"""

from __future__ import annotations

import re

from motion_r1_core.config import CoTLimitsConfig
from motion_r1_core.cot.prompts import Chain
from motion_r1_core.data.mirror import LEFT_RIGHT, SIDES, TURNING

BODY_PARTS = frozenset(
    [
        "arm",
        "arms",
        "hand",
        "hands",
        "elbow",
        "elbows",
        "wrist",
        "wrists",
        "shoulder",
        "shoulders",
        "finger",
        "fingers",
        "fist",
        "fists",
        "leg",
        "legs",
        "knee",
        "knees",
        "foot",
        "feet",
        "toe",
        "toes",
        "ankle",
        "ankles",
        "hip",
        "hips",
        "thigh",
        "thighs",
        "heel",
        "heels",
        "head",
        "neck",
        "torso",
        "body",
        "chest",
        "back",
        "waist",
        "trunk",
        "pelvis",
        "spine",
        "upper",
        "lower",
    ]
)
MOTION_WORDS = frozenset(
    [
        "walk",
        "walks",
        "walking",
        "step",
        "steps",
        "stepping",
        "run",
        "runs",
        "running",
        "jog",
        "jogs",
        "jogging",
        "jump",
        "jumps",
        "jumping",
        "hop",
        "hops",
        "hopping",
        "skip",
        "skips",
        "skipping",
        "turn",
        "turns",
        "turning",
        "spin",
        "spins",
        "spinning",
        "squat",
        "squats",
        "squatting",
        "sit",
        "sits",
        "sitting",
        "stand",
        "stands",
        "standing",
        "kneel",
        "kneels",
        "kneeling",
        "crouch",
        "crouches",
        "crawl",
        "crawls",
        "lean",
        "leans",
        "leaning",
        "bend",
        "bends",
        "bending",
        "stretch",
        "stretches",
        "kick",
        "kicks",
        "kicking",
        "punch",
        "punches",
        "punching",
        "wave",
        "waves",
        "waving",
        "raise",
        "raises",
        "raising",
        "lift",
        "lifts",
        "lifting",
        "lower",
        "lowers",
        "lowering",
        "swing",
        "swings",
        "swinging",
        "throw",
        "throws",
        "throwing",
        "climb",
        "climbs",
        "climbing",
        "dance",
        "dances",
        "dancing",
        "rotate",
        "rotates",
        "rotating",
        "twist",
        "twists",
        "twisting",
        "march",
        "marches",
        "marching",
        "stride",
        "strides",
        "shuffle",
        "shuffles",
        "lunge",
        "lunges",
        "pivot",
        "pivots",
        "stop",
        "stops",
        "land",
        "lands",
        "landing",
        "push",
        "pushes",
        "pull",
        "pulls",
        "clap",
        "claps",
        "reach",
        "reaches",
        "move",
        "moves",
        "moving",
        "return",
        "returns",
        "rise",
        "rises",
        "bow",
        "bows",
        "nod",
        "nods",
        "shake",
        "shakes",
        "tilt",
        "tilts",
    ]
)
# opposite word pairs: a chain may not use one where the caption only uses the other; side words
# (SIDES, from data.mirror) are never implicit: a step must say them
OPPOSITES = (
    LEFT_RIGHT,
    ("forward", "backward"),
    ("forwards", "backwards"),
    TURNING,
)


# The bounds of the deterministic checks are the section `cot.limits` (defaults in params.yaml).
ChainLimits = CoTLimitsConfig


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def check_chain(caption: str, chain: Chain, limits: ChainLimits | None = None) -> list[str]:
    """Reasons `chain` fails the deterministic checks for `caption` (empty list: it passes)."""
    lim = limits or ChainLimits()
    reasons = []
    n = len(chain.steps)
    if not lim.min_steps <= n <= lim.max_steps:
        reasons.append(f"{n} steps; expected {lim.min_steps} to {lim.max_steps}")
    seen: dict[str, int] = {}
    for i, step in enumerate(chain.steps, 1):
        words = _words(step)
        key = " ".join(words)
        if key in seen:
            reasons.append(f"step {i} repeats step {seen[key]}")
        seen.setdefault(key, i)
        if len(words) > lim.max_step_words:
            reasons.append(f"step {i} has {len(words)} words (at most {lim.max_step_words})")
        if not (set(words) & (BODY_PARTS | MOTION_WORDS)):
            reasons.append(f"step {i} names no body part or movement: {step[:60]!r}")
    if len(_words(chain.plan)) > lim.max_plan_words:
        reasons.append(f"plan has more than {lim.max_plan_words} words")
    cap = set(_words(caption))
    said = set(_words(" ".join(chain.steps)))  # the steps must carry it, not only the plan
    for a, b in OPPOSITES:
        for word, other in ((a, b), (b, a)):
            if word not in cap or other in cap:
                continue
            if other in said and word not in said:
                reasons.append(f"the caption says {word!r} but the chain says {other!r}")
            elif word in SIDES and word not in said:
                reasons.append(f"the caption says {word!r} but no step does")
    return reasons
