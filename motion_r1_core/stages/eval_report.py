"""Stage `eval_report`: every policy beside the Real and VQ-VAE rows, on the test split.

Writes artifacts/<dataset>/report/:
    report.html      one self-contained page (tables, curves, GIFs, config, revision)
    report.md        its Markdown twin
    metrics.json     flat: "<row>/<metric>" and "<row>/<metric>_interval"
    summary.json     per policy row: its folder and metrics (what the registry picks from)
    gallery/         GIFs: the real motion beside each policy's motion for the same caption

Answers are read from (and added to) the answer cache the policy stages fill
(artifacts/<dataset>/answers, keyed by the policy's files, settings, sampling code, captions
and seed): the replications and length motions the stages measured are not sampled again.

Rows: Real (an independent crop of each real motion), VQ-VAE reconstruction (the crop through
the tokenizer), then each policy present: sft/no_cot, sft/cot, grpo/<ablation> (or
`report.policies`). Each row runs the protocol of `evaluation/protocol.py` with the evaluator
encoder (never the reward one): `report.replications` replications of groups of
`evaluation.batch`, MultiModality over `report.mm_num_samples` texts x `report.mm_repeats`
generations, and the three physical-plausibility columns on the same motions. A policy row
adds format validity without the grammar, chain length and fidelity (the true sub-actions of
decompositions.jsonl, procedural corpus), and the length error with and without the duration.
With `report.published` and every `evaluation.published` path set, the main table is also
scored by the published Guo evaluator.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from motion_r1_core.config import Config
from motion_r1_core.data.humanml3d import MotionRecord, load_split
from motion_r1_core.evaluation.chains import chain_fidelity, true_steps
from motion_r1_core.evaluation.generations import CachedSampler, answer_cache
from motion_r1_core.evaluation.metrics import mean_and_interval
from motion_r1_core.evaluation.protocol import (
    Evaluator,
    evaluate,
    load_evaluator,
    random_crop,
    real_motions,
)
from motion_r1_core.evaluation.report import (
    EXTRA_COLUMNS,
    MAIN_COLUMNS,
    Page,
    Row,
    git_revision,
    markdown_table,
    mlflow_curves,
    write_html,
    write_markdown,
)
from motion_r1_core.physics import feature_physics
from motion_r1_core.policy.data import DECOMPOSITIONS, read_true_steps
from motion_r1_core.policy.evaluate import (
    CHAIN_STREAM,
    FORMAT_STREAM,
    LENGTH_STREAM,
    eval_subset,
    format_validity,
    length_error,
    protocol_generator,
)
from motion_r1_core.policy.policy import Policy
from motion_r1_core.tracking import Tracker, log_stage
from motion_r1_core.vqvae.tokenizer import CHECKPOINT, MotionTokenizer

NAMES = {"sft/no_cot": "SFT no-CoT", "sft/cot": "SFT CoT"}


@dataclass(frozen=True)
class ReportResult:
    """What `eval_report` produced."""

    dataset: str
    rows: list[str]
    metrics: dict[str, float]
    table: str
    html: Path
    markdown: Path
    summary: Path

    def as_metadata(self) -> dict[str, Any]:
        """Plain values for Dagster metadata or a JSON summary: the rows, the files, and each
        row's R-Precision top-3, FID and format validity (all metrics are in metrics.json)."""
        keep = ("/top3", "/top3_interval", "/fid", "/fid_interval", "/format_validity")
        return {
            "dataset": self.dataset,
            "rows": self.rows,
            "report": str(self.html),
            "summary": str(self.summary),
            **{k: v for k, v in self.metrics.items() if k.endswith(keep) and k.count("/") == 1},
        }


def row_name(key: str) -> str:
    """Display name of a policy key: sft/cot -> "SFT CoT", grpo/both -> "GRPO both"."""
    return NAMES.get(key) or "GRPO " + key.split("/", 1)[1]


def present_policies(cfg: Config, dataset: str) -> dict[str, Path]:
    """{policy key: folder} of the configured rows, or of every policy saved under
    artifacts/<dataset>/ (a configured row that is missing is an error naming its folder)."""
    base = cfg.root / "artifacts" / dataset
    if cfg.report.policies is not None:
        out = {k: base / k / "model" for k in cfg.report.policies}
        if missing := [str(p) for p in out.values() if not (p / "policy.json").is_file()]:
            raise FileNotFoundError(f"report.policies: no policy at {', '.join(missing)}")
        return out
    out = {
        f"sft/{v}": base / "sft" / v / "model"
        for v in ("no_cot", "cot")
        if (base / "sft" / v / "model" / "policy.json").is_file()
    }
    for p in sorted((base / "grpo").glob("*/model/policy.json")):
        out[f"grpo/{p.parent.parent.name}"] = p.parent
    return out


