"""Resources: everything external the assets touch (configuration files, the MLflow store).

Unset fields fall back to the environment the same way the CLI does: MOTION_R1_PROFILE,
MOTION_R1_ROOT and MLFLOW_TRACKING_URI. Where such a variable is set when the code location
loads, it is bound through `EnvVar`, so the UI shows where the value comes from.
"""

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import dagster as dg
from pydantic import Field, PrivateAttr

from motion_r1_core import tracking
from motion_r1_core.config import Config, load_config
from pipelines.launch import (
    AccelerateConfig,
    K8sConfig,
    check_tracking_uri,
    pod_env,
    pod_meta,
    pod_spec,
    stage_command,
)


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
        with tracking.stage_run(
            cfg,
            stage,
            dataset,
            dagster_run_id=self._dagster_run_id,
            tracking_uri=self.tracking_uri,
            experiment=self.experiment,
            tags={"dagster.partition": dataset, **(tags or {})},
        ) as tracker:
            yield tracker


class StageLauncherResource(dg.ConfigurableResource):
    """Runs a heavy stage where `mode` says (`pipelines.launch`): in this process, in a Pipes
    subprocess (`pipelines.pipes_stage`, the default) or in a Kubernetes pod through
    dagster-k8s's Pipes client; the policy stages optionally under `accelerate launch`.

    A Pipes child gets the resolved profile, overrides, root and MLflow store as Pipes extras,
    logs to the same MLflow store, and streams its logs and materialization back.
    """

    mode: Literal["in_process", "subprocess", "k8s"] = Field(
        default="subprocess",
        description="in_process: the asset's process; subprocess: a Pipes process here; "
        "k8s: a pod per run of the stages in `k8s.stages` (the others run as subprocesses).",
    )
    python: str | None = Field(
        default=None, description="Interpreter of the stage process; None: this one."
    )
    env: dict[str, str] = Field(
        default_factory=dict,
        description="Extra environment of the stage process (e.g. CUDA_VISIBLE_DEVICES).",
    )
    accelerate: AccelerateConfig = Field(
        default_factory=AccelerateConfig,
        description="Several GPUs for the policy stages through `accelerate launch`.",
    )
    k8s: K8sConfig | None = Field(default=None, description="The pods of mode `k8s`.")

    def run(
        self,
        context: dg.AssetExecutionContext,
        stage: str,
        pipeline_config: PipelineConfigResource,
        mlflow: MlflowResource,
        overrides: list[str] | None = None,
    ) -> dg.MaterializeResult:
        """Run `stage` for the context's partition; its materialization.

        `overrides` (`section.key=value`) are applied after the configuration's own.
        """
        cfg = pipeline_config.load()
        overrides = [*pipeline_config.overrides, *(overrides or [])]
        if self.mode == "in_process":
            return self._in_process(context, stage, cfg, mlflow, overrides)
        extras = {
            "stage": stage,
            "dataset": context.partition_key,
            "profile": cfg.profile,
            "overrides": overrides,
            "root": str(cfg.root),
            "tracking_uri": mlflow.tracking_uri or cfg.tracking_uri(),
            "experiment": mlflow.experiment or cfg.tracking.experiment,
        }
        if self.mode == "k8s" and stage in self._k8s().stages:
            return self._in_pod(context, stage, extras)
        command = stage_command(stage, self.accelerate, self.python)
        client = dg.PipesSubprocessClient(env={**os.environ, **self.env}, cwd=str(cfg.root))
        invocation = client.run(command=command, context=context, extras=extras)
        return invocation.get_materialize_result()

    def _k8s(self) -> K8sConfig:
        if self.k8s is None:
            raise ValueError("stage_launcher.mode is k8s but stage_launcher.k8s is not set")
        return self.k8s

    def _in_pod(
        self, context: dg.AssetExecutionContext, stage: str, extras: dict
    ) -> dg.MaterializeResult:
        """Run the stage's Pipes process in a pod (`launch.pod_spec`) and wait for it."""
        from dagster_k8s import PipesK8sClient

        k8s = self._k8s()
        check_tracking_uri(k8s)
        extras = {**extras, "root": k8s.workspace_path, "tracking_uri": k8s.tracking_uri}
        client = PipesK8sClient(
            load_incluster_config=k8s.load_incluster_config,
            kubeconfig_file=k8s.kubeconfig_file,
        )
        invocation = client.run(
            context=context,
            extras=extras,
            image=k8s.image,
            command=stage_command(stage, self.accelerate, python="python"),
            namespace=k8s.namespace,
            env={**pod_env(k8s), **self.env},
            base_pod_meta=pod_meta(stage, context.partition_key),
            base_pod_spec=pod_spec(k8s, stage, self.accelerate),
        )
        return invocation.get_materialize_result()

    def _in_process(
        self,
        context: dg.AssetExecutionContext,
        stage: str,
        resolved: Config,
        mlflow: MlflowResource,
        overrides: list[str],
    ) -> dg.MaterializeResult:
        """Run the stage function here, in an MLflow run of `mlflow`'s store, with the
        configuration `resolved` (its profile and root) under all `overrides`."""
        from motion_r1_core.stages import get_stage
        from pipelines.pipes_stage import ProgressTracker, stage_metadata

        cfg = load_config(resolved.profile, overrides, resolved.root)
        with mlflow.run(cfg, stage, context.partition_key) as tracker:
            echo = ProgressTracker(tracker, context.log, stage)
            result = get_stage(stage)(cfg, context.partition_key, echo, progress=False)
        return dg.MaterializeResult(metadata=stage_metadata(result, tracker.run_id))


class ChatEndpointResource(dg.ConfigurableResource):
    """The OpenAI-compatible chat endpoint of the CoT engine.

    With no `base_url` here or in `cot.client.base_url`, it starts the offline default for the
    duration of the step: SmolLM2-135M-Instruct behind llama-cpp-python's server on a free
    127.0.0.1 port (`cot.server` settings), stopped when the step ends. The API key is never a
    field: the stage reads it from the environment variable `cot.client.api_key_env` names.
    """

    base_url: str | None = Field(
        default=None,
        description="Endpoint root (e.g. https://api.deepseek.com/v1); None: "
        "cot.client.base_url, else the local SmolLM2 server.",
    )

    @contextmanager
    def endpoint(self, cfg: Config, log_path: Path) -> Iterator[str]:
        """Yield the base URL to use; a local server started here is stopped on exit."""
        from motion_r1_core.cot.server import chat_endpoint

        with chat_endpoint(cfg, log_path, self.base_url) as url:
            yield url


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
            "stage_launcher": StageLauncherResource(),
            "chat_endpoint": ChatEndpointResource(base_url=_from_env("MOTION_R1_LLM_BASE_URL")),
        }
    )
