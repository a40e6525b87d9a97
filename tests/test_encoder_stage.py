"""Stage `text_motion_encoders` on the smoke corpus: two different encoders that retrieve, the
Real row, MLflow logging, resume, and the `evaluate-real` command."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from motion_r1_core.data.humanml3d import load_split
from motion_r1_core.encoders.model import TextMotionModel
from motion_r1_core.stages.text_motion_encoders import run_text_motion_encoders
from motion_r1_core.tracking import mlflow_run

pytestmark = pytest.mark.slow  # every test shares the trained smoke encoders (minutes)


@pytest.fixture(scope="module")
def encoders(smoke_project, tmp_path_factory):
    """Train the smoke encoders once, logged to a real MLflow store."""
    root, cfg = smoke_project
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlruns.db'}"
    t0 = time.perf_counter()
    with mlflow_run(uri, "test", run_name="text_motion_encoders/procedural") as tracker:
        result = run_text_motion_encoders(cfg, "procedural", tracker, progress=False)
    return root, cfg, result, uri, tracker.run_id, time.perf_counter() - t0


def test_evaluator_retrieves_real_motions_and_not_shuffled_ones(encoders) -> None:
    _, _, result, _, _, seconds = encoders
    m = result.metrics
    print(
        f"smoke encoders ({seconds:.0f} s): real top3 {m['real/top3']:.3f}, shuffled "
        f"{m['real/top3_shuffled']:.3f}, recall@10 {m['evaluator/test_recall_at_10']:.3f}, "
        f"agreement {m['agreement/text_motion_score_correlation']:.3f}"
    )
    # chance is 3/32 for top-3 and 10/120 for recall@10
    assert m["real/top3"] >= 0.5 and m["real/top3_shuffled"] <= 0.2
    assert m["real/top1"] <= m["real/top2"] <= m["real/top3"]
    for role in ("reward", "evaluator"):
        assert m[f"{role}/test_recall_at_10"] >= 0.4, role
        assert m[f"{role}/test_side_pairs"] >= 10 and 0 <= m[f"{role}/test_side_accuracy"] <= 1
        assert m[f"{role}/test_recall_at_1"] <= m[f"{role}/test_recall_at_5"]
    # the reward tells the caption's side from the swapped one (chance 0.5)
    assert m["reward/test_side_accuracy"] >= 0.8
    # real against real: the two passes crop differently, so FID is small but not zero
    assert 0 < m["real/fid"] < 0.2 * m["real/diversity"] ** 2
    assert 0 < m["agreement/text_motion_score_correlation"] < 0.995
    assert m["agreement/motion_similarity_correlation"] < 0.995


def test_checkpoints_are_two_different_encoders_that_reload(encoders) -> None:
    root, cfg, result, _, _, _ = encoders
    test = load_split(root / "data/raw/procedural", "test", cfg.data.min_frames)[:40]
    feats = [r.features for r in test]
    emb = {}
    for role, arch in (("reward", "conv"), ("evaluator", "transformer")):
        model = TextMotionModel.load(result.checkpoints[role])
        assert model.motion.cfg.arch == arch and model.info["role"] == role
        assert model.info["step"] == cfg.encoders.iterations
        assert model.info["recall_at_10"] == result.metrics[f"{role}/test_recall_at_10"]
        emb[role] = model.embed_motions(feats)
        assert np.allclose(np.linalg.norm(emb[role], axis=1), 1, atol=1e-5)
    assert not np.allclose(emb["reward"], emb["evaluator"], atol=0.1)


def test_outputs_and_mlflow_run(encoders) -> None:
    root, cfg, result, uri, run_id, _ = encoders
    out = root / "artifacts/procedural/encoders"
    assert json.loads((out / "metrics.json").read_text()) == pytest.approx(result.metrics)
    real = json.loads((out / "real_baseline.json").read_text())
    assert real["settings"]["replications"] == cfg.evaluation.replications
    assert len(real["values"]["top3"]) == cfg.evaluation.replications
    assert real["summary"]["top3"]["mean"] == pytest.approx(result.metrics["real/top3"])
    assert (out / "real_baseline.md").read_text().count("|") > 16
    assert (out / "training_curves.png").stat().st_size > 10_000
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(run_id)
    assert run.data.metrics["real/top3"] == pytest.approx(result.metrics["real/top3"])
    assert run.data.params["encoders.evaluator.arch"] == "transformer"
    steps = [h.step for h in client.get_metric_history(run_id, "evaluator/loss")]
    e = cfg.encoders
    assert steps == list(range(e.log_every, e.iterations + 1, e.log_every))
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {"reward.safetensors", "evaluator.safetensors", "real_baseline.json"} <= artifacts


def test_rerun_resumes_from_the_finished_checkpoints(encoders) -> None:
    from motion_r1_core.tracking import NullTracker

    _, cfg, result, _, _, _ = encoders
    again = run_text_motion_encoders(cfg, "procedural", NullTracker(), progress=False)
    for role in ("reward", "evaluator"):
        assert again.metrics[f"{role}/resumed_from_step"] == cfg.encoders.iterations
        assert (
            again.metrics[f"{role}/test_recall_at_5"] == result.metrics[f"{role}/test_recall_at_5"]
        )
    assert again.metrics["real/top3"] == result.metrics["real/top3"]


def test_evaluate_real_command(encoders, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from motion_r1_core.cli import app

    root, _, result, _, _, _ = encoders
    monkeypatch.setenv("MOTION_R1_ROOT", str(root))
    runner = CliRunner()
    out = runner.invoke(app, ["evaluate-real", "--profile", "smoke", "--dataset", "procedural"])
    assert out.exit_code == 0, out.output
    assert "| Real (procedural, trained evaluator) |" in out.output
    report = json.loads((root / "artifacts/procedural/evaluation/real_trained.json").read_text())
    assert report["summary"]["top3"]["mean"] == pytest.approx(result.metrics["real/top3"])
    bad = runner.invoke(
        app, ["evaluate-real", "--profile", "smoke", "-d", "procedural", "-e", "published"]
    )
    assert bad.exit_code != 0
    assert "evaluation.published.checkpoint" in str(bad.exception)
