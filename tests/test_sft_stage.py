"""Stage `sft_policy` on the smoke corpus: both variants learn the grammar from scratch (a tiny
Qwen2), the policy folders load, resume skips finished training, `motion-r1 generate` works."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from motion_r1_core.data.humanml3d import read_captions, read_split
from motion_r1_core.policy import data as D
from motion_r1_core.policy.grammar import parse
from motion_r1_core.policy.policy import Policy
from motion_r1_core.stages.sft_policy import format_check, run_sft_policy
from motion_r1_core.tracking import NullTracker

pytestmark = pytest.mark.slow  # trains two tiny policies (about two minutes)


@pytest.fixture(scope="module")
def upstream(smoke_upstream):
    return smoke_upstream


@pytest.fixture(scope="module")
def sft(smoke_sft):
    return smoke_sft


def test_ground_truth_examples_follow_the_captions_and_the_true_steps(upstream) -> None:
    cfg, root = upstream
    folder = root / "data" / "raw" / "procedural"
    tokens = pd.read_parquet(root / "artifacts" / "procedural" / "tokens" / "tokens.parquet")
    ex = D.ground_truth_examples(folder, tokens, ["train"], cfg.data.min_frames, 4, mirror=True)
    ids = read_split(folder, "train")
    n_captions = sum(len(read_captions(folder / "texts" / f"{i}.txt")) for i in ids)
    assert len(ex) == 2 * n_captions  # every caption and its mirrored twin
    truth = D.read_true_steps(folder / D.DECOMPOSITIONS)
    first = ex[0]
    assert first.steps == tuple(t for t, *_ in truth[first.motion_id])
    assert first.plan == D.plan_of([a for _, a, *_ in truth[first.motion_id]])
    by_id = tokens.set_index("id")["tokens"]
    assert list(first.codes) == list(by_id[first.motion_id])
    twin = ex[1]
    assert twin.motion_id == "M" + first.motion_id and list(twin.codes) == list(
        by_id[twin.motion_id]
    )
    if "left" in " ".join(first.steps):
        assert "right" in " ".join(twin.steps)


def test_sft_rows_augment_and_state_durations_as_configured() -> None:
    ex = [
        D.Example(str(i), str(i), f"caption {i}", ("walk",), "walk", tuple(range(10)))
        for i in range(300)
    ]
    rows = D.sft_rows(
        ex, cot=False, system="S", seconds_per_code=0.2, passes=2, drop_p=1 / 3, hint_p=0.5, seed=0
    )
    assert len(rows) == 600
    lengths = np.array([len(parse(r["completion"][0]["content"], False, 64).codes) for r in rows])
    assert set(lengths) <= {9, 10}
    assert abs((lengths == 9).mean() - 1 / 3) < 0.06
    hinted = [r for r in rows if "seconds)" in r["prompt"][1]["content"]]
    assert abs(len(hinted) / len(rows) - 0.5) < 0.07
    for r in hinted:  # the stated duration is the target's own
        n = len(parse(r["completion"][0]["content"], False, 64).codes)
        assert r["prompt"][1]["content"].endswith(f"(for about {n * 0.2:.1f} seconds)")
    assert D.passes_needed(300, 10, 64) == 3


def test_cap_spread_ends_cut_motions_anywhere_in_the_last_codes_only() -> None:
    """A target at the cap (49 codes: its end is the 196-frame cut) ends at a uniform length in
    [49 - spread, 49]; a shorter motion keeps its real end; spread 0 keeps the cut."""
    rng = np.random.default_rng(0)
    full, short = tuple(range(49)), tuple(range(30))
    cut = [len(D.augment(full, 0.0, rng, cap=49, spread=8)) for _ in range(2000)]
    assert set(cut) == set(range(41, 50))
    counts = np.bincount(cut, minlength=50)[41:]
    assert counts.min() > 2000 / 9 * 0.75  # uniform, not piled on one end
    assert all(len(D.augment(short, 0.0, rng, cap=49, spread=8)) == 30 for _ in range(200))
    assert all(len(D.augment(full, 0.0, rng, cap=49, spread=0)) == 49 for _ in range(200))
    kept = D.augment(full, 0.0, rng, cap=49, spread=8)
    assert kept == list(full[: len(kept)])  # a prefix: the motion is cut later, never reordered


def test_both_variants_learn_the_grammar_in_minutes(sft) -> None:
    cfg, _, result, _, seconds = sft
    m = result.metrics
    print(
        f"smoke SFT {seconds:.0f} s: "
        + ", ".join(
            f"{v}: loss {m[f'{v}/train_loss']:.2f}, format {m[f'{v}/format_validity']:.2f}, "
            f"top3 {m[f'{v}/top3']:.3f}, {m[f'{v}/train_seconds']:.0f} s"
            for v in ("cot", "no_cot")
        )
    )
    for v in ("cot", "no_cot"):
        assert m[f"{v}/format_validity"] >= 0.9  # unconstrained: learned, not enforced
        assert m[f"{v}/length_error_s/pinned_exact"] == 1.0
        assert m[f"{v}/length_error_s/pinned"] < 0.11  # a token is 0.2 s: rounding only
    assert format_check(result.metrics_path, cfg.policy.eval.min_format_validity).passed
    assert not format_check(result.metrics_path, 1.01).passed
    assert seconds < 240


def test_policy_folders_name_their_chain_source_and_tokenizer(sft) -> None:
    cfg, _, result, tracker, _ = sft
    for variant, folder in result.policies.items():
        pol = Policy.load(folder)
        assert pol.meta["variant"] == variant and pol.meta["cot_source"] == "ground_truth"
        assert pol.vocab.codebook_size == cfg.vqvae.model.codebook_size
        assert type(pol.model).__name__ == "Qwen2ForCausalLM"
        assert list((folder.parent / "samples").glob("*.gif"))
    report = result.report_path.read_text()
    assert "ground_truth" in report and "Real (procedural)" in report and "SFT cot" in report
    assert tracker.params["policy.cot_source"] == "ground_truth"
    assert any(k == "cot/loss" for _, row in tracker.metrics for k in row)
    # every metric name is one MLflow accepts (a parse error's text is not)
    assert all(re.fullmatch(r"[\w\-. :/]+", k) for k in result.metrics), result.metrics.keys()
    saved = json.loads(result.metrics_path.read_text())
    assert saved["cot/format_validity"] == result.metrics["cot/format_validity"]


def test_rerun_resumes_instead_of_retraining(sft) -> None:
    cfg, *_ = sft
    quick = cfg.model_copy(
        update={"policy": cfg.policy.model_copy(update={"variants": ["no_cot"]})}
    )
    again = run_sft_policy(quick, "procedural", NullTracker(), progress=False)
    assert again.metrics["no_cot/resumed_from_step"] == cfg.policy.sft.steps
    assert again.metrics["no_cot/train_seconds"] < 10


def test_generate_command_prints_a_chain_and_writes_gif_and_joints(sft, tmp_path) -> None:
    _, root, result, *_ = sft
    out = tmp_path / "hop.gif"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "motion_r1_core.cli",
            "generate",
            "a person hops on the left foot, then waves",
            "--policy",
            str(result.policies["cot"]),
            "--seconds",
            "3",
            "--out",
            str(out),
            "--profile",
            "smoke",
        ],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "1. " in proc.stdout and "Plan: " in proc.stdout
    assert "15 motion tokens = 60 frames (3.00 s)" in proc.stdout
    joints = np.load(out.with_suffix(".npy"))
    assert joints.shape == (60, 22, 3) and out.stat().st_size > 1000
