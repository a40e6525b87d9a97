"""Text-motion encoders: padding never leaks, InfoNCE and its duplicate mask, recall by hand."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from motion_r1_core.config import EncodersConfig, MotionEncoderConfig
from motion_r1_core.encoders.model import (
    MotionEncoder,
    SentenceEmbedder,
    TextMotionModel,
    TextProjection,
    pad,
)
from motion_r1_core.encoders.train import (
    PairData,
    embed_motions,
    embed_texts,
    info_nce,
    random_crops,
    retrieval_recall,
    train_encoder,
)


@pytest.mark.parametrize("arch", ["conv", "transformer"])
def test_padding_does_not_change_an_embedding(arch: str) -> None:
    torch.manual_seed(0)
    enc = MotionEncoder(263, 32, MotionEncoderConfig(arch=arch, width=32, layers=2)).eval()
    x = torch.randn(1, 50, 263)
    alone = enc(x, torch.tensor([50]))
    padded = torch.cat([x, 100 * torch.randn(1, 30, 263)], dim=1)  # garbage after the end
    assert torch.allclose(enc(padded, torch.tensor([50])), alone, atol=1e-5)
    assert torch.allclose(alone.norm(dim=-1), torch.ones(1))
    with pytest.raises(ValueError, match=r"\(B, T, 263\)"):
        enc(torch.randn(1, 10, 251), torch.tensor([10]))


def test_info_nce_by_hand_and_its_duplicate_mask() -> None:
    t = torch.eye(3)
    m = torch.eye(3)
    # temperature 1: logits 1 on the diagonal, 0 elsewhere: loss = -log(e / (e + 2))
    expected = -math.log(math.e / (math.e + 2))
    assert float(info_nce(t, m, 1.0)) == pytest.approx(expected, rel=1e-6)
    # texts 0 and 1 are near-duplicates: each loses one negative in both directions
    sim = torch.tensor([[1.0, 0.9, 0.1], [0.9, 1.0, 0.1], [0.1, 0.1, 1.0]])
    masked = float(info_nce(t, m, 1.0, sim, threshold=0.8))
    rows = [-math.log(math.e / (math.e + 1))] * 2 + [expected]
    assert masked == pytest.approx(sum(rows) / 3, rel=1e-6)
    assert float(info_nce(t, m, 0.1)) < float(info_nce(t, m, 1.0))  # sharper: more confident
    # a perfect pairing beats a swapped one
    assert float(info_nce(t, m[[1, 0, 2]], 0.1)) > float(info_nce(t, m, 0.1))


def test_random_crops_are_multiples_of_four_inside_their_motion() -> None:
    rng = np.random.default_rng(0)
    motions = [np.arange(n, dtype=np.float32)[:, None].repeat(3, 1) for n in (45, 120, 200)]
    for _ in range(20):
        x, lengths = random_crops(motions, np.array([0, 1, 2]), 40, rng)
        for b, n in enumerate(lengths.tolist()):
            assert n % 4 == 0 and 40 <= n <= len(motions[b])
            frames = x[b, :n, 0].numpy()
            assert np.array_equal(frames, np.arange(frames[0], frames[0] + n))  # contiguous
            assert (x[b, n:] == 0).all()


def test_recall_by_hand() -> None:
    motion = np.eye(4)
    text = motion[[0, 1, 3, 2]]  # texts 2 and 3 point at each other's motion
    r = retrieval_recall(text, motion, ks=(1, 2))
    assert r == {1: 0.5, 2: 0.5}  # the own motion has similarity 0, tied with two others
    assert retrieval_recall(motion, motion, ks=(1,)) == {1: 1.0}


def test_minilm_loads_offline_and_separates_paraphrases() -> None:
    emb = SentenceEmbedder()
    v = emb.embed(["a person walks forward", "someone strolls ahead", "a man jumps up high"])
    assert v.shape == (3, 384) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2
    assert emb.embed([]).shape == (0, 384)
    with pytest.raises(FileNotFoundError, match=r"modules\.json"):
        SentenceEmbedder(folder=emb.folder.parent / "nowhere")


@pytest.mark.slow
def test_training_separates_two_kinds_of_motion() -> None:
    """Two motion families and two caption families: a short run retrieves each one's own."""
    rng = np.random.default_rng(0)
    t = np.linspace(0, 4 * np.pi, 60, dtype=np.float32)
    motions, captions = [], []
    for i in range(32):
        kind = i % 2
        m = rng.normal(0, 0.1, size=(60, 263)).astype(np.float32)
        m[:, kind] += 2 * np.sin(t + rng.uniform(0, 1))  # kind 0 moves feature 0, kind 1 feature 1
        motions.append(m)
        captions.append([kind])
    sentences = np.eye(2, 16, dtype=np.float32)
    data = PairData(motions, captions, sentences)
    cfg = EncodersConfig(iterations=150, batch_size=8, lr=1e-3, min_crop=40, latent=16)
    torch.manual_seed(0)
    enc = MotionEncoder(263, 16, MotionEncoderConfig(arch="conv", width=32, layers=2))
    proj = TextProjection(16, 16, hidden=32)
    summary = train_encoder(enc, proj, data, cfg, seed=0, device=torch.device("cpu"))
    assert summary.history[-1]["loss"] < summary.history[0]["loss"]
    m = embed_motions(enc, motions, torch.device("cpu"))
    txt = embed_texts(proj, sentences, torch.device("cpu"))
    kinds = np.array([c[0] for c in captions])
    assert ((m @ txt.T).argmax(1) == kinds).mean() == 1.0


