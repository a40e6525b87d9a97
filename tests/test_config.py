"""Configuration: params.yaml + profile + overrides, with errors that name the culprit."""

from __future__ import annotations

from pathlib import Path

import pytest

from motion_r1_core.config import load_config


def test_profiles_overlay_params(project_root: Path):
    cpu = load_config()
    assert cpu.profile == "cpu" and cpu.data.procedural.motions == 3000
    smoke = load_config(profile="smoke")
    assert smoke.data.procedural.motions == 800
    assert smoke.data.procedural.seed == cpu.data.procedural.seed  # untouched keys stay
    paper = load_config(profile="paper")
    assert paper.dataset == "humanml3d"


def test_precedence(project_root: Path, monkeypatch: pytest.MonkeyPatch):
    cfg = load_config(
        profile="smoke", overrides=["data.procedural.motions=77", "data.min_frames=30"]
    )
    assert cfg.data.procedural.motions == 77 and cfg.data.min_frames == 30
    assert load_config(overrides=["profile=smoke"]).data.procedural.motions == 800
    monkeypatch.setenv("MOTION_R1_PROFILE", "smoke")
    assert load_config().profile == "smoke"
    assert load_config(profile="cpu").profile == "cpu"  # an explicit argument wins


def test_paths_and_tracking_uri(project_root: Path, monkeypatch: pytest.MonkeyPatch):
    cfg = load_config()
    assert cfg.raw_dir("kit") == project_root / "data" / "raw" / "kit"
    assert cfg.artifacts_dir("procedural", "raw_motions") == (
        project_root / "artifacts" / "procedural" / "raw_motions"
    )
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.delenv("DVC_ROOT", raising=False)
    assert cfg.tracking_uri() == f"sqlite:///{project_root.resolve() / 'mlflow' / 'mlruns.db'}"
    # a queued `dvc exp run` runs in a temporary copy: its runs go to the project's store
    monkeypatch.setenv("DVC_ROOT", str(project_root.parent))
    assert cfg.tracking_uri() == f"sqlite:///{project_root.parent.resolve() / 'mlflow/mlruns.db'}"
    monkeypatch.delenv("DVC_ROOT")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert cfg.tracking_uri() == "http://127.0.0.1:5000"
    with pytest.raises(ValueError, match="unknown dataset 'amass'"):
        cfg.raw_dir("amass")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.procedural.motions=3", "motions"),
        ("data.procedural.split=[0.5, 0.2, 0.2]", "split must be 3 non-negative shares"),
        ("data.min_frames=300", r"data.min_frames \(300\) must not exceed data.max_frames"),
        ("data.procedural.colour=red", "colour"),
        ("dataset=amass", "dataset"),
        ("data.min_frames", "must look like section.key=value"),
        ("cot.limits.min_steps=7", r"min_steps \(7\) must not exceed cot.limits.max_steps \(6\)"),
        ("cot.client.backoff=60", r"backoff \(60.0\) must not exceed cot.client.max_backoff"),
    ],
)
def test_bad_values_are_named(project_root: Path, override: str, message: str):
    with pytest.raises(ValueError, match=message):
        load_config(overrides=[override])


def test_bad_files(project_root: Path):
    with pytest.raises(
        ValueError,
        match=r"unknown profile 'gpu'.*known: \['cpu', 'cpu_smollm2', 'paper', 'smoke'\]",
    ):
        load_config(profile="gpu")
    (project_root / "configs" / "broken.yaml").write_text("data: [unclosed\n")
    with pytest.raises(ValueError, match=r"broken\.yaml: not valid YAML"):
        load_config(profile="broken")


def test_no_project_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("MOTION_R1_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"no params\.yaml"):
        load_config()


def test_a_params_edit_the_profile_hides_is_refused(project_root: Path) -> None:
    """`dvc exp run -S vqvae.model.codebook_size=64` edits params.yaml; on the smoke profile,
    which sets the codebook itself, that edit would change nothing, so loading refuses it."""
    import yaml

    params = yaml.safe_load((project_root / "params.yaml").read_text())
    params["vqvae"]["model"]["codebook_size"] = 64
    params["vqvae"]["model"]["depth"] = 1  # not set by the smoke profile: fine
    (project_root / "params.yaml").write_text(yaml.safe_dump(params))
    assert load_config("cpu").vqvae.model.codebook_size == 64  # the cpu profile sets nothing
    with pytest.raises(ValueError) as e:
        load_config("smoke")
    for part in ("vqvae.model.codebook_size=64", "default 256", "to 128", "smoke.yaml"):
        assert part in str(e.value), part
    params["vqvae"]["model"]["codebook_size"] = 128  # the profile's own value: no conflict
    (project_root / "params.yaml").write_text(yaml.safe_dump(params))
    cfg = load_config("smoke")
    assert cfg.vqvae.model.codebook_size == 128 and cfg.vqvae.model.depth == 1
