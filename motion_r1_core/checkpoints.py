"""The resume protocol of every trainer: fingerprinted, atomic, bit-exact checkpoints.

    ckpt_dir/step_0000500/model.safetensors   the modules' tensors, `<name>.<key>`
    ckpt_dir/step_0000500/train_state.pt      step, fingerprint, optimiser, scheduler, RNGs, history
    ckpt_dir/latest                           points at the newest complete folder (os.replace)

A folder is written completely before `latest` points at it, so a crash while writing leaves
the previous checkpoint in force; only the newest `keep` folders are kept. A checkpoint records
the run's fingerprint (a hash of the data, the model shape and every setting that changes the
trajectory of training): a run under another fingerprint starts afresh instead of resuming.

What is restored: module parameters and buffers, the optimiser, an LR scheduler if any, the
global torch (and CUDA) RNG, and each named sampler generator (torch or numpy), so that on CPU a
killed run that resumes ends with the same weights, bit for bit, as one never interrupted.

    state = TrainingState({"model": model}, opt, generators={"windows": sampler.generator})
    ckpt = Checkpointer(ckpt_dir, run_fingerprint(data=..., model=..., train=settings(cfg)))
    ckpt.resume(state)                  # state.step is 0 unless a matching checkpoint exists
    ... ckpt.save(state) every checkpoint_every steps ...
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel
from safetensors.torch import load_file, save_file

log = logging.getLogger(__name__)

STATE_FILE = "train_state.pt"
WEIGHTS_FILE = "model.safetensors"

# Settings of a training section that never change the trajectory: how often to log, validate
# and save, and where to run. Everything else in the section goes into the fingerprint.
BOOKKEEPING = frozenset(
    {"log_every", "eval_every", "checkpoint_every", "device", "bf16", "compile"}
)


# ------------------------------------------------------------------------------- fingerprints
def array_fingerprint(arrays: Sequence[np.ndarray]) -> str:
    """Short hash of the shapes and float32 contents of `arrays`."""
    h = hashlib.sha256()
    for arr in arrays:
        a = np.ascontiguousarray(arr, np.float32)
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def settings(cfg: BaseModel, ignore: Iterable[str] = ()) -> dict[str, Any]:
    """The fields of a config section that shape the trajectory: all but `BOOKKEEPING` + `ignore`."""
    skip = BOOKKEEPING | set(ignore)
    return {k: v for k, v in cfg.model_dump(mode="json").items() if k not in skip}


def run_fingerprint(**parts: Any) -> str:
    """Short hash of JSON-able parts (data hash, model shape, settings, seed)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------------ folders
def latest_checkpoint(ckpt_dir: Path) -> Path | None:
    """The folder `ckpt_dir/latest` points at, if it holds a complete train state."""
    pointer = Path(ckpt_dir) / "latest"
    if not pointer.is_file():
        return None
    folder = Path(ckpt_dir) / pointer.read_text().strip()
    return folder if (folder / STATE_FILE).is_file() else None


