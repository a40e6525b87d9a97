"""Shared fixtures: throw-away project roots, so tests never write into the repository's data/."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


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


@pytest.fixture(scope="session")
def smoke_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """(root, config) of a smoke-profile project with its procedural corpus, once per session."""
    from motion_r1_core.config import load_config
    from motion_r1_core.stages.raw_motions import run_raw_motions
    from motion_r1_core.tracking import NullTracker

    root = new_project(tmp_path_factory.mktemp("smoke") / "project")
    cfg = load_config("smoke", root=root)
    run_raw_motions(cfg, "procedural", NullTracker(), progress=False)
    return root, cfg


@pytest.fixture(scope="session")
def smoke_tokenizer(smoke_project: tuple[Path, object]) -> SmokeTokenizer:
    """Train the smoke tokenizer on the smoke corpus once per test session."""
    from motion_r1_core.stages.motion_vqvae import run_motion_vqvae
    from motion_r1_core.tracking import NullTracker

    root, cfg = smoke_project
    tracker = NullTracker()
    t0 = time.perf_counter()
    result = run_motion_vqvae(cfg, "procedural", tracker, progress=False)
    return SmokeTokenizer(root, cfg, result, tracker, time.perf_counter() - t0)


@pytest.fixture(scope="session")
def smoke_upstream(smoke_tokenizer: SmokeTokenizer) -> tuple[object, Path]:
    """(config, root) of the smoke project with its token dataset and both encoders."""
    from motion_r1_core.stages.motion_tokens import run_motion_tokens
    from motion_r1_core.stages.text_motion_encoders import run_text_motion_encoders
    from motion_r1_core.tracking import NullTracker

    cfg, root = smoke_tokenizer.cfg, smoke_tokenizer.root
    run_motion_tokens(cfg, "procedural", NullTracker(), progress=False)
    if not (root / "artifacts" / "procedural" / "encoders" / "evaluator.safetensors").is_file():
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
    t0 = time.perf_counter()
    result = run_sft_policy(cfg, "procedural", tracker, progress=False)
    return cfg, root, result, tracker, time.perf_counter() - t0
