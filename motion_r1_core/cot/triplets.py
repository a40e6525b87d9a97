"""SFT triplets: how an accepted chain joins its slice of the motion tokens.

The captions a CoT run decomposes are those the T2M loaders keep (`select_captions` of
data/humanml3d.py, re-exported here); `triplet_table` joins each accepted chain with its slice
of the motion's tokens, and with `cot.mirror` adds the side-swapped twin of the mirrored motion
`M<id>` for no request.
"""

from __future__ import annotations

import pandas as pd

from motion_r1_core.cot.engine import CaptionResult
from motion_r1_core.cot.prompts import Chain
from motion_r1_core.cot.triplet_checks import COLUMNS
from motion_r1_core.data.humanml3d import CaptionItem, select_captions
from motion_r1_core.data.mirror import swap_sides

__all__ = ["SCORES", "CaptionItem", "select_captions", "triplet_table"]

SCORES = ("relevance", "logic", "conciseness")  # the judge's scores of the accepted attempt


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
