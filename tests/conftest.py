"""Shared fixtures: a throw-away project root so tests never write into the repository's data/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def project_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp project root with params.yaml and configs/, selected via MOTION_R1_ROOT.

    MLflow goes to a sqlite store inside it.
    """
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(REPO / "params.yaml", root / "params.yaml")
    shutil.copytree(REPO / "configs", root / "configs")
    monkeypatch.setenv("MOTION_R1_ROOT", str(root))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow' / 'mlruns.db'}")
    monkeypatch.delenv("MOTION_R1_PROFILE", raising=False)
    return root
