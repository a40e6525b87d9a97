"""Motion tokenizer throughput: training steps/s and encoding motions/s, against a plain reference.

    python benchmarks/vqvae_throughput.py                      # cpu size (+ paper size on CUDA)
    python benchmarks/vqvae_throughput.py --quick              # ~1 min on 2 cores
    python benchmarks/vqvae_throughput.py --sizes paper --device cuda --steps 50
    python benchmarks/vqvae_throughput.py --sizes cpu --repeats 7 --threads 1 --out /tmp/vq.json

For each size (the `vqvae` section of configs/<size>.yaml over params.yaml) two training loops of
the same model, from the same initial weights, on the same random windows, are timed in this run:

* **pipeline**: `motion_r1_core.vqvae.train.train_step` with the optimiser of `build_optimizer`,
  as `motion-r1 stage motion_vqvae` runs them: fused AdamW, losses returned as tensors (no host
  transfer), and on CUDA the profile's bf16 autocast and `torch.compile` (`--bf16/--compile`
  force). Only the step is timed, not the loop's per-step bookkeeping around it (the code
  histogram and the loss sums of `train_vqvae`).
* **reference**: the straightforward eager float32 loop: `torch.optim.AdamW` with its default
  (unfused) implementation and `loss.item()` every step, as most training scripts log. Its
  hyperparameters (lr, betas, weight decay) are read from the same `vqvae.train` config object
  the pipeline's optimiser is built from, and checked equal to the pipeline optimiser's, so the
  two differ only in implementation.

Encoding is timed the same way: `MotionTokenizer.encode_many` (motions grouped by length,
batched, one host transfer per batch) against `MotionTokenizer.encode` one motion at a time.
Lengths are drawn uniformly from 40..196 frames, HumanML3D's range; the data are random
features, so the numbers are speeds, not quality.

Each variant is timed `--repeats` times (default 5), interleaved: reference, pipeline,
reference, pipeline, ... after an untimed warm-up of each, so that drift of the machine (other
processes, thermal state) hits both alike. Each timed block is `--steps` training steps (or one
pass over the `--motions` motions). The table gives, per variant, the median rate with the
interquartile range and min-max over the repeats, and the ratio of the medians pipeline /
reference (> 1: the pipeline is faster), with the min-max of the per-repeat ratios (reference
and pipeline block of the same repeat). The goal on a GPU is >= 1.5x for the training step.
Results are printed and written as JSON, every timed block included (default
artifacts/benchmarks/vqvae_throughput.json).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import typer
from rich.console import Console
from rich.table import Table

from motion_r1_core.config import VQVAETrainConfig, load_config
from motion_r1_core.skeleton import skeleton_for_dim
from motion_r1_core.vqvae.model import MotionVQVAE
from motion_r1_core.vqvae.tokenizer import MotionTokenizer
from motion_r1_core.vqvae.train import build_optimizer, compile_model, resolve_device, train_step

IN_DIM = 263  # HumanML3D features
VARIANTS = ("reference", "pipeline")  # the timing order within each repeat
HYPERPARAMETERS = ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize")
console = Console(width=None if sys.stdout.isatty() else 160)  # logs: no squeezed table


@dataclass
class Timing:
    """One variant's timed blocks: `items` steps or motions each, `seconds` per block."""

    size: str
    what: str  # "train" or "encode"
    variant: str  # "pipeline" or "reference"
    unit: str  # "steps/s" or "motions/s"
    items: int
    seconds: list[float] = field(default_factory=list)
    peak_extra_mib: float | None = None  # CUDA: peak allocation above the block's start
    setup_s: float = 0.0  # warm-up (and compilation) before timing
    agreement: float | None = None  # encode: share of tokens equal to the reference's

    @property
    def rates(self) -> np.ndarray:
        """Items per second of each timed block."""
        return self.items / np.asarray(self.seconds)

    def stats(self) -> dict[str, float]:
        """median, q1, q3, min, max of the rates."""
        q1, med, q3 = np.percentile(self.rates, [25, 50, 75])
        return {
            "median": float(med),
            "q1": float(q1),
            "q3": float(q3),
            "min": float(self.rates.min()),
            "max": float(self.rates.max()),
        }


