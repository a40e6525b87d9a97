"""The text-to-motion metrics of Guo et al. (2022), as T2M-GPT, MoMask and MotionGPT report them.

Pure functions on embedding arrays (numpy, float64 inside). The embeddings come from an
evaluator's text and motion encoders (512-d for the published one); which encoder, which crop
and which batches are the caller's business (the evaluation protocol, not these functions).

    R-Precision top-k  within groups of 32 (text, motion) pairs: the share of texts whose own
                       motion is among the k nearest motions of the group (Euclidean).
    MM-Dist            mean distance between each text and its own motion.
    FID                Frechet distance between Gaussians fitted to real and generated motion
                       embeddings.
    Diversity          mean distance between 300 random pairs of motion embeddings.
    MultiModality      per text, mean distance between 10 random pairs of its generations.

Every metric is computed once per replication; `mean_and_interval` turns the replications into
mean +- 1.96 * std / sqrt(n), the form of every published table (std with ddof 0, as there).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg

R_PRECISION_BATCH = 32
DIVERSITY_TIMES = 300
MM_TIMES = 10


def _as2d(x: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"{name}: expected (N, D) embeddings, got shape {a.shape}")
    return a


def euclidean_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) Euclidean distances between rows of a (N, D) and b (M, D)."""
    a, b = _as2d(a, "a"), _as2d(b, "b")
    sq = (a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None, :]
    return np.sqrt(np.maximum(sq, 0.0))


def top_k_hits(dist: np.ndarray, top_k: int = 3) -> np.ndarray:
    """(N, top_k) booleans: column j says whether text i's own motion (column i of the square
    distance matrix `dist`) is among its j + 1 nearest motions. Ties count against the text."""
    d = np.asarray(dist, dtype=np.float64)
    if d.ndim != 2 or d.shape[0] != d.shape[1]:
        raise ValueError(f"expected a square text x motion distance matrix, got {d.shape}")
    own = np.diag(d)[:, None]
    rank = (d < own).sum(1) + ((d == own).sum(1) - 1)  # motions at least as near, minus itself
    return rank[:, None] < np.arange(1, top_k + 1)[None, :]


def r_precision(
    text: np.ndarray, motion: np.ndarray, top_k: int = 3, batch: int = R_PRECISION_BATCH
) -> np.ndarray:
    """(top_k,) R-Precision of paired embeddings text (N, D) and motion (N, D).

    Rows are taken in consecutive groups of `batch` (the protocol's shuffled test batches; a
    last partial group is dropped, like the reference loader's drop_last); inside each group
    every text is ranked against the group's motions. Returns the share of texts whose own
    motion ranks within top 1, 2, ..., top_k.
    """
    text, motion = _as2d(text, "text"), _as2d(motion, "motion")
    if text.shape != motion.shape:
        raise ValueError(f"text {text.shape} and motion {motion.shape} embeddings must pair up")
    n = len(text) // batch * batch
    if n == 0:
        raise ValueError(f"R-Precision needs at least one group of {batch} pairs, got {len(text)}")
    hits = np.zeros(top_k)
    for s in range(0, n, batch):
        hits += top_k_hits(
            euclidean_distances(text[s : s + batch], motion[s : s + batch]), top_k
        ).sum(0)
    return hits / n


def mm_dist(text: np.ndarray, motion: np.ndarray) -> float:
    """Mean Euclidean distance between each text (N, D) and its own motion (N, D)."""
    text, motion = _as2d(text, "text"), _as2d(motion, "motion")
    if text.shape != motion.shape:
        raise ValueError(f"text {text.shape} and motion {motion.shape} embeddings must pair up")
    return float(np.linalg.norm(text - motion, axis=1).mean())


def gaussian_stats(emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and covariance (D, D) (unbiased, rows are samples) of embeddings (N, D)."""
    emb = _as2d(emb, "embeddings")
    if len(emb) < 2:
        raise ValueError(f"a covariance needs at least 2 embeddings, got {len(emb)}")
    return emb.mean(0), np.cov(emb, rowvar=False)


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6
) -> float:
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 sqrt(S1 S2)) between two Gaussians.

    When the product's square root is singular, eps is added to both diagonals (the reference
    implementation's fallback); an imaginary part left by sqrtm must be negligible.
    """
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    s1, s2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or s1.shape != s2.shape:
        raise ValueError(f"Gaussians of different dimensions: {mu1.shape} vs {mu2.shape}")
    diff = mu1 - mu2
    with warnings.catch_warnings():  # a singular product is handled below, as the reference does
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(s1 @ s2)
        if not np.isfinite(covmean).all():
            offset = np.eye(len(s1)) * eps
            covmean = linalg.sqrtm((s1 + offset) @ (s2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"sqrtm left an imaginary part of {np.abs(covmean.imag).max():.3g}")
        covmean = covmean.real
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def fid(real: np.ndarray, generated: np.ndarray) -> float:
    """FID between real (N, D) and generated (M, D) motion embeddings."""
    return frechet_distance(*gaussian_stats(real), *gaussian_stats(generated))


def diversity(
    emb: np.ndarray, times: int = DIVERSITY_TIMES, rng: np.random.Generator | None = None
) -> float:
    """Mean distance between `times` random pairs of embeddings (N, D), N > times.

    Two index lists of length `times` are drawn, each without replacement, and paired in order.
    """
    emb = _as2d(emb, "embeddings")
    if len(emb) <= times:
        raise ValueError(
            f"diversity over {times} pairs needs more than {times} embeddings, got {len(emb)}"
        )
    rng = rng or np.random.default_rng()
    first = rng.choice(len(emb), times, replace=False)
    second = rng.choice(len(emb), times, replace=False)
    return float(np.linalg.norm(emb[first] - emb[second], axis=1).mean())


def multimodality(
    emb: np.ndarray, times: int = MM_TIMES, rng: np.random.Generator | None = None
) -> float:
    """Mean distance between `times` random pairs of generations per text; emb (T, R, D) holds
    R generations for each of T texts, R > times."""
    a = np.asarray(emb, dtype=np.float64)
    if a.ndim != 3:
        raise ValueError(f"expected (texts, generations, D) embeddings, got shape {a.shape}")
    if a.shape[1] <= times:
        raise ValueError(
            f"multimodality over {times} pairs needs more than {times} generations per text, got {a.shape[1]}"
        )
    rng = rng or np.random.default_rng()
    first = rng.choice(a.shape[1], times, replace=False)
    second = rng.choice(a.shape[1], times, replace=False)
    return float(np.linalg.norm(a[:, first] - a[:, second], axis=-1).mean())


def mean_and_interval(values: np.ndarray, ddof: int = 0) -> tuple[float, float]:
    """(mean, 1.96 * std / sqrt(n)) of values (n,). ddof 0 for the protocol's replications (as
    the T2M evaluation code), 1 for a sample of per-item values (0 half-width when n is 1)."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or len(v) == 0:
        raise ValueError(f"expected a non-empty 1-D array of values, got shape {v.shape}")
    if len(v) <= ddof:
        return float(v.mean()), 0.0
    return float(v.mean()), float(1.96 * v.std(ddof=ddof) / np.sqrt(len(v)))
