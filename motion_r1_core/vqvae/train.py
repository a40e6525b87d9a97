"""Training loop of the motion tokenizer: random windows, AdamW, warm-up + step decay, resumable.

loss = smoothL1(recon, x) + loss_joints * smoothL1(recon[ric], x[ric]) + commitment * commit

`ric` is the root-relative joint-position slice 4:4+3(J-1) (T2M-GPT calls this term "velocity").
Every `checkpoint_every` steps the resume protocol of `motion_r1_core.checkpoints` saves the
model, the optimiser, the step, the window sampler's generator and the global RNG state (k-means
init and dead-code resets draw from it). A run restarted on the same data and configuration
continues from there and, on CPU, reproduces an uninterrupted run bit for bit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from motion_r1_core import checkpoints
from motion_r1_core.config import VQVAETrainConfig
from motion_r1_core.runtime import progress_bar, resolve_device
from motion_r1_core.tracking import NullTracker, Tracker
from motion_r1_core.vqvae.model import MotionVQVAE

log = logging.getLogger(__name__)


def lr_factor(step: int, cfg: VQVAETrainConfig) -> float:
    """Learning-rate multiplier at optimiser step `step` (0-based): linear warm-up over `warmup`
    steps, then x gamma at each milestone passed."""
    warm = min(1.0, (step + 1) / cfg.warmup) if cfg.warmup else 1.0
    return warm * cfg.gamma ** sum(step >= m for m in cfg.milestones)


class WindowSampler:
    """Uniform random windows of `window` frames: a motion uniformly, then a start uniformly.

    All motions (normalised, (T_i, D)) live in one flat tensor on `device`, so a batch is one
    gather. Motions shorter than the window are left out. Randomness comes only from
    `generator` (CPU), whose state is part of the checkpoint.
    """

    def __init__(
        self, motions: Sequence[np.ndarray], window: int, device: torch.device, seed: int
    ) -> None:
        keep = [np.asarray(m, np.float32) for m in motions if len(m) >= window]
        if not keep:
            raise ValueError(f"no training motion has {window} frames or more")
        self.window, self.n = window, len(keep)
        lengths = torch.tensor([len(m) for m in keep])
        self.offsets = torch.cumsum(lengths, 0) - lengths
        self.n_starts = lengths - window + 1
        self.flat = torch.from_numpy(np.concatenate(keep)).to(device)
        self.generator = torch.Generator().manual_seed(seed)

    def sample(self, batch: int) -> torch.Tensor:
        """(batch, window, D) windows."""
        i = torch.randint(self.n, (batch,), generator=self.generator)
        start = (torch.rand(batch, generator=self.generator) * self.n_starts[i]).long()
        index = (self.offsets[i] + start)[:, None] + torch.arange(self.window)
        return self.flat[index.to(self.flat.device)]


def data_fingerprint(motions: Sequence[np.ndarray], mean: np.ndarray, std: np.ndarray) -> str:
    """Short hash of what the trainer sees: motion lengths and contents, and the statistics."""
    return checkpoints.array_fingerprint([mean, std, *motions])


def vqvae_fingerprint(cfg: VQVAETrainConfig, model: MotionVQVAE, data: str) -> str:
    """Hash of data + model shape + trajectory settings: a checkpoint resumes only under it."""
    return checkpoints.run_fingerprint(
        data=data,
        in_dim=model.in_dim,
        model=model.cfg.model_dump(mode="json"),
        train=checkpoints.settings(cfg),
    )


# ---------------------------------------------------------------------------------------- loop
def train_vqvae(
    model: MotionVQVAE,
    train_motions: Sequence[np.ndarray],
    mean: np.ndarray,
    std: np.ndarray,
    cfg: VQVAETrainConfig,
    ckpt_dir: Path,
    tracker: Tracker | None = None,
    validate: Callable[[MotionVQVAE], dict[str, float]] | None = None,
    on_step: Callable[[int], None] | None = None,
    progress: bool = True,
) -> checkpoints.TrainSummary:
    """Train `model` on random windows of raw train motions (T_i, D), resuming from `ckpt_dir`.

    Features are normalised with (mean, std); both are part of the run's fingerprint.
    `validate(model)` runs every `eval_every` steps (its own schedule, independent of
    `log_every`) and at the end; its metrics are logged with a `val_` prefix. `on_step(step)` is called after each optimiser step. Seed the global
    RNG before building `model` for a reproducible run.
    """
    tracker = tracker or NullTracker()
    device = resolve_device(cfg.device)
    model.to(device).train()
    normalised = [(np.asarray(m, np.float32) - mean) / std for m in train_motions]
    sampler = WindowSampler(normalised, cfg.window, device, seed=cfg.seed + 1)
    state = checkpoints.TrainingState(
        {"model": model},
        build_optimizer(model, cfg, device),
        generators={"windows": sampler.generator},
    )
    fingerprint = vqvae_fingerprint(cfg, model, data_fingerprint(train_motions, mean, std))
    ckpt = checkpoints.Checkpointer(ckpt_dir, fingerprint)
    if ckpt.resume(state):
        log.info("resuming from step %d of %s", state.step, ckpt_dir)
        tracker.set_tags({"resumed_from_step": str(state.step)})
    start, opt = state.step, state.optimizer
    if cfg.compile:
        compile_model(model)
    use_bf16 = cfg.bf16 and device.type == "cuda"
    K = model.cfg.codebook_size
    acc: dict[str, torch.Tensor] = {}
    n_acc = 0
    counts = torch.zeros(K, device=device)

    t0 = time.perf_counter()
    with progress_bar("vqvae", cfg.iterations, start, progress) as bar:
        while state.step < cfg.iterations:
            for group in opt.param_groups:
                group["lr"] = cfg.lr * lr_factor(state.step, cfg)
            parts, ids = train_step(model, opt, sampler.sample(cfg.batch_size), cfg, use_bf16)
            state.step += 1
            step = state.step
            for k, v in parts.items():  # summed on the device: no host sync between log steps
                acc[k] = acc[k] + v if k in acc else v
            n_acc += 1
            counts += torch.bincount(ids.flatten(), minlength=K)
            row: dict[str, float] = {}
            if checkpoints.due(step, cfg.log_every, cfg.iterations):
                row = {k: float(v) / n_acc for k, v in acc.items()}
                row |= {
                    "codes_used": float((counts > 0).float().mean()),
                    "lr": opt.param_groups[0]["lr"],
                }
                acc, n_acc, counts = {}, 0, torch.zeros(K, device=device)
            if validate is not None and checkpoints.due(step, cfg.eval_every, cfg.iterations):
                model.eval()
                row |= {f"val_{k}": v for k, v in validate(model).items()}
                model.train()
            if row:
                tracker.log_metrics(row, step=step)
                state.history.append({"step": float(step), **row})
            if checkpoints.due(step, cfg.checkpoint_every, cfg.iterations):
                ckpt.save(state)
            bar.update(step, f"vqvae loss {row['loss']:.4f}" if "loss" in row else None)
            if on_step is not None:
                on_step(step)
    return checkpoints.TrainSummary(state.step, start, time.perf_counter() - t0, state.history)


def build_optimizer(
    model: MotionVQVAE, cfg: VQVAETrainConfig, device: torch.device
) -> torch.optim.AdamW:
    """AdamW over all parameters; the fused kernel on CPU and CUDA (on CPU the optimiser is under
    1% of a step of the cpu size: benchmarks/vqvae_throughput.py)."""
    return torch.optim.AdamW(
        model.parameters(),
        lr=cfg.lr,
        betas=cfg.betas,
        weight_decay=cfg.weight_decay,
        fused=device.type in ("cpu", "cuda"),
    )


def compile_model(model: MotionVQVAE) -> None:
    """`torch.compile` the encoder and decoder in place; the quantiser's data-dependent code
    (k-means init, dead-code resets) stays eager."""
    model.encoder.compile()
    model.decoder.compile()


def train_step(
    model: MotionVQVAE,
    opt: torch.optim.Optimizer,
    x: torch.Tensor,
    cfg: VQVAETrainConfig,
    bf16: bool = False,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """One optimiser step on a batch of normalised windows `x` (B, T, D).

    Returns the detached loss terms (0-dim tensors on x's device: loss, recon, joints, commit,
    perplexity) and the code ids (B, T / f). `bf16` runs the model under bfloat16 autocast; the
    losses are computed in float32.
    """
    ric = slice(4, 4 + 3 * (_joints_of(model.in_dim) - 1))
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
        out = model(x)
    recon = out.recon.float()
    rec = F.smooth_l1_loss(recon, x)
    joints = F.smooth_l1_loss(recon[..., ric], x[..., ric])
    loss = rec + cfg.loss_joints * joints + cfg.commitment * out.commitment
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    opt.step()
    terms = {
        "loss": loss,
        "recon": rec,
        "joints": joints,
        "commit": out.commitment,
        "perplexity": out.perplexity,
    }
    return {k: v.detach().float() for k, v in terms.items()}, out.ids


def _joints_of(in_dim: int) -> int:
    from motion_r1_core.skeleton import skeleton_for_dim

    return skeleton_for_dim(in_dim).n_joints