# ------------------------------------------------------------------------------------ helpers
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(device: torch.device, fn: Callable[[], object]) -> tuple[float, float | None]:
    """(seconds, peak MiB allocated above the start on CUDA, else None) of one call of `fn`."""
    if device.type == "cuda":
        _sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    seconds = time.perf_counter() - t0
    if device.type != "cuda":
        return seconds, None
    return seconds, (torch.cuda.max_memory_allocated(device) - base) / 2**20


def _interleaved(
    timings: dict[str, Timing], blocks: dict[str, Callable[[], object]], repeats: int, device
) -> None:
    """Time each variant's block once per repeat, in VARIANTS order (A B A B ...)."""
    for _ in range(repeats):
        for variant in VARIANTS:
            seconds, peak = _timed(device, blocks[variant])
            t = timings[variant]
            t.seconds.append(seconds)
            if peak is not None:
                t.peak_extra_mib = max(t.peak_extra_mib or 0.0, peak)


def _windows(n: int, batch: int, window: int, device: torch.device) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.randn(batch, window, IN_DIM, generator=g).to(device) for _ in range(n)]


# ------------------------------------------------------------------------------------ training
def _reference_optimizer(model: MotionVQVAE, cfg: VQVAETrainConfig) -> torch.optim.AdamW:
    """Plain AdamW (default implementation) with the pipeline config's hyperparameters."""
    return torch.optim.AdamW(
        model.parameters(), lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay
    )


def _check_same_hyperparameters(ref: torch.optim.Optimizer, pipe: torch.optim.Optimizer) -> None:
    a = {k: ref.defaults[k] for k in HYPERPARAMETERS}
    b = {k: pipe.defaults[k] for k in HYPERPARAMETERS}
    if a != b:
        raise RuntimeError(f"reference optimiser {a} differs from the pipeline's {b}")


def _reference_step(model: MotionVQVAE, opt: torch.optim.Optimizer, x: torch.Tensor, cfg) -> float:
    ric = slice(4, 4 + 3 * (skeleton_for_dim(IN_DIM).n_joints - 1))
    out = model(x)
    rec = F.smooth_l1_loss(out.recon, x)
    joints = F.smooth_l1_loss(out.recon[..., ric], x[..., ric])
    loss = rec + cfg.loss_joints * joints + cfg.commitment * out.commitment
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    opt.step()
    return loss.item()


def bench_train(
    size: str,
    device: torch.device,
    steps: int,
    warmup: int,
    repeats: int,
    batch: int | None,
    bf16: bool | None,
    compile_: bool | None,
) -> list[Timing]:
    """Steps/s of the pipeline's training step and of the eager fp32 reference, same model,
    `repeats` interleaved blocks of `steps` steps each."""
    cfg = load_config(size).vqvae
    tcfg = cfg.train.model_copy(update={"batch_size": batch or cfg.train.batch_size})
    use_bf16 = (tcfg.bf16 if bf16 is None else bf16) and device.type == "cuda"
    use_compile = (tcfg.compile if compile_ is None else compile_) and device.type == "cuda"
    data = _windows(min(steps + warmup, 16), tcfg.batch_size, tcfg.window, device)

    models, opts = {}, {}
    for variant in VARIANTS:  # same seed: same initial weights (k-means init runs in warm-up)
        torch.manual_seed(0)
        models[variant] = MotionVQVAE(IN_DIM, cfg.model).to(device).train()
    opts["pipeline"] = build_optimizer(models["pipeline"], tcfg, device)
    opts["reference"] = _reference_optimizer(models["reference"], tcfg)
    _check_same_hyperparameters(opts["reference"], opts["pipeline"])
    if use_compile:
        compile_model(models["pipeline"])

    counter = {v: 0 for v in VARIANTS}  # each variant walks through the same windows

    def run(variant: str, n: int) -> None:
        model, opt = models[variant], opts[variant]
        for _ in range(n):
            x = data[counter[variant] % len(data)]
            counter[variant] += 1
            if variant == "pipeline":
                train_step(model, opt, x, tcfg, bf16=use_bf16)
            else:
                _reference_step(model, opt, x, tcfg)

    timings = {v: Timing(size, "train", v, "steps/s", steps) for v in VARIANTS}
    for variant in VARIANTS:  # same global RNG for each k-means init and dead-code reset
        torch.manual_seed(1)
        timings[variant].setup_s = round(_timed(device, lambda v=variant: run(v, warmup))[0], 2)
    blocks = {v: (lambda v=v: run(v, steps)) for v in VARIANTS}
    _interleaved(timings, blocks, repeats, device)
    return [timings[v] for v in VARIANTS]


