"""Section `data`: motion lengths and the datasets (procedural corpus, HumanML3D, KIT-ML)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator

from motion_r1_core.config.base import _Section


class ProceduralConfig(_Section):
    motions: int = Field(3000, ge=10, description="Number of motions in the procedural corpus.")
    seed: int = Field(0, description="Seed; the corpus is a pure function of (motions, seed, ...).")
    max_primitives: int = Field(4, ge=1, le=4, description="Each motion chains 1..this primitives.")
    split: tuple[float, float, float] = Field(
        (0.8, 0.05, 0.15), description="Train / val / test shares of the motions."
    )

    @field_validator("split")
    @classmethod
    def _split_sums_to_one(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if abs(sum(v) - 1.0) > 1e-6 or min(v) < 0:
            raise ValueError(
                f"data.procedural.split must be 3 non-negative shares summing to 1, got {v}"
            )
        return v


class ExternalDatasetConfig(_Section):
    source: Path | None = Field(None, description="Folder in the HumanML3D layout (user-provided).")
    link: bool = Field(True, description="Symlink the source folder instead of copying it.")


class DataConfig(_Section):
    min_frames: int = Field(
        40, ge=1, description="Motions shorter than this are dropped (KIT: 24)."
    )
    max_frames: int = Field(196, ge=1, description="Readers crop longer motions to this length.")
    procedural: ProceduralConfig = ProceduralConfig()
    humanml3d: ExternalDatasetConfig = ExternalDatasetConfig()
    kit: ExternalDatasetConfig = ExternalDatasetConfig()

    @model_validator(mode="after")
    def _lengths(self) -> DataConfig:
        self._ordered("data", "min_frames", "max_frames")
        return self
