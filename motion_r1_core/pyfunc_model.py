"""The registered pyfunc: captions in, chains and motions out.

The model's artifacts are a policy folder (a merged Hugging Face model + policy.json), the VQ-VAE
checkpoint it was trained with, and the generation settings (`policy.generation` as JSON).

Input: a DataFrame with `caption` (required), `seconds` (optional; empty: the model picks the
length, else exactly round(seconds * fps / frames_per_token) tokens), `seed` (optional,
default 0; rows with one seed are sampled as one batch) and `long` (optional boolean: one span
per step of the chain, joined past the 196-frame limit, `policy/long.py`; `seconds` is then
each step's). Output, one row per caption in order:
caption, chain (steps joined by newlines), plan, token_ids (VQ codes), n_frames, fps, joints
(n_frames x J x 3, metres, y up).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

from motion_r1_core.config import GenerationSection

OUTPUT_COLUMNS = ("caption", "chain", "plan", "token_ids", "n_frames", "fps", "joints")
DEFAULT_SEED = 0


# ------------------------------------------------------------------------------------ helpers
def finite_or_none(value: Any) -> float | None:
    """A finite float of `value`, or None (missing, NaN, not a number)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):  # numpy numbers are Real
        return None
    return float(value) if math.isfinite(value) else None


def _missing(value: Any) -> bool:
    """True for None, NaN and pd.NA (how an empty cell of a JSON record or a DataFrame arrives)."""
    return value is None or bool(pd.api.types.is_scalar(value) and pd.isna(value))


# --------------------------------------------------------------------------------- the model
class MotionPolicyModel(mlflow.pyfunc.PythonModel):
    """Captions in, chains and motions out: the policy, its motion tokenizer and the generation
    settings, loaded from the model's artifacts `policy`, `tokenizer` and `generation`.

    `model_config={"device": "cuda"}` at load time picks the device (default auto: CUDA when
    available)."""

    def load_context(self, context: Any) -> None:
        """Load the policy folder, the VQ-VAE checkpoint and the generation settings."""
        from motion_r1_core.policy.policy import Policy
        from motion_r1_core.runtime import resolve_device
        from motion_r1_core.vqvae.tokenizer import MotionTokenizer

        device = resolve_device(str((context.model_config or {}).get("device", "auto")))
        self.policy = Policy.load(Path(context.artifacts["policy"]), device=str(device))
        self.tokenizer = MotionTokenizer.load(Path(context.artifacts["tokenizer"]), device=device)
        self.policy.check_tokenizer(self.tokenizer.codebook_size, self.tokenizer.frames_per_token)
        self.generation = GenerationSection.model_validate_json(
            Path(context.artifacts["generation"]).read_text()
        )

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """One row of OUTPUT_COLUMNS per input row, in order (see the module docstring).

        Raises ValueError naming the column or row for a missing `caption` column, an empty
        caption, a non-positive duration or a non-integer seed."""
        from motion_r1_core.policy.generate import sample

        captions, seconds, seeds, longs = parse_requests(model_input)
        fps = float(self.policy.meta["fps"])
        rows: list[dict[str, Any] | None] = [None] * len(captions)
        for i in (i for i, flag in enumerate(longs) if flag):
            rows[i] = self._long(captions[i], seconds[i], seeds[i], fps)
        for seed in sorted(set(seeds)):
            idx = [i for i, s in enumerate(seeds) if s == seed and not longs[i]]
            if not idx:
                continue
            answers, _ = sample(
                self.policy,
                [captions[i] for i in idx],
                self.generation,
                seconds=[seconds[i] for i in idx],
                constrained=True,  # the grammar makes every answer parse
                seed=seed,
            )
            broken = [
                (i, a.parsed.error) for i, a in zip(idx, answers, strict=True) if not a.parsed.ok
            ]
            if broken:
                raise RuntimeError(f"answers that do not parse (row, reason): {broken}")
            joints = self._joints([list(a.parsed.codes) for a in answers])
            for i, a, j in zip(idx, answers, joints, strict=True):
                p = a.parsed
                rows[i] = output_row(captions[i], p.steps, p.plan or "", p.codes, j, fps)
        return pd.DataFrame(rows, columns=list(OUTPUT_COLUMNS))

    def _long(self, caption: str, seconds: float | None, seed: int, fps: float) -> dict[str, Any]:
        """The output row of a long generation (spans joined; token_ids of all spans)."""
        from motion_r1_core.policy.long import generate_long

        motion = generate_long(
            self.policy, self.tokenizer, caption, self.generation, None, seconds, seed
        )
        codes = [c for span in motion.codes for c in span]
        return output_row(caption, motion.steps, motion.plan, codes, motion.joints, fps)

    def _joints(self, codes: list[list[int]]) -> list[Any]:
        """Joint positions (f * L_i, J, 3) in metres, a float32 array per code list."""
        from motion_r1_core.features import recover_from_ric

        feats = self.tokenizer.decode_many(codes)
        return [recover_from_ric(f, self.tokenizer.skeleton).numpy() for f in feats]


