"""Motions longer than one answer: a span per step of the chain, joined smoothly.

One answer holds at most 49 motion tokens (196 frames, 9.8 s at 20 fps), the limit of the
training data. `generate_long` asks the policy for the chain of a caption (or takes the steps
given), generates one span per step with the step's text as its caption, and `join_spans`
chains them: each span is turned about the vertical and moved so that it starts where and
facing how the motion so far stands `overlap` frames before its end, and those frames are
crossfaded (linear weights), so the root path stays continuous.

    long = generate_long(policy, tokenizer, "a person walks, turns, jumps and sits", generation)
    long.joints.shape   # (> 196, 22, 3) for four steps of a few seconds
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from motion_r1_core.config import GenerationSection
from motion_r1_core.policy.policy import Policy
from motion_r1_core.skeleton import Skeleton


@dataclass(frozen=True)
class LongMotion:
    """A long generation: the steps, each span's codes and frames, and the joined joints."""

    caption: str
    steps: list[str]
    plan: str
    codes: list[list[int]]  # motion tokens of each span
    span_frames: list[int]  # frames of each span before joining
    joints: np.ndarray  # (T, J, 3) metres


def heading(pose: np.ndarray, skeleton: Skeleton) -> float:
    """Facing angle (radians, about +y, 0 = +z) of a pose (J, 3), from hips and shoulders as
    the feature code finds it."""
    r_hip, l_hip, r_sdr, l_sdr = skeleton.face_joints
    across = (pose[r_hip] - pose[l_hip]) + (pose[r_sdr] - pose[l_sdr])
    forward = np.cross([0.0, 1.0, 0.0], across)
    return float(np.arctan2(forward[0], forward[2]))


def rotate_y(joints: np.ndarray, angle: float) -> np.ndarray:
    """Joints (..., 3) turned by `angle` radians about +y (a heading of h becomes h + angle)."""
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    return joints @ rot.T


def join_spans(spans: Sequence[np.ndarray], skeleton: Skeleton, overlap: int = 10) -> np.ndarray:
    """Chain joint sequences (T_i, J, 3) into one (sum T_i - (overlap + 1)(n - 1), J, 3).

    Span i+1 is turned and moved so its first frame has the heading and root ground position
    of the motion so far at `overlap` frames before its end; those `overlap` frames are
    blended from the old motion into the new span. `overlap` shrinks for spans too short."""
    out = np.asarray(spans[0], dtype=np.float64)
    for span in spans[1:]:
        span = np.asarray(span, dtype=np.float64)
        k = max(0, min(overlap, len(out) - 1, len(span) - 1))
        at = len(out) - k - 1 if k else len(out) - 1
        turn = heading(out[at], skeleton) - heading(span[0], skeleton)
        moved = rotate_y(span - span[0, 0] * [1.0, 0.0, 1.0], turn)
        moved = moved + out[at, 0] * [1.0, 0.0, 1.0]
        if k:
            w = (np.arange(1, k + 1) / (k + 1))[:, None, None]
            blend = (1 - w) * out[at + 1 :] + w * moved[1 : k + 1]
            out = np.concatenate([out[: at + 1], blend, moved[k + 1 :]])
        else:
            out = np.concatenate([out, moved[1:]])
    return out


def generate_long(
    policy: Policy,
    tokenizer: object,
    caption: str,
    generation: GenerationSection,
    steps: Sequence[str] | None = None,
    seconds_per_step: float | None = None,
    seed: int = 0,
    overlap: int = 10,
) -> LongMotion:
    """A motion of several spans for `caption` (see the module docstring).

    `steps`: the sub-actions to generate; None: the chain of the policy's own answer (a
    caption whose chain has one step gives one span). `seconds_per_step`: each span's
    duration (exact); None: the policy picks. `tokenizer` is the policy's MotionTokenizer.
    """
    from motion_r1_core.features import recover_from_ric
    from motion_r1_core.policy.generate import sample

    plan = ""
    if steps is None:
        (answer,), _ = sample(policy, [caption], generation, constrained=True, seed=seed)
        steps, plan = list(answer.parsed.steps) or [caption], answer.parsed.plan or ""
    steps = [s for s in (str(s).strip() for s in steps) if s]
    if not steps:
        raise ValueError(f"no steps to generate for {caption!r}")
    answers, _ = sample(
        policy,
        steps,
        generation,
        seconds=[seconds_per_step] * len(steps),
        constrained=True,
        seed=seed + 1,
    )
    codes = [list(a.parsed.codes) for a in answers]
    feats = tokenizer.decode_many(codes)  # type: ignore[attr-defined]
    skeleton = tokenizer.skeleton  # type: ignore[attr-defined]
    spans = [recover_from_ric(f, skeleton).numpy() for f in feats]
    joints = join_spans(spans, skeleton, overlap).astype(np.float32)
    return LongMotion(caption, steps, plan, codes, [len(s) for s in spans], joints)
