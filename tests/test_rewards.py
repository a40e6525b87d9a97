"""GRPO rewards with random networks: what each reward says of good and broken completions,
batched scores equal one-by-one scores, one decoding and one embedding pass per batch, TRL's
calling convention, the sample tables, and no trace of the evaluator."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from motion_r1_core.config import BackboneConfig, MotionEncoderConfig, VQVAEModelConfig
from motion_r1_core.encoders.model import MotionEncoder, TextMotionModel, TextProjection
from motion_r1_core.policy.backbone import load_backbone
from motion_r1_core.policy.grammar import answer
from motion_r1_core.policy.rewards import REWARDS, MotionScorer, SampleTables, reward_functions
from motion_r1_core.skeleton import HUMANML3D
from motion_r1_core.vqvae.model import MotionVQVAE
from motion_r1_core.vqvae.tokenizer import MotionTokenizer

K = 32
VQ = VQVAEModelConfig(
    codebook_size=K, code_dim=16, width=32, depth=3, down_t=2, dilation_growth_rate=3,
    kmeans_init=False,
)  # fmt: skip
TINY = BackboneConfig(arch="qwen2", layers=1, hidden=32, heads=2, intermediate=64, seed=0)
CAPTIONS = ["a person walks forward", "a person jumps twice", "someone waves", "a man squats"]


@pytest.fixture(scope="module")
def scorer(tmp_path_factory: pytest.TempPathFactory) -> MotionScorer:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    vq = MotionTokenizer(
        MotionVQVAE(263, VQ).eval(),
        rng.normal(size=263).astype(np.float32) * 0.1,
        rng.uniform(0.5, 1.5, size=263).astype(np.float32),
        HUMANML3D,
    )
    motion = MotionEncoder(263, 16, MotionEncoderConfig(arch="conv", width=32, layers=2)).eval()
    encoder = TextMotionModel(
        motion, TextProjection(384, 16).eval(), np.zeros(263, np.float32), np.ones(263, np.float32)
    )
    _, tok, _ = load_backbone(TINY, K, tmp_path_factory.mktemp("backbones"))
    return MotionScorer(tok, True, vq, encoder)


def _codes(n: int, seed: int) -> list[int]:
    return np.random.default_rng(seed).integers(0, K, n).tolist()


def _good(codes: list[int]) -> str:
    return answer(codes, ["walk forward", "stop"], "walk") + "<|im_end|>"


BROKEN = {
    "no closing tag": "<think>1. walk</think><output>walk</output><Motion><motion_id_1>",
    "50 motion tokens": answer([1] * 50, ["walk"], "walk"),
    "text in the motion": "<think>1. walk</think><output>w</output><Motion>hello</Motion>",
    "no chain": answer([1, 2], None),
    "empty": "",
}


def test_format_and_similarity_of_good_and_broken_completions(scorer: MotionScorer) -> None:
    ref = _codes(12, 1)
    texts = [_good(ref), _good(_codes(20, 2)), *BROKEN.values()]
    n = len(texts)
    s = scorer.score_texts(texts, [CAPTIONS[0]] * n, [ref] * n)
    assert s.format.tolist() == [1.0, 1.0] + [0.0] * len(BROKEN)
    # the reference itself: cosine 1; another motion: the cosine by hand; broken: 0 everywhere
    assert s.motion_similarity[0] == pytest.approx(1.0, abs=1e-5)
    e = scorer.encoder.embed_motions(
        [scorer.motion_tokenizer.decode(c).numpy() for c in (ref, _codes(20, 2))]
    )
    assert s.motion_similarity[1] == pytest.approx(float(e[0] @ e[1]), abs=1e-5)
    for name in ("motion_similarity", "semantic_similarity", "physics"):
        assert (getattr(s, name)[2:] == 0).all(), name
    assert 0 < s.physics[0] <= 1 and -1 <= s.semantic_similarity[0] <= 1
    # the semantic reward is the cosine of the two unit embeddings, computed by hand
    m = scorer.encoder.embed_motions([scorer.motion_tokenizer.decode(ref).numpy()])[0]
    t = scorer.encoder.embed_texts([CAPTIONS[0]])[0]
    assert s.semantic_similarity[0] == pytest.approx(float(m @ t), abs=1e-5)
    assert s.total({"format": 1, "motion_similarity": 1, "semantic_similarity": 0.5})[0] == (
        pytest.approx(2 + 0.5 * float(m @ t), abs=1e-5)
    )


def test_a_batch_scores_as_one_by_one_in_one_decoding_and_one_embedding_pass(
    scorer: MotionScorer,
) -> None:
    refs = [_codes(n, 10 + n) for n in (3, 49, 8, 20, 1, 33)]
    texts = [_good(_codes(n, n)) for n in (5, 49, 1, 17, 30, 2)]
    texts[3] = BROKEN["no chain"]
    caps = [CAPTIONS[i % 4] for i in range(6)]
    calls = {"decoder": 0, "encoder": 0}
    hooks = [
        scorer.motion_tokenizer.model.decoder.register_forward_hook(
            lambda *a: calls.__setitem__("decoder", calls["decoder"] + 1)
        ),
        scorer.encoder.motion.register_forward_hook(
            lambda *a: calls.__setitem__("encoder", calls["encoder"] + 1)
        ),
    ]
    scorer._references.clear()
    batch = scorer.score_texts(texts, caps, refs)
    for h in hooks:
        h.remove()
    # generated motions and new references: one decoding pass and one embedding pass
    assert calls == {"decoder": 1, "encoder": 1}
    for i in range(6):
        one = scorer.score_texts(texts[i : i + 1], caps[i : i + 1], refs[i : i + 1])
        for name in REWARDS:
            assert getattr(one, name)[0] == pytest.approx(getattr(batch, name)[i], abs=1e-5)


def test_trl_callables_are_named_read_ids_and_score_a_batch_once(scorer: MotionScorer) -> None:
    funcs = reward_functions(scorer)
    assert [f.__name__ for f in funcs] == list(REWARDS)
    tok = scorer.tokenizer
    ref = _codes(9, 3)
    ids = [tok(t, add_special_tokens=False).input_ids for t in (_good(ref), BROKEN["empty"])]

    class State:
        global_step = 7

    calls: list[int] = []
    scorer.on_batch = lambda step, *a: calls.append(step)
    kw = {
        "prompts": [[{"role": "user", "content": c}] for c in CAPTIONS[:2]],
        "completions": [[{"role": "assistant", "content": "stripped"}]] * 2,
        "completion_ids": ids,
        "caption": CAPTIONS[:2],
        "codes": [ref, ref],
        "trainer_state": State(),
        "completion_mask": None,
    }
    try:
        out = {f.__name__: f(**kw) for f in funcs}
    finally:
        scorer.on_batch = None
    assert calls == [7]  # scored once for the four callables
    assert out["format"] == [1.0, 0.0]
    assert out["motion_similarity"][0] == pytest.approx(1.0, abs=1e-5)
    assert out["semantic_similarity"][1] == 0.0
    with pytest.raises(ValueError, match="caption, codes"):
        funcs[0](completion_ids=ids)


def test_sample_tables_write_every_nth_step_once(scorer: MotionScorer, tmp_path: Path) -> None:
    sunk: list[Path] = []
    weights = {"format": 1.0, "motion_similarity": 1.0, "semantic_similarity": 1.0, "physics": 0}
    tables = SampleTables(tmp_path, 5, weights, sink=sunk.append, rows=2)
    ref = _codes(6, 4)
    texts = [_good(ref), BROKEN["empty"], _good(ref)]
    s = scorer.score_texts(texts, CAPTIONS[:3], [ref] * 3)
    for step in (0, 3, 5, 5, 10):
        tables(step, CAPTIONS[:3], texts, s)
    assert [p.name for p in sunk] == ["step_000000.json", "step_000005.json", "step_000010.json"]
    rows = json.loads(sunk[1].read_text())
    assert len(rows) == 2 and rows[0]["caption"] == CAPTIONS[0]
    assert rows[0]["total"] == pytest.approx(
        1 + rows[0]["motion_similarity"] + rows[0]["semantic_similarity"]
    )
    assert rows[1]["format"] == 0.0 and rows[1]["parse_error"]


def test_the_reward_module_never_imports_the_evaluator() -> None:
    code = (
        "import sys, motion_r1_core.policy.rewards\n"
        "bad = [m for m in sys.modules if m.startswith('motion_r1_core.evaluation')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
