"""A trained policy on disk: a Hugging Face model folder plus what it needs to make motions.

    <folder>/config.json, model.safetensors, tokenizer files    the LLM with the motion vocabulary
    <folder>/policy.json    variant, chain source, codebook size and vocabulary ids, system
                            prompt, fps and frames per token, the motion tokenizer's checkpoint
                            (path and sha256), training summary

`Policy.load` refuses a folder whose vocabulary disagrees with its metadata, and a motion
tokenizer whose codebook differs from the one the policy was trained on.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from motion_r1_core.policy.vocabulary import MotionVocab

META = "policy.json"


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class Policy:
    """An LLM that answers captions with motion tokens.

    Attributes:
        model: the causal LM (eval mode).
        tokenizer: its tokenizer, left-padding, with the motion vocabulary.
        vocab: token id <-> VQ code.
        meta: policy.json (variant, cot_source, system_prompt, fps, frames_per_token, ...).
    """

    model: Any
    tokenizer: Any
    vocab: MotionVocab
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def blank_ids(self) -> list[int]:
        """Token ids whose text is whitespace only (computed once)."""
        if "_blank" not in self.__dict__:
            pieces = self.tokenizer.batch_decode([[i] for i in range(len(self.tokenizer))])
            self.__dict__["_blank"] = [i for i, t in enumerate(pieces) if not t.strip()]
        return self.__dict__["_blank"]

    @property
    def cot(self) -> bool:
        """Whether the policy writes a chain before the motion."""
        return self.meta["variant"] == "cot"

    def save(self, folder: Path) -> Path:
        """Write the model, tokenizer and policy.json to `folder` (replaced atomically)."""
        folder = Path(folder)
        tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        self.model.save_pretrained(str(tmp))
        self.tokenizer.save_pretrained(str(tmp))
        meta = {**self.meta, "vocab": self.vocab.as_json()}
        (tmp / META).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
        return folder

    @classmethod
    def load(cls, folder: Path, device: str = "cpu", dtype: torch.dtype = torch.float32) -> Policy:
        """Load a policy folder written by `save`. Raises FileNotFoundError or ValueError
        naming the folder when it is not one."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        folder = Path(folder)
        if not (folder / META).is_file():
            raise FileNotFoundError(
                f"{folder}: not a policy folder (no {META}); train one with "
                "`motion-r1 stage sft_policy`"
            )
        meta = json.loads((folder / META).read_text())
        tok = AutoTokenizer.from_pretrained(str(folder))
        tok.padding_side = "left"
        vocab = MotionVocab.of(tok, int(meta["vocab"]["codebook_size"]))
        if vocab.as_json() != meta["vocab"]:
            raise ValueError(f"{folder}: the tokenizer's motion vocabulary differs from {META}")
        model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype).to(device).eval()
        return cls(model, tok, vocab, meta)

    def check_tokenizer(self, codebook_size: int, frames_per_token: int) -> None:
        """Raise ValueError unless a motion tokenizer of this shape can decode our codes."""
        if codebook_size != self.vocab.codebook_size:
            raise ValueError(
                f"the motion tokenizer has {codebook_size} codes; this policy was trained on "
                f"{self.vocab.codebook_size}"
            )
        if frames_per_token != int(self.meta.get("frames_per_token", frames_per_token)):
            raise ValueError(
                f"the motion tokenizer covers {frames_per_token} frames a token; this policy "
                f"was trained on {self.meta['frames_per_token']}"
            )
