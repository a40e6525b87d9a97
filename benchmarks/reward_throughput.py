"""GRPO reward throughput: completions scored/s by `MotionScorer`, a batch at once vs one by one.

    python benchmarks/reward_throughput.py                     # trained networks if present
    python benchmarks/reward_throughput.py --quick --threads 1  # ~15 s on 1 core
    python benchmarks/reward_throughput.py --device cuda --completions 256 --repeats 7

The scorer is the pipeline's `MotionScorer` (CoT grammar) with the trained tokenizer
artifacts/procedural/vqvae/vqvae.safetensors and reward encoder .../encoders/reward.safetensors
when both exist (`--random` ignores them), else random networks of the shapes of
tests/test_rewards.py (codebook 32, latent 16); the output says which. The LLM tokenizer only
supplies the eos/pad texts: SmolLM2's if cached under artifacts/backbones, else a stand-in.

The workload is one GRPO step: `--completions` N (default 64) in groups of `--group` G (default
8 = 8 captions x G); a group shares its caption (CAPTIONS) and reference codes. Completions are
`grammar.answer(codes, steps, plan)` + eos, codes (and references) 10..49 long, uniformly;
round(N / 10) at random are broken (no </Motion>, text in <Motion>, no <think>) and score 0.
Two ways of scoring the same step are timed in this run:

* **reference**: `score_texts([text], [caption], [codes])` once per completion, a Python loop,
  as a naive TRL reward function would do: a decoder, embedding, text projection and physics
  pass per completion.
* **batched**: one `score_texts(texts, captions, references)` on all N, as `reward_functions`
  does: one decoding, one embedding and one physics pass.

Fairness: the scorer memoises reference embeddings (`_references`) and MiniLM each caption
(`SentenceEmbedder`). Both memos are cleared before every timed block of both variants (outside
the timer): each block scores a step of fresh captions and references, as in a first epoch, and
each variant decodes and embeds each of the N / G references and each caption once (the loop
hits the memos for the rest of a group; the batch deduplicates).

Each variant is timed `--repeats` times (default 5; 3 with `--quick`), interleaved: reference,
batched, reference, ... after an untimed warm-up of each, so that drift of the machine hits
both alike. The table gives per variant the median completions/s with the interquartile range
and min-max, and the ratio of the medians batched / reference (goal >= 10x) with the min-max
of the per-repeat ratios. Both variants must give the same four rewards: their
max abs difference is printed and must be < 1e-4 (else exit code 1). Results are written as
JSON, every timed block included (default artifacts/benchmarks/reward_throughput.json).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
import typer
from rich.console import Console
from rich.table import Table

from motion_r1_core.config import MotionEncoderConfig, VQVAEModelConfig
from motion_r1_core.encoders.model import MotionEncoder, TextMotionModel, TextProjection
from motion_r1_core.policy.grammar import answer
from motion_r1_core.policy.rewards import REWARDS, BatchScores, MotionScorer
from motion_r1_core.runtime import resolve_device
from motion_r1_core.skeleton import HUMANML3D
from motion_r1_core.vqvae.model import MotionVQVAE
from motion_r1_core.vqvae.tokenizer import MotionTokenizer

VARIANTS = ("reference", "batched")  # the timing order within each repeat
VQVAE = Path("artifacts/procedural/vqvae/vqvae.safetensors")
REWARD = Path("artifacts/procedural/encoders/reward.safetensors")
BACKBONES = Path("artifacts/backbones")
CAPTIONS = (
    "a person walks forward",
    "a person jumps twice in place",
    "someone waves the right hand",
    "a person walks in a circle counterclockwise",
    "a man kicks with the left leg, then steps back",
    "a person squats down and stands back up",
    "someone turns around and walks away",
    "a person raises both arms above the head",
)
BREAKS: tuple[Callable[[str], str], ...] = (
    lambda t: t.replace("</Motion>", ""),
    lambda t: t.replace("<Motion>", "<Motion>hello"),
    lambda t: t.replace("<think>", ""),
)
console = Console(width=None if sys.stdout.isatty() else 160)  # logs: no squeezed table


@dataclass
class Timing:
    """One variant's timed blocks of `items` completions, `seconds` each."""

    variant: str
    items: int
    seconds: list[float] = field(default_factory=list)
    setup_s: float = 0.0  # the untimed warm-up block

    @property
    def rates(self) -> np.ndarray:
        """Completions per second of each timed block."""
        return self.items / np.asarray(self.seconds)

    def stats(self) -> dict[str, float]:
        """median, q1, q3, min, max of the rates."""
        q1, med, q3 = np.percentile(r := self.rates, [25, 50, 75])
        return dict(
            zip(("median", "q1", "q3", "min", "max"), map(float, (med, q1, q3, r.min(), r.max())))
        )


