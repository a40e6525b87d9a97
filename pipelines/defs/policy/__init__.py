"""The `policy` group: the motion-aware LLM after cold-start SFT, with and without chains."""
