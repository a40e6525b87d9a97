"""Great Expectations suites for a motion folder in the HumanML3D layout.

`validate_motion_folder` first checks the layout (folders, split files, Mean/Std); a folder that is
not in the layout stops there. Otherwise it builds one row per motion ID (the union of the split
files and the files on disk) describing what is on disk, runs one Great Expectations suite over
that table and maps each failed expectation back to the offending files. Mean/Std are checked in
plain code and reported in the same `ValidationReport`.

Check names in the report (one concern each):
    layout         a folder or file of the layout is missing (the other checks are skipped)
    files          an ID of a split has no features, joints or text file
    readable       a file np.load (or the text reader) cannot read
    dims           feature width is not D (263 HumanML3D, 251 KIT), or joints are not (T, J, 3)
    frames         joints and features of a motion have different frame counts
    finite         NaN or inf in features or joints
    lengths        frame count outside [min_frames, max_frames]
    captions       no caption, an empty caption, or a line not `caption#tokens#start#end`
    splits         an ID listed in two of train/val/test (or twice in one)
    normalization  Mean.npy / Std.npy not (D,), not finite, or Std <= 0
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np
import pandas as pd

from motion_r1_core.data.humanml3d import (
    MAX_LEN_EXCLUSIVE,
    SPLITS,
    missing_layout_parts,
    parse_caption_line,
    read_ids,
)
from motion_r1_core.expectations import CheckFailure, TableReport, run_suite
from motion_r1_core.skeleton import SKELETONS

VEC, JOINTS, TEXTS = "new_joint_vecs", "new_joints", "texts"
JOINTS_FOR_DIM = {sk.feature_dim: sk.n_joints for sk in SKELETONS.values()}  # 263: 22, 251: 21
CHECKS = ("layout", "files", "readable", "dims", "frames", "finite", "lengths", "captions")
CHECKS += ("splits", "normalization")  # the report's order

# Per-dataset policy for `validate_dataset_folder`. Real HumanML3D / KIT-ML ship motions outside
# the frame window that their readers drop, so only a share must lie inside; the procedural
# corpus has none, so any there is a bug. KIT-ML readers keep motions from 24 frames (12.5 fps).
LENGTH_MOSTLY = {"procedural": 1.0, "humanml3d": 0.8, "kit": 0.8}
MIN_FRAMES_KIT = 24
MAX_FRAMES = MAX_LEN_EXCLUSIVE - 1  # the reference readers drop motions of 200 frames or more


# -------------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class ValidationReport(TableReport):
    """Outcome of `validate_motion_folder`.

    Attributes:
        path: the folder validated (also `folder`).
        n_rows: IDs with a features file (new_joint_vecs/ID.npy) on disk (also `n_motions`).
        n_texts: IDs with a text file on disk.
        failures: the failed checks, in the order of CHECKS; empty when the folder is valid.
            CheckFailure.files holds paths relative to the folder.
        stats: plain numbers (feature_dim, frames, captions, split sizes, seconds).
    """

    n_texts: int = 0
    rows_name: ClassVar[str] = "motions"
    checks_name: ClassVar[str] = ""

    @property
    def folder(self) -> Path:
        """The folder validated."""
        return self.path

    @property
    def n_motions(self) -> int:
        """IDs with a features file on disk."""
        return self.n_rows

    def header(self) -> str:
        """The first line of `format()`: the folder, its motions and texts."""
        return f"{self.path}: {self.n_rows} motions, {self.n_texts} texts"


# ------------------------------------------------------------------------------ reading a folder
def _load_npy(path: Path) -> np.ndarray:
    """Memory-map a .npy read-only; fall back to a plain load for what cannot be mapped."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError:  # e.g. a zero-length array; a corrupt file fails again, with a clear message
        return np.load(path, allow_pickle=False)


def _array_info(path: Path) -> tuple[float, str, bool]:
    """(frames, trailing shape like "263" or "22x3", all finite) of one .npy; raises if unreadable."""
    a = _load_npy(path)
    frames = a.shape[0] if a.ndim else 0
    return frames, "x".join(map(str, a.shape[1:])) or "-", bool(np.isfinite(a).all())


def _caption_counts(path: Path) -> tuple[int, int, int]:
    """(captions, empty captions, malformed lines) of a texts/ID.txt; trailing blank lines ignored."""
    text = path.read_text(encoding="utf-8", errors="replace").rstrip()
    n = empty = bad = 0
    for line in text.split("\n") if text.strip() else []:
        n += 1
        if not line.split("#", 1)[0].strip():
            empty += 1
            continue
        try:  # the readers' own parser: caption#tokens#start#end, start/end in seconds
            parse_caption_line(line)
        except ValueError:
            bad += 1
    return n, empty, bad