def build_scorer(device: torch.device, random: bool) -> tuple[MotionScorer, str]:
    """The CoT scorer on `device` and which networks it holds ("trained" or "random")."""
    eos = "<|im_end|>"
    folder = BACKBONES / "smollm2-135m-instruct-tokenizer"
    if (folder / "tokenizer_config.json").is_file():
        from motion_r1_core.policy.backbone import smollm2_tokenizer

        tok: Any = smollm2_tokenizer(BACKBONES)
    else:
        tok = SimpleNamespace(eos_token=eos, pad_token=eos)
    if not random and VQVAE.is_file() and REWARD.is_file():
        vq = MotionTokenizer.load(VQVAE, device)
        encoder, kind = TextMotionModel.load(REWARD, device), "trained"
    else:  # the shapes of tests/test_rewards.py
        torch.manual_seed(0)
        rng = np.random.default_rng(0)
        cfg = VQVAEModelConfig(
            codebook_size=32, code_dim=16, width=32, depth=3, down_t=2,
            dilation_growth_rate=3, kmeans_init=False,
        )  # fmt: skip
        mean = rng.normal(size=263).astype(np.float32) * 0.1
        std = rng.uniform(0.5, 1.5, size=263).astype(np.float32)
        vq = MotionTokenizer(MotionVQVAE(263, cfg).to(device).eval(), mean, std, HUMANML3D)
        motion = MotionEncoder(263, 16, MotionEncoderConfig(arch="conv", width=32, layers=2))
        ones = np.ones(263, np.float32)
        text = TextProjection(384, 16).to(device).eval()
        encoder, kind = TextMotionModel(motion.to(device).eval(), text, 0 * ones, ones), "random"
    return MotionScorer(tok, True, vq, encoder), kind


