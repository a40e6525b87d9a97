"""Stage `grpo_policy`: the GRPO settings are explicit, ablations are configurations, and on the
smoke corpus a few steps from the smoke SFT policy log every reward component, KL and format
validity into a real MLflow run, write the held-out comparison and resume."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from motion_r1_core.config import load_config
from motion_r1_core.config.grpo import GRPOSection, RewardWeights
from motion_r1_core.policy.grpo import grpo_args
from motion_r1_core.policy.policy import Policy
from motion_r1_core.policy.rewards import REWARDS
from motion_r1_core.stages.grpo_policy import format_floor_check, run_grpo_policy
from motion_r1_core.tracking import NullTracker, mlflow_run


def test_every_algorithmic_setting_reaches_trl_explicitly(tmp_path: Path) -> None:
    args = grpo_args(GRPOSection(), tmp_path, "cpu", progress=False)
    # the public Qwen2.5-3B recipe, where TRL 1.x defaults differ (beta 0.0, dapo, group)
    assert (args.beta, args.loss_type, args.scale_rewards) == (0.001, "grpo", "none")
    assert (args.epsilon, args.max_grad_norm, args.num_generations) == (0.2, 0.1, 8)
    assert (args.weight_decay, args.adam_beta2, args.num_iterations) == (0.1, 0.99, 1)
    assert args.reward_weights == [1.0, 1.0, 1.0, 0.0]  # REWARDS order, physics off
    assert args.report_to in ([], "none", ["none"])  # the stage's callback logs, nothing else
    semantic = GRPOSection(ablation="semantic")
    assert grpo_args(semantic, tmp_path, "cpu", False).reward_weights == [1.0, 0.0, 1.0, 0.0]


def test_ablations_are_named_configurations_and_bad_ones_are_refused() -> None:
    cfg = load_config(overrides=["policy.grpo.ablation=motion"])
    assert cfg.policy.grpo.weights == RewardWeights(semantic_similarity=0.0)
    assert set(cfg.policy.grpo.ablations) == {"semantic", "motion", "both", "both_physics"}
    assert cfg.policy.grpo.ablations["both_physics"].physics > 0
    with pytest.raises(ValueError, match="ablation 'nope' is not one of"):
        GRPOSection(ablation="nope")
    with pytest.raises(ValueError, match=r"batch_size \(12\) must be a multiple"):
        GRPOSection(batch_size=12)
    with pytest.raises(ValueError, match="letters, digits and _"):
        GRPOSection(ablations={"a+b": RewardWeights()}, ablation="a+b")
    custom = GRPOSection(rewards=RewardWeights(format=2.0), ablation="nope")
    assert custom.weights.format == 2.0


def test_format_floor_check_compares_with_the_sft_policy(tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({"grpo/format_validity": 0.95, "sft/format_validity": 0.955}))
    assert format_floor_check(path, 0.01).passed
    assert not format_floor_check(path, 0.0).passed
    assert not format_floor_check(tmp_path / "missing.json", 0.01).passed


@pytest.fixture(scope="module")
def grpo(smoke_sft, tmp_path_factory):
    cfg, *_ = smoke_sft
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlruns.db'}"
    t0 = time.perf_counter()
    with mlflow_run(uri, "test", run_name="grpo_policy/procedural") as tracker:
        result = run_grpo_policy(cfg, "procedural", tracker, progress=False)
    return cfg, result, uri, tracker.run_id, time.perf_counter() - t0


@pytest.mark.slow
def test_the_mlflow_run_holds_every_reward_kl_and_format_validity(grpo) -> None:
    cfg, result, uri, run_id, seconds = grpo
    print(f"smoke GRPO {seconds:.0f} s ({result.metrics['train_seconds']:.0f} s of training)")
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(run_id)
    names = set(run.data.metrics)
    for r in REWARDS:
        assert {f"rewards/{r}/mean", f"rewards/{r}/std"} <= names, r
    assert {"kl", "format_validity", "reward", "completions/clipped_ratio"} <= names
    history = client.get_metric_history(run_id, "kl")
    assert [m.step for m in history] == list(range(1, cfg.policy.grpo.steps + 1))
    fmt = client.get_metric_history(run_id, "format_validity")
    assert all(0.0 <= m.value <= 1.0 for m in fmt)
    assert run.data.params["grpo.beta"] == "0.001" and run.data.params["grpo.loss_type"] == "grpo"
    assert run.data.tags["ablation"] == "both"
    tables = [a.path for a in client.list_artifacts(run_id, "completions")]
    assert tables == ["completions/step_000000.json", "completions/step_000002.json"]
    rows = json.loads(Path(client.download_artifacts(run_id, tables[0])).read_text())
    assert rows and {"caption", "completion", "total", *REWARDS} <= set(rows[0])
    assert seconds < 300


@pytest.mark.slow
def test_held_out_rewards_of_both_policies_and_the_report(grpo) -> None:
    cfg, result, *_ = grpo
    m = result.metrics
    for who in ("sft", "grpo"):
        for r in (*REWARDS, "total"):
            assert m[f"{who}/reward/{r}_interval"] >= 0, (who, r)
        assert m[f"{who}/reward/format"] == m[f"{who}/format_validity"]
        assert m[f"{who}/reward/total"] == pytest.approx(
            sum(m[f"{who}/reward/{r}"] * w for r, w in cfg.policy.grpo.weights.as_dict().items())
        )
    assert 0 <= m["grpo/top3"] <= 1 and m["heldout_captions"] == cfg.policy.grpo.eval.captions
    report = result.report_path.read_text()
    assert "reward.safetensors" in report and "ground_truth" in report and "GRPO both" in report
    pol = Policy.load(result.policy)
    assert pol.cot and pol.meta["grpo"]["ablation"] == "both"
    assert pol.meta["grpo"]["weights"] == cfg.policy.grpo.weights.as_dict()
    assert list((result.policy.parent / "samples").glob("*.gif"))


@pytest.mark.slow
def test_rerun_resumes_from_the_last_checkpoint(grpo) -> None:
    cfg, *_ = grpo
    quick = cfg.model_copy(
        update={
            "policy": cfg.policy.model_copy(
                update={
                    "grpo": cfg.policy.grpo.model_copy(
                        update={
                            "eval": cfg.policy.grpo.eval.model_copy(
                                update={"captions": 4, "gifs": 0}
                            )
                        }
                    )
                }
            )
        }
    )
    again = run_grpo_policy(quick, "procedural", NullTracker(), progress=False)
    assert again.metrics["resumed_from_step"] == cfg.policy.grpo.steps
    assert again.metrics["train_seconds"] < 10


def test_completion_log_probs_equal_trl_fused_head_values_and_gradients() -> None:
    import copy

    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    from motion_r1_core.policy.grpo import completion_log_probs

    torch.manual_seed(0)
    cfg = Qwen2Config(
        vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, tie_word_embeddings=False,
    )  # fmt: skip
    ours_model = Qwen2ForCausalLM(cfg).float()
    trl_model = copy.deepcopy(ours_model)
    add_fused_lm_head(trl_model, temperature=0.7, outputs=("log_probs", "entropy"))
    ids = torch.randint(0, 97, (3, 12))
    mask = torch.ones_like(ids)
    mask[0, :4] = 0  # left padding
    mask[2, -2:] = 0  # a completion that ended early
    keep = 5
    logps, ent, _ = completion_log_probs(ours_model, ids, mask, keep, 0.7, 2, True)
    labels = ids.masked_fill(mask == 0, -100)
    labels[:, :-keep] = -100
    out = trl_model(input_ids=ids, attention_mask=mask, labels=labels, fused_lm_head=True)
    m = mask[:, -keep:].bool()
    assert torch.allclose(logps[m], out.log_probs[:, -keep:][m], atol=1e-5)
    assert torch.allclose(ent[m], out.entropy[:, -keep:][m], atol=1e-4)
    assert (logps[~m] == 0).all()
    (logps * m).sum().backward()
    (out.log_probs[:, -keep:] * m).sum().backward()
    for a, b in zip(ours_model.parameters(), trl_model.parameters(), strict=True):
        assert torch.allclose(a.grad, b.grad, atol=1e-4), a.shape


def test_top_k_log_probs_are_those_of_the_sampled_distribution() -> None:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from motion_r1_core.policy.grpo import completion_log_probs

    torch.manual_seed(1)
    cfg = Qwen2Config(
        vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2,
    )  # fmt: skip
    model = Qwen2ForCausalLM(cfg).float()
    ids = torch.randint(0, 50, (2, 9))
    mask = torch.ones_like(ids)
    logps, ent, _ = completion_log_probs(model, ids, mask, 4, 0.5, None, True, top_k=3)
    logits = model(input_ids=ids, attention_mask=mask).logits[:, -5:-1].float() / 0.5
    for b in range(2):
        for t in range(4):
            row, token = logits[b, t], int(ids[b, -4 + t])
            allowed = set(row.topk(3).indices.tolist()) | {token}  # the token itself stays
            kept = row[sorted(allowed)]
            want = row[token] - torch.logsumexp(kept, 0)
            assert logps[b, t].item() == pytest.approx(want.item(), abs=1e-5)
            p = torch.softmax(kept, 0)
            assert ent[b, t].item() == pytest.approx(-(p * p.log()).sum().item(), abs=1e-5)
    logps.sum().backward()  # finite gradients, nothing leaks into the untouched tail
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