def _vqvae_generator(vq: MotionTokenizer):
    """Protocol generator of the VQ-VAE row: a protocol crop of each real motion, encoded and
    decoded (the crop rounded down to whole tokens)."""

    def generate(records, captions, rng) -> list[np.ndarray]:
        codes = vq.encode_many([random_crop(r.features, rng) for r in records])
        return [m.numpy() for m in vq.decode_many(codes)]

    return generate


def policy_columns(
    sampler: CachedSampler,
    cot: bool,
    test: list[MotionRecord],
    cfg: Config,
    truth: dict[str, list] | None,
    fps: float,
    fpt: int,
) -> dict[str, float]:
    """Format validity (no grammar), chain steps and fidelity, length errors of one policy, on
    random subsets of the test split (`report.format_captions`, `chain_captions`,
    `length_captions`), each with its 95% interval."""
    r = cfg.report
    seed = cfg.evaluation.seed
    caps = eval_subset(test, r.format_captions, seed, FORMAT_STREAM)[1]
    m = format_validity(sampler, [c.text for c in caps], seed=seed)
    if cot:
        pairs = list(zip(*eval_subset(test, r.chain_captions, seed, CHAIN_STREAM), strict=True))
        answers = sampler([c.text for _, c in pairs], seed=seed)
        steps = np.array([len(a.parsed.steps) for a in answers], dtype=np.float64)
        m["chain_steps"], m["chain_steps_interval"] = mean_and_interval(steps, ddof=1)
        if truth is not None:
            fid = [
                chain_fidelity(
                    a.parsed.steps, true_steps(truth.get(rec.motion_id, []), c.start, c.end, fps)
                )
                for a, (rec, c) in zip(answers, pairs, strict=True)
            ]
            m["chain_fidelity"], m["chain_fidelity_interval"] = mean_and_interval(
                np.array(fid), ddof=1
            )
    recs = eval_subset(test, r.length_captions, seed, LENGTH_STREAM)[0]
    return m | length_error(sampler, recs, fps, fpt, seed=seed)


