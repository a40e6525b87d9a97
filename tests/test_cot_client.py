"""The chat client against a local server that fails on purpose: retries, budget, errors."""

from __future__ import annotations

import socket

import pytest
from misbehaving_server import Script, misbehaving_server

from motion_r1_core.config import CoTClientConfig
from motion_r1_core.cot.client import Budget, BudgetExhausted, ChatClient, LLMError, Sampling

MESSAGES = [{"role": "user", "content": "a person walks forward"}]


def _client(url: str, sleeps: list[float], **cfg) -> ChatClient:
    return ChatClient(
        CoTClientConfig(backoff=0.5, max_backoff=8.0, **cfg), base_url=url, sleep=sleeps.append
    )


def test_answer_usage_reasoning_and_the_key_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MY_LLM_KEY", "sk-secret-123")
    script = Script(actions=[("ok", "1. walk forward\nPlan: walk")])
    with misbehaving_server(script) as url:
        client = _client(url, [], api_key_env="MY_LLM_KEY", model="deepseek-reasoner")
        a = client.complete(MESSAGES, Sampling(temperature=0.3, max_tokens=64, seed=7))
    assert a.text == "1. walk forward\nPlan: walk" and a.reasoning.startswith("thinking about")
    assert (a.prompt_tokens, a.completion_tokens, a.finish_reason) == (11, 7, "stop")
    sent = script.requests[0]
    assert sent["model"] == "deepseek-reasoner" and sent["messages"] == MESSAGES
    assert (sent["temperature"], sent["max_tokens"], sent["seed"]) == (0.3, 64, 7)
    assert "top_p" not in sent  # unset parameters are left to the server
    assert script.auth == ["Bearer sk-secret-123"]
    assert client.budget.requests == 1 and client.budget.tokens == 18


def test_5xx_and_429_are_retried_with_backoff_and_retry_after() -> None:
    script = Script(actions=[("status", 500), ("status", 503), ("retry_after", 3), ("ok", "done")])
    sleeps: list[float] = []
    with misbehaving_server(script) as url:
        a = _client(url, sleeps).complete(MESSAGES, Sampling())
    assert a.text == "done" and len(script.requests) == 4
    # 0.5, 1.0, then max(2.0, Retry-After 3) -- each with up to 10% jitter
    for got, want in zip(sleeps, [0.5, 1.0, 3.0], strict=True):
        assert want <= got <= want * 1.1


def test_gives_up_after_max_retries_and_names_the_last_failure() -> None:
    script = Script(default=("status", 502))
    sleeps: list[float] = []
    with (
        misbehaving_server(script) as url,
        pytest.raises(LLMError, match="gave up after 3 attempts: HTTP 502"),
    ):
        _client(url, sleeps, max_retries=2).complete(MESSAGES, Sampling())
    assert len(script.requests) == 3 and len(sleeps) == 2


def test_client_errors_fail_at_once_and_never_show_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MY_LLM_KEY", "sk-secret-123")
    script = Script(actions=[("status", 400), ("status", 401)])
    with misbehaving_server(script) as url:
        client = _client(url, [], api_key_env="MY_LLM_KEY")
        with pytest.raises(LLMError, match="HTTP 400") as bad:
            client.complete(MESSAGES, Sampling())
        with pytest.raises(LLMError, match=r"set \$MY_LLM_KEY") as auth:
            client.complete(MESSAGES, Sampling())
    assert len(script.requests) == 2  # no retries
    assert "sk-secret" not in str(bad.value) + str(auth.value)


def test_timeouts_malformed_answers_and_dropped_connections_are_retried() -> None:
    script = Script(
        actions=[
            ("sleep", 2.0),
            ("garbage", "this is not json"),
            ("garbage", '{"choices": []}'),
            ("drop", None),
            ("ok", "finally"),
        ]
    )
    with misbehaving_server(script) as url:
        a = _client(url, [], timeout=0.5, max_retries=4).complete(MESSAGES, Sampling())
    assert a.text == "finally" and len(script.requests) == 5


def test_refused_connection_is_a_clear_error() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    with pytest.raises(LLMError, match="connection failed"):
        _client(url, [], max_retries=1).complete(MESSAGES, Sampling())


def test_budget_stops_before_the_limit_is_crossed() -> None:
    script = Script(default=("ok", "fine"))
    with misbehaving_server(script) as url:
        client = _client(url, [], max_requests=2)
        client.complete(MESSAGES, Sampling())
        client.complete(MESSAGES, Sampling())
        assert client.budget.exhausted
        with pytest.raises(BudgetExhausted, match="request budget of 2"):
            client.complete(MESSAGES, Sampling())
        tokens = _client(url, [], max_tokens_total=30)
        tokens.complete(MESSAGES, Sampling())  # 18 tokens
        tokens.complete(MESSAGES, Sampling())  # 36: over, but already answered
        with pytest.raises(BudgetExhausted, match="token budget of 30"):
            tokens.complete(MESSAGES, Sampling())
    assert len(script.requests) == 4
    # retries count: a failing server spends the budget too
    b = Budget(max_requests=1)
    b.take_request()
    with pytest.raises(BudgetExhausted):
        b.take_request()


def test_no_endpoint_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"cot\.client\.base_url"):
        ChatClient(CoTClientConfig())


def test_cache_never_pays_twice_across_threads_and_processes(tmp_path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from motion_r1_core.cot.cache import AnswerCache, CachedClient, answer_key

    script = Script(default=("ok", "1. walk\nPlan: walk"))
    db = tmp_path / "answers.sqlite"
    questions = [[{"role": "user", "content": f"caption {i % 5}"}] for i in range(20)]
    with misbehaving_server(script) as url:
        cached = CachedClient(_client(url, []), AnswerCache(db))
        with ThreadPoolExecutor(4) as pool:
            out = list(pool.map(lambda m: cached.complete(m, Sampling(), "v1"), questions))
        assert len(script.requests) == 5  # 5 distinct questions, 20 asks
        assert (cached.misses, cached.hits) == (5, 15)
        assert all(a.text == "1. walk\nPlan: walk" for a, _ in out)
        cached.cache.close()
        # a new process (here: a new cache object on the same file) pays for nothing it has
        again = CachedClient(_client(url, []), AnswerCache(db))
        a, hit = again.complete(questions[0], Sampling(), "v1")
        assert hit and a.reasoning.startswith("thinking") and len(script.requests) == 5
        # another prompt version, model or sampling is another question
        again.complete(questions[0], Sampling(), "v2")
        again.complete(questions[0], Sampling(temperature=0.9), "v1")
        # and so is a second draw of the same question
        _, hit = again.complete(questions[0], Sampling(), "v1", sample=1)
        assert not hit and len(script.requests) == 8 and len(again.cache) == 8
    k = answer_key("m", "v1", questions[0], Sampling())
    assert k != answer_key("other", "v1", questions[0], Sampling())
    bad = tmp_path / "not.sqlite"
    bad.write_bytes(b"garbage" * 100)
    with pytest.raises(ValueError, match="not a usable answer cache"):
        AnswerCache(bad)
