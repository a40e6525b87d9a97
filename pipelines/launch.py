"""Where a heavy stage runs: the settings of the `stage_launcher` resource and what they build.

Three modes (`StageLauncherResource.mode`):

    in_process   the stage runs in the asset's own process (debugging; no Pipes)
    subprocess   a Pipes child process on the same machine (the default)
    k8s          a Kubernetes pod per stage run through dagster-k8s's PipesK8sClient: GPU limits,
                 node selector, tolerations, the project image, env from Secrets, the project
                 root on a PersistentVolumeClaim, MLflow's tracking server instead of sqlite

and, for the policy stages, several GPUs through `accelerate launch` (`AccelerateConfig`).
This module only builds commands and pod specs (plain dicts in the Kubernetes API's field
names); `pipelines.defs.resources` runs them.
"""

from __future__ import annotations

import sys
from typing import Any

import dagster as dg
from pydantic import Field

GPU_STAGES = ["motion_vqvae", "motion_tokens", "text_motion_encoders", "sft_policy", "grpo_policy"]
PIPES_MODULE = "pipelines.pipes_stage"


class AccelerateConfig(dg.Config):
    """Data-parallel training of the policy stages (TRL trainers) through `accelerate launch`."""

    num_processes: int = Field(
        1, ge=1, description="Processes, one per GPU, of each run of `stages`; 1: plain python."
    )
    config_file: str = Field(
        "configs/accelerate/zero2.yaml",
        description="accelerate's config (relative to the project root): DeepSpeed ZeRO-2; "
        "set policy.sft.deepspeed / policy.grpo.deepspeed to its JSON as configs/paper.yaml does.",
    )
    stages: list[str] = Field(
        default_factory=lambda: ["sft_policy", "grpo_policy"],
        description="Stages launched with accelerate; the others run as one process.",
    )

    def applies(self, stage: str) -> bool:
        """Whether `stage` runs as `num_processes` processes."""
        return self.num_processes > 1 and stage in self.stages


class K8sConfig(dg.Config):
    """A Kubernetes pod per run of a GPU stage (mode `k8s`)."""

    image: str = Field("motion-r1:latest", description="The project image (Dockerfile).")
    namespace: str = Field("default", description="Namespace of the pods.")
    tracking_uri: str = Field(
        description="MLflow tracking server the pod logs to, e.g. http://mlflow.mlops:5000 "
        "(a local sqlite path would stay inside the pod)."
    )
    stages: list[str] = Field(
        default_factory=lambda: list(GPU_STAGES),
        description="Stages that run in pods; the others (raw data, CoT, report, registry) "
        "run in the orchestrator's process.",
    )
    gpus: int = Field(
        1,
        ge=0,
        description="nvidia.com/gpu limit of a pod (at least the "
        "accelerate processes of a stage launched with accelerate).",
    )
    cpu: str | None = Field("8", description="CPU request and limit of a pod.")
    memory: str | None = Field("64Gi", description="Memory request and limit of a pod.")
    node_selector: dict[str, str] = Field(
        default_factory=lambda: {"nvidia.com/gpu.present": "true"},
        description="Node labels a pod needs (GPU nodes).",
    )
    tolerations: list[dict[str, str]] = Field(
        default_factory=lambda: [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        ],
        description="Taints of the GPU nodes a pod tolerates.",
    )
    env_secrets: list[str] = Field(
        default_factory=lambda: ["motion-r1-secrets"],
        description="Secrets whose keys become environment variables (the CoT endpoint's key, "
        "AWS_* for S3/MinIO artifacts): never written in the pod spec.",
    )
    workspace_claim: str = Field(
        "motion-r1-workspace",
        description="PersistentVolumeClaim holding the project root (params.yaml, configs/, "
        "data/, artifacts/), mounted ReadWriteMany by the orchestrator and the pods.",
    )
    workspace_path: str = Field("/workspace", description="Where the claim is mounted.")
    shm_size: str | None = Field(
        "16Gi", description="A memory-backed /dev/shm (DataLoader workers, NCCL); None: none."
    )
    service_account: str | None = Field(None, description="ServiceAccount of the pods.")
    load_incluster_config: bool | None = Field(
        None, description="True inside the cluster, False with a kubeconfig; None: detect."
    )
    kubeconfig_file: str | None = Field(None, description="kubeconfig outside the cluster.")


