"""What the policy reads and writes, in one place: the prompt and the answer grammar.

    CoT     <think>1. step\\n2. step</think><output>plan</output><Motion><motion_id_3>..</Motion>
    no-CoT  <Motion><motion_id_3>..</Motion>

`answer` builds an SFT target, `parse` reads a completion back (generation, GRPO rewards and
the report all use it) and never raises: a completion that breaks the grammar comes back with
`ok=False` and the reason. The prompt is a chat: the system instruction and the caption, with
the duration appended when the user gives one ("for about 4.5 seconds").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from motion_r1_core.policy.vocabulary import motion_token

MAX_FRAMES = 196  # the T2M loaders' longest motion: at most 196 / 4 = 49 motion tokens
_STEP = re.compile(r"^\s*\d+[.)]\s*(.+?)\s*$")
_CODE = re.compile(r"<motion_id_(\d+)>")
_COT = re.compile(
    r"^\s*<think>(?P<think>.*?)</think>\s*<output>(?P<plan>.*?)</output>\s*"
    r"<Motion>(?P<motion>.*?)</Motion>\s*$",
    re.DOTALL,
)
_NO_COT = re.compile(r"^\s*<Motion>(?P<motion>.*?)</Motion>\s*$", re.DOTALL)
_MOTION_BODY = re.compile(r"^(?:<motion_id_\d+>)+$")


def max_codes(frames_per_token: int) -> int:
    """The most motion tokens of one answer: 196 frames // frames per token (49 for 4)."""
    return MAX_FRAMES // frames_per_token


def seconds_to_codes(seconds: float, fps: float, frames_per_token: int) -> int:
    """Motion tokens spanning `seconds`: round(seconds * fps / frames_per_token), at least 1."""
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    return max(1, round(seconds * fps / frames_per_token))


def user_turn(caption: str, seconds: float | None = None) -> str:
    """The user's message: the caption, and the duration when one is given."""
    caption = caption.strip()
    if seconds is None:
        return caption
    return f"{caption} (for about {seconds:.1f} seconds)"


def prompt_messages(
    system: str, caption: str, seconds: float | None = None
) -> list[dict[str, str]]:
    """The chat the policy answers: system instruction + user caption (+ duration)."""
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": user_turn(caption, seconds)},
    ]


def render_steps(steps: list[str] | tuple[str, ...]) -> str:
    """Ordered sub-actions in the CoT engine's step format: "1. ...\\n2. ..."."""
    return "\n".join(f"{i}. {s.strip()}" for i, s in enumerate(steps, 1))


def answer(codes: list[int], steps: list[str] | None = None, plan: str | None = None) -> str:
    """The target text of an answer: with `steps` (and `plan`) the CoT form, else no-CoT."""
    if not codes:
        raise ValueError("an answer needs at least one motion token")
    motion = "<Motion>" + "".join(motion_token(int(c)) for c in codes) + "</Motion>"
    if steps is None:
        return motion
    if not steps:
        raise ValueError("a CoT answer needs at least one step")
    return f"<think>{render_steps(steps)}</think><output>{(plan or '').strip()}</output>{motion}"


@dataclass(frozen=True)
class Parsed:
    """A completion read back.

    Attributes:
        ok: the completion follows the grammar of its variant exactly.
        codes: VQ codes inside <Motion> (empty when not ok).
        steps, plan: the chain (CoT variant; empty for no-CoT or when not ok).
        error: why the completion does not parse ("" when ok).
    """

    ok: bool
    codes: list[int] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    plan: str = ""
    error: str = ""


def parse(
    text: str,
    cot: bool,
    codebook_size: int,
    max_len: int = MAX_FRAMES // 4,
    end_tokens: tuple[str, ...] = (),
) -> Parsed:
    """Read a completion of the CoT (`cot=True`) or no-CoT variant; never raises.

    `end_tokens` (eos, pad) are stripped from the end first. A motion must hold 1..`max_len`
    tokens, each a code below `codebook_size`; a CoT chain must hold some text (its numbered
    lines are the steps; without numbers, each non-blank line is one).
    """
    for tok in end_tokens:
        while tok and text.rstrip().endswith(tok):
            text = text.rstrip()[: -len(tok)]
    m = (_COT if cot else _NO_COT).match(text)
    if m is None:
        return Parsed(False, error="does not match the " + ("CoT" if cot else "no-CoT") + " form")
    body = m.group("motion")
    if not _MOTION_BODY.match(body):
        return Parsed(False, error="<Motion> holds something other than motion tokens")
    codes = [int(c) for c in _CODE.findall(body)]
    if len(codes) > max_len:
        return Parsed(False, error=f"too many motion tokens ({len(codes)}, at most {max_len})")
    if bad := [c for c in codes if c >= codebook_size]:
        return Parsed(
            False, error=f"motion codes {bad[:3]} outside the codebook of {codebook_size}"
        )
    if not cot:
        return Parsed(True, codes)
    lines = [line.strip() for line in m.group("think").splitlines() if line.strip()]
    numbered = [s.group(1) for line in lines if (s := _STEP.match(line))]
    steps = numbered or lines  # the steps are numbered lines; unnumbered text is one step a line
    if not steps:
        return Parsed(False, error="<think> is empty")
    return Parsed(True, codes, steps, m.group("plan").strip())
