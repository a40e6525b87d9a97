"""Stage `text_motion_encoders`: the reward and evaluator retrieval models of data/raw/<dataset>.

Two TMR-style text-motion encoders with different motion architectures and seeds:
    reward     used by GRPO for cos(motion, reference motion) and cos(motion, text)
    evaluator  used by the metrics (R-Precision, FID, ...), never optimised against

Writes artifacts/<dataset>/encoders/:
    reward.safetensors, evaluator.safetensors   networks + the mean/std they read features with
    metrics.json        test recall@1/5/10 and side accuracy (left vs right) of each, the
                        "Real" row, how much the two agree

With `encoders.mirror`, both also train on left/right mirrored twins of the train motions
(captions side-swapped), for corpora whose sides are unbalanced. The side accuracy tells
whether an encoder distinguishes "left" from "right" at all (chance 0.5).
    real_baseline.json  the "Real" row of the protocol (real test motions against themselves)
    training_curves.png InfoNCE loss and learning rate of both
    checkpoints/        resumable state; a rerun continues from the latest one
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from motion_r1_core.config import Config, EncodersConfig
from motion_r1_core.data.humanml3d import MotionRecord, load_mean_std, load_split, read_split
from motion_r1_core.data.mirror import has_side, mirrored_records, swap_sides
from motion_r1_core.encoders.model import (
    DEFAULT_TEXT_MODEL,
    MotionEncoder,
    SentenceEmbedder,
    TextMotionModel,
    TextProjection,
)
from motion_r1_core.encoders.train import PairData, retrieval_recall, train_encoder
from motion_r1_core.evaluation.protocol import TABLE_HEADER, evaluate
from motion_r1_core.expectations import CheckOutcome, metrics_outcome
from motion_r1_core.runtime import resolve_device
from motion_r1_core.skeleton import skeleton_for_dim
from motion_r1_core.tracking import Tracker, log_stage

ROLES = ("reward", "evaluator")
RECALL_KS = (1, 5, 10)


@dataclass(frozen=True)
class EncodersResult:
    """What `text_motion_encoders` produced."""

    dataset: str
    checkpoints: dict[str, Path]
    metrics: dict[str, float]
    metrics_path: Path
    real_path: Path

    def as_metadata(self) -> dict[str, Any]:
        """Plain values for Dagster metadata or a JSON summary."""
        return {
            **self.metrics,
            "dataset": self.dataset,
            **{f"{role}_checkpoint": str(p) for role, p in self.checkpoints.items()},
            "real_baseline": str(self.real_path),
        }


def pair_data(
    records: list[MotionRecord], mean: np.ndarray, std: np.ndarray, embedder: SentenceEmbedder
) -> PairData:
    """Normalised features and caption sentence embeddings of samples, for `train_encoder`."""
    texts: list[str] = []
    captions = []
    for r in records:
        captions.append(list(range(len(texts), len(texts) + len(r.captions))))
        texts.extend(c.text for c in r.captions)
    motions = [((r.features - mean) / std).astype(np.float32) for r in records]
    return PairData(motions, captions, embedder.embed(texts))


def split_retrieval(model: TextMotionModel, records: list[MotionRecord]) -> dict[str, float]:
    """Text -> motion recall@1/5/10 over the whole test split (first caption, whole motion)."""
    motion = model.embed_motions([r.features for r in records])
    text = model.embed_texts([r.captions[0].text for r in records])
    return {f"recall_at_{k}": v for k, v in retrieval_recall(text, motion, RECALL_KS).items()}


def side_accuracy(model: TextMotionModel, records: list[MotionRecord]) -> dict[str, float]:
    """Does the encoder tell left from right? Over test samples whose first caption names a side
    (left/right, clockwise), the share where the motion is closer to its caption than to the
    side-swapped caption (chance 0.5). A reward blind to sides cannot teach them."""
    sided = [r for r in records if has_side(r.captions[0].text)]
    if not sided:
        return {"side_accuracy": float("nan"), "side_pairs": 0.0}
    motion = model.embed_motions([r.features for r in sided])
    true = model.embed_texts([r.captions[0].text for r in sided])
    swapped = model.embed_texts([swap_sides(r.captions[0].text) for r in sided])
    wins = np.einsum("nd,nd->n", motion, true) > np.einsum("nd,nd->n", motion, swapped)
    return {"side_accuracy": float(wins.mean()), "side_pairs": float(len(sided))}


def agreement(
    a: TextMotionModel, b: TextMotionModel, records: list[MotionRecord]
) -> dict[str, float]:
    """How alike two encoders judge the test split (Pearson r; 1 means interchangeable).

    text_motion_score_correlation: of the text x motion cosine matrices (every caption against
    every motion: the semantic reward's signal); motion_similarity_correlation: of the
    off-diagonal motion x motion cosines (the motion reward's signal).
    """
    feats = [r.features for r in records]
    texts = [r.captions[0].text for r in records]
    out = {}
    ma, mb = a.embed_motions(feats), b.embed_motions(feats)
    ta, tb = a.embed_texts(texts), b.embed_texts(texts)
    out["text_motion_score_correlation"] = float(
        np.corrcoef((ta @ ma.T).ravel(), (tb @ mb.T).ravel())[0, 1]
    )
    off = ~np.eye(len(records), dtype=bool)
    out["motion_similarity_correlation"] = float(
        np.corrcoef((ma @ ma.T)[off], (mb @ mb.T)[off])[0, 1]
    )
    return out


def retrieval_check(metrics_path: Path, e: EncodersConfig) -> CheckOutcome:
    """Does the evaluator retrieve? From the stage's metrics.json: passed when the "Real" row's
    R-Precision top-3 >= `e.min_real_top3` and that of caption-shuffled motions <=
    `e.max_shuffled_top3`. A missing file fails."""

    def judge(m: Mapping[str, Any]) -> CheckOutcome:
        real, shuffled = m["real/top3"], m["real/top3_shuffled"]
        return CheckOutcome(
            real >= e.min_real_top3 and shuffled <= e.max_shuffled_top3,
            {
                "real_top3": real,
                "min_real_top3": e.min_real_top3,
                "shuffled_top3": shuffled,
                "max_shuffled_top3": e.max_shuffled_top3,
                "real_fid": m["real/fid"],
            },
        )

    return metrics_outcome(metrics_path, judge)


def agreement_check(metrics_path: Path, e: EncodersConfig) -> CheckOutcome:
    """Do reward and evaluator differ? From the stage's metrics.json (see `agreement`): passed
    when their text-motion score correlation < `e.max_agreement`. A missing file fails."""

    def judge(m: Mapping[str, Any]) -> CheckOutcome:
        r = m["agreement/text_motion_score_correlation"]
        return CheckOutcome(
            r < e.max_agreement,
            {
                "text_motion_score_correlation": r,
                "motion_similarity_correlation": m["agreement/motion_similarity_correlation"],
                "max_agreement": e.max_agreement,
            },
        )

    return metrics_outcome(metrics_path, judge)


def run_text_motion_encoders(
    cfg: Config,
    dataset: str,
    tracker: Tracker,
    on_step: Any = None,
    progress: bool = True,
) -> EncodersResult:
    """Train (or resume) both encoders of `dataset`, measure retrieval and the "Real" row.

    `on_step(role, step)` is called after each optimiser step (progress hooks, tests).
    """
    e = cfg.encoders
    folder = cfg.raw_dir(dataset)
    out = cfg.artifacts_dir(dataset, "encoders")
    out.mkdir(parents=True, exist_ok=True)
    params = {
        "encoders": e.model_dump(mode="json"),
        "evaluation": cfg.evaluation.model_dump(mode="json"),
    }
    log_stage(tracker, cfg, "text_motion_encoders", dataset, params)
    train = load_split(folder, "train", cfg.data.min_frames, progress=progress)
    test = load_split(folder, "test", cfg.data.min_frames)
    if not train or not test:
        raise ValueError(
            f"{folder}: no train or no test samples of >= {cfg.data.min_frames} frames"
        )
    mean, std = load_mean_std(folder)
    if e.mirror:
        shipped = set(read_split(folder, "all")) if (folder / "all.txt").is_file() else set()
        train = train + mirrored_records(folder, train, skeleton_for_dim(mean.shape[0]), shipped)
    text_model = str(e.text_model) if e.text_model else DEFAULT_TEXT_MODEL
    embedder = SentenceEmbedder(e.text_model)
    data = pair_data(train, mean, std, embedder)
    device = resolve_device(e.device)

    models: dict[str, TextMotionModel] = {}
    checkpoints: dict[str, Path] = {}
    metrics: dict[str, float] = {}
    history: dict[float, dict[str, float]] = {}
    for role in ROLES:
        mc = getattr(e, role)
        torch.manual_seed(mc.seed)
        motion = MotionEncoder(mean.shape[0], e.latent, mc)
        text = TextProjection(embedder.dim, e.latent)
        summary = train_encoder(
            motion,
            text,
            data,
            e,
            mc.seed,
            device,
            tracker,
            prefix=f"{role}/",
            ckpt_dir=out / "checkpoints" / role,
            on_step=(lambda s, r=role: on_step(r, s)) if on_step else None,
            progress=progress,
        )
        for row in summary.history:
            history.setdefault(row["step"], {"step": row["step"]}).update(row)
        model = TextMotionModel(
            motion,
            text,
            mean,
            std,
            text_model,
            {"role": role, "dataset": dataset, "step": summary.step, "arch": mc.arch},
            sentences=embedder,
        )
        recall = split_retrieval(model, test)
        model.info.update(recall)
        metrics |= {f"{role}/test_{k}": v for k, v in side_accuracy(model, test).items()}
        checkpoints[role] = model.save(out / f"{role}.safetensors")
        models[role] = model
        metrics |= {f"{role}/test_{k}": v for k, v in recall.items()}
        metrics[f"{role}/train_seconds"] = summary.seconds
        metrics[f"{role}/resumed_from_step"] = float(summary.resumed_from)
        metrics[f"{role}/parameters"] = float(
            sum(p.numel() for p in [*motion.parameters(), *text.parameters()])
        )

    report = evaluate(models["evaluator"], test, cfg.evaluation, progress=progress)
    real_path = report.write(out / "real_baseline.json")
    metrics |= report.flat("real/")
    metrics |= {
        f"agreement/{k}": v
        for k, v in agreement(models["reward"], models["evaluator"], test).items()
    }
    metrics_path = out / "metrics.json"
    metrics_path.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    tracker.log_metrics(metrics, step=e.iterations)
    (out / "real_baseline.md").write_text(
        f"{TABLE_HEADER}\n{report.table_row(f'Real ({dataset})')}\n"
    )

    from motion_r1_core.render import plot_curves

    rows = [history[s] for s in sorted(history)]
    curves = plot_curves(
        rows,
        [f"{r}/{k}" for r in ROLES for k in ("loss", "lr")],
        out / "training_curves.png",
        title=f"text-motion encoders on {dataset} ({cfg.profile})",
        log_scale=("reward/loss", "evaluator/loss"),
    )
    for path in (*checkpoints.values(), metrics_path, real_path, out / "real_baseline.md", curves):
        tracker.log_artifact(path)
    return EncodersResult(dataset, checkpoints, metrics, metrics_path, real_path)
