"""CoT fidelity on the procedural corpus: does a chain name the true sub-actions, in order?

Each step of a chain is labelled with the primitive it describes (walk, run, turn, spin,
sidestep, jump, squat, kick, wave, raise_arms, clap, bow, sit_down, stand_up, still) by the
first matching pattern of `ACTION_PATTERNS` (the vocabulary of the corpus's literal captions and
paraphrases, plus common synonyms); a step naming none ("the knees bend") stays unlabelled.
Consecutive equal labels are merged (a kick written as "lift the leg, kick out" is one kick).
The labelled sequence is aligned with the ground-truth actions of `decompositions.jsonl` by the
longest common subsequence, so an action named out of order does not count:

    precision = matched / predicted actions     recall = matched / true actions

`unordered_recall` (true actions named anywhere, as a multiset) shows how much the order costs.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

# Checked in this order: specific actions before the general ones they contain
# (a "full turn" is a spin, "stand up" is not "stand still", a "side step" is not a walk).
ACTION_PATTERNS: tuple[tuple[str, str], ...] = (
    ("spin", r"\b(spin\w*|twirl\w*|full (circle|turn|rotation)|360)\b"),
    ("sidestep", r"\b(side ?steps?|sidestep\w*|shuffl\w*|(step|mov|walk)\w* sideways)\b"),
    ("stand_up", r"\b(stand\w* up|gets? up|get\w* up|rises? (up|to)|rising)\b"),
    ("sit_down", r"\b(sit\w*|seat\w*|seated|chair)\b"),
    ("still", r"\b(still|idle|wait\w*|pauses?|motionless|stands? in place|remains? standing)\b"),
    ("kick", r"\bkick\w*\b"),
    ("wave", r"\b(wav\w*|greet\w*)\b"),
    ("clap", r"\b(clap\w*|applaud\w*)\b"),
    ("bow", r"\b(bow\w*|bend\w* forward at the waist)\b"),
    ("squat", r"\b(squat\w*|crouch\w*)\b"),
    ("jump", r"\b(jump\w*|leap\w*|hop\w*)\b"),
    ("run", r"\b(run\w*|ran|jog\w*|sprint\w*|dash\w*|hurr\w*)\b"),
    ("turn", r"\b(turn\w*|pivot\w*|rotat\w*|faces? the other way)\b"),
    ("walk", r"\b(walk\w*|stroll\w*|steps?|stepping|backs? up|retreat\w*|on foot|paces?)\b"),
    (
        "raise_arms",
        r"\b(rais\w*|lift\w*|reach\w*|stretch\w*|spread\w*|hold\w*|extend\w*)\b.*\barms?\b"
        r"|\barms?\b.*\b(up|upward|overhead|above|forward|out)\b",
    ),
)
_COMPILED = tuple((a, re.compile(p)) for a, p in ACTION_PATTERNS)


def label_step(text: str) -> str | None:
    """The primitive a step describes, or None if it names none."""
    low = text.lower()
    for action, pattern in _COMPILED:
        if pattern.search(low):
            return action
    return None


def action_sequence(steps: Iterable[str]) -> list[str]:
    """Labels of `steps` in order, unlabelled steps dropped, consecutive repeats merged."""
    out: list[str] = []
    for s in steps:
        a = label_step(s)
        if a is not None and (not out or out[-1] != a):
            out.append(a)
    return out


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of `a` and `b`."""
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


@dataclass(frozen=True)
class Fidelity:
    """Order-aware agreement of one chain with its ground truth."""

    predicted: tuple[str, ...]
    truth: tuple[str, ...]
    matched: int
    unordered: int
    unlabelled_steps: int

    @property
    def precision(self) -> float:
        """Matched / predicted actions (1 for a chain that names no action: nothing wrong)."""
        return self.matched / len(self.predicted) if self.predicted else 1.0

    @property
    def recall(self) -> float:
        """Matched / true actions."""
        return self.matched / len(self.truth) if self.truth else 1.0


def chain_fidelity(steps: Sequence[str], truth: Sequence[str]) -> Fidelity:
    """Compare a chain's steps with the true ordered actions (primitive names)."""
    pred = action_sequence(steps)
    common = sum((Counter(pred) & Counter(truth)).values())
    return Fidelity(
        predicted=tuple(pred),
        truth=tuple(truth),
        matched=lcs_length(pred, truth),
        unordered=common,
        unlabelled_steps=sum(label_step(s) is None for s in steps),
    )


def read_decompositions(path: Path) -> dict[str, list[str]]:
    """{motion id: ordered true actions} from a decompositions.jsonl file."""
    out: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                out[str(rec["id"])] = [str(s["action"]) for s in rec["steps"]]
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise ValueError(f"{path}:{n}: not a decomposition record ({e})") from e
    return out


def summarise(items: Sequence[Fidelity]) -> dict[str, float]:
    """Micro-averaged precision, recall, F1 and unordered recall over chains, plus counts."""
    pred = sum(len(f.predicted) for f in items)
    true = sum(len(f.truth) for f in items)
    matched = sum(f.matched for f in items)
    p = matched / pred if pred else 0.0
    r = matched / true if true else 0.0
    return {
        "chains": float(len(items)),
        "precision": p,
        "recall": r,
        "f1": 2 * p * r / (p + r) if p + r else 0.0,
        "unordered_recall": sum(f.unordered for f in items) / true if true else 0.0,
        "exact_sequence": (
            sum(f.predicted == f.truth for f in items) / len(items) if items else 0.0
        ),
    }
