"""The procedural motion corpus: chained action primitives with captions, in the HumanML3D layout.

Each motion chains 1..max_primitives primitives (`primitives/`: walk, run, turn, sidestep,
jump, squat, kick, wave, raise arms, clap, bow, sit down / stand up, stand still, spin) and gets
three captions (`captions.py`): a literal one listing the steps in order, a paraphrase, and (for
several steps) a high-level description that names no step, POS-tagged by `tagger.py`. The
ground-truth ordered sub-actions go to `decompositions.jsonl`, to score a model's
chain-of-thought decomposition later. This module draws the motions and writes the corpus.

Written under `out/`, exactly as HumanML3D (REFERENCE.md section 4):

    new_joint_vecs/ID.npy  (T-1, 263) float32 = extract_features(joints)
    new_joints/ID.npy      (T-1, 22, 3) float32 = recover_from_ric(features)
    texts/ID.txt           caption#word/POS ...#0.0#0.0, one line per caption
    train.txt val.txt test.txt train_val.txt all.txt   IDs, one per line
    Mean.npy Std.npy       (263,) over the train split, group-averaged Std
    decompositions.jsonl   {"id", "steps": [{"action", "text", "params", "start_frame",
                           "end_frame"}]}; frames index rows of new_joint_vecs, end exclusive

The corpus is a pure function of (motions, seed, max_primitives, split): motion i is drawn from
the i-th child of `np.random.SeedSequence(seed)`, so it does not depend on the worker count, and
all arithmetic runs single-threaded, so files are byte-identical between runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch

from motion_r1_core.data.body import FPS, MAX_FRAMES, MIN_FRAMES
from motion_r1_core.data.captions import make_captions, phrases
from motion_r1_core.data.primitives import PRIMITIVES, build_motion
from motion_r1_core.data.tagger import pos_tags
from motion_r1_core.runtime import progress_bar
from motion_r1_core.skeleton import HUMANML3D, Skeleton

# ----------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Step:
    """One primitive of a motion: action name, imperative text, parameters, joint frames [a, b)."""

    action: str
    text: str
    params: dict
    start_frame: int
    end_frame: int


@dataclass(frozen=True)
class ProceduralMotion:
    """A generated motion: joints (T, 22, 3) float32 metres at 20 fps (41 <= T <= 197, y up, on
    the floor), its ordered steps and exactly three captions (literal, paraphrase, high-level or
    second paraphrase)."""

    joints: np.ndarray
    steps: tuple[Step, ...]
    captions: tuple[str, str, str]


@dataclass(frozen=True)
class CorpusSummary:
    """What `synthesize_corpus` wrote: folder, motion and caption counts, split sizes, seconds."""

    path: Path
    n_motions: int
    n_captions: int
    split_sizes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


# ---------------------------------------------------------------------------------- sequence
def _sample_names(rng: np.random.Generator, k: int) -> list[str]:
    names: list[str] = []
    for i in range(k):
        if names and names[-1] == "sit_down":  # a seated body can only get up
            names.append("stand_up")
            continue
        # standing up needs a seated start: only as the first step (or after sitting down)
        pool = [
            n
            for n in PRIMITIVES
            if n != (names[-1] if names else None) and (n != "stand_up" or i == 0)
        ]
        w = np.array([PRIMITIVES[n].weight for n in pool])
        names.append(str(rng.choice(pool, p=w / w.sum())))
    return names


def fit_frames(
    ranges: list[tuple[int, int, int]], lo: int = MIN_FRAMES, hi: int = MAX_FRAMES
) -> list[int]:
    """Frames per step from (min, nominal, max) ranges so that the total is in [lo, hi]: the
    nominal lengths, shrunk towards the minima or stretched towards the maxima if needed."""
    mins, noms, maxs = (np.array(c, dtype=float) for c in zip(*ranges, strict=True))
    total = noms.sum()
    target = int(np.clip(total, lo, hi))
    if total > hi:
        x = mins + (noms - mins) * (hi - mins.sum()) / max(total - mins.sum(), 1e-9)
    elif total < lo:
        x = noms + (maxs - noms) * (lo - total) / max(maxs.sum() - total, 1e-9)
    else:
        x = noms
    frames = np.clip(np.floor(x), mins, maxs).astype(int)
    i = 0
    while frames.sum() < target and i < 10 * len(frames):  # hand out the rounding remainder
        j = i % len(frames)
        if frames[j] < maxs[j]:
            frames[j] += 1
        i += 1
    return [int(f) for f in frames]


# -------------------------------------------------------------------------------- generation
def generate_motion(rng: np.random.Generator, max_primitives: int = 4) -> ProceduralMotion:
    """Draw one motion: 1..max_primitives chained primitives, joints (T, 22, 3) float32 metres
    at 20 fps with 41 <= T <= 197 (40..196 feature rows), its steps and three captions."""
    if not 1 <= max_primitives <= 8:
        raise ValueError(f"max_primitives must be in 1..8, got {max_primitives}")
    names = _sample_names(rng, int(rng.integers(1, max_primitives + 1)))
    params = [PRIMITIVES[n].sample(rng) for n in names]
    # drop trailing steps whose shortest versions cannot fit the length limit
    while len(names) > 1 and sum(p["_frames"][0] for p in params) > MAX_FRAMES:
        names, params = names[:-1], params[:-1]
    frames = fit_frames([p["_frames"] for p in params])
    # A random start heading: the features align frame 0 to +z anyway, and the raw joints
    # should not all share one heading.
    yaw = float(rng.uniform(-np.pi, np.pi))
    joints, derived = build_motion(list(zip(names, params, frames, strict=True)), yaw)
    captions = make_captions(names, params, rng)
    steps, start = [], 0
    for name, p, n, extra in zip(names, params, frames, derived, strict=True):
        public = {k: v for k, v in p.items() if not k.startswith("_")}
        public.update(extra, duration_s=round(n / FPS, 2))
        steps.append(Step(name, phrases(name, p, "the")[2], _jsonable(public), start, start + n))
        start += n
    return ProceduralMotion(joints, tuple(steps), captions)


def _jsonable(d: dict) -> dict:
    """`d` with numpy scalars as plain numbers (floats rounded to 4 decimals), for JSON."""

    def plain(v: object) -> object:
        if isinstance(v, float | np.floating):
            return round(float(v), 4)
        return int(v) if isinstance(v, np.integer) else v

    return {k: plain(v) for k, v in d.items()}


# ------------------------------------------------------------------------------------ corpus
@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Single-threaded torch: reductions then sum in one fixed order (byte-identical files)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def caption_line(caption: str) -> str:
    """One line of texts/ID.txt: `caption#word/POS ...#0.0#0.0` (the whole motion)."""
    return f"{caption}#{' '.join(pos_tags(caption))}#0.0#0.0"


def _write_motion(job: tuple[int, np.random.SeedSequence, int, str]) -> dict:
    """Generate, featurise and write motion `index`; returns its decomposition record."""
    from motion_r1_core.features import extract_features, recover_from_ric

    index, seed_seq, max_primitives, out = job
    motion = generate_motion(np.random.default_rng(seed_seq), max_primitives)
    features = extract_features(torch.from_numpy(motion.joints))
    mid, root = f"{index:06d}", Path(out)
    if not torch.isfinite(features).all():
        raise FloatingPointError(f"motion {mid} (seed child {index}): non-finite features")
    joints = recover_from_ric(features)
    np.save(root / "new_joint_vecs" / f"{mid}.npy", features.numpy().astype(np.float32))
    np.save(root / "new_joints" / f"{mid}.npy", joints.numpy().astype(np.float32))
    (root / "texts" / f"{mid}.txt").write_text(
        "".join(caption_line(c) + "\n" for c in motion.captions), encoding="utf-8"
    )
    rows = int(features.shape[0])  # T-1: the last joint frame has no feature row
    steps = [
        {
            "action": s.action,
            "text": s.text,
            "params": s.params,
            "start_frame": s.start_frame,
            "end_frame": min(s.end_frame, rows),
        }
        for s in motion.steps
    ]
    return {"id": mid, "steps": steps}


def _worker_init() -> None:
    torch.set_num_threads(1)


def _prepare(out: Path) -> None:
    """Create the folders; a previous procedural corpus there is replaced, anything else kept
    out of harm's way by refusing."""
    if out.exists() and any(out.iterdir()):
        if not (out / "decompositions.jsonl").exists():
            raise FileExistsError(
                f"{out} exists and is not a procedural corpus; choose an empty or new folder"
            )
        for sub in ("new_joint_vecs", "new_joints", "texts"):
            shutil.rmtree(out / sub, ignore_errors=True)
    for sub in ("new_joint_vecs", "new_joints", "texts"):
        (out / sub).mkdir(parents=True, exist_ok=True)


