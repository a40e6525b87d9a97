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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from motion_r1_core.config import Config, CoTConfig
from motion_r1_core.cot.cache import AnswerCache, CachedClient
from motion_r1_core.cot.checks import ChainLimits
from motion_r1_core.cot.client import ChatClient, Sampling
from motion_r1_core.cot.engine import CaptionResult, EngineSettings, run_engine
from motion_r1_core.cot.fidelity import chain_fidelity, read_decompositions, summarise
from motion_r1_core.cot.prompts import Chain
from motion_r1_core.cot.server import local_chat_server
from motion_r1_core.cot.triplet_checks import COLUMNS, TripletReport, validate_triplets
from motion_r1_core.data.humanml3d import (
    MAX_LEN_EXCLUSIVE,
    check_layout,
    load_mean_std,
    read_captions,
    read_split,
)
from motion_r1_core.data.mirror import swap_sides
from motion_r1_core.skeleton import skeleton_for_dim
from motion_r1_core.tracking import Tracker
from motion_r1_core.vqvae.token_checks import read_tokens


class TripletChecksFailed(RuntimeError):
    """The triplets failed a structural check; the message is the readable report."""

    def __init__(self, report: TripletReport) -> None:
        super().__init__(report.format())
        self.report = report


@dataclass(frozen=True)
class CaptionItem:
    """One caption to decompose and the frames of its motion it describes."""

    id: str
    motion_id: str
    split: str
    line: int
    caption: str
    start_frame: int  # rows of new_joint_vecs, end exclusive; whole clip: 0 .. n_frames
    end_frame: int


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


def select_captions(
    folder: Path,
    splits: list[str],
    min_frames: int,
    max_captions: int | None = None,
    seed: int = 0,
    skip_mirrors: bool = False,
) -> list[CaptionItem]:
    """The captions of `splits` in a HumanML3D-layout folder, as the T2M loaders keep them.

    A motion outside min_frames <= T < 200 is skipped with its sub-clips; a timed caption
    becomes the frames [int(start * fps), int(end * fps)) if that crop is in range too.
    `skip_mirrors` leaves out the mirrored copies a folder ships (HumanML3D's `M<id>`, whose
    captions are the original's with sides swapped) when the original is selected too: their
    chains are the original's, side-swapped, for no request. With `max_captions`, a seeded
    sample of that many, in the folder's order.
    """
    folder = Path(folder)
    check_layout(folder)
    fps = skeleton_for_dim(load_mean_std(folder)[0].shape[0]).fps
    items: list[CaptionItem] = []
    chosen = {i for split in splits for i in read_split(folder, split)}
    for split in splits:
        for motion_id in read_split(folder, split):
            if skip_mirrors and motion_id.startswith("M") and motion_id[1:] in chosen:
                continue
            path = folder / "new_joint_vecs" / f"{motion_id}.npy"
            try:
                n = int(np.load(path, mmap_mode="r").shape[0])
            except (OSError, ValueError) as e:
                raise ValueError(f"{path}: unreadable motion ({e})") from e
            if not min_frames <= n < MAX_LEN_EXCLUSIVE:
                continue
            for line, cap in enumerate(read_captions(folder / "texts" / f"{motion_id}.txt")):
                lo, hi = (0, n) if cap.whole else (int(cap.start * fps), int(cap.end * fps))
                hi = min(hi, n)
                if not cap.whole and not min_frames <= hi - lo < MAX_LEN_EXCLUSIVE:
                    continue
                items.append(
                    CaptionItem(f"{motion_id}:{line}", motion_id, split, line, cap.text, lo, hi)
                )
    if max_captions is not None and max_captions < len(items):
        keep = np.random.default_rng(seed).choice(len(items), max_captions, replace=False)
        items = [items[i] for i in sorted(keep)]
    return items


def engine_settings(cot: CoTConfig) -> EngineSettings:
    """The engine's settings from the `cot` section of the configuration."""
    return EngineSettings(
        attempts=cot.attempts,
        min_score=cot.min_score,
        judge=cot.judge,
        sampling=Sampling(temperature=cot.temperature, top_p=cot.top_p, max_tokens=cot.max_tokens),
        judge_sampling=Sampling(temperature=0.0, max_tokens=cot.judge_max_tokens),
        limits=ChainLimits(**cot.limits.model_dump()),
    )


@contextlib.contextmanager
def chat_endpoint(cfg: Config, log_path: Path) -> Iterator[str]:
    """`cot.client.base_url`, or the local SmolLM2 server started for the block."""
    if cfg.cot.client.base_url:
        yield cfg.cot.client.base_url
        return
    with local_chat_server(cfg.cot.server, cfg.cot.client.model, log_path) as url:
        yield url


