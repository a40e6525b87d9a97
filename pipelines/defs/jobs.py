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
    description="Cold-start SFT of the motion-aware LLM, with and without chains of thought, its "
    "format validity, metric protocol and length errors, then GRPO with both similarity rewards "
    "(grpo_policy/both), for one dataset partition.",
)

ablation_job = dg.define_asset_job(
    "ablation_job",
    selection=dg.AssetSelection.key_prefixes("grpo_policy"),
    description="The paper's reward ablation: GRPO of the CoT SFT policy with each entry of "
    "policy.grpo.ablations (semantic, motion, both, both_physics), one run each, for one "
    "dataset partition; their reports sit side by side under artifacts/<dataset>/grpo/.",
)

report_job = dg.define_asset_job(
    "report_job",
    selection=dg.AssetSelection.groups("report"),
    description="The evaluation report of one dataset partition: Real, VQ-VAE and every policy "
    "present under the protocol with 95% intervals, as HTML and Markdown, logged to MLflow.",
)

registry_job = dg.define_asset_job(
    "registry_job",
    selection=dg.AssetSelection.groups("registry"),
    description="Register the champion of the evaluation report (best registry.metric, above the "
    "registry floors) as models:/motion-r1@champion for one dataset partition.",
)

pipeline_job = dg.define_asset_job(
    "pipeline_job",
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups("ablation"),
    description="Every asset of one dataset partition, in dependency order, with its checks (the "
    "reward ablation is ablation_job's).",
)