def stage_command(stage: str, accelerate: AccelerateConfig, python: str | None = None) -> list[str]:
    """The command of the Pipes process of `stage`: `python -m pipelines.pipes_stage`, or under
    `accelerate launch` with `num_processes` processes where `accelerate` applies."""
    python = python or sys.executable
    if not accelerate.applies(stage):
        return [python, "-m", PIPES_MODULE]
    launch = [python, "-m", "accelerate.commands.launch", "--config_file", accelerate.config_file]
    return [*launch, "--num_processes", str(accelerate.num_processes), "-m", PIPES_MODULE]


def check_tracking_uri(k8s: K8sConfig) -> None:
    """Refuse a tracking URI a pod cannot share (a local file or sqlite store)."""
    if not k8s.tracking_uri.startswith(("http://", "https://", "databricks")):
        raise ValueError(
            f"stage_launcher.k8s.tracking_uri = {k8s.tracking_uri!r}: a pod logs to MLflow "
            "through the tracking server (http://...), not a local file or sqlite store"
        )


def pod_spec(k8s: K8sConfig, stage: str, accelerate: AccelerateConfig) -> dict[str, Any]:
    """The `base_pod_spec` of a pod running `stage` (Kubernetes API field names)."""
    gpus = max(k8s.gpus, accelerate.num_processes if accelerate.applies(stage) else 0)
    resources: dict[str, dict[str, str]] = {"limits": {}, "requests": {}}
    if gpus:
        resources["limits"]["nvidia.com/gpu"] = str(gpus)
    for name, value in (("cpu", k8s.cpu), ("memory", k8s.memory)):
        if value:
            resources["limits"][name] = resources["requests"][name] = value
    mounts = [{"name": "workspace", "mountPath": k8s.workspace_path}]
    volumes: list[dict[str, Any]] = [
        {"name": "workspace", "persistentVolumeClaim": {"claimName": k8s.workspace_claim}}
    ]
    if k8s.shm_size:
        mounts.append({"name": "dshm", "mountPath": "/dev/shm"})
        volumes.append(
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": k8s.shm_size}}
        )
    container = {
        "name": "stage",
        "image": k8s.image,
        "workingDir": k8s.workspace_path,
        "resources": resources,
        "volumeMounts": mounts,
        "envFrom": [{"secretRef": {"name": s}} for s in k8s.env_secrets],
    }
    spec: dict[str, Any] = {
        "containers": [container],
        "volumes": volumes,
        "nodeSelector": dict(k8s.node_selector),
        "tolerations": [dict(t) for t in k8s.tolerations],
        "restartPolicy": "Never",
    }
    if k8s.service_account:
        spec["serviceAccountName"] = k8s.service_account
    return spec


def pod_meta(stage: str, dataset: str) -> dict[str, Any]:
    """The `base_pod_meta` of a stage's pod: labels to find it by (kubectl get pods -l ...)."""
    return {
        "labels": {
            "app.kubernetes.io/name": "motion-r1",
            "motion-r1/stage": stage,
            "motion-r1/dataset": dataset,
        }
    }


def pod_env(k8s: K8sConfig) -> dict[str, str]:
    """Plain environment of a stage's pod (secrets come from `env_secrets`)."""
    return {
        "MOTION_R1_ROOT": k8s.workspace_path,
        "MLFLOW_TRACKING_URI": k8s.tracking_uri,
        "PYTHONUNBUFFERED": "1",
    }
