"""Cold-start SFT of one variant with TRL's `SFTTrainer` (loss on the completion only).

Full fine-tuning (the public Qwen2.5-3B recipe) or LoRA through PEFT, where the rows of the added
tokens (`trainable_token_indices`) and an untied output layer (`modules_to_save`) train too.
TRL projects only the completion positions through the output layer, which on a small model
with a 49k vocabulary is most of the compute. Checkpoints are the Trainer's (`checkpoint-N/`
under `ckpt_dir`: weights, optimiser, scheduler, RNG, data position); a rerun resumes from the
newest one when its fingerprint (data, backbone, settings) matches, and starts afresh otherwise.
Logs go to the stage's `Tracker` (one MLflow run) through a callback, never to a second run.
"""

from __future__ import annotations

import json
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from motion_r1_core.config import SFTSection
from motion_r1_core.policy.vocabulary import MotionVocab
from motion_r1_core.tracking import Tracker

FINGERPRINT = "fingerprint.json"


@dataclass
class SFTSummary:
    """What one SFT run did."""

    steps: int
    seconds: float
    resumed_from: int
    train_loss: float
    tokens_per_second: float
    history: list[dict[str, float]] = field(default_factory=list)


def tracker_callback(
    tracker: Tracker,
    prefix: str,
    history: list[dict[str, float]],
    aliases: dict[str, str] | None = None,
) -> Any:
    """A transformers `TrainerCallback` forwarding every logged row to `tracker` (names with
    `prefix`, and each key of `aliases` also under its alias), appending it to `history`."""
    from transformers import TrainerCallback

    class TrackerCallback(TrainerCallback):
        """Forwards the Trainer's logs (loss, lr, grad norm, tokens) and tokens/s to the stage's
        tracker, keeps them as the run's history, and checkpoints the last step (a rerun of a
        finished run then trains nothing)."""

        def __init__(self) -> None:
            self.last: tuple[float, float] | None = None

        def on_train_begin(self, args, state, control, **kwargs):
            self.last = None

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step >= state.max_steps:  # the finished run is resumable too
                control.should_save = True
            return control

        def on_log(self, args, state, control, logs=None, **kwargs):
            row = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, int | float)}
            now = time.perf_counter()
            if "num_tokens" in row:
                if self.last is not None and now > self.last[0]:
                    row["tokens_per_second"] = (row["num_tokens"] - self.last[1]) / (
                        now - self.last[0]
                    )
                self.last = (now, row["num_tokens"])
            if not row:
                return
            for key, alias in (aliases or {}).items():
                if key in row:
                    row[alias] = row[key]
            row["step"] = float(state.global_step)
            history.append(row)
            tracker.log_metrics(
                {f"{prefix}{k}": v for k, v in row.items() if k != "step"}, step=state.global_step
            )

    return TrackerCallback()


def _trainer_class() -> type:
    from trl import SFTTrainer

    class CompletionHeadSFTTrainer(SFTTrainer):
        """SFTTrainer whose output layer sees only the completion positions on one CPU process.

        TRL's fused head tiles the projection for GPUs; on a CPU it measured 2.5x slower than
        the plain head (4 layers x 256, batch 32 x 100 tokens: 9.7 s vs 3.9 s a step), and
        projecting only the ~40% of positions that carry a label takes 2.1 s. Elsewhere
        (GPU, several processes, DeepSpeed) TRL's own loss runs unchanged.
        """

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if (
                return_outputs
                or self.accelerator.num_processes > 1
                or self.accelerator.device.type != "cpu"
            ):
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            import torch
            import torch.nn.functional as F

            mode = "train" if model.training else "eval"
            labels = inputs["labels"]
            net = {k: v for k, v in inputs.items() if k in ("input_ids", "attention_mask")}
            target = labels[:, 1:]
            keep = target != -100
            with self.accelerator.autocast():  # bf16: the wrapped forward is bypassed here
                hidden = model.get_decoder()(**net, use_cache=False).last_hidden_state
                logits = model.get_output_embeddings()(hidden[:, :-1][keep]).float()
            n = keep.sum() if num_items_in_batch is None else num_items_in_batch
            loss = F.cross_entropy(logits, target[keep], reduction="sum") / torch.as_tensor(
                n, device=logits.device
            ).clamp(min=1)
            with torch.no_grad():
                correct = (logits.argmax(-1) == target[keep]).float().mean().item()
            self._metrics[mode]["mean_token_accuracy"].append(correct)
            if mode == "train":
                self._total_train_tokens += int(inputs["attention_mask"].sum())
            self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
            return loss

    return CompletionHeadSFTTrainer


def training_args(s: SFTSection, ckpt_dir: Path, device: str, progress: bool) -> Any:
    """TRL `SFTConfig` of the section (no external reporting: the callback logs)."""
    from trl import SFTConfig

    return SFTConfig(
        **run_settings(s, ckpt_dir, device, progress),
        max_length=s.max_length,
        completion_only_loss=True,
        dataset_num_proc=None,
    )


def use_bf16(setting: bool | str, device: Any) -> bool:
    """Resolve a `bf16` setting on `device`: "auto" is True where bf16 is native (a CUDA device
    that supports it, a CPU with AVX512-BF16 or AMX through oneDNN), else False."""
    if setting != "auto":
        return bool(setting)
    import torch

    kind = torch.device(device).type
    if kind == "cuda":
        return torch.cuda.is_bf16_supported()
    if kind == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return False


