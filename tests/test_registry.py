"""The champion as an MLflow model: selection and floors on hand-written reports, then (slow,
on the smoke SFT policies) registration into a sqlite store, loading `models:/...@champion`,
prediction, the `generate --model` command and `mlflow models serve`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import new_project

from motion_r1_core.config import RegistryConfig
from motion_r1_core.cot.server import free_port
from motion_r1_core.pyfunc_model import parse_requests
from motion_r1_core.registry import (
    BelowFloors,
    floor_check,
    floor_outcome,
    load_champion,
    log_champion,
    redact_uri,
    select_champion,
)

NAME, ALIAS = "motion-r1", "champion"
URI = f"models:/{NAME}@{ALIAS}"
# What eval_report writes (its contract); the numbers are the cpu profile's order of magnitude.
METRICS = {
    "SFT cot": {"top1": 0.5, "top2": 0.66, "top3": 0.75, "fid": 0.014, "format_validity": 0.95},
    "SFT no_cot": {"top1": 0.43, "top2": 0.6, "top3": 0.68, "fid": 0.013, "format_validity": 0.96},
}


def _summary(paths: dict[str, Path] | None = None, **metrics: dict[str, Any]) -> dict[str, Any]:
    table = metrics or METRICS
    paths = paths or {}
    return {
        "dataset": "procedural",
        "evaluator": "trained",
        "chain_source": "ground_truth",
        "policies": {n: {"path": str(paths.get(n, "")), "metrics": m} for n, m in table.items()},
    }


def _frames(seconds: float, fps: float, per_token: int = 4) -> int:
    return round(seconds * fps / per_token) * per_token


# ----------------------------------------------------------------------------- selection (fast)
def test_the_champion_is_the_best_by_metric_and_mode() -> None:
    assert select_champion(_summary(), "top3", "max")[0] == "SFT cot"
    assert select_champion(_summary(), "fid", "min")[0] == "SFT no_cot"
    name, entry = select_champion(_summary(), "format_validity", "max")
    assert name == "SFT no_cot" and entry["metrics"]["top3"] == 0.68
    tie = _summary(a={"top3": 0.7}, b={"top3": 0.7})
    assert select_champion(tie, "top3", "max")[0] == "a"  # ties: the first listed


def test_selection_errors_name_the_file_and_the_metric() -> None:
    with pytest.raises(ValueError, match=r"report/summary.json: metric 'mm_dist' missing.*SFT"):
        select_champion(_summary(), "mm_dist", "min", source="report/summary.json")
    nan = _summary(a={"top3": float("nan")}, b={"top3": 0.5})
    with pytest.raises(ValueError, match=r"'top3' missing \(or not a finite number\) for \['a'\]"):
        select_champion(nan, "top3", "max")
    with pytest.raises(ValueError, match="no policies"):
        select_champion({"policies": {}}, "top3", "max")
    with pytest.raises(ValueError, match="mode must be max or min"):
        select_champion(_summary(), "top3", "best")


def test_floors_pass_fail_and_missing(tmp_path: Path) -> None:
    reg = RegistryConfig()
    ok = floor_outcome("SFT cot", METRICS["SFT cot"], reg)
    assert ok.passed and ok.metadata["top3"] == 0.75 and ok.metadata["min_top3"] == 0.5
    low = floor_outcome("x", {"top3": 0.4, "format_validity": 0.95}, reg)
    assert not low.passed and low.metadata["failed"] == "top3"
    assert floor_outcome("x", {"top3": 0.9}, reg).metadata["failed"] == "format_validity"
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(_summary()))
    assert floor_check(path, reg).passed
    assert not floor_check(path, RegistryConfig(min_top3=0.8)).passed
    missing = floor_check(tmp_path / "none.json", reg)
    assert not missing.passed and "none.json: missing" in missing.metadata["error"]


def test_registry_section_refuses_a_reserved_alias() -> None:
    for alias in ("latest", "v3", "best model"):
        with pytest.raises(ValueError, match=r"registry\.alias"):
            RegistryConfig(alias=alias)
    assert RegistryConfig(alias="prod-2", mode="min").mode == "min"


def test_requests_are_parsed_or_refused_by_row() -> None:
    frame = pd.DataFrame(
        [{"caption": "walk", "seconds": 2.0, "seed": 3, "long": True}, {"caption": "jump"}]
    )  # the missing cells arrive as NaN, the seeds as floats
    assert parse_requests(frame) == (["walk", "jump"], [2.0, None], [3, 0], [True, False])
    assert parse_requests([{"caption": "sit"}]) == (["sit"], [None], [0], [False])
    with pytest.raises(ValueError, match=r"needs a `caption` column.*\['text'\]"):
        parse_requests(pd.DataFrame({"text": ["walk"]}))
    with pytest.raises(ValueError, match="row 1: caption must be a non-empty string"):
        parse_requests(pd.DataFrame({"caption": ["walk", " "]}))
    with pytest.raises(ValueError, match="row 0: seconds must be a positive number"):
        parse_requests(pd.DataFrame({"caption": ["walk"], "seconds": [0.0]}))
    with pytest.raises(ValueError, match="row 0: seed must be an integer"):
        parse_requests(pd.DataFrame({"caption": ["walk"], "seed": [1.5]}))
    with pytest.raises(ValueError, match="row 0: long must be true, false or empty"):
        parse_requests(pd.DataFrame({"caption": ["walk"], "long": ["yes"]}))


def test_credentials_never_leave_a_tracking_uri() -> None:
    assert (
        redact_uri("https://user:secret@mlflow.example:5000/x") == "https://mlflow.example:5000/x"
    )
    assert redact_uri("sqlite:////tmp/a.db") == "sqlite:////tmp/a.db"


# ----------------------------------------------------------------- registration (slow, smoke)
@pytest.fixture(scope="module")
def registered(smoke_sft: tuple, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The stage run once on a report of the two smoke SFT policies, into a fresh sqlite store
    of a throw-away project root."""
    from motion_r1_core.config import load_config
    from motion_r1_core.stages.registered_model import run_registered_model, summary_path
    from motion_r1_core.tracking import stage_run

    _, _, sft, _, _ = smoke_sft
    root = new_project(tmp_path_factory.mktemp("registry") / "project")
    cfg = load_config("smoke", root=root)
    paths = {"SFT cot": sft.policies["cot"], "SFT no_cot": sft.policies["no_cot"]}
    source = summary_path(cfg, "procedural")
    source.parent.mkdir(parents=True)
    source.write_text(json.dumps(_summary(paths)))
    uri = f"sqlite:///{root / 'mlflow' / 'mlruns.db'}"
    t0 = time.perf_counter()
    with stage_run(cfg, "registered_model", "procedural", tracking_uri=uri) as tracker:
        result = run_registered_model(cfg, "procedural", tracker, progress=False)
    return {
        "cfg": cfg,
        "root": root,
        "uri": uri,
        "result": result,
        "run_id": tracker.run_id,
        "summary": source,
        "paths": paths,
        "seconds": time.perf_counter() - t0,
    }


