"""The user's own motion capture in: a folder of BVH files or joint arrays becomes a
HumanML3D-layout folder that `raw_motions` accepts (data.humanml3d.source).

    motion-r1 data import mocap/ --captions mocap/captions.csv --out data/my_mocap
    motion-r1 stage raw_motions --dataset humanml3d --set data.humanml3d.source=data/my_mocap

Inputs: `*.bvh` (any rig whose joints a mapping in `motion_r1_core/data/rigs/` names: CMU,
Mixamo, SMPL-named, or our own export; the rig is detected, or given with `--rig`; add your
own rig as a YAML there or in a folder given with `--rigs`) or `*.npy` joint
arrays (T, 22, 3) in metres, y up, at `--fps`. Each motion is resampled to 20 fps, retargeted
to the target subject's bone lengths, put on the floor facing +z and featurised exactly as the
corpus is (`features.process_joints`); captions come from a CSV (`file,caption`, several rows
per file allowed). A file that cannot be read, maps no rig, or is too short is reported with
its reason and skipped; the rest of the folder is still imported. Splits are drawn by seed and
Mean/Std computed on the train split, as for the procedural corpus.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import yaml

from motion_r1_core.bvh import BVHMotion, read_bvh
from motion_r1_core.skeleton import HUMANML3D, Skeleton

RIGS_DIR = Path(__file__).resolve().parent / "rigs"


@dataclass(frozen=True)
class Rig:
    """A joint name mapping from a source rig onto the target skeleton's joints."""

    name: str
    joints: dict[str, str]  # target joint -> source joint name
    scale: float | None = None  # file units per metre; None: guessed from the rig's size


@dataclass
class ImportSummary:
    """What `import_folder` wrote and what it skipped (file -> reason)."""

    out: Path
    imported: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    rigs: dict[str, str] = field(default_factory=dict)  # imported BVH file -> rig


def load_rigs(folder: Path = RIGS_DIR) -> dict[str, Rig]:
    """The rig mappings of `folder` (one YAML per rig: `joints: {target: source}`)."""
    rigs = {}
    for path in sorted(Path(folder).glob("*.yaml")):
        data = yaml.safe_load(path.read_text()) or {}
        joints = data.get("joints") or {}
        missing = sorted(set(HUMANML3D.joint_names) - set(joints))
        if missing:
            raise ValueError(f"{path}: `joints` does not map {missing}")
        rigs[path.stem] = Rig(path.stem, {k: str(v) for k, v in joints.items()}, data.get("scale"))
    return rigs


def _bare(name: str) -> str:
    """A joint name without its namespace (`mixamorig:LeftArm` -> `leftarm`), lower case."""
    return name.rsplit(":", 1)[-1].lower()


def match_rig(names: tuple[str, ...], rigs: dict[str, Rig], rig: str | None = None) -> Rig:
    """The rig whose mapping names joints of the file (`rig` forces one); ValueError if none."""
    have = {_bare(n) for n in names}
    candidates = [rigs[rig]] if rig else list(rigs.values())
    for r in candidates:
        if all(_bare(src) in have for src in r.joints.values()):
            return r
    if rig:
        absent = sorted(s for s in rigs[rig].joints.values() if _bare(s) not in have)
        raise ValueError(f"rig {rig!r} names joints the file lacks: {absent}")
    raise ValueError(f"no rig ({', '.join(rigs)}) maps its joints")


def bvh_joints(motion: BVHMotion, rig: Rig, skeleton: Skeleton = HUMANML3D) -> np.ndarray:
    """Positions (T, J, 3) in metres of the skeleton's joints, read from a BVH by `rig`."""
    by_bare = {_bare(n): n for n in motion.names}
    names = tuple(by_bare[_bare(rig.joints[j])] for j in skeleton.joint_names)
    if rig.scale:
        motion = replace(motion, scale=float(rig.scale))
    return motion.positions(names)


def resample(joints: np.ndarray, fps: float, target_fps: float) -> np.ndarray:
    """Joint positions (T, J, 3) at `fps` resampled linearly to `target_fps`."""
    if abs(fps - target_fps) < 1e-6:
        return joints
    t = np.arange(len(joints)) / fps
    new_t = np.arange(0.0, t[-1] + 1e-9, 1.0 / target_fps)
    flat = joints.reshape(len(joints), -1)
    out = np.stack([np.interp(new_t, t, flat[:, k]) for k in range(flat.shape[1])], axis=1)
    return out.reshape(len(new_t), *joints.shape[1:])


