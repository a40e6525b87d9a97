"""Provenance of a stage run: the data it read and wrote, by DVC content hash, and the code revision.

`stage_inputs` / `stage_outputs` name the data each stage reads and the versioned artifacts it
writes: the same paths as its data deps and cached outs in dvc.yaml (tests/test_dvc_graph.py
holds the two, and the Dagster asset graph, together). `content_hash` is the hash DVC records for
a file or a folder (md5; a folder's ends in `.dir`), so a run's record matches dvc.lock and the
objects of a DVC remote. `git_state` is the commit and whether the working tree had changes.

`stage_run` (tracking.py) tags every MLflow run with `input_tags` when it starts and
`output_tags` when it ends, so a registered model leads, run by run, to the exact raw motions
and commits that made it: the run that wrote a hash is the run tagged `dvc.out.<path>` with it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from motion_r1_core.config import Config

RAW = "data/raw/{dataset}"
ART = "artifacts/{dataset}"
VQVAE = f"{ART}/vqvae/vqvae.safetensors"
TOKENS = f"{ART}/tokens/tokens.parquet"
REWARD = f"{ART}/encoders/reward.safetensors"
EVALUATOR = f"{ART}/encoders/evaluator.safetensors"
TRIPLETS = f"{ART}/cot/triplets.parquet"
SFT_COT = f"{ART}/sft/cot/model"
SFT_NO_COT = f"{ART}/sft/no_cot/model"
GRPO_MAIN = f"{ART}/grpo/both/model"  # the report and the registry read the main ablation

# stage -> (inputs, outputs), relative to the project root; {ablation}: policy.grpo.ablation
FILES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "raw_motions": ((), (RAW,)),
    "motion_vqvae": ((RAW,), (VQVAE, f"{ART}/vqvae/recon")),
    "motion_tokens": ((RAW, VQVAE), (TOKENS,)),
    "text_motion_encoders": ((RAW,), (REWARD, EVALUATOR)),
    "cot_triplets": ((RAW, TOKENS), (TRIPLETS,)),
    "sft_policy": (
        (RAW, VQVAE, TOKENS, EVALUATOR, f"{ART}/encoders/real_baseline.md", TRIPLETS),
        (SFT_COT, SFT_NO_COT),
    ),
    "grpo_policy": (
        (RAW, VQVAE, TOKENS, REWARD, EVALUATOR, SFT_COT, f"{ART}/sft/metrics.json", TRIPLETS),
        (f"{ART}/grpo/{{ablation}}/model",),
    ),
    "eval_report": ((RAW, VQVAE, EVALUATOR, SFT_NO_COT, SFT_COT, GRPO_MAIN), ()),
    "registered_model": (
        (f"{ART}/report/summary.json", VQVAE, SFT_NO_COT, SFT_COT, GRPO_MAIN),
        (),
    ),
}


def _paths(templates: tuple[str, ...], dataset: str, ablation: str) -> list[str]:
    return [t.format(dataset=dataset, ablation=ablation) for t in templates]


def stage_inputs(stage: str, dataset: str, ablation: str = "both") -> list[str]:
    """The data `stage` reads for `dataset` (paths relative to the project root)."""
    return _paths(FILES[stage][0], dataset, ablation)


def stage_outputs(stage: str, dataset: str, ablation: str = "both") -> list[str]:
    """The versioned artifacts `stage` writes for `dataset` (relative to the project root)."""
    return _paths(FILES[stage][1], dataset, ablation)


def content_hash(path: Path) -> str:
    """DVC's md5 of a file, or of a folder's listing (`<md5>.dir`), as dvc.lock records it."""
    from dvc_data.hashfile.build import build
    from dvc_data.hashfile.db import HashFileDB
    from dvc_objects.fs import LocalFileSystem, MemoryFileSystem

    staging = HashFileDB(MemoryFileSystem(), "/staging")
    _, _, obj = build(staging, str(Path(path).resolve()), LocalFileSystem(), "md5", dry_run=True)
    return str(obj.hash_info.value)


# What the pipeline writes itself: a run changes these without the code or params changing.
WRITTEN = (":(exclude)dvc.lock", ":(exclude)artifacts", ":(exclude)data")


def git_state(root: Path) -> tuple[str, bool] | None:
    """(commit, dirty) of the git checkout holding `root`; None outside one (or without git).
    Dirty: a file of the code or configuration differs from the commit, or an untracked one
    is present (ignored files, dvc.lock and the outputs under data/ and artifacts/ aside)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--", ".", *WRITTEN],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit, bool(status.strip())


def _ablation(cfg: Config) -> str:
    """The folder GRPO writes to: the ablation's name, `custom` for explicit reward weights."""
    g = cfg.policy.grpo
    return g.ablation if g.rewards is None else "custom"


def _hash_tags(root: Path, prefix: str, paths: list[str]) -> dict[str, str]:
    return {f"{prefix}{p}": content_hash(root / p) for p in paths if (root / p).exists()}


def input_tags(cfg: Config, stage: str, dataset: str) -> dict[str, str]:
    """Tags of a starting run: the commit (`mlflow.source.git.commit`, shown by the MLflow UI),
    `git.dirty`, `dvc.in.<path>` = content hash of every input present, and under `dvc exp
    run` the experiment's name and baseline commit (`dvc.exp_name`, `dvc.exp_baseline`)."""
    tags: dict[str, str] = {}
    for tag, var in (
        ("dvc.exp_name", "DVC_EXP_NAME"),
        ("dvc.exp_baseline", "DVC_EXP_BASELINE_REV"),
    ):
        if os.environ.get(var):
            tags[tag] = os.environ[var]
    if state := git_state(cfg.root):
        tags |= {"mlflow.source.git.commit": state[0], "git.dirty": str(state[1]).lower()}
    return tags | _hash_tags(cfg.root, "dvc.in.", stage_inputs(stage, dataset, _ablation(cfg)))


def output_tags(cfg: Config, stage: str, dataset: str) -> dict[str, str]:
    """Tags of a finished run: `dvc.out.<path>` = content hash of every output it wrote."""
    return _hash_tags(cfg.root, "dvc.out.", stage_outputs(stage, dataset, _ablation(cfg)))
