"""Contrastive training of a text-motion encoder pair (symmetric InfoNCE, TMR-style).

Each step draws `batch_size` distinct training motions, one random caption of each, and a random
crop of each motion (at least `min_crop` frames, a multiple of 4, as the evaluation protocol
crops). loss = (CE(text -> motion) + CE(motion -> text)) / 2 over cosine / temperature logits,
where a pair of captions whose frozen sentence embeddings have cosine > duplicate_threshold is
not used as a negative for each other (TMR masks such false negatives the same way).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from motion_r1_core.checkpoints import (
    STATE_FILE,
    array_fingerprint,
    commit_checkpoint,
    latest_checkpoint,
)
from motion_r1_core.config import EncodersConfig
from motion_r1_core.encoders.model import MotionEncoder, TextProjection, pad
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


@dataclass
class EncoderTrainSummary:
    """What `train_encoder` did.

    Attributes:
        step: the step reached (== iterations when complete).
        resumed_from: step of the checkpoint it started from (0: fresh).
        seconds: wall time of this call's steps.
        history: one dict per logged interval (step, loss, lr).
    """

    step: int
    resumed_from: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)


# Settings that change the trajectory of training; the others (logging, device) do not.
_TRAJECTORY_KEYS = [
    "latent",
    "temperature",
    "duplicate_threshold",
    "iterations",
    "batch_size",
    "lr",
    "weight_decay",
    "min_crop",
]


def run_fingerprint(
    cfg: EncodersConfig, motion_encoder: MotionEncoder, data: PairData, seed: int
) -> str:
    """Hash of data + model shape + trajectory settings: a checkpoint resumes only under it."""
    parts = {
        "data": array_fingerprint([data.sentences, *data.motions]),
        "captions": data.captions,
        "in_dim": motion_encoder.in_dim,
        "encoder": motion_encoder.cfg.model_dump(mode="json"),
        "train": {k: v for k, v in cfg.model_dump(mode="json").items() if k in _TRAJECTORY_KEYS},
        "seed": seed,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _save(
    ckpt_dir: Path,
    step: int,
    nets: dict[str, torch.nn.Module],
    opt: torch.optim.Optimizer,
    rng: np.random.Generator,
    history: list[dict[str, float]],
    loss_sum: float,
    fingerprint: str,
) -> None:
    def write(folder: Path) -> None:
        tensors = {
            f"{name}.{k}": v.detach().cpu().contiguous()
            for name, net in nets.items()
            for k, v in net.state_dict().items()
        }
        save_file(tensors, str(folder / "model.safetensors"))
        state = {
            "step": step,
            "fingerprint": fingerprint,
            "optimizer": opt.state_dict(),
            "batch_rng": json.dumps(rng.bit_generator.state),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "history": [dict(h) for h in history],
            "loss_sum": loss_sum,  # losses since the last logged row
        }
        torch.save(state, folder / STATE_FILE)

    commit_checkpoint(ckpt_dir, step, write)


def _resume(
    ckpt_dir: Path,
    fingerprint: str,
    nets: dict[str, torch.nn.Module],
    opt: torch.optim.Optimizer,
    rng: np.random.Generator,
) -> tuple[int, list[dict[str, float]], float]:
    folder = latest_checkpoint(ckpt_dir)
    if folder is None:
        return 0, [], 0.0
    state = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=True)
    if state["fingerprint"] != fingerprint:
        log.warning(
            "%s was written for other data or settings (fingerprint %s, now %s): starting afresh",
            folder,
            state["fingerprint"],
            fingerprint,
        )
        return 0, [], 0.0
    tensors = load_file(str(folder / "model.safetensors"))
    for name, net in nets.items():
        net.load_state_dict(
            {k[len(name) + 1 :]: v for k, v in tensors.items() if k.startswith(name + ".")}
        )
    opt.load_state_dict(state["optimizer"])
    rng.bit_generator.state = json.loads(state["batch_rng"])
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return int(state["step"]), list(state["history"]), float(state["loss_sum"])


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
) -> EncoderTrainSummary:
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
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    start, history, acc = 0, [], 0.0
    if ckpt_dir is not None:
        fingerprint = run_fingerprint(cfg, motion_encoder, data, seed)
        start, history, acc = _resume(ckpt_dir, fingerprint, nets, opt, rng)
    sentences = torch.from_numpy(data.sentences).to(device)
    motion_encoder.train()
    text_projection.train()
    batch = min(cfg.batch_size, len(data.motions))
    bar = _progress(progress, cfg.iterations, start, prefix.rstrip("/") or "encoder")
    t0 = time.perf_counter()
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
        acc += float(loss.detach())
        if step % cfg.log_every == 0 or step == cfg.iterations:
            n = step % cfg.log_every or cfg.log_every
            row = {f"{prefix}loss": acc / n, f"{prefix}lr": lr}
            tracker.log_metrics(row, step=step)
            history.append({"step": float(step), **row})
            acc = 0.0
        if ckpt_dir is not None and (step % cfg.checkpoint_every == 0 or step == cfg.iterations):
            _save(ckpt_dir, step, nets, opt, rng, history, acc, fingerprint)
        if bar is not None:
            bar[0].update(bar[1], completed=step)
        if on_step is not None:
            on_step(step)
    if bar is not None:
        bar[0].stop()
    motion_encoder.eval()
    text_projection.eval()
    return EncoderTrainSummary(cfg.iterations, start, time.perf_counter() - t0, history)


def _progress(enabled: bool, total: int, start: int, name: str):
    if not enabled:
        return None
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    p = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )
    p.start()
    return p, p.add_task(name, total=total, completed=start)


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
