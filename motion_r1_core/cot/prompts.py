"""The versioned prompts of the CoT engine and their strict parsers.

Decomposition answer format (PROMPT_VERSION): the plan first, then the ordered sub-actions
(top-down, and small models keep this order far more reliably than a plan written last)

    Plan: <one line summarising the motion>
    1. <sub-action naming the body part(s) and the direction or timing>
    2. ...

Judge answer format (JUDGE_VERSION): four lines (small local models follow this far better
than JSON; a JSON object with the same keys is accepted too)
    relevance: 1-5
    logic: 1-5
    conciseness: 1-5
    feedback: ...

Parsing is strict: an answer that is not in the format raises `ParseError` (a failed attempt),
never yields a silently empty chain. A `<think>...</think>` block in front of the answer (some
reasoners inline their reasoning) is removed first. Changing a prompt's text means a new
version string, which is part of every cache key.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

PROMPT_VERSION = "decompose-v2"
JUDGE_VERSION = "judge-v2"

_DECOMPOSE_SYSTEM = """\
You break a description of a human motion into the ordered sub-actions a person performs.
Rules:
- First write one line that starts with "Plan:" and summarises the motion.
- Then write {min_steps} to {max_steps} numbered steps, one per line, in the order they happen.
- Each step names the body part(s) that move and the direction, side or timing.
- Keep every side and direction of the description (left stays left, forward stays forward).
- Do not add actions that the description does not imply. Do not repeat a step.
Answer with the plan and the steps only."""


def decompose_system(min_steps: int = 2, max_steps: int = 6) -> str:
    """The system instruction of a decomposition, asking for min_steps..max_steps steps (the
    bounds the deterministic checks then enforce: `cot.limits`)."""
    return _DECOMPOSE_SYSTEM.format(min_steps=min_steps, max_steps=max_steps)


EXAMPLES: tuple[tuple[str, str], ...] = (
    (
        "a person walks forward and then sits down on a chair.",
        "Plan: walk forward a few steps, then bend the knees and sit down.\n"
        "1. Legs step forward alternately, arms swinging at the sides.\n"
        "2. The person stops and turns the torso to face away from the chair.\n"
        "3. Knees and hips bend to lower the body onto the seat.",
    ),
    (
        "someone raises their right hand and waves it twice.",
        "Plan: lift the right arm, wave the right hand twice, lower it.\n"
        "1. The right arm lifts up beside the head.\n"
        "2. The right hand waves from side to side two times.\n"
        "3. The right arm lowers back to the side.",
    ),
)

JUDGE_SYSTEM = """\
You check a decomposition of a human-motion description into steps.
Score it from 1 (bad) to 5 (good) on:
- relevance: every step belongs to the described motion, nothing is invented;
- logic: the steps are in a possible temporal order and keep sides and directions;
- conciseness: no repeated or wordy steps.
Answer with exactly four lines:
relevance: <1-5>
logic: <1-5>
conciseness: <1-5>
feedback: <one sentence on what to fix, or "none">"""

JUDGE_EXAMPLES: tuple[tuple[str, str, str], ...] = (
    (
        "someone raises their right hand and waves it twice.",
        EXAMPLES[1][1],
        "relevance: 5\nlogic: 5\nconciseness: 5\nfeedback: none",
    ),
    (
        "a person kicks with the left leg.",
        "Plan: kick and run.\n1. The right leg kicks forward.\n"
        "2. The person runs around the room.\n3. The right leg kicks forward.",
        "relevance: 2\nlogic: 2\nconciseness: 2\nfeedback: the kick is with the left leg, "
        "the run is invented and step 3 repeats step 1",
    ),
)


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
        return "\n".join([f"Plan: {self.plan}", *lines])


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
    caption: str,
    feedback: str | None = None,
    previous: str | None = None,
    steps: tuple[int, int] = (2, 6),
) -> list[dict[str, str]]:
    """Chat messages asking to decompose `caption` into `steps` = (min, max) sub-actions (with
    the in-context examples).

    For a regeneration, the rejected answer and the reasons are appended as a further turn.
    """
    msgs = [{"role": "system", "content": decompose_system(*steps)}]
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


def _judge_question(caption: str, steps: str) -> str:
    return f"Description: {caption.strip()}\nSteps:\n{steps}"


def judge_messages(caption: str, chain: Chain) -> list[dict[str, str]]:
    """Chat messages asking the judge to score `chain` as a decomposition of `caption`
    (system prompt, two scored examples, then the question as the last message)."""
    msgs = [{"role": "system", "content": JUDGE_SYSTEM}]
    for cap, steps, verdict in JUDGE_EXAMPLES:
        msgs += [
            {"role": "user", "content": _judge_question(cap, steps)},
            {"role": "assistant", "content": verdict},
        ]
    msgs.append({"role": "user", "content": _judge_question(caption, chain.as_text())})
    return msgs


_THINK = re.compile(r"^\s*<think>.*?</think>", re.DOTALL)
_STEP = re.compile(r"^(\d+)[.)]\s+(.+)$")
_PLAN = re.compile(r"^plan\s*:\s*(.+)$", re.IGNORECASE)


def parse_chain(answer: str) -> Chain:
    """Parse a decomposition answer (Plan line, then numbered steps); raises ParseError naming
    the first problem."""
    text = _THINK.sub("", answer or "").strip()
    if not text:
        raise ParseError("empty answer")
    steps: list[str] = []
    plan: str | None = None
    for raw in text.splitlines():
        line = raw.strip().replace("**", "")
        if not line:
            continue
        if plan is None:
            if not (m := _PLAN.match(line)):
                raise ParseError(f"the first line is not a 'Plan:' line: {line[:60]!r}")
            plan = m.group(1).strip()
        elif m := _STEP.match(line):
            if int(m.group(1)) != len(steps) + 1:
                raise ParseError(f"step numbered {m.group(1)} where {len(steps) + 1} was due")
            steps.append(m.group(2).strip())
        else:
            raise ParseError(f"not a numbered step: {line[:60]!r}")
    if not steps:
        raise ParseError("no numbered steps")
    return Chain(tuple(steps), plan or "")


_JSON = re.compile(r"\{.*?\}", re.DOTALL)
_SCORE_LINE = re.compile(
    r"^[-*#_\s]*(relevance|logic|conciseness|feedback)[*_\s]*[:=]\s*(.*?)[.\s]*$", re.I
)
_SCORES = ("relevance", "logic", "conciseness")


def parse_verdict(answer: str) -> Verdict:
    """Parse the judge's scores (the four lines, or a JSON object with the same keys).

    Raises ParseError if a score is missing or not an integer 1..5.
    """
    text = _THINK.sub("", answer or "")
    doc: dict = {}
    for line in text.splitlines():
        if (m := _SCORE_LINE.match(line.strip())) and m.group(1).lower() not in doc:
            doc[m.group(1).lower()] = m.group(2).strip()
    if not any(k in doc for k in _SCORES):
        m = _JSON.search(text)
        if m is None:
            raise ParseError("no score lines and no JSON object in the judge's answer")
        try:
            doc = json.loads(m.group(0))
        except json.JSONDecodeError as e:
            raise ParseError(f"the judge's JSON does not parse ({e.msg})") from None
    scores = {}
    for key in _SCORES:
        v = doc.get(key)
        if isinstance(v, str) and v.strip().isdigit():
            v = int(v)
        if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 5:
            raise ParseError(f"judge score {key!r} must be an integer 1..5, got {v!r}")
        scores[key] = v
    feedback = str(doc.get("feedback", "")).strip()
    return Verdict(**scores, feedback="" if feedback.lower() in ("none", "none.") else feedback)
