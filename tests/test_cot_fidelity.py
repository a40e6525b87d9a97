"""CoT fidelity: step labels, order-aware matching against the procedural ground truth."""

from __future__ import annotations

import json

import pytest

from motion_r1_core.cot.fidelity import (
    action_sequence,
    chain_fidelity,
    label_step,
    lcs_length,
    read_decompositions,
    summarise,
)
from motion_r1_core.data.captions import phrases


def test_every_step_and_paraphrase_of_the_corpus_gets_its_own_label(smoke_project) -> None:
    corpus = smoke_project[0] / "data/raw/procedural"
    n = 0
    for line in (corpus / "decompositions.jsonl").read_text().splitlines():
        for step in json.loads(line)["steps"]:
            literal, paraphrases, _ = phrases(step["action"], step["params"], "their")
            for text in [step["text"], literal, *paraphrases]:
                assert label_step(text) == step["action"], text
                n += 1
    assert n > 1000


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("The left leg lifts and kicks forward.", "kick"),
        ("Both arms rise above the head.", "raise_arms"),
        ("The person takes three side steps to the right.", "sidestep"),
        ("The body turns a full circle clockwise.", "spin"),
        ("The knees bend and the hips lower.", None),
        ("The person gets up from the chair.", "stand_up"),
    ],
)
def test_labels_of_free_text(text: str, label: str | None) -> None:
    assert label_step(text) == label


def test_order_aware_matching_by_hand() -> None:
    assert lcs_length("abcbdab", "bdcaba") == 4  # the textbook example
    assert lcs_length([], ["walk"]) == 0
    steps = ["Legs walk forward.", "Legs keep walking.", "The knees bend.", "The right leg kicks."]
    assert action_sequence(steps) == ["walk", "kick"]  # repeat merged, unlabelled dropped
    right = chain_fidelity(steps, ["walk", "kick"])
    assert (right.precision, right.recall, right.unlabelled_steps) == (1.0, 1.0, 1)
    swapped = chain_fidelity(["The right leg kicks.", "Legs walk forward."], ["walk", "kick"])
    assert (swapped.matched, swapped.unordered) == (1, 2)  # out of order: only one counts
    extra = chain_fidelity(["Walk.", "Jump up.", "Clap the hands.", "Kick."], ["walk", "kick"])
    assert (extra.precision, extra.recall) == (0.5, 1.0)
    s = summarise([right, swapped, extra])
    # matched 2 + 1 + 2 = 5 of predicted 2 + 2 + 4 = 8 and of true 2 + 2 + 2 = 6
    assert s["precision"] == pytest.approx(5 / 8) and s["recall"] == pytest.approx(5 / 6)
    assert s["f1"] == pytest.approx(2 * (5 / 8) * (5 / 6) / (5 / 8 + 5 / 6))
    assert s["unordered_recall"] == pytest.approx(6 / 6) and s["exact_sequence"] == 1 / 3


def test_read_decompositions_names_a_bad_line(tmp_path) -> None:
    path = tmp_path / "decompositions.jsonl"
    path.write_text('{"id": "1", "steps": [{"action": "walk"}]}\n{"id": "2"}\n')
    with pytest.raises(ValueError, match=r"decompositions.jsonl:2: not a decomposition record"):
        read_decompositions(path)
