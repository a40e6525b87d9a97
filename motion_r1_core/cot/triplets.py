"""SFT triplets: which captions a CoT run decomposes, and how an accepted chain joins its tokens.

`select_captions` keeps the captions the T2M loaders keep (a timed caption is a sub-clip);
`triplet_table` joins each accepted chain with its slice of the motion's tokens, and with
`cot.mirror` adds the side-swapped twin of the mirrored motion `M<id>` for no request.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from motion_r1_core.cot.engine import CaptionResult
from motion_r1_core.cot.prompts import Chain
from motion_r1_core.cot.triplet_checks import COLUMNS
from motion_r1_core.data.humanml3d import (
    MAX_LEN_EXCLUSIVE,
    check_layout,
    load_mean_std,
    read_captions,
    read_split,
)
from motion_r1_core.data.mirror import swap_sides
from motion_r1_core.features import seconds_to_frames
from motion_r1_core.skeleton import skeleton_for_dim

SCORES = ("relevance", "logic", "conciseness")  # the judge's scores of the accepted attempt


@dataclass(frozen=True)
class CaptionItem:
    """One caption to decompose and the frames of its motion it describes."""

    id: str
    motion_id: str
    split: str
    line: int
    caption: str
    start_frame: int  # rows of new_joint_vecs, end exclusive; whole clip: 0 .. n_frames
    end_frame: int


def select_captions(
    folder: Path,
    splits: list[str],
    min_frames: int,
    max_captions: int | None = None,
    seed: int = 0,
    skip_mirrors: bool = False,
) -> list[CaptionItem]:
    """The captions of `splits` in a HumanML3D-layout folder, as the T2M loaders keep them.

    A motion outside min_frames <= T < 200 is skipped with its sub-clips; a timed caption
    becomes the frames [start, end) (`seconds_to_frames`) if that crop is in range too.
    `skip_mirrors` leaves out the mirrored copies a folder ships (HumanML3D's `M<id>`, whose
    captions are the original's with sides swapped) when the original is selected too: their
    chains are the original's, side-swapped, for no request. With `max_captions`, a seeded
    sample of that many, in the folder's order.
    """
    folder = Path(folder)
    check_layout(folder)
    fps = skeleton_for_dim(load_mean_std(folder)[0].shape[0]).fps
    items: list[CaptionItem] = []
    chosen = {i for split in splits for i in read_split(folder, split)}
    for split in splits:
        for motion_id in read_split(folder, split):
            if skip_mirrors and motion_id.startswith("M") and motion_id[1:] in chosen:
                continue
            path = folder / "new_joint_vecs" / f"{motion_id}.npy"
            try:
                n = int(np.load(path, mmap_mode="r").shape[0])
            except (OSError, ValueError) as e:
                raise ValueError(f"{path}: unreadable motion ({e})") from e
            if not min_frames <= n < MAX_LEN_EXCLUSIVE:
                continue
            for line, cap in enumerate(read_captions(folder / "texts" / f"{motion_id}.txt")):
                lo, hi = (0, n)
                if not cap.whole:
                    lo, hi = seconds_to_frames(cap.start, fps), seconds_to_frames(cap.end, fps)
                hi = min(hi, n)
                if not cap.whole and not min_frames <= hi - lo < MAX_LEN_EXCLUSIVE:
                    continue
                items.append(
                    CaptionItem(f"{motion_id}:{line}", motion_id, split, line, cap.text, lo, hi)
                )
    if max_captions is not None and max_captions < len(items):
        keep = np.random.default_rng(seed).choice(len(items), max_captions, replace=False)
        items = [items[i] for i in sorted(keep)]
    return items


def triplet_table(
    items: list[CaptionItem],
    results: list[CaptionResult],
    tokens: pd.DataFrame,
    frames_per_token: int,
    mirror: bool,
) -> pd.DataFrame:
    """One row per accepted caption, joined with its slice of the motion's tokens, plus the
    side-swapped twin of the mirrored motion `M<id>` (with `mirror`, where it has tokens)."""
    by_id = tokens.set_index("id")
    rows = []
    for item, res in zip(items, results, strict=True):
        if (chain := res.chain) is None:
            continue
        verdict = res.attempts[-1].verdict
        scores = {k: getattr(verdict, k) if verdict else 0 for k in SCORES}
        twins = [(item.id, item.motion_id, False, item.caption, chain)]
        mid = f"M{item.motion_id}"
        if mirror and mid in by_id.index:  # encoded by motion_tokens, or shipped with the data
            twin = Chain(tuple(swap_sides(s) for s in chain.steps), swap_sides(chain.plan))
            twins.append((f"M{item.id}", mid, True, swap_sides(item.caption), twin))
        lo, hi = item.start_frame // frames_per_token, item.end_frame // frames_per_token
        for id_, motion_id, mirrored, caption, c in twins:
            toks = [int(t) for t in by_id.at[motion_id, "tokens"]][lo:hi]
            rows.append(
                {
                    "id": id_,
                    "motion_id": motion_id,
                    "split": item.split,
                    "mirrored": mirrored,
                    "caption": caption,
                    "cot": c.as_text(),
                    "steps": list(c.steps),
                    "plan": c.plan,
                    "tokens": toks,
                    "n_tokens": len(toks),
                    "attempts": len(res.attempts),
                    **scores,
                }
            )
    return pd.DataFrame(rows, columns=[*COLUMNS, "attempts", *SCORES])
