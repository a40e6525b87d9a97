"""Resumable training state on disk: numbered checkpoint folders behind an atomic `latest` pointer.

    ckpt_dir/step_0000500/...   written completely first
    ckpt_dir/latest             then pointed at it with os.replace (the commit point)

A crash while writing leaves `latest` on the previous complete folder; only the newest `keep`
folders are kept. What goes into a folder is the caller's business (`write(folder)`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

STATE_FILE = "train_state.pt"


def latest_checkpoint(ckpt_dir: Path) -> Path | None:
    """The folder `ckpt_dir/latest` points at, if it holds a complete train state."""
    pointer = Path(ckpt_dir) / "latest"
    if not pointer.is_file():
        return None
    folder = Path(ckpt_dir) / pointer.read_text().strip()
    return folder if (folder / STATE_FILE).is_file() else None


def commit_checkpoint(
    ckpt_dir: Path, step: int, write: Callable[[Path], None], keep: int = 2
) -> Path:
    """Create `ckpt_dir/step_<step>/`, fill it with `write(folder)`, then point `latest` at it."""
    ckpt_dir = Path(ckpt_dir)
    folder = ckpt_dir / f"step_{step:07d}"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    write(folder)
    tmp = ckpt_dir / "latest.tmp"
    tmp.write_text(folder.name + "\n")
    os.replace(tmp, ckpt_dir / "latest")
    for old in sorted(ckpt_dir.glob("step_*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return folder


def array_fingerprint(arrays: Sequence[np.ndarray]) -> str:
    """Short hash of the shapes and float32 contents of `arrays`."""
    h = hashlib.sha256()
    for arr in arrays:
        a = np.ascontiguousarray(arr, np.float32)
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]
