"""`text_motion_encoders`: a GPU stage, run through Dagster Pipes like the tokenizer."""

from pipelines.defs.data.assets import raw_motions
from pipelines.stage_asset import pipes_stage_asset

text_motion_encoders = pipes_stage_asset(
    "text_motion_encoders",
    group="encoders",
    deps=[raw_motions],
    kinds={"pytorch", "mlflow"},
    description="The reward (GRPO) and evaluator (metrics) text-motion encoders at "
    "artifacts/<dataset>/encoders/{reward,evaluator}.safetensors, their test retrieval recall, "
    'the "Real" row of the metric protocol and how much the two encoders agree. Resumes from '
    "the latest checkpoints if a previous run was interrupted.",
)