def _layout_failures(folder: Path) -> list[CheckFailure]:
    if not folder.is_dir():
        return [CheckFailure("layout", f"folder {folder} does not exist")]
    return [CheckFailure("layout", f"missing {p}", (p,)) for p in missing_layout_parts(folder)]


def _normalization(folder: Path, dim: int | None) -> tuple[list[CheckFailure], int | None]:
    """Check Mean.npy / Std.npy; return the failures and the feature width (given or inferred)."""
    out, arrays = [], {}
    for name in ("Mean.npy", "Std.npy"):
        try:
            arrays[name] = np.asarray(np.load(folder / name, allow_pickle=False))
        except Exception as e:
            out.append(CheckFailure("readable", f"np.load cannot read {name}: {e}", (name,)))
    mean = arrays.get("Mean.npy")
    if dim is None and mean is not None and mean.ndim == 1:
        dim = int(mean.shape[0])
    for name, a in arrays.items():
        if a.ndim != 1 or (dim is not None and a.shape[0] != dim):
            out.append(
                CheckFailure("normalization", f"{name} is {a.shape}, expected ({dim},)", (name,))
            )
        elif not np.isfinite(a).all():
            out.append(CheckFailure("normalization", f"{name} holds NaN or inf", (name,)))
        elif name == "Std.npy" and (a <= 0).any():
            out.append(
                CheckFailure(
                    "normalization",
                    f"Std.npy has {(a <= 0).sum()} entries <= 0 (normalising divides by it)",
                    (name,),
                )
            )
    return out, dim


# the files of an ID: kind -> (folder, extension, the columns reading it fills in)
_FILES = {
    "vec": (VEC, ".npy", ("vec_rows", "vec_dim", "finite")),
    "joints": (JOINTS, ".npy", ("joints_rows", "joints_shape", "joints_finite")),
    "text": (TEXTS, ".txt", ("n_captions", "empty_captions", "bad_caption_lines")),
}
_COUNTS = {"vec_rows", "joints_rows", "n_captions", "empty_captions", "bad_caption_lines"}


def _motion_table(folder: Path, split_ids: dict[str, list[str]]) -> pd.DataFrame:
    """One row per ID: presence, shapes, finiteness, captions, splits and load errors.

    Unknown values (a missing or unreadable file) are NaN/None, which the column expectations
    skip, so such a file is reported once (by `files` or `readable`), not by every check.
    """
    on_disk = {
        d: {e.name[: -len(ext)] for e in os.scandir(folder / d) if e.name.endswith(ext)}
        for d, ext, _ in _FILES.values()
    }
    splits_of: dict[str, list[str]] = {}
    for split, ids in split_ids.items():
        for i in ids:
            splits_of.setdefault(i, []).append(split)
    rows = []
    for i in sorted(set(splits_of).union(*on_disk.values())):
        listed = splits_of.get(i, [])
        row: dict[str, Any] = {"id": i, "split": ",".join(listed), "n_splits": len(listed)}
        for kind, (d, _, columns) in _FILES.items():
            row[f"has_{kind}"] = i in on_disk[d]
            row |= {c: np.nan if c in _COUNTS else None for c in columns}  # unknown until read
        row |= {"load_error": None, "error_files": ()}
        errors = []
        for kind, (d, ext, columns) in _FILES.items():
            if not row[f"has_{kind}"]:
                continue
            rel = f"{d}/{i}{ext}"
            try:
                read = _caption_counts if kind == "text" else _array_info
                row |= dict(zip(columns, read(folder / rel), strict=True))
            except Exception as e:  # a corrupt file is a finding, not a crash
                errors.append((rel, f"{rel}: {e}"))
        if errors:
            row["error_files"] = tuple(r for r, _ in errors)
            row["load_error"] = "; ".join(m for _, m in errors)
        rows.append(row)
    return pd.DataFrame(rows, columns=list(rows[0]) if rows else ["id"])


# --------------------------------------------------------------------------- the expectations
class _Rule(NamedTuple):
    check: str  # report check name
    what: str  # what the failing rows are, e.g. "features with NaN or inf"
    files: tuple[str, ...]  # offending files of a failing ID ("{id}" is replaced)
    expectation: Any  # a great_expectations Expectation
    show_values: bool = True  # add "(found ...)" with the unexpected values