def output_row(
    caption: str,
    steps: Sequence[str],
    plan: str,
    codes: Sequence[int],
    joints: np.ndarray,
    fps: float,
) -> dict[str, Any]:
    """One output row (OUTPUT_COLUMNS) of a generated motion, joints (T, J, 3) in metres."""
    return {
        "caption": caption,
        "chain": "\n".join(steps),
        "plan": plan,
        "token_ids": [int(c) for c in codes],
        "n_frames": int(joints.shape[0]),
        "fps": fps,
        "joints": joints.tolist(),
    }


def parse_requests(
    model_input: pd.DataFrame | Mapping[str, Any] | list[Mapping[str, Any]],
) -> tuple[list[str], list[float | None], list[int], list[bool]]:
    """(captions, seconds or None, seeds, long flags) of a request frame (or records / a
    column dict).

    Raises ValueError naming the column or the row at fault."""
    frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
    if "caption" not in frame.columns:
        raise ValueError(
            f"the model input needs a `caption` column (optional: `seconds`, `seed`, `long`); "
            f"got columns {list(frame.columns)}"
        )
    captions, seconds, seeds, longs = [], [], [], []
    for i, row in enumerate(frame.to_dict(orient="records")):
        caption = row["caption"]
        if not isinstance(caption, str) or not caption.strip():
            raise ValueError(f"row {i}: caption must be a non-empty string, got {caption!r}")
        captions.append(caption)
        s = row.get("seconds")
        if _missing(s):
            seconds.append(None)
        elif finite_or_none(s) is None or s <= 0:
            raise ValueError(f"row {i}: seconds must be a positive number or empty, got {s!r}")
        else:
            seconds.append(float(s))
        seed = row.get("seed")
        if _missing(seed):
            seeds.append(DEFAULT_SEED)
        elif finite_or_none(seed) is None or float(seed) != int(seed):
            raise ValueError(f"row {i}: seed must be an integer or empty, got {seed!r}")
        else:
            seeds.append(int(seed))
        flag = row.get("long")
        if _missing(flag):
            longs.append(False)
        elif isinstance(flag, bool | np.bool_) or flag in (0, 1):
            longs.append(bool(flag))
        else:
            raise ValueError(f"row {i}: long must be true, false or empty, got {flag!r}")
    return captions, seconds, seeds, longs


def model_signature() -> Any:
    """The pyfunc's input/output schema (caption required; seconds and seed optional)."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Array, ColSpec, Schema

    inputs = Schema(
        [
            ColSpec("string", "caption"),
            ColSpec("double", "seconds", required=False),
            # double, not long: a column of seeds with empty cells arrives as float64 (NaN),
            # which MLflow refuses to cast to int64; parse_requests checks integrality.
            ColSpec("double", "seed", required=False),
            ColSpec("boolean", "long", required=False),
        ]
    )
    outputs = Schema(
        [
            ColSpec("string", "caption"),
            ColSpec("string", "chain"),
            ColSpec("string", "plan"),
            ColSpec(Array("long"), "token_ids"),
            ColSpec("long", "n_frames"),
            ColSpec("double", "fps"),
            ColSpec(Array(Array(Array("double"))), "joints"),
        ]
    )
    return ModelSignature(inputs=inputs, outputs=outputs)
