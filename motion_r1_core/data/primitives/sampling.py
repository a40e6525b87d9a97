"""Parameter sampling shared by the primitives: rounded uniform draws and frame ranges.

Draws are rounded to 3 decimals before use, so the parameters recorded in `decompositions.jsonl`
are exactly those the motion was built from.
"""

from __future__ import annotations

import numpy as np

from motion_r1_core.data.body import FPS


def uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """One uniform draw in [lo, hi), rounded to 3 decimals."""
    return round(float(rng.uniform(lo, hi)), 3)


def frame_range(lo_s: float, nominal_s: float, hi_s: float) -> tuple[int, int, int]:
    """(min, nominal, max) frames at FPS of a primitive lasting lo_s..hi_s seconds, nominally
    nominal_s; nominal and max are never below min."""
    lo = int(np.ceil(lo_s * FPS))
    return lo, max(lo, round(nominal_s * FPS)), max(lo, int(hi_s * FPS))
