"""Readers of the HumanML3D layout, on a folder built from a real motion."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from motion_r1_core.data import LayoutError, load_split, read_captions
from motion_r1_core.data.humanml3d import check_layout, parse_caption_line

SAMPLE = Path(__file__).parent / "fixtures" / "humanml3d-sample"


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """A 4-motion HumanML3D folder: the real sample, a short one, a long one and a copy."""
    vec = np.load(SAMPLE / "new_joint_vecs" / "012314.npy")  # 170 frames
    root = tmp_path / "h3d"
    (root / "new_joint_vecs").mkdir(parents=True)
    (root / "texts").mkdir()
    shutil.copy(SAMPLE / "Mean.npy", root / "Mean.npy")
    shutil.copy(SAMPLE / "Std.npy", root / "Std.npy")
    motions = {
        "000001": vec,
        "000002": vec[:30],  # too short: dropped with its sub-clips
        "000003": np.concatenate([vec, vec]),  # 340 frames: too long, but a sub-clip is fine
        "M000001": vec[::-1].copy(),
    }
    texts = {
        "000001": [
            "a person walks forward#a/DET person/NOUN walk/VERB forward/ADV#0.0#0.0",
            "someone strides ahead#someone/PRON stride/VERB ahead/ADV#0.0#0.0",
            "a person turns#a/DET person/NOUN turn/VERB#1.0#4.5",
        ],
        "000002": ["a short clip#a/DET short/ADJ clip/NOUN#0.0#0.0"],
        "000003": ["the middle part#the/DET middle/ADJ part/NOUN#2.0#7.0"],
        "M000001": ["a person walks backward#a/DET person/NOUN walk/VERB backward/ADV#0.0#0.0"],
    }
    for name, m in motions.items():
        np.save(root / "new_joint_vecs" / f"{name}.npy", m)
        (root / "texts" / f"{name}.txt").write_text("\n".join(texts[name]) + "\n")
    (root / "train.txt").write_text("000001\n000002\nM000001\n")
    (root / "val.txt").write_text("000003\n")
    (root / "test.txt").write_text("000003\n")
    return root


def test_samples_follow_the_reference_loader(folder: Path):
    train = {r.name: r for r in load_split(folder, "train")}
    assert sorted(train) == ["000001", "000001#1#4.5", "M000001"]
    whole = train["000001"]
    assert [c.text for c in whole.captions] == ["a person walks forward", "someone strides ahead"]
    assert whole.captions[0].tokens == ("a/DET", "person/NOUN", "walk/VERB", "forward/ADV")
    vec = np.load(folder / "new_joint_vecs" / "000001.npy")
    np.testing.assert_array_equal(whole.features, vec)
    # Sub-clips are frames [int(start * 20) : int(end * 20)].
    np.testing.assert_array_equal(train["000001#1#4.5"].features, vec[20:90])
    assert train["000001#1#4.5"].captions[0].text == "a person turns"
    # A 340-frame motion is dropped, and so are its sub-clips (as in the reference).
    assert load_split(folder, "val") == []


def test_min_frames_and_kit_like_width(folder: Path):
    names = [r.name for r in load_split(folder, "train", min_frames=80)]
    assert names == ["000001", "M000001"]  # the 70-frame sub-clip is now too short


def test_layout_errors_name_the_missing_parts(folder: Path):
    (folder / "test.txt").unlink()
    shutil.rmtree(folder / "texts")
    with pytest.raises(LayoutError, match=r"missing texts/, test\.txt"):
        check_layout(folder)


def test_missing_and_corrupt_files_are_named(folder: Path):
    (folder / "texts" / "M000001.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"texts/M000001\.txt"):
        load_split(folder, "train")
    (folder / "texts" / "M000001.txt").write_text("no fields here\n")
    with pytest.raises(ValueError, match=r"M000001\.txt:1: expected 'caption#tokens#start#end'"):
        load_split(folder, "train")
    (folder / "texts" / "M000001.txt").write_text("ok#a/DET#0.0#0.0\n")
    path = folder / "new_joint_vecs" / "M000001.npy"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match=r"new_joint_vecs/M000001\.npy: not a readable \.npy"):
        load_split(folder, "train")
    np.save(path, np.full((50, 263), np.nan, np.float32))
    with pytest.raises(ValueError, match=r"M000001\.npy: contains NaN"):
        load_split(folder, "train")
    np.save(path, np.zeros((50, 251), np.float32))
    with pytest.raises(ValueError, match=r"M000001\.npy: expected features of shape \(T, 263\)"):
        load_split(folder, "train")


def test_caption_parsing():
    cap = parse_caption_line("a man jumps#a/DET man/NOUN jump/VERB#nan#nan")
    assert cap.whole and cap.tokens == ("a/DET", "man/NOUN", "jump/VERB")
    with pytest.raises(ValueError, match="empty caption"):
        parse_caption_line("#a/DET#0.0#0.0", "x.txt:3")
    with pytest.raises(ValueError, match="start/end must be numbers"):
        parse_caption_line("walk#walk/VERB#soon#0.0")


def test_read_captions_skips_blank_lines(tmp_path: Path):
    p = tmp_path / "a.txt"
    p.write_text("walk#walk/VERB#0.0#0.0\n\nrun#run/VERB#0.0#0.0\n")
    assert [c.text for c in read_captions(p)] == ["walk", "run"]


def test_reader_reproduces_the_procedural_corpus_exactly(tmp_path: Path):
    """Every train/val/test sample read back equals what the generator made, bit for bit."""
    from motion_r1_core.data.procedural import generate_motion, synthesize_corpus
    from motion_r1_core.features import extract_features

    n, seed = 12, 5
    synthesize_corpus(tmp_path / "p", motions=n, seed=seed, progress=False, workers=1)
    children = np.random.SeedSequence(seed).spawn(n)
    seen = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the writer featurises single-threaded
    try:
        records = [r for s in ("train", "val", "test") for r in load_split(tmp_path / "p", s)]
        expected = {
            r.motion_id: generate_motion(np.random.default_rng(children[int(r.motion_id)]), 4)
            for r in records
        }
        features = {
            k: extract_features(torch.from_numpy(m.joints)).numpy() for k, m in expected.items()
        }
    finally:
        torch.set_num_threads(threads)
    for rec in records:
        motion = expected[rec.motion_id]
        assert rec.name == rec.motion_id  # whole-clip captions only
        np.testing.assert_array_equal(rec.features, features[rec.motion_id])
        assert [c.text for c in rec.captions] == list(motion.captions)
        assert all(c.tokens and c.whole for c in rec.captions)
        seen.append(rec.motion_id)
    assert sorted(seen) == [f"{i:06d}" for i in range(n)]
