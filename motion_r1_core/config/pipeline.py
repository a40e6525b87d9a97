"""The whole configuration (`Config`: every section plus profile, dataset, root) and its loader:
`params.yaml` + a profile in `configs/` + `key=value` overrides."""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field

from motion_r1_core.config.base import DATASETS, Dataset, _Section
from motion_r1_core.config.cot import CoTConfig
from motion_r1_core.config.data import DataConfig
from motion_r1_core.config.encoders import EncodersConfig, EvaluationConfig
from motion_r1_core.config.policy import PolicyConfig
from motion_r1_core.config.registry import RegistryConfig
from motion_r1_core.config.report import ReportConfig
from motion_r1_core.config.tokenizer import TokensConfig, VQVAEConfig


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
    report: ReportConfig = ReportConfig()
    cot: CoTConfig = CoTConfig()
    policy: PolicyConfig = PolicyConfig()
    registry: RegistryConfig = RegistryConfig()
    tracking: TrackingConfig = TrackingConfig()
    root: Path = Field(Path("."), description="Project root: data/, artifacts/, mlflow/ live here.")

    def raw_dir(self, dataset: str) -> Path:
        """Folder of the raw motions of `dataset` (data/raw/<dataset>)."""
        return self.root / "data" / "raw" / _check_dataset(dataset)

    def artifacts_dir(self, dataset: str, stage: str) -> Path:
        """Folder of a stage's artifacts (artifacts/<dataset>/<stage>)."""
        return self.root / "artifacts" / _check_dataset(dataset) / stage

    def tracking_uri(self) -> str:
        """MLFLOW_TRACKING_URI if set, else the default store. A relative sqlite path is made
        absolute against the project root, or against DVC_ROOT when DVC sets it: a queued
        `dvc exp run` works in a temporary copy, and its runs belong in the project's store."""
        uri = os.environ.get("MLFLOW_TRACKING_URI") or self.tracking.default_uri
        prefix = "sqlite:///"
        if uri.startswith(prefix) and not uri[len(prefix) :].startswith("/"):
            base = Path(os.environ.get("DVC_ROOT") or self.root)
            uri = prefix + str((base / uri[len(prefix) :]).resolve())
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


def _leaves(d: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for k, v in d.items():
        if isinstance(v, dict) and v:
            yield from _leaves(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


@functools.cache
def _defaults() -> dict[str, Any]:
    """Every setting's default (the Config models'), built once per process; read only."""
    return Config().model_dump(mode="json")


def _check_not_shadowed(params: dict[str, Any], overlay: dict[str, Any], where: Path) -> None:
    """Refuse an edit of params.yaml that the profile hides: a key whose params.yaml value is
    no longer the default while the profile sets it to something else (`dvc exp run -S k=v`
    edits params.yaml, so on a profile that sets `k` the experiment would silently not run)."""
    defaults = _defaults()
    for key, value in _leaves(overlay):
        node: Any = params
        default: Any = defaults
        for part in key.split("."):
            node = node.get(part, _MISSING) if isinstance(node, dict) else _MISSING
            default = default.get(part, _MISSING) if isinstance(default, dict) else _MISSING
        if node is _MISSING or node in (default, value):
            continue
        raise ValueError(
            f"params.yaml sets {key}={node!r} (default {default!r}), but the profile "
            f"{where.stem} sets it to {value!r} in {where}, which wins: set it there instead "
            f"(dvc exp run -S configs/{where.name}:{key}=...) or restore the default"
        )


_MISSING = object()


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
    overlay = _read_yaml(profile_file)
    _check_not_shadowed(params, overlay, profile_file)
    merged = _merge(_merge(params, overlay, str(profile_file)), over, "overrides")
    merged["profile"] = name
    merged["root"] = root
    try:
        return Config.model_validate(merged)
    except Exception as e:  # pydantic's message names the field; add the files it came from
        raise ValueError(f"invalid configuration (params.yaml + {profile_file.name}): {e}") from e
