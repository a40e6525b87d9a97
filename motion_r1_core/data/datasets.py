"""Torch datasets over loaded samples: normalised windows (VQ-VAE) and (caption, motion) pairs."""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from motion_r1_core.data.humanml3d import MotionRecord


def normalise(features: np.ndarray | torch.Tensor, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(x - mean) / std for features (..., D) with statistics (D,)."""
    return ((np.asarray(features) - mean) / std).astype(np.float32)


def denormalise(features: np.ndarray | torch.Tensor, mean: np.ndarray, std: np.ndarray):
    """x * std + mean, for numpy arrays or tensors (..., D)."""
    if torch.is_tensor(features):
        return features * torch.as_tensor(std, dtype=features.dtype, device=features.device) + (
            torch.as_tensor(mean, dtype=features.dtype, device=features.device)
        )
    return np.asarray(features) * std + mean


class MotionWindowDataset(Dataset):
    """Random fixed-length windows of normalised features, as the VQ-VAE trains on.

    Motions shorter than `window` are left out. Item i is a window of motion i % n at a random
    start drawn from `random` (seed it, or the DataLoader's worker seed, for reproducibility).

    Returns: float32 tensor (window, D).
    """

    def __init__(
        self, records: Sequence[MotionRecord], mean: np.ndarray, std: np.ndarray, window: int = 64
    ) -> None:
        self.window = window
        self.motions = [normalise(r.features, mean, std) for r in records if r.n_frames >= window]
        if not self.motions:
            raise ValueError(f"no motion has at least {window} frames")

    def __len__(self) -> int:
        return len(self.motions)

    def __getitem__(self, i: int) -> torch.Tensor:
        m = self.motions[i % len(self.motions)]
        start = random.randint(0, m.shape[0] - self.window)
        return torch.from_numpy(m[start : start + self.window].copy())


class TextMotionDataset(Dataset):
    """(caption, motion) pairs: one item per sample, a random caption of it per access.

    Lengths are cropped at a random offset to a multiple of `unit_length` and at most
    `max_frames`; with `all_captions`, every (sample, caption) pair is its own item instead.

    Returns: dict(name, caption, tokens, motion (T, D) float32 normalised tensor, length).
    """

    def __init__(
        self,
        records: Sequence[MotionRecord],
        mean: np.ndarray,
        std: np.ndarray,
        max_frames: int = 196,
        unit_length: int = 4,
        all_captions: bool = False,
    ) -> None:
        self.records = list(records)
        self.mean, self.std = mean, std
        self.max_frames, self.unit_length = max_frames, unit_length
        self.index = [
            (i, j if all_captions else None)
            for i, r in enumerate(self.records)
            for j in (range(len(r.captions)) if all_captions else [0])
        ]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, k: int) -> dict:
        i, j = self.index[k]
        rec = self.records[i]
        cap = rec.captions[j] if j is not None else random.choice(rec.captions)
        n = min(rec.n_frames, self.max_frames) // self.unit_length * self.unit_length
        start = random.randint(0, rec.n_frames - n)
        motion = normalise(rec.features[start : start + n], self.mean, self.std)
        return {
            "name": rec.name,
            "caption": cap.text,
            "tokens": list(cap.tokens),
            "motion": torch.from_numpy(motion),
            "length": n,
        }


def collate_pairs(batch: list[dict]) -> dict:
    """Pad motions to the longest in the batch: motion (B, T, D), length (B,), lists otherwise."""
    lengths = torch.tensor([b["length"] for b in batch])
    dim = batch[0]["motion"].shape[-1]
    motion = torch.zeros(len(batch), int(lengths.max()), dim)
    for i, b in enumerate(batch):
        motion[i, : b["length"]] = b["motion"]
    return {
        "name": [b["name"] for b in batch],
        "caption": [b["caption"] for b in batch],
        "tokens": [b["tokens"] for b in batch],
        "motion": motion,
        "length": lengths,
    }
