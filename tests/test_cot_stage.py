"""Stage `cot_triplets` against a scripted OpenAI-compatible server on the smoke corpus:
caption selection, triplets joined with (sliced, mirrored) tokens, the verification log,
fidelity, checks, MLflow, secrets, and a killed run that resumes without paying twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import new_project
from misbehaving_server import Script, misbehaving_server
from mlflow.tracking import MlflowClient

from motion_r1_core.config import load_config
from motion_r1_core.cot.fidelity import read_decompositions
from motion_r1_core.cot.triplet_checks import validate_triplets
from motion_r1_core.cot.triplets import select_captions
from motion_r1_core.data.humanml3d import read_captions, read_split
from motion_r1_core.data.mirror import has_side, swap_sides
from motion_r1_core.stages.cot_triplets import run_cot_triplets
from motion_r1_core.tracking import mlflow_run

SECRET = "sk-test-0123456789abcdef"


def _cot_project(smoke_project, tmp_path: Path) -> Path:
    """A project sharing the smoke corpus, with a token dataset of the right shapes."""
    corpus = smoke_project[0] / "data/raw/procedural"
    root = new_project(tmp_path / "cot")
    (root / "data/raw").mkdir(parents=True)
    (root / "data/raw/procedural").symlink_to(corpus)
    rng = np.random.default_rng(0)
    rows = []
    for split in ("train", "val", "test"):
        for i in read_split(corpus, split):
            n = len(np.load(corpus / "new_joint_vecs" / f"{i}.npy", mmap_mode="r"))
            toks = rng.integers(0, 256, n // 4).tolist()
            rows.append((i, i, split, False, n, toks))
            rows.append((f"M{i}", i, split, True, n, toks[::-1]))
    out = root / "artifacts/procedural/tokens"
    out.mkdir(parents=True)
    pd.DataFrame(
        rows, columns=["id", "source_id", "split", "mirrored", "n_frames", "tokens"]
    ).to_parquet(out / "tokens.parquet")
    return root


def _oracle(corpus: Path, delay: float = 0.0):
    """A server that decomposes each caption into its true steps and approves every chain."""
    truth = {}
    steps = {}
    for line in (corpus / "decompositions.jsonl").read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        steps[rec["id"]] = [s["text"] for s in rec["steps"]]
    for i in read_split(corpus, "all"):
        for cap in read_captions(corpus / "texts" / f"{i}.txt"):
            truth[cap.text] = steps[i]

    def respond(body: dict):
        msgs = body["messages"]
        if msgs[0]["content"].startswith("You check a decomposition"):
            text = "relevance: 5\nlogic: 5\nconciseness: 4\nfeedback: none"
        else:
            true = truth[msgs[5]["content"]]
            lines = [f"{n}. The person should {s}." for n, s in enumerate(true, 1)]
            text = "\n".join([f"Plan: {', then '.join(true)}.", *lines])
        return ("slow", (delay, text)) if delay else ("ok", text)

    return respond


def _cfg(root: Path, url: str, **extra: str):
    sets = [
        f"cot.client.base_url={url}",
        "cot.client.backoff=0",
        "cot.client.api_key_env=COT_TEST_KEY",
        *(f"{k}={v}" for k, v in extra.items()),
    ]
    return load_config("smoke", sets, root=root), sets


def test_select_captions_follows_the_t2m_filter_and_samples_reproducibly(smoke_project) -> None:
    root, cfg = smoke_project
    corpus = root / "data/raw/procedural"
    every = select_captions(corpus, ["train", "val"], cfg.data.min_frames)
    n_caps = sum(
        len(read_captions(corpus / "texts" / f"{i}.txt"))
        for s in ("train", "val")
        for i in read_split(corpus, s)
        if cfg.data.min_frames <= len(np.load(corpus / f"new_joint_vecs/{i}.npy")) < 200
    )
    assert len(every) == n_caps and len({c.id for c in every}) == n_caps
    assert {c.split for c in every} == {"train", "val"}
    first = every[0]
    assert first.id == f"{first.motion_id}:{first.line}" and first.start_frame == 0
    assert first.caption == read_captions(corpus / f"texts/{first.motion_id}.txt")[first.line].text
    a = select_captions(corpus, ["train"], cfg.data.min_frames, 7, seed=3)
    b = select_captions(corpus, ["train"], cfg.data.min_frames, 7, seed=3)
    c = select_captions(corpus, ["train"], cfg.data.min_frames, 7, seed=4)
    assert a == b and a != c and len(a) == 7
    assert [x.id for x in a] == [x.id for x in every if x.id in {y.id for y in a}]  # in order


def test_shipped_mirrors_are_not_asked_twice(smoke_project, tmp_path) -> None:
    """A folder shipping HumanML3D-style M<id> copies: with skip_mirrors their captions are left
    out where the original is selected (its chain is swapped instead)."""
    import shutil

    src = smoke_project[0] / "data/raw/procedural"
    folder = tmp_path / "hml"
    shutil.copytree(src, folder)
    train = read_split(folder, "train")
    for i in train[:3]:
        for sub in ("new_joint_vecs", "texts"):
            ext = "npy" if sub == "new_joint_vecs" else "txt"
            shutil.copy(folder / sub / f"{i}.{ext}", folder / sub / f"M{i}.{ext}")
    orphan = train[3]  # its original sits in no selected split
    for sub, ext in (("new_joint_vecs", "npy"), ("texts", "txt")):
        shutil.copy(folder / sub / f"{orphan}.{ext}", folder / sub / f"M{orphan}.{ext}")
    (folder / "train.txt").write_text(
        "".join(f"{i}\n" for i in [*train, *(f"M{i}" for i in train[:3])])
    )
    (folder / "val.txt").write_text((folder / "val.txt").read_text() + f"M{orphan}\n")
    every = select_captions(folder, ["train", "val"], 40)
    fewer = select_captions(folder, ["train", "val"], 40, skip_mirrors=True)
    shipped = {i.motion_id for i in every if i.motion_id.startswith("M")}
    assert shipped == {f"M{i}" for i in train[:3]} | {f"M{orphan}"}
    assert {i.motion_id for i in fewer if i.motion_id.startswith("M")} == set()
    only_val = select_captions(folder, ["val"], 40, skip_mirrors=True)
    assert f"M{orphan}" in {i.motion_id for i in only_val}  # its original is not selected
    assert len(every) - len(fewer) == sum(i.motion_id.startswith("M") for i in every)


def test_swap_sides() -> None:
    assert swap_sides("Left leg kicks to the right, then spins counterclockwise.") == (
        "Right leg kicks to the left, then spins clockwise."
    )
    assert swap_sides("turn clockwise; bright light") == "turn counterclockwise; bright light"
    assert has_side("Turns LEFT") and not has_side("a bright, upright person")


def test_stage_writes_triplets_log_fidelity_and_reruns_for_free(
    smoke_project, tmp_path, monkeypatch
) -> None:
    root = _cot_project(smoke_project, tmp_path)
    corpus = root / "data/raw/procedural"
    monkeypatch.setenv("COT_TEST_KEY", SECRET)
    script = Script(responder=_oracle(corpus))
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    with misbehaving_server(script) as url:
        cfg, _ = _cfg(root, url, **{"cot.max_captions": "24", "cot.client.concurrency": "3"})
        with mlflow_run(uri, "test", run_name="cot_triplets/procedural") as tracker:
            result = run_cot_triplets(cfg, "procedural", tracker, progress=False)
        paid = len(script.requests)
        assert all(a == f"Bearer {SECRET}" for a in script.auth)

        m = result.metrics
        out = root / "artifacts/procedural/cot"
        log = [json.loads(x) for x in (out / "verification_log.jsonl").read_text().splitlines()]
        items = select_captions(corpus, ["train", "val"], cfg.data.min_frames, 24, 0)
        assert [r["id"] for r in log] == [i.id for i in items]
        truth = read_decompositions(corpus / "decompositions.jsonl")
        # one-step motions get a one-step chain: below cot.limits.min_steps, rejected twice
        for item, rec in zip(items, log, strict=True):
            if len(truth[item.motion_id]) == 1:
                assert rec["status"] == "rejected" and len(rec["attempts"]) == cfg.cot.attempts
                lim = cfg.cot.limits
                want = f"1 steps; expected {lim.min_steps} to {lim.max_steps}"
                assert rec["attempts"][0]["reasons"] == [want]
            else:
                assert rec["status"] == "accepted" and len(rec["attempts"]) == 1
                assert rec["attempts"][0]["reasoning"].startswith("thinking about")
        accepted = sum(r["status"] == "accepted" for r in log)
        assert m["accepted"] == accepted and m["captions"] == 24 and accepted >= 8
        assert m["acceptance_rate"] == pytest.approx(accepted / 24)
        # one generation + one judge per accepted caption, 2 generations per rejected one
        assert paid == m["paid_requests"] == 2 * accepted + 2 * (24 - accepted)

        df = pd.read_parquet(result.path)
        assert len(df) == m["triplets"] == 2 * accepted and df["mirrored"].sum() == accepted
        tokens = pd.read_parquet(root / "artifacts/procedural/tokens/tokens.parquet").set_index(
            "id"
        )
        by_id = {i.id: i for i in items}
        for row in df.itertuples():
            src = row.id.removeprefix("M")
            item = by_id[src]
            motion = ("M" if row.mirrored else "") + item.motion_id
            want = list(tokens.at[motion, "tokens"])[item.start_frame // 4 : item.end_frame // 4]
            assert list(row.tokens) == want and row.n_tokens == len(want) > 0
            if row.mirrored:
                twin = df.set_index("id").loc[src]
                assert row.caption == swap_sides(twin.caption)
                assert list(row.steps) == [swap_sides(s) for s in twin.steps]
        assert result.report.ok, result.report.format()
        # the oracle answers a caption with the true steps of (one of) its motion(s): exact
        # fidelity wherever the caption belongs to one motion only ("a human goes through a
        # few exercises" describes many)
        fid = [json.loads(x) for x in (out / "fidelity.jsonl").read_text().splitlines()]
        assert len(fid) == m["fidelity/chains"] == accepted
        owners: dict[str, set] = {}
        for i in read_split(corpus, "all"):
            for cap in read_captions(corpus / "texts" / f"{i}.txt"):
                owners.setdefault(cap.text, set()).add(tuple(truth[i]))
        unique = [f for f in fid if len(owners[f["caption"]]) == 1]
        assert len(unique) >= 5
        assert all(f["precision"] == f["recall"] == 1.0 for f in unique)
        matched = sum(f["matched"] for f in fid)
        assert m["fidelity/recall"] == pytest.approx(matched / sum(len(f["truth"]) for f in fid))
        assert (out / "judge_scores.png").stat().st_size > 5000

        run = MlflowClient(uri).get_run(tracker.run_id)
        assert run.data.metrics["acceptance_rate"] == pytest.approx(m["acceptance_rate"])
        assert run.data.params["cot.client.api_key_env"] == "COT_TEST_KEY"
        assert SECRET not in json.dumps(run.data.params)
        for f in out.rglob("*"):
            if f.is_file():
                assert SECRET.encode() not in f.read_bytes(), f

        # a rerun pays for nothing and writes the same triplets
        again = run_cot_triplets(cfg, "procedural", tracker=_Null(), progress=False)
        assert len(script.requests) == paid and again.metrics["paid_requests"] == 0
        pd.testing.assert_frame_equal(pd.read_parquet(again.path), df)


def test_checks_catch_a_broken_chain_and_a_low_acceptance_rate(tmp_path) -> None:
    df = pd.DataFrame(
        {
            "id": ["a:0", "b:0", "b:0"],
            "motion_id": ["a", "b", "b"],
            "split": ["train"] * 3,
            "mirrored": [False] * 3,
            "caption": ["x"] * 3,
            "cot": ["Plan: walk.\n1. Legs walk.\n2. Arms swing.", "Plan: w.\n1. Legs walk.", "no"],
            "steps": [["Legs walk.", "Arms swing."], ["Legs walk."], ["Legs walk.", "Arms."]],
            "plan": ["walk.", "w.", "walk."],
            "tokens": [[1, 2], [3], []],
            "n_tokens": [2, 1, 0],
        }
    )
    rep = validate_triplets(
        tmp_path / "t.parquet", ["accepted", "rejected", "rejected", "unanswered"], 2, 8, 0.5, df=df
    )
    by_check = {f.check: f for f in rep.failures}
    assert set(by_check) == {"format", "step_counts", "tokens", "unique_ids", "acceptance_rate"}
    assert by_check["format"].files == ("b:0",)  # the third row's cot does not parse either
    assert by_check["step_counts"].files == ("b:0",)
    assert by_check["tokens"].files == ("b:0",)
    assert "0.333 of 3 decided" in by_check["acceptance_rate"].detail
    ok = validate_triplets(tmp_path / "t.parquet", ["accepted"], 1, 8, 0.5, df=df.iloc[:1])
    assert ok.ok and ok.stats["acceptance_rate"] == 1.0


class _Null:
    def log_params(self, p):
        pass

    def log_metrics(self, m, step=None):
        pass

    def log_artifact(self, p, a=None):
        pass

    def set_tags(self, t):
        pass


def test_killed_stage_resumes_without_repeating_a_finished_caption(smoke_project, tmp_path) -> None:
    """SIGKILL the CLI stage mid-run; the rerun never asks again what was answered."""
    root = _cot_project(smoke_project, tmp_path)
    corpus = root / "data/raw/procedural"
    script = Script(responder=_oracle(corpus, delay=0.15))
    with misbehaving_server(script) as url:
        _, sets = _cfg(root, url, **{"cot.max_captions": "16", "cot.client.concurrency": "1"})
        env = {
            **os.environ,
            "MOTION_R1_ROOT": str(root),
            "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlruns.db'}",
            "COT_TEST_KEY": SECRET,
        }
        cmd = [
            sys.executable,
            "-m",
            "motion_r1_core.cli",
            "stage",
            "cot_triplets",
            "--profile",
            "smoke",
            *(x for s in sets for x in ("--set", s)),
        ]
        proc = subprocess.Popen(
            cmd, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 120
        while len(script.requests) < 12 and time.monotonic() < deadline:
            assert proc.poll() is None, "the stage ended before it could be killed"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        first = [json.dumps(r, sort_keys=True) for r in script.requests]
        partial = root / "artifacts/procedural/cot/verification_log.partial.jsonl"
        finished = [json.loads(x)["caption"] for x in partial.read_text().splitlines()]
        assert 3 <= len(finished) < 16

        n = len(first)
        done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        second = [json.dumps(r, sort_keys=True) for r in script.requests[n:]]
        # only the request in flight at the kill may be asked again
        assert len(set(second) & set(first)) <= 1
        for body in script.requests[n:]:
            msgs = body["messages"]
            caption = (
                msgs[-1]["content"].split("\n")[0].removeprefix("Description: ")
                if msgs[0]["content"].startswith("You check")  # the judge
                else msgs[5]["content"]
            )
            assert caption not in finished, caption
        log = (root / "artifacts/procedural/cot/verification_log.jsonl").read_text()
        assert len(log.splitlines()) == 16 and not partial.exists()


def test_motions_without_tokens_stop_the_stage_before_a_request(smoke_project, tmp_path) -> None:
    root = _cot_project(smoke_project, tmp_path)
    path = root / "artifacts/procedural/tokens/tokens.parquet"
    df = pd.read_parquet(path)
    first = read_split(root / "data/raw/procedural", "train")[0]
    df[df["id"] != first].to_parquet(path)
    script = Script(responder=_oracle(root / "data/raw/procedural"))
    with misbehaving_server(script) as url:
        cfg, _ = _cfg(root, url, **{"cot.max_captions": "null"})  # every caption
        with pytest.raises(ValueError, match=f"1 motions .* have no tokens \\(e.g. {first}\\)"):
            run_cot_triplets(cfg, "procedural", _Null(), progress=False)
    assert script.requests == []
