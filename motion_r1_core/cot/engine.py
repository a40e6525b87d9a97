"""Decompose captions into verified chains: generate -> parse -> check -> judge -> regenerate.

For each caption, up to `attempts` times:
    1. ask for a decomposition (the versioned prompt; after a rejection, the rejected answer
       and the reasons are added to the conversation);
    2. parse it strictly (a format error, or an answer cut off at max_tokens, rejects the
       attempt);
    3. run the deterministic checks (step count, duplicates, lengths, body part or movement in
       every step, sides and directions of the caption kept);
    4. ask the judge for relevance, logic and conciseness (1..5); any score below `min_score`
       rejects the attempt, with the judge's feedback as the reason.
Each attempt is a fresh draw (its own cache entry), even when its messages repeat an earlier
attempt's; the judge's verdict on a chain it has already seen is reused.
The first attempt that passes is accepted; after `attempts` failures the caption is recorded as
rejected with every reason. Every request goes through the answer cache, so a rerun (or a run
after a crash) replays finished captions without a single paid call and resumes the others.
A spent budget stops the run cleanly: captions not finished are `unanswered`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from motion_r1_core.cot.cache import CachedClient
from motion_r1_core.cot.checks import ChainLimits, check_chain
from motion_r1_core.cot.client import BudgetExhausted, LLMError, Sampling
from motion_r1_core.cot.prompts import (
    JUDGE_VERSION,
    PROMPT_VERSION,
    Chain,
    ParseError,
    Verdict,
    decompose_messages,
    judge_messages,
    parse_chain,
    parse_verdict,
)


@dataclass(frozen=True)
class EngineSettings:
    """How hard the engine tries and what it accepts."""

    attempts: int = 3
    min_score: int = 3
    judge: bool = True
    sampling: Sampling = field(default_factory=lambda: Sampling(temperature=0.6, max_tokens=400))
    judge_sampling: Sampling = field(
        default_factory=lambda: Sampling(temperature=0.0, max_tokens=200)
    )
    limits: ChainLimits = field(default_factory=ChainLimits)


@dataclass
class Attempt:
    """One generation and what became of it."""

    number: int
    answer: str
    reasoning: str | None
    cached: bool
    chain: Chain | None = None
    verdict: Verdict | None = None
    reasons: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        """True if the chain parsed, passed the checks and satisfied the judge."""
        return self.chain is not None and not self.reasons


@dataclass
class CaptionResult:
    """The outcome for one caption: accepted (with its chain), rejected or unanswered."""

    id: str
    caption: str
    status: str  # accepted | rejected | unanswered | failed
    attempts: list[Attempt] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def chain(self) -> Chain | None:
        """The accepted chain, if any."""
        return self.attempts[-1].chain if self.status == "accepted" else None

    def log_record(self) -> dict[str, Any]:
        """A JSON-able record for the verification log."""
        return {
            "id": self.id,
            "caption": self.caption,
            "status": self.status,
            "error": self.error,
            "seconds": self.seconds,
            "prompt_version": PROMPT_VERSION,
            "judge_version": JUDGE_VERSION,
            "attempts": [
                {
                    **{k: v for k, v in asdict(a).items() if k not in ("chain", "verdict")},
                    "chain": asdict(a.chain) if a.chain else None,
                    "verdict": asdict(a.verdict) if a.verdict else None,
                    "accepted": a.accepted,
                }
                for a in self.attempts
            ],
        }


def decompose_caption(
    client: CachedClient, caption_id: str, caption: str, settings: EngineSettings
) -> CaptionResult:
    """Run the generate/verify loop for one caption (see the module docstring)."""
    t0 = time.perf_counter()
    result = CaptionResult(caption_id, caption, "rejected")
    feedback: str | None = None
    previous: str | None = None
    try:
        for number in range(1, settings.attempts + 1):
            steps = (settings.limits.min_steps, settings.limits.max_steps)
            msgs = decompose_messages(caption, feedback, previous, steps)
            answer, cached = client.complete(
                msgs, settings.sampling, PROMPT_VERSION, sample=number - 1
            )
            att = Attempt(number, answer.text, answer.reasoning, cached)
            result.attempts.append(att)
            try:
                if answer.finish_reason == "length":
                    raise ParseError(f"answer cut off at {settings.sampling.max_tokens} tokens")
                att.chain = parse_chain(answer.text)
            except ParseError as e:
                att.reasons.append(f"format: {e}")
            else:
                att.reasons += check_chain(caption, att.chain, settings.limits)
                if not att.reasons and settings.judge:
                    _judge(client, caption, att, settings)
            if att.accepted:
                result.status = "accepted"
                break
            feedback, previous = "; ".join(att.reasons), answer.text
    except BudgetExhausted as e:
        result.status, result.error = "unanswered", str(e)
    except LLMError as e:
        result.status, result.error = "failed", str(e)
    result.seconds = time.perf_counter() - t0
    return result


def _judge(client: CachedClient, caption: str, att: Attempt, settings: EngineSettings) -> None:
    answer, _ = client.complete(
        judge_messages(caption, att.chain), settings.judge_sampling, JUDGE_VERSION
    )
    try:
        att.verdict = parse_verdict(answer.text)
    except ParseError as e:
        att.reasons.append(f"judge: unreadable verdict ({e})")
        return
    v = att.verdict
    if v.lowest < settings.min_score:
        att.reasons.append(
            f"judge: relevance {v.relevance}, logic {v.logic}, conciseness {v.conciseness}"
            + (f" ({v.feedback})" if v.feedback else "")
        )


def run_engine(
    client: CachedClient,
    captions: Sequence[tuple[str, str]],
    settings: EngineSettings,
    concurrency: int = 4,
    on_result: Callable[[CaptionResult], None] | None = None,
) -> list[CaptionResult]:
    """Decompose (id, caption) pairs with `concurrency` workers; results in input order.

    `on_result` is called (from one thread at a time) as each caption finishes. Once the budget
    is spent, captions still need a paid request come back `unanswered` without sending it;
    answers already in the cache still replay.
    """
    lock = threading.Lock()

    def one(item: tuple[str, str]) -> CaptionResult:
        res = decompose_caption(client, item[0], item[1], settings)
        if on_result is not None:
            with lock:
                on_result(res)
        return res

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(one, captions))


def read_statuses(path: Path) -> list[str]:
    """The status of each caption in a verification log (JSON lines of `log_record()`), in
    order; a missing file raises FileNotFoundError, a record without a status KeyError."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["status"] for line in lines if line.strip()]
