"""A chat client for any OpenAI-compatible endpoint, with retries and a spending budget.

    client = ChatClient(cfg.cot.client)                  # base_url, model, key from an env var
    answer = client.complete(messages, Sampling(temperature=0.6, max_tokens=400))
    answer.text, answer.reasoning                        # reasoning_content, when the endpoint sends it

Retries (exponential backoff, `Retry-After` honoured, capped at `max_backoff`) cover what a
healthy server recovers from: 429, 5xx, timeouts, refused or dropped connections, and answers
that are not a chat completion. Any other 4xx is the caller's mistake and fails at once. Every
HTTP request counts against the budget, retries included (a provider bills what it served);
`BudgetExhausted` is raised *before* a request would exceed it, so a run stops cleanly.

The API key is read from the environment variable named in the config and handed to the
`openai` client only; it is never logged, stored or put in an error message.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import openai

from motion_r1_core.config import CoTClientConfig

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


class BudgetExhausted(RuntimeError):
    """The run's request or token budget is spent; nothing more will be sent."""


class LLMError(RuntimeError):
    """A request failed for good: a non-retryable status, or every retry failed."""


@dataclass(frozen=True)
class Sampling:
    """Sampling parameters of a request; part of the cache key of its answer."""

    temperature: float = 0.6
    top_p: float | None = None
    max_tokens: int = 512
    seed: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The parameters that are set (None ones are left to the server)."""
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class Completion:
    """One chat answer.

    Attributes:
        text: the message content.
        reasoning: `reasoning_content` (DeepSeek-R1 and other reasoners), else None.
        prompt_tokens, completion_tokens: usage as the server reported it (0 if it did not).
        finish_reason: "stop", "length", ...
        model: the model name the server answered with.
    """

    text: str
    reasoning: str | None
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None
    model: str


class Budget:
    """Thread-safe counters of requests and tokens against optional limits."""

    def __init__(self, max_requests: int | None = None, max_tokens: int | None = None) -> None:
        self.max_requests, self.max_tokens = max_requests, max_tokens
        self.requests = 0
        self.tokens = 0
        self._lock = threading.Lock()

    def take_request(self) -> None:
        """Count one request, or raise BudgetExhausted if it would exceed a limit."""
        with self._lock:
            if self.max_requests is not None and self.requests >= self.max_requests:
                raise BudgetExhausted(f"request budget of {self.max_requests} spent")
            if self.max_tokens is not None and self.tokens >= self.max_tokens:
                raise BudgetExhausted(f"token budget of {self.max_tokens} spent")
            self.requests += 1

    def add_tokens(self, n: int) -> None:
        """Count tokens an answer used."""
        with self._lock:
            self.tokens += n

    @property
    def exhausted(self) -> bool:
        """True when no further request may be sent."""
        with self._lock:
            return (self.max_requests is not None and self.requests >= self.max_requests) or (
                self.max_tokens is not None and self.tokens >= self.max_tokens
            )


class ChatClient:
    """`complete(messages, sampling)` against one endpoint and model, retried and budgeted."""

    def __init__(
        self,
        cfg: CoTClientConfig,
        base_url: str | None = None,
        budget: Budget | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        url = base_url or cfg.base_url
        if not url:
            raise ValueError("cot.client.base_url is not set and no local server was started")
        self.cfg, self.base_url = cfg, url
        self.budget = budget or Budget(cfg.max_requests, cfg.max_tokens_total)
        self._sleep = sleep
        # local servers accept any key; a hosted API answers 401 and the error says which
        # variable to set
        key = os.environ.get(cfg.api_key_env) or "no-key"
        self._client = openai.OpenAI(base_url=url, api_key=key, timeout=cfg.timeout, max_retries=0)

    def complete(self, messages: Sequence[dict[str, str]], sampling: Sampling) -> Completion:
        """One chat completion; retried on transient failures, raises LLMError or
        BudgetExhausted."""
        last, retry_after = "no attempt", None
        for attempt in range(self.cfg.max_retries + 1):
            if attempt:
                delay = self._delay(attempt, retry_after)
                log.info("retry %d/%d in %.1fs: %s", attempt, self.cfg.max_retries, delay, last)
                self._sleep(delay)
            self.budget.take_request()
            try:
                resp = self._client.chat.completions.create(
                    model=self.cfg.model, messages=list(messages), **sampling.as_dict()
                )
                return self._parse(resp)
            except openai.AuthenticationError as e:
                raise LLMError(
                    f"{self.base_url}: authentication refused (HTTP {e.status_code}); set "
                    f"${self.cfg.api_key_env}"
                ) from None
            except openai.APIStatusError as e:
                if e.status_code not in RETRY_STATUS:
                    raise LLMError(
                        f"{self.base_url}: HTTP {e.status_code}: {_short(e.message)}"
                    ) from None
                last = f"HTTP {e.status_code}"
                retry_after = _retry_after(e)
            except openai.APITimeoutError:
                last, retry_after = f"timed out after {self.cfg.timeout:g}s", None
            except openai.APIConnectionError as e:
                last, retry_after = f"connection failed ({_short(str(e.__cause__ or e))})", None
            except (_Malformed, openai.APIResponseValidationError, ValueError) as e:
                last, retry_after = f"malformed answer ({_short(str(e))})", None
        raise LLMError(
            f"{self.base_url}: gave up after {self.cfg.max_retries + 1} attempts: {last}"
        )

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        base = self.cfg.backoff * 2 ** (attempt - 1)
        if retry_after is not None:
            base = max(base, retry_after)
        return min(self.cfg.max_backoff, base) * (1 + 0.1 * random.random())

    def _parse(self, resp: Any) -> Completion:
        choices = getattr(resp, "choices", None)
        if not choices:
            raise _Malformed("no choices")
        msg = choices[0].message
        if msg is None or not isinstance(msg.content, str):
            raise _Malformed("no message content")
        usage = getattr(resp, "usage", None)
        prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion = int(getattr(usage, "completion_tokens", 0) or 0)
        self.budget.add_tokens(prompt + completion)
        extra = getattr(msg, "model_extra", None) or {}
        reasoning = getattr(msg, "reasoning_content", None) or extra.get("reasoning_content")
        return Completion(
            msg.content,
            reasoning if isinstance(reasoning, str) else None,
            prompt,
            completion,
            choices[0].finish_reason,
            str(getattr(resp, "model", "") or self.cfg.model),
        )


class _Malformed(ValueError):
    pass


def _retry_after(e: openai.APIStatusError) -> float | None:
    try:
        return float(e.response.headers.get("retry-after"))
    except (TypeError, ValueError, AttributeError):
        return None


def _short(text: str, n: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 3] + "..."