def read_captions_csv(path: Path) -> dict[str, list[str]]:
    """Captions by file stem from a CSV with columns `file` and `caption`."""
    out: dict[str, list[str]] = {}
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or {"file", "caption"} - set(reader.fieldnames):
            raise ValueError(f"{path}: needs the columns `file` and `caption`")
        for row in reader:
            caption = (row["caption"] or "").strip().replace("#", " ")
            if caption:
                out.setdefault(Path(row["file"]).stem, []).append(caption)
    return out


def import_folder(
    src: Path,
    out: Path,
    captions: Path | None = None,
    rig: str | None = None,
    fps: float = 20.0,
    min_frames: int = 40,
    seed: int = 0,
    split: tuple[float, float, float] = (0.8, 0.05, 0.15),
    skeleton: Skeleton = HUMANML3D,
    rigs_dir: Path | None = None,
) -> ImportSummary:
    """Import every `*.bvh` and `*.npy` of `src` into the HumanML3D layout at `out`.

    `captions`: CSV (`file,caption`), default `src/captions.csv`; `rigs_dir`: more rig
    mappings (YAML) besides the packaged ones. `fps` is the frame rate of
    the `.npy` inputs (BVH files carry theirs). `min_frames` (at 20 fps, after processing) is
    the shortest motion kept. Returns what was imported and what was skipped, and why.
    """
    from motion_r1_core.data.procedural import caption_line, write_splits_and_stats
    from motion_r1_core.features import process_joints, recover_from_ric

    src, out = Path(src), Path(out)
    files = sorted(p for p in src.iterdir() if p.suffix.lower() in (".bvh", ".npy"))
    if not files:
        raise FileNotFoundError(f"{src}: no .bvh or .npy files")
    captions = captions or src / "captions.csv"
    if not Path(captions).is_file():
        raise FileNotFoundError(f"{captions}: no captions CSV (columns file, caption)")
    texts = read_captions_csv(Path(captions))
    rigs = {**load_rigs(), **(load_rigs(rigs_dir) if rigs_dir else {})}
    for sub in ("new_joint_vecs", "new_joints", "texts"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    summary = ImportSummary(out)
    for path in files:
        mid = path.stem
        try:
            if path.suffix.lower() == ".bvh":
                motion = read_bvh(path)
                chosen = match_rig(motion.names, rigs, rig)
                joints, file_fps = bvh_joints(motion, chosen, skeleton), motion.fps
                summary.rigs[mid] = chosen.name
            else:
                joints, file_fps = np.load(path, allow_pickle=False), fps
                if joints.ndim != 3 or joints.shape[1:] != (skeleton.n_joints, 3):
                    raise ValueError(f"shape {joints.shape}, expected (T, {skeleton.n_joints}, 3)")
            if not np.isfinite(joints).all():
                raise ValueError("non-finite joint positions")
            joints = resample(joints.astype(np.float64), file_fps, skeleton.fps)
            if len(joints) - 1 < min_frames:
                raise ValueError(f"{len(joints)} frames at {skeleton.fps:g} fps, fewer than "
                                 f"min_frames + 1 = {min_frames + 1}")
            features, _ = process_joints(torch.from_numpy(joints.astype(np.float32)), skeleton)
            if not torch.isfinite(features).all():
                raise ValueError("non-finite features")
            if mid not in texts:
                raise ValueError(f"no caption in {Path(captions).name}")
        except (ValueError, KeyError, OSError) as e:
            summary.skipped[path.name] = str(e).replace(f"{path}: ", "")
            continue
        np.save(out / "new_joint_vecs" / f"{mid}.npy", features.numpy().astype(np.float32))
        recovered = recover_from_ric(features, skeleton).numpy().astype(np.float32)
        np.save(out / "new_joints" / f"{mid}.npy", recovered)
        lines = "".join(caption_line(c) + "\n" for c in texts[mid])
        (out / "texts" / f"{mid}.txt").write_text(lines, encoding="utf-8")
        summary.imported.append(mid)
    if not summary.imported:
        reasons = "; ".join(f"{k}: {v}" for k, v in summary.skipped.items())
        raise ValueError(f"{src}: nothing imported ({reasons})")
    write_splits_and_stats(out, summary.imported, split, seed, skeleton)
    report = {"imported": summary.imported, "skipped": summary.skipped, "rigs": summary.rigs}
    (out / "import_report.json").write_text(json.dumps(report, indent=2) + "\n")
    return summary
