"""Checks of `raw_motions`: the Great Expectations suite on the materialised partition's folder.

One suite run (`validate_motion_folder`) feeds one check per concern; `layout_and_dims` is
blocking, since no later stage can read a folder that fails it. The checks are partitioned like
the asset, so each dataset gets its own results.
"""

from collections.abc import Iterator

import dagster as dg

from motion_r1_core.data.validation import ValidationReport, validate_dataset_folder
from pipelines.asset_checks import MAX_IDS, dataset_check_specs
from pipelines.defs.data.assets import raw_motions
from pipelines.defs.resources import PipelineConfigResource

# Dagster check -> the report's checks it covers (motion_r1_core.data.validation)
CHECK_CONCERNS: dict[str, tuple[str, ...]] = {
    "layout_and_dims": ("layout", "files", "readable", "dims", "frames", "normalization"),
    "finite_values": ("finite",),
    "motion_lengths": ("lengths",),
    "captions": ("captions",),
    "splits": ("splits",),
}
_DESCRIPTIONS = {
    "layout_and_dims": "Folders, split files and Mean/Std exist; every split ID has features, "
    "joints and text; every .npy loads; widths are 263/251 with matching joints and frames.",
    "finite_values": "No NaN or inf in features or joints.",
    "motion_lengths": "Frame counts within data.min_frames..199 (KIT-ML 24..199); real "
    "datasets need only a share inside (LENGTH_MOSTLY).",
    "captions": "Every text file has captions, none empty, all `caption#tokens#start#end`.",
    "splits": "train/val/test are pairwise disjoint and list no ID twice.",
}


def check_result(report: ValidationReport, name: str) -> dg.AssetCheckResult:
    """The result of Dagster check `name` (a key of CHECK_CONCERNS) from a report."""
    concerns = CHECK_CONCERNS[name]
    failures = report.failures_for(*concerns)
    if name != "layout_and_dims" and report.failures_for("layout"):
        # the suite stopped at the layout: this concern was not evaluated, so it cannot pass
        failures = report.failures_for("layout")
    files = [f for failure in failures for f in failure.files]
    return dg.AssetCheckResult(
        check_name=name,
        asset_key=raw_motions.key,
        passed=not failures,
        metadata={
            "folder": dg.MetadataValue.path(str(report.folder)),
            "failed": [f.check for f in failures],
            "details": [f.detail for f in failures],
            "files": files[:MAX_IDS],
            "n_files": len(files),
            "report": dg.MetadataValue.md(
                f"```\n{report.format(checks=(*concerns, 'layout'))}\n```"
            ),
            "n_motions": report.n_motions,
            **{k: v for k, v in report.stats.items() if isinstance(v, int | float)},
        },
    )


_SPECS = dataset_check_specs(raw_motions, _DESCRIPTIONS, blocking={"layout_and_dims"})


@dg.multi_asset_check(specs=_SPECS)
def raw_motions_checks(
    context: dg.AssetCheckExecutionContext, pipeline_config: PipelineConfigResource
) -> Iterator[dg.AssetCheckResult]:
    """Validate the folder of the run's dataset partition once and report each concern."""
    cfg, dataset = pipeline_config.load(), context.partition_key
    report = validate_dataset_folder(cfg.raw_dir(dataset), dataset, cfg.data.min_frames)
    context.log.info(report.format())
    for name in CHECK_CONCERNS:
        yield check_result(report, name)
