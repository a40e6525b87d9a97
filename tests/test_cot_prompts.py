"""Strict parsing of decompositions and verdicts, and the deterministic chain checks."""

from __future__ import annotations

import pytest

from motion_r1_core.cot.checks import ChainLimits, check_chain
from motion_r1_core.cot.prompts import (
    EXAMPLES,
    JUDGE_EXAMPLES,
    Chain,
    ParseError,
    decompose_messages,
    judge_messages,
    parse_chain,
    parse_verdict,
)

GOOD = "Plan: kick with the left leg.\n1. The left leg kicks forward.\n2. The left leg returns to the ground."


def test_parse_a_good_answer_and_round_trip_it() -> None:
    chain = parse_chain("<think>let me see</think>\n\n" + GOOD.replace("2.", "2)") + "\n")
    assert chain.steps == ("The left leg kicks forward.", "The left leg returns to the ground.")
    assert chain.plan == "kick with the left leg."
    assert parse_chain(chain.as_text()) == chain
    assert (
        parse_chain("**Plan:** raise arms\n**1.** Arms rise.\n2. Arms fall.").steps[0]
        == "Arms rise."
    )
    for _, answer in EXAMPLES:  # the in-context examples obey the format they teach
        assert parse_chain(answer).plan


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("", "empty answer"),
        ("Plan: walk", "no numbered steps"),
        ("1. walk\n2. stop", "the first line is not a 'Plan:' line"),
        ("Plan: x\n1. walk\n3. stop", "numbered 3 where 2 was due"),
        ("Sure! Here it is:\nPlan: x\n1. walk", "the first line is not a 'Plan:'"),
        ("Plan: x\n1. walk\nThat is all.", "not a numbered step: 'That is all.'"),
        ("Plan:\n1. walk", "the first line is not a 'Plan:' line"),
    ],
)
def test_malformed_answers_are_errors_not_empty_chains(answer: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_chain(answer)


def test_verdicts() -> None:
    v = parse_verdict(
        'Scores: {"relevance": 4, "logic": "5", "conciseness": 2, "feedback": "wordy"}'
    )
    assert (v.relevance, v.logic, v.conciseness, v.feedback, v.lowest) == (4, 5, 2, "wordy", 2)
    lines = parse_verdict("Relevance: 5\n**logic**: 3\nconciseness: 4\nfeedback: none\nlogic: 1")
    assert (lines.relevance, lines.logic, lines.conciseness, lines.feedback) == (5, 3, 4, "")
    with pytest.raises(ParseError, match="no score lines and no JSON"):
        parse_verdict("looks fine to me")
    with pytest.raises(ParseError, match=r"'relevance' must be an integer 1\.\.5, got 'high'"):
        parse_verdict("relevance: high\nlogic: 5\nconciseness: 5")
    with pytest.raises(ParseError, match=r"'logic' must be an integer 1\.\.5, got 7"):
        parse_verdict('{"relevance": 4, "logic": 7, "conciseness": 2}')
    with pytest.raises(ParseError, match="'conciseness'"):
        parse_verdict('{"relevance": 4, "logic": 3}')


def test_messages_hold_the_caption_examples_and_feedback() -> None:
    msgs = decompose_messages("a man jumps")
    assert msgs[0]["role"] == "system" and msgs[-1] == {"role": "user", "content": "a man jumps"}
    assert "write 2 to 6 numbered steps" in msgs[0]["content"]  # cot.limits of params.yaml
    assert "write 3 to 4 numbered steps" in decompose_messages("x", steps=(3, 4))[0]["content"]
    assert len(msgs) == 1 + 2 * len(EXAMPLES) + 1
    retry = decompose_messages("a man jumps", feedback="step 2 invents a kick", previous=GOOD)
    assert retry[-2] == {"role": "assistant", "content": GOOD}
    assert "step 2 invents a kick" in retry[-1]["content"]
    judged = judge_messages("a man kicks", parse_chain(GOOD))
    assert judged[0]["role"] == "system" and len(judged) == 1 + 2 * len(JUDGE_EXAMPLES) + 1
    assert judged[-1]["content"].startswith(
        "Description: a man kicks\nSteps:\nPlan: kick with the left leg.\n1."
    )
    for example in judged[2:-1:2]:  # the scored examples parse with the judge's own parser
        assert parse_verdict(example["content"]).lowest in (2, 5)


def test_deterministic_checks() -> None:
    caption = "a person kicks forward with the left leg"
    assert check_chain(caption, parse_chain(GOOD)) == []
    swapped = Chain(("The right leg kicks forward.", "The right leg goes down."), "kick right")
    assert check_chain(caption, swapped) == ["the caption says 'left' but the chain says 'right'"]
    backward = Chain(("The left leg kicks backward.", "The left leg lowers."), "kick")
    assert "the caption says 'forward' but the chain says 'backward'" in check_chain(
        caption, backward
    )
    both = Chain(("Weight shifts to the right foot.", "The left leg kicks forward."), "kick")
    assert check_chain(caption, both) == []  # naming the other side too is fine
    in_plan_only = Chain(("The right leg kicks.", "The leg lowers forward."), "kick left")
    assert check_chain(caption, in_plan_only) == [
        "the caption says 'left' but the chain says 'right'"
    ]
    unsided = Chain(("A leg kicks forward.", "The leg lowers."), "kick with the left leg")
    assert check_chain(caption, unsided) == ["the caption says 'left' but no step does"]
    one = Chain(("The left leg kicks forward.",), "kick")
    assert check_chain(caption, one) == ["1 steps; expected 2 to 6"]
    dup = Chain(("The left leg kicks.", "the LEFT leg kicks!"), "kick")
    assert check_chain(caption, dup) == ["step 2 repeats step 1"]
    filler = Chain(("The left leg kicks forward.", "Repeat for three more minutes."), "kick")
    assert check_chain(caption, filler) == [
        "step 2 names no body part or movement: 'Repeat for three more minutes.'"
    ]
    long = Chain(("The left leg kicks " + "very " * 30, "Legs stand."), "kick")
    assert check_chain(caption, long, ChainLimits(max_step_words=10))[0].startswith(
        "step 1 has 34 words"
    )
