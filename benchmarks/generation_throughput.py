"""Constrained generation throughput: tokens/s and motions/s of the policy's sampler, against
plain `transformers` `generate` of the same model.

    python benchmarks/generation_throughput.py                     # cpu size (+ paper size on CUDA)
    python benchmarks/generation_throughput.py --quick             # ~25 s on 2 free cores
    python benchmarks/generation_throughput.py --sizes paper --device cuda --captions 128
    python benchmarks/generation_throughput.py --sizes cpu --repeats 7 --threads 1 --out /tmp/g.json

Sizes (random weights, SmolLM2's tokenizer with the motion vocabulary added before the model
is built, so that the embedding matches the tokenizer):

* **cpu**: the cpu profile's backbone, `BackboneConfig()`: a Llama of 4 layers x 256 wide,
  4 heads, MLP 1024, tied embeddings; codebook 256; float32.
* **paper**: the Qwen2.5-3B shape: a Qwen2 of 36 layers x 2048 wide, 16 heads, 2 key/value
  heads, MLP 11008, tied embeddings, 32768 positions; codebook 512; bf16, built on the device.
  Only practical on a GPU (`--sizes paper --device cuda`).

Sampling settings (temperature, top-k, top-p, <think> and <output> budgets) are the
`policy.generation` section of configs/<size>.yaml over params.yaml; `--batch`, `--think`,
`--plan` override it. For each size and each variant of the policy (cot: <think>, <output>,
<Motion>; no_cot: <Motion> only), two ways of answering the same `--captions` captions, each
with the same duration (`--seconds`) in its prompt, are timed in this run:

* **pipeline**: `motion_r1_core.policy.generate.sample(..., constrained=True, pin_length=True)`
  as the pipeline runs it: chat template, prompts sorted by length and left-padded into
  batches of `--batch`, `model.generate` (KV cache, sampling) with the `GrammarProcessor` in
  `logits_processor`, then decoding and parsing of every answer.
* **reference**: the same prompts through plain `model.generate`: the same chat template,
  tokenised with the same left padding into the same batches, the same KV cache and the same
  token draw (`TokenSampler`: temperature, top-k, top-p, as `sample` draws), no grammar, and
  `min_new_tokens = max_new_tokens = N` (the ids are moved to the host; no decoding). The
  reference's time is templating + tokenising + generate. (`generate(do_sample=True)` itself
  draws with `torch.multinomial` over the whole vocabulary, measured at about half of a CPU
  decoding step of the cpu size; `sample` avoids that, so comparing against it would hide the
  grammar's cost behind that saving.)

With random weights the grammar fills <think> up to its budget T and <output> up to its budget
P (a random model almost never closes them early), and the pinned duration fixes the motion at
L = round(seconds * 20 / 4) tokens, so every constrained answer has exactly
N = T + P + L + 7 tokens (cot: <think> T </think> <output> P </output> <Motion> L </Motion> eos)
or N = L + 3 (no_cot). Both runs therefore generate the same number of tokens per batch, and the
ratio of their speeds is the cost of the grammar and of `sample`'s Python around `generate`.
N is checked against the answers (`exact length` in the notes: the share of answers of exactly
N tokens; every answer must also parse).

Each run is timed `--repeats` times (default 5), interleaved: reference, pipeline, reference,
pipeline, ... after an untimed warm-up of each (one batch on CUDA; 4 captions on the CPU, where
nothing is cached per shape), so that drift of the machine hits both alike. Each timed block
answers all `--captions` captions (default 64 on CUDA; 32 on the CPU, one batch, which keeps the
default cpu run near 4 minutes on 2 cores shared with other work: a cot block is 32 x 247 tokens
there). The table gives, per size, variant and run, the median tokens/s with the interquartile
range and min-max over the repeats, the median motions/s, and the ratio of the medians
pipeline / reference (1.0: the grammar costs nothing; the goal is >= 0.9, a cost under 10%),
with the min-max of the per-repeat ratios (reference and pipeline block of the same repeat).
Results are printed and written as JSON, every timed block included (default
artifacts/benchmarks/generation_throughput.json).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import typer
from rich.console import Console
from rich.table import Table

from motion_r1_core.config import BackboneConfig, GenerationSection, load_config
from motion_r1_core.policy.backbone import config_model, smollm2_tokenizer
from motion_r1_core.policy.generate import TokenSampler, sample
from motion_r1_core.policy.grammar import max_codes, prompt_messages, seconds_to_codes
from motion_r1_core.policy.policy import Policy
from motion_r1_core.policy.vocabulary import add_motion_vocab
from motion_r1_core.runtime import resolve_device

FPS, FRAMES_PER_TOKEN = 20.0, 4
RUNS = ("reference", "pipeline")  # the timing order within each repeat
SIZES: dict[str, tuple[BackboneConfig, int, torch.dtype]] = {  # backbone, codebook, dtype
    "cpu": (BackboneConfig(), 256, torch.float32),
    "paper": (
        BackboneConfig(
            arch="qwen2",
            layers=36,
            hidden=2048,
            heads=16,
            kv_heads=2,
            intermediate=11008,
            max_positions=32768,
        ),
        512,
        torch.bfloat16,
    ),
}
CAPTIONS = (
    "a person walks forward",
    "a person jumps twice in place",
    "someone waves the right hand",
    "a person walks in a circle counterclockwise",
    "a man kicks with the left leg, then steps back",
    "a person squats down and stands back up",
    "someone turns around and walks away",
    "a person raises both arms above the head",
    "a person hops on the left foot three times",
    "a woman jogs forward and stops",
    "a person picks something up from the floor with both hands",
    "someone sits down on a chair",
    "a person throws a ball with the right hand",
    "a person side-steps to the right, then to the left",
    "a man bows slowly",
    "a person climbs up a few stairs",
    "someone stretches the arms out to the sides",
    "a person crouches and crawls forward",
    "a person dances, swinging the hips",
    "someone punches forward with the left fist twice",
)
BACKBONE_CACHE = Path("artifacts/backbones")
console = Console(width=None if sys.stdout.isatty() else 160)  # logs: no squeezed table


@dataclass
class Timing:
    """One run's timed blocks: `captions` answers and `tokens[i]` new tokens in `seconds[i]`."""

    size: str
    variant: str  # "cot" or "no_cot"
    run: str  # "reference" or "pipeline"
    captions: int
    answer_tokens: int  # N, the expected new tokens of every answer
    seconds: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    peak_extra_mib: float | None = None  # CUDA: peak allocation above the block's start
    setup_s: float = 0.0  # warm-up on one batch before timing
    exact_length: float | None = None  # share of answers of exactly N tokens
    parsed_ok: float | None = None  # pipeline: share of answers that parse

    @property
    def token_rates(self) -> np.ndarray:
        """New tokens per second of each timed block."""
        return np.asarray(self.tokens) / np.asarray(self.seconds)

    @property
    def motion_rates(self) -> np.ndarray:
        """Answers (motions) per second of each timed block."""
        return self.captions / np.asarray(self.seconds)

    def stats(self, rates: np.ndarray) -> dict[str, float]:
        """median, q1, q3, min, max of `rates`."""
        q1, med, q3 = np.percentile(rates, [25, 50, 75])
        return {
            "median": float(med),
            "q1": float(q1),
            "q3": float(q3),
            "min": float(rates.min()),
            "max": float(rates.max()),
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


def answer_tokens(cot: bool, g: GenerationSection, codes: int) -> int:
    """N: new tokens of a constrained answer whose texts fill their budgets, eos included."""
    if cot:  # <think> T </think> <output> P </output> <Motion> L </Motion> eos
        return 1 + g.max_think_tokens + 1 + 1 + g.max_plan_tokens + 1 + 1 + codes + 1 + 1
    return 1 + codes + 1 + 1  # <Motion> L </Motion> eos


def build_model(size: str, device: torch.device) -> tuple[Any, Any, Any]:
    """(model, tokenizer, vocab) of `size`: random weights, motion vocabulary, eval mode."""
    cfg, codebook, dtype = SIZES[size]
    tok = smollm2_tokenizer(BACKBONE_CACHE)
    vocab = add_motion_vocab(tok, codebook)  # before the model: its vocabulary matches
    tok.padding_side = "left"
    default = torch.get_default_dtype()
    torch.manual_seed(cfg.seed)  # the CUDA generator too when built there
    try:  # built in its dtype on the device: no 12 GB float32 copy of the paper size on the host
        torch.set_default_dtype(dtype)
        with torch.device(device):
            model = config_model(cfg, tok)
    finally:
        torch.set_default_dtype(default)
    model = model.to(device=device, dtype=dtype).eval()
    model.config.pad_token_id = tok.pad_token_id
    if model.generation_config is not None:
        model.generation_config.pad_token_id = tok.pad_token_id
        model.generation_config.eos_token_id = vocab.eos_id
    return model, tok, vocab


def sorted_captions(tok: Any, system: str, n: int, seconds: float) -> list[str]:
    """`n` captions (CAPTIONS cycled) in the order `sample` batches them (prompt length), so
    that the reference, which batches in the order given, gets the same batches."""
    caps = [CAPTIONS[i % len(CAPTIONS)] for i in range(n)]
    texts = [
        tok.apply_chat_template(
            prompt_messages(system, c, seconds), tokenize=False, add_generation_prompt=True
        )
        for c in caps
    ]
    lengths = [len(tok(t, add_special_tokens=False).input_ids) for t in texts]
    return [caps[i] for i in np.argsort(lengths, kind="stable")]


def reference_generate(
    policy: Policy,
    captions: list[str],
    g: GenerationSection,
    seconds: float,
    new_tokens: int,
    seed: int = 0,
) -> list[torch.Tensor]:
    """Plain `generate` of exactly `new_tokens` tokens per caption, batches of `g.batch_size`
    in the order given, with `sample`'s template, padding and sampling arguments."""
    tok, model = policy.tokenizer, policy.model
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    out = []
    for start in range(0, len(captions), g.batch_size):
        texts = [
            tok.apply_chat_template(
                prompt_messages(policy.meta["system_prompt"], c, seconds),
                tokenize=False,
                add_generation_prompt=True,
            )
            for c in captions[start : start + g.batch_size]
        ]
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        enc = {k: v.to(device) for k, v in enc.items()}
        with torch.no_grad():
            ids = model.generate(
                **enc,
                do_sample=False,  # the same TokenSampler as `sample` draws the tokens
                logits_processor=[TokenSampler(g.temperature, g.top_k, g.top_p, gen)],
                min_new_tokens=new_tokens,
                max_new_tokens=new_tokens,
                pad_token_id=tok.pad_token_id,
                eos_token_id=policy.vocab.eos_id,
                use_cache=True,
            )
        out.append(ids[:, enc["input_ids"].shape[1] :].cpu())
    return out


# ------------------------------------------------------------------------------------ benchmark
def bench_size(
    size: str,
    device: torch.device,
    n_captions: int,
    batch: int,
    repeats: int,
    seconds: float,
    think: int,
    plan: int,
) -> list[Timing]:
    """Both variants of one size: reference and pipeline timings, `repeats` interleaved blocks
    of `n_captions` answers each."""
    profile = load_config(size).policy
    updates: dict[str, int] = {"batch_size": batch}
    if think:
        updates["max_think_tokens"] = think
    if plan:
        updates["max_plan_tokens"] = plan
    g = profile.generation.model_copy(update=updates)
    t0 = time.perf_counter()
    model, tok, vocab = build_model(size, device)
    console.print(
        f"  built {SIZES[size][0].arch} of {sum(p.numel() for p in model.parameters()) / 1e6:.0f}"
        f"M parameters ({len(tok)} tokens) in {time.perf_counter() - t0:.1f} s; sampling "
        f"T={g.max_think_tokens} P={g.max_plan_tokens} top_k={g.top_k} top_p={g.top_p} "
        f"temperature={g.temperature}"
    )
    caps = sorted_captions(tok, profile.system_prompt, n_captions, seconds)
    codes = min(seconds_to_codes(seconds, FPS, FRAMES_PER_TOKEN), max_codes(FRAMES_PER_TOKEN))

    timings: list[Timing] = []
    for variant in ("cot", "no_cot"):
        meta = {
            "variant": variant,
            "system_prompt": profile.system_prompt,
            "fps": FPS,
            "frames_per_token": FRAMES_PER_TOKEN,
        }
        policy = Policy(model, tok, vocab, meta)
        n = answer_tokens(policy.cot, g, codes)
        timings += bench_variant(size, policy, g, caps, seconds, n, repeats, device)
    return timings


def bench_variant(
    size: str,
    policy: Policy,
    g: GenerationSection,
    caps: list[str],
    seconds: float,
    n: int,
    repeats: int,
    device: torch.device,
) -> list[Timing]:
    """Reference and pipeline timings of one policy variant: `repeats` interleaved blocks
    answering `caps`, every answer expected to hold `n` new tokens."""
    results: dict[str, list[Any]] = {run: [] for run in RUNS}
    durations = [seconds] * len(caps)

    def block(run: str, which: list[str], keep: bool = True) -> None:
        if run == "pipeline":
            answers, _ = sample(
                policy, which, g, seconds=durations[: len(which)], constrained=True, seed=0
            )
        else:
            answers = reference_generate(policy, which, g, seconds, n, seed=0)
        if keep:
            results[run].append(answers)

    variant = policy.meta["variant"]
    t = {run: Timing(size, variant, run, len(caps), n) for run in RUNS}
    warm = caps[: g.batch_size if device.type == "cuda" else min(4, g.batch_size)]
    for run in RUNS:  # warm-up (kernels, allocator, the pipeline's blank-token list)
        t[run].setup_s = round(_timed(device, lambda r=run: block(r, warm, False))[0], 2)
    for _ in range(repeats):
        for run in RUNS:
            secs, peak = _timed(device, lambda r=run: block(r, caps))
            t[run].seconds.append(secs)
            if peak is not None:
                t[run].peak_extra_mib = max(t[run].peak_extra_mib or 0.0, peak)

    flat = [a for answers in results["pipeline"] for a in answers]
    t["pipeline"].tokens = [sum(a.new_tokens for a in answers) for answers in results["pipeline"]]
    t["pipeline"].exact_length = sum(a.new_tokens == n for a in flat) / len(flat)
    t["pipeline"].parsed_ok = sum(a.parsed.ok for a in flat) / len(flat)
    widths = [x.shape[1] for batches in results["reference"] for x in batches]
    t["reference"].tokens = [n * len(caps)] * repeats
    t["reference"].exact_length = float(np.mean([w == n for w in widths]))
    for run in RUNS:
        if t[run].exact_length < 1:
            console.print(
                f"[yellow]warning[/]: {size} {variant} {run}: only "
                f"{t[run].exact_length:.1%} of the answers have N = {n} tokens"
            )
    return [t[run] for run in RUNS]


# ---------------------------------------------------------------------------------------- report
def _fmt(x: float) -> str:
    return f"{x:.3g}" if x < 100 else f"{x:.0f}"


def _rows(timings: list[Timing]) -> tuple[list[list[str]], list[dict]]:
    """Table rows and JSON summaries, two timings (reference, pipeline) per variant."""
    rows, summary = [], []
    for i in range(0, len(timings), 2):
        ref, pipe = timings[i], timings[i + 1]
        ratio = float(np.median(pipe.motion_rates) / np.median(ref.motion_rates))
        paired = pipe.motion_rates / ref.motion_rates  # blocks of the same repeat
        for t in (ref, pipe):
            s = t.stats(t.token_rates)
            notes = f"N={t.answer_tokens}, warm-up {t.setup_s:.1f} s"
            if t.exact_length is not None:
                notes += f", exact length {t.exact_length:.0%}"
            if t.parsed_ok is not None:
                notes += f", parsed {t.parsed_ok:.0%}"
            if t.peak_extra_mib is not None:
                notes += f", peak +{t.peak_extra_mib:.0f} MiB"
            rows.append(
                [
                    t.size,
                    t.variant,
                    t.run,
                    f"{_fmt(s['median'])} tok/s",
                    f"{_fmt(s['q1'])}-{_fmt(s['q3'])}",
                    f"{_fmt(s['min'])}-{_fmt(s['max'])}",
                    f"{_fmt(float(np.median(t.motion_rates)))}",
                    f"{len(t.seconds)} x {t.captions}",
                    f"{ratio:.2f} ({paired.min():.2f}-{paired.max():.2f})"
                    if t is pipe
                    else "1 (reference)",
                    notes,
                ]
            )
        summary.append(
            {
                "size": ref.size,
                "variant": ref.variant,
                "answer_tokens": ref.answer_tokens,
                "ratio_of_medians": ratio,
                "paired_ratio_min": float(paired.min()),
                "paired_ratio_max": float(paired.max()),
                "reference": {
                    "tokens_per_s": ref.stats(ref.token_rates),
                    "motions_per_s": ref.stats(ref.motion_rates),
                },
                "pipeline": {
                    "tokens_per_s": pipe.stats(pipe.token_rates),
                    "motions_per_s": pipe.stats(pipe.motion_rates),
                },
            }
        )
    return rows, summary


def main(
    sizes: str = typer.Option(
        "", help="Comma-separated sizes, cpu and/or paper (default: cpu,paper on CUDA, cpu)."
    ),
    device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N."),
    batch: int = typer.Option(0, help="Captions per generate call (0: 64 on CUDA, 32 on CPU)."),
    captions: int = typer.Option(
        0, help="Captions answered per timed block (0: 64 on CUDA, 32 on CPU, 8 with --quick)."
    ),
    repeats: int = typer.Option(0, help="Timed blocks per run, interleaved (0: 5, 2 quick)."),
    seconds: float = typer.Option(
        4.0, min=0.2, max=9.8, help="Duration in every prompt (pins the motion length)."
    ),
    think: int = typer.Option(0, help="<think> budget (0: the profile's, 16 with --quick)."),
    plan: int = typer.Option(0, help="<output> budget (0: the profile's, 8 with --quick)."),
    quick: bool = typer.Option(
        False, help="A short check: cpu size, 8 captions in batches of 4, 2 repeats, T=16, P=8."
    ),
    threads: int = typer.Option(0, help="torch.set_num_threads (0: torch's default)."),
    out: Path = typer.Option(
        Path("artifacts/benchmarks/generation_throughput.json"), help="JSON result."
    ),
) -> None:
    """Time constrained sampling against plain generate for each size; print and save ratios."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # no per-call generation-config notices in the table
    if threads:
        torch.set_num_threads(threads)
    dev = resolve_device(device)
    gpu = dev.type == "cuda"
    sizes = sizes or ("cpu" if quick or not gpu else "cpu,paper")
    repeats = repeats or (2 if quick else 5)
    n_captions = captions or (8 if quick else 64 if gpu else 32)
    n_batch = batch or (4 if quick else 64 if gpu else 32)
    think = think or (16 if quick else 0)
    plan = plan or (8 if quick else 0)
    timings: list[Timing] = []
    for size in [s.strip() for s in sizes.split(",") if s.strip()]:
        if size not in SIZES:
            raise typer.BadParameter(f"unknown size {size!r}; choose from {', '.join(SIZES)}")
        console.print(
            f"[bold]{size}[/]: {repeats} x {n_captions} captions (batches of {n_batch}) per run "
            f"and variant on {dev} ..."
        )
        timings += bench_size(size, dev, n_captions, n_batch, repeats, seconds, think, plan)

    rows, summary = _rows(timings)
    table = Table(
        title=f"constrained generation throughput on {dev} ({torch.get_num_threads()} threads), "
        f"{repeats} interleaved repeats"
    )
    cols = (
        "size",
        "variant",
        "run",
        "median",
        "IQR",
        "min-max",
        "motions/s",
        "blocks",
        "ratio",
        "notes",
    )
    for col in cols:
        table.add_column(col, justify="left" if col in ("variant", "run", "notes") else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(
        "ratio: median pipeline rate / median reference rate (min-max of the per-repeat ratios); "
        "goal >= 0.9"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    info = {
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if gpu else "cpu",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "repeats": repeats,
        "captions": n_captions,
        "batch": n_batch,
        "seconds": seconds,
        "order": list(RUNS),
    }
    payload = {"info": info, "timings": [asdict(t) for t in timings], "ratios": summary}
    out.write_text(json.dumps(payload, indent=2))
    console.print(f"written {out}")


if __name__ == "__main__":
    typer.run(main)