@pytest.mark.slow
def test_the_stage_registers_the_champion_under_its_alias(registered: dict[str, Any]) -> None:
    from mlflow.tracking import MlflowClient

    result, uri = registered["result"], registered["uri"]
    assert result.champion == "SFT cot" and result.value == 0.75 and result.floors_passed
    assert result.uri == URI and result.policy == registered["paths"]["SFT cot"]
    client = MlflowClient(tracking_uri=uri)
    version = client.get_model_version_by_alias(NAME, ALIAS)
    assert str(version.version) == result.version and version.run_id == registered["run_id"]
    assert version.tags["champion"] == "SFT cot" and version.tags["dataset"] == "procedural"
    assert version.tags["evaluator"] == "trained" and version.tags["floors_passed"] == "true"
    assert version.tags["metric.top3"] == "0.75" and version.tags["metric.fid"] == "0.014"
    run = client.get_run(registered["run_id"])
    assert run.data.tags["champion"] == "SFT cot" and run.data.metrics["champion/top3"] == 0.75
    record = json.loads(
        (registered["root"] / "artifacts/procedural/registry/registered.json").read_text()
    )
    assert record["model_uri"] == URI and record["version"] == result.version
    print(f"registration took {registered['seconds']:.1f} s")


@pytest.mark.slow
def test_the_registered_model_loads_and_answers_in_order(registered: dict[str, Any]) -> None:
    model = load_champion(URI, registered["uri"])
    request = pd.DataFrame(
        {
            "caption": [
                "a person walks forward",
                "a person jumps twice",
                "a person walks then sits",
            ],
            "seconds": [None, 2.0, 3.0],
            "long": [False, False, True],  # a span of 3 s per step of the chain, joined
        }
    )
    out = model.predict(request)
    assert list(out.columns) == [
        "caption", "chain", "plan", "token_ids", "n_frames", "fps", "joints"
    ]  # fmt: skip
    assert list(out.caption) == list(request.caption)
    fps = float(out.fps[0])
    for _, row in out.iterrows():
        joints = np.asarray(row.joints)
        assert joints.shape == (row.n_frames, 22, 3) and np.isfinite(joints).all()
        assert row.chain  # the CoT policy thinks
    for i in (0, 1):
        assert len(out.token_ids[i]) * 4 == out.n_frames[i]
    assert out.n_frames[1] == _frames(2.0, fps)
    spans = len(out.chain[2].split("\n"))  # 60 frames a step, 11 shared at each join
    assert len(out.token_ids[2]) == 15 * spans and out.n_frames[2] == 60 * spans - 11 * (spans - 1)
    with pytest.raises(Exception, match="caption"):
        model.predict(pd.DataFrame({"text": ["a person walks"]}))


