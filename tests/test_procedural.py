"""Procedural corpus: kinematics and primitives (numbers), captions, and the HumanML3D layout."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from motion_r1_core.data import body, load_split, primitives
from motion_r1_core.data.procedural import (
    caption_line,
    fit_frames,
    generate_motion,
    make_captions,
    pos_tags,
    synthesize_corpus,
)
from motion_r1_core.features import feature_mean_std, recover_from_ric
from motion_r1_core.skeleton import HUMANML3D

FPS = 20
(L_WRIST, R_WRIST), (L_SHOULDER, R_SHOULDER), HEAD = body.WRISTS, body.SHOULDERS, body.HEAD
L_ANKLE, R_ANKLE = body.ANKLES


def build(name: str, n: int | None = None, seed: int = 0, **overrides) -> tuple:
    """Joints (n, 22, 3) of one primitive from the origin facing +z, its params and measures.

    Without `n` the longest length sampled for it is used: long enough for forced parameters.
    """
    params = primitives.PRIMITIVES[name].sample(np.random.default_rng(seed))
    params.update(overrides)
    joints, derived = primitives.build_motion([(name, params, n or params["_frames"][2])])
    return joints, params, derived[0]


def heading(joints: np.ndarray) -> np.ndarray:
    """Unwrapped facing yaw per frame (radians, + = turned left) from hips and shoulders."""
    across = (joints[:, 1] - joints[:, 2]) + (joints[:, 16] - joints[:, 17])  # right -> left
    return np.unwrap(np.arctan2(-across[:, 2], across[:, 0]))


# ------------------------------------------------------------------------------ kinematics
def test_bone_lengths_are_the_target_subjects_in_every_frame():
    for seed in range(6):
        joints = generate_motion(np.random.default_rng(seed)).joints
        lengths = HUMANML3D.bone_lengths_of(torch.from_numpy(joints))[:, 1:].numpy()
        np.testing.assert_allclose(
            lengths, np.broadcast_to(HUMANML3D.bone_lengths[1:], lengths.shape), atol=2e-5
        )


def test_generate_motion_is_deterministic_by_seed():
    a = generate_motion(np.random.default_rng(7))
    b = generate_motion(np.random.default_rng(7))
    c = generate_motion(np.random.default_rng(8))
    assert np.array_equal(a.joints, b.joints) and a.captions == b.captions and a.steps == b.steps
    assert (
        a.captions != c.captions
        or a.joints.shape != c.joints.shape
        or not np.allclose(a.joints, c.joints)
    )


def test_lengths_steps_and_floor():
    for seed in range(40):
        m = generate_motion(np.random.default_rng(seed), max_primitives=4)
        assert body.MIN_FRAMES <= len(m.joints) <= body.MAX_FRAMES  # 40..196 rows
        assert 1 <= len(m.steps) <= 4 and len(m.captions) == 3
        assert m.steps[0].start_frame == 0 and m.steps[-1].end_frame == len(m.joints)
        for prev, nxt in zip(m.steps[:-1], m.steps[1:], strict=True):
            assert prev.end_frame == nxt.start_frame
        # nothing goes through the floor, and the lowest point touches it
        assert 0.0 <= m.joints[..., 1].min() < 0.05
        assert np.isfinite(m.joints).all()


def test_fit_frames_respects_total_and_ranges():
    ranges = [(30, 60, 100), (40, 90, 120), (35, 80, 90)]
    frames = fit_frames(ranges)
    assert sum(frames) == body.MAX_FRAMES
    assert all(lo <= f <= hi for f, (lo, _, hi) in zip(frames, ranges, strict=True))
    short = fit_frames([(20, 25, 60)])
    assert short == [body.MIN_FRAMES]


def test_named_joints_follow_the_skeleton():
    names = HUMANML3D.joint_names
    assert (names[body.NECK], names[body.CHEST], names[body.PELVIS]) == ("neck", "spine3", "pelvis")
    assert [names[j] for j in body.COLLARS] == ["left_collar", "right_collar"]
    assert [names[j] for j in body.TOES] == ["left_foot", "right_foot"]  # SMPL's toe joints
    # the pose-driven joints: spine, neck, head and arms; the legs come from IK
    assert body.UPPER == (3, 6, 9, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21)
    with pytest.raises(KeyError, match="no joint 'tail'"):
        HUMANML3D.joint("tail")


# ------------------------------------------------------------------------------ primitives
def test_walk_stance_feet_do_not_slide():
    joints = build("walk", n=120, direction="forward", curve="none")[0]
    stance_frames = 0
    for ankle in (L_ANKLE, R_ANKLE):
        y = joints[:, ankle, 1]
        low = y < body.ANKLE_HEIGHT + 1e-3
        both = low[1:] & low[:-1]
        step = np.linalg.norm(np.diff(joints[:, ankle, [0, 2]], axis=0), axis=-1)
        assert step[both].max() < 1e-3  # m per frame while on the ground
        stance_frames += both.sum()
        assert step.max() > 0.03  # and the foot does travel during its swings
    assert stance_frames > 0.5 * len(joints)


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_walk_moves_along_the_facing_direction(direction):
    joints, p, d = build("walk", n=120, direction=direction, curve="none")
    root = joints[:, 0, [0, 2]]
    disp = root[-1] - root[0]
    sign = 1 if direction == "forward" else -1
    # facing +z at the start: forward is +z, the subject's left is +x
    assert sign * disp[1] == pytest.approx(d["distance_m"], rel=0.02)
    assert abs(disp[0]) < 0.02
    speed = np.linalg.norm(np.diff(root, axis=0), axis=-1) * FPS
    cruise = np.median(speed[speed > 0.1 * p["speed"]])
    assert cruise == pytest.approx(p["speed"], rel=0.1)
    moving = (speed > 0.05).sum() / FPS
    assert d["distance_m"] == pytest.approx(p["speed"] * moving, rel=0.35)
    assert abs(np.degrees(heading(joints)[-1] - heading(joints)[0])) < 2


@pytest.mark.parametrize(("side", "angle"), [("left", 90.0), ("right", 120.0), ("left", 170.0)])
def test_turn_changes_heading_by_the_angle_with_the_right_sign(side, angle):
    joints, _, d = build("turn", side=side, angle_deg=angle)
    change = np.degrees(heading(joints)[-1] - heading(joints)[0])
    expected = angle if side == "left" else -angle  # left = counter-clockwise from above (+y)
    assert change == pytest.approx(expected, abs=4)
    assert d["turn_deg"] == pytest.approx(expected, abs=0.5)
    root = joints[:, 0, [0, 2]]
    assert np.linalg.norm(root - root[0], axis=-1).max() < 0.05  # in place


@pytest.mark.parametrize(("direction", "sign"), [("counterclockwise", 1), ("clockwise", -1)])
def test_spin_is_a_full_turn(direction, sign):
    joints = build("spin", direction=direction)[0]
    assert np.degrees(heading(joints)[-1] - heading(joints)[0]) == pytest.approx(sign * 360, abs=5)


def test_curved_walk_turns_towards_its_side():
    joints = build("walk", n=120, direction="forward", curve="left", curve_deg=100.0)[0]
    assert np.degrees(heading(joints)[-1] - heading(joints)[0]) == pytest.approx(100, abs=4)
    assert joints[-1, 0, 0] > 1.0  # ends up on the subject's initial left (+x)


@pytest.mark.parametrize("side", ["left", "right"])
def test_sidestep_moves_to_the_subjects_side(side):
    joints = build("sidestep", side=side, steps=3, step_width=0.3)[0]
    shift = joints[-1, 0, 0] - joints[0, 0, 0]  # +x is the subject's left
    assert shift == pytest.approx((1 if side == "left" else -1) * 0.9, abs=0.03)


@pytest.mark.parametrize("side", ["left", "right"])
def test_wave_raises_the_named_hand_only(side):
    joints = build("wave", side=side)[0]
    wrist, other = (L_WRIST, R_WRIST) if side == "left" else (R_WRIST, L_WRIST)
    other_shoulder = R_SHOULDER if side == "left" else L_SHOULDER
    assert (joints[:, wrist, 1] - joints[:, HEAD, 1]).max() > 0.05  # above the head
    assert (joints[:, other, 1] - joints[:, other_shoulder, 1]).max() < -0.3  # stays down
    # the waving hand swings side to side while up
    up = joints[:, wrist, 1] > joints[:, HEAD, 1]
    assert np.ptp(joints[up, wrist, 0]) > 0.05


@pytest.mark.parametrize("side", ["left", "right"])
def test_kick_lifts_the_named_leg_and_plants_the_other(side):
    joints = build("kick", side=side, height=0.7)[0]
    kick, stance = (L_ANKLE, R_ANKLE) if side == "left" else (R_ANKLE, L_ANKLE)
    assert joints[:, kick, 1].max() == pytest.approx(0.7, abs=0.03)
    assert joints[:, kick, 2].max() > 0.4  # forward
    assert np.ptp(joints[:, stance], axis=0).max() < 1e-4


def test_jump_flight_is_ballistic():
    joints = build("jump", mode="in_place", count=1, rise=0.25, crouch=0.15)[0]
    feet_y = joints[:, [L_ANKLE, R_ANKLE], 1].min(1)
    airborne = np.flatnonzero(feet_y > body.ANKLE_HEIGHT + body.TOE_RISE + 0.01)
    assert len(airborne) >= 6
    inner = airborne[1:-1]
    accel = (joints[inner + 1, 0, 1] - 2 * joints[inner, 0, 1] + joints[inner - 1, 0, 1]) * FPS**2
    np.testing.assert_allclose(accel, -body.GRAVITY, atol=0.6)
    apex = joints[:, 0, 1].max() - joints[0, 0, 1]
    assert apex == pytest.approx(0.25 + 0.04, abs=0.04)  # rise above take-off on the toes


def test_sit_down_lowers_the_hips_back_with_knees_bent():
    joints = build("sit_down", seat_height=0.54, seat_back=0.38)[0]
    last = joints[-1]
    assert last[0, 1] == pytest.approx(0.54, abs=0.02)
    feet_z = last[[L_ANKLE, R_ANKLE], 2].mean()
    assert feet_z - last[0, 2] == pytest.approx(0.38, abs=0.02)  # hips behind the feet
    for hip, knee, ankle in ((1, 4, 7), (2, 5, 8)):
        a, b = last[hip] - last[knee], last[ankle] - last[knee]
        angle = np.degrees(np.arccos(a @ b / np.linalg.norm(a) / np.linalg.norm(b)))
        assert 70 < angle < 110  # about a right angle at the knee


def test_stand_up_first_starts_seated_and_ends_standing():
    joints = build("stand_up")[0]
    assert joints[0, 0, 1] < 0.6 and joints[-1, 0, 1] > 0.9


# --------------------------------------------------------------------------------- captions
def _conjugate(text: str) -> str:
    verb, _, rest = text.partition(" ")
    return f"{verb}s {rest}".strip()


def test_literal_caption_lists_the_decomposition_in_order():
    for seed in range(60):
        m = generate_motion(np.random.default_rng(seed))
        parts = [_conjugate(s.text) for s in m.steps]
        joined = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + ", then " + parts[-1]
        assert m.captions[0] == f"a person {joined}."
        assert len(set(m.captions)) == 3
        if len(m.steps) > 1:  # the high-level caption names no step and no side
            assert not any(_conjugate(s.text) in m.captions[2] for s in m.steps)
            assert "left" not in m.captions[2] and "right" not in m.captions[2]


def test_caption_sides_follow_the_parameters():
    p = primitives.PRIMITIVES["wave"].sample(np.random.default_rng(0))
    for side in ("left", "right"):
        caps = make_captions(["wave"], [{**p, "side": side}], np.random.default_rng(1))
        other = "right" if side == "left" else "left"
        assert all(side in c and other not in c for c in caps)
    turn = primitives.PRIMITIVES["turn"].sample(np.random.default_rng(0))
    caps = make_captions(
        ["turn"], [{**turn, "side": "left", "angle_deg": 90.0}], np.random.default_rng(0)
    )
    assert caps[0] == "a person turns left."


def test_pos_tags_spacy_style():
    assert pos_tags("a person walks forward, then waves with the right hand.") == [
        "a/DET",
        "person/NOUN",
        "walk/VERB",
        "forward/ADV",
        "then/ADV",
        "wave/VERB",
        "with/ADP",
        "the/DET",
        "right/ADJ",
        "hand/NOUN",
    ]
    assert pos_tags("someone takes a bow and turns left 2x, 90 degrees")[1:] == [
        "take/VERB",
        "a/DET",
        "bow/NOUN",
        "and/CCONJ",
        "turn/VERB",
        "left/ADV",
        "degree/NOUN",
    ]  # non-alphabetic tokens ("2x", "90") are dropped
    line = caption_line("a man claps his hands twice.")  # possessives: DET, as in HumanML3D
    assert (
        line == "a man claps his hands twice.#a/DET man/NOUN clap/VERB his/DET hand/NOUN "
        "twice/ADV#0.0#0.0"
    )


@pytest.mark.slow
def test_every_generated_word_is_in_the_lexicon():
    for seed in range(150):
        for caption in generate_motion(np.random.default_rng(seed)).captions:
            unknown = [t for t in pos_tags(caption) if t.endswith("/X")]
            assert not unknown, (caption, unknown)


# ------------------------------------------------------------------------------------ corpus
@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("corpus") / "procedural"
    summary = synthesize_corpus(out, motions=16, seed=11, progress=False)
    assert summary.n_motions == 16 and summary.n_captions == 48
    assert summary.split_sizes == {"train": 13, "val": 1, "test": 2}
    return out


def _ids(folder: Path, split: str) -> list[str]:
    return (folder / f"{split}.txt").read_text().split()


def test_corpus_layout_and_shapes(corpus):
    ids = _ids(corpus, "all")
    assert ids == [f"{i:06d}" for i in range(16)]
    for i in ids:
        feats = np.load(corpus / "new_joint_vecs" / f"{i}.npy")
        joints = np.load(corpus / "new_joints" / f"{i}.npy")
        assert feats.dtype == np.float32 and joints.dtype == np.float32
        assert feats.shape[1] == 263 and 40 <= len(feats) <= 196
        assert joints.shape == (len(feats), 22, 3)
        np.testing.assert_allclose(
            joints, recover_from_ric(torch.from_numpy(feats)).numpy(), atol=1e-6
        )
        lines = (corpus / "texts" / f"{i}.txt").read_text().splitlines()
        assert len(lines) == 3
        for line in lines:
            fields = line.split("#")
            assert len(fields) == 4 and fields[2:] == ["0.0", "0.0"]
            assert fields[1] == " ".join(pos_tags(fields[0]))


def test_corpus_splits_are_disjoint_and_cover(corpus):
    train, val, test = (set(_ids(corpus, s)) for s in ("train", "val", "test"))
    assert not (train & val or train & test or val & test)
    assert train | val | test == set(_ids(corpus, "all"))
    assert set(_ids(corpus, "train_val")) == train | val


def test_corpus_mean_std_over_train(corpus):
    train = [np.load(corpus / "new_joint_vecs" / f"{i}.npy") for i in _ids(corpus, "train")]
    mean, std = feature_mean_std(train)
    np.testing.assert_array_equal(np.load(corpus / "Mean.npy"), mean)
    np.testing.assert_array_equal(np.load(corpus / "Std.npy"), std)
    assert mean.shape == (263,) and (std > 0).all()


def test_corpus_decompositions_match_captions_and_frames(corpus):
    records = [json.loads(ln) for ln in (corpus / "decompositions.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == _ids(corpus, "all")
    for r in records:
        rows = len(np.load(corpus / "new_joint_vecs" / f"{r['id']}.npy"))
        steps = r["steps"]
        assert steps[0]["start_frame"] == 0 and steps[-1]["end_frame"] == rows
        assert all(a["end_frame"] == b["start_frame"] for a, b in itertools.pairwise(steps))
        assert all(s["action"] in primitives.PRIMITIVES and s["params"] for s in steps)
        literal = (corpus / "texts" / f"{r['id']}.txt").read_text().split("#")[0]
        at = 0
        for s in steps:  # each step's phrase appears after the previous one
            at = literal.index(_conjugate(s["text"]), at) + 1


def test_corpus_reads_with_the_humanml3d_loaders(corpus):
    records = load_split(corpus, "train")
    assert len(records) == len(_ids(corpus, "train"))
    assert all(len(r.captions) == 3 for r in records)


def test_corpus_is_byte_identical_by_seed(corpus, tmp_path):
    again = tmp_path / "again"
    synthesize_corpus(again, motions=16, seed=11, progress=False)
    files = sorted(p.relative_to(corpus) for p in corpus.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for f in files:
        assert (corpus / f).read_bytes() == (again / f).read_bytes(), f
    other = tmp_path / "other"
    synthesize_corpus(other, motions=16, seed=12, progress=False)
    assert (other / "texts" / "000000.txt").read_bytes() != (
        corpus / "texts" / "000000.txt"
    ).read_bytes()


def test_worker_processes_give_the_same_files(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    synthesize_corpus(a, motions=6, seed=3, progress=False, workers=1)
    synthesize_corpus(b, motions=6, seed=3, progress=False, workers=2)
    for f in sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file()):
        assert (a / f).read_bytes() == (b / f).read_bytes(), f


def test_refuses_to_overwrite_a_foreign_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a procedural corpus"):
        synthesize_corpus(tmp_path, motions=2, seed=0, progress=False)
