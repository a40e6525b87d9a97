"""The T2M metrics against hand-computed values and their defining properties."""

from __future__ import annotations

import numpy as np
import pytest

from motion_r1_core.evaluation.metrics import (
    diversity,
    euclidean_distances,
    fid,
    frechet_distance,
    mean_and_interval,
    mm_dist,
    multimodality,
    r_precision,
    top_k_hits,
)


def test_distances_by_hand() -> None:
    a = np.array([[0.0, 0.0], [3.0, 4.0]])
    b = np.array([[0.0, 0.0], [6.0, 8.0], [3.0, 0.0]])
    np.testing.assert_allclose(euclidean_distances(a, b), [[0, 10, 3], [5, 5, 4]], atol=1e-12)


def test_top_k_hits_of_a_hand_made_matrix() -> None:
    # text 0: own motion nearest; text 1: own motion 2nd; text 2: own motion 3rd
    d = np.array(
        [
            [1.0, 2.0, 3.0],
            [1.0, 2.0, 3.0],
            [1.0, 2.0, 3.0],
        ]
    )
    hits = top_k_hits(d, top_k=3)
    assert hits.tolist() == [[True, True, True], [False, True, True], [False, False, True]]
    # a tie with another motion counts against the text
    assert top_k_hits(np.array([[1.0, 1.0], [0.0, 1.0]]), 2).tolist() == [
        [False, True],
        [False, True],
    ]


def test_r_precision_groups_of_32_and_drops_the_rest() -> None:
    motion = np.zeros((70, 8))
    motion[:, 0] = (np.arange(70) % 32) ** 2  # 0, 1, 4, 9, ... in each group: distinct gaps
    perfect = r_precision(motion, motion)  # every text sits on its own motion
    assert perfect.tolist() == [1.0, 1.0, 1.0]
    # swap texts 0 and 1 in each group: those two texts now sit on each other's motion
    text = motion.copy()
    for s in (0, 32):
        text[[s, s + 1]] = text[[s + 1, s]]
    top = r_precision(text, motion)
    assert top[0] == pytest.approx(60 / 64)  # 64 pairs used (70 // 32 * 32), 4 texts miss top-1
    assert top[1] == 1.0  # ... and find their motion second
    # the 6 pairs past the last full group change nothing
    text[64:] = 0
    np.testing.assert_array_equal(r_precision(text, motion), top)
    with pytest.raises(ValueError, match="at least one group of 32"):
        r_precision(motion[:31], motion[:31])
    with pytest.raises(ValueError, match="pair up"):
        r_precision(motion[:40], motion[:41])


def test_r_precision_of_unrelated_embeddings_is_chance() -> None:
    rng = np.random.default_rng(1)
    top = r_precision(rng.normal(size=(32 * 200, 16)), rng.normal(size=(32 * 200, 16)))
    np.testing.assert_allclose(top, [1 / 32, 2 / 32, 3 / 32], atol=0.01)


def test_mm_dist_by_hand() -> None:
    text = np.array([[0.0, 0.0], [1.0, 1.0]])
    motion = np.array([[3.0, 4.0], [1.0, 2.0]])
    assert mm_dist(text, motion) == pytest.approx((5 + 1) / 2)


def test_fid_of_identical_sets_is_zero_and_of_shifted_sets_the_squared_shift() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(500, 6))
    assert fid(x, x) == pytest.approx(0.0, abs=1e-8)
    # same covariance, mean shifted by (1, 2, 0, ...): FID = 1 + 4
    assert fid(x, x + np.array([1.0, 2.0, 0, 0, 0, 0])) == pytest.approx(5.0, abs=1e-8)


def test_frechet_distance_of_known_gaussians() -> None:
    # 1-D: (mu1 - mu2)^2 + s1 + s2 - 2 sqrt(s1 s2) with s1 = 4, s2 = 1: 9 + 4 + 1 - 4 = 10
    assert frechet_distance(
        np.array([0.0]), np.array([[4.0]]), np.array([3.0]), np.array([[1.0]])
    ) == (pytest.approx(10.0))
    # diagonal 2-D: sum of per-axis terms, (sqrt(4) - sqrt(9))^2 + (sqrt(1) - sqrt(1))^2 = 1
    s1, s2 = np.diag([4.0, 1.0]), np.diag([9.0, 1.0])
    assert frechet_distance(np.zeros(2), s1, np.zeros(2), s2) == pytest.approx(1.0)
    # singular covariances fall back to the eps offset and stay finite
    z = np.zeros((3, 3))
    assert frechet_distance(np.zeros(3), z, np.ones(3), z) == pytest.approx(3.0, abs=1e-5)
    with pytest.raises(ValueError, match="different dimensions"):
        frechet_distance(np.zeros(2), s1, np.zeros(3), np.eye(3))


def test_diversity_and_multimodality_by_hand() -> None:
    # points on a line at 0, 1, ..., 9: with a fixed generator the pairs are known
    emb = np.arange(10.0)[:, None] * np.array([[1.0, 0.0]])
    rng = np.random.default_rng(3)
    first = rng.choice(10, 4, replace=False)
    second = rng.choice(10, 4, replace=False)
    expected = np.abs(first - second).mean()
    assert diversity(emb, times=4, rng=np.random.default_rng(3)) == pytest.approx(expected)
    assert diversity(np.ones((10, 3)), times=4) == 0.0  # identical motions: no diversity
    with pytest.raises(ValueError, match="more than 300"):
        diversity(emb)

    # 2 texts x 5 generations; text 1's generations are text 0's scaled by 3
    gens = np.stack([emb[:5], 3 * emb[:5]])
    rng = np.random.default_rng(4)
    first = rng.choice(5, 3, replace=False)
    second = rng.choice(5, 3, replace=False)
    expected = (np.abs(first - second).mean() + 3 * np.abs(first - second).mean()) / 2
    assert multimodality(gens, times=3, rng=np.random.default_rng(4)) == pytest.approx(expected)
    with pytest.raises(ValueError, match="more than 10 generations"):
        multimodality(gens)


def test_mean_and_interval_by_hand() -> None:
    mean, half = mean_and_interval(np.array([1.0, 2.0, 3.0, 4.0]))
    # std (ddof 0) of 1..4 is sqrt(1.25)
    assert mean == 2.5 and half == pytest.approx(1.96 * np.sqrt(1.25) / 2)
    assert mean_and_interval(np.array([7.0])) == (7.0, 0.0)
    # ddof 1 (a sample of per-item values): the variance of 1..4 is 5/3
    mean, half = mean_and_interval(np.array([1.0, 2.0, 3.0, 4.0]), ddof=1)
    assert mean == 2.5 and half == pytest.approx(1.96 * np.sqrt(5 / 3) / 2)
    assert mean_and_interval(np.array([7.0]), ddof=1) == (7.0, 0.0)
    with pytest.raises(ValueError, match="non-empty"):
        mean_and_interval(np.array([]))
