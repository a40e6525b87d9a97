"""The policy's model side with random weights: motion vocabulary, backbones (the paper's Qwen2
architecture from a Hugging Face folder), the grammar processor and batched sampling."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from motion_r1_core.config import BackboneConfig, GenerationSection
from motion_r1_core.policy.backbone import config_model, load_backbone, smollm2_tokenizer
from motion_r1_core.policy.constraint import EXPECT_MOTION, MOTION, THINK, GrammarProcessor
from motion_r1_core.policy.generate import sample
from motion_r1_core.policy.grammar import answer
from motion_r1_core.policy.policy import Policy
from motion_r1_core.policy.vocabulary import TAGS, MotionVocab, add_motion_vocab

K = 128
TINY = BackboneConfig(arch="qwen2", layers=1, hidden=32, heads=2, intermediate=64, seed=0)
CAPTIONS = [
    "a person walks forward",
    "a person jumps twice",
    "someone waves the left hand",
    "a person hops on the left foot, then waves",
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("backbones")


@pytest.fixture(scope="module")
def tiny_policy(cache: Path) -> Policy:
    model, tok, vocab = load_backbone(TINY, K, cache)
    meta = {"variant": "cot", "system_prompt": "SYS", "fps": 20.0, "frames_per_token": 4}
    return Policy(model.eval(), tok, vocab, meta)


def test_motion_tokens_are_contiguous_and_never_split(cache: Path) -> None:
    tok = smollm2_tokenizer(cache)
    n0 = len(tok)
    vocab = add_motion_vocab(tok, K)
    assert len(tok) == n0 + K + len(TAGS)
    assert list(vocab.code_ids) == list(range(vocab.first_code_id, vocab.first_code_id + K))
    codes = [5, 0, 127, 127, 64]
    text = answer(codes, ["walk forward", "turn left"], "walk, turn")
    ids = tok(text, add_special_tokens=False).input_ids
    assert vocab.ids_to_codes(ids) == codes
    tags = [i for i in ids if i in vocab.tag_ids.values()]
    names = {v: k for k, v in vocab.tag_ids.items()}
    assert [names[i] for i in tags] == [
        "<think>",
        "</think>",
        "<output>",
        "</output>",
        "<Motion>",
        "</Motion>",
    ]
    assert add_motion_vocab(tok, K) == vocab and len(tok) == n0 + K + len(TAGS)  # idempotent
    with pytest.raises(ValueError, match="more than 64"):
        MotionVocab.of(tok, 64)
    with pytest.raises(ValueError, match="contiguous run of 200"):
        MotionVocab.of(tok, 200)
    assert vocab.codes_to_ids([0, 127]) == [vocab.first_code_id, vocab.first_code_id + 127]
    with pytest.raises(ValueError, match="out of range"):
        vocab.codes_to_ids([128])


def test_a_qwen2_folder_gains_the_vocabulary_with_rows_around_the_mean(
    cache: Path, tmp_path
) -> None:
    """The paper profile's path: a Hugging Face Qwen2 folder (random weights here)."""
    tok = smollm2_tokenizer(cache)
    base = config_model(TINY, tok)
    folder = tmp_path / "qwen2"
    base.save_pretrained(folder)
    tok.save_pretrained(folder)
    old = base.get_input_embeddings().weight.detach().clone()
    model, tok2, vocab = load_backbone(BackboneConfig(kind="path", path=folder), K, cache)
    assert type(model).__name__ == "Qwen2ForCausalLM"
    emb = model.get_input_embeddings().weight.detach()
    assert emb.shape[0] == len(tok2) == old.shape[0] + K + len(TAGS)
    assert torch.equal(emb[: old.shape[0]], old)  # old rows untouched
    new = emb[vocab.new_token_ids]
    assert torch.allclose(new.mean(0), old.mean(0), atol=3 * old.std() / len(new) ** 0.5)
    assert new.std(0).mean() > 0  # not one row repeated
    assert model.get_output_embeddings().weight.shape[0] == len(tok2)
    with pytest.raises(FileNotFoundError, match=r"no config\.json"):
        load_backbone(BackboneConfig(kind="path", path=tmp_path / "nowhere"), K, cache)


def _processor(
    vocab: MotionVocab, n: int, cot: bool, lo: list[int], hi: list[int]
) -> GrammarProcessor:
    return GrammarProcessor(
        vocab, n, [], cot, torch.tensor(lo), torch.tensor(hi), max_think=3, max_plan=2
    )


def test_grammar_processor_walks_the_states(tiny_policy: Policy) -> None:
    vocab, n = tiny_policy.vocab, len(tiny_policy.tokenizer)
    tag = vocab.tag_ids
    proc = _processor(vocab, n, True, [2], [2])
    ids = torch.zeros(1, 1, dtype=torch.long)

    def allowed(next_token: int | None) -> set[int]:
        nonlocal ids
        if next_token is not None:
            ids = torch.cat([ids, torch.tensor([[next_token]])], 1)
        out = proc(ids, torch.zeros(1, n))
        return set(torch.isfinite(out[0]).nonzero().flatten().tolist())

    assert allowed(None) == {tag["<think>"]}
    a = allowed(tag["<think>"])
    assert proc.state.item() == THINK and tag["</think>"] not in a and 100 in a
    assert not a & set(vocab.code_ids)
    assert tag["</think>"] in allowed(100)
    allowed(101)
    assert allowed(102) == {tag["</think>"]}  # max_think = 3 text tokens
    assert allowed(tag["</think>"]) == {tag["<output>"]}
    allowed(tag["<output>"])
    allowed(200)
    assert allowed(201) == {tag["</output>"]}
    assert allowed(tag["</output>"]) == {tag["<Motion>"]}
    assert proc.state.item() == EXPECT_MOTION
    a = allowed(tag["<Motion>"])
    assert proc.state.item() == MOTION and a == set(vocab.code_ids)  # min 2: no close yet
    assert allowed(vocab.first_code_id) == set(vocab.code_ids)
    assert allowed(vocab.first_code_id + 1) == {tag["</Motion>"]}  # max 2
    assert allowed(tag["</Motion>"]) == {vocab.eos_id}


