"""The tokenizer model and its training loop: layout, quantiser behaviour, schedule, resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from motion_r1_core.config import VQVAEModelConfig, VQVAETrainConfig, load_config
from motion_r1_core.vqvae.model import MotionVQVAE, ResConv1DBlock, perplexity
from motion_r1_core.vqvae.train import WindowSampler, lr_factor, train_vqvae

TINY = VQVAEModelConfig(codebook_size=16, code_dim=8, width=16, depth=2)


def _motions(n: int = 12, seed: int = 0, dim: int = 263) -> list[np.ndarray]:
    """Smooth random 'motions' (T_i, dim) of 64..100 frames."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        t = int(rng.integers(64, 101))
        base = rng.normal(size=(1, dim)) + np.cumsum(rng.normal(size=(t, dim)) * 0.1, axis=0)
        out.append(base.astype(np.float32))
    return out


# ------------------------------------------------------------------------------------ model
def test_paper_shape_matches_the_t2m_gpt_layout() -> None:
    cfg = load_config("paper").vqvae.model
    assert (cfg.codebook_size, cfg.code_dim, cfg.width, cfg.depth, cfg.down_t) == (
        512,
        512,
        512,
        3,
        2,
    )
    m = MotionVQVAE(263, cfg)
    convs = [c for c in m.encoder.modules() if isinstance(c, nn.Conv1d) and c.stride == (2,)]
    assert [(c.kernel_size, c.padding) for c in convs] == [((4,), (1,))] * 2
    enc_dil = [b.conv1.dilation[0] for b in m.encoder.modules() if isinstance(b, ResConv1DBlock)]
    dec_dil = [b.conv1.dilation[0] for b in m.decoder.modules() if isinstance(b, ResConv1DBlock)]
    assert enc_dil == [9, 3, 1, 9, 3, 1] and dec_dil == [1, 3, 9, 1, 3, 9]
    assert m.quantizer.codebook.shape == (512, 512)
    assert isinstance(m.decoder[-1], nn.Conv1d) and m.decoder[-1].out_channels == 263
    x = torch.randn(2, 64, 263)
    out = m(x)
    assert out.recon.shape == x.shape and out.ids.shape == (2, 16)


def test_lengths_must_be_a_multiple_of_four_and_the_width_must_match() -> None:
    m = MotionVQVAE(263, TINY)
    with pytest.raises(ValueError, match="multiple of 4"):
        m(torch.randn(1, 62, 263))
    with pytest.raises(ValueError, match=r"\(B, T, 263\)"):
        m(torch.randn(1, 64, 251))
    with pytest.raises(ValueError, match="L >= 1"):
        m.decode(torch.zeros(1, 0, dtype=torch.long))


def test_encode_leaves_the_codebook_alone_and_decode_inverts_the_lookup() -> None:
    torch.manual_seed(0)
    m = MotionVQVAE(263, TINY)
    x = torch.randn(4, 32, 263)
    m.train()
    m(x)  # initialises the codebook by k-means
    before = {k: v.clone() for k, v in m.quantizer.state_dict().items()}
    ids = m.encode(x)
    assert m.training  # restored
    assert all(torch.equal(before[k], v) for k, v in m.quantizer.state_dict().items())
    assert ids.shape == (4, 8) and ids.dtype == torch.long
    q = m.quantizer.get_codes_from_indices(ids)
    assert torch.allclose(q[0, 0], m.quantizer.codebook[ids[0, 0]])
    assert m.decode(ids).shape == (4, 32, 263)


def test_training_updates_the_codebook_by_ema_and_resets_dead_codes() -> None:
    torch.manual_seed(0)
    m = MotionVQVAE(263, TINY).train()
    m(torch.randn(8, 32, 263))  # k-means init
    m.quantizer._codebook.cluster_size.data[0, :4] = 0.0  # four codes starve
    codebook0 = m.quantizer.codebook.clone()
    x = torch.randn(8, 32, 263) * 5
    m(x)
    latent = m.encode_latent(x).reshape(-1, TINY.code_dim)
    new = m.quantizer.codebook
    assert not torch.equal(new, codebook0)  # EMA moved the codes
    # each starved code was replaced by one of the batch's encoder outputs
    for k in range(4):
        assert (latent - new[k]).norm(dim=-1).min() < 1e-5
    assert (m.quantizer._codebook.cluster_size[0, :4] >= 1).all()


def test_perplexity_of_known_histograms() -> None:
    assert perplexity(torch.tensor([0, 1, 2, 3]), 8).item() == pytest.approx(4.0)
    assert perplexity(torch.tensor([5, 5, 5]), 8).item() == pytest.approx(1.0)
    p = torch.tensor([0.5, 0.25, 0.25])
    expected = float(torch.exp(-(p * p.log()).sum()))  # 2 * sqrt(2)
    assert perplexity(torch.tensor([0, 0, 1, 2]), 3).item() == pytest.approx(expected)


