"""params.yaml is the one place a value is written: the models' defaults equal it key for key,
and a profile lists only the keys it changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from motion_r1_core.config import Config
from motion_r1_core.tracking import flatten

REPO = Path(__file__).resolve().parents[1]
PROFILES = sorted((REPO / "configs").glob("*.yaml"))


def _params() -> dict[str, Any]:
    return flatten(yaml.safe_load((REPO / "params.yaml").read_text()))


def default_mismatches(params: dict[str, Any]) -> list[str]:
    """Keys where the pydantic default differs from params.yaml, or that only one side has."""
    defaults = flatten(Config().model_dump(mode="json", exclude={"root"}))
    out = [f"{k}: only in the models (default {defaults[k]!r})" for k in defaults.keys() - params]
    out += [f"{k}: only in params.yaml" for k in params.keys() - defaults]
    out += [
        f"{k}: default {defaults[k]!r} != params.yaml {params[k]!r}"
        for k in defaults.keys() & params.keys()
        if defaults[k] != params[k]
    ]
    return sorted(out)


def redundant_keys(profile: dict[str, Any], params: dict[str, Any]) -> list[str]:
    """Keys a profile sets to the value params.yaml already has."""
    return sorted(k for k, v in profile.items() if k in params and params[k] == v)


def test_every_model_default_is_the_value_of_params_yaml() -> None:
    assert default_mismatches(_params()) == []


def test_the_check_names_a_changed_default_and_a_missing_key() -> None:
    params = _params()
    params["vqvae.model.codebook_size"] = 512
    del params["cot.seed"]
    assert default_mismatches(params) == [
        "cot.seed: only in the models (default 0)",
        "vqvae.model.codebook_size: default 256 != params.yaml 512",
    ]


@pytest.mark.parametrize("path", PROFILES, ids=[p.stem for p in PROFILES])
def test_a_profile_sets_only_keys_it_changes(path: Path) -> None:
    profile = flatten(yaml.safe_load(path.read_text()) or {})
    params = _params()
    assert [k for k in profile if k not in params] == [], "keys params.yaml does not have"
    assert redundant_keys(profile, params) == []


def test_the_minimality_check_names_a_restated_value() -> None:
    params = _params()
    profile = {"vqvae.gifs": params["vqvae.gifs"], "vqvae.train.iterations": -1}
    assert redundant_keys(profile, params) == ["vqvae.gifs"]
