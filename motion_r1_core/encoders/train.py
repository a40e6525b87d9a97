"""Contrastive training of a text-motion encoder pair (symmetric InfoNCE, TMR-style).

Each step draws `batch_size` distinct training motions, one random caption of each, and a random
crop of each motion (at least `min_crop` frames, a multiple of 4, as the evaluation protocol
crops). loss = (CE(text -> motion) + CE(motion -> text)) / 2 over cosine / temperature logits,
where a pair of captions whose frozen sentence embeddings have cosine > duplicate_threshold is
not used as a negative for each other (TMR masks such false negatives the same way).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from motion_r1_core import checkpoints
from motion_r1_core.config import EncodersConfig
from motion_r1_core.encoders.model import MotionEncoder, TextProjection, pad
from motion_r1_core.runtime import progress_bar
from motion_r1_core.tracking import NullTracker, Tracker

log = logging.getLogger(__name__)


def info_nce(
    text: torch.Tensor,
    motion: torch.Tensor,
    temperature: float,
    sentence_sim: torch.Tensor | None = None,
    threshold: float = 0.8,
) -> torch.Tensor:
    """Symmetric InfoNCE of paired unit embeddings text (B, L) and motion (B, L).

    Off-diagonal pairs whose sentence similarity (B, B) exceeds `threshold` are masked out of
    both softmaxes (they are near-duplicate captions, not negatives).
    """
    logits = text @ motion.T / temperature
    if sentence_sim is not None:
        dup = sentence_sim > threshold
        dup.fill_diagonal_(False)
        logits = logits.masked_fill(dup, float("-inf"))
    target = torch.arange(len(text), device=text.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


@dataclass
class PairData:
    """Training material: normalised motions, their captions' sentence embeddings.

    Attributes:
        motions: normalised features (T_i, D) per motion.
        captions: per motion, the row indices of its captions in `sentences`.
        sentences: (N_captions, E) frozen sentence embeddings.
    """

    motions: list[np.ndarray]
    captions: list[list[int]]
    sentences: np.ndarray


def random_crops(
    motions: list[np.ndarray], idx: np.ndarray, min_crop: int, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random crops (multiples of 4 frames, >= min_crop where the motion allows) of the chosen
    motions, zero-padded: (B, T_max, D) and lengths (B,)."""
    crops = []
    for i in idx:
        m = motions[i]
        n = len(m)
        lo = min(min_crop, n)
        length = int(rng.integers(lo, n + 1)) // 4 * 4 or min(4, n)
        start = int(rng.integers(0, n - length + 1))
        crops.append(m[start : start + length])
    lengths = torch.tensor([len(c) for c in crops])
    x = torch.zeros(len(crops), int(lengths.max()), motions[0].shape[-1])
    for b, c in enumerate(crops):
        x[b, : len(c)] = torch.from_numpy(c)
    return x, lengths


# Fields of the section that are not this encoder's training: the checks' floors, and the two
# encoders' shapes (the fingerprint takes the trained one's shape from the network itself).
_NOT_TRAINING = ("min_real_top3", "max_shuffled_top3", "max_agreement", "reward", "evaluator")


def encoder_fingerprint(
    cfg: EncodersConfig, motion_encoder: MotionEncoder, data: PairData, seed: int
) -> str:
    """Hash of data + model shape + trajectory settings: a checkpoint resumes only under it."""
    return checkpoints.run_fingerprint(
        data=checkpoints.array_fingerprint([data.sentences, *data.motions]),
        captions=data.captions,
        in_dim=motion_encoder.in_dim,
        encoder=motion_encoder.cfg.model_dump(mode="json"),
        train=checkpoints.settings(cfg, ignore=_NOT_TRAINING),
        seed=seed,
    )