def split_ids(ids: list[str], split: tuple[float, float, float], seed: int) -> dict[str, list]:
    """Train / val / test ids drawn by `seed` with the `split` shares (each non-empty where
    its share is, from 3 ids on)."""
    if len(split) != 3 or min(split) < 0 or abs(sum(split) - 1) > 1e-6:
        raise ValueError(f"split must be 3 non-negative shares summing to 1, got {split}")
    n = len(ids)
    n_val, n_test = round(split[1] * n), round(split[2] * n)
    if n >= 3:  # every split non-empty where its share is, so loaders never see an empty file
        n_val, n_test = max(n_val, int(split[1] > 0)), max(n_test, int(split[2] > 0))
    perm = np.random.default_rng([seed, 7]).permutation(n)
    test = sorted(ids[i] for i in perm[:n_test])
    val = sorted(ids[i] for i in perm[n_test : n_test + n_val])
    train = sorted(ids[i] for i in perm[n_test + n_val :])
    return {"train": train, "val": val, "test": test}


def write_splits_and_stats(
    out: Path,
    ids: list[str],
    split: tuple[float, float, float],
    seed: int,
    skeleton: Skeleton = HUMANML3D,
) -> dict[str, list]:
    """Write the split files (train, val, test, train_val, all) of `ids` drawn by `seed`, and
    Mean.npy / Std.npy of the train split's features (all motions if it is empty) under
    `out`, a folder in the HumanML3D layout; the splits."""
    from motion_r1_core.features import feature_mean_std

    splits = split_ids(ids, split, seed)
    for name, part in {
        **splits,
        "train_val": sorted(splits["train"] + splits["val"]),
        "all": ids,
    }.items():
        (out / f"{name}.txt").write_text("".join(f"{i}\n" for i in part))
    train = [np.load(out / "new_joint_vecs" / f"{i}.npy") for i in splits["train"] or ids]
    mean, std = feature_mean_std(train, skeleton)
    np.save(out / "Mean.npy", mean)
    np.save(out / "Std.npy", std)
    return splits


