"""What every configuration section shares: frozen, unknown keys refused; the datasets."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

DATASETS = ("procedural", "humanml3d", "kit")
Dataset = Literal["procedural", "humanml3d", "kit"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def _ordered(self, where: str, low: str, high: str) -> None:
        """Raise ValueError naming both keys unless `self.low <= self.high` (a cross-field rule)."""
        a, b = getattr(self, low), getattr(self, high)
        if a > b:
            raise ValueError(f"{where}.{low} ({a}) must not exceed {where}.{high} ({b})")
