"""Reconstruction quality of a tokenizer: MPJPE (mm), feature L1, codebook usage.

MPJPE follows MotionGPT's tokenizer table: joints are recovered from the features of the original
and of the reconstruction (`recover_from_ric`), the root joint is subtracted per frame, and the
mean Euclidean error over all joints and frames is reported in millimetres. The global variant
keeps the root trajectory (so drift of the integrated root velocity counts too).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from motion_r1_core.expectations import CheckOutcome, metrics_outcome
from motion_r1_core.features import recover_from_ric
from motion_r1_core.vqvae.tokenizer import MotionTokenizer


@dataclass
class Reconstruction:
    """One motion and its reconstruction, both raw features (T, D) cropped to T = f * L."""

    index: int
    original: torch.Tensor
    recon: torch.Tensor
    ids: torch.Tensor


def _crop(n: int, f: int, max_frames: int | None) -> int:
    n = min(n, max_frames) if max_frames else n
    return n // f * f


@torch.no_grad()
def reconstruct(
    tok: MotionTokenizer,
    motions: Sequence[np.ndarray],
    batch: int = 64,
    max_frames: int | None = 196,
) -> list[Reconstruction]:
    """Encode and decode raw feature arrays (T_i, D), batched by equal cropped length.

    Each motion is cropped to its first min(T_i, max_frames) // f * f frames (f frames per
    token), so no padding ever reaches the convolutions. Motions shorter than f are skipped.
    """
    f = tok.frames_per_token
    groups: dict[int, list[int]] = defaultdict(list)
    for i, m in enumerate(motions):
        if (n := _crop(len(m), f, max_frames)) > 0:
            groups[n].append(i)
    out: list[Reconstruction] = []
    for n, idx in sorted(groups.items()):
        for s in range(0, len(idx), batch):
            part = idx[s : s + batch]
            x = torch.from_numpy(np.stack([np.asarray(motions[i][:n], np.float32) for i in part]))
            ids = tok.model.encode(tok.normalise(x))
            recon = tok.denormalise(tok.model.decode(ids)).cpu()
            out += [Reconstruction(i, x[k], recon[k], ids[k].cpu()) for k, i in enumerate(part)]
    return sorted(out, key=lambda r: r.index)


def mpjpe_mm(pred: torch.Tensor, target: torch.Tensor, align_root: bool = True) -> torch.Tensor:
    """Per-frame mean joint error (T,) in millimetres of joints (T, J, 3) in metres."""
    if align_root:
        pred, target = pred - pred[:, :1], target - target[:, :1]
    return (pred - target).norm(dim=-1).mean(-1) * 1000.0


def reconstruction_metrics(
    tok: MotionTokenizer,
    motions: Sequence[np.ndarray],
    batch: int = 64,
    max_frames: int | None = 196,
) -> tuple[dict[str, float], list[Reconstruction]]:
    """Metrics of reconstructing `motions` (raw features (T_i, D)), and the reconstructions.

    Returns ({mpjpe_mm, mpjpe_global_mm, feature_l1, codes_used, perplexity, n_motions,
    n_frames}, reconstructions). MPJPEs are frame-weighted means; feature_l1 is the mean
    absolute error of normalised features; codes_used is the share of the K codes that occur.
    """
    recs = reconstruct(tok, motions, batch, max_frames)
    if not recs:
        raise ValueError(f"no motion has {tok.frames_per_token} frames or more to reconstruct")
    err, err_global, l1, frames = 0.0, 0.0, 0.0, 0
    counts = torch.zeros(tok.codebook_size)
    for r in recs:
        j_gt = recover_from_ric(r.original, tok.skeleton)
        j_rec = recover_from_ric(r.recon, tok.skeleton)
        err += mpjpe_mm(j_rec, j_gt).sum().item()
        err_global += mpjpe_mm(j_rec, j_gt, align_root=False).sum().item()
        l1 += (tok.normalise(r.recon) - tok.normalise(r.original)).abs().mean(-1).sum().item()
        frames += r.original.shape[0]
        counts += torch.bincount(r.ids, minlength=tok.codebook_size).float()
    p = counts / counts.sum()
    entropy = -(p[p > 0] * p[p > 0].log()).sum().item()
    metrics = {
        "mpjpe_mm": err / frames,
        "mpjpe_global_mm": err_global / frames,
        "feature_l1": l1 / frames,
        "codes_used": float((counts > 0).float().mean()),
        "perplexity": float(np.exp(entropy)),
        "n_motions": float(len(recs)),
        "n_frames": float(frames),
    }
    return metrics, recs


def quality_check(metrics_path: Path, max_mpjpe_mm: float, min_codes_used: float) -> CheckOutcome:
    """Does the tokenizer meet the quality bars? Reads the `test_mpjpe_mm` (mm) and
    `test_codes_used` (share of K) of the motion_vqvae stage's metrics.json; passed when
    MPJPE <= `max_mpjpe_mm` and codes used >= `min_codes_used`. A missing file fails."""

    def judge(m: Mapping[str, Any]) -> CheckOutcome:
        mpjpe, used = m["test_mpjpe_mm"], m["test_codes_used"]
        return CheckOutcome(
            mpjpe <= max_mpjpe_mm and used >= min_codes_used,
            {
                "test_mpjpe_mm": mpjpe,
                "max_test_mpjpe_mm": max_mpjpe_mm,
                "test_codes_used": used,
                "min_codes_used": min_codes_used,
            },
        )

    return metrics_outcome(metrics_path, judge)
