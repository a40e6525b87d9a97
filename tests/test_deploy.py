"""The docker-compose deployment, read as YAML: its services, health checks, volumes and
secrets; every command a service runs exists in the project's environment with the options
given; the Dagster instance config loads onto PostgreSQL storage; `docker compose config`
where a docker client exists."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
PROJECT_IMAGE = "motion-r1:latest"
IN_IMAGE = {  # files the Dockerfile copies, by their path in the image
    "/opt/motion-r1/mlflow/server.sh": REPO / "mlflow" / "server.sh",
    "/opt/dagster/home/workspace.yaml": REPO / "configs" / "dagster" / "workspace.yaml",
}
SECRET = re.compile(r"PASSWORD|SECRET|API_KEY|ACCESS_KEY", re.IGNORECASE)


def _click_command(argv: list[str]) -> tuple[click.Command, list[str]]:
    """The click command a console script runs for `argv` and the arguments left for it."""
    eps = entry_points(group="console_scripts", name=argv[0])  # mlflow: two dists, one target
    assert len({e.value for e in eps}) == 1, f"{argv[0]} is not one installed console script"
    ep = next(iter(eps))
    cmd, rest = ep.load(), argv[1:]
    if not isinstance(cmd, click.Command):  # a main() that calls the module's click `cli`
        cmd = importlib.import_module(ep.module).cli
    while isinstance(cmd, click.Group) and rest and not rest[0].startswith("-"):
        sub = cmd.get_command(click.Context(cmd), rest[0])
        assert sub is not None, f"{argv[0]} has no subcommand {rest[0]!r}"
        cmd, rest = sub, rest[1:]
    return cmd, rest


def _assert_runs(argv: list[str]) -> None:
    """`argv` names an installed console script, its subcommands and options that exist."""
    cmd, rest = _click_command(argv)
    known = {opt for p in cmd.params for opt in (*p.opts, *p.secondary_opts)}
    for arg in rest:
        if arg.startswith("-"):
            assert arg in known, f"{' '.join(argv)}: {arg} is not an option of {cmd.name}"


def test_the_stack_has_its_services_each_with_a_health_check() -> None:
    assert set(SERVICES) == {"postgres", "mlflow", "code", "webserver", "daemon"}
    for name, service in SERVICES.items():
        assert service.get("healthcheck", {}).get("test"), name
        if name != "postgres":  # everything else waits for a healthy database
            assert service["depends_on"]["postgres"]["condition"] == "service_healthy", name
            assert service["image"] == PROJECT_IMAGE and service["build"]["context"] == "."
    assert SERVICES["webserver"]["depends_on"]["code"]["condition"] == "service_healthy"
    for service in SERVICES.values():  # the UIs listen on this host only
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), port


def test_named_volumes_are_declared_and_used() -> None:
    used = {
        v.split(":")[0]
        for s in SERVICES.values()
        for v in s.get("volumes", [])
        if not v.startswith(("./", "/"))
    }
    assert used == set(COMPOSE["volumes"]) == {"pgdata", "mlartifacts", "workspace"}
    for s in SERVICES.values():  # bind mounts point at files of the repository
        for v in s.get("volumes", []):
            if v.startswith("./"):
                assert (REPO / v.split(":")[0]).is_file(), v


def test_no_secret_is_written_in_the_compose_files() -> None:
    env_example = (REPO / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z_0-9]+)=", env_example, re.MULTILINE))
    for name, service in SERVICES.items():
        env: dict[str, Any] = service.get("environment", {})
        for key, value in env.items():
            if SECRET.search(key):
                assert str(value).startswith("${"), f"{name}: {key} is written in the file"
    for path in ("docker-compose.yml", "docker-compose.gpu.yml"):
        text = (REPO / path).read_text()
        for var in set(re.findall(r"\$\{([A-Z_0-9]+)", text)):
            assert var in documented, f"{path} reads {var}, which .env.example does not name"
    for line in env_example.splitlines():  # the template leaves every secret empty
        if (m := re.match(r"^([A-Z_0-9]+)=(.*)$", line)) and SECRET.search(m.group(1)):
            assert m.group(2) == "", m.group(1)
    assert ".env" in (REPO / ".dockerignore").read_text().split()
    assert "/.env" in (REPO / ".gitignore").read_text().split()


def test_every_command_exists_in_the_image_with_its_options() -> None:
    for name, service in SERVICES.items():
        if service.get("image") != PROJECT_IMAGE:
            continue
        commands = [service["command"], service["healthcheck"]["test"][1:]]
        for argv in commands:
            if argv[0] == "sh":  # a script of the repository, run by the shell
                script = IN_IMAGE[argv[1]]
                assert "exec mlflow server" in script.read_text(), name
                flags = re.findall(r"^\s+(--[a-z-]+)", script.read_text(), re.MULTILINE)
                _assert_runs(["mlflow", "server", *flags])
            elif argv[0] != "python":
                _assert_runs(argv)
    code = SERVICES["code"]["command"]
    workspace = yaml.safe_load((REPO / "configs" / "dagster" / "workspace.yaml").read_text())
    [grpc] = [loc["grpc_server"] for loc in workspace["load_from"]]
    assert grpc["host"] == "code" and str(grpc["port"]) == code[code.index("-p") + 1]
    assert code[code.index("-m") + 1] == "pipelines.definitions"
    dockerfile = (REPO / "Dockerfile").read_text()
    for src in re.findall(r"^COPY (.+) \S+$", dockerfile, re.MULTILINE):
        for path in src.split():
            assert (REPO / path).exists(), f"the Dockerfile copies {path}, which is missing"


def test_the_gpu_override_reserves_gpus_for_the_code_server_only() -> None:
    gpu = yaml.safe_load((REPO / "docker-compose.gpu.yml").read_text())["services"]
    assert set(gpu) == {"code"}
    [device] = gpu["code"]["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]


def test_the_dagster_instance_stores_runs_in_postgres(monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster._core.instance.ref import InstanceRef

    for var in ("HOST", "USER", "PASSWORD", "DB"):
        monkeypatch.setenv(f"DAGSTER_POSTGRES_{var}", var.lower())
    monkeypatch.setenv("DAGSTER_POSTGRES_PORT", "5432")
    ref = InstanceRef.from_dir(str(REPO / "configs" / "dagster"))
    for data in (ref.run_storage_data, ref.event_storage_data, ref.schedule_storage_data):
        assert data.module_name == "dagster_postgres", data
        getattr(importlib.import_module(data.module_name), data.class_name)  # installed
    assert ref.run_coordinator_data.class_name == "QueuedRunCoordinator"
    env = SERVICES["code"]["environment"]
    assert {f"DAGSTER_POSTGRES_{v}" for v in ("HOST", "PORT", "USER", "PASSWORD", "DB")} <= set(env)


def _has_compose() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _has_compose(), reason="no docker client with the compose plugin here")
def test_docker_compose_accepts_the_files(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("POSTGRES_USER=u\nPOSTGRES_PASSWORD=p\n")
    for files in (["docker-compose.yml"], ["docker-compose.yml", "docker-compose.gpu.yml"]):
        args = [a for f in files for a in ("-f", str(REPO / f))]
        proc = subprocess.run(
            ["docker", "compose", *args, "--env-file", str(env), "config", "--quiet"],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr
