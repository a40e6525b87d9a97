"""Stage `motion_vqvae`: train the motion tokenizer on data/raw/<dataset>, then measure it.

Writes artifacts/<dataset>/vqvae/:
    vqvae.safetensors        the tokenizer (model + the mean/std it was trained on)
    metrics.json             test reconstruction (MPJPE mm, feature L1, codebook usage) + training
    training_curves.png      losses, perplexity, codebook usage, learning rate, validation
    recon/<id>.gif           test motions beside their reconstructions
    checkpoints/             resumable state; a rerun continues from the latest one
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from motion_r1_core.config import Config
from motion_r1_core.data.humanml3d import load_mean_std, load_motions, read_captions
from motion_r1_core.features import feature_mean_std
from motion_r1_core.runtime import resolve_device
from motion_r1_core.skeleton import Skeleton, skeleton_for_dim
from motion_r1_core.tracking import Tracker, log_stage
from motion_r1_core.vqvae.evaluate import reconstruction_metrics
from motion_r1_core.vqvae.model import MotionVQVAE
from motion_r1_core.vqvae.tokenizer import CHECKPOINT, MotionTokenizer, save_checkpoint
from motion_r1_core.vqvae.train import train_vqvae

FEAT_BIAS = 5.0  # the evaluator meta divides the std of root and foot features by this
# the training curves in training_curves.png
CURVES = ("loss", "recon", "joints", "commit", "perplexity", "codes_used", "lr", "val_mpjpe_mm")


@dataclass(frozen=True)
class VQVAEResult:
    """What `motion_vqvae` produced."""

    dataset: str
    checkpoint: Path
    metrics: dict[str, float]
    metrics_path: Path
    gifs: tuple[Path, ...]
    stats_source: str

    def as_metadata(self) -> dict[str, Any]:
        """Plain values for Dagster metadata or a JSON summary."""
        return {
            **self.metrics,
            "dataset": self.dataset,
            "checkpoint": str(self.checkpoint),
            "stats_source": self.stats_source,
            "gifs": [str(g) for g in self.gifs],
        }


def training_stats(
    cfg: Config, folder: Path, train: list[np.ndarray], skeleton: Skeleton
) -> tuple[np.ndarray, np.ndarray, str]:
    """(mean, std, description) the tokenizer normalises with (see `vqvae.train.normalisation`)."""
    t = cfg.vqvae.train
    if t.normalisation == "dataset":
        mean, std = load_mean_std(folder)
        return mean, std, f"dataset Mean.npy/Std.npy of {folder}"
    if t.evaluator_meta is not None:
        meta = Path(t.evaluator_meta).expanduser()
        arrays = []
        for name in ("mean.npy", "std.npy"):
            if not (meta / name).is_file():
                raise FileNotFoundError(f"{meta / name}: missing (vqvae.train.evaluator_meta)")
            arrays.append(np.load(meta / name, allow_pickle=False).astype(np.float32))
        if arrays[0].shape != (skeleton.feature_dim,) or arrays[1].shape != arrays[0].shape:
            raise ValueError(
                f"{meta}: mean/std of shape {arrays[0].shape}/{arrays[1].shape}, expected "
                f"({skeleton.feature_dim},) for {skeleton.name}"
            )
        if (arrays[1] <= 0).any():
            raise ValueError(f"{meta / 'std.npy'}: has zero or negative entries")
        return arrays[0], arrays[1], f"evaluator meta {meta}"
    mean, std = feature_mean_std(train, skeleton, feat_bias=FEAT_BIAS)
    return mean, std, "train split, evaluator convention (group std, root and feet std / 5)"


def _render(
    folder: Path, out_dir: Path, ids: list[str], recs: list, skeleton: Skeleton, n: int
) -> list[Path]:
    from motion_r1_core.features import recover_from_ric
    from motion_r1_core.render import render_side_by_side

    if out_dir.exists():  # GIFs of an earlier run would otherwise linger beside the new ones
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    paths = []
    for r in recs[:n]:
        mid = ids[r.index]
        try:
            caption = read_captions(folder / "texts" / f"{mid}.txt")[0].text
        except (FileNotFoundError, ValueError):
            caption = ""
        paths.append(
            render_side_by_side(
                [recover_from_ric(r.original, skeleton), recover_from_ric(r.recon, skeleton)],
                [f"{mid}: {caption}", "reconstruction"],
                out_dir / f"{mid}.gif",
                fps=skeleton.fps,
                skeleton=skeleton,
            )
        )
    return paths


def run_motion_vqvae(
    cfg: Config,
    dataset: str,
    tracker: Tracker,
    on_step: Any = None,
    progress: bool = True,
) -> VQVAEResult:
    """Train (or resume) the tokenizer of `dataset`, evaluate it on test, write and log it all.

    `on_step(step)` is forwarded to the training loop (progress hooks, tests).
    """
    v = cfg.vqvae
    folder = cfg.raw_dir(dataset)
    out = cfg.artifacts_dir(dataset, "vqvae")
    out.mkdir(parents=True, exist_ok=True)
    log_stage(tracker, cfg, "motion_vqvae", dataset, {"vqvae": v.model_dump(mode="json")})

    _, train = load_motions(folder, "train", progress=progress)
    _val_ids, val = load_motions(folder, "val")
    test_ids, test = load_motions(folder, "test")
    skeleton = skeleton_for_dim(train[0].shape[1])
    mean, std, source = training_stats(cfg, folder, train, skeleton)
    tracker.log_params({"stats_source": source, "in_dim": skeleton.feature_dim})

    torch.manual_seed(v.train.seed)
    model = MotionVQVAE(skeleton.feature_dim, v.model)

    def validate(m: MotionVQVAE) -> dict[str, float]:
        tok = MotionTokenizer(m, mean, std, skeleton)
        metrics, _ = reconstruction_metrics(tok, val, v.eval_batch, cfg.data.max_frames)
        return {k: metrics[k] for k in ("mpjpe_mm", "feature_l1", "codes_used")}

    summary = train_vqvae(
        model,
        train,
        mean,
        std,
        v.train,
        out / "checkpoints",
        tracker,
        validate=validate if val else None,
        on_step=on_step,
        progress=progress,
    )
    info = {"step": summary.step, "stats_source": source, "dataset": dataset}
    ckpt = save_checkpoint(out / CHECKPOINT, model, mean, std, info)

    tok = MotionTokenizer.load(ckpt, device=resolve_device(v.train.device))
    test_metrics, recs = reconstruction_metrics(tok, test, v.eval_batch, cfg.data.max_frames)
    last = summary.history[-1] if summary.history else {}
    metrics = {
        **{f"test_{k}": val_ for k, val_ in test_metrics.items()},
        "train_steps": float(summary.step),
        "resumed_from_step": float(summary.resumed_from),
        "train_steps_per_second": summary.steps_per_second,
        "train_loss_final": float(last.get("loss", float("nan"))),
        "parameters": float(sum(p.numel() for p in model.parameters())),
    }
    metrics_path = out / "metrics.json"
    metrics_path.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    tracker.log_metrics(metrics, step=summary.step)

    gifs = _render(folder, out / "recon", test_ids, recs, skeleton, v.gifs)
    artifacts = [ckpt, metrics_path, *gifs]
    if summary.history:
        from motion_r1_core.render import plot_curves

        artifacts.append(
            plot_curves(
                summary.history,
                list(CURVES),
                out / "training_curves.png",
                title=f"VQ-VAE on {dataset} ({cfg.profile})",
            )
        )
    for path in artifacts:
        tracker.log_artifact(path, "recon" if path.suffix == ".gif" else None)
    return VQVAEResult(dataset, ckpt, metrics, metrics_path, tuple(gifs), source)
