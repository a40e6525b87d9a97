"""The evaluation protocol of Guo et al. 2022 around the pure metrics (REFERENCE.md section 5).

One replication:
    1. shuffle the test samples, keep whole groups of `batch` (32; the loader's drop_last);
    2. per sample draw one caption and a crop: the length rounded down to a multiple of 4 frames,
       with probability 1/3 one unit shorter, at a random start;
    3. the reference pass embeds those real crops; the generated pass embeds what `generate`
       returns for the same captions (for the "Real" row: another independent crop of each
       real motion);
    4. R-Precision top-1..k and MM-Dist on (caption, generated) pairs, FID between reference and
       generated, Diversity of the generated, and, if the generator samples, MultiModality over
       `mm_repeats` generations of `mm_num_samples` captions.
Every number is reported as mean +- 1.96 * std / sqrt(replications). A shuffled R-Precision
(generated motions permuted across captions; chance is k / 32) is reported beside it as a check
that the evaluator reads the motions at all.

An evaluator is anything with `embed_captions(captions) -> (N, D)` and
`embed_motions(raw features) -> (N, D)`: the trained `TextMotionModel` or the published
`GuoEvaluator`. Motions are raw (un-normalised) features; each evaluator normalises with its
own statistics (the normalisation trap of REFERENCE.md section 4).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from motion_r1_core.config import Config, EvaluationConfig
from motion_r1_core.data.humanml3d import Caption, MotionRecord
from motion_r1_core.evaluation import metrics as M

UNIT_LENGTH = 4
TABLE_HEADER = (
    "| | Top-1 | Top-2 | Top-3 | FID | MM-Dist | Diversity | MModality |\n"
    "|---|---|---|---|---|---|---|---|"
)


class Evaluator(Protocol):
    """Text and motion encoders into one space; what the metrics are computed on."""

    def embed_captions(self, captions: Sequence[Caption]) -> np.ndarray: ...

    def embed_motions(self, motions: Sequence[np.ndarray]) -> np.ndarray: ...


# generate(records, captions, rng) -> one raw feature array (T, D) per caption
Generator = Callable[[Sequence[MotionRecord], Sequence[Caption], np.random.Generator], list]
# extra(generated raw features) -> more metrics of a replication (e.g. physical plausibility)
Extra = Callable[[list], dict[str, float]]


def crop_length(n_frames: int, rng: np.random.Generator, unit: int = UNIT_LENGTH) -> int:
    """The protocol's crop length of an n-frame sample: n rounded down to a multiple of `unit`,
    one unit shorter with probability 1/3 (never below one unit)."""
    units = n_frames // unit
    if units < 1:
        raise ValueError(f"a sample of {n_frames} frames is shorter than one unit ({unit})")
    if rng.random() < 1 / 3:
        units -= 1
    return max(units, 1) * unit


def random_crop(features: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A protocol crop (`crop_length`) of features (T, D) at a uniformly random start."""
    length = crop_length(len(features), rng)
    start = int(rng.integers(0, len(features) - length + 1))
    return features[start : start + length]


def real_motions(
    records: Sequence[MotionRecord], captions: Sequence[Caption], rng: np.random.Generator
) -> list[np.ndarray]:
    """The generator of the "Real" row: an independent protocol crop of each real motion."""
    return [random_crop(r.features, rng) for r in records]


