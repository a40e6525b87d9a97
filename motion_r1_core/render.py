"""Stick-figure animations of motions: GIFs drawn with matplotlib (Agg canvas, no pyplot state).

The camera follows the figure: the ground grid and the root's path are drawn relative to the
current root position, so a walk reads as motion over the floor. Bones are drawn along the
skeleton's kinematic chains, the subject's left side in red and right side in blue. Each scene
is built once; per frame only the artists' data change.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from motion_r1_core.skeleton import HUMANML3D, Skeleton, skeleton_for_dim, skeleton_for_joints

LEFT_COLOUR, RIGHT_COLOUR, CENTRE_COLOUR = "#d62728", "#1f77b4", "#404040"
HALF_VIEW = 1.0  # metres shown on each side of the root (and 2x this in height)
GRID_STEP = 0.5  # metres between grid lines


def _as_joints(joints: np.ndarray | torch.Tensor) -> np.ndarray:
    """(T, J, 3) float64 metres, floor at y = 0; millimetre data (KIT-ML) is scaled to metres."""
    x = joints.detach().cpu().numpy() if torch.is_tensor(joints) else np.asarray(joints)
    if x.ndim != 3 or x.shape[-1] != 3 or len(x) == 0:
        raise ValueError(f"expected joints of shape (T, J, 3), got {x.shape}")
    x = x.astype(np.float64)
    if np.ptp(x[..., 1]) > 20:  # a body taller than 20 units is in millimetres
        x = x / 1000.0
    x[..., 1] -= x[..., 1].min()
    return x


def _to_plot(p: np.ndarray) -> np.ndarray:
    """Data (x left, y up, z forward) to plot axes (X, Y, Z up); a proper rotation, no mirror."""
    return np.stack([p[..., 0], -p[..., 2], p[..., 1]], -1)


def _side_colour(chain: tuple[int, ...], skeleton: Skeleton) -> str:
    name = skeleton.joint_names[chain[-1]]
    return (
        LEFT_COLOUR
        if name.startswith("left")
        else (RIGHT_COLOUR if name.startswith("right") else CENTRE_COLOUR)
    )


class _Scene:
    """One 3-D axes with a stick figure, a following ground grid and the root's path."""

    def __init__(
        self,
        fig: Figure,
        slot: tuple[int, int, int],
        joints: np.ndarray,
        skeleton: Skeleton,
        title: str | None,
    ) -> None:
        self.joints, self.skeleton = joints, skeleton
        self.root_xz = joints[:, 0, [0, 2]]
        ax = fig.add_subplot(*slot, projection="3d")
        ax.set_xlim(-HALF_VIEW, HALF_VIEW)
        ax.set_ylim(-HALF_VIEW, HALF_VIEW)
        ax.set_zlim(-0.15, 2 * HALF_VIEW - 0.15)  # a little floor below the feet
        ax.set_box_aspect((1, 1, 1), zoom=1.45)
        ax.view_init(elev=12, azim=-60)
        ax.set_axis_off()
        if title:  # above the axes, in figure coordinates: never clipped by the 3-D box
            x = (slot[2] - 0.5) / slot[1]
            fig.text(x, 0.985, textwrap.fill(title, 44), ha="center", va="top", fontsize=8)
        n_lines = 2 * int(2 * HALF_VIEW / GRID_STEP + 2)
        self.grid = [ax.plot([], [], [], color="#c8c8c8", lw=0.6)[0] for _ in range(n_lines)]
        self.path = ax.plot([], [], [], color="#2ca02c", lw=1.2, alpha=0.8)[0]
        self.bones = [
            ax.plot(
                [],
                [],
                [],
                color=_side_colour(c, skeleton),
                lw=2.2,
                solid_capstyle="round",
                marker="o",
                markersize=2,
            )[0]
            for c in skeleton.chains
        ]
        self.ax = ax

    def _grid_lines(self, centre: np.ndarray) -> list[np.ndarray]:
        """Grid segments (2, 3) in plot coordinates, relative to the root, inside the view."""
        lines = []
        for axis in (0, 1):  # lines of constant world x, then constant world z
            first = np.ceil((centre[axis] - HALF_VIEW) / GRID_STEP) * GRID_STEP
            for w in np.arange(first, centre[axis] + HALF_VIEW + 1e-9, GRID_STEP):
                rel = w - centre[axis]
                seg = np.zeros((2, 3))
                seg[:, 2 * axis] = rel  # data columns x (0) and z (2); y is up
                seg[:, 2 - 2 * axis] = (-HALF_VIEW, HALF_VIEW)
                lines.append(_to_plot(seg))
        return lines

    def update(self, t: int) -> None:
        t = min(t, len(self.joints) - 1)
        centre = self.root_xz[t]
        offset = np.array([centre[0], 0.0, centre[1]])
        for line, chain in zip(self.bones, self.skeleton.chains, strict=True):
            p = _to_plot(self.joints[t, list(chain)] - offset)
            line.set_data_3d(p[:, 0], p[:, 1], p[:, 2])
        lines = self._grid_lines(centre)
        for i, line in enumerate(self.grid):
            p = lines[i] if i < len(lines) else np.full((2, 3), np.nan)
            line.set_data_3d(p[:, 0], p[:, 1], p[:, 2])
        rel = self.root_xz - centre
        outside = np.abs(rel).max(-1) > HALF_VIEW  # 3-D lines are not clipped to the axes
        path = _to_plot(np.stack([rel[:, 0], np.zeros(len(rel)), rel[:, 1]], -1))
        path[outside] = np.nan
        self.path.set_data_3d(path[:, 0], path[:, 1], path[:, 2])


