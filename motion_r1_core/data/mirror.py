"""Left/right mirroring of a motion and of its text, the augmentation HumanML3D ships as `M<id>`.

    feats = mirrored_features(folder, "000123", skeleton)   # (T-1, D) from new_joints, mirrored
    swap_sides("kicks with the left leg, turns clockwise")    # "... right leg, ... counterclockwise"
    train += mirrored_records(folder, train, skeleton)        # M<name> twins for training

The joints are mirrored across the body's sagittal plane (left and right chains exchanged) and
re-processed into features; re-processing costs the last frame (features of frame t come from
joints t and t + 1). The text keeps its case; words are matched whole ("bright" stays).
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from motion_r1_core.data.humanml3d import Caption, MotionRecord
from motion_r1_core.features import mirror_joints, process_joints, seconds_to_frames
from motion_r1_core.skeleton import Skeleton

# The side words, defined once for the whole project (mirroring, caption tagging, CoT checks):
# the subject's sides and the turning senses, each pair a word and its mirror image.
LEFT_RIGHT = ("left", "right")
TURNING = ("clockwise", "counterclockwise")
SIDE_PAIRS = (LEFT_RIGHT, TURNING)
# word -> its mirror image; "anticlockwise" is only read, a mirror writes "clockwise"
SIDES = {w: o for a, b in SIDE_PAIRS for w, o in ((a, b), (b, a))} | {"anticlockwise": "clockwise"}
_SIDE_RE = re.compile(r"\b(" + "|".join(sorted(SIDES, key=len, reverse=True)) + r")\b", re.I)


def swap_sides(text: str) -> str:
    """`text` with left/right and clockwise/counterclockwise exchanged (case kept)."""

    def one(m: re.Match[str]) -> str:
        word = m.group(0)
        new = SIDES[word.lower()]
        if word.isupper():
            return new.upper()
        return new.capitalize() if word[0].isupper() else new

    return _SIDE_RE.sub(one, text)


def has_side(text: str) -> bool:
    """True if `text` names a side or a turning sense that `swap_sides` would change."""
    return _SIDE_RE.search(text) is not None


def mirrored_features(folder: Path, motion_id: str, skeleton: Skeleton) -> np.ndarray:
    """Features (T-1, D) of the left/right mirror of motion `motion_id` (from new_joints)."""
    path = Path(folder) / "new_joints" / f"{motion_id}.npy"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: joints missing, needed for the mirrored copy")
    joints = torch.from_numpy(np.load(path, allow_pickle=False).astype(np.float32))
    feats, _ = process_joints(mirror_joints(joints, skeleton), skeleton, retarget_skeleton=False)
    return feats.numpy()


def mirror_caption(caption: Caption) -> Caption:
    """The caption of the mirrored motion: sides swapped in the text and its word/POS tokens."""
    return replace(
        caption, text=swap_sides(caption.text), tokens=tuple(swap_sides(t) for t in caption.tokens)
    )


def mirrored_records(
    folder: Path, records: list[MotionRecord], skeleton: Skeleton, shipped: set[str] | None = None
) -> list[MotionRecord]:
    """Mirrored twins `M<name>` of `records` (sub-clips sliced from the mirrored motion), with
    side-swapped captions; records whose `M<id>` the folder already ships (`shipped`) or that
    are mirrors themselves are skipped. Each motion's joints are mirrored once."""
    shipped = shipped or set()
    whole: dict[str, np.ndarray] = {}
    out = []
    for r in records:
        if r.motion_id.startswith("M") or f"M{r.motion_id}" in shipped:
            continue
        if r.motion_id not in whole:
            whole[r.motion_id] = mirrored_features(folder, r.motion_id, skeleton)
        feats = whole[r.motion_id]
        cap = r.captions[0]
        if r.name != r.motion_id:  # a sub-clip: the same frames of the mirrored motion
            fps = skeleton.fps
            feats = feats[seconds_to_frames(cap.start, fps) : seconds_to_frames(cap.end, fps)]
        else:
            feats = feats[: r.n_frames]
        caps = tuple(mirror_caption(c) for c in r.captions)
        out.append(MotionRecord(f"M{r.name}", f"M{r.motion_id}", feats, caps))
    return out
