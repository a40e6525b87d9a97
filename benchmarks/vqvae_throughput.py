"""Motion tokenizer throughput: training steps/s and encoding motions/s, against a plain reference.

    python benchmarks/vqvae_throughput.py                      # cpu and paper sizes, auto device
    python benchmarks/vqvae_throughput.py --sizes paper --device cuda --steps 50
    python benchmarks/vqvae_throughput.py --sizes cpu --steps 30 --out /tmp/vq.json

For each size (the `vqvae` section of configs/<size>.yaml over params.yaml) two training loops of
the same model, from the same initial weights, on the same random windows, are timed in this run:

* **pipeline**: `motion_r1_core.vqvae.train.train_step` as `motion-r1 stage motion_vqvae` runs it:
  fused AdamW, losses kept on the device between log steps, and on CUDA the profile's bf16
  autocast and `torch.compile` (on by default in the paper profile; `--bf16/--compile` force).
* **reference**: the straightforward eager float32 loop: `torch.optim.AdamW()` with its default
  implementation, and `loss.item()` every step, as most training scripts log.

Encoding is timed the same way: `MotionTokenizer.encode_many` (motions grouped by length,
batched, one host transfer per batch) against encoding one motion at a time in float32.
Lengths are drawn uniformly from 40..196 frames, HumanML3D's range. The ratio column is
pipeline / reference; the goal on a GPU is >= 1.5x for the training step. Results are printed
and written as JSON (default artifacts/benchmarks/vqvae_throughput.json).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import typer
from rich.console import Console
from rich.table import Table

from motion_r1_core.config import load_config
from motion_r1_core.skeleton import skeleton_for_dim
from motion_r1_core.vqvae.model import MotionVQVAE
from motion_r1_core.vqvae.tokenizer import MotionTokenizer
from motion_r1_core.vqvae.train import build_optimizer, compile_model, resolve_device, train_step

IN_DIM = 263  # HumanML3D features
console = Console()


@dataclass
class Result:
    """One timed measurement: `rate` items per second (steps or motions)."""

    size: str
    what: str  # "train" or "encode"
    variant: str  # "pipeline" or "reference"
    rate: float
    unit: str
    peak_mem_mib: float | None = None
    setup_s: float = 0.0  # warm-up (and compilation) before timing
    agreement: float | None = None  # encode: share of tokens equal to the reference's


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_mib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _windows(n: int, batch: int, window: int, device: torch.device) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.randn(batch, window, IN_DIM, generator=g).to(device) for _ in range(n)]


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
    batch: int | None,
    bf16: bool | None,
    compile_: bool | None,
) -> list[Result]:
    """Steps/s of the pipeline's training step and of the eager fp32 reference, same model."""
    cfg = load_config(size).vqvae
    tcfg = cfg.train.model_copy(update={"batch_size": batch or cfg.train.batch_size})
    use_bf16 = (tcfg.bf16 if bf16 is None else bf16) and device.type == "cuda"
    use_compile = (tcfg.compile if compile_ is None else compile_) and device.type == "cuda"
    data = _windows(min(steps + warmup, 16), tcfg.batch_size, tcfg.window, device)
    results = []
    for variant in ("reference", "pipeline"):
        torch.manual_seed(0)
        model = MotionVQVAE(IN_DIM, cfg.model).to(device).train()
        _reset_peak(device)
        t0 = time.perf_counter()
        if variant == "pipeline":
            opt = build_optimizer(model, tcfg, device)
            if use_compile:
                compile_model(model)

            def step(i: int, model=model, opt=opt) -> None:
                train_step(model, opt, data[i % len(data)], tcfg, bf16=use_bf16)
        else:
            opt = torch.optim.AdamW(model.parameters(), lr=tcfg.lr, betas=tcfg.betas)

            def step(i: int, model=model, opt=opt) -> None:
                _reference_step(model, opt, data[i % len(data)], tcfg)

        for i in range(warmup):
            step(i)
        _sync(device)
        setup = time.perf_counter() - t0
        t0 = time.perf_counter()
        for i in range(steps):
            step(warmup + i)
        _sync(device)
        rate = steps / (time.perf_counter() - t0)
        results.append(
            Result(size, "train", variant, rate, "steps/s", _peak_mib(device), round(setup, 2))
        )
        del model, opt
    return results


