"""Resources: everything external the assets touch (configuration files, the MLflow store).

Unset fields fall back to the environment the same way the CLI does: MOTION_R1_PROFILE,
MOTION_R1_ROOT and MLFLOW_TRACKING_URI. Where such a variable is set when the code location
loads, it is bound through `EnvVar`, so the UI shows where the value comes from.
"""

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from pydantic import Field, PrivateAttr

from motion_r1_core import tracking
from motion_r1_core.config import Config, load_config


class PipelineConfigResource(dg.ConfigurableResource):
    """The pipeline configuration: params.yaml + configs/<profile>.yaml + `key=value` overrides."""

    profile: str | None = Field(
        default=None, description="Profile in configs/; None: MOTION_R1_PROFILE or params.yaml."
    )
    overrides: list[str] = Field(
        default_factory=list, description="`section.key=value` overrides, applied last."
    )
    root: str | None = Field(
        default=None, description="Project root holding params.yaml; None: MOTION_R1_ROOT or cwd."
    )

    def load(self) -> Config:
        """Load and validate the configuration (raises ValueError naming the bad key or file)."""
        return load_config(self.profile, self.overrides, Path(self.root) if self.root else None)


class MlflowResource(dg.ConfigurableResource):
    """An MLflow tracking store; each stage run becomes one MLflow run tagged with its Dagster run."""

    tracking_uri: str | None = Field(
        default=None,
        description="Tracking URI; None: the configuration's (MLFLOW_TRACKING_URI, else the "
        "project's sqlite store mlflow/mlruns.db).",
    )
    experiment: str | None = Field(
        default=None, description="Experiment name; None: `tracking.experiment` of the config."
    )
    _dagster_run_id: str | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._dagster_run_id = context.run_id

    @contextmanager
    def run(
        self,
        cfg: Config,
        stage: str,
        dataset: str,
        tags: Mapping[str, str] | None = None,
    ) -> Iterator[tracking.MlflowTracker]:
        """Open an MLflow run `stage/dataset` and yield its tracker; FAILED if the block raises.

        The run is tagged with the stage, dataset, profile, Dagster run id and partition (the
        dataset unless `tags` says otherwise), plus `tags`.
        """
        all_tags = {
            "stage": stage,
            "dataset": dataset,
            "profile": cfg.profile,
            "dagster.partition": dataset,
            **({"dagster.run_id": self._dagster_run_id} if self._dagster_run_id else {}),
            **(tags or {}),
        }
        with tracking.mlflow_run(
            self.tracking_uri or cfg.tracking_uri(),
            self.experiment or cfg.tracking.experiment,
            run_name=f"{stage}/{dataset}",
            tags=all_tags,
        ) as tracker:
            yield tracker


def _from_env(name: str) -> dg.EnvVar | None:
    """`EnvVar(name)` if the variable is set now, else None (the field's own fallback)."""
    return dg.EnvVar(name) if os.environ.get(name) else None


@dg.definitions
def resources() -> dg.Definitions:
    """Bind the resources every asset of the project uses."""
    return dg.Definitions(
        resources={
            "pipeline_config": PipelineConfigResource(
                profile=_from_env("MOTION_R1_PROFILE"), root=_from_env("MOTION_R1_ROOT")
            ),
            "mlflow": MlflowResource(tracking_uri=_from_env("MLFLOW_TRACKING_URI")),
        }
    )
