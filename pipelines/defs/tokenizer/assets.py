"""`motion_vqvae` and `motion_tokens`: GPU stages, run through Dagster Pipes.

Thin: each asset hands its stage to the `stage_launcher` resource, which runs it in its own
process (`pipelines.pipes_stage`) and returns the materialization that process reported.
"""

from pipelines.defs.data.assets import raw_motions
from pipelines.stage_asset import pipes_stage_asset

motion_vqvae = pipes_stage_asset(
    "motion_vqvae",
    group="tokenizer",
    deps=[raw_motions],
    kinds={"pytorch", "mlflow"},
    description="VQ-VAE motion tokenizer at artifacts/<dataset>/vqvae/vqvae.safetensors (with "
    "the mean/std it was trained on), its test reconstruction metrics, curves and GIFs. "
    "Resumes from its latest checkpoint if a previous run was interrupted.",
)

motion_tokens = pipes_stage_asset(
    "motion_tokens",
    group="tokenizer",
    deps=[raw_motions, motion_vqvae],
    kinds={"pytorch", "parquet"},
    description="Every motion (and its mirrored copy) as token ids: artifacts/<dataset>/tokens/"
    "tokens.parquet with id, source_id, split, mirrored, n_frames, tokens.",
)
