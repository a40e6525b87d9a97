"""Batched decoding of code lists of different lengths equals decoding each list alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from motion_r1_core.config import VQVAEModelConfig
from motion_r1_core.skeleton import HUMANML3D
from motion_r1_core.vqvae.model import MotionVQVAE
from motion_r1_core.vqvae.tokenizer import MotionTokenizer

# the paper's temporal layout (down_t 2, depth 3, dilations 1, 3, 9) at a small width; a random
# codebook (no k-means) so that different ids decode to different features
CFG = VQVAEModelConfig(
    codebook_size=32,
    code_dim=16,
    width=32,
    depth=3,
    down_t=2,
    dilation_growth_rate=3,
    kmeans_init=False,
)
LENGTHS = [1, 2, 7, 49, 13]


def _tokenizer(seed: int = 0) -> MotionTokenizer:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    mean = rng.normal(size=263).astype(np.float32)
    std = rng.uniform(0.5, 2.0, size=263).astype(np.float32)
    return MotionTokenizer(MotionVQVAE(263, CFG).eval(), mean, std, HUMANML3D)


def _lists(lengths: list[int], seed: int = 1) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, CFG.codebook_size, size=n).tolist() for n in lengths]


def _count_decoder_calls(tok: MotionTokenizer) -> list[int]:
    calls: list[int] = []
    tok.model.decoder.register_forward_hook(lambda *_: calls.append(1))
    return calls


def test_decode_many_equals_decoding_each_list_alone() -> None:
    tok = _tokenizer()
    lists = _lists(LENGTHS)
    alone = [tok.decode(c) for c in lists]
    calls = _count_decoder_calls(tok)
    many = tok.decode_many(lists)
    assert len(calls) == 1  # one forward pass for the whole batch
    assert [tuple(m.shape) for m in many] == [(4 * n, 263) for n in LENGTHS]
    for a, m in zip(alone, many, strict=True):
        assert m.dtype == torch.float32 and m.device.type == "cpu"
        torch.testing.assert_close(m, a, atol=1e-5, rtol=0)


def test_padding_without_the_mask_would_leak_into_short_sequences() -> None:
    # the check above can fail: decoding the padded batch plainly changes the short rows
    tok = _tokenizer()
    lists = _lists(LENGTHS)
    padded = torch.zeros(len(lists), max(LENGTHS), dtype=torch.long)
    for r, c in enumerate(lists):
        padded[r, : len(c)] = torch.tensor(c)
    plain = tok.denormalise(tok.model.decode(padded))
    errs = [
        (plain[r, : 4 * n] - tok.decode(c)).abs().max().item()
        for r, (c, n) in enumerate(zip(lists, LENGTHS, strict=True))
    ]
    assert max(errs[:3]) > 1e-2 and errs[3] < 1e-5  # only the longest row is unpadded


def test_decode_padded_zeroes_padding_and_matches_decode_of_each_row() -> None:
    tok = _tokenizer(seed=3)
    lengths = torch.tensor([5, 1, 3])
    ids = torch.randint(0, CFG.codebook_size, (3, 5))
    out = tok.model.decode_padded(ids, lengths)
    assert out.shape == (3, 20, 263)
    for r, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(
            out[r, : 4 * n], tok.model.decode(ids[r : r + 1, :n])[0], atol=1e-5, rtol=0
        )
        assert torch.count_nonzero(out[r, 4 * n :]) == 0  # padded frames (none in row 0)
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, 5\]"):
        tok.model.decode_padded(ids, torch.tensor([5, 0, 3]))
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, 5\]"):
        tok.model.decode_padded(ids, torch.tensor([6, 1, 3]))
    with pytest.raises(ValueError, match=r"must be \(3,\)"):
        tok.model.decode_padded(ids, torch.tensor([5, 1]))


def test_one_pass_per_chunk_and_the_input_order_is_kept() -> None:
    tok = _tokenizer(seed=4)
    lists = _lists(LENGTHS, seed=5)
    alone = [tok.decode(c) for c in lists]
    calls = _count_decoder_calls(tok)
    many = tok.decode_many(lists, batch=2)
    assert len(calls) == 3  # ceil(5 / 2)
    for a, m in zip(alone, many, strict=True):
        torch.testing.assert_close(m, a, atol=1e-5, rtol=0)
    grpo = _lists([int(n) for n in np.random.default_rng(6).integers(1, 50, size=64)], seed=7)
    calls.clear()
    out = tok.decode_many(grpo)
    assert len(calls) == 1 and len(out) == 64  # a GRPO step of 64 answers: one pass
    for i in (0, 17, 63):
        torch.testing.assert_close(out[i], tok.decode(grpo[i]), atol=1e-5, rtol=0)
    assert tok.decode_many([]) == []


def test_bad_lists_raise_naming_the_list_and_the_id() -> None:
    tok = _tokenizer()
    calls = _count_decoder_calls(tok)
    with pytest.raises(
        ValueError, match=r"code list 2: .*out of range \[0, 32\): 99 at position 1"
    ):
        tok.decode_many([[1, 2], [3], [4, 99, 5]])
    with pytest.raises(ValueError, match=r"code list 0: .*-1 at position 0"):
        tok.decode_many([[-1]])
    with pytest.raises(ValueError, match=r"code list 1: empty token list"):
        tok.decode_many([[1], []])
    with pytest.raises(ValueError, match="batch must be >= 1"):
        tok.decode_many([[1]], batch=0)
    assert calls == []  # nothing is decoded before every list is checked
