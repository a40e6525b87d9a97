"""GRPO of a saved policy with TRL's `GRPOTrainer` and the motion rewards.

The trainer starts from the SFT policy's folder (TRL loads the reference model from the same
path when `beta` > 0), samples `num_generations` completions per caption without the grammar
(the format reward is what keeps the grammar), scores them with `rewards.reward_functions`
and takes one clipped policy-gradient step on group-relative advantages. Two CPU savings, both
checked against TRL's own path in the tests: rollouts draw with the pipeline's `TokenSampler`
(`sampler_rollout`; with `use_vllm`, vLLM rolls out instead), and per-token log-probabilities
come from the plain output layer on the completion positions (`completion_log_probs`). Every algorithmic
setting comes from `policy.grpo` (see config/grpo.py for why each is set). Checkpoints are the
Trainer's and resume like SFT's (`sft.prepare_checkpoints`); logs go to the stage's tracker
(`rewards/<name>/mean|std`, `reward`, `kl`, `completions/clipped_ratio`, `completions/
mean_length`, `clip_ratio/*`, and `format_validity` = the rollouts' format reward).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from motion_r1_core.config import SFTSection
from motion_r1_core.config.grpo import GRPOSection
from motion_r1_core.policy.rewards import REWARDS, MotionScorer, reward_functions
from motion_r1_core.policy.sft import (
    SFTSummary,
    lora_config,
    prepare_checkpoints,
    run_settings,
    tracker_callback,
    training_summary,
)
from motion_r1_core.policy.vocabulary import MotionVocab
from motion_r1_core.tracking import Tracker


def completion_log_probs(
    model: Any,
    input_ids: Any,
    attention_mask: Any,
    logits_to_keep: int,
    temperature: float = 1.0,
    batch_size: int | None = None,
    compute_entropy: bool = False,
    top_k: int = 0,
) -> tuple[Any, Any, None]:
    """Log-probabilities (B, logits_to_keep) of the last `logits_to_keep` tokens of `input_ids`
    (B, T) under `model` at `temperature`, and their entropies (no gradient) if asked; 0 where
    `attention_mask` is 0. The output layer sees only those positions, in one matmul per chunk
    of `batch_size` rows; with `top_k` 0 these are the values of TRL's fused head
    (tests/test_grpo_stage.py).

    With `top_k` > 0 they are those of the distribution the rollouts sample: softmax over the
    k largest logits (and the token itself, should it fall outside them). TRL scores a top-k
    rollout under the whole vocabulary, so every push down of a sampled token leaks mass into
    tokens that top-k sampling never draws and so never pushes back: on the cpu profile the
    entropy of the whole distribution tripled in 50 steps while the rewards stayed flat."""
    import torch

    batch_size = batch_size or input_ids.size(0)
    logps, entropies = [], []
    for start in range(0, input_ids.size(0), batch_size):
        ids = input_ids[start : start + batch_size]
        mask = attention_mask[start : start + batch_size]
        hidden = model.get_decoder()(
            input_ids=ids, attention_mask=mask, use_cache=False
        ).last_hidden_state
        h = hidden[:, -logits_to_keep - 1 : -1]  # the positions predicting the completion
        target = ids[:, -logits_to_keep:]
        keep = mask[:, -logits_to_keep:].bool()
        logits = model.get_output_embeddings()(h[keep]).float() / temperature
        tokens = target[keep].unsqueeze(-1)
        if 0 < top_k < logits.shape[-1]:
            kth = logits.topk(top_k, dim=-1).values[:, -1:]
            inside = (logits >= kth).scatter(-1, tokens, True)
            logits = logits.masked_fill(~inside, float("-inf"))
        log_p = logits.log_softmax(-1)
        picked = log_p.gather(-1, tokens).squeeze(-1)
        out = torch.zeros(target.shape, dtype=picked.dtype, device=picked.device)
        logps.append(out.masked_scatter(keep, picked))
        if compute_entropy:
            with torch.no_grad():
                ent = -(log_p.exp() * log_p.clamp(min=-1e30)).sum(-1)  # 0 * -inf -> 0
            full = torch.zeros(target.shape, dtype=ent.dtype, device=ent.device)
            entropies.append(full.masked_scatter(keep, ent))
    return torch.cat(logps), torch.cat(entropies) if compute_entropy else None, None


def sampler_rollout(tokenizer: Any, g: GRPOSection) -> Callable[[list, Any], dict[str, Any]]:
    """A TRL `rollout_func` drawing completions with the pipeline's `TokenSampler`
    (temperature, then top-k, then top-p, as `transformers` orders them) instead of
    `generate(do_sample=True)`, whose draw over the whole vocabulary was half of a CPU decoding
    step. No grammar: the format reward judges the raw answer. The draw of step s is seeded by
    `g.seed + s`, so a resumed run samples what an uninterrupted one would.

    TRL hands it the step's prompts (conversations, each repeated G times) and the trainer; it
    returns the unpadded prompt ids, the completion ids up to and including the first end token,
    and no sampling log-probabilities (TRL recomputes them)."""
    import torch

    from motion_r1_core.policy.generate import TokenSampler

    def rollout(prompts: list, trainer: Any) -> dict[str, Any]:
        model = trainer.accelerator.unwrap_model(trainer.model)
        texts = [
            tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
            for p in prompts
        ]
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        enc = {k: v.to(trainer.accelerator.device) for k, v in enc.items()}
        draw = torch.Generator().manual_seed(g.seed + int(trainer.state.global_step))
        ends = list(trainer.eos_token_ids)
        with torch.no_grad():
            ids = model.generate(
                **enc,
                do_sample=False,  # TokenSampler has drawn the token: greedy picks it
                logits_processor=[TokenSampler(g.temperature, g.top_k, g.top_p, draw)],
                max_new_tokens=g.max_completion_length,
                eos_token_id=ends,
                pad_token_id=tokenizer.pad_token_id,
                use_cache=True,
            )
        new = ids[:, enc["input_ids"].shape[1] :].cpu()
        completions = []
        for row in new.tolist():
            stop = next((i for i, t in enumerate(row) if t in ends), len(row) - 1)
            completions.append(row[: stop + 1])
        prompt_ids = [
            r[m.bool()].tolist()
            for r, m in zip(enc["input_ids"].cpu(), enc["attention_mask"].cpu())
        ]
        return {"prompt_ids": prompt_ids, "completion_ids": completions, "logprobs": None}

    return rollout


def _trainer_class() -> type:
    from trl import GRPOTrainer

    class CompletionHeadGRPOTrainer(GRPOTrainer):
        """GRPOTrainer whose per-token log-probabilities, on one process (on a CPU, or with top-k
        rollouts), come from `completion_log_probs`: the plain output layer on the completion
        positions, under the top-k distribution the rollouts sample.

        TRL computes them with a chunked, fused head (tiles of the vocabulary, recomputed in
        the backward pass) that saves GPU memory; on a CPU its torch fallback is the slow part
        of a step (cpu size, 64 completions of ~60 tokens: 7 s forward, 16.5 s backward).
        Projecting the ~4,000 completion positions through the 49k-row head at once is the same
        arithmetic without the tiling. Elsewhere (several processes, DeepSpeed, images, MoE
        auxiliary loss, an entropy bonus, a GPU with top_k 0) TRL's own path runs unchanged.
        """

        def _get_per_token_logps_and_entropies(
            self,
            model,
            input_ids,
            attention_mask,
            logits_to_keep,
            batch_size=None,
            compute_entropy=False,
            compute_aux_loss=False,
            **multimodal,
        ):
            if (
                compute_aux_loss
                or self.args.entropy_coef != 0.0  # an entropy bonus needs its gradient
                or self.args.use_adaptive_entropy
                or any(v is not None for v in multimodal.values())
                or self.accelerator.num_processes > 1
                or (self.accelerator.device.type != "cpu" and not self.top_k)
            ):
                return super()._get_per_token_logps_and_entropies(
                    model,
                    input_ids,
                    attention_mask,
                    logits_to_keep,
                    batch_size,
                    compute_entropy,
                    compute_aux_loss,
                    **multimodal,
                )
            net = self.accelerator.unwrap_model(model)
            return completion_log_probs(
                net,
                input_ids,
                attention_mask,
                logits_to_keep,
                self.temperature,
                batch_size,
                compute_entropy,
                self.top_k or 0,
            )

    return CompletionHeadGRPOTrainer


def grpo_args(g: GRPOSection, ckpt_dir: Path, device: str, progress: bool) -> Any:
    """TRL `GRPOConfig` of the section, every algorithmic value explicit (no external
    reporting: the callback logs into the stage's run)."""
    from trl import GRPOConfig

    return GRPOConfig(
        **run_settings(g, ckpt_dir, device, progress),
        num_generations=g.num_generations,
        steps_per_generation=g.grad_accum,
        num_iterations=g.num_iterations,
        adam_beta2=g.adam_beta2,
        beta=g.beta,
        epsilon=g.epsilon,
        loss_type=g.loss_type,
        scale_rewards=g.scale_rewards,
        reward_weights=list(g.weights.as_dict().values()),
        mask_truncated_completions=g.mask_truncated_completions,
        temperature=g.temperature,
        top_k=g.top_k,
        top_p=g.top_p,
        max_completion_length=g.max_completion_length,
        use_vllm=g.use_vllm,
        vllm_mode=g.vllm_mode,
        vllm_gpu_memory_utilization=g.vllm_gpu_memory_utilization,
        model_init_kwargs={"dtype": "bfloat16" if g.bf16 else "float32"},
        log_completions=False,  # tables go to wandb/trackio only; SampleTables logs ours
    )


def train_grpo(
    policy_folder: Path,
    tokenizer: Any,
    vocab: MotionVocab,
    rows: list[dict],
    scorer: MotionScorer,
    g: GRPOSection,
    lora: SFTSection,
    ckpt_dir: Path,
    fingerprint: str,
    device: str,
    tracker: Tracker,
    prefix: str = "",
    progress: bool = True,
) -> tuple[Any, SFTSummary]:
    """GRPO of the policy saved at `policy_folder` on conversational `rows` (`prompt`, and the
    reward columns `caption`, `codes`) for `g.steps` steps.

    Returns the trained model (LoRA merged) and a summary whose history holds every logged
    row. Resumes from the newest checkpoint under `ckpt_dir` written with `fingerprint`.
    """
    from datasets import Dataset

    resume, resumed_from = prepare_checkpoints(ckpt_dir, fingerprint)
    history: list[dict[str, float]] = []
    # `rollout_func` is marked experimental in TRL 1.x; its contract is pinned by our tests
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    peft = None
    if g.finetune == "lora":
        from transformers import AutoConfig

        tied = bool(AutoConfig.from_pretrained(str(policy_folder)).tie_word_embeddings)
        peft = lora_config(lora, vocab, tied)
    trainer = _trainer_class()(
        model=str(policy_folder),
        reward_funcs=reward_functions(scorer),
        args=grpo_args(g, ckpt_dir, device, progress),
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=peft,
        rollout_func=None if g.use_vllm else sampler_rollout(tokenizer, g),
        callbacks=[
            tracker_callback(tracker, prefix, history, {"rewards/format/mean": "format_validity"})
        ],
    )
    t0 = time.perf_counter()
    out = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    seconds = time.perf_counter() - t0
    trained = trainer.model
    if g.finetune == "lora":
        trained = trained.merge_and_unload()
    return trained, training_summary(trainer, out, seconds, resumed_from, history)


__all__ = ["REWARDS", "grpo_args", "train_grpo"]
