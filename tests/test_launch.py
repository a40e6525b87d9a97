"""Where heavy stages run (`pipelines.launch`, the `stage_launcher` resource): the pod of the
Kubernetes mode as dagster-k8s builds it, the `accelerate launch` command as accelerate parses
it, the example run config of the k8s mode, and the in-process mode for real."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest
import yaml
from conftest import REPO

from pipelines.launch import (
    AccelerateConfig,
    K8sConfig,
    check_tracking_uri,
    pod_env,
    pod_meta,
    pod_spec,
    stage_command,
)

K8S = K8sConfig(tracking_uri="http://mlflow.mlops:5000", image="registry.example/motion-r1:1")


def _pod(stage: str, accelerate: AccelerateConfig):
    """The V1Pod dagster-k8s's Pipes client would create for `stage` (it validates the dict
    against the Kubernetes API model)."""
    from dagster_k8s.pipes import build_pod_body

    return build_pod_body(
        pod_name="motion-r1-test",
        image=K8S.image,
        command=stage_command(stage, accelerate, python="python"),
        env_vars={**pod_env(K8S), "DAGSTER_PIPES_CONTEXT": "x"},
        base_pod_meta=pod_meta(stage, "humanml3d"),
        base_pod_spec=pod_spec(K8S, stage, accelerate),
    )


def test_a_policy_stage_pod_gets_its_gpus_node_secrets_workspace_and_tracking_server() -> None:
    pod = _pod("sft_policy", AccelerateConfig(num_processes=4))
    [c] = pod.spec.containers
    assert c.image == "registry.example/motion-r1:1" and c.working_dir == "/workspace"
    assert c.command[:3] == ["python", "-m", "accelerate.commands.launch"]
    assert c.command[-2:] == ["-m", "pipelines.pipes_stage"]
    assert c.resources.limits == {"nvidia.com/gpu": "4", "cpu": "8", "memory": "64Gi"}
    assert c.resources.requests == {"cpu": "8", "memory": "64Gi"}
    assert pod.spec.node_selector == {"nvidia.com/gpu.present": "true"}
    assert [(t.key, t.effect) for t in pod.spec.tolerations] == [("nvidia.com/gpu", "NoSchedule")]
    assert pod.spec.restart_policy == "Never"
    env = {e.name: e.value for e in c.env}
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow.mlops:5000"
    assert env["MOTION_R1_ROOT"] == "/workspace"
    assert not any("KEY" in name or "PASSWORD" in name for name in env)  # secrets: envFrom only
    assert [f.secret_ref.name for f in c.env_from] == ["motion-r1-secrets"]
    mounts = {m.name: m.mount_path for m in c.volume_mounts}
    assert mounts == {"workspace": "/workspace", "dshm": "/dev/shm"}
    volumes = {v.name: v for v in pod.spec.volumes}
    assert volumes["workspace"].persistent_volume_claim.claim_name == "motion-r1-workspace"
    assert volumes["dshm"].empty_dir.medium == "Memory"
    assert pod.metadata.labels["motion-r1/stage"] == "sft_policy"
    assert pod.metadata.labels["motion-r1/dataset"] == "humanml3d"


def test_a_single_process_stage_pod_has_one_gpu_and_a_plain_command() -> None:
    pod = _pod("motion_vqvae", AccelerateConfig(num_processes=4))  # accelerate: policy only
    [c] = pod.spec.containers
    assert c.command == ["python", "-m", "pipelines.pipes_stage"]
    assert c.resources.limits["nvidia.com/gpu"] == "1"


def test_the_accelerate_command_is_what_accelerate_launch_parses() -> None:
    from accelerate.commands.launch import launch_command_parser

    acc = AccelerateConfig(num_processes=2)
    cmd = stage_command("grpo_policy", acc, python="python")
    args = launch_command_parser().parse_args(cmd[3:])
    assert (
        args.num_processes == 2 and args.module and args.training_script == "pipelines.pipes_stage"
    )
    config = yaml.safe_load((REPO / args.config_file).read_text())
    assert config["distributed_type"] == "DEEPSPEED"
    assert (REPO / config["deepspeed_config"]["deepspeed_config_file"]).is_file()
    assert stage_command("grpo_policy", AccelerateConfig(), python="p") == [
        "p",
        "-m",
        "pipelines.pipes_stage",
    ]


def test_a_pod_refuses_a_tracking_store_it_cannot_share() -> None:
    check_tracking_uri(K8S)
    for uri in ("sqlite:///mlflow/mlruns.db", "file:///tmp/mlruns", "mlruns"):
        with pytest.raises(ValueError, match=r"stage_launcher\.k8s\.tracking_uri"):
            check_tracking_uri(K8S.model_copy(update={"tracking_uri": uri}))


def test_the_k8s_run_config_of_the_readme_is_valid_for_every_job() -> None:
    from pipelines.definitions import defs

    run_config = yaml.safe_load((REPO / "configs" / "dagster" / "k8s.yaml").read_text())
    launcher = run_config["resources"]["stage_launcher"]["config"]
    assert launcher["mode"] == "k8s" and launcher["k8s"]["tracking_uri"].startswith("http")
    d = defs()
    for job in ("pipeline_job", "ablation_job", "policy_job"):
        dg.validate_run_config(d.resolve_job_def(job), run_config)


def test_in_process_mode_runs_the_stage_in_the_asset_process(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient
    from test_pipelines_tokenizer import materialize_on_smoke

    from pipelines.defs.data.assets import raw_motions
    from pipelines.defs.resources import StageLauncherResource
    from pipelines.defs.tokenizer.assets import motion_vqvae

    overrides = ["data.procedural.motions=40", "vqvae.train.iterations=10"]
    root, uri, result, messages = materialize_on_smoke(
        tmp_path, overrides, [raw_motions, motion_vqvae], StageLauncherResource(mode="in_process")
    )
    assert result.success
    assert not any(m.startswith("[pipes]") for m in messages)  # no Pipes process was opened
    assert any(m.startswith("motion_vqvae step 10:") for m in messages)  # progress in the log
    [mat] = [
        e.materialization
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey("motion_vqvae")
    ]
    meta = {k: v.value for k, v in mat.metadata.items()}
    on_disk = json.loads((root / "artifacts/procedural/vqvae/metrics.json").read_text())
    assert meta["train_steps"] == 10 and meta["test_mpjpe_mm"] == on_disk["test_mpjpe_mm"]
    run = MlflowClient(tracking_uri=uri).get_run(meta["mlflow_run_id"])
    assert run.info.status == "FINISHED" and run.data.tags["stage"] == "motion_vqvae"