def make_step(
    n: int, group: int, codebook: int, eos: str, seed: int = 0
) -> tuple[list[str], list[str], list[list[int]]]:
    """(texts, captions, reference codes) of `n` completions in groups of `group`."""
    rng = np.random.default_rng(seed)

    def codes() -> list[int]:
        return rng.integers(0, codebook, int(rng.integers(10, 50))).tolist()

    refs = [codes() for _ in range(-(-n // group))]
    broken = rng.choice(n, round(n / 10), replace=False).tolist()
    steps, plan = ["walk forward", "turn left"], "walk, then turn"
    texts = [answer(codes(), steps, plan) + eos for _ in range(n)]
    for j, i in enumerate(broken):
        texts[i] = BREAKS[j % len(BREAKS)](texts[i])
    captions = [CAPTIONS[(i // group) % len(CAPTIONS)] for i in range(n)]
    return texts, captions, [refs[i // group] for i in range(n)]


def _columns(scores: list[BatchScores]) -> np.ndarray:
    """(4, N) rewards in REWARDS order of one or more consecutive batches."""
    return np.stack([np.concatenate([getattr(s, k) for s in scores]) for k in REWARDS])


def main(
    completions: int = typer.Option(64, min=1, help="Completions per step (8 captions x G 8)."),
    group: int = typer.Option(8, min=1, help="Completions per caption (GRPO's G)."),
    repeats: int = typer.Option(0, min=0, help="Timed blocks per variant (0: 5, quick 3)."),
    quick: bool = typer.Option(False, help="A short check: 3 repeats (unless given)."),
    device: str = typer.Option("cpu", help="cpu, cuda, cuda:N or auto."),
    random: bool = typer.Option(False, help="Random networks even when checkpoints exist."),
    threads: int = typer.Option(0, help="torch.set_num_threads (0: torch's default)."),
    out: Path = typer.Option(Path("artifacts/benchmarks/reward_throughput.json"), help="JSON out."),
) -> None:
    """Time one GRPO step's reward scoring, batched and one by one; print and save the ratio."""
    if threads:
        torch.set_num_threads(threads)
    repeats = repeats or (3 if quick else 5)
    dev = resolve_device(device)
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
    scorer, kind = build_scorer(dev, random)
    k = scorer.motion_tokenizer.codebook_size
    texts, caps, refs = make_step(completions, group, k, scorer.tokenizer.eos_token)
    blocks: dict[str, Callable[[], list[BatchScores]]] = {
        "reference": lambda: [
            scorer.score_texts([t], [c], [r]) for t, c, r in zip(texts, caps, refs, strict=True)
        ],
        "batched": lambda: [scorer.score_texts(texts, caps, refs)],
    }

    def timed(variant: str) -> tuple[float, np.ndarray]:
        scorer._references.clear()  # a fresh step for both variants (see the docstring)
        scorer.encoder.sentence_embedder()._cache.clear()
        sync()
        t0 = time.perf_counter()
        scores = blocks[variant]()
        sync()
        return time.perf_counter() - t0, _columns(scores)

    console.print(
        f"{kind} networks (codebook {k}) on {dev}, {torch.get_num_threads()} threads: "
        f"{repeats} x {completions} completions per variant ..."
    )
    timings = {v: Timing(v, completions) for v in VARIANTS}
    rewards: dict[str, np.ndarray] = {}
    for v in VARIANTS:
        timings[v].setup_s, rewards[v] = timed(v)
    for _ in range(repeats):
        for v in VARIANTS:
            seconds, rewards[v] = timed(v)
            timings[v].seconds.append(seconds)
    diff = float(np.abs(rewards["batched"] - rewards["reference"]).max())
    parsed = float(rewards["batched"][0].mean())

    ref, bat = timings["reference"], timings["batched"]
    rs, bs = ref.stats(), bat.stats()
    ratio, paired = bs["median"] / rs["median"], bat.rates / ref.rates
    table = Table(
        title=f"GRPO reward scoring on {dev} ({torch.get_num_threads()} threads), {kind} "
        f"networks, {repeats} interleaved repeats"
    )
    for col in ("variant", "median", "IQR", "min-max", "blocks", "ratio", "notes"):
        table.add_column(col, justify="left" if col in ("variant", "notes") else "right")
    for t, s in ((ref, rs), (bat, bs)):
        table.add_row(
            t.variant,
            f"{s['median']:.1f} completions/s",
            f"{s['q1']:.1f}-{s['q3']:.1f}",
            f"{s['min']:.1f}-{s['max']:.1f}",
            f"{len(t.seconds)} x {t.items}",
            f"{ratio:.1f}x ({paired.min():.1f}-{paired.max():.1f})"
            if t is bat
            else "1 (reference)",
            f"warm-up {t.setup_s:.2f} s",
        )
    console.print(table)
    console.print(
        f"ratio: median batched rate / median reference rate (min-max of the per-repeat ratios); "
        f"{parsed:.0%} of completions parse; max |batched - reference| over the four rewards: "
        f"{diff:.2e} ({'OK' if diff < 1e-4 else 'FAIL'}: must be < 1e-4)"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    info = dict(
        device=str(dev), device_name=name, torch=torch.__version__,
        threads=torch.get_num_threads(), networks=kind, codebook=k, completions=completions,
        group=group, broken=round(completions / 10), parsed=parsed, repeats=repeats,
    )  # fmt: skip
    summary = dict(
        ratio_of_medians=ratio, paired_ratio_min=float(paired.min()),
        paired_ratio_max=float(paired.max()), reference=rs, batched=bs, max_abs_diff=diff,
    )  # fmt: skip
    payload = {"info": info, "timings": [asdict(t) for t in (ref, bat)], "ratio": summary}
    out.write_text(json.dumps(payload, indent=2))
    console.print(f"written {out}")
    if diff >= 1e-4:
        raise typer.Exit(1)


if __name__ == "__main__":
    typer.run(main)
