"""Motion-R1 core: plain torch code for every stage (no orchestration imports)."""

__version__ = "0.1.0"
