"""BVH (Biovision Hierarchy) files: joint positions in, joint rotations out, and back.

    write_bvh("walk.bvh", joints, HUMANML3D)        # joints (T, 22, 3) in metres, 20 fps
    motion = read_bvh("walk.bvh"); motion.positions()  # (T, J, 3) in metres, by forward kinematics

Positions carry no rotations, so `write_bvh` finds them by inverse kinematics: each joint's
global rotation turns its rest-pose bones onto the observed ones (the shortest rotation from
the parent's frame for a joint with one child, so twist follows the parent; the least-squares
fit, Kabsch, for the pelvis and the upper spine, whose several children move rigidly). The
rotation features of HumanML3D are not used: they are known to be unreliable (REFERENCE.md
section 4). Rest offsets are the skeleton's directions with the motion's own (median) bone
lengths; the children of a branching joint keep the motion's first-frame layout, so a motion
made by a fixed skeleton (the procedural corpus, HumanML3D) comes back within float error.
Channels: root `Xposition Yposition Zposition Zrotation Xrotation Yrotation`, the others
`Zrotation Xrotation Yrotation` (degrees, intrinsic: R = Rz Rx Ry), Y up as in HumanML3D.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from motion_r1_core.skeleton import Skeleton

UNITS = {"m": 1.0, "cm": 100.0}
ROT_ORDER = "ZXY"  # BVH channel order of the rotations written here


@dataclass(frozen=True)
class BVHMotion:
    """A parsed BVH file.

    Attributes:
        names: joint names in file order (End Sites excluded).
        parents: parent index per joint (-1 for the root).
        offsets: (J, 3) rest offset from the parent, in file units.
        channels: per joint, its channel names in file order (e.g. `Zrotation`).
        frames: (T, C) channel values in file order.
        frame_time: seconds per frame.
        scale: file units per metre (100 for centimetres).
    """

    names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray
    channels: tuple[tuple[str, ...], ...]
    frames: np.ndarray
    frame_time: float
    scale: float = 1.0

    @property
    def fps(self) -> float:
        """Frames per second."""
        return 1.0 / self.frame_time

    def rotations(self) -> tuple[np.ndarray, np.ndarray]:
        """Local rotation matrices (T, J, 3, 3) and position channels (T, J, 3), file units."""
        t, j = len(self.frames), len(self.names)
        rot = np.tile(np.eye(3), (t, j, 1, 1))
        pos = np.zeros((t, j, 3))
        col = 0
        for k, chans in enumerate(self.channels):
            axes = ""
            angles = []
            for ch in chans:
                axis = ch[0].upper()
                if ch.lower().endswith("position"):
                    pos[:, k, "XYZ".index(axis)] = self.frames[:, col]
                else:
                    axes += axis
                    angles.append(self.frames[:, col])
                col += 1
            if axes:
                rot[:, k] = Rotation.from_euler(axes, np.stack(angles, 1), degrees=True).as_matrix()
        return rot, pos

    def positions(self, names: tuple[str, ...] | None = None) -> np.ndarray:
        """World joint positions (T, J, 3) in metres by forward kinematics, in file order or
        in the order of `names` (e.g. a skeleton's `joint_names`)."""
        local, pos = self.rotations()
        t, j = local.shape[:2]
        glob = np.zeros_like(local)
        out = np.zeros((t, j, 3))
        for k, p in enumerate(self.parents):
            offset = self.offsets[k] + pos[:, k]
            if p < 0:
                glob[:, k], out[:, k] = local[:, k], offset
            else:
                glob[:, k] = glob[:, p] @ local[:, k]
                out[:, k] = out[:, p] + np.einsum("tij,tj->ti", glob[:, p], offset)
        if names is not None:
            missing = sorted(set(names) - set(self.names))
            if missing:
                raise KeyError(f"the BVH has no joint(s) {missing}")
            out = out[:, [self.names.index(n) for n in names]]
        return out / self.scale


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True).clip(min=1e-12)


def shortest_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotations (..., 3, 3) taking direction `a` (..., 3) onto direction `b` by the least
    angle (a half turn about an axis normal to `a` where they are opposite)."""
    a, b = _unit(a), _unit(b)
    axis = np.cross(a, b)
    sin, cos = np.linalg.norm(axis, axis=-1), (a * b).sum(-1)
    opposite = (sin < 1e-9) & (cos < 0)
    if opposite.any():  # any axis normal to a
        helper = np.where(np.abs(a[..., :1]) < 0.9, [1.0, 0, 0], [0, 1.0, 0])
        axis = np.where(opposite[..., None], np.cross(a, helper), axis)
    angle = np.where(opposite, np.pi, np.arctan2(sin, cos))
    rotvec = _unit(axis) * angle[..., None]
    rotvec = np.where(((sin < 1e-12) & ~opposite)[..., None], 0.0, rotvec)
    return Rotation.from_rotvec(rotvec.reshape(-1, 3)).as_matrix().reshape(*a.shape[:-1], 3, 3)


def kabsch(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Rotations (T, 3, 3) best taking the vectors `src` (K, 3) onto `dst` (T, K, 3)."""
    h = np.einsum("ki,tkj->tij", src, dst)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.swapaxes(vt, 1, 2) @ np.swapaxes(u, 1, 2)))
    fix = np.tile(np.eye(3), (len(h), 1, 1))
    fix[:, 2, 2] = d
    return np.swapaxes(vt, 1, 2) @ fix @ np.swapaxes(u, 1, 2)


