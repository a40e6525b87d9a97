"""Text-motion encoders: the reward model of GRPO and the evaluator of the metrics."""
