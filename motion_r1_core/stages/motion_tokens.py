"""Stage `motion_tokens`: every motion of data/raw/<dataset> as a token sequence.

Writes artifacts/<dataset>/tokens/:
    tokens.parquet   id, source_id, split, mirrored, n_frames, tokens (list of int)
    metrics.json     counts per split, token statistics, codebook usage, checks

Each motion file is encoded whole, cropped to a multiple of the tokens' frame count, so
len(tokens) == n_frames // 4 (T2M-GPT tokenises the same way; caption sub-clips are slices of
these sequences). With `tokens.mirror`, a left/right mirrored copy `M<id>` of each motion is
encoded too: its joints (new_joints) are mirrored and re-processed into features, as HumanML3D
made its M-copies; folders that already ship M-copies are left as they are.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from motion_r1_core.config import Config
from motion_r1_core.data.humanml3d import SPLITS, load_motions, read_split
from motion_r1_core.data.mirror import mirrored_features
from motion_r1_core.expectations import ChecksFailed
from motion_r1_core.runtime import resolve_device
from motion_r1_core.tracking import Tracker, log_stage
from motion_r1_core.vqvae.token_checks import TokenReport, validate_tokens
from motion_r1_core.vqvae.tokenizer import CHECKPOINT, MotionTokenizer


class TokenChecksFailed(ChecksFailed):
    """The token dataset failed its checks; the message is the readable report."""

    report: TokenReport


@dataclass(frozen=True)
class TokensResult:
    """What `motion_tokens` produced."""

    dataset: str
    path: Path
    metrics: dict[str, float]
    metrics_path: Path
    report: TokenReport = field(repr=False)

    def as_metadata(self) -> dict[str, Any]:
        """Plain values for Dagster metadata or a JSON summary."""
        return {**self.metrics, "dataset": self.dataset, "path": str(self.path)}


def run_motion_tokens(
    cfg: Config, dataset: str, tracker: Tracker, progress: bool = True
) -> TokensResult:
    """Encode every motion (and mirrored copy) of `dataset` with its trained tokenizer.

    Raises TokenChecksFailed if the written dataset fails its checks.
    """
    folder = cfg.raw_dir(dataset)
    ckpt = cfg.artifacts_dir(dataset, "vqvae") / CHECKPOINT
    out_dir = cfg.artifacts_dir(dataset, "tokens")
    out_dir.mkdir(parents=True, exist_ok=True)
    params = {"tokens": cfg.tokens.model_dump(mode="json"), "tokenizer": str(ckpt)}
    log_stage(tracker, cfg, "motion_tokens", dataset, params)
    tok = MotionTokenizer.load(ckpt, device=resolve_device(cfg.vqvae.train.device))
    existing = set(read_split(folder, "all")) if (folder / "all.txt").is_file() else set()

    rows: list[dict[str, Any]] = []
    for split in SPLITS:
        ids, feats = load_motions(folder, split, progress=progress)
        entries = [(i, i, False, f) for i, f in zip(ids, feats, strict=True)]
        if cfg.tokens.mirror:
            have = existing | set(ids)
            entries += [
                (f"M{i}", i, True, mirrored_features(folder, i, tok.skeleton))
                for i in ids
                if not i.startswith("M") and f"M{i}" not in have
            ]
        tokens = tok.encode_many([e[3] for e in entries], cfg.vqvae.eval_batch)
        rows += [
            {
                "id": i,
                "source_id": src,
                "split": split,
                "mirrored": m,
                "n_frames": len(f),
                "tokens": t,
            }
            for (i, src, m, f), t in zip(entries, tokens, strict=True)
        ]
    df = pd.DataFrame(rows, columns=["id", "source_id", "split", "mirrored", "n_frames", "tokens"])
    path = out_dir / "tokens.parquet"
    tmp = path.with_name(path.name + ".tmp")
    df.to_parquet(tmp, index=False)
    os.replace(tmp, path)

    report = validate_tokens(path, tok.codebook_size, tok.frames_per_token, df=df)
    all_ids = np.concatenate([np.asarray(t, dtype=np.int64) for t in df["tokens"]])
    counts = np.bincount(all_ids, minlength=tok.codebook_size)
    p = counts / counts.sum()
    metrics = {
        "n_rows": float(len(df)),
        "n_mirrored": float(df["mirrored"].sum()),
        **{f"n_{s}": float((df["split"] == s).sum()) for s in SPLITS},
        "tokens_total": float(len(all_ids)),
        "tokens_mean": float(df["tokens"].map(len).mean()),
        "codes_used": float((counts > 0).mean()),
        "perplexity": float(np.exp(-(p[p > 0] * np.log(p[p > 0])).sum())),
        "codebook_size": float(tok.codebook_size),
        "frames_per_token": float(tok.frames_per_token),
        "check_failures": float(len(report.failures)),
    }
    metrics_path = out_dir / "metrics.json"
    metrics_path.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    tracker.log_metrics(metrics)
    tracker.log_artifact(metrics_path)
    if not report.ok:
        raise TokenChecksFailed(report)
    return TokensResult(dataset, path, metrics, metrics_path, report)