def run_settings(section: Any, ckpt_dir: Path, device: Any, progress: bool) -> dict[str, Any]:
    """The `TrainingArguments` an SFT or GRPO section sets alike: steps, batch, optimiser and
    schedule, logging, checkpoints, seeds, precision, device and DeepSpeed; no external
    reporting (the stage's callback logs) and no pinned memory on a CPU. `device` is a name
    or a `torch.device`."""
    import torch

    on_cpu = torch.device(device).type == "cpu"
    return {
        "output_dir": str(ckpt_dir),
        "max_steps": section.steps,
        "per_device_train_batch_size": section.batch_size,
        "gradient_accumulation_steps": section.grad_accum,
        "learning_rate": section.lr,
        "lr_scheduler_type": section.scheduler,
        "warmup_steps": section.warmup_steps,
        "weight_decay": section.weight_decay,
        "max_grad_norm": section.max_grad_norm,
        "logging_steps": section.log_every,
        "save_steps": section.checkpoint_every,
        "save_total_limit": section.keep_checkpoints,
        "save_strategy": "steps",
        "seed": section.seed,
        "data_seed": section.seed,
        "bf16": use_bf16(section.bf16, device),
        "activation_checkpointing": section.gradient_checkpointing,  # transformers 5 name
        "use_cpu": on_cpu,
        "deepspeed": str(section.deepspeed) if section.deepspeed else None,
        "report_to": "none",
        "disable_tqdm": not progress,
        "dataloader_num_workers": 0,
        "dataloader_pin_memory": not on_cpu,
    }


def lora_config(s: SFTSection, vocab: MotionVocab, tied: bool) -> Any:
    """PEFT LoRA with the added token rows trainable, and the output layer when untied (a tied
    one shares the embedding's trainable rows)."""
    from peft import LoraConfig

    return LoraConfig(
        r=s.lora.r,
        lora_alpha=s.lora.alpha,
        lora_dropout=s.lora.dropout,
        target_modules=s.lora.target_modules,
        trainable_token_indices={"embed_tokens": vocab.new_token_ids},
        modules_to_save=None if tied else ["lm_head"],
        task_type="CAUSAL_LM",
    )


def _latest(ckpt_dir: Path) -> tuple[Path | None, int]:
    found = [
        (int(p.name.split("-")[1]), p)
        for p in ckpt_dir.glob("checkpoint-*")
        if p.name.split("-")[1].isdigit() and (p / "trainer_state.json").is_file()
    ]
    if not found:
        return None, 0
    step, path = max(found)
    return path, step


def prepare_checkpoints(ckpt_dir: Path, fingerprint: str) -> tuple[Path | None, int]:
    """The checkpoint to resume from (and its step) if `ckpt_dir` was written under the same
    fingerprint; otherwise the folder is emptied (with a warning) and (None, 0)."""
    ckpt_dir = Path(ckpt_dir)
    marker = ckpt_dir / FINGERPRINT
    if marker.is_file() and json.loads(marker.read_text()).get("fingerprint") != fingerprint:
        warnings.warn(
            f"{ckpt_dir}: checkpoints of other data or settings; starting afresh", stacklevel=2
        )
        shutil.rmtree(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"fingerprint": fingerprint}) + "\n")
    return _latest(ckpt_dir)


def train_sft(
    model: Any,
    tokenizer: Any,
    vocab: MotionVocab,
    rows: list[dict],
    s: SFTSection,
    ckpt_dir: Path,
    fingerprint: str,
    device: str,
    tracker: Tracker,
    prefix: str = "",
    progress: bool = True,
) -> tuple[Any, SFTSummary]:
    """Train `model` on conversational prompt/completion `rows` for `s.steps` steps.

    Returns the trained model (LoRA merged into the weights) and a summary. Resumes from the
    newest matching checkpoint under `ckpt_dir`.
    """
    from datasets import Dataset

    resume, resumed_from = prepare_checkpoints(ckpt_dir, fingerprint)
    history: list[dict[str, float]] = []
    peft = None
    if s.finetune == "lora":
        peft = lora_config(s, vocab, bool(getattr(model.config, "tie_word_embeddings", False)))
    trainer = _trainer_class()(
        model=model,
        args=training_args(s, ckpt_dir, device, progress),
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=peft,
        callbacks=[tracker_callback(tracker, prefix, history)],
    )
    t0 = time.perf_counter()
    out = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    seconds = time.perf_counter() - t0
    # without accelerate's mixed-precision wrapper of forward (bf16 autocast): sampling after
    # training runs as the saved model does
    trained = trainer.accelerator.unwrap_model(trainer.model, keep_fp32_wrapper=False)
    if s.finetune == "lora":
        trained = trained.merge_and_unload()
    return trained, training_summary(trainer, out, seconds, resumed_from, history)


def training_summary(
    trainer: Any, out: Any, seconds: float, resumed_from: int, history: list[dict[str, float]]
) -> SFTSummary:
    """The summary of a finished `trainer.train()` (its output `out`): the whole run's log,
    restored from the checkpoint on resume, with this session's tokens/s from `history`."""
    speeds = [h["tokens_per_second"] for h in history if "tokens_per_second" in h]
    speed_at = {h["step"]: h["tokens_per_second"] for h in history if "tokens_per_second" in h}
    rows = [
        {
            **{k: float(v) for k, v in row.items() if isinstance(v, int | float)},
            **({"tokens_per_second": speed_at[row["step"]]} if row["step"] in speed_at else {}),
        }
        for row in trainer.state.log_history
        if "step" in row
    ]
    return SFTSummary(
        steps=int(trainer.state.global_step),
        seconds=seconds,
        resumed_from=resumed_from,
        train_loss=float(out.training_loss),
        tokens_per_second=float(sorted(speeds)[len(speeds) // 2]) if speeds else float("nan"),
        history=rows,
    )
