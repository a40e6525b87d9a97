"""The champion policy as an MLflow model: pick it from the evaluation report, package it as a
pyfunc, register it under an alias, and load it back.

    summary.json --select_champion--> (name, entry) --log_champion--> models:/motion-r1@champion
    model = load_champion("models:/motion-r1@champion")
    model.predict(pd.DataFrame({"caption": ["a person jumps twice"], "seconds": [3.0]}))

The pyfunc (`pyfunc_model.MotionPolicyModel`, its input and output there) bundles three
artifacts: the policy folder the report evaluated (a merged Hugging Face model + policy.json),
the VQ-VAE checkpoint it was trained with, and the generation settings (`policy.generation` as
JSON). It is logged as code (`serving_model.py`, no pickle); `code_paths` carries this package
and the requirements name the installed versions, so `mlflow models serve --env-manager local`
needs no network.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from importlib import metadata as dist_metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import mlflow.pyfunc
import pandas as pd

from motion_r1_core.config import Config, RegistryConfig
from motion_r1_core.expectations import CheckOutcome
from motion_r1_core.pyfunc_model import finite_or_none, model_signature
from motion_r1_core.tracking import Tracker, fluent_store, mlflow_run, store_uri

# Distributions the pyfunc imports when it loads and predicts; pinned to the installed versions.
REQUIREMENTS = (
    "mlflow",
    "torch",
    "transformers",
    "tokenizers",
    "safetensors",
    "numpy",
    "pandas",
    "pydantic",
    "pyyaml",
    "einops",
    "vector-quantize-pytorch",
)
PACKAGE_DIR = Path(__file__).resolve().parent  # bundled with the model through code_paths


class BelowFloors(ValueError):
    """The champion misses a floor of the `registry` section; nothing was registered."""


# ------------------------------------------------------------------------------------ helpers
def redact_uri(uri: str) -> str:
    """`uri` without a user name or password (http://user:pass@host -> http://host)."""
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def requirements() -> list[str]:
    """`name==version` of each installed distribution of REQUIREMENTS (absent ones skipped)."""
    out = []
    for name in REQUIREMENTS:
        try:
            out.append(f"{name}=={dist_metadata.version(name)}")
        except dist_metadata.PackageNotFoundError:
            continue
    return out


# ------------------------------------------------------------------------------ the champion
def read_summary(path: Path) -> dict[str, Any]:
    """The eval_report summary.json at `path`; raises naming the file when it is missing or has
    no `policies` mapping."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; run `motion-r1 stage eval_report` first")
    summary = json.loads(path.read_text())
    if not isinstance(summary.get("policies"), Mapping) or not summary["policies"]:
        raise ValueError(f"{path}: no `policies` in the report summary")
    return summary


def select_champion(
    summary: Mapping[str, Any], metric: str, mode: str, source: str = "summary.json"
) -> tuple[str, dict[str, Any]]:
    """(name, entry) of the policy of `summary["policies"]` with the best `metric` (`mode` max:
    highest, min: lowest); ties go to the first listed. Raises ValueError naming `source` and
    the metric when there are no policies, or when any policy lacks a finite value of it."""
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be max or min, got {mode!r}")
    policies = summary.get("policies") or {}
    if not policies:
        raise ValueError(f"{source}: no policies to choose a champion from")
    values = {n: finite_or_none((e.get("metrics") or {}).get(metric)) for n, e in policies.items()}
    lacking = [n for n, v in values.items() if v is None]
    if lacking:
        raise ValueError(
            f"{source}: metric {metric!r} missing (or not a finite number) for {lacking}; "
            f"set registry.metric to one every policy has"
        )
    sign = 1.0 if mode == "max" else -1.0
    best = max(values, key=lambda n: sign * values[n])  # max keeps the first of equals
    return best, dict(policies[best])


def floor_outcome(name: str, metrics: Mapping[str, Any], reg: RegistryConfig) -> CheckOutcome:
    """Passed when `metrics` (a champion's) reach the floors of `reg`: format_validity >=
    min_format_validity and top3 >= min_top3. A missing metric fails; the metadata names the
    champion, each value, its floor and the failures."""
    floors = {"format_validity": reg.min_format_validity, "top3": reg.min_top3}
    found = {k: finite_or_none(metrics.get(k)) for k in floors}
    failed = [k for k, v in found.items() if v is None or v < floors[k]]
    return CheckOutcome(
        not failed,
        {
            "champion": name,
            **{k: v for k, v in found.items() if v is not None},
            **{f"min_{k}": v for k, v in floors.items()},
            "failed": ", ".join(failed),
        },
    )


def floor_check(summary_path: Path, reg: RegistryConfig) -> CheckOutcome:
    """The floors of `reg` on the champion of the report at `summary_path`; an unreadable
    report, or one without the selection metric, fails with `error`."""
    try:
        name, entry = select_champion(
            read_summary(summary_path), reg.metric, reg.mode, str(summary_path)
        )
    except (FileNotFoundError, ValueError) as e:
        return CheckOutcome(False, {"error": str(e)})
    return floor_outcome(name, entry.get("metrics") or {}, reg)


# ------------------------------------------------------------------------------ registration
@dataclass(frozen=True)
class Registration:
    """A registered champion: where it is in the registry and what it scored."""

    dataset: str
    model_name: str
    version: str
    alias: str
    champion: str
    policy: Path
    metric: str
    value: float
    metrics: dict[str, float]
    floors_passed: bool
    evaluator: str
    chain_source: str
    model_id: str
    tracking_uri: str  # credentials removed

    @property
    def uri(self) -> str:
        """`models:/<name>@<alias>`."""
        return f"models:/{self.model_name}@{self.alias}"

    def as_metadata(self) -> dict[str, Any]:
        """Plain values for Dagster metadata or a JSON summary."""
        return {
            **{f"champion/{k}": v for k, v in self.metrics.items()},
            "dataset": self.dataset,
            "model_uri": self.uri,
            "model_name": self.model_name,
            "version": self.version,
            "alias": self.alias,
            "champion": self.champion,
            "policy": str(self.policy),
            "metric": self.metric,
            "value": self.value,
            "floors_passed": self.floors_passed,
            "evaluator": self.evaluator,
            "chain_source": self.chain_source,
            "model_id": self.model_id,
            "tracking_uri": self.tracking_uri,
        }


def tokenizer_of(policy_dir: Path, root: Path) -> Path:
    """The VQ-VAE checkpoint a policy folder was trained with (policy.json
    `motion_tokenizer.path`, relative paths against `root`); raises ValueError when it is
    missing or its sha256 differs from the one recorded at training."""
    from motion_r1_core.policy.policy import META, file_sha256

    meta_path = Path(policy_dir) / META
    if not meta_path.is_file():
        raise FileNotFoundError(f"{policy_dir}: not a policy folder (no {META})")
    record = json.loads(meta_path.read_text()).get("motion_tokenizer") or {}
    if not record.get("path"):
        raise ValueError(f"{meta_path}: names no motion tokenizer (motion_tokenizer.path)")
    path = Path(record["path"])
    path = path if path.is_absolute() else Path(root) / path
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the motion tokenizer of {policy_dir} is missing")
    if record.get("sha256") and file_sha256(path) != record["sha256"]:
        raise ValueError(f"{path}: differs from the tokenizer {policy_dir} was trained with")
    return path


def log_champion(cfg: Config, dataset: str, summary_path: Path, tracker: Tracker) -> Registration:
    """Pick the champion of the report at `summary_path` (`registry.metric`/`mode`), check its
    floors, log it as a pyfunc, register it as a new version of `registry.model_name` and move
    `registry.alias` to that version.

    The model goes to the tracker's MLflow store and run; with a tracker that has no run (a
    NullTracker), to a new run `registered_model/<dataset>` of `cfg.tracking_uri()`.
    The version is tagged with the champion's name, dataset, evaluator, chain source, the
    floors' verdict and every metric. Raises BelowFloors (nothing registered) when a floor is
    missed and `registry.enforce_floors` is set."""
    from mlflow.tracking import MlflowClient

    reg = cfg.registry
    summary = read_summary(summary_path)
    name, entry = select_champion(summary, reg.metric, reg.mode, str(summary_path))
    metrics = {
        k: v
        for k, m in (entry.get("metrics") or {}).items()
        if (v := finite_or_none(m)) is not None
    }
    floors = floor_outcome(name, metrics, reg)
    if not floors.passed and reg.enforce_floors:
        raise BelowFloors(
            f"{summary_path}: champion {name!r} misses the floor(s) {floors.metadata['failed']} "
            f"({floors.metadata}); set registry.enforce_floors=false to register it anyway"
        )
    policy_dir = Path(entry.get("path") or "")
    if not entry.get("path") or not policy_dir.is_dir():
        raise FileNotFoundError(f"{summary_path}: policy {name!r} has no folder at {policy_dir}")
    tokenizer = tokenizer_of(policy_dir, cfg.root)
    uri = store_uri(tracker) or cfg.tracking_uri()
    labels = {
        "champion": name,
        "dataset": dataset,
        "evaluator": str(summary.get("evaluator", "")),
        "chain_source": str(summary.get("chain_source", "")),
        "selection": f"{reg.mode} {reg.metric}",
        "floors_passed": str(floors.passed).lower(),
        "source_policy": str(policy_dir),
        "profile": cfg.profile,
    }
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        settings = cfg.policy.generation  # sampling settings the served model uses
        generation = Path(tmp) / "generation.json"
        generation.write_text(settings.model_dump_json(indent=2) + "\n")
        run_id = tracker.run_id
        if run_id is None:  # a run of our own: it puts the model beside the store, not in ./mlruns
            run = mlflow_run(uri, cfg.tracking.experiment, f"registered_model/{dataset}")
            run_id = stack.enter_context(run).run_id
        with fluent_store(uri, run_id):
            info = mlflow.pyfunc.log_model(
                name=reg.model_name,
                python_model=str(PACKAGE_DIR / "serving_model.py"),  # no pickle
                artifacts={
                    "policy": str(policy_dir),
                    "tokenizer": str(tokenizer),
                    "generation": str(generation),
                },
                code_paths=[str(PACKAGE_DIR)],
                pip_requirements=requirements(),
                signature=model_signature(),
                input_example=pd.DataFrame({"caption": ["a person walks forward"]}),
                registered_model_name=reg.model_name,
                metadata={**labels, "metric": reg.metric, "metrics": metrics},
                model_config={"device": "auto"},
            )
    version = str(info.registered_model_version)
    registry = MlflowClient(tracking_uri=uri)
    registry.set_registered_model_alias(reg.model_name, reg.alias, version)
    tags = {**labels, **{f"metric.{k}": f"{v:.6g}" for k, v in metrics.items()}}
    for key, value in tags.items():
        registry.set_model_version_tag(reg.model_name, version, key, value)
    registry.update_model_version(
        reg.model_name,
        version,
        description=f"{name} on {dataset}: best {reg.metric} ({reg.mode}) of the report "
        f"({summary.get('evaluator', '?')} evaluator), {reg.metric} = "
        f"{metrics[reg.metric]:.4f}; floors {'passed' if floors.passed else 'FAILED'}.",
    )
    tracker.log_metrics({f"champion/{k}": v for k, v in metrics.items()})
    tracker.set_tags({"champion": name, "registered_model": f"{reg.model_name}/{version}"})
    return Registration(
        dataset=dataset,
        model_name=reg.model_name,
        version=version,
        alias=reg.alias,
        champion=name,
        policy=policy_dir,
        metric=reg.metric,
        value=metrics[reg.metric],
        metrics=metrics,
        floors_passed=floors.passed,
        evaluator=labels["evaluator"],
        chain_source=labels["chain_source"],
        model_id=str(info.model_id),
        tracking_uri=redact_uri(uri),
    )


def load_champion(model_uri: str, tracking_uri: str | None = None, device: str = "auto") -> Any:
    """`mlflow.pyfunc.load_model(model_uri)` against `tracking_uri` (None: MLflow's own,
    i.e. MLFLOW_TRACKING_URI), on `device` (auto: CUDA when available)."""
    if tracking_uri is None:
        return mlflow.pyfunc.load_model(model_uri, model_config={"device": device})
    with fluent_store(tracking_uri):
        return mlflow.pyfunc.load_model(model_uri, model_config={"device": device})