def _animate(
    motions: list[np.ndarray],
    titles: list[str | None],
    out: Path,
    fps: float,
    skeleton: Skeleton,
    size: float = 3.4,
) -> Path:
    """Draw the scenes side by side for max(T) frames (shorter motions hold their last pose)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = max((len(textwrap.wrap(t, 44)) for t in titles if t), default=0)
    height = size + 0.16 * lines
    fig = Figure(figsize=(size * len(motions), height), dpi=90)
    canvas = FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0, right=1, bottom=0, top=1 - (0.16 * lines + 0.05) / height, wspace=0)
    scenes = [
        _Scene(fig, (1, len(motions), i + 1), m, skeleton, t)
        for i, (m, t) in enumerate(zip(motions, titles, strict=True))
    ]
    n = max(len(m) for m in motions)
    fig.text(0.02, 0.02, "left", color=LEFT_COLOUR, fontsize=7)
    fig.text(0.02 + 0.05 / len(motions), 0.02, "right", color=RIGHT_COLOUR, fontsize=7)
    counter = fig.text(0.98, 0.02, "", ha="right", fontsize=7, color="#606060")
    frames = []
    for t in range(n):
        for scene in scenes:
            scene.update(t)
        counter.set_text(f"{t + 1}/{n}")  # also keeps every GIF frame distinct
        canvas.draw()
        frames.append(np.asarray(canvas.buffer_rgba())[..., :3].copy())
    iio.imwrite(out, np.stack(frames), extension=".gif", duration=1000.0 / fps, loop=0)
    return out


def render_motion(
    joints: np.ndarray | torch.Tensor,
    out: Path,
    title: str | None = None,
    fps: float = 20,
    skeleton: Skeleton = HUMANML3D,
) -> Path:
    """Write a GIF of a stick figure for joints (T, J, 3) in metres (y up), one frame per pose.

    The title (e.g. the caption) is wrapped above the figure; `fps` sets the playback rate.
    Returns the path written.
    """
    x = _as_joints(joints)
    if x.shape[1] != skeleton.n_joints:
        raise ValueError(
            f"joints have {x.shape[1]} joints, skeleton {skeleton.name} has {skeleton.n_joints}"
        )
    return _animate([x], [title], out, fps, skeleton)


def render_side_by_side(
    motions: list[np.ndarray | torch.Tensor],
    titles: list[str],
    out: Path,
    fps: float = 20,
    skeleton: Skeleton = HUMANML3D,
) -> Path:
    """One GIF with several motions (each (T_i, J, 3) metres) next to each other, e.g. an
    original and its reconstruction; the shorter ones hold their last pose."""
    if len(motions) != len(titles) or not motions:
        raise ValueError(
            f"need one title per motion, got {len(motions)} motions and {len(titles)} titles"
        )
    return _animate([_as_joints(m) for m in motions], list(titles), out, fps, skeleton)


def _caption_of(path: Path) -> str | None:
    """First caption of a file in a HumanML3D layout (DIR/new_joint_vecs|new_joints/ID.npy)."""
    from motion_r1_core.data.humanml3d import read_captions

    if path.parent.name not in ("new_joint_vecs", "new_joints"):
        return None
    try:
        return read_captions(path.parent.parent / "texts" / f"{path.stem}.txt")[0].text
    except (FileNotFoundError, ValueError):  # no or unreadable captions: title with the name
        return None


def load_joints(path: Path, skeleton: Skeleton | None = None) -> tuple[np.ndarray, Skeleton]:
    """Joint positions (T, J, 3) in metres and their skeleton from a .npy of features
    (T, 263 | 251; `recover_from_ric`, the skeleton follows the width) or of joints (T, J, 3).
    Errors name the file."""
    from motion_r1_core.features import recover_from_ric

    path = Path(path)
    arr = np.load(path, allow_pickle=False)
    try:
        if arr.ndim == 2:
            sk = skeleton or skeleton_for_dim(arr.shape[1])
            joints = recover_from_ric(torch.from_numpy(arr.astype(np.float32)), sk).numpy()
        elif arr.ndim == 3 and arr.shape[2] == 3:
            sk = skeleton or skeleton_for_joints(arr.shape[1])
            if arr.shape[1] != sk.n_joints:
                raise ValueError(f"joints of shape {arr.shape} for skeleton {sk.name}")
            joints = arr
        else:
            raise ValueError(
                f"array of shape {arr.shape} is neither features (T, D) nor joints (T, J, 3)"
            )
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    if len(joints) == 0:
        raise ValueError(f"{path}: no frames")
    return joints, sk


def render_file(
    path: Path, out: Path, caption: str | None = None, skeleton: Skeleton | None = None
) -> Path:
    """Render a .npy of features (T, 263 | 251) or joints (T, J, 3) to a GIF (`load_joints`).

    Without a caption, a file inside a HumanML3D layout is titled with its first caption.
    """
    path = Path(path)
    joints, sk = load_joints(path, skeleton)
    title = caption if caption is not None else (_caption_of(path) or path.name)
    return render_motion(joints, out, title=title, fps=sk.fps, skeleton=sk)


def write_curves(history: list[dict[str, float]], keys: list[str], out: Path) -> Path:
    """A CSV of `history`: a `step` column, then one column per key (empty where a row lacks
    it, e.g. validation every few hundred steps). `dvc plots show` draws it (dvc.yaml plots)."""
    import csv

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", *keys])
        for row in sorted(history, key=lambda r: r["step"]):
            if any(k in row for k in keys):
                writer.writerow([int(row["step"]), *(row.get(k, "") for k in keys)])
    return out


def plot_curves(
    history: list[dict[str, float]],
    keys: list[str],
    out: Path,
    title: str | None = None,
    log_scale: tuple[str, ...] = ("loss", "recon", "joints", "commit"),
) -> Path:
    """A PNG with one panel per metric in `keys` against `step` (rows of `history`), 4 a row,
    and the same series as a CSV beside it (`out` with `.csv`: `write_curves`).

    Metrics missing from every row are left out; those named in `log_scale` use a log y axis.
    """
    keys = [k for k in keys if any(k in row for row in history)]
    if not keys:
        raise ValueError("none of the requested metrics occurs in the history")
    write_curves(history, keys, Path(out).with_suffix(".csv"))
    cols = min(4, len(keys))
    nrows = -(-len(keys) // cols)
    fig = Figure(figsize=(3.2 * cols, 2.6 * nrows), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, cols, squeeze=False).flatten()
    for ax in axes[len(keys) :]:
        ax.set_visible(False)
    for ax, key in zip(axes, keys, strict=False):
        rows = [r for r in history if key in r]
        marker = "o" if len(rows) < 20 else None  # sparse series (validation) show their points
        ax.plot(
            [r["step"] for r in rows], [r[key] for r in rows], color=RIGHT_COLOUR, marker=marker
        )
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        if key in log_scale and all(r[key] > 0 for r in rows):
            ax.set_yscale("log")
    if title:
        fig.suptitle(title, fontsize=10)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    return out
