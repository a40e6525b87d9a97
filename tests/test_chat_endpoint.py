"""`chat_endpoint`: a given URL, else the configured one, else the local server for the block."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from motion_r1_core.config import load_config
from motion_r1_core.cot import server


def test_a_given_or_configured_url_starts_nothing(project_root: Path, monkeypatch) -> None:
    def no_server(*args, **kwargs):
        raise AssertionError("no local server may start")

    monkeypatch.setattr(server, "local_chat_server", no_server)
    cfg = load_config("smoke", ["cot.client.base_url=http://configured/v1"])
    log = project_root / "server.log"
    with server.chat_endpoint(cfg, log) as url:
        assert url == "http://configured/v1"
    with server.chat_endpoint(cfg, log, base_url="http://given/v1") as url:
        assert url == "http://given/v1"


def test_no_url_runs_the_local_server_for_the_block(project_root: Path, monkeypatch) -> None:
    calls: list[tuple] = []

    @contextmanager
    def fake(cfg, alias, log_path) -> Iterator[str]:
        calls.append((cfg, alias, log_path, "start"))
        yield "http://127.0.0.1:1/v1"
        calls.append("stop")

    monkeypatch.setattr(server, "local_chat_server", fake)
    cfg = load_config("smoke")
    log = project_root / "server.log"
    with server.chat_endpoint(cfg, log) as url:
        assert url == "http://127.0.0.1:1/v1" and len(calls) == 1
    assert calls == [(cfg.cot.server, cfg.cot.client.model, log, "start"), "stop"]
