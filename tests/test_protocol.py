"""The evaluation protocol: crops, groups of 32, the Real row and MultiModality, on evaluators
whose answers are known in advance."""

from __future__ import annotations

import re

import numpy as np
import pytest

from motion_r1_core.config import EvaluationConfig
from motion_r1_core.data.humanml3d import Caption, MotionRecord
from motion_r1_core.evaluation.protocol import crop_length, evaluate, random_crop

DIM = 64


def _records(n: int, rng: np.random.Generator) -> list[MotionRecord]:
    """Sample i: every frame's feature 0 holds i; its captions are 'motion i'."""
    out = []
    for i in range(n):
        length = int(rng.integers(40, 200))
        feats = np.zeros((length, 5), np.float32)
        feats[:, 0] = i
        feats[:, 1] = np.arange(length)  # frame index: lets a test see the crop
        caps = tuple(Caption(f"motion {i}", ("motion/NOUN", f"{i}/NUM")) for _ in range(3))
        out.append(MotionRecord(str(i), str(i), feats, caps))
    return out


class OracleEvaluator:
    """Embeds sample i (text or motion) as the one-hot e_(i mod DIM) scaled by 3."""

    def __init__(self) -> None:
        self.motion_lengths: list[int] = []

    def embed_captions(self, captions) -> np.ndarray:
        return 3 * np.eye(DIM)[[int(c.text.split()[1]) % DIM for c in captions]]

    def embed_motions(self, motions) -> np.ndarray:
        self.motion_lengths += [len(m) for m in motions]
        return 3 * np.eye(DIM)[[int(m[0, 0]) % DIM for m in motions]]


class BlindEvaluator(OracleEvaluator):
    """Every motion gets the same embedding: nothing can be retrieved."""

    def embed_motions(self, motions) -> np.ndarray:
        return np.ones((len(motions), DIM))


def test_crop_length_rounds_to_units_and_shortens_a_third_of_the_time() -> None:
    rng = np.random.default_rng(0)
    lengths = np.array([crop_length(43, rng) for _ in range(6000)])
    assert set(lengths) == {40, 36}
    assert (lengths == 36).mean() == pytest.approx(1 / 3, abs=0.02)
    assert {crop_length(5, rng) for _ in range(50)} == {4}  # never below one unit
    with pytest.raises(ValueError, match="3 frames"):
        crop_length(3, rng)
    feats = np.arange(100, dtype=np.float32)[:, None]
    for _ in range(50):
        c = random_crop(feats, rng)
        assert len(c) in (100, 96) and np.array_equal(c[:, 0], np.arange(c[0, 0], c[0, 0] + len(c)))


def test_real_row_of_a_perfect_evaluator() -> None:
    rng = np.random.default_rng(1)
    records = _records(64, rng)  # two groups of 32, all ids distinct modulo DIM
    cfg = EvaluationConfig(replications=4, diversity_times=40)
    ev = OracleEvaluator()
    report = evaluate(ev, records, cfg)
    s = report.summary()
    for k in ("top1", "top2", "top3"):
        assert report.values[k] == [1.0] * 4 and s[k] == {"mean": 1.0, "interval": 0.0}
    assert s["mm_dist"]["mean"] == pytest.approx(0.0, abs=1e-12)
    # reference and generated passes embed the same 64 samples: identical Gaussians
    assert s["fid"]["mean"] == pytest.approx(0.0, abs=1e-4)
    # distinct one-hots are 3 * sqrt(2) apart; a random pair is the same sample w.p. 1/64
    assert s["diversity"]["mean"] == pytest.approx(3 * np.sqrt(2) * 63 / 64, rel=0.03)
    assert "multimodality" not in s  # the Real row has none
    # shuffled across captions: about chance (k / 32), far below the real pairing
    assert s["top3_shuffled"]["mean"] < 0.25
    assert report.settings["samples_per_replication"] == 64
    # every embedded motion is a protocol crop: a multiple of 4 frames
    assert ev.motion_lengths and all(n % 4 == 0 for n in ev.motion_lengths)
    assert report.table_row("Real").startswith("| Real | 1.000±0.000 | 1.000±0.000 | 1.000±0.000")
    # deterministic by seed, different across seeds
    again = evaluate(OracleEvaluator(), records, cfg)
    assert again.values == report.values
    other = evaluate(OracleEvaluator(), records, cfg.model_copy(update={"seed": 5}))
    assert other.values["diversity"] != report.values["diversity"]