def synthesize_corpus(
    out: Path,
    motions: int,
    seed: int,
    max_primitives: int = 4,
    split: tuple[float, float, float] = (0.8, 0.05, 0.15),
    progress: bool = True,
    workers: int | None = None,
) -> CorpusSummary:
    """Write a procedural corpus of `motions` motions in the HumanML3D layout under `out`.

    Deterministic by (motions, seed, max_primitives, split). `workers` processes generate and
    featurise motions (default: the CPU count for 300+ motions, else 1); the result does not
    depend on it. Returns counts, split sizes and the seconds taken.
    """
    t_start = time.perf_counter()
    if motions < 1:
        raise ValueError(f"motions must be >= 1, got {motions}")
    out = Path(out)
    _prepare(out)
    children = np.random.SeedSequence(seed).spawn(motions)
    jobs = [(i, children[i], max_primitives, str(out)) for i in range(motions)]
    if workers is None:
        workers = min(os.cpu_count() or 1, 8) if motions >= 300 else 1
    records: list[dict] = []
    with progress_bar("synthesising motions", motions, enabled=progress) as bar:
        if workers <= 1:
            with _one_thread():
                for job in jobs:
                    records.append(_write_motion(job))
                    bar.advance()
        else:  # spawned workers: no torch thread pool state is inherited through fork
            with ProcessPoolExecutor(
                workers, mp_context=get_context("spawn"), initializer=_worker_init
            ) as pool:
                for rec in pool.map(_write_motion, jobs, chunksize=8):
                    records.append(rec)
                    bar.advance()

    ids = [r["id"] for r in records]
    with _one_thread():
        splits = write_splits_and_stats(out, ids, split, seed)
    with open(out / "decompositions.jsonl", "w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec) + "\n")
    n_captions = sum(len((out / "texts" / f"{i}.txt").read_text().splitlines()) for i in ids)
    return CorpusSummary(
        out,
        motions,
        n_captions,
        {k: len(v) for k, v in splits.items()},
        round(time.perf_counter() - t_start, 2),
    )