# ------------------------------------------------------------------------------------ encoding
def bench_encode(
    size: str, device: torch.device, motions: int, batch: int, repeats: int
) -> list[Timing]:
    """Motions/s encoded by `encode_many` (batched by length) and one at a time (reference),
    `repeats` interleaved passes over the same motions each."""
    cfg = load_config(size).vqvae
    torch.manual_seed(0)
    model = MotionVQVAE(IN_DIM, cfg.model).to(device)
    rng = np.random.default_rng(0)
    lengths = rng.integers(40, 197, motions)
    data = [rng.standard_normal((int(n), IN_DIM), np.float32) for n in lengths]
    model(torch.from_numpy(np.stack([m[:40] for m in data[:64]])).to(device))  # k-means init
    model.eval()
    ones = np.ones(IN_DIM, np.float32)
    tok = MotionTokenizer(model, 0 * ones, ones, skeleton_for_dim(IN_DIM))

    ids: dict[str, list[list[int]]] = {}
    encoders = {
        "pipeline": lambda: tok.encode_many(data, batch),
        "reference": lambda: [tok.encode(m).tolist() for m in data],
    }
    timings = {v: Timing(size, "encode", v, "motions/s", motions) for v in VARIANTS}
    for variant in VARIANTS:  # warm-up pass (kernels, allocator); keeps the ids to compare
        seconds, _ = _timed(device, lambda v=variant: ids.__setitem__(v, encoders[v]()))
        timings[variant].setup_s = round(seconds, 2)
    _interleaved(timings, encoders, repeats, device)
    same = sum(
        a == b
        for x, y in zip(ids["pipeline"], ids["reference"], strict=True)
        for a, b in zip(x, y, strict=True)
    )
    timings["pipeline"].agreement = same / sum(map(len, ids["reference"]))
    return [timings[v] for v in VARIANTS]


# ---------------------------------------------------------------------------------------- report
def _fmt(x: float) -> str:
    return f"{x:.3g}" if x < 100 else f"{x:.0f}"


def _rows(timings: list[Timing]) -> tuple[list[list[str]], list[dict]]:
    """Table rows and JSON summaries, two timings (reference, pipeline) per measurement."""
    rows, summary = [], []
    for i in range(0, len(timings), 2):
        ref, pipe = timings[i], timings[i + 1]
        rs, ps = ref.stats(), pipe.stats()
        ratio = ps["median"] / rs["median"]
        paired = pipe.rates / ref.rates  # blocks of the same repeat
        for t, s in ((ref, rs), (pipe, ps)):
            notes = f"warm-up {t.setup_s:.1f} s"
            if t.agreement is not None:
                notes += f", same ids {t.agreement:.2%}"
            if t.peak_extra_mib is not None:
                notes += f", peak +{t.peak_extra_mib:.0f} MiB"
            rows.append(
                [
                    t.size,
                    t.what,
                    t.variant,
                    f"{_fmt(s['median'])} {t.unit}",
                    f"{_fmt(s['q1'])}-{_fmt(s['q3'])}",
                    f"{_fmt(s['min'])}-{_fmt(s['max'])}",
                    f"{len(t.seconds)} x {t.items}",
                    f"{ratio:.2f}x ({paired.min():.2f}-{paired.max():.2f})"
                    if t is pipe
                    else "1 (reference)",
                    notes,
                ]
            )
        summary.append(
            {
                "size": ref.size,
                "what": ref.what,
                "ratio_of_medians": ratio,
                "paired_ratio_min": float(paired.min()),
                "paired_ratio_max": float(paired.max()),
                "reference": rs,
                "pipeline": ps,
            }
        )
    return rows, summary


