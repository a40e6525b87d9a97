"""Checks of the encoders group, read from what the stage wrote.

encoders_load (blocking): both checkpoints load and embed a test motion and its caption into
finite unit vectors. real_retrieval (warning): the evaluator ranks real motions far above
motions shuffled across captions. encoders_differ (warning): reward and evaluator are not
interchangeable, so GRPO cannot simply game the metric.
"""

import json
import warnings
from collections.abc import Iterator

import dagster as dg
import numpy as np

from motion_r1_core.data.humanml3d import load_split
from motion_r1_core.encoders.model import TextMotionModel
from motion_r1_core.stages.text_motion_encoders import ROLES
from pipelines.defs.encoders.assets import text_motion_encoders
from pipelines.defs.partitions import dataset_partitions
from pipelines.defs.resources import PipelineConfigResource

with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.PreviewWarning)  # partitioned checks: preview in 1.13
    _SPECS = [
        dg.AssetCheckSpec(
            "encoders_load",
            asset=text_motion_encoders,
            blocking=True,
            partitions_def=dataset_partitions,
            description="reward.safetensors and evaluator.safetensors load and embed a test "
            "motion and its caption as finite unit vectors.",
        ),
        dg.AssetCheckSpec(
            "real_retrieval",
            asset=text_motion_encoders,
            partitions_def=dataset_partitions,
            description="Evaluator R-Precision top-3 of real test motions >= "
            "encoders.min_real_top3 and of caption-shuffled motions <= "
            "encoders.max_shuffled_top3 (warning).",
        ),
        dg.AssetCheckSpec(
            "encoders_differ",
            asset=text_motion_encoders,
            partitions_def=dataset_partitions,
            description="Correlation of the reward's and the evaluator's text-motion scores < "
            "encoders.max_agreement (warning).",
        ),
    ]


@dg.multi_asset_check(specs=_SPECS)
def text_motion_encoders_checks(
    context: dg.AssetCheckExecutionContext, pipeline_config: PipelineConfigResource
) -> Iterator[dg.AssetCheckResult]:
    """Load both encoders of the partition once, then read the stage's metrics."""
    cfg, dataset = pipeline_config.load(), context.partition_key
    out = cfg.artifacts_dir(dataset, "encoders")
    key = text_motion_encoders.key
    detail: dict = {}
    try:
        sample = load_split(cfg.raw_dir(dataset), "test", cfg.data.min_frames)[0]
        ok = True
        for role in ROLES:
            model = TextMotionModel.load(out / f"{role}.safetensors")
            m = model.embed_motions([sample.features])
            t = model.embed_captions(sample.captions[:1])
            fine = bool(np.isfinite(m).all() and np.allclose(np.linalg.norm(m), 1, atol=1e-4))
            fine &= bool(np.isfinite(t).all() and np.allclose(np.linalg.norm(t), 1, atol=1e-4))
            ok &= fine
            detail[f"{role}_step"] = model.info.get("step", -1)
            detail[f"{role}_arch"] = model.motion.cfg.arch
            detail[f"{role}_cosine_{sample.name}"] = float(m[0] @ t[0])
    except (FileNotFoundError, ValueError, RuntimeError, IndexError) as e:
        ok, detail = False, {"error": str(e)}
    yield dg.AssetCheckResult(check_name="encoders_load", asset_key=key, passed=ok, metadata=detail)

    path = out / "metrics.json"
    if not path.is_file():
        for name in ("real_retrieval", "encoders_differ"):
            yield dg.AssetCheckResult(
                check_name=name,
                asset_key=key,
                passed=False,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"error": f"{path}: missing"},
            )
        return
    m = json.loads(path.read_text())
    e = cfg.encoders
    real, shuffled = m["real/top3"], m["real/top3_shuffled"]
    yield dg.AssetCheckResult(
        check_name="real_retrieval",
        asset_key=key,
        passed=real >= e.min_real_top3 and shuffled <= e.max_shuffled_top3,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "real_top3": real,
            "min_real_top3": e.min_real_top3,
            "shuffled_top3": shuffled,
            "max_shuffled_top3": e.max_shuffled_top3,
            "real_fid": m["real/fid"],
        },
    )
    r = m["agreement/text_motion_score_correlation"]
    yield dg.AssetCheckResult(
        check_name="encoders_differ",
        asset_key=key,
        passed=r < e.max_agreement,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "text_motion_score_correlation": r,
            "motion_similarity_correlation": m["agreement/motion_similarity_correlation"],
            "max_agreement": e.max_agreement,
        },
    )
