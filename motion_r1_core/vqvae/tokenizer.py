"""A trained tokenizer as one object: model + the statistics it was trained on + its skeleton.

    tok = MotionTokenizer.load("artifacts/procedural/vqvae/vqvae.safetensors")
    ids = tok.encode(features)          # (T, D) raw features -> (T // 4,) int64
    feats = tok.decode(ids)             # -> (4 L, D) raw features
    joints = tok.decode_joints(ids)     # -> (4 L, J, 3) metres

The checkpoint is one safetensors file: the model's tensors, `norm.mean` / `norm.std` (the
statistics the features were normalised with) and, in its metadata, the model shape, the input
width and where the statistics came from. Downstream code must de-normalise with these stats and
re-normalise with the evaluator's (REFERENCE.md section 4: the normalisation trap).
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, safe_open, save_file

from motion_r1_core.config import VQVAEModelConfig
from motion_r1_core.expectations import CheckOutcome
from motion_r1_core.features import recover_from_ric
from motion_r1_core.skeleton import Skeleton, skeleton_for_dim
from motion_r1_core.vqvae.model import MotionVQVAE

FORMAT = "motion-r1/vqvae/1"
CHECKPOINT = "vqvae.safetensors"  # file name of a trained tokenizer in artifacts/<dataset>/vqvae/


def save_checkpoint(
    path: Path,
    model: MotionVQVAE,
    mean: np.ndarray,
    std: np.ndarray,
    info: dict[str, Any] | None = None,
) -> Path:
    """Write model tensors + normalisation stats to one safetensors file, atomically.

    `info` (JSON-able) goes into the metadata, e.g. {"stats_source": ..., "step": ...}.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors["norm.mean"] = torch.as_tensor(np.asarray(mean, dtype=np.float32))
    tensors["norm.std"] = torch.as_tensor(np.asarray(std, dtype=np.float32))
    metadata = {
        "format": FORMAT,
        "in_dim": str(model.in_dim),
        "model": model.cfg.model_dump_json(),
        "info": json.dumps(info or {}, default=str),
    }
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    os.replace(tmp, path)
    return path


