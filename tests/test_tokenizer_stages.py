"""Stages `motion_vqvae` and `motion_tokens` on the smoke profile, and the tokenizer they write."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from motion_r1_core.data.humanml3d import load_mean_std, load_motions, read_split
from motion_r1_core.features import feature_mean_std, mirror_joints, process_joints
from motion_r1_core.stages.motion_tokens import run_motion_tokens
from motion_r1_core.stages.motion_vqvae import CURVES, training_stats
from motion_r1_core.tracking import NullTracker
from motion_r1_core.vqvae.evaluate import mpjpe_mm, reconstruction_metrics
from motion_r1_core.vqvae.model import MotionVQVAE
from motion_r1_core.vqvae.token_checks import validate_tokens
from motion_r1_core.vqvae.tokenizer import CHECKPOINT, MotionTokenizer, read_metadata

pytestmark = pytest.mark.slow  # every test shares the trained smoke tokenizer (minutes)

K = 128  # codebook size of the smoke profile (configs/smoke.yaml)


@pytest.fixture(scope="module")
def tokens(smoke_tokenizer) -> pd.DataFrame:
    """The smoke project's token dataset (mirrored copies on, as configured)."""
    result = run_motion_tokens(smoke_tokenizer.cfg, "procedural", NullTracker(), progress=False)
    return pd.read_parquet(result.path)


def test_smoke_tokenizer_beats_the_untrained_model_by_5x(smoke_tokenizer) -> None:
    cfg, root = smoke_tokenizer.cfg, smoke_tokenizer.root
    assert cfg.vqvae.model.codebook_size == K
    m = smoke_tokenizer.result.metrics
    assert m["train_steps"] == cfg.vqvae.train.iterations and m["resumed_from_step"] == 0
    folder = root / "data" / "raw" / "procedural"
    _, test = load_motions(folder, "test")
    tok = MotionTokenizer.load(smoke_tokenizer.result.checkpoint)
    torch.manual_seed(cfg.vqvae.train.seed)
    untrained = MotionTokenizer(MotionVQVAE(263, cfg.vqvae.model), tok.mean, tok.std, tok.skeleton)
    base, _ = reconstruction_metrics(untrained, test)
    assert m["test_mpjpe_mm"] * 5 <= base["mpjpe_mm"], (m["test_mpjpe_mm"], base["mpjpe_mm"])
    assert m["test_codes_used"] >= 0.6
    print(
        f"smoke: trained {m['test_mpjpe_mm']:.1f} mm vs untrained {base['mpjpe_mm']:.1f} mm, "
        f"stage {smoke_tokenizer.seconds:.0f} s"
    )


def test_stage_writes_metrics_curves_gifs_and_logs_them(smoke_tokenizer) -> None:
    out = smoke_tokenizer.root / "artifacts" / "procedural" / "vqvae"
    on_disk = json.loads((out / "metrics.json").read_text())
    assert on_disk == pytest.approx(smoke_tokenizer.result.metrics)
    assert {
        "test_mpjpe_mm",
        "test_mpjpe_global_mm",
        "test_feature_l1",
        "test_codes_used",
        "test_perplexity",
    } <= on_disk.keys()
    assert (out / "training_curves.png").stat().st_size > 10_000
    gifs = smoke_tokenizer.result.gifs
    assert len(gifs) == 1 and gifs[0].stat().st_size > 10_000
    tracker = smoke_tokenizer.tracker
    logged = {p.name for p, _ in tracker.artifacts}
    assert {CHECKPOINT, "metrics.json", "training_curves.png", gifs[0].name} <= logged
    train = smoke_tokenizer.cfg.vqvae.train
    steps = [s for s, row in tracker.metrics if "recon" in row]
    every = train.log_every
    assert steps == list(range(every, train.iterations + 1, every))
    row = {k: v for s, r in tracker.metrics if s == train.iterations for k, v in r.items()}
    assert set(CURVES) <= row.keys()
    assert train.milestones[-1] < train.iterations
    assert row["lr"] == pytest.approx(train.lr * train.gamma)  # past the last milestone
    assert tracker.params["vqvae.model.codebook_size"] == str(K)


