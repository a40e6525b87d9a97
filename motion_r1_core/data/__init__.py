"""Motion data: HumanML3D-layout readers, torch datasets, the procedural corpus, validation."""

from motion_r1_core.data.datasets import (
    MotionWindowDataset,
    TextMotionDataset,
    collate_pairs,
    denormalise,
    normalise,
)
from motion_r1_core.data.humanml3d import (
    Caption,
    LayoutError,
    MotionRecord,
    check_layout,
    load_features,
    load_mean_std,
    load_split,
    read_captions,
    read_split,
)

__all__ = [
    "Caption",
    "LayoutError",
    "MotionRecord",
    "MotionWindowDataset",
    "TextMotionDataset",
    "check_layout",
    "collate_pairs",
    "denormalise",
    "load_features",
    "load_mean_std",
    "load_split",
    "normalise",
    "read_captions",
    "read_split",
]
