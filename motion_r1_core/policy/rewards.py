"""GRPO rewards as TRL reward callables, scored for a whole batch at once.

    format               1 if the completion parses in the full grammar of its variant
                         (`grammar.parse`: tags in order, 1..49 motion tokens), else 0
    motion_similarity    cos(e(generated motion), e(reference motion))
    semantic_similarity  cos(e(generated motion), t(caption))
    physics              foot skating, ground penetration and jitter mapped to [0, 1]
                         (`motion_r1_core.physics`; label-free, off by default)

e and t are the **reward** encoder of `text_motion_encoders` (never the evaluator that scores
the report; a test asserts this module does not import it). As in UniMo, the reference motion
is the motion tokenizer's decoding of the caption's true tokens, so the tokenizer's own error
is not part of the reward. A completion that does not parse gets 0 from every motion reward,
never an exception.

TRL calls each reward callable in turn on the same completions; `MotionScorer` scores the
batch once (one batched decoding pass, one embedding pass) and hands each callable its column.
TRL logs them as `rewards/<name>/mean|std` and their weighted sum as `reward`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from motion_r1_core.physics import PhysicsScales, physics_quantities
from motion_r1_core.policy.grammar import Parsed, max_codes, parse
from motion_r1_core.vqvae.tokenizer import MotionTokenizer

REWARDS = ("format", "motion_similarity", "semantic_similarity", "physics")


@dataclass(frozen=True)
class BatchScores:
    """Every reward of a batch of completions, (N,) float arrays in completion order."""

    parsed: list[Parsed]
    format: np.ndarray
    motion_similarity: np.ndarray
    semantic_similarity: np.ndarray
    physics: np.ndarray

    def column(self, name: str) -> list[float]:
        """One reward as a list of floats (what a TRL reward callable returns)."""
        return [float(x) for x in getattr(self, name)]

    def total(self, weights: dict[str, float]) -> np.ndarray:
        """(N,) weighted sum of the rewards, as TRL aggregates them."""
        return sum(w * getattr(self, k) for k, w in weights.items())


@dataclass
class MotionScorer:
    """Scores completions of one policy against captions and reference motion tokens.

    Attributes:
        tokenizer: the policy's tokenizer (decodes completion ids, keeping the motion tokens).
        cot: whether completions follow the CoT grammar (else no-CoT).
        motion_tokenizer: the VQ-VAE decoding codes to features.
        encoder: the reward text-motion encoder (`TextMotionModel`).
        scales: the physics mapping to [0, 1].
        on_batch: called with (step, captions, texts, scores) after every scored batch that
            came from the trainer (the sample tables).
    """

    tokenizer: Any
    cot: bool
    motion_tokenizer: MotionTokenizer
    encoder: Any
    scales: PhysicsScales = field(default_factory=PhysicsScales)
    on_batch: Callable[[int, list[str], list[str], BatchScores], None] | None = None
    _references: dict[tuple[int, ...], np.ndarray] = field(default_factory=dict, repr=False)
    _last: tuple[Any, BatchScores] | None = field(default=None, repr=False)

    @property
    def end_tokens(self) -> tuple[str, ...]:
        """Tokens stripped from the end of a completion before parsing (eos, pad)."""
        tok = self.tokenizer
        return tuple({tok.eos_token, tok.pad_token} - {None})

    def texts(self, completion_ids: Sequence[Sequence[int]]) -> list[str]:
        """Completion texts with the motion tokens and tags kept (TRL's `completions` drop
        special tokens, so rewards read the ids)."""
        return self.tokenizer.batch_decode(
            [list(map(int, ids)) for ids in completion_ids], skip_special_tokens=False
        )

    def parse(self, texts: Sequence[str]) -> list[Parsed]:
        """Each text read back by the grammar (never raises)."""
        k = self.motion_tokenizer.codebook_size
        longest = max_codes(self.motion_tokenizer.frames_per_token)
        return [parse(t, self.cot, k, longest, self.end_tokens) for t in texts]

    def embed_codes(
        self, generated: Sequence[Sequence[int]], references: Sequence[Sequence[int]]
    ) -> tuple[list[torch.Tensor], np.ndarray, np.ndarray]:
        """Features of the `generated` code lists, and reward-encoder embeddings (N, latent) of
        them and (M, latent) of the `references`' decodings. Generated motions and references
        not seen before are decoded in one batched pass and embedded in one pass; reference
        embeddings are memoised by their codes."""
        keys = [tuple(int(c) for c in r) for r in references]
        todo = sorted({k for k in keys if k not in self._references})
        codes = [list(c) for c in generated] + [list(k) for k in todo]
        feats = self.motion_tokenizer.decode_many(codes) if codes else []
        emb = self.encoder.embed_motions([f.numpy() for f in feats])
        n = len(generated)
        self._references.update(zip(todo, emb[n:], strict=True))
        refs = np.stack([self._references[k] for k in keys]) if keys else emb[:0]
        return feats[:n], emb[:n], refs

    def score_texts(
        self,
        texts: Sequence[str],
        captions: Sequence[str],
        references: Sequence[Sequence[int]],
    ) -> BatchScores:
        """All rewards of completions `texts` for `captions` and reference codes `references`.

        Parsed motions (with the references not seen before) are decoded in one batched pass and
        embedded in one pass; the rest get 0.
        """
        if not len(texts) == len(captions) == len(references):
            raise ValueError(
                f"{len(texts)} completions, {len(captions)} captions, {len(references)} references"
            )
        parsed = self.parse(texts)
        n = len(texts)
        fmt = np.array([float(p.ok) for p in parsed])
        motion, semantic, physics = np.zeros(n), np.zeros(n), np.zeros(n)
        ok = [i for i, p in enumerate(parsed) if p.ok]
        if ok:
            feats, gen, ref = self.embed_codes(
                [parsed[i].codes for i in ok], [references[i] for i in ok]
            )
            txt = self.encoder.embed_texts([captions[i] for i in ok])
            motion[ok] = (gen * ref).sum(-1)
            semantic[ok] = (gen * txt).sum(-1)
            physics[ok] = self.physics_scores(feats)
        return BatchScores(parsed, fmt, motion, semantic, physics)

    def physics_scores(self, feats: Sequence[torch.Tensor]) -> np.ndarray:
        """(N,) physics score in [0, 1] of raw features (T_i, D), batched with lengths."""
        from motion_r1_core.features import recover_from_ric

        skeleton = self.motion_tokenizer.skeleton
        lengths = torch.tensor([len(f) for f in feats])
        x = torch.zeros(len(feats), int(lengths.max()), feats[0].shape[-1])
        for i, f in enumerate(feats):
            x[i, : len(f)] = f
        joints = recover_from_ric(x, skeleton)
        return physics_quantities(joints, lengths, skeleton, self.scales)["score"].numpy()

    def score_ids(
        self,
        completion_ids: Sequence[Sequence[int]],
        captions: Sequence[str],
        references: Sequence[Sequence[int]],
        step: int | None = None,
    ) -> BatchScores:
        """`score_texts` of token ids, memoised on the last batch (TRL asks once per reward)."""
        key = (
            step,
            tuple(tuple(map(int, c)) for c in completion_ids),
            tuple(captions),
            tuple(tuple(map(int, r)) for r in references),
        )
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        texts = self.texts(completion_ids)
        scores = self.score_texts(texts, captions, references)
        self._last = (key, scores)
        if self.on_batch is not None and step is not None:
            self.on_batch(step, list(captions), texts, scores)
        return scores


def reward_functions(scorer: MotionScorer) -> list[Callable[..., list[float]]]:
    """The four TRL reward callables, in `REWARDS` order, each named after its reward.

    Each takes TRL's keyword arguments (`prompts`, `completions`, `completion_ids`, the dataset
    columns `caption` and `codes`, `trainer_state`, ...) and returns one float per completion.
    """

    def make(name: str) -> Callable[..., list[float]]:
        def reward(
            prompts: list | None = None,
            completions: list | None = None,
            completion_ids: list[list[int]] | None = None,
            caption: list[str] | None = None,
            codes: list[list[int]] | None = None,
            trainer_state: Any = None,
            **kwargs: Any,
        ) -> list[float]:
            if completion_ids is None or caption is None or codes is None:
                raise ValueError(
                    f"reward {name}: needs completion_ids and the dataset columns caption, codes"
                )
            step = int(trainer_state.global_step) if trainer_state is not None else None
            return scorer.score_ids(completion_ids, caption, codes, step).column(name)

        reward.__name__ = reward.__qualname__ = name
        reward.__doc__ = f"TRL reward callable `{name}` (see motion_r1_core.policy.rewards)."
        return reward

    return [make(name) for name in REWARDS]


class SampleTables:
    """Writes a table of sample completions every `every` steps: JSON rows of caption,
    completion and each reward, at `folder/step_000010.json`, and hands the path to `sink`
    (the stage logs it as an MLflow artifact; TRL sends its own tables only to other trackers)."""

    def __init__(
        self,
        folder: Path,
        every: int,
        weights: dict[str, float],
        sink: Callable[[Path], None] | None = None,
        rows: int = 16,
    ) -> None:
        self.folder, self.every, self.weights, self.sink, self.rows = (
            Path(folder),
            every,
            weights,
            sink,
            rows,
        )
        self.written: list[Path] = []

    def __call__(self, step: int, captions: list[str], texts: list[str], s: BatchScores) -> None:
        """Record the batch of `step` when `step` is a multiple of `every` (once per step)."""
        if step % self.every or any(p.stem == f"step_{step:06d}" for p in self.written):
            return
        total = s.total(self.weights)
        table = [
            {
                "step": step,
                "caption": captions[i],
                "completion": texts[i],
                **{k: float(getattr(s, k)[i]) for k in REWARDS},
                "total": float(total[i]),
                "parse_error": s.parsed[i].error,
            }
            for i in range(min(self.rows, len(texts)))
        ]
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"step_{step:06d}.json"
        path.write_text(json.dumps(table, indent=1) + "\n")
        self.written.append(path)
        if self.sink is not None:
            self.sink(path)