def commit_checkpoint(
    ckpt_dir: Path, step: int, write: Callable[[Path], None], keep: int = 2
) -> Path:
    """Create `ckpt_dir/step_<step>/`, fill it with `write(folder)`, then point `latest` at it."""
    ckpt_dir = Path(ckpt_dir)
    folder = ckpt_dir / f"step_{step:07d}"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    write(folder)
    tmp = ckpt_dir / "latest.tmp"
    tmp.write_text(folder.name + "\n")
    os.replace(tmp, ckpt_dir / "latest")
    for old in sorted(ckpt_dir.glob("step_*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return folder


# -------------------------------------------------------------------------------------- state
Generator = torch.Generator | np.random.Generator


@dataclass
class TrainingState:
    """Everything a trainer needs to continue exactly where it stopped (mutated in place).

    Attributes:
        modules: networks by name; their tensors are saved as `<name>.<key>`.
        optimizer: the optimiser (its state dict is saved).
        generators: the samplers' random generators by name (torch or numpy).
        scheduler: an LR scheduler with state_dict/load_state_dict, if the trainer uses one.
        step: optimiser steps taken.
        history: one dict per logged row so far (the curves of a resumed run stay whole).
        extra: small numbers carried across a checkpoint (e.g. a loss sum not yet logged).
    """

    modules: dict[str, torch.nn.Module]
    optimizer: torch.optim.Optimizer
    generators: dict[str, Generator] = field(default_factory=dict)
    scheduler: Any = None
    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    extra: dict[str, float] = field(default_factory=dict)


def _generator_state(g: Generator) -> Any:
    if isinstance(g, torch.Generator):
        return g.get_state()
    return json.dumps(g.bit_generator.state)  # a str: loadable with weights_only=True


def _set_generator_state(g: Generator, state: Any) -> None:
    if isinstance(g, torch.Generator):
        g.set_state(state)
    else:
        g.bit_generator.state = json.loads(state)


class Checkpointer:
    """Save and resume a `TrainingState` under `ckpt_dir`, guarded by the run's fingerprint."""

    def __init__(self, ckpt_dir: Path, fingerprint: str, keep: int = 2) -> None:
        self.dir = Path(ckpt_dir)
        self.fingerprint = fingerprint
        self.keep = keep
        self.dir.mkdir(parents=True, exist_ok=True)

    def save(self, state: TrainingState) -> Path:
        """Write `state` as `step_<state.step>/` and make it the latest checkpoint."""

        def write(folder: Path) -> None:
            tensors = {
                f"{name}.{k}": v.detach().cpu().contiguous()
                for name, module in state.modules.items()
                for k, v in module.state_dict().items()
            }
            save_file(tensors, str(folder / WEIGHTS_FILE))
            torch.save(
                {
                    "step": state.step,
                    "fingerprint": self.fingerprint,
                    "optimizer": state.optimizer.state_dict(),
                    "scheduler": state.scheduler.state_dict() if state.scheduler else None,
                    "generators": {k: _generator_state(g) for k, g in state.generators.items()},
                    "torch_rng": torch.get_rng_state(),
                    "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                    "history": [dict(h) for h in state.history],
                    "extra": dict(state.extra),
                },
                folder / STATE_FILE,
            )

        return commit_checkpoint(self.dir, state.step, write, self.keep)

    def resume(self, state: TrainingState) -> bool:
        """Load the latest checkpoint into `state` if its fingerprint matches; True if it did.

        A checkpoint of other data or settings is left alone (with a warning) and `state` is
        untouched, so the run starts afresh and its first save replaces it.
        """
        folder = latest_checkpoint(self.dir)
        if folder is None:
            return False
        saved = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=True)
        if saved["fingerprint"] != self.fingerprint:
            log.warning(
                "%s was written for other data or settings (fingerprint %s, now %s): starting "
                "afresh",
                folder,
                saved["fingerprint"],
                self.fingerprint,
            )
            return False
        tensors = load_file(str(folder / WEIGHTS_FILE))
        for name, module in state.modules.items():
            prefix = name + "."
            module.load_state_dict(
                {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            )
        state.optimizer.load_state_dict(saved["optimizer"])
        if state.scheduler is not None and saved["scheduler"] is not None:
            state.scheduler.load_state_dict(saved["scheduler"])
        for name, g in state.generators.items():
            _set_generator_state(g, saved["generators"][name])
        torch.set_rng_state(saved["torch_rng"])
        if saved["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(saved["cuda_rng"])
        state.step = int(saved["step"])
        state.history = [dict(h) for h in saved["history"]]
        state.extra = dict(saved["extra"])
        return True


@dataclass
class TrainSummary:
    """What one call of a trainer did (a resumed call counts only its own steps and seconds).

    Attributes:
        step: the step reached (== iterations when complete).
        resumed_from: step of the checkpoint it started from (0: fresh).
        seconds: wall time of this call's steps.
        history: every logged row of the run so far, the resumed part included.
    """

    step: int
    resumed_from: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def steps_per_second(self) -> float:
        """Optimiser steps per second of this call."""
        return (self.step - self.resumed_from) / self.seconds if self.seconds > 0 else 0.0


def due(step: int, every: int, last: int) -> bool:
    """True on every `every`-th step and on the last one (logging, validation, checkpoints)."""
    return step % every == 0 or step == last