def _triplet_rows(
    items: list[CaptionItem],
    results: list[CaptionResult],
    tokens: pd.DataFrame,
    frames_per_token: int,
    mirror: bool,
) -> list[dict[str, Any]]:
    by_id = tokens.set_index("id")
    rows = []
    for item, res in zip(items, results, strict=True):
        chain = res.chain
        if chain is None:
            continue
        if item.motion_id not in by_id.index:
            raise ValueError(
                f"tokens.parquet: motion {item.motion_id} missing (rerun motion_tokens)"
            )
        verdict = res.attempts[-1].verdict
        lo, hi = item.start_frame // frames_per_token, item.end_frame // frames_per_token
        base = {
            "motion_id": item.motion_id,
            "split": item.split,
            "attempts": len(res.attempts),
            "relevance": verdict.relevance if verdict else 0,
            "logic": verdict.logic if verdict else 0,
            "conciseness": verdict.conciseness if verdict else 0,
        }
        toks = [int(t) for t in by_id.at[item.motion_id, "tokens"]][lo:hi]
        rows.append(
            {
                **base,
                "id": item.id,
                "mirrored": False,
                "caption": item.caption,
                "cot": chain.as_text(),
                "steps": list(chain.steps),
                "plan": chain.plan,
                "tokens": toks,
                "n_tokens": len(toks),
            }
        )
        mid = f"M{item.motion_id}"
        if mirror and mid in by_id.index:  # encoded by motion_tokens, or shipped with the data
            twin = Chain(tuple(swap_sides(s) for s in chain.steps), swap_sides(chain.plan))
            m_toks = [int(t) for t in by_id.at[mid, "tokens"]][lo:hi]
            rows.append(
                {
                    **base,
                    "id": f"M{item.id}",
                    "motion_id": mid,
                    "mirrored": True,
                    "caption": swap_sides(item.caption),
                    "cot": twin.as_text(),
                    "steps": list(twin.steps),
                    "plan": twin.plan,
                    "tokens": m_toks,
                    "n_tokens": len(m_toks),
                }
            )
    return rows


def _plot_scores(results: list[CaptionResult], attempts: int, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 3))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 4)
    verdicts = [a.verdict for r in results for a in r.attempts if a.verdict is not None]
    for ax, name in zip(axes[:3], ("relevance", "logic", "conciseness"), strict=True):
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