def _rules(dim: int, min_frames: int, max_frames: int, mostly: float) -> list[_Rule]:
    import great_expectations as gx

    E, j = gx.expectations, JOINTS_FOR_DIM[dim]
    vec, joints, text = f"{VEC}/{{id}}.npy", f"{JOINTS}/{{id}}.npy", f"{TEXTS}/{{id}}.txt"

    def inset(column: str, values: list[Any]) -> Any:
        return E.ExpectColumnValuesToBeInSet(column=column, value_set=values)

    def between(column: str, lo: int | None = None, hi: int | None = None, **kw: Any) -> Any:
        return E.ExpectColumnValuesToBeBetween(column=column, min_value=lo, max_value=hi, **kw)

    def present(column: str) -> Any:  # presence is required of IDs named by a split file
        return E.ExpectColumnValuesToBeInSet(
            column=column, value_set=[True], row_condition="n_splits>0", condition_parser="pandas"
        )

    def zero(column: str) -> Any:
        return between(column, 0, 0)

    no_error = E.ExpectColumnValuesToBeNull(column="load_error")
    same_frames = E.ExpectColumnPairValuesToBeEqual(
        column_A="vec_rows", column_B="joints_rows", ignore_row_if="either_value_is_missing"
    )
    lengths = between("vec_rows", min_frames, max_frames, mostly=mostly)
    return [
        _Rule("files", "split IDs without a features file", (vec,), present("has_vec"), False),
        _Rule("files", "split IDs without a joints file", (joints,), present("has_joints"), False),
        _Rule("files", "split IDs without a text file", (text,), present("has_text"), False),
        _Rule("readable", "files that cannot be read", ("{errors}",), no_error),
        _Rule("dims", f"features not (T, {dim})", (vec,), inset("vec_dim", [str(dim)])),
        _Rule("dims", f"joints not (T, {j}, 3)", (joints,), inset("joints_shape", [f"{j}x3"])),
        _Rule(
            "frames",
            "motions whose joints and features differ in frames",
            (vec, joints),
            same_frames,
            False,
        ),
        _Rule("finite", "features with NaN or inf", (vec,), inset("finite", [True]), False),
        _Rule("finite", "joints with NaN or inf", (joints,), inset("joints_finite", [True]), False),
        _Rule("lengths", f"motions outside {min_frames}..{max_frames} frames", (vec,), lengths),
        _Rule("captions", "text files without a caption", (text,), between("n_captions", 1), False),
        _Rule("captions", "text files with an empty caption", (text,), zero("empty_captions")),
        _Rule(
            "captions",
            "text files with lines not caption#tokens#start#end",
            (text,),
            zero("bad_caption_lines"),
        ),
        _Rule(
            "splits",
            "IDs listed in more than one split (or twice)",
            ("{splits}",),
            between("n_splits", 0, 1),
            False,
        ),
    ]


def _run_suite(df: pd.DataFrame, rules: list[_Rule]) -> list[tuple[_Rule, Any]]:
    """Run the rules as one suite over `df`; (rule, result) pairs."""
    results = run_suite(df, [r.expectation for r in rules], name="motion_folder")
    return list(zip(rules, results, strict=True))


def _failure(rule: _Rule, result: Any, table: pd.DataFrame) -> CheckFailure:
    """A failed expectation as a CheckFailure naming the offending IDs' files."""
    info = result.exception_info or {}
    if info.get("raised_exception"):
        return CheckFailure(
            rule.check, f"{rule.what}: the expectation raised {info.get('exception_message')}"
        )
    ids = [row["id"] for row in result.result.get("unexpected_index_list") or []]
    rows = table.loc[ids]
    files: list[str] = []
    for i, row in rows.iterrows():
        for pattern in rule.files:
            if pattern == "{errors}":
                files += row["error_files"]
            elif pattern == "{splits}":
                files += [f"{s}.txt" for s in row["split"].split(",")]
            else:
                files.append(pattern.format(id=i))
    detail = f"{len(ids)} {rule.what}"
    if rule.check == "readable":
        detail += f", e.g. {rows['load_error'].iloc[0]}"
    elif rule.check == "splits":
        detail += ": " + ", ".join(f"{i} in {s}" for i, s in rows["split"].head(5).items())
    elif rule.show_values:
        shown = sorted(
            {
                str(int(v)) if isinstance(v, float) else str(v)
                for v in result.result.get("unexpected_list") or []
            }
        )
        detail += f" (found {', '.join(shown[:5])}{', ...' if len(shown) > 5 else ''})"
    return CheckFailure(rule.check, detail, tuple(dict.fromkeys(files)))