def test_drop_last_and_an_evaluator_that_cannot_see_motions() -> None:
    rng = np.random.default_rng(2)
    records = _records(70, rng)  # 70 -> two groups of 32; 6 samples dropped per replication
    cfg = EvaluationConfig(replications=3, diversity_times=40)
    report = evaluate(BlindEvaluator(), records, cfg)
    s = report.summary()
    assert report.settings["samples_per_replication"] == 64
    assert s["top1"]["mean"] == 0.0 and s["top3"]["mean"] == 0.0  # ties count against the text
    assert s["diversity"]["mean"] == 0.0 and s["fid"]["mean"] == pytest.approx(0.0, abs=1e-6)


def test_interval_is_1_96_std_over_sqrt_n() -> None:
    rng = np.random.default_rng(3)
    records = _records(64, rng)
    report = evaluate(
        OracleEvaluator(), records, EvaluationConfig(replications=5, diversity_times=40)
    )
    d = np.array(report.values["diversity"])
    s = report.summary()["diversity"]
    assert s["mean"] == pytest.approx(d.mean()) and s["interval"] == pytest.approx(
        1.96 * d.std() / np.sqrt(5)
    )
    flat = report.flat("real/")
    assert flat["real/diversity"] == s["mean"] and flat["real/diversity_interval"] == s["interval"]


def test_multimodality_of_a_sampling_generator() -> None:
    rng = np.random.default_rng(4)
    records = _records(64, rng)
    cfg = EvaluationConfig(
        replications=2, diversity_times=40, mm_num_samples=8, mm_repeats=12, mm_times=5
    )

    def deterministic(recs, caps, rng):
        return [r.features[:40] for r in recs]

    def two_ways(recs, caps, rng):
        # each generation is its own sample (id i) or the next one (i + 1), at random
        out = []
        for r in recs:
            m = r.features[:40].copy()
            m[:, 0] += rng.integers(0, 2)
            out.append(m)
        return out

    ev = OracleEvaluator()
    det = evaluate(ev, records, cfg, generate=deterministic, samples=True).summary()
    assert det["multimodality"]["mean"] == 0.0 and det["top1"]["mean"] == 1.0
    mm = evaluate(ev, records, cfg, generate=two_ways, samples=True).summary()
    # a pair differs w.p. 1/2 and then lies 3 * sqrt(2) apart
    assert mm["multimodality"]["mean"] == pytest.approx(3 * np.sqrt(2) / 2, rel=0.3)
    # hit w.p. 1/2, unless another sample of the group landed on the same id (a tie): ~0.38
    assert 0.2 < mm["top1"]["mean"] < 0.5


def test_clear_errors_for_too_few_samples_and_a_short_generator() -> None:
    rng = np.random.default_rng(5)
    with pytest.raises(ValueError, match=re.escape("evaluation.batch=32")):
        evaluate(OracleEvaluator(), _records(20, rng), EvaluationConfig())
    with pytest.raises(ValueError, match=re.escape("evaluation.diversity_times=300")):
        evaluate(OracleEvaluator(), _records(64, rng), EvaluationConfig())
    with pytest.raises(ValueError, match="returned 1 motions for 64"):
        evaluate(
            OracleEvaluator(),
            _records(64, rng),
            EvaluationConfig(diversity_times=40),
            generate=lambda recs, caps, rng: [recs[0].features],
        )
    with pytest.raises(ValueError, match="mm_repeats=10 must exceed"):
        evaluate(
            OracleEvaluator(),
            _records(64, rng),
            EvaluationConfig(diversity_times=40, mm_repeats=10, mm_times=10),
            samples=True,
        )
