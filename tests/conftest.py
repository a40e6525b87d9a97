"""Shared fixtures: throw-away project roots, so tests never write into the repository's data/."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# the system's headless browser (the Debian package; `make browser` installs it), or None
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)


def new_project(root: Path) -> Path:
    """Create a project root at `root` holding copies of params.yaml and configs/."""
    root.mkdir(parents=True)
    shutil.copy(REPO / "params.yaml", root / "params.yaml")
    shutil.copytree(REPO / "configs", root / "configs")
    return root


@pytest.fixture()
def project_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp project root with params.yaml and configs/, selected via MOTION_R1_ROOT.

    MLflow goes to a sqlite store inside it.
    """
    root = new_project(tmp_path / "project")
    monkeypatch.setenv("MOTION_R1_ROOT", str(root))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow' / 'mlruns.db'}")
    monkeypatch.delenv("MOTION_R1_PROFILE", raising=False)
    return root


@dataclass(frozen=True)
class SmokeTokenizer:
    """A smoke-profile project with its procedural corpus and a trained tokenizer."""

    root: Path
    cfg: object  # motion_r1_core.config.Config
    result: object  # motion_r1_core.stages.motion_vqvae.VQVAEResult
    tracker: object  # NullTracker of the training run
    seconds: float  # wall time of the motion_vqvae stage


GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


def git_commit(root: Path) -> str:
    """Make `root` a git checkout with everything in it committed; the commit's hash."""
    env = {**os.environ, **GIT_IDENTITY}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "the project"]):
        subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)
    return git_head(root)


def git_head(root: Path) -> str:
    """The commit `root`'s checkout is at."""
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
    ).stdout.strip()


def smoke_store(cfg: object) -> str:
    """The session's MLflow store, beside (not inside) the smoke project."""
    return f"sqlite:///{cfg.root.parent / 'mlflow' / 'mlruns.db'}"  # type: ignore[attr-defined]


@contextmanager
def provenance_run(cfg: object, stage: str) -> Iterator[None]:
    """An MLflow run of `stage` in the session store around a stage the fixture runs with a
    NullTracker (the tests read its in-memory log): the run holds the provenance tags only."""
    from motion_r1_core.tracking import stage_run

    with stage_run(cfg, stage, "procedural", tracking_uri=smoke_store(cfg)):  # type: ignore[arg-type]
        yield


@pytest.fixture(scope="session")
def smoke_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """(root, config) of a smoke-profile project with its procedural corpus, once per session;
    the project is a git checkout and each session stage leaves a provenance run."""
    from motion_r1_core.config import load_config
    from motion_r1_core.stages.raw_motions import run_raw_motions
    from motion_r1_core.tracking import NullTracker

    root = new_project(tmp_path_factory.mktemp("smoke") / "project")
    git_commit(root)
    cfg = load_config("smoke", root=root)
    with provenance_run(cfg, "raw_motions"):
        run_raw_motions(cfg, "procedural", NullTracker(), progress=False)
    return root, cfg


@pytest.fixture(scope="session")
def smoke_tokenizer(smoke_project: tuple[Path, object]) -> SmokeTokenizer:
    """Train the smoke tokenizer on the smoke corpus once per test session."""
    from motion_r1_core.stages.motion_vqvae import run_motion_vqvae
    from motion_r1_core.tracking import NullTracker

    root, cfg = smoke_project
    tracker = NullTracker()
    with provenance_run(cfg, "motion_vqvae"):
        t0 = time.perf_counter()
        result = run_motion_vqvae(cfg, "procedural", tracker, progress=False)
        seconds = time.perf_counter() - t0
    return SmokeTokenizer(root, cfg, result, tracker, seconds)


@pytest.fixture(scope="session")
def smoke_upstream(smoke_tokenizer: SmokeTokenizer) -> tuple[object, Path]:
    """(config, root) of the smoke project with its token dataset and both encoders."""
    from motion_r1_core.stages.motion_tokens import run_motion_tokens
    from motion_r1_core.stages.text_motion_encoders import run_text_motion_encoders
    from motion_r1_core.tracking import NullTracker

    cfg, root = smoke_tokenizer.cfg, smoke_tokenizer.root
    with provenance_run(cfg, "motion_tokens"):
        run_motion_tokens(cfg, "procedural", NullTracker(), progress=False)
    if not (root / "artifacts" / "procedural" / "encoders" / "evaluator.safetensors").is_file():
        with provenance_run(cfg, "text_motion_encoders"):
            run_text_motion_encoders(cfg, "procedural", NullTracker(), progress=False)
    return cfg, root


@pytest.fixture(scope="session")
def smoke_sft(smoke_upstream: tuple[object, Path]) -> tuple:
    """(config, root, SFTResult, tracker, seconds) of the smoke SFT run (both variants), once
    per session: the SFT tests check it and GRPO starts from its CoT policy."""
    from motion_r1_core.stages.sft_policy import run_sft_policy
    from motion_r1_core.tracking import NullTracker

    cfg, root = smoke_upstream
    tracker = NullTracker()
    with provenance_run(cfg, "sft_policy"):
        t0 = time.perf_counter()
        result = run_sft_policy(cfg, "procedural", tracker, progress=False)
        seconds = time.perf_counter() - t0
    return cfg, root, result, tracker, seconds


def register_smoke_policy(smoke_sft: tuple, tracking_uri: str) -> object:
    """Register the session's smoke CoT policy as the champion in `tracking_uri` (the
    registered_model stage, given made-up report metrics); the config. The report's summary,
    if the session wrote one, is put back afterwards."""
    import json

    from motion_r1_core.stages.registered_model import run_registered_model, summary_path
    from motion_r1_core.tracking import stage_run

    cfg, _, sft, _, _ = smoke_sft
    summary = summary_path(cfg, "procedural")
    saved = summary.read_bytes() if summary.is_file() else None
    metrics = {"top1": 0.3, "top2": 0.4, "top3": 0.5, "fid": 0.1, "format_validity": 0.95}
    summary.parent.mkdir(parents=True, exist_ok=True)
    summary.write_text(
        json.dumps(
            {
                "dataset": "procedural",
                "evaluator": "trained",
                "chain_source": "ground_truth",
                "policies": {"SFT cot": {"path": str(sft.policies["cot"]), "metrics": metrics}},
            }
        )
    )
    try:
        with stage_run(cfg, "registered_model", "procedural", tracking_uri=tracking_uri) as tracker:
            run_registered_model(cfg, "procedural", tracker, progress=False)
    finally:
        if saved is not None:
            summary.write_bytes(saved)
    return cfg
