"""The published evaluator's loader, on random weights of the published shapes written to disk."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from motion_r1_core.evaluation.guo_evaluator import POS_CLASSES, GuoEvaluator, WordVectorizer


def _gru(prefix: str, hidden: int, inp: int) -> dict[str, tuple[int, ...]]:
    shapes = {}
    for rev in ("", "_reverse"):
        shapes |= {
            f"{prefix}.weight_ih_l0{rev}": (3 * hidden, inp),
            f"{prefix}.weight_hh_l0{rev}": (3 * hidden, hidden),
            f"{prefix}.bias_ih_l0{rev}": (3 * hidden,),
            f"{prefix}.bias_hh_l0{rev}": (3 * hidden,),
        }
    return shapes


def _head(out_in: int, out: int = 512) -> dict[str, tuple[int, ...]]:
    return {
        "output_net.0.weight": (out, out_in),
        "output_net.0.bias": (out,),
        "output_net.1.weight": (out,),
        "output_net.1.bias": (out,),
        "output_net.3.weight": (out, out),
        "output_net.3.bias": (out,),
    }


# The layout of text_mot_match/model/finest.tar for HumanML3D (263 features, 259 without contacts)
PUBLISHED = {
    "text_encoder": {
        "pos_emb.weight": (300, 15),
        "pos_emb.bias": (300,),
        "input_emb.weight": (512, 300),
        "input_emb.bias": (512,),
        **_gru("gru", 512, 512),
        **_head(1024),
        "hidden": (2, 1, 512),
    },
    "movement_encoder": {
        "main.0.weight": (512, 259, 4),
        "main.0.bias": (512,),
        "main.3.weight": (512, 512, 4),
        "main.3.bias": (512,),
        "out_net.weight": (512, 512),
        "out_net.bias": (512,),
    },
    "motion_encoder": {
        "input_emb.weight": (1024, 512),
        "input_emb.bias": (1024,),
        **_gru("gru", 1024, 1024),
        **_head(2048),
        "hidden": (2, 1, 1024),
    },
}
WORDS = ["unk", "sos", "eos", "a", "person", "walk", "forward", "slowly", "the", "left", "hand"]


def _files(tmp: Path, state=None) -> tuple[Path, Path, Path]:
    g = torch.Generator().manual_seed(0)
    state = state or {
        net: {k: torch.randn(s, generator=g) * 0.05 for k, s in shapes.items()}
        for net, shapes in PUBLISHED.items()
    }
    ckpt = tmp / "finest.tar"
    torch.save({**state, "epoch": 3, "total_it": 1000}, ckpt)
    meta = tmp / "meta"
    meta.mkdir(exist_ok=True)
    np.save(meta / "mean.npy", np.zeros(263, np.float32))
    np.save(meta / "std.npy", np.ones(263, np.float32))
    glove = tmp / "glove"
    glove.mkdir(exist_ok=True)
    np.save(glove / "our_vab_data.npy", np.random.default_rng(0).normal(size=(len(WORDS), 300)))
    (glove / "our_vab_words.pkl").write_bytes(pickle.dumps(WORDS))
    (glove / "our_vab_idx.pkl").write_bytes(pickle.dumps({w: i for i, w in enumerate(WORDS)}))
    return ckpt, meta, glove


@pytest.fixture(scope="module")
def evaluator(tmp_path_factory: pytest.TempPathFactory) -> GuoEvaluator:
    return GuoEvaluator.load(*_files(tmp_path_factory.mktemp("guo")))


def test_loads_the_published_layout_and_embeds_into_512_dims(evaluator: GuoEvaluator) -> None:
    assert evaluator.movement_encoder.main[0].in_channels == 259  # 263 minus 4 foot contacts
    rng = np.random.default_rng(1)
    motions = [rng.normal(size=(n, 263)).astype(np.float32) for n in (40, 196, 63, 120)]
    emb = evaluator.embed_motions(motions)
    assert emb.shape == (4, 512) and np.isfinite(emb).all()
    texts = evaluator.embed_texts([["a/DET", "person/NOUN", "walk/VERB"], ["the/DET"]])
    assert texts.shape == (2, 512) and np.isfinite(texts).all()


def test_padding_and_batch_order_do_not_change_an_embedding(evaluator: GuoEvaluator) -> None:
    rng = np.random.default_rng(2)
    motions = [rng.normal(size=(n, 263)).astype(np.float32) for n in (40, 196, 66, 121)]
    batch = evaluator.embed_motions(motions)
    alone = np.concatenate([evaluator.embed_motions([m]) for m in motions])
    np.testing.assert_allclose(batch, alone, atol=1e-5)
    np.testing.assert_allclose(evaluator.embed_motions(motions[::-1]), batch[::-1], atol=1e-5)
    # frames past the last multiple of 4 are not read: 66 frames embed as 64
    np.testing.assert_allclose(batch[2], evaluator.embed_motions([motions[2][:64]])[0], atol=1e-5)
    texts = [["a/DET", "person/NOUN", "walk/VERB", "forward/ADV"], ["hand/NOUN"]]
    np.testing.assert_allclose(
        evaluator.embed_texts(texts)[0], evaluator.embed_texts(texts[:1])[0], atol=1e-5
    )


def test_word_vectorizer_follows_the_reference_rules(evaluator: GuoEvaluator) -> None:
    words: WordVectorizer = evaluator.words
    vec, pos = words("walk/VERB")
    assert POS_CLASSES[pos.argmax()] == "Act_VIP"  # a VIP word takes its list's class
    assert np.array_equal(vec, words.word2vec["walk"])
    assert POS_CLASSES[words("slowly/ADV")[1].argmax()] == "Desc_VIP"
    assert POS_CLASSES[words("person/NOUN")[1].argmax()] == "NOUN"
    assert POS_CLASSES[words("person/XYZ")[1].argmax()] == "OTHER"  # unknown tag
    vec, pos = words("zebra/NOUN")  # out of vocabulary: unk with OTHER
    assert np.array_equal(vec, words.word2vec["unk"]) and POS_CLASSES[pos.argmax()] == "OTHER"
    w, p, n = words.encode_tokens(["a/DET", "person/NOUN"])
    assert w.shape == (22, 300) and p.shape == (22, 15) and n == 4  # sos a person eos
    assert np.array_equal(w[0], words.word2vec["sos"]) and np.array_equal(
        w[3], words.word2vec["eos"]
    )
    assert all(np.array_equal(w[i], words.word2vec["unk"]) for i in range(4, 22))
    _, _, n = words.encode_tokens(["a/DET"] * 30)
    assert n == 22  # 20 tokens kept


def test_bad_files_are_named(tmp_path: Path) -> None:
    ckpt, meta, glove = _files(tmp_path)
    state = torch.load(ckpt, weights_only=True)
    state["text_encoder"]["hidden"] = torch.zeros(2, 1, 256)
    torch.save(state, ckpt)
    with pytest.raises(ValueError, match=r"finest\.tar: text_encoder does not fit"):
        GuoEvaluator.load(ckpt, meta, glove)
    del state["motion_encoder"]
    torch.save(state, ckpt)
    with pytest.raises(ValueError, match="no motion_encoder state dict"):
        GuoEvaluator.load(ckpt, meta, glove)
    ckpt, meta, glove = _files(tmp_path)
    np.save(meta / "std.npy", np.ones(251, np.float32))
    with pytest.raises(ValueError, match=r"expected \(263,\)"):
        GuoEvaluator.load(ckpt, meta, glove)
    with pytest.raises(FileNotFoundError, match=r"finest\.tar"):
        GuoEvaluator.load(tmp_path / "nope.tar", meta, glove)

    # a pickle that would construct an object (here a Path) is refused
    (glove / "our_vab_words.pkl").write_bytes(pickle.dumps(Path("x")))
    np.save(meta / "std.npy", np.ones(263, np.float32))
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        GuoEvaluator.load(ckpt, meta, glove)


def test_the_protocol_runs_on_the_published_evaluator_from_configured_paths(
    tmp_path: Path,
) -> None:
    from conftest import new_project

    from motion_r1_core.config import load_config
    from motion_r1_core.data.humanml3d import Caption, MotionRecord
    from motion_r1_core.evaluation.protocol import evaluate, load_evaluator

    ckpt, meta, glove = _files(tmp_path)
    root = new_project(tmp_path / "project")
    cfg = load_config("smoke", root=root)
    with pytest.raises(ValueError, match=r"evaluation\.published\.checkpoint"):
        load_evaluator(cfg, "humanml3d", "published")
    cfg = load_config(
        "smoke",
        [
            f"evaluation.published.checkpoint={ckpt}",
            f"evaluation.published.meta={meta}",
            f"evaluation.published.glove={glove}",
            "evaluation.replications=2",
            "evaluation.diversity_times=20",
        ],
        root=root,
    )
    ev = load_evaluator(cfg, "humanml3d", "published")
    assert isinstance(ev, GuoEvaluator)
    rng = np.random.default_rng(2)
    tokens = ("a/DET", "person/NOUN", "walk/VERB", "forward/ADV")
    records = [
        MotionRecord(
            str(i),
            str(i),
            rng.normal(size=(int(rng.integers(40, 200)), 263)).astype(np.float32),
            (Caption("a person walks forward", tokens[: 2 + i % 3]),),
        )
        for i in range(40)
    ]
    report = evaluate(ev, records, cfg.evaluation).summary()
    assert 0 <= report["top1"]["mean"] <= report["top3"]["mean"] <= 1
    assert report["fid"]["mean"] >= 0 and report["diversity"]["mean"] > 0
    with pytest.raises(ValueError, match="no word/POS tokens"):
        ev.embed_captions([Caption("a person walks", ())])
