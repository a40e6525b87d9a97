"""What a policy is judged by: format validity, the T2M protocol on generated motions, length control.

Every function takes a `Sampler`: `PolicySampler` samples a policy directly,
`evaluation.generations.CachedSampler` puts it behind the answer cache the policy stages and
the report share. `eval_subset` draws the test captions of each measurement from its own seeded
stream, so the stages and the report ask for the same answers.

format_validity      unconstrained samples on test captions: the share that parses in the full
                     form of the variant (what shows the model learned the grammar), with its
                     95% interval, and why the others fail
protocol_generator   a generator for `evaluation/protocol.py`: the sampler's grammar-constrained
                     answers, decoded by the motion tokenizer in one batched pass
length_error         |generated - true| duration in seconds on whole test motions: without the
                     hint, with the duration in the prompt only, and with it pinned by the
                     grammar (exact by construction: the share of exact lengths is reported)
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol as TypingProtocol

import numpy as np

from motion_r1_core.config import EvaluationConfig, GenerationSection
from motion_r1_core.data.humanml3d import Caption, MotionRecord
from motion_r1_core.evaluation.metrics import mean_and_interval
from motion_r1_core.evaluation.protocol import Evaluator, Generator, ProtocolReport, evaluate
from motion_r1_core.policy.generate import Answer, GenerationStats, sample
from motion_r1_core.policy.grammar import seconds_to_codes
from motion_r1_core.policy.policy import Policy
from motion_r1_core.vqvae.tokenizer import MotionTokenizer


class Sampler(TypingProtocol):
    """One answer per caption, in order, as `generate.sample` with the policy and settings bound."""

    def __call__(
        self,
        captions: Sequence[str],
        seed: int,
        seconds: Sequence[float | None] | None = None,
        pin_length: bool = True,
        constrained: bool = True,
    ) -> list[Answer]: ...

    def throughput(self, constrained: bool) -> dict[str, float]:
        """Tokens/s and motions/s of the answers sampled so far (NaN if none were)."""
        ...


# The seeded streams of `eval_subset`, one per measurement.
FORMAT_STREAM, CHAIN_STREAM, LENGTH_STREAM = 1, 2, 3


def eval_subset(
    records: Sequence[MotionRecord], n: int, seed: int, stream: int
) -> tuple[list[MotionRecord], list[Caption]]:
    """`min(n, len(records))` distinct test motions, each with one of its captions drawn at
    random, from the generator seeded by (seed, stream): the same draw wherever it is made."""
    rng = np.random.default_rng([seed, stream])
    picks = rng.choice(len(records), min(n, len(records)), replace=False)
    chosen = [records[int(i)] for i in picks]
    return chosen, [r.captions[int(rng.integers(len(r.captions)))] for r in chosen]


@dataclass
class PolicySampler:
    """`generate.sample` of `policy` with `generation` as a `Sampler`; `stats` keeps each call's
    throughput, split by whether the grammar was on."""

    policy: Policy
    generation: GenerationSection
    stats: dict[bool, list[GenerationStats]] = field(default_factory=lambda: {True: [], False: []})

    def __call__(
        self,
        captions: Sequence[str],
        seed: int,
        seconds: Sequence[float | None] | None = None,
        pin_length: bool = True,
        constrained: bool = True,
    ) -> list[Answer]:
        """Answers to `captions` (see `generate.sample`)."""
        answers, s = sample(
            self.policy,
            list(captions),
            self.generation,
            seconds=seconds,
            pin_length=pin_length,
            constrained=constrained,
            seed=int(seed),
        )
        self.stats[constrained].append(s)
        return answers

    def throughput(self, constrained: bool) -> dict[str, float]:
        """Tokens/s and motions/s of all calls so far with (or without) the grammar."""
        stats = self.stats[constrained]
        seconds = sum(s.seconds for s in stats)
        if not seconds:
            return {"tokens_per_second": float("nan"), "motions_per_second": float("nan")}
        return {
            "tokens_per_second": sum(s.new_tokens for s in stats) / seconds,
            "motions_per_second": sum(s.answers for s in stats) / seconds,
        }


def decode_codes(codes: Sequence[Sequence[int]], tokenizer: MotionTokenizer) -> list[np.ndarray]:
    """Raw features (4 L, D) of each code list in one batched pass; an empty list (an answer
    that failed to parse) becomes one token of code 0, as UniMo's reward does, so a batch
    never breaks."""
    return [m.numpy() for m in tokenizer.decode_many([list(c) or [0] for c in codes])]


def failure_key(error: str) -> str:
    """A metric-name-safe slug of a parse error: "<Motion> holds something other than motion
    tokens" -> "motion_holds_something_other_than_motion_tokens" (counts go in the name)."""
    return re.sub(r"[^a-z0-9]+", "_", error.split(" (")[0].lower()).strip("_") or "unknown"


