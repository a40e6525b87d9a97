"""Jobs: one per asset group, each run for one dataset partition."""

import dagster as dg

raw_data_job = dg.define_asset_job(
    "raw_data_job",
    selection=dg.AssetSelection.groups("data"),
    description="Build and validate the raw motion folder of one dataset partition.",
)

tokenizer_job = dg.define_asset_job(
    "tokenizer_job",
    selection=dg.AssetSelection.groups("tokenizer"),
    description="Train the motion tokenizer of one dataset partition and write its token dataset.",
)

encoders_job = dg.define_asset_job(
    "encoders_job",
    selection=dg.AssetSelection.groups("encoders"),
    description="Train the reward and evaluator text-motion encoders of one dataset partition and "
    "measure the Real row of the metric protocol.",
)

cot_job = dg.define_asset_job(
    "cot_job",
    selection=dg.AssetSelection.groups("cot"),
    description="Decompose captions into verified chains of thought and join them with motion "
    "tokens (SFT triplets) for one dataset partition.",
)

policy_job = dg.define_asset_job(
    "policy_job",
    selection=dg.AssetSelection.groups("policy"),
    description="Cold-start SFT of the motion-aware LLM, with and without chains of thought, and "
    "its format validity, metric protocol and length errors for one dataset partition.",
)

pipeline_job = dg.define_asset_job(
    "pipeline_job",
    selection=dg.AssetSelection.all(),
    description="Every asset of one dataset partition, in dependency order, with its checks.",
)
