"""The motion vocabulary: K motion tokens and six tags added to an LLM's tokenizer.

`<motion_id_0>` .. `<motion_id_{K-1}>` stand for the K codes of the motion tokenizer, and
`<Motion>`, `</Motion>`, `<think>`, `</think>`, `<output>`, `</output>` delimit the answer
(`grammar.py`). `MotionVocab` is the one mapping token id <-> VQ code that SFT targets,
generation, GRPO rewards and the report use: the motion tokens are added in code order, so they
occupy a contiguous id range and code = id - first_code_id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

TAGS = ("<Motion>", "</Motion>", "<think>", "</think>", "<output>", "</output>")


def motion_token(code: int) -> str:
    """The vocabulary entry of VQ code `code`."""
    return f"<motion_id_{code}>"


@dataclass(frozen=True)
class MotionVocab:
    """Where the motion vocabulary sits in a tokenizer.

    Attributes:
        codebook_size: K, the number of VQ codes.
        first_code_id: token id of `<motion_id_0>`; code c is token first_code_id + c.
        tag_ids: tag text -> token id, for the six TAGS.
        eos_id: the tokenizer's end-of-turn token (ends every answer).
    """

    codebook_size: int
    first_code_id: int
    tag_ids: dict[str, int]
    eos_id: int

    @classmethod
    def of(cls, tokenizer: Any, codebook_size: int) -> MotionVocab:
        """Read the vocabulary from a tokenizer that has it (`add_motion_vocab`).

        Raises ValueError naming what is missing or out of order.
        """
        ids = tokenizer.convert_tokens_to_ids([motion_token(c) for c in range(codebook_size)])
        first = ids[0]
        unk = tokenizer.unk_token_id
        if any(i is None or i == unk for i in ids) or ids != list(range(first, first + len(ids))):
            raise ValueError(
                f"the tokenizer lacks a contiguous run of {codebook_size} motion tokens "
                f"(<motion_id_0> .. <motion_id_{codebook_size - 1}>); was it built for a "
                "tokenizer of another codebook size?"
            )
        extra = tokenizer.convert_tokens_to_ids([motion_token(codebook_size)])[0]
        if extra is not None and extra != unk and extra == first + codebook_size:
            raise ValueError(
                f"the tokenizer holds more than {codebook_size} motion tokens: it was built for "
                "a larger codebook than the motion tokenizer's"
            )
        tags = dict(zip(TAGS, tokenizer.convert_tokens_to_ids(list(TAGS)), strict=True))
        missing = [t for t, i in tags.items() if i is None or i == unk]
        if missing:
            raise ValueError(f"the tokenizer lacks the tags {missing}")
        if tokenizer.eos_token_id is None:
            raise ValueError("the tokenizer has no eos token to end an answer with")
        return cls(codebook_size, first, tags, int(tokenizer.eos_token_id))

    # ------------------------------------------------------------------------------ mapping
    @property
    def code_ids(self) -> range:
        """Token ids of the motion tokens, in code order."""
        return range(self.first_code_id, self.first_code_id + self.codebook_size)

    @property
    def new_token_ids(self) -> list[int]:
        """Every id the vocabulary added (motion tokens and tags), for trainable rows."""
        return sorted({*self.code_ids, *self.tag_ids.values()})

    def codes_to_ids(self, codes: list[int]) -> list[int]:
        """Token ids of VQ codes; ValueError on a code outside [0, K)."""
        bad = [c for c in codes if not 0 <= c < self.codebook_size]
        if bad:
            raise ValueError(f"VQ codes out of range [0, {self.codebook_size}): {bad[:5]}")
        return [self.first_code_id + int(c) for c in codes]

    def ids_to_codes(self, ids: torch.Tensor | list[int]) -> list[int]:
        """VQ codes of the motion-token ids in `ids` (other ids are skipped)."""
        lo, hi = self.first_code_id, self.first_code_id + self.codebook_size
        return [
            int(i) - lo for i in (ids.tolist() if torch.is_tensor(ids) else ids) if lo <= i < hi
        ]

    def is_code(self, ids: torch.Tensor) -> torch.Tensor:
        """Boolean mask of motion-token ids, same shape as `ids`."""
        return (ids >= self.first_code_id) & (ids < self.first_code_id + self.codebook_size)

    def as_json(self) -> dict[str, Any]:
        """Plain values for the policy's metadata file."""
        return {
            "codebook_size": self.codebook_size,
            "first_code_id": self.first_code_id,
            "tag_ids": self.tag_ids,
            "eos_id": self.eos_id,
        }


def add_motion_vocab(tokenizer: Any, codebook_size: int) -> MotionVocab:
    """Add the K motion tokens (in code order) and the six tags to `tokenizer`, in place.

    They are added as special tokens, so text never splits them and decoding keeps them
    whole. Adding to a tokenizer that already has this vocabulary changes nothing.
    """
    tokenizer.add_tokens([motion_token(c) for c in range(codebook_size)], special_tokens=True)
    tokenizer.add_tokens(list(TAGS), special_tokens=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return MotionVocab.of(tokenizer, codebook_size)


def resize_embeddings(model: Any, tokenizer: Any) -> int:
    """Grow the model's input (and untied output) embeddings to the tokenizer's length.

    New rows are drawn around the mean of the existing rows (transformers' `mean_resizing`,
    mean and covariance of the old embedding), so new tokens start as an average word and not
    as noise of another scale. Returns the number of rows added (0 if none were needed).
    """
    old = model.get_input_embeddings().weight.shape[0]
    if len(tokenizer) <= old:
        return 0
    model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
    return len(tokenizer) - old