def format_validity(sampler: Sampler, captions: Sequence[str], seed: int = 0) -> dict[str, float]:
    """Unconstrained answers to `captions`: the share that parses (`format_validity`), its 95%
    binomial interval, the sample count and a count per failure reason."""
    answers = sampler(captions, seed=seed, constrained=False)
    ok = np.array([a.parsed.ok for a in answers], dtype=np.float64)
    p = float(ok.mean())
    reasons = Counter(failure_key(a.parsed.error) for a in answers if not a.parsed.ok)
    out = {
        "format_validity": p,
        "format_validity_interval": float(1.96 * np.sqrt(p * (1 - p) / len(ok))),
        "format_samples": float(len(answers)),
    }
    out |= {f"format_failures/{r}": float(n) for r, n in reasons.items()}
    return out


def protocol_generator(sampler: Sampler, tokenizer: MotionTokenizer) -> Generator:
    """A protocol `Generator`: the grammar-constrained answers to the drawn captions (seeded by
    the replication's generator), decoded to raw features (4 L, D)."""

    def generate(
        records: Sequence[MotionRecord], captions: Sequence[Caption], rng: np.random.Generator
    ) -> list[np.ndarray]:
        answers = sampler([c.text for c in captions], seed=int(rng.integers(2**31)))
        return decode_codes([a.parsed.codes for a in answers], tokenizer)

    return generate


def protocol(
    sampler: Sampler,
    tokenizer: MotionTokenizer,
    evaluator: Evaluator,
    records: Sequence[MotionRecord],
    cfg: EvaluationConfig,
    progress: bool = False,
) -> tuple[ProtocolReport, dict[str, float]]:
    """The protocol's metrics of the motions `sampler` generates for the test captions, and its
    constrained sampling throughput (tokens/s, motions/s; absent when every answer was cached)."""
    report = evaluate(
        evaluator, records, cfg, protocol_generator(sampler, tokenizer), progress=progress
    )
    speed = sampler.throughput(constrained=True)
    out = {
        "constrained_tokens_per_second": speed["tokens_per_second"],
        "motions_per_second": speed["motions_per_second"],
    }
    return report, {k: v for k, v in out.items() if np.isfinite(v)}


def length_error(
    sampler: Sampler,
    records: Sequence[MotionRecord],
    fps: float,
    frames_per_token: int,
    seed: int = 0,
) -> dict[str, float]:
    """Duration error (seconds, mean and 95% interval) of motions generated for whole test
    motions' first captions: `free` (no hint), `hinted` (duration in the prompt, length left to
    the model) and `pinned` (duration in the prompt and fixed by the grammar; `pinned_exact` is
    the share whose token count equals round(seconds * fps / frames_per_token))."""
    fpt = frames_per_token
    captions = [r.captions[0].text for r in records]
    truth = np.array([r.n_frames // fpt * fpt / fps for r in records])
    out: dict[str, float] = {}
    for name, hint, pin in (
        ("free", False, False),
        ("hinted", True, False),
        ("pinned", True, True),
    ):
        answers = sampler(
            captions, seed=seed, seconds=list(truth) if hint else None, pin_length=pin
        )
        have = np.array([len(a.parsed.codes) for a in answers])
        err = np.abs(have * fpt / fps - truth)
        mean, interval = mean_and_interval(err, ddof=1)
        out[f"length_error_s/{name}"], out[f"length_error_s/{name}_interval"] = mean, interval
        if pin:
            want = np.array([seconds_to_codes(t, fps, fpt) for t in truth])
            out["length_error_s/pinned_exact"] = float((want == have).mean())
    out["length_samples"] = float(len(records))
    return out
