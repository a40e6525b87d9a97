"""What every configuration section shares: frozen, unknown keys refused; the datasets."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

DATASETS = ("procedural", "humanml3d", "kit")
Dataset = Literal["procedural", "humanml3d", "kit"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