@dataclass
class ProtocolReport:
    """Metrics over replications.

    Attributes:
        values: metric -> per-replication values (top1..topk, fid, mm_dist, diversity,
            multimodality when measured, top1_shuffled..).
        settings: the protocol settings used (replications, batch, pairs, samples).
        seconds: wall time.
    """

    values: dict[str, list[float]]
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> dict[str, dict[str, float]]:
        """metric -> {"mean", "interval"} (1.96 * std / sqrt(n))."""
        out = {}
        for name, vals in self.values.items():
            mean, interval = M.mean_and_interval(np.asarray(vals))
            out[name] = {"mean": mean, "interval": interval}
        return out

    def flat(self, prefix: str = "") -> dict[str, float]:
        """{prefix+metric: mean, prefix+metric_interval: interval}: for MLflow and metrics.json."""
        out = {}
        for name, s in self.summary().items():
            out[f"{prefix}{name}"] = s["mean"]
            out[f"{prefix}{name}_interval"] = s["interval"]
        return out

    def table_row(self, name: str) -> str:
        """One Markdown row in the column order of the published tables."""
        s = self.summary()
        cols = ["top1", "top2", "top3", "fid", "mm_dist", "diversity", "multimodality"]
        cells = [f"{s[c]['mean']:.3f}±{s[c]['interval']:.3f}" if c in s else "–" for c in cols]
        return f"| {name} | " + " | ".join(cells) + " |"

    def write(self, path: Path) -> Path:
        """JSON with the summary, the per-replication values and the settings."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"summary": self.summary(), **asdict(self)}
        path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        return path


def evaluate(
    evaluator: Evaluator,
    records: Sequence[MotionRecord],
    cfg: EvaluationConfig,
    generate: Generator = real_motions,
    samples: bool = False,
    progress: bool = False,
    extra: Extra | None = None,
) -> ProtocolReport:
    """Run `cfg.replications` replications of the protocol on test `records`.

    `generate` makes the motions for a list of captions (default: the "Real" row). With
    `samples=True` the generator is stochastic and MultiModality is measured too. `extra`
    adds metrics computed on each replication's generated motions (they get intervals too).
    """
    n_groups = len(records) // cfg.batch
    if n_groups == 0:
        raise ValueError(
            f"{len(records)} test samples: R-Precision needs at least one group of "
            f"evaluation.batch={cfg.batch}"
        )
    n = n_groups * cfg.batch
    if n <= cfg.diversity_times:
        raise ValueError(
            f"{n} evaluated samples: Diversity over evaluation.diversity_times="
            f"{cfg.diversity_times} pairs needs more; lower it for a corpus this small"
        )
    if samples and cfg.mm_repeats <= cfg.mm_times:
        raise ValueError(
            f"evaluation.mm_repeats={cfg.mm_repeats} must exceed evaluation.mm_times={cfg.mm_times}"
        )
    t0 = time.perf_counter()
    values: dict[str, list[float]] = {}
    reps = range(cfg.replications)
    if progress:
        from rich.console import Console
        from rich.progress import track

        reps = track(reps, description="evaluation", console=Console(stderr=True))
    for rep in reps:
        rng = np.random.default_rng([cfg.seed, rep])
        out = _replication(evaluator, records, cfg, generate, samples, n, rng, extra)
        for name, v in out.items():
            values.setdefault(name, []).append(v)
    settings = {
        "replications": cfg.replications,
        "batch": cfg.batch,
        "samples_per_replication": n,
        "diversity_times": cfg.diversity_times,
        **(
            {
                "mm_num_samples": min(cfg.mm_num_samples, len(records)),
                "mm_repeats": cfg.mm_repeats,
                "mm_times": cfg.mm_times,
            }
            if samples
            else {}
        ),
        "seed": cfg.seed,
    }
    return ProtocolReport(values, settings, time.perf_counter() - t0)


def _replication(
    evaluator: Evaluator,
    records: Sequence[MotionRecord],
    cfg: EvaluationConfig,
    generate: Generator,
    samples: bool,
    n: int,
    rng: np.random.Generator,
    extra: Extra | None = None,
) -> dict[str, float]:
    chosen = [records[i] for i in rng.permutation(len(records))[:n]]
    captions = [r.captions[int(rng.integers(len(r.captions)))] for r in chosen]
    reference = evaluator.embed_motions([random_crop(r.features, rng) for r in chosen])
    motions = generate(chosen, captions, rng)
    if len(motions) != n:
        raise ValueError(f"the generator returned {len(motions)} motions for {n} captions")
    gen = evaluator.embed_motions(motions)
    text = evaluator.embed_captions(captions)
    top = M.r_precision(text, gen, cfg.top_k, cfg.batch)
    shuffled = M.r_precision(text, gen[rng.permutation(n)], cfg.top_k, cfg.batch)
    out = {f"top{k + 1}": float(top[k]) for k in range(cfg.top_k)}
    out |= {
        "fid": M.fid(reference, gen),
        "mm_dist": M.mm_dist(text, gen),
        "diversity": M.diversity(gen, cfg.diversity_times, rng),
    }
    if samples:
        m = min(cfg.mm_num_samples, n)
        recs, caps = chosen[:m], captions[:m]
        emb = np.stack(
            [evaluator.embed_motions(generate(recs, caps, rng)) for _ in range(cfg.mm_repeats)],
            axis=1,
        )
        out["multimodality"] = M.multimodality(emb, cfg.mm_times, rng)
    out |= {f"top{k + 1}_shuffled": float(shuffled[k]) for k in range(cfg.top_k)}
    if extra is not None:
        out |= extra(motions)
    return out


def load_evaluator(cfg: Config, dataset: str, kind: str | None = None) -> Evaluator:
    """The evaluator `kind` (default `evaluation.evaluator`) of `dataset`.

    trained: artifacts/<dataset>/encoders/evaluator.safetensors (stage text_motion_encoders);
    published: the Guo et al. networks at `evaluation.published.{checkpoint,meta,glove}`.
    """
    kind = kind or cfg.evaluation.evaluator
    if kind == "trained":
        from motion_r1_core.encoders.model import TextMotionModel

        path = cfg.artifacts_dir(dataset, "encoders") / "evaluator.safetensors"
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: missing; run `motion-r1 stage text_motion_encoders --dataset {dataset}`"
            )
        return TextMotionModel.load(path)
    if kind == "published":
        from motion_r1_core.evaluation.guo_evaluator import GuoEvaluator

        p = cfg.evaluation.published
        unset = [k for k in ("checkpoint", "meta", "glove") if getattr(p, k) is None]
        if unset:
            raise ValueError(
                "the published evaluator needs "
                + ", ".join(f"evaluation.published.{k}" for k in unset)
            )
        return GuoEvaluator.load(p.checkpoint, p.meta, p.glove)
    raise ValueError(f"unknown evaluator {kind!r}; expected trained or published")