# --------------------------------------------------------------------------------- training
def test_learning_rate_warms_up_linearly_then_decays_at_milestones() -> None:
    cfg = VQVAETrainConfig(warmup=1000, milestones=(200_000,), gamma=0.05)
    assert lr_factor(0, cfg) == pytest.approx(1 / 1000)
    assert lr_factor(499, cfg) == pytest.approx(0.5)
    assert lr_factor(999, cfg) == 1.0 and lr_factor(199_999, cfg) == 1.0
    assert lr_factor(200_000, cfg) == pytest.approx(0.05)
    assert lr_factor(0, VQVAETrainConfig(warmup=0, milestones=())) == 1.0
    with pytest.raises(ValueError, match="increasing"):
        VQVAETrainConfig(milestones=(10, 5))


def test_windows_are_slices_of_long_enough_motions_and_follow_the_seed() -> None:
    motions = [
        np.arange(t * 3, dtype=np.float32).reshape(t, 3) + 1000 * i
        for i, t in enumerate([10, 70, 64, 100])
    ]
    a = WindowSampler(motions, 64, torch.device("cpu"), seed=3)
    b = WindowSampler(motions, 64, torch.device("cpu"), seed=3)
    wa, wb = a.sample(50), b.sample(50)
    assert torch.equal(wa, wb) and wa.shape == (50, 64, 3)
    for w in wa:
        i = int(w[0, 0] // 1000)
        assert i in (1, 2, 3)  # the 10-frame motion is too short
        start = int((w[0, 0] - 1000 * i) // 3)
        assert torch.equal(w, torch.from_numpy(motions[i][start : start + 64]))
    with pytest.raises(ValueError, match="64 frames"):
        WindowSampler(motions[:1], 64, torch.device("cpu"), seed=0)


def _train(ckpt: Path, on_step=None, iterations: int = 30) -> tuple[MotionVQVAE, object]:
    cfg = VQVAETrainConfig(
        iterations=iterations,
        batch_size=4,
        window=16,
        lr=1e-3,
        warmup=5,
        milestones=(20,),
        log_every=5,
        eval_every=10,
        checkpoint_every=10,
        device="cpu",
        seed=7,
    )
    motions = _motions()
    mean = np.mean(np.concatenate(motions), 0)
    std = np.std(np.concatenate(motions), 0) + 1e-3
    torch.manual_seed(cfg.seed)
    model = MotionVQVAE(263, TINY)
    summary = train_vqvae(model, motions, mean, std, cfg, ckpt, on_step=on_step, progress=False)
    return model, summary


def test_a_killed_run_resumes_to_the_same_parameters_bit_for_bit(tmp_path: Path) -> None:
    straight, s0 = _train(tmp_path / "straight")

    class Killed(Exception):
        pass

    def kill_at_17(step: int) -> None:
        if step == 17:
            raise Killed

    with pytest.raises(Killed):
        _train(tmp_path / "resumed", on_step=kill_at_17)
    assert (tmp_path / "resumed" / "latest").read_text().strip() == "step_0000010"
    resumed, s1 = _train(tmp_path / "resumed")
    assert s1.resumed_from == 10 and s1.step == 30
    a, b = straight.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "parameters or codebook differ"
    assert [h["loss"] for h in s0.history] == [h["loss"] for h in s1.history]  # same curve


def test_a_checkpoint_of_other_settings_is_not_resumed(tmp_path: Path) -> None:
    _train(tmp_path / "ck", iterations=20)
    _, summary = _train(tmp_path / "ck", iterations=30)  # iterations change the trajectory
    assert summary.resumed_from == 0 and summary.step == 30


def test_validation_keeps_its_own_schedule_apart_from_logging(tmp_path: Path) -> None:
    cfg = VQVAETrainConfig(
        iterations=20, batch_size=2, window=16, warmup=0, milestones=(), log_every=5,
        eval_every=7, checkpoint_every=100, device="cpu",
    )  # fmt: skip
    calls: list[int] = []

    def validate(model: MotionVQVAE) -> dict[str, float]:
        calls.append(1)
        return {"calls": float(len(calls))}

    torch.manual_seed(0)
    mean, std = np.zeros(263, np.float32), np.ones(263, np.float32)
    summary = train_vqvae(
        MotionVQVAE(263, TINY), _motions(4), mean, std, cfg, tmp_path, validate=validate,
        progress=False,
    )  # fmt: skip
    rows = {int(r["step"]): r for r in summary.history}
    assert sorted(rows) == [5, 7, 10, 14, 15, 20]  # log rows, validation rows, the last step
    assert {s: r["val_calls"] for s, r in rows.items() if "val_calls" in r} == {7: 1, 14: 2, 20: 3}
    assert all("loss" in rows[s] for s in (5, 10, 15, 20)) and "loss" not in rows[7]
