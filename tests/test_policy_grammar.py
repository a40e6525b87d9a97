"""The answer grammar: what SFT targets look like and how completions are read back."""

from __future__ import annotations

import pytest

from motion_r1_core.policy.grammar import (
    answer,
    max_codes,
    parse,
    prompt_messages,
    seconds_to_codes,
    user_turn,
)

K = 256


def test_cot_answer_round_trips() -> None:
    text = answer([3, 0, 255], ["walk forward", "turn left"], "walk, turn")
    assert text == (
        "<think>1. walk forward\n2. turn left</think><output>walk, turn</output>"
        "<Motion><motion_id_3><motion_id_0><motion_id_255></Motion>"
    )
    p = parse(text + "<|im_end|><|im_end|>", cot=True, codebook_size=K, end_tokens=("<|im_end|>",))
    assert p.ok, p.error
    assert (p.codes, p.steps, p.plan) == ([3, 0, 255], ["walk forward", "turn left"], "walk, turn")


def test_no_cot_answer_round_trips_and_is_not_a_cot_answer() -> None:
    text = answer([7, 7, 9])
    assert text == "<Motion><motion_id_7><motion_id_7><motion_id_9></Motion>"
    assert parse(text, cot=False, codebook_size=K).codes == [7, 7, 9]
    assert not parse(text, cot=True, codebook_size=K).ok
    cot_text = answer([1], ["jump"], "jump")
    assert not parse(cot_text, cot=False, codebook_size=K).ok


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("<think>1. walk</think><Motion><motion_id_1></Motion>", "does not match"),
        ("<think>1. walk</think><output>w</output><Motion></Motion>", "other than motion"),
        ("<think>1. walk</think><output>w</output><Motion><motion_id_1>x</Motion>", "other"),
        ("<think> \n </think><output>w</output><Motion><motion_id_1></Motion>", "empty"),
        ("<think>1. a</think><output>w</output><Motion><motion_id_256></Motion>", "outside"),
        ("<think>1. a</think><output>w</output><Motion><motion_id_1>", "does not match"),
        ("<think>1. a</think><output>w</output><Motion><motion_id_1></Motion> more", "match"),
        (
            "<think>1. a</think><output>w</output><Motion>" + "<motion_id_1>" * 50 + "</Motion>",
            "too many motion tokens (50",
        ),
    ],
)
def test_broken_completions_are_reported_not_raised(text: str, reason: str) -> None:
    p = parse(text, cot=True, codebook_size=K)
    assert not p.ok and p.codes == []
    assert reason in p.error


def test_unnumbered_chain_lines_are_steps() -> None:
    text = "<think>walk ahead\n\nthen turn</think><output></output><Motion><motion_id_1></Motion>"
    p = parse(text, cot=True, codebook_size=K)
    assert p.ok and p.steps == ["walk ahead", "then turn"] and p.plan == ""


def test_failure_reasons_become_metric_names() -> None:
    from motion_r1_core.policy.evaluate import failure_key

    p = parse("<Motion><motion_id_1>x</Motion>", cot=False, codebook_size=K)
    assert failure_key(p.error) == "motion_holds_something_other_than_motion_tokens"
    long = parse("<Motion>" + "<motion_id_1>" * 60 + "</Motion>", cot=False, codebook_size=K)
    assert failure_key(long.error) == "too_many_motion_tokens"


def test_length_helpers_follow_the_t2m_conventions() -> None:
    assert max_codes(4) == 49  # 196 frames
    assert seconds_to_codes(3.0, 20, 4) == 15
    assert seconds_to_codes(4.5, 20, 4) == round(4.5 * 20 / 4) == 22
    assert seconds_to_codes(0.01, 20, 4) == 1
    with pytest.raises(ValueError, match="positive"):
        seconds_to_codes(0, 20, 4)


def test_prompt_states_the_duration_only_when_given() -> None:
    assert user_turn(" a person waves ") == "a person waves"
    assert user_turn("a person waves", 4.5) == "a person waves (for about 4.5 seconds)"
    msgs = prompt_messages("SYS", "a person waves", 2.0)
    assert [m["role"] for m in msgs] == ["system", "user"]
    assert msgs[0]["content"] == "SYS" and msgs[1]["content"].endswith("2.0 seconds)")


def test_an_answer_needs_codes_and_a_cot_answer_steps() -> None:
    with pytest.raises(ValueError, match="at least one motion token"):
        answer([])
    with pytest.raises(ValueError, match="at least one step"):
        answer([1], [], "plan")