def test_checkpoint_holds_the_training_statistics_and_their_source(smoke_tokenizer) -> None:
    cfg, root = smoke_tokenizer.cfg, smoke_tokenizer.root
    meta = read_metadata(smoke_tokenizer.result.checkpoint)
    assert meta["in_dim"] == 263 and meta["model"]["codebook_size"] == K
    assert "root and feet std / 5" in meta["info"]["stats_source"]
    tok = MotionTokenizer.load(smoke_tokenizer.result.checkpoint)
    folder = root / "data" / "raw" / "procedural"
    _, train = load_motions(folder, "train")
    mean, std = feature_mean_std(train, tok.skeleton, feat_bias=5.0)
    np.testing.assert_allclose(tok.mean, mean, rtol=1e-6)
    np.testing.assert_allclose(tok.std, std, rtol=1e-6)
    dataset_std = load_mean_std(folder)[1]
    assert tok.std[0] == pytest.approx(dataset_std[0] / 5, rel=0.05)  # root: the evaluator trap
    # the dataset's own statistics on request, and a published meta folder when given
    ds_cfg = cfg.model_copy(
        update={
            "vqvae": cfg.vqvae.model_copy(
                update={"train": cfg.vqvae.train.model_copy(update={"normalisation": "dataset"})}
            )
        }
    )
    _m2, s2, src = training_stats(ds_cfg, folder, train, tok.skeleton)
    assert np.array_equal(s2, dataset_std) and "Mean.npy" in src


def test_evaluator_meta_is_read_and_checked(smoke_tokenizer, tmp_path: Path) -> None:
    cfg = smoke_tokenizer.cfg
    folder = smoke_tokenizer.root / "data" / "raw" / "procedural"
    tok = MotionTokenizer.load(smoke_tokenizer.result.checkpoint)

    def with_meta(path: Path):
        t = cfg.vqvae.train.model_copy(update={"evaluator_meta": path})
        return cfg.model_copy(update={"vqvae": cfg.vqvae.model_copy(update={"train": t})})

    np.save(tmp_path / "mean.npy", np.zeros(263, np.float32))
    np.save(tmp_path / "std.npy", np.full(263, 2.0, np.float32))
    _mean, std, src = training_stats(with_meta(tmp_path), folder, [], tok.skeleton)
    assert std[0] == 2.0 and str(tmp_path) in src
    np.save(tmp_path / "std.npy", np.full(251, 2.0, np.float32))
    with pytest.raises(ValueError, match=r"\(263,\)"):
        training_stats(with_meta(tmp_path), folder, [], tok.skeleton)
    with pytest.raises(FileNotFoundError, match=r"mean\.npy"):
        training_stats(with_meta(tmp_path / "nowhere"), folder, [], tok.skeleton)


def test_decode_any_token_list_and_reject_bad_ones(smoke_tokenizer) -> None:
    tok = MotionTokenizer.load(smoke_tokenizer.result.checkpoint)
    feats = tok.decode([0, 5, K - 1])
    assert feats.shape == (12, 263) and torch.isfinite(feats).all()
    joints = tok.decode_joints(np.array([1, 2, 3, 4, 5]))
    assert joints.shape == (20, 22, 3)
    with pytest.raises(ValueError, match="empty token list"):
        tok.decode([])
    with pytest.raises(
        ValueError, match=rf"out of range \[0, {K}\): {K} at position 1, -1 at position 2"
    ):
        tok.decode([3, K, -1])
    with pytest.raises(ValueError, match="integers"):
        tok.decode(torch.tensor([1.5]))


