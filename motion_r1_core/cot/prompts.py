"""The versioned prompts of the CoT engine and their strict parsers.

Decomposition answer format (PROMPT_VERSION):

    1. <sub-action naming the body part(s) and the direction or timing>
    2. ...
    Plan: <one line summarising the motion>

Judge answer format (JUDGE_VERSION): one JSON object
    {"relevance": 1-5, "logic": 1-5, "conciseness": 1-5, "feedback": "..."}

Parsing is strict: an answer that is not in the format raises `ParseError` (a failed attempt),
never yields a silently empty chain. A `<think>...</think>` block in front of the answer (some
reasoners inline their reasoning) is removed first. Changing a prompt's text means a new
version string, which is part of every cache key.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

PROMPT_VERSION = "decompose-v1"
JUDGE_VERSION = "judge-v1"

DECOMPOSE_SYSTEM = """\
You break a description of a human motion into the ordered sub-actions a person performs.
Rules:
- Write 2 to 6 numbered steps, one per line, in the order they happen.
- Each step names the body part(s) that move and the direction, side or timing.
- Keep every side and direction of the description (left stays left, forward stays forward).
- Do not add actions that the description does not imply. Do not repeat a step.
- After the steps, write one line that starts with "Plan:" and summarises the motion.
Answer with the steps and the plan only."""

EXAMPLES: tuple[tuple[str, str], ...] = (
    (
        "a person walks forward and then sits down on a chair.",
        "1. Legs step forward alternately, arms swinging at the sides.\n"
        "2. The person stops and turns the torso to face away from the chair.\n"
        "3. Knees and hips bend to lower the body onto the seat.\n"
        "Plan: walk forward a few steps, then bend the knees and sit down.",
    ),
    (
        "someone raises their right hand and waves it twice.",
        "1. The right arm lifts up beside the head.\n"
        "2. The right hand waves from side to side two times.\n"
        "3. The right arm lowers back to the side.\n"
        "Plan: lift the right arm, wave the right hand twice, lower it.",
    ),
)

JUDGE_SYSTEM = """\
You check a decomposition of a human-motion description into steps.
Score it from 1 (bad) to 5 (good) on:
- relevance: every step belongs to the described motion, nothing is invented;
- logic: the steps are in a possible temporal order and keep sides and directions;
- conciseness: no repeated or wordy steps.
Answer with one JSON object only, for example:
{"relevance": 4, "logic": 5, "conciseness": 3, "feedback": "step 3 repeats step 2"}"""


class ParseError(ValueError):
    """An answer that is not in the required format; the message says what is wrong."""


@dataclass(frozen=True)
class Chain:
    """A parsed decomposition: ordered sub-actions and the one-line plan."""

    steps: tuple[str, ...]
    plan: str

    def as_text(self) -> str:
        """The chain in the answer format (what the policy learns to write in <think>)."""
        lines = [f"{i}. {s}" for i, s in enumerate(self.steps, 1)]
        return "\n".join([*lines, f"Plan: {self.plan}"])


@dataclass(frozen=True)
class Verdict:
    """The judge's scores (1..5 each) and its feedback."""

    relevance: int
    logic: int
    conciseness: int
    feedback: str

    @property
    def lowest(self) -> int:
        """The lowest of the three scores."""
        return min(self.relevance, self.logic, self.conciseness)


def decompose_messages(
    caption: str, feedback: str | None = None, previous: str | None = None
) -> list[dict[str, str]]:
    """Chat messages asking to decompose `caption` (with the in-context examples).

    For a regeneration, the rejected answer and the reasons are appended as a further turn.
    """
    msgs = [{"role": "system", "content": DECOMPOSE_SYSTEM}]
    for cap, answer in EXAMPLES:
        msgs += [{"role": "user", "content": cap}, {"role": "assistant", "content": answer}]
    msgs.append({"role": "user", "content": caption.strip()})
    if feedback is not None:
        msgs += [
            {"role": "assistant", "content": previous or ""},
            {
                "role": "user",
                "content": f"That answer was rejected: {feedback}\n"
                "Write a corrected decomposition of the same description, in the same format.",
            },
        ]
    return msgs


def judge_messages(caption: str, chain: Chain) -> list[dict[str, str]]:
    """Chat messages asking the judge to score `chain` as a decomposition of `caption`."""
    return [
        {"role": "system", "content": JUDGE_SYSTEM},
        {"role": "user", "content": f"Description: {caption.strip()}\nSteps:\n{chain.as_text()}"},
    ]


_THINK = re.compile(r"^\s*<think>.*?</think>", re.DOTALL)
_STEP = re.compile(r"^(\d+)[.)]\s+(.+)$")
_PLAN = re.compile(r"^plan\s*:\s*(.+)$", re.IGNORECASE)


def parse_chain(answer: str) -> Chain:
    """Parse a decomposition answer; raises ParseError naming the first problem."""
    text = _THINK.sub("", answer or "").strip()
    if not text:
        raise ParseError("empty answer")
    steps: list[str] = []
    plan: str | None = None
    for raw in text.splitlines():
        line = raw.strip().replace("**", "")
        if not line:
            continue
        if plan is not None:
            raise ParseError(f"text after the Plan line: {line[:60]!r}")
        if m := _STEP.match(line):
            if int(m.group(1)) != len(steps) + 1:
                raise ParseError(f"step numbered {m.group(1)} where {len(steps) + 1} was due")
            steps.append(m.group(2).strip())
        elif m := _PLAN.match(line):
            plan = m.group(1).strip()
        else:
            raise ParseError(f"not a numbered step or a Plan line: {line[:60]!r}")
    if not steps:
        raise ParseError("no numbered steps")
    if plan is None:
        raise ParseError("no 'Plan:' line")
    return Chain(tuple(steps), plan)


_JSON = re.compile(r"\{.*?\}", re.DOTALL)


def parse_verdict(answer: str) -> Verdict:
    """Parse the judge's JSON object; raises ParseError if a score is missing or not 1..5."""
    text = _THINK.sub("", answer or "")
    m = _JSON.search(text)
    if m is None:
        raise ParseError("no JSON object in the judge's answer")
    try:
        doc = json.loads(m.group(0))
    except json.JSONDecodeError as e:
        raise ParseError(f"the judge's JSON does not parse ({e.msg})") from None
    scores = {}
    for key in ("relevance", "logic", "conciseness"):
        v = doc.get(key)
        if isinstance(v, str) and v.strip().isdigit():
            v = int(v)
        if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 5:
            raise ParseError(f"judge score {key!r} must be an integer 1..5, got {v!r}")
        scores[key] = v
    return Verdict(**scores, feedback=str(doc.get("feedback", "")).strip())
