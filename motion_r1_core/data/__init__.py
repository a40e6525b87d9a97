"""Motion data: HumanML3D-layout readers, the procedural corpus, mirroring, validation."""

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
    "check_layout",
    "load_features",
    "load_mean_std",
    "load_split",
    "read_captions",
    "read_split",
]