def _children(parents: tuple[int, ...]) -> list[list[int]]:
    kids: list[list[int]] = [[] for _ in parents]
    for k, p in enumerate(parents):
        if p >= 0:
            kids[p].append(k)
    return kids


def inverse_kinematics(joints: np.ndarray, skeleton: Skeleton) -> tuple[np.ndarray, np.ndarray]:
    """Rest offsets (J, 3) in metres and local rotations (T, J, 3, 3) reproducing `joints`
    (T, J, 3) in metres with the skeleton's hierarchy (see the module docstring)."""
    joints = np.asarray(joints, dtype=np.float64)
    t, j, _ = joints.shape
    if j != skeleton.n_joints:
        raise ValueError(f"{j} joints, but skeleton {skeleton.name} has {skeleton.n_joints}")
    parents, kids = skeleton.parents, _children(skeleton.parents)
    bones = joints - joints[:, [max(p, 0) for p in parents]]  # (T, J, 3), root row zero
    lengths = np.median(np.linalg.norm(bones, axis=-1), axis=0)
    offsets = skeleton.raw_offsets.astype(np.float64) * lengths[:, None]
    for ch in kids:
        if len(ch) > 1:  # the children keep the motion's own first-frame layout
            first = kabsch(offsets[ch], bones[:1, ch])[0]
            offsets[ch] = bones[0, ch] @ first  # = first.T @ bone, row-wise
    glob = np.zeros((t, j, 3, 3))
    order = sorted(range(j), key=lambda k: _depth(parents, k))
    for k in order:
        above = glob[:, parents[k]] if parents[k] >= 0 else np.tile(np.eye(3), (t, 1, 1))
        ch = kids[k]
        if len(ch) > 1:
            glob[:, k] = kabsch(offsets[ch], bones[:, ch])
        elif len(ch) == 1:
            rest = np.einsum("tij,j->ti", above, offsets[ch[0]])
            glob[:, k] = shortest_rotation(rest, bones[:, ch[0]]) @ above
        else:
            glob[:, k] = above
    local = glob.copy()
    for k, p in enumerate(parents):
        if p >= 0:
            local[:, k] = np.swapaxes(glob[:, p], 1, 2) @ glob[:, k]
    return offsets, local


def _depth(parents: tuple[int, ...], k: int) -> int:
    d = 0
    while parents[k] >= 0:
        k, d = parents[k], d + 1
    return d


def joints_to_bvh(
    joints: np.ndarray, skeleton: Skeleton, fps: float | None = None, unit: str = "cm"
) -> BVHMotion:
    """A BVHMotion of joint positions (T, J, 3) in metres at `fps` (default: the skeleton's),
    offsets and root translation in `unit` (`cm` or `m`)."""
    if unit not in UNITS:
        raise ValueError(f"unit {unit!r}: use one of {sorted(UNITS)}")
    scale = UNITS[unit]
    offsets, local = inverse_kinematics(joints, skeleton)
    t, j = local.shape[:2]
    euler = Rotation.from_matrix(local.reshape(-1, 3, 3)).as_euler(ROT_ORDER, degrees=True)
    euler = euler.reshape(t, j, 3)
    rot_names = tuple(f"{a}rotation" for a in ROT_ORDER)
    root = np.asarray(joints, dtype=np.float64)[:, 0] * scale
    frames = np.concatenate([root, euler.reshape(t, -1)], axis=1)
    channels = [("Xposition", "Yposition", "Zposition", *rot_names)] + [rot_names] * (j - 1)
    return BVHMotion(
        names=skeleton.joint_names,
        parents=skeleton.parents,
        offsets=np.where(np.arange(j)[:, None] == 0, 0.0, offsets * scale),
        channels=tuple(channels),
        frames=frames,
        frame_time=1.0 / float(fps or skeleton.fps),
        scale=scale,
    )


