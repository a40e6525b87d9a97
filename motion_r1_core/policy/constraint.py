"""The output grammar as a logits processor: every sampled completion parses by construction.

States of one row (the CoT variant walks all of them, no-CoT starts at EXPECT_MOTION):

    EXPECT_THINK -> THINK -> EXPECT_OUTPUT -> OUTPUT -> EXPECT_MOTION -> MOTION -> END -> DONE
    <think>         text      <output>         text      <Motion>        codes    eos

A tag state allows only its tag; a text state allows ordinary tokens (no motion token, tag or
special token) and its closing tag, which it forces after `max_think` / `max_plan` tokens and
forbids before the first; MOTION allows only motion tokens and `</Motion>`, which it forbids
before `min_codes` tokens and forces at `max_codes` (both per row: length control asks for
min = max = round(seconds * fps / 4)); END allows only the end-of-turn token. The state is kept
per row and advanced from the token sampled last, so one processor serves one `generate` call.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import LogitsProcessor

from motion_r1_core.policy.vocabulary import MotionVocab

EXPECT_THINK, THINK, EXPECT_OUTPUT, OUTPUT, EXPECT_MOTION, MOTION, END, DONE = range(8)
_CLOSE = {THINK: "</think>", OUTPUT: "</output>", MOTION: "</Motion>"}


class GrammarProcessor(LogitsProcessor):
    """A `transformers` logits processor enforcing the answer grammar, batched.

    Args:
        vocab: the motion vocabulary of the policy's tokenizer.
        n_logits: width of the logits (the model's vocabulary rows).
        special_ids: ids no text may contain (the tokenizer's special tokens).
        cot: the CoT grammar (else no-CoT: the answer starts at <Motion>).
        min_codes, max_codes: (B,) motion tokens allowed per row (min >= 1, max >= min).
        max_think, max_plan: longest <think> / <output> text in tokens.
        blank_ids: tokens that are whitespace only: a chain may not start with one, so that
            <think> always holds text.
    """

    def __init__(
        self,
        vocab: MotionVocab,
        n_logits: int,
        special_ids: Sequence[int],
        cot: bool,
        min_codes: torch.Tensor,
        max_codes: torch.Tensor,
        max_think: int,
        max_plan: int,
        blank_ids: Sequence[int] = (),
    ) -> None:
        if bool((min_codes < 1).any()) or bool((max_codes < min_codes).any()):
            raise ValueError("each row needs 1 <= min_codes <= max_codes")
        self.vocab, self.cot = vocab, cot
        self.min_codes, self.max_codes = min_codes.long(), max_codes.long()
        self.limits = {THINK: max_think, OUTPUT: max_plan}
        tag = vocab.tag_ids
        self.close_id = {s: tag[t] for s, t in _CLOSE.items()}
        allowed = torch.zeros(8, n_logits, dtype=torch.bool)
        text = torch.ones(n_logits, dtype=torch.bool)
        text[list(vocab.code_ids)] = False
        text[list(tag.values())] = False
        text[[i for i in special_ids if i < n_logits]] = False
        text[vocab.eos_id] = False
        for state, name in ((EXPECT_THINK, "<think>"), (EXPECT_OUTPUT, "<output>")):
            allowed[state, tag[name]] = True
        allowed[EXPECT_MOTION, tag["<Motion>"]] = True
        allowed[THINK] = text
        allowed[THINK, tag["</think>"]] = True
        allowed[OUTPUT] = text
        allowed[OUTPUT, tag["</output>"]] = True
        allowed[MOTION, list(vocab.code_ids)] = True
        allowed[MOTION, tag["</Motion>"]] = True
        allowed[END, vocab.eos_id] = True
        allowed[DONE, vocab.eos_id] = True
        self.allowed = allowed
        # the state a token moves each state to (tags only; anything else stays)
        self.moves = {
            (EXPECT_THINK, tag["<think>"]): THINK,
            (THINK, tag["</think>"]): EXPECT_OUTPUT,
            (EXPECT_OUTPUT, tag["<output>"]): OUTPUT,
            (OUTPUT, tag["</output>"]): EXPECT_MOTION,
            (EXPECT_MOTION, tag["<Motion>"]): MOTION,
            (MOTION, tag["</Motion>"]): END,
            (END, vocab.eos_id): DONE,
        }
        self.blank = torch.zeros(n_logits, dtype=torch.bool)
        self.blank[[i for i in blank_ids if i < n_logits]] = True
        self.state: torch.Tensor | None = None
        self.count: torch.Tensor | None = None

    def _advance(self, last: torch.Tensor) -> None:
        state, count = self.state, self.count
        new = state.clone()
        for (s, tok), nxt in self.moves.items():
            new[(state == s) & (last == tok)] = nxt
        self.count = torch.where(new == state, count + 1, torch.zeros_like(count))
        self.state = new

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """Mask `scores` (B, V) to the tokens the grammar allows after `input_ids` (B, T)."""
        b = input_ids.shape[0]
        if self.state is None:
            if self.min_codes.numel() != b:
                raise ValueError(f"{self.min_codes.numel()} length bounds for a batch of {b}")
            start = EXPECT_THINK if self.cot else EXPECT_MOTION
            self.state = torch.full((b,), start, dtype=torch.long)
            self.count = torch.zeros(b, dtype=torch.long)
        else:
            self._advance(input_ids[:, -1].cpu())
        state, count = self.state, self.count
        mask = self.allowed[state].clone()
        for s, limit in self.limits.items():
            rows = state == s
            mask[rows & (count == 0), self.close_id[s]] = False  # a chain needs some text
            full = (rows & (count >= limit)).nonzero().flatten()
            mask[full] = False
            mask[full, self.close_id[s]] = True
        start = (state == THINK) & (count == 0)
        mask[start] &= ~self.blank
        motion = state == MOTION
        close = self.close_id[MOTION]
        mask[motion & (count < self.min_codes), close] = False
        full = (motion & (count >= self.max_codes)).nonzero().flatten()
        mask[full] = False
        mask[full, close] = True
        return scores.masked_fill(~mask.to(scores.device), float("-inf"))
