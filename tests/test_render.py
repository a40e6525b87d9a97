"""Stick-figure GIFs: frame counts, a visible figure in both side colours, a following camera,
and the file loader's dispatch on shapes."""

from __future__ import annotations

import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from motion_r1_core.data import primitives
from motion_r1_core.features import extract_features
from motion_r1_core.render import (
    LEFT_COLOUR,
    RIGHT_COLOUR,
    plot_curves,
    render_file,
    render_motion,
    render_side_by_side,
)
from motion_r1_core.skeleton import KIT


def walk(n: int, speed: float = 1.3) -> np.ndarray:
    params = primitives.PRIMITIVES["walk"].sample(np.random.default_rng(0))
    params.update(direction="forward", curve="none", speed=speed)
    return primitives.build_motion([("walk", params, n)])[0]


def frames(path: Path) -> np.ndarray:
    return iio.imread(path, index=None)[..., :3]


def colour_mask(img: np.ndarray, colour: str, tol: int = 40) -> np.ndarray:
    rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
    return np.abs(img.astype(int) - rgb).max(-1) < tol


@pytest.fixture(scope="module")
def walking_gif(tmp_path_factory) -> tuple[Path, np.ndarray]:
    joints = walk(60)
    out = render_motion(
        joints, tmp_path_factory.mktemp("gif") / "walk.gif", title="a person walks forward."
    )
    return out, joints


def test_gif_has_one_frame_per_pose_and_a_visible_figure(walking_gif):
    path, joints = walking_gif
    imgs = frames(path)
    assert imgs.shape[0] == len(joints)
    first = imgs[0]
    # both sides of the body are drawn, in their own colours
    assert colour_mask(first, LEFT_COLOUR).sum() > 30
    assert colour_mask(first, RIGHT_COLOUR).sum() > 30
    background = (first > 245).all(-1)
    assert 0.005 < 1 - background.mean() < 0.5


def test_camera_follows_the_figure(walking_gif):
    path, joints = walking_gif
    assert joints[-1, 0, 2] - joints[0, 0, 2] > 1.2  # the walk leaves the first view centre
    imgs = frames(path)
    centres = []
    for img in (imgs[0], imgs[-1]):
        xs = np.nonzero(colour_mask(img, LEFT_COLOUR) | colour_mask(img, RIGHT_COLOUR))[1]
        centres.append(xs.mean() / img.shape[1])
    assert all(0.3 < c < 0.7 for c in centres)  # still in the middle after walking away
    assert not np.array_equal(imgs[0], imgs[len(imgs) // 2])


def test_render_120_frames_in_a_few_seconds(tmp_path):
    start = time.perf_counter()
    render_motion(walk(120), tmp_path / "long.gif")
    assert time.perf_counter() - start < 30


def test_side_by_side_holds_the_shorter_motion(tmp_path):
    a, b = walk(20), walk(30)
    out = render_side_by_side([a, b], ["original", "reconstruction"], tmp_path / "pair.gif")
    single = render_motion(a, tmp_path / "one.gif", title="original")
    pair, one = frames(out), frames(single)
    assert pair.shape[0] == 30
    assert pair.shape[2] == pytest.approx(2 * one.shape[2], abs=4)
    with pytest.raises(ValueError, match="one title per motion"):
        render_side_by_side([a, b], ["only one"], tmp_path / "bad.gif")


def _layout(root: Path, joints: np.ndarray, caption: str) -> tuple[Path, Path]:
    feats = extract_features(torch.from_numpy(joints)).numpy()
    for sub in ("new_joint_vecs", "new_joints", "texts"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    np.save(root / "new_joint_vecs" / "000007.npy", feats)
    np.save(root / "new_joints" / "000007.npy", joints[:-1])
    (root / "texts" / "000007.txt").write_text(f"{caption}#a/DET#0.0#0.0\nsecond#x/X#0.0#0.0\n")
    return root / "new_joint_vecs" / "000007.npy", root / "new_joints" / "000007.npy"


def test_render_file_features_and_joints_use_the_layout_caption(tmp_path):
    joints = walk(25)
    vecs, joints_file = _layout(tmp_path / "H", joints, "a person walks forward.")
    auto = frames(render_file(vecs, tmp_path / "auto.gif"))
    named = frames(render_file(vecs, tmp_path / "named.gif", caption="a person walks forward."))
    other = frames(render_file(vecs, tmp_path / "other.gif", caption="something else"))
    assert auto.shape[0] == 24  # T-1 feature rows
    assert np.array_equal(auto, named) and not np.array_equal(auto, other)
    assert frames(render_file(joints_file, tmp_path / "joints.gif")).shape[0] == 24


def test_render_file_kit_width(tmp_path):
    path = tmp_path / "kit.npy"
    np.save(path, np.zeros((12, KIT.feature_dim), dtype=np.float32))
    assert frames(render_file(path, tmp_path / "kit.gif")).shape[0] == 12


@pytest.mark.parametrize("shape", [(30, 100), (30, 22), (30, 23, 3), (4, 30, 22, 3)])
def test_render_file_wrong_shape_names_the_file(tmp_path, shape):
    path = tmp_path / "bad_motion.npy"
    np.save(path, np.zeros(shape, dtype=np.float32))
    with pytest.raises(ValueError, match=r"bad_motion\.npy"):
        render_file(path, tmp_path / "bad.gif")


def test_curves_are_a_grid_of_four_per_row_without_missing_metrics(tmp_path: Path) -> None:
    history = [{"step": float(s), "loss": 1 / (s + 1), "lr": 1e-3} for s in range(0, 500, 50)]
    history += [{"step": 500.0, "val_mpjpe_mm": 30.0}]
    keys = ["loss", "recon", "lr", "val_mpjpe_mm", "codes_used", "perplexity"]
    for k in ("recon", "codes_used", "perplexity"):
        history[0][k] = 1.0
    out = plot_curves(history, keys, tmp_path / "c.png", title="t")
    h, w, _ = iio.imread(out).shape
    assert (w, h) == (4 * 320, 2 * 260)  # 6 panels: two rows of four at 100 dpi
    one_row = plot_curves(history, ["loss", "lr", "nope"], tmp_path / "d.png")
    assert iio.imread(one_row).shape[:2] == (260, 2 * 320)  # the unknown metric is left out
    with pytest.raises(ValueError, match="none of the requested metrics"):
        plot_curves(history, ["nope"], tmp_path / "e.png")