def test_constrained_sampling_always_parses_and_pins_lengths(tiny_policy: Policy) -> None:
    g = GenerationSection(max_think_tokens=12, max_plan_tokens=6, batch_size=3, top_k=0)
    seconds = [1.0, None, 2.4, 0.1]
    answers, stats = sample(tiny_policy, CAPTIONS, g, seconds=seconds, seed=1)
    assert [a.caption for a in answers] == CAPTIONS  # order kept across sorted batches
    assert all(a.parsed.ok for a in answers), [a.parsed.error for a in answers]
    assert [len(a.parsed.codes) for a in answers][::2] == [5, 12]
    assert len(answers[3].parsed.codes) == 1
    assert 1 <= len(answers[1].parsed.codes) <= 49
    assert stats.new_tokens == sum(a.new_tokens for a in answers) and stats.tokens_per_second > 0
    no_cot = Policy(
        tiny_policy.model,
        tiny_policy.tokenizer,
        tiny_policy.vocab,
        {**tiny_policy.meta, "variant": "no_cot"},
    )
    answers, _ = sample(no_cot, CAPTIONS, g, seed=1)
    assert all(a.parsed.ok and not a.parsed.steps for a in answers)
    assert all(a.text.startswith("<Motion>") for a in answers)


def test_unconstrained_random_model_fails_per_row_not_per_batch(tiny_policy: Policy) -> None:
    g = GenerationSection(max_think_tokens=8, max_plan_tokens=4, batch_size=4, top_k=0)
    answers, _ = sample(tiny_policy, CAPTIONS, g, constrained=False, seed=0)
    assert len(answers) == len(CAPTIONS)
    assert sum(a.parsed.ok for a in answers) == 0  # random weights never hit the grammar
    assert all(a.parsed.error for a in answers)


def test_policy_folder_round_trips(tiny_policy: Policy, tmp_path) -> None:
    folder = tiny_policy.save(tmp_path / "policy")
    back = Policy.load(folder)
    assert back.vocab == tiny_policy.vocab and back.meta["variant"] == "cot"
    g = GenerationSection(max_think_tokens=6, max_plan_tokens=3, batch_size=4)
    a, _ = sample(tiny_policy, CAPTIONS[:2], g, seed=3)
    b, _ = sample(back, CAPTIONS[:2], g, seed=3)
    assert [x.text for x in a] == [x.text for x in b]
    with pytest.raises(ValueError, match="trained on 128"):
        back.check_tokenizer(256, 4)
    with pytest.raises(FileNotFoundError, match="not a policy folder"):
        Policy.load(tmp_path)


@pytest.mark.slow
def test_smollm2_lora_trains_adapters_and_the_new_rows_only(cache: Path, tmp_path) -> None:
    """The cpu_smollm2 option: the packaged GGUF, dequantised, with LoRA (PEFT)."""
    from motion_r1_core.config import SFTSection
    from motion_r1_core.policy.data import Example, sft_rows
    from motion_r1_core.policy.sft import train_sft
    from motion_r1_core.tracking import NullTracker

    model, tok, vocab = load_backbone(BackboneConfig(kind="smollm2"), 64, cache)
    assert type(model).__name__ == "LlamaForCausalLM" and model.config.tie_word_embeddings
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    ex = [
        Example(str(i), str(i), c, (), "", tuple(range(i, i + 6))) for i, c in enumerate(CAPTIONS)
    ]
    rows = sft_rows(
        ex, cot=False, system="S", seconds_per_code=0.2, passes=2, drop_p=0.0, hint_p=0.0, seed=0
    )
    s = SFTSection(
        finetune="lora",
        steps=3,
        batch_size=4,
        lr=1e-2,
        warmup_steps=0,
        checkpoint_every=100,
        device="cpu",
        max_length=128,
    )
    tracker = NullTracker()
    merged, summary = train_sft(
        model, tok, vocab, rows, s, tmp_path / "ck", "fp", "cpu", tracker, progress=False
    )
    assert summary.steps == 3 and type(merged).__name__ == "LlamaForCausalLM"  # LoRA merged
    after = merged.state_dict()
    emb = "model.embed_tokens.weight"
    new = vocab.new_token_ids
    old = [i for i in range(before[emb].shape[0]) if i not in set(new)]
    assert torch.equal(after[emb][old], before[emb][old])  # the pretrained rows stay
    assert not torch.allclose(after[emb][new], before[emb][new])  # the motion rows learn
    q = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.allclose(after[q], before[q])  # adapters, merged into the weights
    norm = "model.layers.0.input_layernorm.weight"
    assert torch.equal(after[norm], before[norm])  # nothing else trains
