"""Stage `cot_triplets`: decompose captions into verified chains and join them with motion tokens.

Writes artifacts/<dataset>/cot/:
    triplets.parquet          id, motion_id, split, mirrored, caption, cot, steps, plan, tokens,
                              n_tokens, attempts, relevance, logic, conciseness (one row per
                              accepted caption, plus its side-swapped mirror with `cot.mirror`)
    verification_log.jsonl    every caption: status, every attempt (answer, reasoning, parsed
                              chain, judge verdict, reasons), seconds
    fidelity.jsonl            (procedural) per chain: predicted vs true actions
    metrics.json              counts, acceptance rate, attempts, judge scores, paid requests,
                              tokens, seconds per caption, fidelity, checks
    judge_scores.png          histograms of the judge's scores and of attempts per caption
    cache/answers.sqlite      every paid answer (kept across runs: a rerun pays for nothing)
    server.log                the local server's output, when one was started

Captions: every caption line of the motions in `cot.splits` kept by the T2M length filter (a
timed caption is a sub-clip, its tokens the matching slice), or a seeded sample of
`cot.max_captions` of them. Caption ids are `<motion id>:<line of texts/ID.txt>`.
With `cot.client.base_url` unset, the local SmolLM2 server is started for the run and stopped.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from motion_r1_core.config import Config, CoTConfig
from motion_r1_core.cot.cache import AnswerCache, CachedClient
from motion_r1_core.cot.client import ChatClient, Sampling
from motion_r1_core.cot.engine import CaptionResult, EngineSettings, run_engine
from motion_r1_core.cot.fidelity import chain_fidelity, read_decompositions, summarise
from motion_r1_core.cot.server import chat_endpoint
from motion_r1_core.cot.triplet_checks import TripletReport, validate_triplets
from motion_r1_core.cot.triplets import SCORES, CaptionItem, select_captions, triplet_table
from motion_r1_core.expectations import ChecksFailed
from motion_r1_core.runtime import progress_bar
from motion_r1_core.tracking import Tracker, log_stage
from motion_r1_core.vqvae.token_checks import read_tokens

PARTIAL_LOG = "verification_log.partial.jsonl"  # captions finished so far, flushed one by one
STRUCTURAL_CHECKS = ("format", "step_counts", "tokens", "unique_ids")  # these stop the stage


class TripletChecksFailed(ChecksFailed):
    """The triplets failed a structural check; the message is the readable report."""

    report: TripletReport


@dataclass(frozen=True)
class CoTResult:
    """What `cot_triplets` produced."""

    dataset: str
    path: Path
    metrics: dict[str, float]
    metrics_path: Path
    report: TripletReport = field(repr=False)

    def as_metadata(self) -> dict[str, Any]:
        """Plain values for Dagster metadata or a JSON summary."""
        return {**self.metrics, "dataset": self.dataset, "path": str(self.path)}


def engine_settings(cot: CoTConfig) -> EngineSettings:
    """The engine's settings from the `cot` section of the configuration."""
    return EngineSettings(
        attempts=cot.attempts,
        min_score=cot.min_score,
        judge=cot.judge,
        sampling=Sampling(temperature=cot.temperature, top_p=cot.top_p, max_tokens=cot.max_tokens),
        judge_sampling=Sampling(temperature=0.0, max_tokens=cot.judge_max_tokens),
        limits=cot.limits,
    )


# ----------------------------------------------------------------------------- the steps
def _captions_with_tokens(cfg: Config, dataset: str) -> tuple[list[CaptionItem], pd.DataFrame]:
    """The captions to decompose and the token dataset; raises before a request is paid for
    if no caption passes the filter or a selected motion has no tokens."""
    cot, folder = cfg.cot, cfg.raw_dir(dataset)
    tokens = read_tokens(cfg.artifacts_dir(dataset, "tokens") / "tokens.parquet")
    items = select_captions(
        folder, list(cot.splits), cfg.data.min_frames, cot.max_captions, cot.seed, cot.mirror
    )
    if not items:
        raise ValueError(f"{folder}: no caption in splits {list(cot.splits)} passes the filter")
    missing = sorted({i.motion_id for i in items} - set(tokens["id"]))
    if missing:
        raise ValueError(
            f"tokens.parquet: {len(missing)} motions of {folder} have no tokens (e.g. "
            f"{', '.join(missing[:5])}); rerun motion_tokens"
        )
    return items, tokens


@dataclass(frozen=True)
class _EngineRun:
    """The engine's results (one per caption, in order) and what the run cost."""

    results: list[CaptionResult]
    base_url: str
    paid_requests: int
    cached_answers: int
    paid_tokens: int
    seconds: float


