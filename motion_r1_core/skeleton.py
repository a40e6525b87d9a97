"""Kinematic chains of the HumanML3D (22-joint SMPL) and KIT-ML (21-joint) skeletons.

The rest-pose bone directions (`raw_offsets`) are unit axes per joint, bone from the parent; the
6D rotation features of HumanML3D are relative to exactly these, so they must not change. Bone
lengths of the target subjects (HumanML3D 000021) put procedural motions in the same space as the
real data. Facts and indices: REFERENCE.md section 4.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass(frozen=True)
class Skeleton:
    """A kinematic tree with its rest-pose directions and the joints the feature code needs.

    Attributes:
        name: short name (`humanml3d`, `kit`).
        joint_names: one name per joint, index = joint id.
        chains: kinematic chains, each starting at a joint already placed (root first).
        raw_offsets: (J, 3) unit rest-pose direction of the bone from each joint's parent.
        face_joints: (r_hip, l_hip, r_shoulder, l_shoulder) as the reference indexes them; the
            initial alignment uses (j[0] - j[1]) + (j[2] - j[3]).
        feet_left / feet_right: (ankle, toe) joints for the contact labels, left first in features.
        leg_joints: the two bones whose lengths define the retargeting scale (knee->ankle, ankle).
        contact_threshold: squared per-frame displacement (m^2) under which a foot is in contact.
        fps: frames per second of the processed data.
        bone_lengths: (J,) bone length to the parent in metres of the target subject (0 for root),
            or None where the target skeleton is not known.
    """

    name: str
    joint_names: tuple[str, ...]
    chains: tuple[tuple[int, ...], ...]
    raw_offsets: np.ndarray
    face_joints: tuple[int, int, int, int]
    feet_left: tuple[int, int]
    feet_right: tuple[int, int]
    leg_joints: tuple[int, int]
    contact_threshold: float
    fps: float
    bone_lengths: np.ndarray | None = None
    parents: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        parents = [-1] * self.n_joints
        for chain in self.chains:
            for parent, child in itertools.pairwise(chain):
                parents[child] = parent
        if any(p < 0 for p in parents[1:]):
            raise ValueError(f"skeleton {self.name}: a joint has no parent in the chains")
        object.__setattr__(self, "parents", tuple(parents))

    @property
    def n_joints(self) -> int:
        """Number of joints J."""
        return len(self.joint_names)

    @property
    def feature_dim(self) -> int:
        """Width of the feature vector: 4 + 3(J-1) + 6(J-1) + 3J + 4 (263 for 22 joints)."""
        j = self.n_joints
        return 4 + 3 * (j - 1) + 6 * (j - 1) + 3 * j + 4

    @property
    def ric_slice(self) -> slice:
        """Feature columns of the root-relative joint positions (the 'velocity' loss slice)."""
        return slice(4, 4 + 3 * (self.n_joints - 1))

    def offsets(self, bone_lengths: np.ndarray | torch.Tensor | None = None) -> torch.Tensor:
        """Rest-pose offset of each joint from its parent, (J, 3) float32 metres.

        Uses the target subject's bone lengths unless `bone_lengths` (J,) is given.
        """
        lengths = self.bone_lengths if bone_lengths is None else bone_lengths
        if lengths is None:
            raise ValueError(f"skeleton {self.name} has no target bone lengths; pass bone_lengths")
        lengths = torch.as_tensor(np.asarray(lengths), dtype=torch.float32)
        return torch.as_tensor(self.raw_offsets, dtype=torch.float32) * lengths[:, None]

    def joint(self, name: str) -> int:
        """Index of the joint called `name` (e.g. `neck`); a clear error for an unknown name."""
        try:
            return self.joint_names.index(name)
        except ValueError:
            raise KeyError(f"skeleton {self.name} has no joint {name!r}") from None

    def bone_lengths_of(self, joints: torch.Tensor) -> torch.Tensor:
        """Bone lengths (..., J) of joint positions (..., J, 3); root gets 0."""
        parents = torch.tensor([0, *self.parents[1:]])
        return (joints - joints[..., parents, :]).norm(dim=-1)

    def mirror_indices(self) -> list[int]:
        """Joint permutation that swaps left and right (for mirrored augmentation)."""
        names = list(self.joint_names)
        out = []
        for n in names:
            if n.startswith("left_"):
                out.append(names.index("right_" + n[5:]))
            elif n.startswith("right_"):
                out.append(names.index("left_" + n[6:]))
            else:
                out.append(names.index(n))
        return out


_X, _Y, _Z = (1, 0, 0), (0, 1, 0), (0, 0, 1)
_NX, _NY = (-1, 0, 0), (0, -1, 0)

HUMANML3D = Skeleton(
    name="humanml3d",
    joint_names=(
        "pelvis",
        "left_hip",
        "right_hip",
        "spine1",
        "left_knee",
        "right_knee",
        "spine2",
        "left_ankle",
        "right_ankle",
        "spine3",
        "left_foot",
        "right_foot",
        "neck",
        "left_collar",
        "right_collar",
        "head",
        "left_shoulder",
        "right_shoulder",
        "left_elbow",
        "right_elbow",
        "left_wrist",
        "right_wrist",
    ),
    chains=(
        (0, 2, 5, 8, 11),
        (0, 1, 4, 7, 10),
        (0, 3, 6, 9, 12, 15),
        (9, 14, 17, 19, 21),
        (9, 13, 16, 18, 20),
    ),
    raw_offsets=np.array(
        [
            (0, 0, 0),
            _X,
            _NX,
            _Y,
            _NY,
            _NY,
            _Y,
            _NY,
            _NY,
            _Y,
            _Z,
            _Z,
            _Y,
            _X,
            _NX,
            _Z,
            _NY,
            _NY,
            _NY,
            _NY,
            _NY,
            _NY,
        ],
        dtype=np.float32,
    ),
    face_joints=(2, 1, 17, 16),
    feet_left=(7, 10),
    feet_right=(8, 11),
    leg_joints=(5, 8),
    contact_threshold=0.002,
    fps=20.0,
    # Subject 000021 of HumanML3D, bone to the parent in metres: REFERENCE.md gives them to 4
    # digits; these 7-digit values are measured on published motion 012314 (on that skeleton,
    # constant to 2e-7 over its frames), which the 4-digit ones would miss by ~1e-4 in features.
    bone_lengths=np.array(
        [
            0.0,
            0.103074,
            0.1098834,
            0.1315682,
            0.3936232,
            0.3901882,
            0.1431902,
            0.432433,
            0.4256434,
            0.0573647,
            0.1433818,
            0.1494191,
            0.21936,
            0.1374868,
            0.1433828,
            0.1030392,
            0.131614,
            0.1229844,
            0.2568399,
            0.2630919,
            0.2660118,
            0.2698763,
        ],
        dtype=np.float32,
    ),
)

KIT = Skeleton(
    name="kit",
    joint_names=(
        # In the KIT frame +x is the subject's right (face joints: r_hip 11, l_hip 16).
        "root",
        "torso",
        "chest",
        "neck",
        "head",
        "right_shoulder",
        "right_elbow",
        "right_wrist",
        "left_shoulder",
        "left_elbow",
        "left_wrist",
        "right_hip",
        "right_knee",
        "right_ankle",
        "right_heel",
        "right_toe",
        "left_hip",
        "left_knee",
        "left_ankle",
        "left_heel",
        "left_toe",
    ),
    chains=(
        (0, 11, 12, 13, 14, 15),
        (0, 16, 17, 18, 19, 20),
        (0, 1, 2, 3, 4),
        (3, 5, 6, 7),
        (3, 8, 9, 10),
    ),
    raw_offsets=np.array(
        [
            (0, 0, 0),
            _Y,
            _Y,
            _Y,
            _Y,
            _X,
            _NY,
            _NY,
            _NX,
            _NY,
            _NY,
            _X,
            _NY,
            _NY,
            _Z,
            _Z,
            _NX,
            _NY,
            _NY,
            _Z,
            _Z,
        ],
        dtype=np.float32,
    ),
    face_joints=(11, 16, 5, 8),
    feet_left=(19, 20),
    feet_right=(14, 15),
    leg_joints=(17, 18),
    contact_threshold=0.05,
    fps=12.5,
)

SKELETONS: dict[str, Skeleton] = {"humanml3d": HUMANML3D, "kit": KIT}


def skeleton_for_dim(dim: int) -> Skeleton:
    """The skeleton whose features have width `dim` (263 -> HumanML3D, 251 -> KIT-ML)."""
    for sk in SKELETONS.values():
        if sk.feature_dim == dim:
            return sk
    raise ValueError(f"feature width {dim} is neither 263 (HumanML3D) nor 251 (KIT-ML)")


def skeleton_for_joints(n_joints: int) -> Skeleton:
    """The skeleton with `n_joints` joints (22 -> HumanML3D, 21 -> KIT-ML)."""
    for sk in SKELETONS.values():
        if sk.n_joints == n_joints:
            return sk
    raise ValueError(f"{n_joints} joints is neither 22 (HumanML3D) nor 21 (KIT-ML)")
