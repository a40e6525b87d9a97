"""Stage `eval_report`: every row of the main table with intervals, the extra columns (format,
chains, length, physical plausibility) for every row, generation cached per policy and seed,
and a page that renders in headless Chromium."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import CHROMIUM

from motion_r1_core.evaluation.chains import chain_fidelity, steps_match, true_steps
from motion_r1_core.evaluation.report import Row, markdown_table
from motion_r1_core.physics import feature_physics, physics_quantities
from motion_r1_core.stages.eval_report import run_eval_report
from motion_r1_core.tracking import mlflow_run

FIXTURE = Path(__file__).parent / "fixtures" / "humanml3d-sample"


def test_chain_fidelity_counts_matching_steps_in_order() -> None:
    truth = ["walk forward", "turn left", "wave the right hand"]
    assert chain_fidelity(truth, truth) == 1.0
    assert steps_match("walk forward a few steps", "walk forward")
    assert not steps_match("walk forward", "walk backward")
    assert not steps_match("raise the right arm", "raise the left arm")
    assert chain_fidelity(["walk forward", "wave the right hand"], truth) == pytest.approx(2 / 3)
    assert chain_fidelity(list(reversed(truth)), truth) == pytest.approx(1 / 3)
    assert chain_fidelity(["jump"], truth) == 0.0 and chain_fidelity([], truth) == 0.0
    spans = [("walk", "walk", 0, 40), ("turn", "turn", 40, 80), ("wave", "wave", 80, 120)]
    assert true_steps(spans, 0.0, 0.0, 20.0) == ["walk", "turn", "wave"]
    assert true_steps(spans, 2.5, 4.5, 20.0) == ["turn", "wave"]  # frames 50..90
    assert true_steps(spans, 2.5, 4.0, 20.0) == ["turn"]  # frames 50..80


def test_table_cells_carry_the_interval_or_a_dash() -> None:
    row = Row("SFT CoT", "sft/cot", {"top1": 0.5, "top1_interval": 0.01, "fid": 0.2})
    table = markdown_table([row], [("top1", "Top-1"), ("fid", "FID"), ("top2", "Top-2")])
    assert table.splitlines()[-1] == "| SFT CoT | 0.500±0.010 | 0.200 | – |"


def test_physics_columns_of_raw_features_match_the_joint_quantities() -> None:
    import torch

    from motion_r1_core.features import recover_from_ric

    feats = np.load(next((FIXTURE / "new_joint_vecs").glob("*.npy")))
    got = feature_physics([feats, feats[:80]])
    joints = recover_from_ric(feats)
    batch = torch.zeros(2, len(joints), 22, 3)
    batch[0], batch[1, :80] = joints, joints[:80]
    want = physics_quantities(batch, torch.tensor([len(joints), 80]))
    for k in ("skating", "penetration", "jitter"):
        assert got[k] == pytest.approx(float(want[k].mean()), rel=1e-5), k
    assert 0.2 < got["skating"] < 0.5 and got["jitter"] > 1.0  # the real motion's scale


@pytest.fixture(scope="module")
def report(smoke_sft, tmp_path_factory):
    cfg, *_ = smoke_sft
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlruns.db'}"
    with mlflow_run(uri, "test", run_name="eval_report/procedural") as tracker:
        first = run_eval_report(cfg, "procedural", tracker, progress=False)
    return cfg, first, uri, tracker.run_id


@pytest.mark.slow
def test_every_row_has_every_column_with_intervals(report) -> None:
    cfg, result, *_ = report
    assert result.rows[:4] == ["Real", "VQ-VAE reconstruction", "SFT no-CoT", "SFT CoT"]
    m = result.metrics
    for row in ("real", "vq_vae_reconstruction", "sft_no_cot", "sft_cot"):
        for k in ("top1", "top2", "top3", "fid", "mm_dist", "diversity", "skating", "jitter"):
            assert np.isfinite(m[f"{row}/{k}"]) and m[f"{row}/{k}_interval"] >= 0, (row, k)
        assert m[f"{row}/penetration"] >= 0
    for row in ("sft_no_cot", "sft_cot"):  # sampled rows: MultiModality, format, length
        assert m[f"{row}/multimodality"] > 0
        assert 0 <= m[f"{row}/format_validity"] <= 1
        assert m[f"{row}/length_error_s/pinned_exact"] == 1.0
    assert "real/multimodality" not in m and "sft_no_cot/chain_steps" not in m
    assert m["sft_cot/chain_steps"] >= 1 and 0 <= m["sft_cot/chain_fidelity"] <= 1
    # the Real row scores best on R-Precision: the evaluator reads the motions
    assert m["real/top3"] > m["real/top3_shuffled"] + 0.2
    summary = json.loads(result.summary.read_text())
    assert set(summary["policies"]) >= {"SFT no-CoT", "SFT CoT"}
    assert summary["evaluator"] == "trained" and summary["chain_source"] == "ground_truth"
    assert Path(summary["policies"]["SFT CoT"]["path"], "policy.json").is_file()
    md = result.markdown.read_text()
    assert "Evaluator: trained" in md and "Chains: ground_truth" in md and "Revision:" in md
    assert md.count(".gif") == cfg.report.gallery


@pytest.mark.slow
def test_the_report_reads_back_the_answers_the_sft_stage_sampled(report, smoke_sft) -> None:
    import re

    _, first, *_ = report
    _, _, sft, *_ = smoke_sft
    # the SFT stage's protocol replications asked for the same (captions, seed) as the report's
    n = json.loads((sft.policies["cot"].parent / "protocol.json").read_text())["settings"]
    assert n["replications"] >= 1
    cached = int(re.search(r"read from the cache: (\d+)", first.markdown.read_text()).group(1))
    assert cached >= 2 * n["replications"] * n["samples_per_replication"]  # both SFT policies


@pytest.mark.slow
def test_rerun_reads_every_answer_from_the_cache(report) -> None:
    from motion_r1_core.tracking import NullTracker

    cfg, first, *_ = report
    again = run_eval_report(cfg, "procedural", NullTracker(), progress=False)
    assert "Answers sampled now: 0;" in again.markdown.read_text()
    for k, v in first.metrics.items():  # same captions, seeds and answers: same numbers
        assert again.metrics[k] == pytest.approx(v, rel=1e-6, abs=1e-9), k


@pytest.mark.slow
def test_the_report_is_logged_to_mlflow(report) -> None:
    from mlflow.tracking import MlflowClient

    _, result, uri, run_id = report
    client = MlflowClient(tracking_uri=uri)
    names = {a.path for a in client.list_artifacts(run_id)}
    assert {"report.html", "report.md", "metrics.json", "summary.json"} <= names
    assert client.get_run(run_id).data.metrics["sft_cot/top3"] == result.metrics["sft_cot/top3"]


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make test installs it)")
def test_the_page_renders_its_table_and_gifs_in_chromium(report, tmp_path: Path) -> None:
    _, result, *_ = report
    out = Path(__file__).parent / "output"
    out.mkdir(exist_ok=True)
    shot = out / "eval_report.png"
    base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    base.append(f"--user-data-dir={tmp_path / 'profile'}")
    url = result.html.resolve().as_uri()
    subprocess.run(
        [*base, f"--screenshot={shot}", "--window-size=1400,2400", url],
        check=True,
        capture_output=True,
        timeout=120,
    )
    dom = subprocess.run(
        [*base, "--dump-dom", "--virtual-time-budget=5000", url],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert '<table id="main">' in dom and "SFT CoT" in dom
    gifs = len(list((result.html.parent / "gallery").glob("*.gif")))
    assert gifs == dom.count('<img class="gif"') > 0
    images = result.html.read_text().count("<img")  # the GIFs, and curves when MLflow has them
    assert f'data-images-loaded="{images}/{images}"' in dom  # every image decoded
    from PIL import Image

    img = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert img.shape[1] == 1400 and img.std() > 10  # not a blank page