def read_metadata(path: Path) -> dict[str, Any]:
    """The metadata of a tokenizer checkpoint: format, in_dim, model (dict), info (dict)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: tokenizer checkpoint missing")
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if meta.get("format") != FORMAT:
        raise ValueError(
            f"{path}: not a motion-r1 tokenizer checkpoint (format {meta.get('format')!r})"
        )
    return {
        "format": meta["format"],
        "in_dim": int(meta["in_dim"]),
        "model": json.loads(meta["model"]),
        "info": json.loads(meta.get("info", "{}")),
    }


@dataclass
class MotionTokenizer:
    """A VQ-VAE with the statistics its inputs were normalised with.

    Attributes:
        model: the VQ-VAE (eval mode).
        mean, std: (D,) float32 normalisation statistics of training.
        skeleton: the skeleton matching the feature width.
        info: checkpoint metadata (stats source, training step, ...).
    """

    model: MotionVQVAE
    mean: np.ndarray
    std: np.ndarray
    skeleton: Skeleton
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, device: str | torch.device = "cpu") -> MotionTokenizer:
        """Rebuild a tokenizer from its safetensors checkpoint (no pickle involved)."""
        meta = read_metadata(path)
        tensors = load_file(str(path))
        mean = tensors.pop("norm.mean").numpy()
        std = tensors.pop("norm.std").numpy()
        model = MotionVQVAE(meta["in_dim"], VQVAEModelConfig.model_validate(meta["model"]))
        model.load_state_dict(tensors)
        model.to(device).eval()
        return cls(model, mean, std, skeleton_for_dim(meta["in_dim"]), meta["info"])

    # ------------------------------------------------------------------------------ helpers
    @property
    def codebook_size(self) -> int:
        """Number of codes K; valid ids are 0..K-1."""
        return self.model.cfg.codebook_size

    @property
    def frames_per_token(self) -> int:
        """Frames covered by one token (4 for the paper's shape)."""
        return self.model.frames_per_token

    @property
    def device(self) -> torch.device:
        """Device of the model's parameters."""
        return next(self.model.parameters()).device

    def normalise(self, features: np.ndarray | torch.Tensor) -> torch.Tensor:
        """(x - mean) / std as a float32 tensor on the model's device; features (..., D)."""
        x = (
            torch.as_tensor(np.asarray(features, dtype=np.float32))
            if not torch.is_tensor(features)
            else features
        )
        x = x.to(self.device, torch.float32)
        return (x - torch.as_tensor(self.mean, device=self.device)) / torch.as_tensor(
            self.std, device=self.device
        )

    def denormalise(self, x: torch.Tensor) -> torch.Tensor:
        """x * std + mean; x (..., D) on the model's device."""
        return x * torch.as_tensor(self.std, device=x.device) + torch.as_tensor(
            self.mean, device=x.device
        )

    def check_ids(self, tokens: Sequence[int] | np.ndarray | torch.Tensor) -> torch.Tensor:
        """Token ids as an int64 tensor (L,); raises ValueError if empty or out of [0, K)."""
        ids = torch.as_tensor(np.asarray(tokens) if not torch.is_tensor(tokens) else tokens)
        if ids.ndim != 1:
            raise ValueError(f"expected a flat list of token ids, got shape {tuple(ids.shape)}")
        if ids.numel() == 0:
            raise ValueError("empty token list: a motion needs at least one token")
        if ids.is_floating_point() and not torch.equal(ids, ids.round()):
            raise ValueError("token ids must be integers")
        ids = ids.long()
        bad = ((ids < 0) | (ids >= self.codebook_size)).nonzero().flatten()
        if bad.numel():
            shown = ", ".join(f"{ids[i].item()} at position {i.item()}" for i in bad[:5])
            raise ValueError(
                f"token ids out of range [0, {self.codebook_size}): {shown}"
                + (f" (+{bad.numel() - 5} more)" if bad.numel() > 5 else "")
            )
        return ids

    # ---------------------------------------------------------------------------- encode/decode
    @torch.no_grad()
    def encode(self, features: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Token ids (T // f,) of raw features (T, D), cropped to a multiple of f frames."""
        x = self.normalise(features)
        if x.ndim != 2 or x.shape[-1] != self.model.in_dim:
            raise ValueError(f"expected features (T, {self.model.in_dim}), got {tuple(x.shape)}")
        n = x.shape[0] // self.frames_per_token * self.frames_per_token
        if n == 0:
            raise ValueError(f"{x.shape[0]} frames: need at least {self.frames_per_token}")
        return self.model.encode(x[None, :n])[0].cpu()

    @torch.no_grad()
    def encode_batch(self, features: torch.Tensor) -> torch.Tensor:
        """Token ids (B, T // f) of raw features (B, T, D), T a multiple of f."""
        return self.model.encode(self.normalise(features)).cpu()

    def encode_many(self, motions: Sequence[np.ndarray], batch: int = 64) -> list[list[int]]:
        """Token ids of each raw feature array (T_i, D), batched by equal cropped length.

        Each motion is cropped to a multiple of `frames_per_token`; one shorter than that raises.
        """
        f = self.frames_per_token
        out: list[list[int] | None] = [None] * len(motions)
        groups: dict[int, list[int]] = defaultdict(list)
        for i, m in enumerate(motions):
            if len(m) < f:
                raise ValueError(f"motion {i} has {len(m)} frames; a token needs {f}")
            groups[len(m) // f * f].append(i)
        for n, idx in groups.items():
            for s in range(0, len(idx), batch):
                part = idx[s : s + batch]
                x = torch.from_numpy(np.stack([motions[i][:n] for i in part]).astype(np.float32))
                for i, ids in zip(part, self.encode_batch(x).tolist(), strict=True):
                    out[i] = ids
        return out  # type: ignore[return-value]

    @torch.no_grad()
    def decode(self, tokens: Sequence[int] | np.ndarray | torch.Tensor) -> torch.Tensor:
        """Raw (de-normalised) features (f * L, D) of L token ids; float32 on the CPU."""
        ids = self.check_ids(tokens).to(self.device)
        return self.denormalise(self.model.decode(ids[None]))[0].cpu()

    @torch.no_grad()
    def decode_many(
        self, code_lists: Sequence[Sequence[int]], batch: int = 256
    ) -> list[torch.Tensor]:
        """Raw features (f * L_i, D) float32 on the CPU of each code list, as `decode` of each.

        Lists of different lengths are sorted by length, right-padded with code 0 and decoded
        `batch` lists per decoder pass (`MotionVQVAE.decode_padded`); the output keeps the input
        order. Every list is checked first: an empty list or an id outside [0, K) raises a
        ValueError naming the list's index.
        """
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        ids = []
        for i, codes in enumerate(code_lists):
            try:
                ids.append(self.check_ids(codes))
            except ValueError as e:
                raise ValueError(f"code list {i}: {e}") from e
        f = self.frames_per_token
        out: list[torch.Tensor | None] = [None] * len(ids)
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        for s in range(0, len(order), batch):
            part = order[s : s + batch]
            lengths = torch.tensor([len(ids[i]) for i in part])
            padded = torch.zeros(len(part), int(lengths.max()), dtype=torch.long)
            for row, i in enumerate(part):
                padded[row, : len(ids[i])] = ids[i]
            x = self.model.decode_padded(padded.to(self.device), lengths.to(self.device))
            feats = self.denormalise(x).float().cpu()
            for row, i in enumerate(part):
                out[i] = feats[row, : f * len(ids[i])].clone()
        return out  # type: ignore[return-value]

    @torch.no_grad()
    def decode_joints(self, tokens: Sequence[int] | np.ndarray | torch.Tensor) -> torch.Tensor:
        """Joint positions (f * L, J, 3) in metres of L token ids."""
        return recover_from_ric(self.decode(tokens), self.skeleton)


# ------------------------------------------------------------------------------------ checks
def token_layout(path: Path) -> tuple[int, int]:
    """(codebook size K, frames per token) of a checkpoint, read from its metadata only."""
    model = read_metadata(path)["model"]
    return int(model["codebook_size"]), 2 ** int(model["down_t"])  # one token per 2**down_t


def roundtrip_check(path: Path) -> CheckOutcome:
    """Does the checkpoint load and decode? Passed when decoding the first and the last code
    gives finite features and every std entry is > 0. Metadata: in_dim, training step, stats
    source, decoded frames; a missing or unreadable checkpoint fails with `error`."""
    try:
        meta = read_metadata(path)
        tok = MotionTokenizer.load(path)
        feats = tok.decode([0, tok.codebook_size - 1])
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        return CheckOutcome(False, {"error": str(e)})
    return CheckOutcome(
        bool(np.isfinite(feats.numpy()).all() and (tok.std > 0).all()),
        {
            "in_dim": meta["in_dim"],
            "step": meta["info"].get("step", -1),
            "stats_source": meta["info"].get("stats_source", ""),
            "decoded_frames": int(feats.shape[0]),
        },
    )
