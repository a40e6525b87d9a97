"""Section `registry`: which evaluated policy becomes the registered MLflow model, and its bars."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from motion_r1_core.config.base import _Section

# MLflow accepts aliases of letters, digits, `_` and `-`, except `latest` and version-like `v3`.
_ALIAS = re.compile(r"^[A-Za-z0-9_-]+$")
_VERSION_LIKE = re.compile(r"^[vV]\d+$")


class RegistryConfig(_Section):
    """The champion of the evaluation report as a registered MLflow model."""

    model_name: str = Field(
        "motion-r1", min_length=1, description="Registered model name in the MLflow registry."
    )
    alias: str = Field(
        "champion",
        description="Alias moved to the new version (`models:/<model_name>@<alias>`).",
    )
    metric: str = Field(
        "top3",
        min_length=1,
        description="Metric of the report's `policies.<name>.metrics` that picks the champion.",
    )
    mode: Literal["max", "min"] = Field(
        "max", description="max: the highest `metric` wins (R-Precision); min: the lowest (FID)."
    )
    min_format_validity: float = Field(
        0.9,
        ge=0.0,
        le=1.0,
        description="Floor: the champion's unconstrained format validity (share of parseable "
        "answers) must reach this.",
    )
    min_top3: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Floor: the champion's evaluator R-Precision top-3 must reach this.",
    )
    enforce_floors: bool = Field(
        True,
        description="true: a champion below a floor is not registered (the stage fails); false: "
        "register it anyway, with the failed floors recorded on the version.",
    )

    @model_validator(mode="after")
    def _valid_alias(self) -> RegistryConfig:
        if (
            not _ALIAS.match(self.alias)
            or self.alias.lower() == "latest"
            or _VERSION_LIKE.match(self.alias)
        ):
            raise ValueError(
                f"registry.alias {self.alias!r}: use letters, digits, _ and -, not `latest` "
                "nor a version-like `v<number>`"
            )
        return self