def _decompose(
    cfg: Config, items: list[CaptionItem], out: Path, tracker: Tracker, progress: bool
) -> _EngineRun:
    """Run the engine over `items` through the answer cache. Each finished caption goes to
    verification_log.partial.jsonl at once, so a killed run shows what it finished; progress
    is logged every 10 captions."""
    cot, done = cfg.cot, []
    t0 = time.perf_counter()
    with (
        chat_endpoint(cfg, out / "server.log") as base_url,
        contextlib.closing(AnswerCache(out / "cache" / "answers.sqlite")) as cache,
        open(out / PARTIAL_LOG, "w", encoding="utf-8") as plog,
        progress_bar("decomposing captions", len(items), enabled=progress) as bar,
    ):
        chat = ChatClient(cot.client, base_url=base_url)
        client = CachedClient(chat, cache)

        def on_result(r: CaptionResult) -> None:
            done.append(r)
            plog.write(json.dumps(r.log_record()) + "\n")
            plog.flush()
            bar.advance()
            if len(done) % 10 == 0 or len(done) == len(items):
                acc = sum(x.status == "accepted" for x in done)
                tracker.log_metrics(
                    {
                        "progress/captions": len(done),
                        "progress/accepted": acc,
                        "progress/paid_requests": client.misses,
                    },
                    step=len(done),
                )

        results = run_engine(
            client,
            [(i.id, i.caption) for i in items],
            engine_settings(cot),
            cot.client.concurrency,
            on_result=on_result,
        )
    seconds = time.perf_counter() - t0
    return _EngineRun(results, base_url, client.misses, client.hits, chat.budget.tokens, seconds)


def _write_log(items: list[CaptionItem], results: list[CaptionResult], out: Path) -> Path:
    """verification_log.jsonl in caption order (replacing the partial log); its path."""
    path = out / "verification_log.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for item, r in zip(items, results, strict=True):
            rec = {**r.log_record(), "motion_id": item.motion_id, "split": item.split}
            f.write(json.dumps(rec) + "\n")
    (out / PARTIAL_LOG).unlink(missing_ok=True)
    return path


def _plot_scores(results: list[CaptionResult], attempts: int, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 3))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 4)
    verdicts = [a.verdict for r in results for a in r.attempts if a.verdict is not None]
    for ax, name in zip(axes[:3], SCORES, strict=True):
        counts = Counter(getattr(v, name) for v in verdicts)
        ax.bar(range(1, 6), [counts.get(s, 0) for s in range(1, 6)], color="tab:blue")
        ax.set_title(f"judge: {name}")
        ax.set_xlabel("score")
    axes[0].set_ylabel("judged chains")
    decided = [r for r in results if r.status in ("accepted", "rejected")]
    for status, color in (("accepted", "tab:green"), ("rejected", "tab:red")):
        counts = Counter(len(r.attempts) for r in decided if r.status == status)
        axes[3].bar(
            [n + (-0.2 if status == "accepted" else 0.2) for n in range(1, attempts + 1)],
            [counts.get(n, 0) for n in range(1, attempts + 1)],
            width=0.4,
            color=color,
            label=status,
        )
    axes[3].set_title("attempts per caption")
    axes[3].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def _reason_kind(reason: str) -> str:
    if reason.startswith("format:"):
        return "format"
    if reason.startswith("judge:"):
        return "judge"
    return "checks"


def _metrics(
    items: list[CaptionItem], run: _EngineRun, df: pd.DataFrame, attempts: int
) -> dict[str, float]:
    """Counts per status, acceptance rate, attempts, judge scores, cost and time of a run."""
    results = run.results
    counts = Counter(r.status for r in results)
    decided = [r for r in results if r.status in ("accepted", "rejected")]
    verdicts = [a.verdict for r in results for a in r.attempts if a.verdict is not None]
    reasons = Counter(_reason_kind(x) for r in results for a in r.attempts for x in a.reasons[:1])
    accepted = [r for r in decided if r.status == "accepted"]
    return {
        "captions": float(len(items)),
        **{s: float(counts.get(s, 0)) for s in ("accepted", "rejected", "unanswered", "failed")},
        "acceptance_rate": counts.get("accepted", 0) / len(decided) if decided else 0.0,
        "attempts_mean": float(np.mean([len(r.attempts) for r in decided])) if decided else 0.0,
        **{
            f"attempts_{n}": float(sum(len(r.attempts) == n for r in accepted))
            for n in range(1, attempts + 1)
        },
        **{f"rejected_attempts/{k}": float(v) for k, v in reasons.items()},
        **{
            f"judge/{k}_mean": float(np.mean([getattr(v, k) for v in verdicts]))
            if verdicts
            else 0.0
            for k in SCORES
        },
        "judged_chains": float(len(verdicts)),
        "paid_requests": float(run.paid_requests),
        "cached_answers": float(run.cached_answers),
        "paid_tokens": float(run.paid_tokens),
        "seconds": run.seconds,
        "seconds_per_caption": run.seconds / len(items),
        "triplets": float(len(df)),
        "triplets_mirrored": float(df["mirrored"].sum()) if len(df) else 0.0,
    }


