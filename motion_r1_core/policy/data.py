"""SFT examples (caption, chain, motion codes) from either chain source, and the chat rows of SFT.

Chain sources (`policy.cot_source`):
    engine        accepted chains of stage cot_triplets (triplets.parquet), as the paper
    ground_truth  the true sub-actions of the procedural corpus (decompositions.jsonl) in the
                  engine's step format, standing in for a strong engine: every train caption

`sft_rows` turns examples into TRL's conversational prompt/completion rows for a variant, with
the UniMo augmentation (drop the first or last motion token with p) and the length hint (the
true duration in the user turn with p), drawn afresh for each pass over the data.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from motion_r1_core.data.humanml3d import select_captions
from motion_r1_core.data.mirror import swap_sides
from motion_r1_core.policy.grammar import answer, prompt_messages

DECOMPOSITIONS = "decompositions.jsonl"


@dataclass(frozen=True)
class Example:
    """One caption of a motion with its chain and VQ codes."""

    id: str
    motion_id: str
    caption: str
    steps: tuple[str, ...]
    plan: str
    codes: tuple[int, ...]


def plan_of(actions: list[str]) -> str:
    """The one-line plan of ground-truth steps: their action names, "turn, raise arms, walk"
    (short: the steps already say the rest)."""
    return ", ".join(a.replace("_", " ") for a in actions)


def read_true_steps(path: Path) -> dict[str, list[tuple[str, str, int, int]]]:
    """{motion id: [(step text, action, start frame, end frame)]} of a decompositions.jsonl."""
    if not Path(path).is_file():
        raise FileNotFoundError(
            f"{path}: missing; policy.cot_source=ground_truth needs the true sub-actions of the "
            "procedural corpus (for other data set policy.cot_source=engine)"
        )
    out: dict[str, list[tuple[str, str, int, int]]] = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                out[str(rec["id"])] = [
                    (str(s["text"]), str(s["action"]), int(s["start_frame"]), int(s["end_frame"]))
                    for s in rec["steps"]
                ]
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
                raise ValueError(f"{path}:{n}: not a decomposition record ({e})") from e
    return out


def ground_truth_examples(
    folder: Path,
    tokens: pd.DataFrame,
    splits: list[str],
    min_frames: int,
    frames_per_token: int,
    mirror: bool,
) -> list[Example]:
    """Every caption of `splits` (as the T2M loaders keep them) with the true steps it spans.

    A timed caption keeps the steps that overlap its frames. With `mirror`, each caption also
    yields the side-swapped twin on the mirrored motion `M<id>` when that has tokens.
    """
    folder = Path(folder)
    truth = read_true_steps(folder / DECOMPOSITIONS)
    by_id = tokens.set_index("id")["tokens"]
    out: list[Example] = []
    for item in select_captions(folder, splits, min_frames):
        if item.motion_id not in truth:
            raise ValueError(f"{folder / DECOMPOSITIONS}: no record for motion {item.motion_id}")
        if item.motion_id not in by_id.index:
            raise ValueError(f"tokens.parquet: no tokens for motion {item.motion_id}")
        spanned = [
            (t, a)
            for t, a, lo, hi in truth[item.motion_id]
            if lo < item.end_frame and hi > item.start_frame
        ]
        steps = tuple(t for t, _ in spanned)
        plan = plan_of([a for _, a in spanned])
        lo, hi = item.start_frame // frames_per_token, item.end_frame // frames_per_token
        codes = tuple(int(c) for c in by_id[item.motion_id][lo:hi])
        out.append(Example(item.id, item.motion_id, item.caption, steps, plan, codes))
        twin = f"M{item.motion_id}"
        if mirror and twin in by_id.index and not item.motion_id.startswith("M"):
            swapped = tuple(swap_sides(s) for s in steps)
            out.append(
                Example(
                    f"M{item.id}",
                    twin,
                    swap_sides(item.caption),
                    swapped,
                    plan,
                    tuple(int(c) for c in by_id[twin][lo:hi]),
                )
            )
    return out


def engine_examples(triplets: pd.DataFrame, splits: list[str], mirror: bool) -> list[Example]:
    """The accepted chains of `splits` in a cot_triplets table (mirrored twins with `mirror`)."""
    rows = triplets[triplets["split"].isin(splits)]
    if not mirror:
        rows = rows[~rows["mirrored"]]
    return [
        Example(
            str(r.id),
            str(r.motion_id),
            str(r.caption),
            tuple(str(s) for s in r.steps),
            str(r.plan),
            tuple(int(c) for c in r.tokens),
        )
        for r in rows.itertuples()
    ]


def augment(
    codes: tuple[int, ...],
    p: float,
    rng: np.random.Generator,
    cap: int | None = None,
    spread: int = 0,
) -> list[int]:
    """With probability p drop the first or the last code (equally likely); never below one.

    A motion of `cap` codes or more (cut at the longest motion, so its end is no real end)
    first keeps its first L codes, L uniform in [cap - spread, cap]."""
    out = list(codes)
    if cap is not None and spread > 0 and len(out) >= cap:
        out = out[: int(rng.integers(max(1, cap - spread), cap + 1))]
    if len(out) > 1 and rng.random() < p:
        out = out[1:] if rng.random() < 0.5 else out[:-1]
    return out


def sft_rows(
    examples: list[Example],
    cot: bool,
    system: str,
    seconds_per_code: float,
    passes: int,
    drop_p: float,
    hint_p: float,
    seed: int,
    cap: int | None = None,
    cap_spread: int = 0,
) -> list[dict]:
    """TRL conversational prompt/completion rows: `passes` shuffled passes over `examples`, each
    drawing the augmentation (`augment`, with the cap and its spread) and the length hint
    afresh (seeded). `cot` picks the variant's target; the duration stated is that of the
    (augmented) target."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(passes):
        for i in rng.permutation(len(examples)):
            ex = examples[i]
            codes = augment(ex.codes, drop_p, rng, cap, cap_spread)
            seconds = len(codes) * seconds_per_code if rng.random() < hint_p else None
            target = answer(codes, list(ex.steps), ex.plan) if cot else answer(codes)
            rows.append(
                {
                    "prompt": prompt_messages(system, ex.caption, seconds),
                    "completion": [{"role": "assistant", "content": target}],
                }
            )
    return rows


def passes_needed(n_examples: int, steps: int, batch: int) -> int:
    """Passes over n examples that `steps` optimiser steps of `batch` sequences consume."""
    if n_examples == 0:
        raise ValueError("no SFT examples: the chain source produced none")
    return max(1, math.ceil(steps * batch / n_examples))