def run_eval_report(
    cfg: Config, dataset: str, tracker: Tracker, progress: bool = True
) -> ReportResult:
    """Evaluate every row, write the page, the tables and summary.json, log them to MLflow."""
    r = cfg.report
    out = cfg.artifacts_dir(dataset, "report")
    out.mkdir(parents=True, exist_ok=True)
    log_stage(tracker, cfg, "eval_report", dataset, {"report": r.model_dump(mode="json")})
    vq = MotionTokenizer.load(cfg.artifacts_dir(dataset, "vqvae") / CHECKPOINT)
    fps, fpt, sk = vq.skeleton.fps, vq.frames_per_token, vq.skeleton
    test = load_split(cfg.raw_dir(dataset), "test", cfg.data.min_frames)
    ev_cfg = cfg.evaluation.model_copy(
        update={
            k: v
            for k, v in {
                "replications": r.replications,
                "mm_num_samples": r.mm_num_samples,
                "mm_repeats": r.mm_repeats,
            }.items()
            if v is not None
        }
    )
    kinds = [cfg.evaluation.evaluator]
    pub = cfg.evaluation.published
    if r.published and "published" not in kinds and pub.checkpoint and pub.meta and pub.glove:
        kinds.append("published")
    evaluators: dict[str, Evaluator] = {k: load_evaluator(cfg, dataset, k) for k in kinds}
    truth_path = cfg.raw_dir(dataset) / DECOMPOSITIONS
    truth = None
    if truth_path.is_file():
        truth = read_true_steps(truth_path)

    def physics(motions: list) -> dict[str, float]:
        return feature_physics(motions, sk)

    policies = present_policies(cfg, dataset)
    tables: dict[str, list[Row]] = {k: [] for k in kinds}
    samplers: dict[str, tuple[CachedSampler, Policy]] = {}
    generators = {
        "Real": (None, real_motions, False),
        "VQ-VAE reconstruction": (None, _vqvae_generator(vq), False),
    }
    for key, folder in policies.items():
        pol = Policy.load(folder)
        pol.check_tokenizer(vq.codebook_size, fpt)
        s = CachedSampler(pol, folder, answer_cache(cfg, dataset), cfg.policy.generation)
        samplers[key] = (s, pol)
        generators[row_name(key)] = (key, protocol_generator(s, vq), True)
    for name, (key, gen, stochastic) in generators.items():
        for kind, ev in evaluators.items():
            rep = evaluate(
                ev, test, ev_cfg, gen, samples=stochastic, progress=progress, extra=physics
            )
            tables[kind].append(Row(name, key, rep.flat()))
        if key is not None:
            s, pol = samplers[key]
            tables[kinds[0]][-1].metrics |= policy_columns(s, pol.cot, test, cfg, truth, fps, fpt)
    rows = tables[kinds[0]]
    metrics = {f"{_slug(row.name)}/{k}": v for row in rows for k, v in row.metrics.items()}
    for kind in kinds[1:]:
        metrics |= {
            f"{kind}/{_slug(row.name)}/{k}": v
            for row in tables[kind]
            for k, v in row.metrics.items()
        }
    metrics_path = out / "metrics.json"
    metrics_path.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    summary_path = out / "summary.json"
    summary = {
        "dataset": dataset,
        "evaluator": kinds[0],
        "chain_source": cfg.policy.cot_source,
        "policies": {
            row.name: {
                "key": row.key,
                "path": str(policies[row.key].resolve()),
                "metrics": row.metrics,
            }
            for row in rows
            if row.key is not None
        },
    }
    summary_path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    gallery = render_gallery(test[: r.gallery], samplers, vq, out / "gallery", cfg.evaluation.seed)
    curves = None
    if r.curves:
        curves, _ = mlflow_curves(
            cfg.tracking_uri(), cfg.tracking.experiment, dataset, out / "training_curves.png"
        )
    sampled = sum(s.sampled for s, _ in samplers.values())
    cached = sum(s.cached for s, _ in samplers.values())
    provenance = (
        f"Data: the {dataset} test split ({len(test)} motions). Evaluator: {kinds[0]} "
        f"(the reward encoder never scores). Chains: {cfg.policy.cot_source}. Protocol: "
        f"{ev_cfg.replications} replications of groups of {ev_cfg.batch}, mean ± 95% interval; "
        f"MultiModality over {ev_cfg.mm_num_samples} texts x {ev_cfg.mm_repeats} generations "
        f"({ev_cfg.mm_times} pairs each). Policies sample with temperature "
        f"{cfg.policy.generation.temperature}, top-k {cfg.policy.generation.top_k}, top-p "
        f"{cfg.policy.generation.top_p}, grammar on (format validity: off). Profile "
        f"{cfg.profile}. Answers sampled now: {sampled}; read from the cache: {cached}."
    )
    page = Page(
        title=f"Motion-R1 evaluation report: {dataset}",
        provenance=provenance,
        rows=rows,
        extra_tables={f"Main table, {k} evaluator": tables[k] for k in kinds[1:]},
        gallery=gallery,
        curves=curves,
        config_yaml=yaml.safe_dump(cfg.model_dump(mode="json", exclude={"root"}), sort_keys=False),
        revision=git_revision(cfg.root),
        notes=[
            "Physical plausibility (foot skating, ground penetration, jitter) is measured on "
            "the same motions as the protocol, Real and VQ-VAE rows included.",
            "Chain fidelity: steps matched to the true sub-actions of decompositions.jsonl "
            "(word overlap >= 1/2), longest common subsequence over the longer chain.",
        ],
    )
    html_path = write_html(page, out / "report.html")
    md_path = write_markdown(page, out / "report.md")
    tracker.log_metrics({k.replace("±", "_"): v for k, v in metrics.items()})
    for path in (html_path, md_path, metrics_path, summary_path):
        tracker.log_artifact(path)
    table = markdown_table(rows, MAIN_COLUMNS)
    (out / "table.md").write_text(
        f"{table}\n\n{markdown_table(rows, EXTRA_COLUMNS)}\n\n{provenance}\n"
    )
    return ReportResult(
        dataset, [row.name for row in rows], metrics, table, html_path, md_path, summary_path
    )


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")


def render_gallery(
    records: list[MotionRecord],
    samplers: dict[str, tuple[CachedSampler, Policy]],
    vq: MotionTokenizer,
    folder: Path,
    seed: int,
) -> list[tuple[Path, str]]:
    """One GIF per record: the real motion beside each policy's motion for its first caption;
    the caption and each CoT policy's chain below it."""
    from motion_r1_core.features import recover_from_ric
    from motion_r1_core.render import render_side_by_side

    if not records:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    caps = [rec.captions[0].text for rec in records]
    answers = {key: s(caps, seed=seed + 3) for key, (s, _) in samplers.items()}
    out = []
    for i, rec in enumerate(records):
        motions = [recover_from_ric(rec.features, vq.skeleton)]
        titles = ["Real"]
        lines = [caps[i]]
        for key, ans in answers.items():
            motions.append(vq.decode_joints(ans[i].parsed.codes or [0]))
            titles.append(row_name(key))
            if ans[i].parsed.steps:
                lines.append(f"{row_name(key)}: " + "; ".join(ans[i].parsed.steps))
        path = render_side_by_side(
            motions, titles, folder / f"{rec.name}.gif", vq.skeleton.fps, vq.skeleton
        )
        out.append((path, "\n".join(lines)))
    return out