@pytest.mark.slow
def test_below_the_floors_nothing_is_registered_unless_told(
    registered: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking import MlflowClient

    from motion_r1_core.tracking import NullTracker

    cfg, uri = registered["cfg"], registered["uri"]
    client = MlflowClient(tracking_uri=uri)
    before = len(client.search_model_versions(f"name='{NAME}'"))
    strict = cfg.model_copy(update={"registry": RegistryConfig(min_top3=0.9)})
    with pytest.raises(BelowFloors, match="'SFT cot' misses the floor\\(s\\) top3"):
        log_champion(strict, "procedural", registered["summary"], NullTracker())
    assert len(client.search_model_versions(f"name='{NAME}'")) == before
    # another alias, so that the champion the other tests use stays where it is
    lax = RegistryConfig(min_top3=0.9, enforce_floors=False, metric="fid", mode="min", alias="lax")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # a NullTracker: the configuration's store
    forced = log_champion(
        cfg.model_copy(update={"registry": lax}), "procedural", registered["summary"], NullTracker()
    )
    assert forced.champion == "SFT no_cot" and not forced.floors_passed
    assert int(forced.version) == before + 1 and forced.uri == f"models:/{NAME}@lax"
    moved = client.get_model_version_by_alias(NAME, "lax")
    assert str(moved.version) == forced.version and moved.tags["floors_passed"] == "false"
    assert (
        str(client.get_model_version_by_alias(NAME, ALIAS).version) == registered["result"].version
    )


@pytest.mark.slow
def test_generate_with_a_registered_model_writes_the_gif_and_joints(
    registered: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from motion_r1_core.cli import app

    monkeypatch.setenv("MOTION_R1_ROOT", str(registered["root"]))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered["uri"])
    out = tmp_path / "jump.gif"
    args = ["generate", "a person jumps twice", "--model", URI, "--seconds", "2", "--out", str(out)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    joints = np.load(out.with_suffix(".npy"))
    assert joints.shape == (_frames(2.0, 20.0), 22, 3) and out.stat().st_size > 0
    assert "1. " in res.output and "40 frames (2.00 s)" in res.output
    both = CliRunner().invoke(app, ["generate", "x", "--model", URI, "--policy", str(tmp_path)])
    assert isinstance(both.exception, ValueError) and "exactly one of" in str(both.exception)


def _post(url: str, body: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


@pytest.mark.slow
def test_mlflow_serves_the_champion_offline(registered: dict[str, Any], tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    # the server execs `uvicorn` from PATH: the environment's bin folder, as when activated
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "MLFLOW_TRACKING_URI": registered["uri"], "PATH": path}
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", URI]
    command += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]
    with open(log, "w") as sink:
        server = subprocess.Popen(
            command, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 240
        while True:
            assert server.poll() is None, f"the server exited:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no /ping answer:\n{log.read_text()[-3000:]}"
            try:
                with urllib.request.urlopen(f"{base}/ping", timeout=5) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(1)
        t0 = time.perf_counter()
        answer = _post(
            f"{base}/invocations", {"dataframe_records": [{"caption": "a person walks forward"}]}
        )
        print(f"one caption served in {time.perf_counter() - t0:.1f} s")
        [row] = answer["predictions"]
        joints = np.asarray(row["joints"])
        assert joints.shape == (row["n_frames"], 22, 3) and row["n_frames"] > 0
        assert row["caption"] == "a person walks forward" and row["fps"] == 20.0
        assert all(isinstance(c, int) for c in row["token_ids"])
        with pytest.raises(urllib.error.HTTPError) as bad:
            _post(f"{base}/invocations", {"dataframe_records": [{"text": "a person walks"}]})
        assert bad.value.code == 400 and "caption" in bad.value.read().decode()
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and its workers: our own group
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
