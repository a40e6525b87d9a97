"""The docker-compose stack without docker: the same services, started from the same files
(configs/dagster/dagster.yaml, workspace.yaml, mlflow/server.sh), as processes on 127.0.0.1
against a local PostgreSQL (scripts/test-postgres.sh), for tests/test_stack.py."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from motion_r1_core.cot.server import free_port

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
POSTGRES_ENV = "MOTION_R1_TEST_POSTGRES"


def postgres_url() -> str | None:
    """The test server's `postgresql://user:password@127.0.0.1:port` (scripts/test-postgres.sh)."""
    return os.environ.get(POSTGRES_ENV) or None


@contextmanager
def database(server: str, prefix: str) -> Iterator[str]:
    """A new, empty database on `server` for the duration of the block: its URL."""
    import psycopg2

    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = psycopg2.connect(f"{server}/postgres")
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        yield f"{server}/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def wait_until(
    ready: Callable[[], bool], what: str, proc: subprocess.Popen, log: Path, timeout: float = 120.0
) -> None:
    """Poll `ready` until true; fail with the log's tail if `proc` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        if ready():
            return
        time.sleep(0.5)
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def http_ok(url: str) -> Callable[[], bool]:
    """A readiness probe: `url` answers 200."""

    def probe() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.status == 200
        except (OSError, urllib.error.URLError):
            return False

    return probe


@contextmanager
def service(
    argv: list[str], env: dict[str, str], log: Path, cwd: Path
) -> Iterator[subprocess.Popen]:
    """Run `argv` in its own process group, output to `log`; the group is stopped on exit."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield proc
        finally:
            for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
                if proc.poll() is not None:
                    break
                os.killpg(proc.pid, sig)
                try:
                    proc.wait(wait)
                except subprocess.TimeoutExpired:
                    continue
            with suppress(ProcessLookupError):  # what the leader left (run workers, Pipes)
                os.killpg(proc.pid, signal.SIGKILL)


@dataclass(frozen=True)
class Stack:
    """The running services: where they listen and what they read."""

    root: Path  # the project root of the stages (the compose `workspace` volume)
    dagster_home: Path
    webserver: str  # http://127.0.0.1:port
    mlflow: str  # http://127.0.0.1:port, the tracking URI the stages log to
    dagster_db: str  # postgresql://... of the Dagster instance
    mlflow_db: str  # postgresql://... of MLflow's backend store
    logs: Path
    env: dict[str, str]  # the environment of the Dagster services


@contextmanager
def start_stack(server: str, work: Path, root: Path, profile: str = "smoke") -> Iterator[Stack]:
    """Start MLflow, the Dagster code server, webserver and daemon as docker-compose.yml
    does, with the deployment's files, on `server` (a PostgreSQL URL without a database)."""
    pg = urlsplit(server)
    logs = work / "logs"
    logs.mkdir(parents=True)
    home = work / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "configs" / "dagster" / "dagster.yaml", home / "dagster.yaml")
    mport, cport, wport = free_port(), free_port(), free_port()
    workspace = yaml.safe_load((REPO / "configs" / "dagster" / "workspace.yaml").read_text())
    [location] = workspace["load_from"]
    location["grpc_server"].update(host="127.0.0.1", port=cport)  # `code:4000` in compose
    (home / "workspace.yaml").write_text(yaml.safe_dump(workspace))

    with ExitStack() as stack:
        dagster_db = stack.enter_context(database(server, "dagster"))
        mlflow_db = stack.enter_context(database(server, "mlflow"))
        base = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        mlflow_env = {
            **base,
            "POSTGRES_USER": pg.username or "",
            "POSTGRES_PASSWORD": pg.password or "",
            "POSTGRES_HOST": "127.0.0.1",
            "POSTGRES_PORT": str(pg.port),
            "MLFLOW_DB": urlsplit(mlflow_db).path.lstrip("/"),
            "MLFLOW_ARTIFACTS_DESTINATION": str(work / "mlartifacts"),
            "MLFLOW_HOST": "127.0.0.1",
            "MLFLOW_PORT": str(mport),
            "MLFLOW_WORKERS": "1",
        }
        log = logs / "mlflow.log"
        proc = stack.enter_context(
            service(["sh", str(REPO / "mlflow" / "server.sh")], mlflow_env, log, work)
        )
        mlflow = f"http://127.0.0.1:{mport}"
        wait_until(http_ok(f"{mlflow}/health"), "mlflow server", proc, log)

        env = {
            **base,
            "DAGSTER_HOME": str(home),
            "DAGSTER_POSTGRES_HOST": "127.0.0.1",
            "DAGSTER_POSTGRES_PORT": str(pg.port),
            "DAGSTER_POSTGRES_USER": pg.username or "",
            "DAGSTER_POSTGRES_PASSWORD": pg.password or "",
            "DAGSTER_POSTGRES_DB": urlsplit(dagster_db).path.lstrip("/"),
            "MLFLOW_TRACKING_URI": mlflow,
            "MOTION_R1_PROFILE": profile,
            "MOTION_R1_ROOT": str(root),
        }
        env.pop("MOTION_R1_LLM_BASE_URL", None)
        log = logs / "code-server.log"
        code = [
            str(BIN / "dagster"),
            "code-server",
            "start",
            "-h",
            "127.0.0.1",
            "-p",
            str(cport),
            "-m",
            "pipelines.definitions",
        ]
        proc = stack.enter_context(service(code, env, log, REPO))
        health = [str(BIN / "dagster"), "api", "grpc-health-check", "-p", str(cport)]
        wait_until(
            lambda: subprocess.run(health, env=env, capture_output=True).returncode == 0,
            "dagster code server",
            proc,
            log,
            timeout=180,
        )

        workspace_file = str(home / "workspace.yaml")
        log = logs / "webserver.log"
        web = [
            str(BIN / "dagster-webserver"),
            "-h",
            "127.0.0.1",
            "-p",
            str(wport),
            "-w",
            workspace_file,
        ]
        proc = stack.enter_context(service(web, env, log, home))
        webserver = f"http://127.0.0.1:{wport}"
        wait_until(http_ok(f"{webserver}/server_info"), "dagster webserver", proc, log)

        log = logs / "daemon.log"
        daemon = [str(BIN / "dagster-daemon"), "run", "-w", workspace_file]
        stack.enter_context(service(daemon, env, log, home))
        yield Stack(root, home, webserver, mlflow, dagster_db, mlflow_db, logs, env)
