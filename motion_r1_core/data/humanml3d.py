"""Readers for a folder in the HumanML3D layout (HumanML3D, KIT-ML, or the procedural corpus).

    DIR/new_joint_vecs/ID.npy   (T, D) float32 features (D = 263 HumanML3D, 251 KIT-ML)
    DIR/new_joints/ID.npy       (T, J, 3) float32 joints (optional for training)
    DIR/texts/ID.txt            one caption per line: caption#word/POS ...#start_s#end_s
    DIR/{train,val,test}.txt    IDs, one per line
    DIR/Mean.npy, DIR/Std.npy   (D,) normalisation statistics

The sample list follows the T2M loaders (REFERENCE.md section 4): motions with
min_frames <= T < 200 are kept; a caption with start/end != 0 becomes its own sample, the frames
[int(start * fps) : int(end * fps)] of its motion, kept if that crop is in range too. Sub-clip
samples are named `ID#start#end` (deterministic, where the reference draws random prefixes).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motion_r1_core.features import seconds_to_frames
from motion_r1_core.skeleton import skeleton_for_dim

SPLITS = ("train", "val", "test")
MAX_LEN_EXCLUSIVE = 200  # the reference drops motions of 200 frames or more


class LayoutError(FileNotFoundError):
    """A folder is not in the HumanML3D layout; the message names the missing part."""


@dataclass(frozen=True)
class Caption:
    """One line of a texts/ID.txt file.

    Attributes:
        text: the caption.
        tokens: `word/POS` tokens (spaCy-style, as the published evaluator expects).
        start, end: seconds; both 0.0 means the whole motion.
    """

    text: str
    tokens: tuple[str, ...]
    start: float = 0.0
    end: float = 0.0

    @property
    def whole(self) -> bool:
        """True if the caption describes the whole motion."""
        return self.start == 0.0 and self.end == 0.0


@dataclass(frozen=True)
class MotionRecord:
    """A sample: raw (un-normalised) features and the captions that describe exactly them.

    Attributes:
        name: sample name (`ID`, or `ID#start#end` for a sub-clip).
        motion_id: the file ID the features come from.
        features: (T, D) float32.
        captions: the captions of this sample (at least one).
    """

    name: str
    motion_id: str
    features: np.ndarray
    captions: tuple[Caption, ...]

    @property
    def n_frames(self) -> int:
        """Number of feature rows T."""
        return int(self.features.shape[0])


def missing_layout_parts(folder: Path, need_joints: bool = True) -> list[str]:
    """The parts of the HumanML3D layout missing under `folder` ("texts/", "test.txt", ...)."""
    folder = Path(folder)
    dirs = ["new_joint_vecs", *(["new_joints"] if need_joints else []), "texts"]
    files = [*(f"{s}.txt" for s in SPLITS), "Mean.npy", "Std.npy"]
    return [f"{d}/" for d in dirs if not (folder / d).is_dir()] + [
        f for f in files if not (folder / f).is_file()
    ]


def check_layout(folder: Path, need_joints: bool = False) -> None:
    """Raise LayoutError naming every missing part of the HumanML3D layout under `folder`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise LayoutError(f"{folder}: not a folder")
    if missing := missing_layout_parts(folder, need_joints):
        raise LayoutError(f"{folder} is not in the HumanML3D layout: missing {', '.join(missing)}")


def read_ids(path: Path) -> list[str]:
    """IDs listed one per line in a split file (blank lines ignored)."""
    path = Path(path)
    if not path.is_file():
        raise LayoutError(f"{path}: split file missing")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def read_split(folder: Path, split: str) -> list[str]:
    """IDs of `split` (train, val, test, train_val or all) of a HumanML3D-layout folder."""
    if split not in (*SPLITS, "train_val", "all"):
        raise ValueError(f"unknown split {split!r}; expected train, val, test, train_val or all")
    return read_ids(Path(folder) / f"{split}.txt")


def parse_caption_line(line: str, where: str = "<text>") -> Caption:
    """Parse `caption#tokens#start#end`; a line with fewer fields raises naming `where`."""
    fields = line.rstrip("\n").split("#")
    if len(fields) < 4:
        raise ValueError(f"{where}: expected 'caption#tokens#start#end', got {line.strip()!r}")
    caption = fields[0].strip()
    if not caption:
        raise ValueError(f"{where}: empty caption")
    try:
        start, end = float(fields[2]), float(fields[3])
    except ValueError:
        raise ValueError(
            f"{where}: start/end must be numbers, got {fields[2]!r}, {fields[3]!r}"
        ) from None
    start = 0.0 if math.isnan(start) else start
    end = 0.0 if math.isnan(end) else end
    tokens = tuple(t for t in fields[1].split(" ") if t)
    return Caption(caption, tokens, start, end)