def format_bvh(motion: BVHMotion, end_site: np.ndarray | None = None) -> str:
    """The text of `motion` as a BVH file: joints depth first from the root (the frame columns
    reordered to match); `end_site` (J, 3) gives the End Site offset of each leaf."""
    kids = _children(motion.parents)
    lines = ["HIERARCHY"]
    order: list[int] = []

    def joint(k: int, depth: int) -> None:
        pad = "  " * depth
        order.append(k)
        chans = motion.channels[k]
        lines.extend(
            [
                f"{pad}{'ROOT' if motion.parents[k] < 0 else 'JOINT'} {motion.names[k]}",
                pad + "{",
                f"{pad}  OFFSET {' '.join(f'{x:.6f}' for x in motion.offsets[k])}",
                f"{pad}  CHANNELS {len(chans)} {' '.join(chans)}",
            ]
        )
        for c in kids[k]:
            joint(c, depth + 1)
        if not kids[k]:
            tip = end_site[k] if end_site is not None else np.zeros(3)
            lines.extend(
                [
                    f"{pad}  End Site",
                    pad + "  {",
                    f"{pad}    OFFSET {' '.join(f'{x:.6f}' for x in tip)}",
                    pad + "  }",
                ]
            )
        lines.append(pad + "}")

    joint(motion.parents.index(-1), 0)
    start = np.cumsum([0, *(len(c) for c in motion.channels)])
    columns = np.concatenate([np.arange(start[k], start[k + 1]) for k in order])
    lines += ["MOTION", f"Frames: {len(motion.frames)}", f"Frame Time: {motion.frame_time:.8f}"]
    lines += [" ".join(f"{x:.6f}" for x in row) for row in motion.frames[:, columns]]
    return "\n".join(lines) + "\n"


def write_bvh(
    path: Path | str,
    joints: np.ndarray,
    skeleton: Skeleton,
    fps: float | None = None,
    unit: str = "cm",
) -> Path:
    """Write joint positions (T, J, 3) in metres as a BVH file at `path`; the path."""
    motion = joints_to_bvh(joints, skeleton, fps, unit)
    tips = skeleton.raw_offsets * 0.1 * motion.scale  # a 10 cm End Site along the last bone
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(format_bvh(motion, tips))
    return path


_TOKEN = re.compile(r"\S+")


def read_bvh(path: Path | str, scale: float | None = None) -> BVHMotion:
    """Parse a BVH file (any channel order, any rig). `scale` is file units per metre; None
    guesses it from the rig's size: a body's bones add up to a few metres, so a total over
    30 units is read as centimetres."""
    path = Path(path)
    words = _TOKEN.findall(path.read_text())
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[tuple[str, ...]] = []
    stack: list[int] = []
    i = 0

    def fail(msg: str) -> ValueError:
        return ValueError(f"{path}: {msg}")

    if not words or words[0] != "HIERARCHY":
        raise fail("not a BVH file (no HIERARCHY)")
    i = 1
    pending: int | None = None  # the joint whose `{` comes next
    in_end = False
    while i < len(words) and words[i] != "MOTION":
        w = words[i]
        if w in ("ROOT", "JOINT"):
            names.append(words[i + 1])
            parents.append(stack[-1] if stack else -1)
            offsets.append([0.0, 0.0, 0.0])
            channels.append(())
            pending, i = len(names) - 1, i + 2
        elif w == "End":
            in_end, pending, i = True, None, i + 2
        elif w == "{":
            if pending is not None:
                stack.append(pending)
            pending, i = None, i + 1
        elif w == "}":
            if in_end:
                in_end = False
            elif stack:
                stack.pop()
            i += 1
        elif w == "OFFSET":
            values = [float(x) for x in words[i + 1 : i + 4]]
            if not in_end:
                offsets[stack[-1]] = values
            i += 4
        elif w == "CHANNELS":
            n = int(words[i + 1])
            channels[stack[-1]] = tuple(words[i + 2 : i + 2 + n])
            i += 2 + n
        else:
            raise fail(f"unexpected {w!r} in HIERARCHY")
    try:
        n_frames = int(words[words.index("Frames:", i) + 1])
        at = words.index("Time:", i)
        frame_time = float(words[at + 1])
        values = np.array(words[at + 2 :], dtype=np.float64)
    except (ValueError, IndexError) as e:
        raise fail(f"bad MOTION section ({e})") from e
    width = sum(len(c) for c in channels)
    if width == 0 or values.size != n_frames * width:
        raise fail(f"{values.size} values for {n_frames} frames of {width} channels")
    off = np.array(offsets)
    if scale is None:
        reach = np.linalg.norm(off, axis=1).sum()
        scale = 100.0 if reach > 30.0 else 1.0
    return BVHMotion(
        tuple(names),
        tuple(parents),
        off,
        tuple(channels),
        values.reshape(n_frames, width),
        frame_time,
        scale,
    )
