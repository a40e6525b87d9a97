"""Where a stage computes and how it shows progress: the torch device, a progress bar on stderr.

Every trainer and stage takes these from here, so a GPU node, a laptop and a test run the same
code with only the configuration differing.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch


def is_main_process() -> bool:
    """False on the other ranks of a distributed launch (`accelerate launch`, torchrun set
    RANK): they train with rank 0 and leave evaluation, files and logging to it."""
    return int(os.environ.get("RANK", "0")) == 0


def resolve_device(name: str) -> torch.device:
    """`auto` -> cuda if available else cpu; anything else as torch.device (`cuda:1`, ...).

    Under a distributed launch a bare `cuda` is this process's GPU (`cuda:<LOCAL_RANK>`),
    the one its trainer uses.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and "LOCAL_RANK" in os.environ:
        return torch.device(f"cuda:{int(os.environ['LOCAL_RANK'])}")
    return torch.device(name)


class Progress:
    """A rich progress bar on stderr (stdout stays clean JSON); a no-op when disabled."""

    def __init__(self, bar: object | None, task: int | None) -> None:
        self._bar, self._task = bar, task

    def update(self, completed: int, description: str | None = None) -> None:
        """Move the bar to `completed` (and change its label)."""
        if self._bar is not None:
            kw = {"description": description} if description else {}
            self._bar.update(self._task, completed=completed, **kw)  # type: ignore[attr-defined]

    def advance(self, n: int = 1) -> None:
        """Move the bar `n` steps on."""
        if self._bar is not None:
            self._bar.advance(self._task, n)  # type: ignore[attr-defined]


@contextlib.contextmanager
def progress_bar(
    name: str, total: int, completed: int = 0, enabled: bool = True
) -> Iterator[Progress]:
    """A progress bar over `total` steps starting at `completed`, closed on exit."""
    if not enabled:
        yield Progress(None, None)
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
    from rich.progress import Progress as RichProgress

    with RichProgress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    ) as bar:
        yield Progress(bar, bar.add_task(name, total=total, completed=completed))