def _toy_data(n: int = 24) -> PairData:
    rng = np.random.default_rng(1)
    motions = [
        rng.normal(size=(int(rng.integers(44, 90)), 263)).astype(np.float32) for _ in range(n)
    ]
    sentences = rng.normal(size=(n, 16)).astype(np.float32)
    return PairData(motions, [[i] for i in range(n)], sentences)


def _train(data: PairData, ckpt: Path, stop_at: int | None = None):
    cfg = EncodersConfig(
        iterations=30, batch_size=8, latent=16, log_every=7, checkpoint_every=10, min_crop=40
    )
    torch.manual_seed(3)
    enc = MotionEncoder(263, 16, MotionEncoderConfig(arch="transformer", width=32, layers=1))
    proj = TextProjection(16, 16, hidden=32)

    def on_step(step: int) -> None:
        if step == stop_at:
            raise KeyboardInterrupt

    summary = train_encoder(
        enc, proj, data, cfg, 0, torch.device("cpu"), ckpt_dir=ckpt, on_step=on_step
    )
    return enc, proj, summary


def test_interrupted_training_resumes_bit_for_bit(tmp_path: Path) -> None:
    data = _toy_data()
    enc_a, proj_a, full = _train(data, tmp_path / "a")
    with pytest.raises(KeyboardInterrupt):
        _train(data, tmp_path / "b", stop_at=25)  # dies after the step-20 checkpoint
    enc_b, proj_b, resumed = _train(data, tmp_path / "b")
    assert (full.resumed_from, resumed.resumed_from) == (0, 20)
    for a, b in ((enc_a, enc_b), (proj_a, proj_b)):
        for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
            assert torch.equal(va, vb), k
    assert resumed.history == full.history  # loss rows, including one spanning the kill
    # another seed or other data never resumes from these checkpoints
    _, _, fresh = _train(_toy_data(20), tmp_path / "b")
    assert fresh.resumed_from == 0


def test_text_motion_model_roundtrip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    emb = SentenceEmbedder()
    cfg = MotionEncoderConfig(arch="conv", width=32, layers=2)
    mean = np.full(263, 0.5, np.float32)
    std = np.full(263, 2.0, np.float32)
    model = TextMotionModel(
        MotionEncoder(263, 16, cfg).eval(),
        TextProjection(emb.dim, 16, 64).eval(),
        mean,
        std,
        info={"role": "reward"},
        sentences=emb,
    )
    rng = np.random.default_rng(0)
    motions = [rng.normal(size=(n, 263)).astype(np.float32) for n in (40, 77, 196)]
    path = model.save(tmp_path / "m.safetensors")
    loaded = TextMotionModel.load(path)
    assert loaded.info == {"role": "reward"} and loaded.motion.cfg == cfg
    np.testing.assert_allclose(
        loaded.embed_motions(motions), model.embed_motions(motions), atol=1e-6
    )
    # normalisation is applied: the same motion un-normalised by hand gives the same embedding
    direct = model.motion(*pad([(m - mean) / std for m in motions])).detach().numpy()
    np.testing.assert_allclose(model.embed_motions(motions), direct, atol=1e-6)
    texts = ["a person waves", "someone jumps twice"]
    np.testing.assert_allclose(loaded.embed_texts(texts), model.embed_texts(texts), atol=1e-6)
    # embedding one at a time equals embedding in a batch
    one = np.concatenate([model.embed_motions([m]) for m in motions])
    np.testing.assert_allclose(one, model.embed_motions(motions), atol=1e-5)
    vq = tmp_path / "other.safetensors"
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, str(vq), metadata={"format": "something-else"})
    with pytest.raises(ValueError, match="not a motion-r1 text-motion encoder"):
        TextMotionModel.load(vq)
    with pytest.raises(FileNotFoundError, match="missing"):
        TextMotionModel.load(tmp_path / "none.safetensors")


def test_a_partial_role_section_keeps_that_roles_defaults() -> None:
    cfg = EncodersConfig.model_validate({"evaluator": {"width": 64}, "reward": {"layers": 2}})
    assert (cfg.evaluator.arch, cfg.evaluator.seed, cfg.evaluator.width) == ("transformer", 2, 64)
    assert (cfg.reward.arch, cfg.reward.seed, cfg.reward.layers) == ("conv", 1, 2)