def read_captions(path: Path) -> list[Caption]:
    """All captions of a texts/ID.txt file; errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: caption file missing")
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if not lines:
        raise ValueError(f"{path}: no captions")
    return [parse_caption_line(ln, f"{path}:{i + 1}") for i, ln in enumerate(lines)]


def load_features(path: Path, dim: int | None = None) -> np.ndarray:
    """Load a (T, D) float32 feature file; a corrupt, wrong-shaped or non-finite file raises."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: motion file missing")
    try:
        x = np.load(path, allow_pickle=False)
    except Exception as e:  # numpy raises several types for truncated or foreign files
        raise ValueError(f"{path}: not a readable .npy file ({e})") from e
    if x.ndim != 2 or (dim is not None and x.shape[1] != dim):
        want = f"(T, {dim})" if dim else "(T, D)"
        raise ValueError(f"{path}: expected features of shape {want}, got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{path}: contains NaN or inf")
    return x.astype(np.float32, copy=False)


def load_mean_std(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Mean.npy and Std.npy (D,) of a folder; Std must be positive."""
    folder = Path(folder)
    out = []
    for name in ("Mean.npy", "Std.npy"):
        path = folder / name
        if not path.is_file():
            raise LayoutError(f"{path}: missing")
        try:
            arr = np.load(path, allow_pickle=False).astype(np.float32)
        except Exception as e:
            raise ValueError(f"{path}: not a readable .npy file ({e})") from e
        if arr.ndim != 1 or not np.isfinite(arr).all():
            raise ValueError(f"{path}: expected a finite vector, got shape {arr.shape}")
        out.append(arr)
    mean, std = out
    if mean.shape != std.shape:
        raise ValueError(f"{folder}: Mean.npy {mean.shape} and Std.npy {std.shape} differ")
    if (std <= 0).any():
        raise ValueError(f"{folder / 'Std.npy'}: has zero or negative entries")
    return mean, std


def iter_samples(
    motion_id: str,
    features: np.ndarray,
    captions: Iterable[Caption],
    fps: float,
    min_frames: int,
    max_frames_exclusive: int = MAX_LEN_EXCLUSIVE,
) -> list[MotionRecord]:
    """Split one motion's captions into samples: the whole clip plus one per timed sub-clip."""
    whole: list[Caption] = []
    out: list[MotionRecord] = []

    def in_range(n: int) -> bool:
        return min_frames <= n < max_frames_exclusive

    if not in_range(len(features)):  # the reference skips the file, sub-clips included
        return out
    for cap in captions:
        if cap.whole:
            whole.append(cap)
            continue
        clip = features[seconds_to_frames(cap.start, fps) : seconds_to_frames(cap.end, fps)]
        if in_range(len(clip)):
            name = f"{motion_id}#{cap.start:g}#{cap.end:g}"
            out.append(MotionRecord(name, motion_id, clip, (cap,)))
    if whole:
        out.insert(0, MotionRecord(motion_id, motion_id, features, tuple(whole)))
    return out


def load_split(
    folder: Path,
    split: str,
    min_frames: int = 40,
    ids: list[str] | None = None,
    progress: bool = False,
) -> list[MotionRecord]:
    """Samples of one split of a HumanML3D-layout folder, as the T2M loaders build them.

    The feature width (and so the skeleton and fps) comes from Mean.npy. Missing or corrupt
    files raise an error naming the file.
    """
    folder = Path(folder)
    check_layout(folder)
    mean, _ = load_mean_std(folder)
    skeleton = skeleton_for_dim(mean.shape[0])
    ids = read_split(folder, split) if ids is None else ids
    records: list[MotionRecord] = []
    it: Iterable[str] = ids
    if progress:
        from rich.console import Console
        from rich.progress import track

        it = track(ids, description=f"reading {split}", console=Console(stderr=True))
    for motion_id in it:
        feats = load_features(folder / "new_joint_vecs" / f"{motion_id}.npy", mean.shape[0])
        caps = read_captions(folder / "texts" / f"{motion_id}.txt")
        records.extend(iter_samples(motion_id, feats, caps, skeleton.fps, min_frames))
    return records


def load_motions(
    folder: Path, split: str, progress: bool = False
) -> tuple[list[str], list[np.ndarray]]:
    """IDs and whole feature arrays (T, D) of every motion file listed in `split`.

    Unlike `load_split`, no length filter and no caption sub-clips: this is what the tokenizer
    trains on and encodes (each motion file once). Errors name the missing or corrupt file.
    """
    folder = Path(folder)
    check_layout(folder)
    dim = load_mean_std(folder)[0].shape[0]
    ids = read_split(folder, split)
    it: Iterable[str] = ids
    if progress:
        from rich.console import Console
        from rich.progress import track

        it = track(ids, description=f"reading {split}", console=Console(stderr=True))
    return ids, [load_features(folder / "new_joint_vecs" / f"{i}.npy", dim) for i in it]


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