def test_encode_then_decode_reconstructs_a_test_motion(smoke_tokenizer) -> None:
    folder = smoke_tokenizer.root / "data" / "raw" / "procedural"
    _, test = load_motions(folder, "test")
    tok = MotionTokenizer.load(smoke_tokenizer.result.checkpoint)
    x = test[0]
    ids = tok.encode(x)
    n = len(x) // 4 * 4
    assert ids.shape == (len(x) // 4,)
    rec = tok.decode(ids)
    from motion_r1_core.features import recover_from_ric

    err = mpjpe_mm(recover_from_ric(rec), recover_from_ric(torch.from_numpy(x[:n]))).mean()
    assert err < 60  # millimetres: a trained smoke tokenizer, not a random one


def test_mpjpe_of_known_offsets() -> None:
    a = torch.zeros(5, 22, 3)
    b = a.clone()
    b[..., 0] += 0.01  # every joint 1 cm off: root-aligned error 0, global 10 mm
    assert mpjpe_mm(b, a).max() == 0
    assert mpjpe_mm(b, a, align_root=False) == pytest.approx(torch.full((5,), 10.0))
    b[:, 3, 1] += 0.022  # one joint of 22 another 22 mm off, relative to the root
    assert mpjpe_mm(b, a) == pytest.approx(torch.full((5,), 1.0))


# ------------------------------------------------------------------------------------- tokens
def test_token_dataset_covers_every_motion_and_its_mirror(smoke_tokenizer, tokens) -> None:
    folder = smoke_tokenizer.root / "data" / "raw" / "procedural"
    ids = read_split(folder, "all")
    assert len(tokens) == 2 * len(ids)
    orig = tokens[~tokens["mirrored"]].set_index("id")
    mirr = tokens[tokens["mirrored"]].set_index("id")
    assert set(orig.index) == set(ids) and set(mirr.index) == {f"M{i}" for i in ids}
    assert (mirr["source_id"].map("M{}".format) == mirr.index).all()
    assert (mirr["split"].values == orig.loc[mirr["source_id"], "split"].values).all()
    for split in ("train", "val", "test"):
        assert set(orig.index[orig["split"] == split]) == set(read_split(folder, split))
    lengths = tokens["tokens"].map(len)
    assert (lengths == tokens["n_frames"] // 4).all()
    assert all(min(t) >= 0 and max(t) < K for t in tokens["tokens"])
    # a row's tokens are the tokenizer's encoding of that motion
    tok = MotionTokenizer.load(smoke_tokenizer.result.checkpoint)
    mid = orig.index[0]
    feats = np.load(folder / "new_joint_vecs" / f"{mid}.npy")
    assert list(orig.loc[mid, "tokens"]) == tok.encode(feats).tolist()
    joints = torch.from_numpy(np.load(folder / "new_joints" / f"{mid}.npy"))
    mirrored, _ = process_joints(mirror_joints(joints), retarget_skeleton=False)
    assert list(mirr.loc[f"M{mid}", "tokens"]) == tok.encode(mirrored).tolist()


def test_mirrored_features_swap_sides(smoke_tokenizer) -> None:
    folder = smoke_tokenizer.root / "data" / "raw" / "procedural"
    mid = read_split(folder, "train")[0]
    joints = torch.from_numpy(np.load(folder / "new_joints" / f"{mid}.npy"))
    feats = torch.from_numpy(np.load(folder / "new_joint_vecs" / f"{mid}.npy"))
    mirrored, _aligned = process_joints(mirror_joints(joints), retarget_skeleton=False)
    # features of frame t come from joints t and t + 1: re-processing costs the last frame
    assert len(mirrored) == len(feats) - 1
    feats = feats[: len(mirrored)]
    # contacts: left (7, 10) and right (8, 11) feet trade places
    assert torch.equal(mirrored[:, 259:261], feats[:, 261:263])
    assert torch.equal(mirrored[:, 261:263], feats[:, 259:261])
    # the turning rate changes sign, the forward speed does not
    assert torch.allclose(mirrored[:, 0], -feats[:, 0], atol=1e-3)
    assert torch.allclose(mirrored[:, 2], feats[:, 2], atol=1e-3)


def test_token_checks_name_the_offending_rows(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {
            "id": ["a", "b", "c", "c", "e"],
            "source_id": ["a", "b", "c", "c", "e"],
            "split": ["train", "test", "val", "val", "holdout"],
            "mirrored": [False] * 5,
            "n_frames": [40, 41, 8, 8, 12],
            "tokens": [list(range(10)), [1] * 9, [70, 1], [1, 2], [-1, 2, 3]],
        }
    )
    path = tmp_path / "tokens.parquet"
    df.to_parquet(path)
    report = validate_tokens(path, codebook_size=64, frames_per_token=4)
    assert not report.ok
    by = {f.check: f for f in report.failures}
    assert set(by) == {"ids_in_range", "lengths", "unique_ids", "splits"}
    in_range = report.failures_for("ids_in_range")
    assert {i for f in in_range for i in f.files} == {"c", "e"}
    assert "above 63" in " ".join(f.detail for f in in_range)
    assert by["lengths"].files == ("b",)  # 41 frames -> 10 tokens, it has 9
    assert by["unique_ids"].files == ("c",)
    assert by["splits"].files == ("e",) and "holdout" in by["splits"].detail
    assert "[lengths]" in report.format()
    good = df.iloc[:1]
    good.to_parquet(path)
    assert validate_tokens(path, 64, 4).ok
    pd.DataFrame({"id": ["a"]}).to_parquet(path)
    with pytest.raises(ValueError, match="columns"):
        validate_tokens(path, 64, 4)


def test_tokens_without_a_tokenizer_name_the_missing_checkpoint(smoke_tokenizer, tmp_path) -> None:
    from conftest import new_project

    from motion_r1_core.config import load_config

    root = new_project(tmp_path / "p")
    shutil.copytree(smoke_tokenizer.root / "data", root / "data")
    cfg = load_config("smoke", root=root)
    with pytest.raises(FileNotFoundError, match=r"vqvae\.safetensors"):
        run_motion_tokens(cfg, "procedural", NullTracker(), progress=False)
