"""The deployment as a user meets it: PostgreSQL, the MLflow tracking server, the Dagster code
server, webserver and daemon, started from the deployment's own files (tests/stack.py), then
used through the UI in headless Chromium and through the UI's GraphQL endpoint.

Needs a PostgreSQL server: `.ci/run` starts one (scripts/test-postgres.sh) and sets
MOTION_R1_TEST_POSTGRES; the browser tests also need Chromium (`make browser`) and Playwright.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from conftest import CHROMIUM, new_project
from stack import POSTGRES_ENV, Stack, postgres_url, start_stack
from test_pipelines_tokenizer import OVERRIDES

OUT = Path(__file__).parent / "output"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        postgres_url() is None,
        reason=f'no PostgreSQL: run `eval "$(scripts/test-postgres.sh start)"` ({POSTGRES_ENV})',
    ),
]
needs_browser = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (make browser installs it)"
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Stack:
    work = tmp_path_factory.mktemp("stack")
    root = new_project(work / "workspace")
    with start_stack(postgres_url(), work, root) as running:  # type: ignore[arg-type]
        yield running


def graphql(stack: Stack, query: str, variables: dict | None = None) -> dict:
    """POST `query` to the webserver's GraphQL endpoint; its `data` (errors fail the test)."""
    r = requests.post(
        f"{stack.webserver}/graphql",
        json={"query": query, "variables": variables or {}},
        timeout=60,
    )
    r.raise_for_status()
    body = r.json()
    assert not body.get("errors"), body["errors"]
    return body["data"]


LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchPipelineExecution(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""
STATUS = "query S($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
MATERIALIZATION = """
query M($key: AssetKeyInput!) {
  assetOrError(assetKey: $key) {
    ... on Asset {
      assetMaterializations(limit: 1) {
        runId partition
        metadataEntries {
          label
          ... on FloatMetadataEntry { floatValue }
          ... on IntMetadataEntry { intValue }
          ... on TextMetadataEntry { text }
        }
      }
    }
  }
}"""


def _metadata(entries: list[dict]) -> dict:
    return {e["label"]: next((v for k, v in e.items() if k != "label"), None) for e in entries}


def test_a_materialisation_launched_through_graphql_runs_in_pipes_and_lands_in_postgres(
    stack: Stack,
) -> None:
    """Launch raw_motions + motion_vqvae (a Pipes stage) as the UI does; the daemon dequeues
    it, the code server runs it, and its metadata is on the asset, in PostgreSQL."""
    import dagster as dg
    from dagster_postgres import PostgresRunStorage
    from mlflow.tracking import MlflowClient

    params = {
        "selector": {
            "repositoryLocationName": "motion_r1",
            "repositoryName": "__repository__",
            "pipelineName": "__ASSET_JOB",
            "assetSelection": [{"path": ["raw_motions"]}, {"path": ["motion_vqvae"]}],
        },
        "runConfigData": {
            "resources": {"pipeline_config": {"config": {"overrides": OVERRIDES}}},
            "execution": {"config": {"in_process": {}}},
        },
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": "procedural"}]},
    }
    launched = graphql(stack, LAUNCH, {"params": params})["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    deadline, status = time.monotonic() + 300, "QUEUED"
    while status not in ("SUCCESS", "FAILURE", "CANCELED") and time.monotonic() < deadline:
        time.sleep(2)
        status = graphql(stack, STATUS, {"id": run_id})["runOrError"]["status"]
    assert status == "SUCCESS", (status, (stack.logs / "code-server.log").read_text()[-3000:])

    found = graphql(stack, MATERIALIZATION, {"key": {"path": ["motion_vqvae"]}})
    [mat] = found["assetOrError"]["assetMaterializations"]
    meta = _metadata(mat["metadataEntries"])
    on_disk = json.loads((stack.root / "artifacts/procedural/vqvae/metrics.json").read_text())
    assert mat["runId"] == run_id and mat["partition"] == "procedural"
    assert meta["test_mpjpe_mm"] == pytest.approx(on_disk["test_mpjpe_mm"])
    assert meta["train_steps"] == 30

    # the same event, read back from PostgreSQL by a new instance on the deployment's config
    with pytest.MonkeyPatch.context() as mp:
        for key, value in stack.env.items():
            if key.startswith("DAGSTER_"):
                mp.setenv(key, value)
        with dg.DagsterInstance.from_config(str(stack.dagster_home)) as instance:
            assert isinstance(instance.run_storage, PostgresRunStorage)
            event = instance.get_latest_materialization_event(dg.AssetKey("motion_vqvae"))
            assert event is not None and event.run_id == run_id
            stored = {k: v.value for k, v in event.asset_materialization.metadata.items()}
            logs = [e.user_message for e in instance.all_logs(run_id)]
    assert stored["mlflow_run_id"] == meta["mlflow_run_id"]
    assert any(m.startswith("motion_vqvae step 30") for m in logs)  # Pipes progress, in the run log

    # the Pipes process logged to the tracking server (PostgreSQL store, proxied artifacts)
    client = MlflowClient(tracking_uri=stack.mlflow)
    run = client.get_run(meta["mlflow_run_id"])
    assert run.info.status == "FINISHED" and run.data.tags["dagster.run_id"] == run_id
    assert run.data.metrics["test_mpjpe_mm"] == pytest.approx(on_disk["test_mpjpe_mm"])
    assert [a.path for a in client.list_artifacts(run.info.run_id, "recon")]


@contextmanager
def chromium_page(width: int, height: int) -> Iterator[Any]:
    """A Playwright page of a headless Chromium (the system's, `make browser`) of that size."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def _screenshot(page, name: str) -> np.ndarray:
    """Save the page to tests/output/`name` and return it as a grey image."""
    from PIL import Image

    OUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUT / name))
    return np.asarray(Image.open(OUT / name).convert("L"), dtype=float)


@needs_browser
def test_the_asset_graph_in_chromium_shows_every_asset(stack: Stack) -> None:
    """Open the global asset lineage, expand every group (the UI's Alt+E), zoom out until the
    whole graph is drawn, and read each node's name (the tooltip where the label is cut)."""
    from pipelines.definitions import defs

    graph = defs().resolve_asset_graph()
    keys = graph.get_all_asset_keys()
    expected = sorted(k.path[-1] for k in keys)  # a node shows the last part of its key
    groups = {graph.get(k).group_name for k in keys}

    with chromium_page(1800, 1300) as page:
        # the first visit may open a "Join the Dagster community" dialog: skip it when it does
        page.add_locator_handler(
            page.get_by_text("Join the Dagster community"),
            lambda _: page.get_by_role("button", name="Skip").click(),
        )
        page.goto(f"{stack.webserver}/asset-groups")
        for group in groups:  # collapsed groups first
            page.locator("foreignObject").get_by_text(group, exact=True).first.wait_for()
        page.keyboard.press("Alt+e")
        names = page.locator("foreignObject [class*=AssetNode_assetName]")
        names.first.wait_for()
        for _ in range(2):
            page.locator("button:has([aria-label=zoom_out])").click()
        page.wait_for_function(
            f"document.querySelectorAll('foreignObject [class*=AssetNode_assetName]').length"
            f" >= {len(expected)}",
            timeout=30_000,
        )
        labels = []
        for node in names.all():
            label = node.inner_text()
            if "…" in label:  # a long name is cut in the middle; its tooltip holds it whole
                node.hover()
                label = page.get_by_role("tooltip").inner_text()
                page.mouse.move(0, 0)
            labels.append(label)
        img = _screenshot(page, "dagster_asset_graph.png")
    assert sorted(labels) == expected
    assert img.shape == (1300, 1800) and img.std() > 5


@needs_browser
def test_the_mlflow_ui_shows_the_registered_champion(stack: Stack, smoke_sft: tuple) -> None:
    """Register the session's smoke policy on the tracking server (PostgreSQL store), then
    open the model's page in the MLflow UI: the name, version 1 and the champion alias."""
    from conftest import register_smoke_policy
    from mlflow.tracking import MlflowClient

    cfg = register_smoke_policy(smoke_sft, stack.mlflow)
    name, alias = cfg.registry.model_name, cfg.registry.alias
    version = MlflowClient(tracking_uri=stack.mlflow).get_model_version_by_alias(name, alias)
    assert version.version == "1"

    with chromium_page(1800, 900) as page:
        page.goto(f"{stack.mlflow}/#/models/{name}")
        page.get_by_text("Version 1", exact=False).first.wait_for(timeout=60_000)
        page.get_by_text(f"@ {alias}", exact=False).or_(page.get_by_text(alias)).first.wait_for()
        text = page.inner_text("body")
        img = _screenshot(page, "mlflow_registered_model.png")
    assert name in text and "Version 1" in text and alias in text
    assert img.std() > 5
