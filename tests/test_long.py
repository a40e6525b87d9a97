"""Motions past the 196-frame limit: one span per step, joined with a continuous root path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from motion_r1_core.features import extract_features, recover_from_ric
from motion_r1_core.policy.long import heading, join_spans, rotate_y
from motion_r1_core.skeleton import HUMANML3D

FIXTURE = Path(__file__).parent / "fixtures" / "humanml3d-sample"


def _root_steps(joints: np.ndarray) -> np.ndarray:
    """Frame-to-frame root displacements (T-1,) in metres."""
    return np.linalg.norm(np.diff(joints[:, 0], axis=0), axis=-1)


def _decoded(seed: int) -> np.ndarray:
    """A procedural motion as a decoder gives one: from its features, at the origin facing +z."""
    from motion_r1_core.data.procedural import generate_motion

    motion = generate_motion(np.random.default_rng(seed))
    return recover_from_ric(extract_features(torch.from_numpy(motion.joints))).numpy()


def test_spans_join_where_and_facing_how_the_motion_so_far_stands() -> None:
    a, b = _decoded(1), _decoded(2)
    turned = rotate_y(a, 0.7)  # the first span ends facing elsewhere than +z
    joined = join_spans([turned, b], HUMANML3D, overlap=10)
    assert len(joined) == len(a) + len(b) - 11
    np.testing.assert_allclose(joined[: len(a) - 11], turned[: len(a) - 11])
    at = len(a) - 11  # the new span starts here: same root on the ground, same heading
    assert heading(joined[-len(b) + 11], HUMANML3D) == pytest.approx(
        heading(b[11], HUMANML3D) + heading(turned[at], HUMANML3D) - heading(b[0], HUMANML3D),
        abs=1e-6,
    )
    steps = _root_steps(joined)
    assert steps.max() <= max(_root_steps(turned).max(), _root_steps(b).max()) + 0.01
    assert np.isclose(rotate_y(np.array([[0.0, 0, 1]]), np.pi / 2), [[1.0, 0, 0]]).all()


@pytest.mark.slow
def test_a_four_step_caption_gives_a_long_motion_without_root_jumps(
    smoke_sft: tuple, smoke_project: tuple
) -> None:
    """The session's smoke policy generates a span per step of a four-step procedural caption;
    the joined motion passes 196 frames and its root never jumps further in a frame than the
    root of any motion of the corpus (the procedural one, and the published HumanML3D one)."""
    import json

    from motion_r1_core.policy.long import generate_long
    from motion_r1_core.policy.policy import Policy
    from motion_r1_core.vqvae.tokenizer import MotionTokenizer

    cfg, root, sft, _, _ = smoke_sft
    policy = Policy.load(sft.policies["cot"])
    vq = MotionTokenizer.load(Path(policy.meta["motion_tokenizer"]["path"]))
    corpus = root / "data" / "raw" / "procedural"
    records = [json.loads(line) for line in (corpus / "decompositions.jsonl").open()]
    texts = dict.fromkeys(s["text"] for r in records for s in r["steps"])  # distinct, in order
    steps = list(texts)[:4]  # four steps of the corpus (the smoke corpus chains up to 3)
    caption = ", then ".join(steps)

    motion = generate_long(policy, vq, caption, cfg.policy.generation, steps, 3.0, seed=0)
    assert motion.steps == steps and len(motion.codes) == 4
    assert all(len(c) == 15 for c in motion.codes)  # 3 s = 60 frames = 15 tokens each
    assert motion.joints.shape == (4 * 60 - 3 * 11, 22, 3) and len(motion.joints) > 196
    largest = max(
        _root_steps(np.load(p)).max()
        for p in [
            *sorted((corpus / "new_joints").glob("*.npy")),
            FIXTURE / "new_joints" / "012314.npy",
        ]
    )
    assert _root_steps(motion.joints).max() <= largest

    own = generate_long(policy, vq, caption, cfg.policy.generation, seed=1)  # the policy's chain
    assert own.steps and len(own.codes) == len(own.steps)
    assert len(own.joints) == sum(own.span_frames) - 11 * (len(own.steps) - 1)
