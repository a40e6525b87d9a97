"""Stage `raw_motions`: the dataset folder every later stage reads (data/raw/<dataset>/).

procedural: the built-in corpus is synthesised from the config (deterministic by seed).
humanml3d / kit: the user's folder (data.<dataset>.source) is checked, then linked or copied.
Either way the folder is validated with the Great Expectations suite and summarised.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from motion_r1_core.config import Config
from motion_r1_core.data.humanml3d import check_layout, skeleton_for_dim
from motion_r1_core.data.validation import ValidationReport, validate_dataset_folder
from motion_r1_core.expectations import ChecksFailed
from motion_r1_core.tracking import Tracker, log_stage


class ValidationFailed(ChecksFailed):
    """The dataset folder failed its checks; the message is the readable report."""

    report: ValidationReport


@dataclass(frozen=True)
class RawMotionsResult:
    """What `raw_motions` produced: where, how much, and the validation report."""

    dataset: str
    path: Path
    n_motions: int
    n_captions: int
    splits: dict[str, int]
    metrics: dict[str, float]
    metrics_path: Path
    validation: ValidationReport = field(repr=False)

    def as_metadata(self) -> dict[str, Any]:
        """Plain values for Dagster metadata or a JSON summary."""
        return {
            **self.metrics,
            "dataset": self.dataset,
            "path": str(self.path),
            "n_motions": self.n_motions,
            "n_captions": self.n_captions,
            **{f"n_{k}": v for k, v in self.splits.items()},
        }


def _remove(path: Path) -> None:
    """Remove a file, a symlink (not its target) or a folder, if present."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def _replace_dir(src_tmp: Path, dst: Path) -> None:
    """Swap a freshly written folder into place, so a crash never leaves half a dataset."""
    _remove(dst)
    src_tmp.rename(dst)


def _build_procedural(cfg: Config, out: Path, progress: bool = True) -> None:
    from motion_r1_core.data.procedural import synthesize_corpus

    p = cfg.data.procedural
    tmp = out.with_name(out.name + ".tmp")
    _remove(tmp)
    synthesize_corpus(
        tmp,
        motions=p.motions,
        seed=p.seed,
        max_primitives=p.max_primitives,
        split=tuple(p.split),
        progress=progress,
    )
    _replace_dir(tmp, out)


def _bring_external(cfg: Config, dataset: str, out: Path) -> None:
    ext = getattr(cfg.data, dataset)
    if ext.source is None:
        raise ValueError(
            f"data.{dataset}.source is not set: point it at your {dataset} folder "
            f"(e.g. --set data.{dataset}.source=/path/to/HumanML3D)"
        )
    source = Path(ext.source).expanduser().resolve()
    check_layout(source, need_joints=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    if ext.link:
        if out.is_symlink() and out.resolve() == source:
            return
        _remove(out)
        out.symlink_to(source, target_is_directory=True)
    else:
        tmp = out.with_name(out.name + ".tmp")
        _remove(tmp)
        shutil.copytree(source, tmp)
        _replace_dir(tmp, out)


def run_raw_motions(
    cfg: Config, dataset: str, tracker: Tracker, progress: bool = True
) -> RawMotionsResult:
    """Build or bring in data/raw/<dataset>, validate it, write and log its metrics.

    Raises ValidationFailed (with the readable report) if the folder fails its checks.
    """
    out = cfg.raw_dir(dataset)
    out.parent.mkdir(parents=True, exist_ok=True)
    log_stage(tracker, cfg, "raw_motions", dataset, {"data": cfg.data.model_dump(mode="json")})

    if dataset == "procedural":
        _build_procedural(cfg, out, progress)
    else:
        _bring_external(cfg, dataset, out)

    report = validate_dataset_folder(out, dataset, min_frames=cfg.data.min_frames)
    tracker.log_metrics({"validation_failures": float(len(report.failures))})
    if not report.ok:
        raise ValidationFailed(report)
    st = report.stats
    fps = skeleton_for_dim(st["feature_dim"]).fps
    splits = {s: int(st[f"split_{s}"]) for s in ("train", "val", "test")}
    metrics = {
        "n_motions": float(report.n_motions),
        "n_captions": float(st["n_captions"]),
        "captions_per_motion": st["n_captions"] / max(report.n_motions, 1),
        "frames_mean": float(st["frames_mean"]),
        "frames_min": float(st["frames_min"]),
        "frames_max": float(st["frames_max"]),
        "n_outside_lengths": float(st["n_outside_lengths"]),
        "hours": report.n_motions * st["frames_mean"] / fps / 3600,
        **{f"n_{k}": float(v) for k, v in splits.items()},
    }
    metrics_path = cfg.artifacts_dir(dataset, "raw_motions") / "metrics.json"
    metrics_path.parent.mkdir(parents=True, exist_ok=True)
    metrics_path.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    tracker.log_metrics(metrics)
    tracker.log_artifact(metrics_path)
    return RawMotionsResult(
        dataset=dataset,
        path=out,
        n_motions=int(metrics["n_motions"]),
        n_captions=int(metrics["n_captions"]),
        splits=splits,
        metrics=metrics,
        metrics_path=metrics_path,
        validation=report,
    )