def bench_encode(size: str, device: torch.device, motions: int, batch: int) -> list[Result]:
    """Motions/s encoded by `encode_many` (batched by length) and one at a time (reference)."""
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
    tok.encode_many(data[:8], batch)  # warm-up: kernels, allocator
    results = []
    for variant in ("reference", "pipeline"):
        _reset_peak(device)
        _sync(device)
        t0 = time.perf_counter()
        if variant == "pipeline":
            ids = tok.encode_many(data, batch)
        else:
            ids = [tok.encode(m).tolist() for m in data]
        _sync(device)
        rate = motions / (time.perf_counter() - t0)
        results.append(Result(size, "encode", variant, rate, "motions/s", _peak_mib(device)))
        if variant == "reference":
            expected = ids
    same = sum(
        a == b for x, y in zip(ids, expected, strict=True) for a, b in zip(x, y, strict=True)
    )
    results[-1].agreement = same / sum(map(len, expected))
    return results


def main(
    sizes: str = typer.Option("cpu,paper", help="Comma-separated profiles whose sizes to time."),
    device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N."),
    steps: int = typer.Option(
        0, help="Timed training steps (0: 50 on CUDA, 20 cpu / 3 paper on CPU)."
    ),
    warmup: int = typer.Option(
        0, help="Untimed steps first (0: 10 on CUDA (compilation), 3 on CPU)."
    ),
    batch: int = typer.Option(0, help="Training batch (0: the profile's)."),
    motions: int = typer.Option(0, help="Motions to encode (0: 2000 on CUDA, 200 on CPU)."),
    encode_batch: int = typer.Option(64, help="Motions per encoding batch."),
    bf16: bool | None = typer.Option(None, "--bf16/--no-bf16", help="Default: the profile's."),
    compile_: bool | None = typer.Option(
        None, "--compile/--no-compile", help="Default: the profile's (CUDA only)."
    ),
    out: Path = typer.Option(Path("artifacts/benchmarks/vqvae_throughput.json"), help="JSON out."),
) -> None:
    """Time the tokenizer's training step and encoder for each size; print and save ratios."""
    dev = resolve_device(device)
    gpu = dev.type == "cuda"
    results: list[Result] = []
    for size in [s.strip() for s in sizes.split(",") if s.strip()]:
        n_steps = steps or (50 if gpu else (3 if size == "paper" else 20))
        n_warm = warmup or (10 if gpu else 3)
        console.print(f"[bold]{size}[/]: {n_steps} timed training steps on {dev} ...")
        results += bench_train(size, dev, n_steps, n_warm, batch or None, bf16, compile_)
        results += bench_encode(size, dev, motions or (2000 if gpu else 200), encode_batch)

    table = Table(title=f"motion tokenizer throughput on {dev}")
    cols = ("size", "what", "reference", "pipeline", "ratio", "peak MiB (ref / pipe)", "notes")
    for col in cols:
        table.add_column(col, justify="right" if col != "what" else "left")
    summary = []
    for i in range(0, len(results), 2):
        ref, pipe = results[i], results[i + 1]
        ratio = pipe.rate / ref.rate
        mem = (
            f"{ref.peak_mem_mib:.0f} / {pipe.peak_mem_mib:.0f}"
            if ref.peak_mem_mib is not None
            else "-"
        )
        table.add_row(
            ref.size,
            ref.what,
            f"{ref.rate:.2f} {ref.unit}",
            f"{pipe.rate:.2f} {pipe.unit}",
            f"{ratio:.2f}x",
            mem,
            f"setup {pipe.setup_s:.1f} s"
            if pipe.what == "train"
            else f"same ids {pipe.agreement:.2%}",
        )
        summary.append({"size": ref.size, "what": ref.what, "ratio": ratio})
    console.print(table)
    out.parent.mkdir(parents=True, exist_ok=True)
    info = {
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if gpu else "cpu",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    payload = {"info": info, "results": [asdict(r) for r in results], "ratios": summary}
    out.write_text(json.dumps(payload, indent=2))
    console.print(f"written {out}")


if __name__ == "__main__":
    typer.run(main)