def train_encoder(
    motion_encoder: MotionEncoder,
    text_projection: TextProjection,
    data: PairData,
    cfg: EncodersConfig,
    seed: int,
    device: torch.device,
    tracker: Tracker | None = None,
    prefix: str = "",
    ckpt_dir: Path | None = None,
    on_step: Callable[[int], None] | None = None,
    progress: bool = False,
) -> checkpoints.TrainSummary:
    """Train both networks in place with InfoNCE for `cfg.iterations` steps (cosine lr decay).

    Metrics (`{prefix}loss`, `{prefix}lr`) go to `tracker` every `cfg.log_every` steps. With
    `ckpt_dir`, the state is saved every `cfg.checkpoint_every` steps and a rerun on the same
    data and settings resumes from the latest one (bitwise on CPU). `on_step(step)` is called
    after each optimiser step. Seed the global RNG before building the networks.
    """
    tracker = tracker or NullTracker()
    rng = np.random.default_rng(seed)
    nets = {"motion": motion_encoder.to(device), "text": text_projection.to(device)}
    params = [p for net in nets.values() for p in net.parameters()]
    state = checkpoints.TrainingState(
        nets,
        torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay),
        generators={"batches": rng},
        extra={"loss_sum": 0.0},  # losses since the last logged row
    )
    ckpt = None
    if ckpt_dir is not None:
        ckpt = checkpoints.Checkpointer(
            ckpt_dir, encoder_fingerprint(cfg, motion_encoder, data, seed)
        )
        ckpt.resume(state)
    start, opt = state.step, state.optimizer
    sentences = torch.from_numpy(data.sentences).to(device)
    motion_encoder.train()
    text_projection.train()
    batch = min(cfg.batch_size, len(data.motions))
    name = prefix.rstrip("/") or "encoder"
    t0 = time.perf_counter()
    with progress_bar(name, cfg.iterations, start, progress) as bar:
        for step in range(start + 1, cfg.iterations + 1):
            lr = cfg.lr * 0.5 * (1 + math.cos(math.pi * (step - 1) / cfg.iterations))
            for g in opt.param_groups:
                g["lr"] = lr
            idx = rng.choice(len(data.motions), batch, replace=False)
            cap = torch.tensor([int(rng.choice(data.captions[i])) for i in idx], device=device)
            x, lengths = random_crops(data.motions, idx, cfg.min_crop, rng)
            s = sentences[cap]
            loss = info_nce(
                text_projection(s),
                motion_encoder(x.to(device), lengths.to(device)),
                cfg.temperature,
                s @ s.T,
                cfg.duplicate_threshold,
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            state.step = step
            state.extra["loss_sum"] += float(loss.detach())
            if checkpoints.due(step, cfg.log_every, cfg.iterations):
                n = step % cfg.log_every or cfg.log_every
                row = {f"{prefix}loss": state.extra["loss_sum"] / n, f"{prefix}lr": lr}
                tracker.log_metrics(row, step=step)
                state.history.append({"step": float(step), **row})
                state.extra["loss_sum"] = 0.0
            if ckpt is not None and checkpoints.due(step, cfg.checkpoint_every, cfg.iterations):
                ckpt.save(state)
            bar.update(step)
            if on_step is not None:
                on_step(step)
    motion_encoder.eval()
    text_projection.eval()
    return checkpoints.TrainSummary(cfg.iterations, start, time.perf_counter() - t0, state.history)


@torch.no_grad()
def embed_motions(
    encoder: MotionEncoder, motions: list[np.ndarray], device: torch.device, batch: int = 256
) -> np.ndarray:
    """(N, latent) unit embeddings of whole normalised motions (T_i, D)."""
    encoder.eval()
    out = []
    for s in range(0, len(motions), batch):
        x, lengths = pad(motions[s : s + batch])
        out.append(encoder(x.to(device), lengths.to(device)).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, encoder.latent), np.float32)


@torch.no_grad()
def embed_texts(
    projection: TextProjection, sentences: np.ndarray, device: torch.device
) -> np.ndarray:
    """(N, latent) unit embeddings of frozen sentence embeddings (N, E)."""
    projection.eval()
    return projection(torch.from_numpy(np.asarray(sentences, np.float32)).to(device)).cpu().numpy()


def retrieval_recall(
    text: np.ndarray, motion: np.ndarray, ks: tuple[int, ...] = (1, 5, 10)
) -> dict[int, float]:
    """Text -> motion recall@k over the whole set: text i's own motion is motion i.

    Ranked by cosine (embeddings are unit vectors); ties count against the text.
    """
    sim = np.asarray(text, np.float64) @ np.asarray(motion, np.float64).T
    own = np.diag(sim)[:, None]
    rank = (sim > own).sum(1) + (sim == own).sum(1) - 1
    return {k: float((rank < k).mean()) for k in ks}
