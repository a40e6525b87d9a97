"""The `cot` group: decomposed chains of thought, verified, joined with motion tokens for SFT."""
