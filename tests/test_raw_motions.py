"""Stage raw_motions: bring in a user folder (link or copy) or build the procedural corpus."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from motion_r1_core.config import load_config
from motion_r1_core.features import recover_from_ric
from motion_r1_core.stages.raw_motions import ValidationFailed, run_raw_motions
from motion_r1_core.tracking import NullTracker

SAMPLE = Path(__file__).parent / "fixtures" / "humanml3d-sample"


def _user_folder(root: Path) -> Path:
    """A small but valid HumanML3D-layout folder made from the published sample."""
    vec = np.load(SAMPLE / "new_joint_vecs" / "012314.npy")
    for sub in ("new_joint_vecs", "new_joints", "texts"):
        (root / sub).mkdir(parents=True)
    shutil.copy(SAMPLE / "Mean.npy", root / "Mean.npy")
    shutil.copy(SAMPLE / "Std.npy", root / "Std.npy")
    clips = {"012314": vec, "000001": vec[:80], "000002": vec[60:160], "000003": vec[10:120]}
    for name, m in clips.items():
        np.save(root / "new_joint_vecs" / f"{name}.npy", m)
        np.save(root / "new_joints" / f"{name}.npy", recover_from_ric(m).numpy())
        (root / "texts" / f"{name}.txt").write_text(
            "a person walks#a/DET person/NOUN walk/VERB#0.0#0.0\n"
            "someone moves#someone/PRON move/VERB#0.0#0.0\n"
        )
    (root / "train.txt").write_text("012314\n000001\n")
    (root / "val.txt").write_text("000002\n")
    (root / "test.txt").write_text("000003\n")
    return root


@pytest.mark.parametrize("link", [True, False])
def test_user_folder_is_linked_or_copied(project_root: Path, tmp_path: Path, link: bool):
    source = _user_folder(tmp_path / "HumanML3D")
    cfg = load_config(
        overrides=[f"data.humanml3d.source={source}", f"data.humanml3d.link={str(link).lower()}"]
    )
    tracker = NullTracker()
    result = run_raw_motions(cfg, "humanml3d", tracker)
    out = project_root / "data" / "raw" / "humanml3d"
    assert result.path == out and out.is_symlink() == link
    assert (out / "new_joint_vecs" / "000002.npy").is_file()
    assert result.n_motions == 4 and result.n_captions == 8
    assert result.splits == {"train": 2, "val": 1, "test": 1}
    saved = json.loads(result.metrics_path.read_text())
    assert saved["n_motions"] == 4 and saved["frames_max"] == 170 and saved["frames_min"] == 80
    assert saved["hours"] == pytest.approx((170 + 80 + 100 + 110) / 20 / 3600)
    assert tracker.params["data.humanml3d.link"] == str(link)
    assert tracker.tags["stage"] == "raw_motions"
    assert dict(tracker.metrics[-1][1])["n_train"] == 2.0
    # A rerun replaces the folder cleanly (no leftovers, no error).
    run_raw_motions(cfg, "humanml3d", NullTracker())
    assert not out.with_name("humanml3d.tmp").exists()


def test_missing_source_is_a_clear_error(project_root: Path):
    with pytest.raises(ValueError, match=r"data\.humanml3d\.source is not set"):
        run_raw_motions(load_config(), "humanml3d", NullTracker())


def test_source_not_in_layout_names_missing_parts(project_root: Path, tmp_path: Path):
    source = _user_folder(tmp_path / "HumanML3D")
    (source / "test.txt").unlink()
    cfg = load_config(overrides=[f"data.kit.source={source}"])
    with pytest.raises(FileNotFoundError, match=r"missing test\.txt"):
        run_raw_motions(cfg, "kit", NullTracker())


def test_invalid_folder_raises_the_report(project_root: Path, tmp_path: Path):
    source = _user_folder(tmp_path / "HumanML3D")
    np.save(source / "new_joint_vecs" / "000001.npy", np.full((80, 263), np.inf, np.float32))
    cfg = load_config(overrides=[f"data.humanml3d.source={source}", "data.humanml3d.link=false"])
    tracker = NullTracker()
    with pytest.raises(ValidationFailed, match=r"new_joint_vecs/000001\.npy") as err:
        run_raw_motions(cfg, "humanml3d", tracker)
    assert not err.value.report.ok
    assert tracker.metrics[-1][1]["validation_failures"] >= 1
