"""Stage `sft_policy`: cold-start SFT of the motion-aware LLM, CoT and no-CoT, and their scores.

Writes artifacts/<dataset>/sft/:
    <variant>/model/          the policy (Hugging Face folder + policy.json; `Policy.load`)
    <variant>/checkpoints/    the Trainer's resumable checkpoints (a rerun continues)
    <variant>/samples/        GIFs of test captions with the chain as the title
    metrics.json              per variant: loss, tokens/s, format validity (unconstrained),
                              protocol metrics with 95% intervals, length errors
    report.md                 the table: each variant beside the "Real" row, with the evaluator,
                              the data and the chain source named
    training_curves.png       loss and learning rate of both variants

Answers sampled for the scores go to the dataset's answer cache (artifacts/<dataset>/answers),
which the report reads back instead of sampling them again.

Both variants train on the same captions for the same number of steps: every train caption
with `policy.cot_source: ground_truth` (procedural corpus), the accepted captions of
cot_triplets with `engine`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from motion_r1_core import checkpoints
from motion_r1_core.config import Config, GenerationSection
from motion_r1_core.data.humanml3d import load_split
from motion_r1_core.evaluation.generations import CachedSampler, answer_cache
from motion_r1_core.evaluation.protocol import TABLE_HEADER, load_evaluator
from motion_r1_core.expectations import CheckOutcome, metrics_outcome
from motion_r1_core.policy import data as D
from motion_r1_core.policy.backbone import load_backbone
from motion_r1_core.policy.evaluate import (
    FORMAT_STREAM,
    LENGTH_STREAM,
    eval_subset,
    format_validity,
    length_error,
    protocol,
)
from motion_r1_core.policy.generate import sample
from motion_r1_core.policy.grammar import max_codes
from motion_r1_core.policy.policy import Policy, file_sha256
from motion_r1_core.policy.sft import train_sft
from motion_r1_core.runtime import is_main_process, resolve_device
from motion_r1_core.tracking import Tracker, log_stage
from motion_r1_core.vqvae.token_checks import read_tokens
from motion_r1_core.vqvae.tokenizer import CHECKPOINT, MotionTokenizer

TRIPLETS = "triplets.parquet"


@dataclass(frozen=True)
class SFTResult:
    """What `sft_policy` produced."""

    dataset: str
    policies: dict[str, Path]
    metrics: dict[str, float]
    metrics_path: Path
    report_path: Path

    def as_metadata(self) -> dict[str, Any]:
        """Plain values for Dagster metadata or a JSON summary."""
        return {
            **self.metrics,
            "dataset": self.dataset,
            **{f"{v}_policy": str(p) for v, p in self.policies.items()},
            "report": str(self.report_path),
        }


def examples(cfg: Config, dataset: str, frames_per_token: int) -> list[D.Example]:
    """The SFT examples of the configured chain source (train split)."""
    if cfg.policy.cot_source == "ground_truth":
        tokens = read_tokens(cfg.artifacts_dir(dataset, "tokens") / "tokens.parquet")
        return D.ground_truth_examples(
            cfg.raw_dir(dataset),
            tokens,
            ["train"],
            cfg.data.min_frames,
            frames_per_token,
            cfg.policy.mirror,
        )
    path = cfg.artifacts_dir(dataset, "cot") / TRIPLETS
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: missing; run `motion-r1 stage cot_triplets --dataset {dataset}` "
            "(or set policy.cot_source=ground_truth on the procedural corpus)"
        )
    return D.engine_examples(pd.read_parquet(path), ["train"], cfg.policy.mirror)


def format_check(metrics_path: Path, minimum: float) -> CheckOutcome:
    """Passed when every variant's unconstrained format validity in the stage's metrics.json is
    at least `minimum`. A missing file fails."""

    def judge(m: dict[str, Any]) -> CheckOutcome:
        found = {k: v for k, v in m.items() if k.endswith("/format_validity")}
        return CheckOutcome(
            bool(found) and min(found.values()) >= minimum, {**found, "minimum": minimum}
        )

    return metrics_outcome(metrics_path, judge)


def run_sft_policy(cfg: Config, dataset: str, tracker: Tracker, progress: bool = True) -> SFTResult:
    """Train (or resume) every configured variant, then measure format validity, the protocol
    metrics of generated motions and the length error; write the report."""
    p = cfg.policy
    out = cfg.artifacts_dir(dataset, "sft")
    out.mkdir(parents=True, exist_ok=True)
    ckpt = cfg.artifacts_dir(dataset, "vqvae") / CHECKPOINT
    log_stage(
        tracker,
        cfg,
        "sft_policy",
        dataset,
        {"policy": p.model_dump(mode="json"), "tokenizer": str(ckpt)},
    )
    device = resolve_device(p.sft.device)
    vq = MotionTokenizer.load(ckpt, device=device)
    fps, fpt = vq.skeleton.fps, vq.frames_per_token
    exs = examples(cfg, dataset, fpt)
    data_hash = checkpoints.run_fingerprint(
        examples=[[e.id, e.caption, list(e.steps), e.plan, list(e.codes)] for e in exs]
    )
    test = load_split(cfg.raw_dir(dataset), "test", cfg.data.min_frames)
    evaluator = load_evaluator(cfg, dataset)
    ev_cfg = cfg.evaluation.model_copy(update={"replications": p.eval.replications})
    seed = cfg.evaluation.seed
    fmt_caps = [c.text for c in eval_subset(test, p.eval.format_captions, seed, FORMAT_STREAM)[1]]
    length_recs = eval_subset(test, p.eval.length_captions, seed, LENGTH_STREAM)[0]
    metrics: dict[str, float] = {"examples": float(len(exs))}
    policies: dict[str, Path] = {}
    rows: list[str] = []
    history: dict[float, dict[str, float]] = {}
    for variant in p.variants:
        cot = variant == "cot"
        model, tok, vocab = load_backbone(
            p.backbone, vq.codebook_size, cfg.root / "artifacts" / "backbones"
        )
        s = p.sft
        n_pass = D.passes_needed(len(exs), s.steps, s.batch_size * s.grad_accum)
        train_rows = D.sft_rows(
            exs,
            cot,
            p.system_prompt,
            fpt / fps,
            n_pass,
            s.drop_token_p,
            s.length_hint_p,
            s.seed,
            cap=max_codes(fpt),
            cap_spread=s.cap_spread,
        )
        fingerprint = checkpoints.run_fingerprint(
            data=data_hash,
            variant=variant,
            backbone=p.backbone.model_dump(mode="json"),
            sft=checkpoints.settings(s, ignore=("keep_checkpoints", "deepspeed")),
            system=p.system_prompt,
            codebook=vq.codebook_size,
        )
        vdir = out / variant
        trained, summary = train_sft(
            model,
            tok,
            vocab,
            train_rows,
            s,
            vdir / "checkpoints",
            fingerprint,
            device,
            tracker,
            prefix=f"{variant}/",
            progress=progress,
        )
        if not is_main_process():  # another rank of `accelerate launch`: training only
            continue
        meta = {
            "variant": variant,
            "cot_source": p.cot_source,
            "dataset": dataset,
            "profile": cfg.profile,
            "backbone": p.backbone.model_dump(mode="json"),
            "system_prompt": p.system_prompt,
            "fps": fps,
            "frames_per_token": fpt,
            "motion_tokenizer": {"path": str(ckpt), "sha256": file_sha256(ckpt)},
            "sft": {
                "steps": summary.steps,
                "train_loss": summary.train_loss,
                "examples": len(exs),
                "finetune": s.finetune,
            },
        }
        policy = Policy(trained.eval(), tok, vocab, meta)
        policies[variant] = policy.save(vdir / "model")
        for row in summary.history:
            history.setdefault(row["step"], {"step": row["step"]}).update(
                {f"{variant}/{k}": v for k, v in row.items() if k != "step"}
            )
        m = {
            "train_loss": summary.train_loss,
            "train_seconds": summary.seconds,
            "train_tokens_per_second": summary.tokens_per_second,
            "resumed_from_step": float(summary.resumed_from),
            "parameters": float(sum(x.numel() for x in trained.parameters())),
        }
        with torch.random.fork_rng(devices=[]):
            sampler = CachedSampler(
                policy, policies[variant], answer_cache(cfg, dataset), p.generation
            )
            m |= format_validity(sampler, fmt_caps, seed=seed)
            if np.isfinite(speed := sampler.throughput(False)["tokens_per_second"]):
                m["unconstrained_tokens_per_second"] = speed
            report, speeds = protocol(sampler, vq, evaluator, test, ev_cfg, progress=progress)
            m |= speeds | report.flat()
            m |= length_error(sampler, length_recs, fps, fpt, seed=seed)
            report.write(vdir / "protocol.json")
            render_samples(policy, vq, test[: p.eval.gifs], p.generation, vdir / "samples", fps)
        name = f"SFT {variant} ({p.cot_source} chains)" if cot else f"SFT {variant}"
        rows.append(report.table_row(name))
        metrics |= {f"{variant}/{k}": v for k, v in m.items()}
        tracker.log_metrics({f"{variant}/{k}": v for k, v in m.items()}, step=summary.steps)

    metrics_path = out / "metrics.json"
    if not is_main_process():
        return SFTResult(dataset, policies, metrics, metrics_path, out / "report.md")
    metrics_path.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    report_path = write_report(cfg, dataset, out, rows, metrics)
    from motion_r1_core.render import plot_curves

    artifacts = [metrics_path, report_path]
    if any(k.endswith("/loss") for row in history.values() for k in row):
        artifacts.append(
            plot_curves(
                [history[k] for k in sorted(history)],
                [f"{v}/{k}" for v in p.variants for k in ("loss", "learning_rate")],
                out / "training_curves.png",
                title=f"SFT on {dataset} ({cfg.profile})",
                log_scale=tuple(f"{v}/loss" for v in p.variants),
            )
        )
    for path in artifacts:
        tracker.log_artifact(path)
    return SFTResult(dataset, policies, metrics, metrics_path, report_path)


def render_samples(
    policy: Policy,
    vq: MotionTokenizer,
    records: list,
    generation: GenerationSection,
    folder: Path,
    fps: float,
) -> list[Path]:
    """GIFs of the policy's motions for the first caption of `records` (sampled with the
    grammar and `generation`), chain in the title."""
    from motion_r1_core.render import render_motion

    if not records:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    caps = [r.captions[0].text for r in records]
    answers, _ = sample(policy, caps, generation, constrained=True, seed=0)
    paths = []
    for r, a in zip(records, answers, strict=True):
        joints = vq.decode_joints(a.parsed.codes or [0]).numpy()
        title = a.caption + ("\n" + "; ".join(a.parsed.steps) if a.parsed.steps else "")
        paths.append(render_motion(joints, folder / f"{r.name}.gif", title, fps, vq.skeleton))
    return paths


def write_report(
    cfg: Config, dataset: str, out: Path, rows: list[str], metrics: dict[str, float]
) -> Path:
    """report.md: the variants beside the Real row, naming evaluator, data and chain source."""
    real = cfg.artifacts_dir(dataset, "encoders") / "real_baseline.md"
    real_row = real.read_text().strip().splitlines()[-1] if real.is_file() else ""
    lines = [
        f"# SFT policies on {dataset} ({cfg.profile} profile)",
        "",
        f"Evaluator: {cfg.evaluation.evaluator}; data: the {dataset} test split; chains: "
        f"{cfg.policy.cot_source}; {cfg.policy.eval.replications} replications of groups of "
        f"{cfg.evaluation.batch}, mean ± 95% interval. The Real row has "
        f"{cfg.evaluation.replications} replications.",
        "",
        TABLE_HEADER,
        *([real_row] if real_row else []),
        *rows,
        "",
        "| variant | format validity (no grammar) | length error s: free | hinted | pinned (exact share) |",
        "|---|---|---|---|---|",
    ]
    for v in cfg.policy.variants:
        g = {k[len(v) + 1 :]: x for k, x in metrics.items() if k.startswith(f"{v}/")}
        lines.append(
            f"| {v} | {g['format_validity']:.3f} | {g['length_error_s/free']:.2f}"
            f"±{g['length_error_s/free_interval']:.2f} | {g['length_error_s/hinted']:.2f}"
            f"±{g['length_error_s/hinted_interval']:.2f} | {g['length_error_s/pinned']:.2f} "
            f"({g['length_error_s/pinned_exact']:.2f}) |"
        )
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