# ------------------------------------------------------------------------------------------ api
def validate_motion_folder(
    folder: Path,
    feature_dim: int | None = None,
    min_frames: int = 40,
    max_frames: int = MAX_FRAMES,
    length_mostly: float = 1.0,
) -> ValidationReport:
    """Validate a motion folder in the HumanML3D layout; bad data never raises.

    Args:
        folder: the dataset folder (new_joint_vecs/, new_joints/, texts/, train/val/test.txt,
            Mean.npy, Std.npy).
        feature_dim: expected feature width D (263 HumanML3D, 251 KIT); None infers it from
            Mean.npy. Joints must then be (T, 22, 3) resp. (T, 21, 3) with the features' T.
        min_frames, max_frames: inclusive frame-count window (HumanML3D, 20 fps: 40..199).
        length_mostly: share of motions that must lie in the window (see LENGTH_MOSTLY).

    Returns:
        A `ValidationReport`: `.ok` is False with one `CheckFailure` per failed expectation,
        each naming the offending files relative to `folder`. A layout failure stops the rest.
        About a second for 3,000 motions once Great Expectations is imported.
    """
    t0 = time.perf_counter()
    folder = Path(folder)
    if layout := _layout_failures(folder):
        seconds = {"seconds": time.perf_counter() - t0}
        return ValidationReport(folder, 0, tuple(layout), seconds)

    failures, dim = _normalization(folder, feature_dim)
    split_ids = {s: read_ids(folder / f"{s}.txt") for s in SPLITS}
    table = _motion_table(folder, split_ids)
    if dim not in JOINTS_FOR_DIM:
        source = "feature_dim" if feature_dim else "Mean.npy"
        what = f"feature width {dim} from {source} is neither 263 (HumanML3D) nor 251 (KIT)"
        if dim is None:
            what = "cannot infer the feature width: Mean.npy is not a 1-D array"
        failures.append(CheckFailure("dims", what, () if feature_dim else ("Mean.npy",)))
        # go on with the most common width, so one broken Mean.npy still gets every other check
        widths = table["vec_dim"].dropna() if len(table) else pd.Series(dtype=str)
        common = widths.mode().iloc[0] if len(widths) else ""
        dim = int(common) if common.isdigit() and int(common) in JOINTS_FOR_DIM else None
    if len(table) and dim is not None:
        results = _run_suite(table, _rules(dim, min_frames, max_frames, length_mostly))
        indexed = table.set_index("id", drop=False)
        failures += [_failure(rule, r, indexed) for rule, r in results if not r.success]
    failures.sort(key=lambda f: CHECKS.index(f.check))

    empty = not len(table)
    frames = pd.Series(dtype=float) if empty else table["vec_rows"].dropna()
    stats: dict[str, Any] = {
        "feature_dim": dim,
        "n_ids": len(table),
        "n_captions": 0 if empty else int(table["n_captions"].sum()),
        "n_unlisted": 0 if empty else int((table["n_splits"] == 0).sum()),
        "n_outside_lengths": int(((frames < min_frames) | (frames > max_frames)).sum()),
        "frames_min": int(frames.min()) if len(frames) else 0,
        "frames_max": int(frames.max()) if len(frames) else 0,
        "frames_mean": float(frames.mean()) if len(frames) else 0.0,
        **{f"split_{s}": len(ids) for s, ids in split_ids.items()},
        "seconds": round(time.perf_counter() - t0, 3),
    }
    n_motions = 0 if empty else int(table["has_vec"].sum())
    n_texts = 0 if empty else int(table["has_text"].sum())
    return ValidationReport(folder, n_motions, tuple(failures), stats, n_texts=n_texts)


def validate_dataset_folder(folder: Path, dataset: str, min_frames: int = 40) -> ValidationReport:
    """`validate_motion_folder` with the policy of a dataset (procedural, humanml3d, kit).

    The frame window is min_frames..199 (KIT-ML: 24..199); real datasets need only
    LENGTH_MOSTLY of their motions inside it. The width is inferred from Mean.npy.
    """
    if dataset not in LENGTH_MOSTLY:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {list(LENGTH_MOSTLY)}")
    return validate_motion_folder(
        folder,
        min_frames=MIN_FRAMES_KIT if dataset == "kit" else min_frames,
        max_frames=MAX_FRAMES,
        length_mostly=LENGTH_MOSTLY[dataset],
    )
