"""The `encoders` group: the reward and evaluator text-motion encoders and the "Real" row."""
