"""How faithful a generated chain is to the true sub-actions (procedural corpus only).

A generated step matches a true step when more than half of the shorter one's content words are
in the other (articles, pronouns and conjunctions dropped) and they name no opposite directions
(left/right, forward/backward, up/down, clockwise/counterclockwise): "walk forward a few steps"
matches "walk forward", "walk backward" does not. The fidelity of a chain is the longest common
subsequence of matching steps over the longer of the two chains: 1 when every step is there in
the right order and nothing is added, 0 when no step matches.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_WORD = re.compile(r"[a-z]+")
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "his",
        "her",
        "their",
        "its",
        "he",
        "she",
        "they",
        "them",
        "someone",
        "person",
        "and",
        "then",
        "while",
        "with",
        "to",
        "of",
        "in",
        "on",
        "at",
        "by",
        "for",
        "from",
        "into",
        "onto",
    ]
)
_SAME = {"forwards": "forward", "backwards": "backward", "anticlockwise": "counterclockwise"}
_OPPOSITES = (
    frozenset({"left", "right"}),
    frozenset({"forward", "backward"}),
    frozenset({"up", "down"}),
    frozenset({"clockwise", "counterclockwise"}),
)


def _words(step: str) -> frozenset[str]:
    return frozenset(_SAME.get(w, w) for w in _WORD.findall(step.lower())) - _STOP


def steps_match(a: str, b: str) -> bool:
    """Whether two step texts name the same sub-action (see the module docstring)."""
    wa, wb = _words(a), _words(b)
    if not wa or not wb:
        return False
    for group in _OPPOSITES:
        da, db = wa & group, wb & group
        if da and db and not da & db:
            return False
    return len(wa & wb) / min(len(wa), len(wb)) > 0.5


def chain_fidelity(generated: Sequence[str], truth: Sequence[str]) -> float:
    """LCS of matching steps / max(len(generated), len(truth)), in [0, 1]; 0 if either is
    empty."""
    if not generated or not truth:
        return 0.0
    n, m = len(generated), len(truth)
    lcs = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n):
        for j in range(m):
            lcs[i + 1][j + 1] = (
                lcs[i][j] + 1
                if steps_match(generated[i], truth[j])
                else max(lcs[i][j + 1], lcs[i + 1][j])
            )
    return lcs[n][m] / max(n, m)


def true_steps(
    spans: Sequence[tuple[str, str, int, int]], start_s: float, end_s: float, fps: float
) -> list[str]:
    """The texts of the true steps (text, action, start frame, end frame) that overlap a
    caption's window [start_s, end_s) in seconds; 0, 0 is the whole motion."""
    if start_s == 0.0 and end_s == 0.0:
        return [t for t, _, _, _ in spans]
    lo, hi = start_s * fps, end_s * fps
    return [t for t, _, a, b in spans if a < hi and b > lo]
