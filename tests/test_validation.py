"""The Great Expectations suite of a motion folder: each corruption fails the right check and file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from motion_r1_core.data.validation import (
    CheckFailure,
    ValidationReport,
    validate_dataset_folder,
    validate_motion_folder,
)

CAPTIONS = (
    "a person walks forward.#a/DET person/NOUN walk/VERB forward/ADV#0.0#0.0\n"
    "someone steps ahead slowly.#someone/PRON step/VERB ahead/ADV slowly/ADV#0.0#0.0\n"
)


def write_folder(folder: Path, n: int = 10, dim: int = 263, seed: int = 0) -> list[str]:
    """A tiny folder in the HumanML3D layout: random motions of 40..80 frames, 2 captions each."""
    rng = np.random.default_rng(seed)
    joints = {263: 22, 251: 21}[dim]
    for d in ("new_joint_vecs", "new_joints", "texts"):
        (folder / d).mkdir(parents=True, exist_ok=True)
    ids = [f"{i:06d}" for i in range(n)]
    for i in ids:
        t = int(rng.integers(40, 80))
        np.save(
            folder / "new_joint_vecs" / f"{i}.npy", rng.normal(size=(t, dim)).astype(np.float32)
        )
        np.save(
            folder / "new_joints" / f"{i}.npy", rng.normal(size=(t, joints, 3)).astype(np.float32)
        )
        (folder / "texts" / f"{i}.txt").write_text(CAPTIONS)
    (folder / "train.txt").write_text("\n".join(ids[:-4]) + "\n")
    (folder / "val.txt").write_text("\n".join(ids[-4:-2]) + "\n")
    (folder / "test.txt").write_text("\n".join(ids[-2:]) + "\n")
    np.save(folder / "Mean.npy", np.zeros(dim, np.float32))
    np.save(folder / "Std.npy", np.ones(dim, np.float32))
    return ids


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_folder(tmp_path / "ds")
    return tmp_path / "ds"


def only(report: ValidationReport, check: str) -> CheckFailure:
    """The single failure of `report`, which must be of `check`."""
    assert [f.check for f in report.failures] == [check], report.format()
    return report.failures[0]


def test_valid_folder_passes(folder: Path) -> None:
    report = validate_motion_folder(folder)
    assert report.ok, report.format()
    assert (report.n_motions, report.n_texts) == (10, 10)
    assert report.stats["feature_dim"] == 263
    assert report.stats["n_captions"] == 20
    assert (report.stats["split_train"], report.stats["split_val"], report.stats["split_test"]) == (
        6,
        2,
        2,
    )
    assert 40 <= report.stats["frames_min"] <= report.stats["frames_max"] < 80
    assert "all checks passed" in report.format()


def test_kit_width_inferred_from_mean(tmp_path: Path) -> None:
    write_folder(tmp_path / "kit", dim=251)
    report = validate_motion_folder(tmp_path / "kit")
    assert report.ok, report.format()
    assert report.stats["feature_dim"] == 251
    # the same folder read as HumanML3D is wrong everywhere, and the report says so
    wrong = validate_motion_folder(tmp_path / "kit", feature_dim=263)
    assert {"dims", "normalization"} <= set(wrong.failed_checks())


def test_missing_features_file_names_exactly_that_file(folder: Path) -> None:
    (folder / "new_joint_vecs" / "000003.npy").unlink()
    failure = only(validate_motion_folder(folder), "files")
    assert failure.files == ("new_joint_vecs/000003.npy",)
    assert "features" in failure.detail


def test_nan_fails_finite(folder: Path) -> None:
    path = folder / "new_joint_vecs" / "000004.npy"
    a = np.load(path)
    a[5, 7] = np.nan
    np.save(path, a)
    assert only(validate_motion_folder(folder), "finite").files == ("new_joint_vecs/000004.npy",)


def test_inf_in_joints_fails_finite(folder: Path) -> None:
    path = folder / "new_joints" / "000001.npy"
    a = np.load(path)
    a[0, 0, 0] = np.inf
    np.save(path, a)
    assert only(validate_motion_folder(folder), "finite").files == ("new_joints/000001.npy",)


def test_wrong_width_fails_dims(folder: Path) -> None:
    t = np.load(folder / "new_joint_vecs" / "000005.npy").shape[0]
    np.save(folder / "new_joint_vecs" / "000005.npy", np.zeros((t, 250), np.float32))
    failure = only(validate_motion_folder(folder), "dims")
    assert failure.files == ("new_joint_vecs/000005.npy",)
    assert "250" in failure.detail and "263" in failure.detail


def test_frame_mismatch_fails_frames(folder: Path) -> None:
    np.save(folder / "new_joints" / "000002.npy", np.zeros((41, 22, 3), np.float32))
    vecs = np.load(folder / "new_joint_vecs" / "000002.npy")
    if vecs.shape[0] == 41:  # make sure the counts differ
        np.save(folder / "new_joint_vecs" / "000002.npy", vecs[:40])
    failure = only(validate_motion_folder(folder), "frames")
    assert set(failure.files) == {"new_joint_vecs/000002.npy", "new_joints/000002.npy"}


def test_empty_caption_line_fails_captions(folder: Path) -> None:
    (folder / "texts" / "000006.txt").write_text(CAPTIONS + "#x/X#0.0#0.0\n")
    assert only(validate_motion_folder(folder), "captions").files == ("texts/000006.txt",)


def test_blank_line_between_captions_and_empty_file_fail_captions(folder: Path) -> None:
    first, second = CAPTIONS.splitlines()
    (folder / "texts" / "000006.txt").write_text(f"{first}\n\n{second}\n")
    (folder / "texts" / "000007.txt").write_text("")
    report = validate_motion_folder(folder)
    assert set(report.failed_checks()) == {"captions"}, report.format()
    assert {p for f in report.failures for p in f.files} == {"texts/000006.txt", "texts/000007.txt"}


def test_id_in_train_and_test_fails_splits(folder: Path) -> None:
    with (folder / "test.txt").open("a") as f:
        f.write("000001\n")
    failure = only(validate_motion_folder(folder), "splits")
    assert set(failure.files) == {"train.txt", "test.txt"}
    assert "000001" in failure.detail


def test_truncated_npy_fails_readable_without_crashing(folder: Path) -> None:
    path = folder / "new_joints" / "000007.npy"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    failure = only(validate_motion_folder(folder), "readable")
    assert failure.files == ("new_joints/000007.npy",)
    assert "new_joints/000007.npy" in failure.detail


def test_garbage_npy_fails_readable(folder: Path) -> None:
    (folder / "new_joint_vecs" / "000000.npy").write_bytes(b"not a numpy file at all")
    assert only(validate_motion_folder(folder), "readable").files == ("new_joint_vecs/000000.npy",)


def test_missing_texts_folder_stops_at_layout(folder: Path) -> None:
    for p in (folder / "texts").iterdir():
        p.unlink()
    (folder / "texts").rmdir()
    report = validate_motion_folder(folder)
    failure = only(report, "layout")
    assert failure.detail == "missing texts/" and failure.files == ("texts/",)
    assert report.stats.get("feature_dim") is None  # nothing else was looked at


def test_missing_split_file_and_nonexistent_folder(folder: Path, tmp_path: Path) -> None:
    (folder / "test.txt").unlink()
    assert only(validate_motion_folder(folder), "layout").detail == "missing test.txt"
    assert only(validate_motion_folder(tmp_path / "nowhere"), "layout").files == ()


def test_lengths_respect_window_and_mostly(folder: Path) -> None:
    np.save(folder / "new_joint_vecs" / "000008.npy", np.zeros((20, 263), np.float32))
    np.save(folder / "new_joints" / "000008.npy", np.zeros((20, 22, 3), np.float32))
    failure = only(validate_motion_folder(folder), "lengths")
    assert failure.files == ("new_joint_vecs/000008.npy",) and "20" in failure.detail
    # real datasets hold a few motions outside the window: 1 of 10 is within mostly=0.9
    assert validate_motion_folder(folder, length_mostly=0.9).ok
    assert validate_motion_folder(folder, min_frames=20).ok


def test_bad_std_fails_normalization(folder: Path) -> None:
    std = np.ones(263, np.float32)
    std[10] = 0.0
    np.save(folder / "Std.npy", std)
    assert only(validate_motion_folder(folder), "normalization").files == ("Std.npy",)


def test_unlisted_files_are_counted_not_failed(folder: Path) -> None:
    (folder / "val.txt").write_text("000006\n")  # 000007 is now on disk but in no split
    report = validate_motion_folder(folder)
    assert report.ok, report.format()
    assert report.stats["n_unlisted"] == 1


def test_format_caps_the_file_list(tmp_path: Path) -> None:
    write_folder(tmp_path / "ds", n=16)
    for i in range(14):
        (tmp_path / "ds" / "texts" / f"{i:06d}.txt").unlink()
    report = validate_motion_folder(tmp_path / "ds")
    text = report.format(max_files=10)
    assert "[files] 14 split IDs without a text file" in text
    assert "texts/000000.txt" in text and "... and 4 more" in text
    assert "texts/000013.txt" not in text
    assert len(only(report, "files").files) == 14


def test_dataset_policy_kit_keeps_short_motions(tmp_path: Path) -> None:
    write_folder(tmp_path / "kit", dim=251)
    np.save(tmp_path / "kit" / "new_joint_vecs" / "000000.npy", np.zeros((30, 251), np.float32))
    np.save(tmp_path / "kit" / "new_joints" / "000000.npy", np.zeros((30, 21, 3), np.float32))
    assert validate_dataset_folder(tmp_path / "kit", "kit").ok  # KIT-ML keeps 24..199 frames
    report = validate_dataset_folder(tmp_path / "kit", "procedural")
    assert report.failed_checks() == ("lengths",)
    with pytest.raises(ValueError, match="unknown dataset"):
        validate_dataset_folder(tmp_path / "kit", "amass")