def _fidelity(
    items: list[CaptionItem], results: list[CaptionResult], truth_path: Path, out_path: Path
) -> dict[str, float]:
    """Predicted vs true actions of each chain (procedural corpus: `truth_path` holds the true
    decompositions), written to `out_path`; the summary overall and per caption line."""
    if not truth_path.is_file():
        return {}
    truth = read_decompositions(truth_path)
    fids = []
    with open(out_path, "w", encoding="utf-8") as f:
        for item, r in zip(items, results, strict=True):
            if r.chain is None or item.motion_id not in truth:
                continue
            fd = chain_fidelity(r.chain.steps, truth[item.motion_id])
            fids.append((item.line, fd))
            rec = {"id": item.id, "caption": item.caption, "predicted": fd.predicted}
            rec |= {"truth": fd.truth, "matched": fd.matched}
            rec |= {"precision": fd.precision, "recall": fd.recall}
            f.write(json.dumps(rec) + "\n")
    metrics = {f"fidelity/{k}": v for k, v in summarise([x for _, x in fids]).items()}
    for line in sorted({ln for ln, _ in fids}):
        part = summarise([x for ln, x in fids if ln == line])
        metrics |= {f"fidelity/line{line}_{k}": part[k] for k in ("precision", "recall")}
    return metrics


def _log_outputs(
    cfg: Config,
    run: _EngineRun,
    metrics: dict[str, float],
    report: TripletReport,
    out: Path,
    tracker: Tracker,
) -> Path:
    """Plot the judge's scores, write metrics.json, log metrics and files; its path."""
    _plot_scores(run.results, cfg.cot.attempts, out / "judge_scores.png")
    metrics_path = out / "metrics.json"
    summary = {**metrics, "checks": report.format(), "base_url": run.base_url}
    metrics_path.write_text(json.dumps({**summary, "model": cfg.cot.client.model}, indent=2))
    tracker.log_metrics(metrics)
    for p in (
        metrics_path,
        out / "verification_log.jsonl",
        out / "judge_scores.png",
        out / "fidelity.jsonl",
    ):
        if p.is_file():
            tracker.log_artifact(p)
    return metrics_path


def run_cot_triplets(
    cfg: Config, dataset: str, tracker: Tracker, progress: bool = True
) -> CoTResult:
    """Decompose the dataset's captions, verify them, and write the SFT triplets.

    Raises TripletChecksFailed if the triplets fail a structural check (a low acceptance rate
    is reported by the checks, not raised).
    """
    cot = cfg.cot
    out = cfg.artifacts_dir(dataset, "cot")
    out.mkdir(parents=True, exist_ok=True)
    items, tokens = _captions_with_tokens(cfg, dataset)
    # api_key_env holds a variable's name only
    params = {"cot": cot.model_dump(mode="json"), "captions": len(items)}
    log_stage(tracker, cfg, "cot_triplets", dataset, params)
    run = _decompose(cfg, items, out, tracker, progress)
    _write_log(items, run.results, out)
    df = triplet_table(items, run.results, tokens, cfg.vqvae.model.frames_per_token, cot.mirror)
    path = out / "triplets.parquet"
    tmp = path.with_name(path.name + ".tmp")
    df.to_parquet(tmp, index=False)
    tmp.replace(path)

    metrics = _metrics(items, run, df, cot.attempts)
    truth = cfg.raw_dir(dataset) / "decompositions.jsonl"
    metrics |= _fidelity(items, run.results, truth, out / "fidelity.jsonl")
    statuses = [r.status for r in run.results]
    limits = cot.limits
    report = validate_triplets(
        path, statuses, limits.min_steps, limits.max_steps, cot.min_acceptance_rate, df=df
    )
    metrics["checks_failed"] = float(len(report.failures))
    metrics_path = _log_outputs(cfg, run, metrics, report, out, tracker)
    if report.failures_for(*STRUCTURAL_CHECKS):
        raise TripletChecksFailed(report)
    return CoTResult(dataset, path, metrics, metrics_path, report)