def run_cot_triplets(
    cfg: Config, dataset: str, tracker: Tracker, progress: bool = True
) -> CoTResult:
    """Decompose the dataset's captions, verify them, and write the SFT triplets.

    Raises TripletChecksFailed if the triplets fail a structural check (a low acceptance rate
    is reported by the checks, not raised).
    """
    cot = cfg.cot
    folder = cfg.raw_dir(dataset)
    out = cfg.artifacts_dir(dataset, "cot")
    out.mkdir(parents=True, exist_ok=True)
    tokens = read_tokens(cfg.artifacts_dir(dataset, "tokens") / "tokens.parquet")  # before paying
    items = select_captions(
        folder, list(cot.splits), cfg.data.min_frames, cot.max_captions, cot.seed, cot.mirror
    )
    if not items:
        raise ValueError(f"{folder}: no caption in splits {list(cot.splits)} passes the filter")
    missing = sorted({i.motion_id for i in items} - set(tokens["id"]))
    if missing:  # found now, before a single request is paid for
        raise ValueError(
            f"tokens.parquet: {len(missing)} motions of {folder} have no tokens (e.g. "
            f"{', '.join(missing[:5])}); rerun motion_tokens"
        )
    tracker.set_tags({"stage": "cot_triplets", "dataset": dataset, "profile": cfg.profile})
    tracker.log_params(
        {
            "profile": cfg.profile,
            "dataset": dataset,
            "cot": cot.model_dump(mode="json"),  # api_key_env holds a variable's name only
            "captions": len(items),
        }
    )
    settings = engine_settings(cot)
    partial = out / "verification_log.partial.jsonl"
    t0 = time.perf_counter()
    done: list[CaptionResult] = []
    with (
        chat_endpoint(cfg, out / "server.log") as base_url,
        contextlib.closing(AnswerCache(out / "cache" / "answers.sqlite")) as cache,
        open(partial, "w", encoding="utf-8") as plog,
        _progress(progress, len(items)) as advance,
    ):
        chat = ChatClient(cot.client, base_url=base_url)
        client = CachedClient(chat, cache)

        def on_result(r: CaptionResult) -> None:
            done.append(r)
            plog.write(json.dumps(r.log_record()) + "\n")
            plog.flush()
            advance()
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
            settings,
            cot.client.concurrency,
            on_result=on_result,
        )
    wall = time.perf_counter() - t0

    log_path = out / "verification_log.jsonl"
    with open(log_path, "w", encoding="utf-8") as f:
        for item, r in zip(items, results, strict=True):
            rec = {**r.log_record(), "motion_id": item.motion_id, "split": item.split}
            f.write(json.dumps(rec) + "\n")
    partial.unlink(missing_ok=True)

    rows = _triplet_rows(items, results, tokens, cfg.vqvae.model.frames_per_token, cot.mirror)
    df = pd.DataFrame(rows, columns=[*COLUMNS, "attempts", "relevance", "logic", "conciseness"])
    path = out / "triplets.parquet"
    tmp = path.with_name(path.name + ".tmp")
    df.to_parquet(tmp, index=False)
    tmp.replace(path)

    statuses = [r.status for r in results]
    counts = Counter(statuses)
    decided = [r for r in results if r.status in ("accepted", "rejected")]
    verdicts = [a.verdict for r in results for a in r.attempts if a.verdict is not None]
    reasons = Counter(_reason_kind(x) for r in results for a in r.attempts for x in a.reasons[:1])
    metrics: dict[str, float] = {
        "captions": float(len(items)),
        **{
            f"{s}": float(counts.get(s, 0))
            for s in ("accepted", "rejected", "unanswered", "failed")
        },
        "acceptance_rate": counts.get("accepted", 0) / len(decided) if decided else 0.0,
        "attempts_mean": float(np.mean([len(r.attempts) for r in decided])) if decided else 0.0,
        **{
            f"attempts_{n}": float(
                sum(len(r.attempts) == n for r in decided if r.status == "accepted")
            )
            for n in range(1, cot.attempts + 1)
        },
        **{f"rejected_attempts/{k}": float(v) for k, v in reasons.items()},
        **{
            f"judge/{k}_mean": float(np.mean([getattr(v, k) for v in verdicts]))
            if verdicts
            else 0.0
            for k in ("relevance", "logic", "conciseness")
        },
        "judged_chains": float(len(verdicts)),
        "paid_requests": float(client.misses),
        "cached_answers": float(client.hits),
        "paid_tokens": float(chat.budget.tokens),
        "seconds": wall,
        "seconds_per_caption": wall / len(items),
        "triplets": float(len(df)),
        "triplets_mirrored": float(df["mirrored"].sum()) if len(df) else 0.0,
    }

    gt_path = folder / "decompositions.jsonl"
    if gt_path.is_file():
        truth = read_decompositions(gt_path)
        fids = []
        with open(out / "fidelity.jsonl", "w", encoding="utf-8") as f:
            for item, r in zip(items, results, strict=True):
                if r.chain is None or item.motion_id not in truth:
                    continue
                fd = chain_fidelity(r.chain.steps, truth[item.motion_id])
                fids.append((item.line, fd))
                f.write(
                    json.dumps(
                        {
                            "id": item.id,
                            "caption": item.caption,
                            "predicted": fd.predicted,
                            "truth": fd.truth,
                            "matched": fd.matched,
                            "precision": fd.precision,
                            "recall": fd.recall,
                        }
                    )
                    + "\n"
                )
        metrics |= {f"fidelity/{k}": v for k, v in summarise([x for _, x in fids]).items()}
        for line in sorted({ln for ln, _ in fids}):
            part = summarise([x for ln, x in fids if ln == line])
            metrics |= {f"fidelity/line{line}_{k}": part[k] for k in ("precision", "recall")}

    report = validate_triplets(
        path, statuses, cot.limits.min_steps, cot.limits.max_steps, cot.min_acceptance_rate, df=df
    )
    metrics["checks_failed"] = float(len(report.failures))
    _plot_scores(results, cot.attempts, out / "judge_scores.png")
    metrics_path = out / "metrics.json"
    metrics_path.write_text(
        json.dumps(
            {**metrics, "checks": report.format(), "base_url": base_url, "model": cot.client.model},
            indent=2,
        )
    )
    tracker.log_metrics(metrics)
    for p in (metrics_path, log_path, out / "judge_scores.png", out / "fidelity.jsonl"):
        if p.is_file():
            tracker.log_artifact(p)
    structural = report.failures_for("format", "step_counts", "tokens", "unique_ids")
    if structural:
        raise TripletChecksFailed(report)
    return CoTResult(dataset, path, metrics, metrics_path, report)


@contextlib.contextmanager
def _progress(enabled: bool, total: int) -> Iterator[Any]:
    """A rich progress bar over captions on stderr; yields its `advance()`."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        disable=not enabled,
        console=Console(stderr=True),
    ) as bar:
        task = bar.add_task("decomposing captions", total=total)
        yield lambda: bar.advance(task)
