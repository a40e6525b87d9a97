"""Sampling a policy for evaluation, cached on disk per policy, settings, captions and seed.

The protocol draws its captions and a sampling seed from each replication's generator, so a
replication asks for the same (captions, seed) every time it runs. `CachedSampler` keys each
call by the policy folder's files (weights, tokenizer, policy.json), the generation settings,
the source of the sampling code, the captions, durations and the seed; an answer already on
disk is read back instead of sampled. The sft_policy and grpo_policy stages and the report
share one cache per dataset (`answer_cache`: artifacts/<dataset>/answers), so the report reads
back the stages' protocol replications and length errors, and rerunning it after adding one
policy samples only for that policy.

    sampler = CachedSampler(policy, policy_dir, answer_cache(cfg, dataset), generation)
    answers = sampler(captions, seed=3)                     # list[generate.Answer]
    generate = protocol_generator(sampler, tokenizer)       # policy.evaluate, for the protocol

It is a `policy.evaluate.Sampler`, so format validity and length errors run through it too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from motion_r1_core.config import Config, GenerationSection
from motion_r1_core.policy import constraint, generate, grammar, vocabulary
from motion_r1_core.policy.evaluate import PolicySampler
from motion_r1_core.policy.generate import Answer
from motion_r1_core.policy.grammar import Parsed
from motion_r1_core.policy.policy import Policy, file_sha256

# What decides an answer besides the weights and settings: a change to these modules (a fixed
# grammar, another sampling loop) makes every cached answer stale.
SAMPLING_CODE = (generate, grammar, constraint, vocabulary)


def answer_cache(cfg: Config, dataset: str) -> Path:
    """The answer cache of `dataset` shared by the policy stages and the report (not a DVC out:
    a rerun of a stage keeps it, and its keys make a stale answer impossible to read back)."""
    return cfg.artifacts_dir(dataset, "answers")


def sampling_code_key() -> str:
    """sha256 (16 hex digits) of the source of the modules in `SAMPLING_CODE`."""
    h = hashlib.sha256()
    for module in SAMPLING_CODE:
        h.update(Path(module.__file__).read_bytes())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class CachedAnswer:
    """What the cache keeps of one sampled answer (one JSON object)."""

    caption: str
    text: str
    ok: bool
    codes: list[int]
    steps: list[str]
    plan: str
    error: str
    new_tokens: int


def policy_key(policy_dir: Path) -> str:
    """A short, stable id of a saved policy: the sha256 (16 hex digits) of every file of its
    folder (weights, tokenizer, chat template, and policy.json with the system prompt)."""
    files = sorted(p for p in Path(policy_dir).iterdir() if p.is_file())
    if not any(p.suffix == ".safetensors" for p in files):
        raise FileNotFoundError(f"{policy_dir}: no *.safetensors weights in this policy folder")
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.name}:{file_sha256(f)}".encode())
    return h.hexdigest()[:16]


class CachedSampler:
    """`generate.sample` of one policy behind an on-disk cache (one JSON file per call).

    Attributes:
        sampled, cached: answers sampled now / read back from the cache.
    """

    def __init__(
        self,
        policy: Policy,
        policy_dir: Path,
        cache_root: Path,
        generation: GenerationSection,
    ) -> None:
        self.sample = PolicySampler(policy, generation)  # a miss samples through this
        settings = json.dumps(generation.model_dump(mode="json"), sort_keys=True)
        self.folder = Path(cache_root) / policy_key(policy_dir)
        self._settings = hashlib.sha256(settings.encode()).hexdigest()[:16]
        self._code = sampling_code_key()
        self.sampled = self.cached = 0

    def throughput(self, constrained: bool) -> dict[str, float]:
        """Tokens/s and motions/s of the calls sampled now (NaN when every answer was cached)."""
        return self.sample.throughput(constrained)

    def _path(self, captions, seconds, pin, constrained, seed) -> Path:
        doc = json.dumps(
            [list(captions), seconds, pin, constrained, seed, self._settings, self._code]
        )
        return self.folder / f"{hashlib.sha256(doc.encode()).hexdigest()[:24]}.json"

    def __call__(
        self,
        captions: Sequence[str],
        seed: int,
        seconds: Sequence[float | None] | None = None,
        pin_length: bool = True,
        constrained: bool = True,
    ) -> list[Answer]:
        """Answers for `captions` (as `generate.sample`), from the cache when present."""
        secs = None if seconds is None else [None if s is None else float(s) for s in seconds]
        path = self._path(captions, secs, pin_length, constrained, int(seed))
        if path.is_file():
            try:
                rows = json.loads(path.read_text())
                answers = [_answer(CachedAnswer(**r)) for r in rows]
                self.cached += len(answers)
                return answers
            except (json.JSONDecodeError, TypeError):
                path.unlink()  # a torn write: sample again
        answers = self.sample(captions, seed, secs, pin_length, constrained)
        rows = [
            CachedAnswer(
                a.caption,
                a.text,
                a.parsed.ok,
                list(a.parsed.codes),
                list(a.parsed.steps),
                a.parsed.plan,
                a.parsed.error,
                a.new_tokens,
            )
            for a in answers
        ]
        self.sampled += len(rows)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps([asdict(r) for r in rows]))
        tmp.replace(path)
        return answers


def _answer(row: CachedAnswer) -> Answer:
    """The `generate.Answer` a cached row stands for."""
    parsed = Parsed(row.ok, list(row.codes), list(row.steps), row.plan, row.error)
    return Answer(row.caption, row.text, parsed, row.new_tokens)
