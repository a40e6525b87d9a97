"""What SFT is judged by: format validity, the T2M protocol on generated motions, length control.

format_validity   unconstrained samples on test captions: the share that parses in the full
                  form of the variant (what shows the model learned the grammar), and why
                  the others fail
protocol          `evaluation/protocol.py` with a generator that samples the policy
                  (grammar on) and decodes the codes with the motion tokenizer
length_error      |generated - true| duration in seconds on whole test motions: without the
                  hint, with the duration in the prompt only, and with it pinned by the
                  grammar (exact by construction: the share of exact lengths is reported)
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from motion_r1_core.config import EvaluationConfig, GenerationSection
from motion_r1_core.data.humanml3d import Caption, MotionRecord
from motion_r1_core.evaluation.protocol import Evaluator, ProtocolReport, evaluate
from motion_r1_core.policy.generate import Answer, sample
from motion_r1_core.policy.policy import Policy
from motion_r1_core.vqvae.tokenizer import MotionTokenizer


def decode_answers(answers: Sequence[Answer], tokenizer: MotionTokenizer) -> list[np.ndarray]:
    """Raw features (4 L, D) of each answer's codes; an answer without codes (it failed to
    parse) becomes one token of code 0, as UniMo's reward does, so a batch never breaks."""
    return [tokenizer.decode(a.parsed.codes or [0]).numpy() for a in answers]


def failure_key(error: str) -> str:
    """A metric-name-safe slug of a parse error: "<Motion> holds something other than motion
    tokens" -> "motion_holds_something_other_than_motion_tokens" (counts go in the name)."""
    return re.sub(r"[^a-z0-9]+", "_", error.split(" (")[0].lower()).strip("_") or "unknown"


def format_validity(
    policy: Policy, captions: Sequence[str], g: GenerationSection, seed: int = 0
) -> dict[str, float]:
    """Unconstrained sampling on `captions`: share parsed, tokens/s, and failure reasons."""
    answers, stats = sample(policy, captions, g, constrained=False, seed=seed)
    ok = [a.parsed.ok for a in answers]
    reasons = Counter(failure_key(a.parsed.error) for a in answers if not a.parsed.ok)
    out = {
        "format_validity": float(np.mean(ok)),
        "format_samples": float(len(answers)),
        "unconstrained_tokens_per_second": stats.tokens_per_second,
    }
    out |= {f"format_failures/{r}": float(n) for r, n in reasons.items()}
    return out


def policy_generator(policy: Policy, tokenizer: MotionTokenizer, g: GenerationSection) -> tuple:
    """A protocol generator sampling `policy` (grammar on) and a list collecting throughput."""
    stats: list = []

    def generate(
        records: Sequence[MotionRecord], captions: Sequence[Caption], rng: np.random.Generator
    ) -> list[np.ndarray]:
        answers, s = sample(
            policy, [c.text for c in captions], g, constrained=True, seed=int(rng.integers(2**31))
        )
        stats.append(s)
        return decode_answers(answers, tokenizer)

    return generate, stats


def protocol(
    policy: Policy,
    tokenizer: MotionTokenizer,
    evaluator: Evaluator,
    records: Sequence[MotionRecord],
    cfg: EvaluationConfig,
    g: GenerationSection,
    progress: bool = False,
) -> tuple[ProtocolReport, dict[str, float]]:
    """The protocol's metrics of motions the policy generates for the test captions, and the
    constrained sampling throughput (tokens/s, motions/s)."""
    generate, stats = policy_generator(policy, tokenizer, g)
    report = evaluate(evaluator, records, cfg, generate, progress=progress)
    tokens = sum(s.new_tokens for s in stats)
    seconds = sum(s.seconds for s in stats)
    motions = sum(s.answers for s in stats)
    return report, {
        "constrained_tokens_per_second": tokens / seconds if seconds else float("nan"),
        "motions_per_second": motions / seconds if seconds else float("nan"),
    }


def length_error(
    policy: Policy,
    records: Sequence[MotionRecord],
    g: GenerationSection,
    fps: float,
    seed: int = 0,
) -> dict[str, float]:
    """Duration error (seconds) of motions generated for whole test motions' first captions:
    `free` (no hint), `hinted` (duration in the prompt, length left to the model) and `pinned`
    (duration in the prompt and fixed by the grammar; `pinned_exact` is the share whose token
    count equals round(seconds * fps / 4))."""
    fpt = int(policy.meta["frames_per_token"])
    captions = [r.captions[0].text for r in records]
    truth = np.array([r.n_frames // fpt * fpt / fps for r in records])
    out: dict[str, float] = {}
    for name, hint, pin in (
        ("free", False, False),
        ("hinted", True, False),
        ("pinned", True, True),
    ):
        answers, _ = sample(
            policy,
            captions,
            g,
            seconds=list(truth) if hint else None,
            pin_length=pin,
            seed=seed,
        )
        got = np.array([len(a.parsed.codes) * fpt / fps for a in answers])
        err = np.abs(got - truth)
        out[f"length_error_s/{name}"] = float(err.mean())
        out[f"length_error_s/{name}_interval"] = float(1.96 * err.std(ddof=1) / np.sqrt(len(err)))
        if pin:
            want = np.array([max(1, round(t * fps / fpt)) for t in truth])
            have = np.array([len(a.parsed.codes) for a in answers])
            out["length_error_s/pinned_exact"] = float((want == have).mean())
    out["length_samples"] = float(len(records))
    return out
