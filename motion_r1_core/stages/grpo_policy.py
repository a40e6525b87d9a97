"""Stage `grpo_policy`: GRPO of the CoT SFT policy with one reward ablation, and its scores.

Writes artifacts/<dataset>/grpo/<ablation>/:
    model/              the policy (Policy folder; policy.json names the ablation and weights)
    checkpoints/        the Trainer's resumable checkpoints (a rerun continues)
    completions/        tables of sample completions with their rewards (also in MLflow)
    samples/            GIFs of test captions with the chain as the title
    metrics.json        training summary; on held-out test captions, sampled like the rollouts,
                        the mean of every reward and of the total, with 95% intervals, for the
                        SFT policy (`sft/...`) and the GRPO policy (`grpo/...`) on the same
                        captions and seed; the protocol metrics of the GRPO policy
    report.md           both tables, naming the evaluator, the data, the chain source and the
                        reward encoder
    training_curves.png rewards, KL and completion length per step

Ablations (`policy.grpo.ablations`): semantic, motion, both, both_physics; `--set
policy.grpo.ablation=semantic` picks one, the Dagster `ablation_job` runs them all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from motion_r1_core import checkpoints
from motion_r1_core.config import Config
from motion_r1_core.data.humanml3d import load_split
from motion_r1_core.encoders.model import TextMotionModel
from motion_r1_core.evaluation.protocol import load_evaluator
from motion_r1_core.expectations import CheckOutcome, metrics_outcome
from motion_r1_core.policy.generate import sample
from motion_r1_core.policy.grammar import prompt_messages
from motion_r1_core.policy.grpo import train_grpo
from motion_r1_core.policy.policy import Policy, file_sha256
from motion_r1_core.policy.rewards import REWARDS, MotionScorer, SampleTables
from motion_r1_core.runtime import is_main_process, resolve_device
from motion_r1_core.stages.sft_policy import examples, render_samples
from motion_r1_core.tracking import Tracker, log_stage
from motion_r1_core.vqvae.tokenizer import CHECKPOINT, MotionTokenizer

START_VARIANT = "cot"  # GRPO refines the CoT policy (the paper's second stage)


@dataclass(frozen=True)
class GRPOResult:
    """What `grpo_policy` produced."""

    dataset: str
    ablation: str
    policy: Path
    metrics: dict[str, float]
    metrics_path: Path
    report_path: Path

    def as_metadata(self) -> dict[str, Any]:
        """Plain values for Dagster metadata or a JSON summary."""
        return {
            **self.metrics,
            "dataset": self.dataset,
            "ablation": self.ablation,
            "policy": str(self.policy),
            "report": str(self.report_path),
        }


def grpo_dir(cfg: Config, dataset: str, ablation: str) -> Path:
    """artifacts/<dataset>/grpo/<ablation>."""
    return cfg.artifacts_dir(dataset, "grpo") / ablation


def rollout_generation(cfg: Config) -> Any:
    """The generation settings of the rollouts (unconstrained, GRPO's temperature and top-k),
    for sampling held-out captions the way training sampled them."""
    g = cfg.policy.grpo
    return cfg.policy.generation.model_copy(
        update={
            "temperature": g.temperature,
            "top_k": g.top_k,
            "top_p": g.top_p,
            "constrained": False,
        }
    )


def heldout(cfg: Config, test: list, vq: MotionTokenizer) -> tuple[list[str], list]:
    """`policy.grpo.eval.captions` (record, caption) pairs of the `test` records drawn without
    replacement, and the records' codes (the reference motions of the motion reward)."""
    pairs = [(i, c.text) for i, r in enumerate(test) for c in r.captions]
    rng = np.random.default_rng(cfg.evaluation.seed)
    pick = rng.choice(len(pairs), min(cfg.policy.grpo.eval.captions, len(pairs)), replace=False)
    records = [test[pairs[k][0]] for k in pick]
    codes = vq.encode_many([r.features for r in records])
    return [pairs[k][1] for k in pick], codes


def reward_means(
    policy: Policy,
    scorer: MotionScorer,
    captions: list[str],
    codes: list,
    cfg: Config,
) -> dict[str, float]:
    """Each reward's and the weighted total's mean and 95% interval over one sample per caption
    (rollout settings, no grammar), and format validity."""
    answers, stats = sample(policy, captions, rollout_generation(cfg), seed=cfg.evaluation.seed)
    s = scorer.score_texts([a.text for a in answers], captions, codes)
    cols = {k: getattr(s, k) for k in REWARDS}
    cols["total"] = s.total(cfg.policy.grpo.weights.as_dict())
    out: dict[str, float] = {}
    for k, x in cols.items():
        out[f"reward/{k}"] = float(x.mean())
        out[f"reward/{k}_interval"] = float(1.96 * x.std(ddof=1) / np.sqrt(len(x)))
    out["format_validity"] = float(s.format.mean())
    out["mean_new_tokens"] = float(np.mean([a.new_tokens for a in answers]))
    out["tokens_per_second"] = stats.tokens_per_second
    return out


def format_floor_check(metrics_path: Path, tolerance: float) -> CheckOutcome:
    """Passed when the GRPO policy's format validity on the held-out captions is at least the
    SFT policy's on the same captions and seed, minus `tolerance`."""

    def judge(m: dict[str, Any]) -> CheckOutcome:
        grpo, sft = m.get("grpo/format_validity"), m.get("sft/format_validity")
        ok = grpo is not None and sft is not None and grpo >= sft - tolerance
        return CheckOutcome(ok, {"grpo": grpo, "sft": sft, "tolerance": tolerance})

    return metrics_outcome(metrics_path, judge)


def run_grpo_policy(
    cfg: Config, dataset: str, tracker: Tracker, progress: bool = True
) -> GRPOResult:
    """GRPO of artifacts/<dataset>/sft/cot/model with the configured ablation's rewards
    (resuming from checkpoints), then the held-out rewards of SFT vs GRPO and the protocol."""
    p = cfg.policy
    g = p.grpo
    ablation = g.ablation if g.rewards is None else "custom"
    weights = g.weights.as_dict()
    out = grpo_dir(cfg, dataset, ablation)
    out.mkdir(parents=True, exist_ok=True)
    sft_folder = cfg.artifacts_dir(dataset, "sft") / START_VARIANT / "model"
    encoder_path = cfg.artifacts_dir(dataset, "encoders") / "reward.safetensors"
    ckpt = cfg.artifacts_dir(dataset, "vqvae") / CHECKPOINT
    log_stage(
        tracker,
        cfg,
        "grpo_policy",
        dataset,
        {"grpo": g.model_dump(mode="json"), "weights": weights, "start": str(sft_folder)},
    )
    tracker.set_tags({"ablation": ablation, "mlflow.runName": f"grpo_policy/{dataset}/{ablation}"})
    device = resolve_device(g.device)
    sft = Policy.load(sft_folder)
    if not sft.cot:
        raise ValueError(f"{sft_folder}: GRPO starts from the CoT policy, this one is no_cot")
    vq = MotionTokenizer.load(ckpt, device=device)
    sft.check_tokenizer(vq.codebook_size, vq.frames_per_token)
    encoder = TextMotionModel.load(encoder_path, device=device)
    tables = SampleTables(
        out / "completions",
        g.sample_every,
        weights,
        sink=lambda path: tracker.log_artifact(path, "completions"),
    )
    scorer = MotionScorer(
        sft.tokenizer, True, vq, encoder, on_batch=tables if is_main_process() else None
    )

    exs = examples(cfg, dataset, vq.frames_per_token)
    rows = [
        {
            "prompt": prompt_messages(p.system_prompt, e.caption),
            "caption": e.caption,
            "codes": list(e.codes),
        }
        for e in exs
    ]
    fingerprint = checkpoints.run_fingerprint(
        data=checkpoints.run_fingerprint(rows=[[r["caption"], r["codes"]] for r in rows]),
        start=file_sha256(sft_folder / "model.safetensors"),
        encoder=file_sha256(encoder_path),
        grpo=checkpoints.settings(
            g, ignore=("keep_checkpoints", "deepspeed", "eval", "sample_every", "log_every")
        ),
        weights=weights,
    )
    trained, summary = train_grpo(
        sft_folder,
        sft.tokenizer,
        sft.vocab,
        rows,
        scorer,
        g,
        p.sft,
        out / "checkpoints",
        fingerprint,
        device,
        tracker,
        progress=progress,
    )
    scorer.on_batch = None
    if not is_main_process():  # another rank of `accelerate launch`: training only
        return GRPOResult(
            dataset, ablation, out / "model", {}, out / "metrics.json", out / "report.md"
        )
    meta = {
        **sft.meta,
        "grpo": {
            "ablation": ablation,
            "weights": weights,
            "steps": summary.steps,
            "start": str(sft_folder),
            "reward_encoder": {"path": str(encoder_path), "sha256": file_sha256(encoder_path)},
        },
    }
    policy = Policy(trained.eval(), sft.tokenizer, sft.vocab, meta)
    policy_path = policy.save(out / "model")

    test = load_split(cfg.raw_dir(dataset), "test", cfg.data.min_frames)
    metrics = evaluate_against_sft(
        cfg, dataset, test, sft, policy, policy_path, scorer, vq, summary, progress
    )
    metrics_path = out / "metrics.json"
    metrics_path.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    tracker.log_metrics(metrics, step=summary.steps)
    report_path = write_report(cfg, dataset, ablation, out, metrics)
    render_samples(
        policy,
        vq,
        test[: g.eval.gifs],
        p.generation,
        out / "samples",
        vq.skeleton.fps,
    )
    artifacts = [metrics_path, report_path, curves(summary.history, out, dataset, cfg, ablation)]
    for path in artifacts:
        if path is not None:
            tracker.log_artifact(path)
    return GRPOResult(dataset, ablation, policy_path, metrics, metrics_path, report_path)


def evaluate_against_sft(
    cfg: Config,
    dataset: str,
    test: list,
    sft: Policy,
    grpo: Policy,
    grpo_folder: Path,
    scorer: MotionScorer,
    vq: MotionTokenizer,
    summary: Any,
    progress: bool,
) -> dict[str, float]:
    """Held-out rewards of both policies (same captions, same seed) and the GRPO policy's
    protocol metrics (its answers go to the answer cache the report reads); the SFT policy's
    come from the sft_policy stage's metrics.json."""
    import torch

    from motion_r1_core.evaluation.generations import CachedSampler, answer_cache
    from motion_r1_core.policy.evaluate import protocol

    captions, codes = heldout(cfg, test, vq)
    m: dict[str, float] = {
        "train_seconds": summary.seconds,
        "train_steps": float(summary.steps),
        "resumed_from_step": float(summary.resumed_from),
        "heldout_captions": float(len(captions)),
    }
    last = next((row for row in reversed(summary.history) if "reward" in row), {})
    m |= {f"train/{k}": v for k, v in last.items() if k.startswith(("reward", "kl"))}
    with torch.random.fork_rng(devices=[]):
        for name, pol in (("sft", sft), ("grpo", grpo)):
            m |= {
                f"{name}/{k}": v for k, v in reward_means(pol, scorer, captions, codes, cfg).items()
            }
        ev_cfg = cfg.evaluation.model_copy(
            update={"replications": cfg.policy.grpo.eval.replications}
        )
        sampler = CachedSampler(
            grpo, grpo_folder, answer_cache(cfg, dataset), cfg.policy.generation
        )
        report, _ = protocol(sampler, vq, load_evaluator(cfg, dataset), test, ev_cfg, progress)
    m |= {f"grpo/{k}": v for k, v in report.flat().items()}
    sft_metrics = cfg.artifacts_dir(dataset, "sft") / "metrics.json"
    if sft_metrics.is_file():
        prior = json.loads(sft_metrics.read_text())
        m |= {
            f"sft/{k[len(START_VARIANT) + 1 :]}": v
            for k, v in prior.items()
            if k.startswith(f"{START_VARIANT}/top") or k.startswith(f"{START_VARIANT}/fid")
        }
    return m


def _row(name: str, m: dict[str, float], prefix: str) -> str:
    def cell(k: str) -> str:
        v, ci = m.get(f"{prefix}/{k}"), m.get(f"{prefix}/{k}_interval")
        return "–" if v is None else f"{v:.3f}±{ci:.3f}" if ci is not None else f"{v:.3f}"

    return f"| {name} | " + " | ".join(cell(k) for k in ("top1", "top2", "top3", "fid")) + " |"


def write_report(cfg: Config, dataset: str, ablation: str, out: Path, m: dict[str, float]) -> Path:
    """report.md: held-out rewards SFT vs GRPO, and R-Precision/FID beside the SFT policy."""
    g = cfg.policy.grpo
    lines = [
        f"# GRPO ({ablation}) on {dataset} ({cfg.profile} profile)",
        "",
        f"Start: the CoT SFT policy ({cfg.policy.cot_source} chains). Rewards (weights): "
        + ", ".join(f"{k} {w:g}" for k, w in g.weights.as_dict().items())
        + f"; reward encoder: artifacts/{dataset}/encoders/reward.safetensors. "
        f"{int(m['train_steps'])} steps of {g.batch_size // g.num_generations} captions x "
        f"G = {g.num_generations}; "
        + (
            f"resumed at step {int(m['resumed_from_step'])}, this run trained "
            if m["resumed_from_step"]
            else "trained in "
        )
        + f"{m['train_seconds'] / 60:.1f} min.",
        "",
        f"## Rewards on {int(m['heldout_captions'])} held-out test captions",
        "",
        "One sample per caption with the rollout settings (no grammar), same captions and seed "
        "for both policies; mean ± 95% interval.",
        "",
        "| policy | " + " | ".join(REWARDS) + " | total | format validity |",
        "|---|" + "---|" * (len(REWARDS) + 2),
    ]
    for name in ("sft", "grpo"):
        cells = [
            f"{m[f'{name}/reward/{k}']:.3f}±{m[f'{name}/reward/{k}_interval']:.3f}"
            for k in (*REWARDS, "total")
        ]
        lines.append(
            f"| {name.upper()} | " + " | ".join(cells) + f" | {m[f'{name}/format_validity']:.3f} |"
        )
    lines += [
        "",
        f"## Metric protocol ({cfg.evaluation.evaluator} evaluator, {dataset} test split)",
        "",
        f"{g.eval.replications} replications of groups of {cfg.evaluation.batch}, grammar on; the "
        "SFT row is the sft_policy stage's. The reward encoder never scores these.",
        "",
        "| | Top-1 | Top-2 | Top-3 | FID |",
        "|---|---|---|---|---|",
        _row(f"SFT cot ({cfg.policy.cot_source} chains)", m, "sft"),
        _row(f"GRPO {ablation}", m, "grpo"),
    ]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def curves(
    history: list[dict[str, float]], out: Path, dataset: str, cfg: Config, ablation: str
) -> Path | None:
    """training_curves.png: every reward, the total, KL and completion length per step."""
    from motion_r1_core.render import plot_curves

    keys = [f"rewards/{k}/mean" for k in REWARDS] + ["reward", "kl", "completions/mean_length"]
    keys = [k for k in keys if any(k in row for row in history)]
    if not keys:
        return None
    return plot_curves(
        history,
        keys,
        out / "training_curves.png",
        title=f"GRPO {ablation} on {dataset} ({cfg.profile})",
    )