def main(
    sizes: str = typer.Option(
        "", help="Comma-separated profiles whose sizes to time (default: cpu,paper on CUDA, cpu)."
    ),
    device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N."),
    repeats: int = typer.Option(5, min=1, help="Timed blocks per variant, interleaved."),
    steps: int = typer.Option(
        0, help="Training steps per timed block (0: 20 on CUDA, 8 cpu / 2 paper on CPU)."
    ),
    warmup: int = typer.Option(
        0, help="Untimed steps first (0: 10 on CUDA (compilation), 3 on CPU)."
    ),
    batch: int = typer.Option(0, help="Training batch (0: the profile's)."),
    motions: int = typer.Option(
        0, help="Motions encoded per timed block (0: 2000 on CUDA, 200 on CPU)."
    ),
    encode_batch: int = typer.Option(64, help="Motions per encoding batch."),
    quick: bool = typer.Option(
        False, help="A short check: cpu size, 4 steps and 100 motions a block (unless given)."
    ),
    threads: int = typer.Option(0, help="torch.set_num_threads (0: torch's default)."),
    bf16: bool | None = typer.Option(None, "--bf16/--no-bf16", help="Default: the profile's."),
    compile_: bool | None = typer.Option(
        None, "--compile/--no-compile", help="Default: the profile's (CUDA only)."
    ),
    out: Path = typer.Option(Path("artifacts/benchmarks/vqvae_throughput.json"), help="JSON out."),
) -> None:
    """Time the tokenizer's training step and encoder for each size; print and save ratios."""
    if threads:
        torch.set_num_threads(threads)
    dev = resolve_device(device)
    gpu = dev.type == "cuda"
    sizes = sizes or ("cpu" if quick or not gpu else "cpu,paper")
    timings: list[Timing] = []
    for size in [s.strip() for s in sizes.split(",") if s.strip()]:
        n_steps = steps or (4 if quick else 20 if gpu else 2 if size == "paper" else 8)
        n_warm = warmup or (10 if gpu else 3)
        n_motions = motions or (100 if quick else 2000 if gpu else 200)
        console.print(
            f"[bold]{size}[/]: {repeats} x {n_steps} timed training steps and "
            f"{repeats} x {n_motions} motions encoded per variant on {dev} ..."
        )
        timings += bench_train(size, dev, n_steps, n_warm, repeats, batch or None, bf16, compile_)
        timings += bench_encode(size, dev, n_motions, encode_batch, repeats)

    rows, summary = _rows(timings)
    table = Table(
        title=f"motion tokenizer throughput on {dev} ({torch.get_num_threads()} threads), "
        f"{repeats} interleaved repeats"
    )
    cols = ("size", "what", "variant", "median", "IQR", "min-max", "blocks", "ratio", "notes")
    for col in cols:
        table.add_column(col, justify="left" if col in ("what", "variant", "notes") else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(
        "ratio: median pipeline rate / median reference rate (min-max of the per-repeat ratios)"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    info = {
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if gpu else "cpu",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "repeats": repeats,
        "order": list(VARIANTS),
    }
    payload = {"info": info, "timings": [asdict(t) for t in timings], "ratios": summary}
    out.write_text(json.dumps(payload, indent=2))
    console.print(f"written {out}")


if __name__ == "__main__":
    typer.run(main)
