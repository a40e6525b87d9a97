"""The procedural motion corpus: chained action primitives with captions, in the HumanML3D layout.

Each motion chains 1..max_primitives primitives (`primitives.py`: walk, run, turn, sidestep,
jump, squat, kick, wave, raise arms, clap, bow, sit down / stand up, stand still, spin) and gets
three captions: a literal one listing the steps in order, a paraphrase, and (for several steps) a
high-level description that names no step. The ground-truth ordered sub-actions go to
`decompositions.jsonl`, to score a model's chain-of-thought decomposition later.

Written under `out/`, exactly as HumanML3D (REFERENCE.md section 4):

    new_joint_vecs/ID.npy  (T-1, 263) float32 = extract_features(joints)
    new_joints/ID.npy      (T-1, 22, 3) float32 = recover_from_ric(features)
    texts/ID.txt           caption#word/POS ...#0.0#0.0, one line per caption
    train.txt val.txt test.txt train_val.txt all.txt   IDs, one per line
    Mean.npy Std.npy       (263,) over the train split, group-averaged Std
    decompositions.jsonl   {"id", "steps": [{"action", "text", "params", "start_frame",
                           "end_frame"}]}; frames index rows of new_joint_vecs, end exclusive

The corpus is a pure function of (motions, seed, max_primitives, split): motion i is drawn from
the i-th child of `np.random.SeedSequence(seed)`, so it does not depend on the worker count, and
all arithmetic runs single-threaded, so files are byte-identical between runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from motion_r1_core.data.body import FPS, MAX_FRAMES, MIN_FRAMES
from motion_r1_core.data.primitives import PRIMITIVES, build_motion

# ----------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Step:
    """One primitive of a motion: action name, imperative text, parameters, joint frames [a, b)."""

    action: str
    text: str
    params: dict
    start_frame: int
    end_frame: int


@dataclass(frozen=True)
class ProceduralMotion:
    """A generated motion: joints (T, 22, 3) float32 metres at 20 fps (41 <= T <= 197, y up, on
    the floor), its ordered steps and exactly three captions (literal, paraphrase, high-level or
    second paraphrase)."""

    joints: np.ndarray
    steps: tuple[Step, ...]
    captions: tuple[str, str, str]


@dataclass(frozen=True)
class CorpusSummary:
    """What `synthesize_corpus` wrote: folder, motion and caption counts, split sizes, seconds."""

    path: Path
    n_motions: int
    n_captions: int
    split_sizes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


# ---------------------------------------------------------------------------------- sequence
def _sample_names(rng: np.random.Generator, k: int) -> list[str]:
    names: list[str] = []
    for i in range(k):
        if names and names[-1] == "sit_down":  # a seated body can only get up
            names.append("stand_up")
            continue
        # standing up needs a seated start: only as the first step (or after sitting down)
        pool = [n for n in PRIMITIVES if n != (names[-1] if names else None)
                and (n != "stand_up" or i == 0)]
        w = np.array([PRIMITIVES[n].weight for n in pool])
        names.append(str(rng.choice(pool, p=w / w.sum())))
    return names


def fit_frames(ranges: list[tuple[int, int, int]], lo: int = MIN_FRAMES,
               hi: int = MAX_FRAMES) -> list[int]:
    """Frames per step from (min, nominal, max) ranges so that the total is in [lo, hi]: the
    nominal lengths, shrunk towards the minima or stretched towards the maxima if needed."""
    mins, noms, maxs = (np.array(c, dtype=float) for c in zip(*ranges, strict=True))
    total = noms.sum()
    target = int(np.clip(total, lo, hi))
    if total > hi:
        x = mins + (noms - mins) * (hi - mins.sum()) / max(total - mins.sum(), 1e-9)
    elif total < lo:
        x = noms + (maxs - noms) * (lo - total) / max(maxs.sum() - total, 1e-9)
    else:
        x = noms
    frames = np.clip(np.floor(x), mins, maxs).astype(int)
    i = 0
    while frames.sum() < target and i < 10 * len(frames):  # hand out the rounding remainder
        j = i % len(frames)
        if frames[j] < maxs[j]:
            frames[j] += 1
        i += 1
    return [int(f) for f in frames]


# ----------------------------------------------------------------------------------- phrases
_COUNT = {1: "once", 2: "twice", 3: "three times", 4: "four times", 5: "five times",
          6: "six times"}
_NUMBER = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


def _times(n: int) -> str:
    return "" if n == 1 else " " + _COUNT[n]


def _phrases(name: str, p: dict, poss: str) -> tuple[str, list[str], str]:
    """Literal phrase (third person, 'the' for body parts), paraphrases (possessive `poss`), and
    the imperative step text of one primitive."""
    side = p.get("side", "")
    if name in ("walk", "run"):
        verb = {"walk": "walks", "run": "runs"}[name]
        if p["direction"] == "backward":
            lit = f"{verb} backward"
            para = (["steps backwards", "backs up", "walks backwards a few steps",
                     "retreats backward"] if name == "walk" else
                    ["jogs backwards", "hurries backwards", "runs backwards quickly"])
        elif p["curve"] != "none":
            c = p["curve"]
            lit = f"{verb} forward in a curve to the {c}"
            para = ([f"walks along a curve to the {c}", f"strolls forward while veering {c}",
                     f"walks in an arc bending to the {c}"] if name == "walk" else
                    [f"jogs in an arc to the {c}", f"runs along a curve bending {c}",
                     f"runs forward while veering {c}"])
        else:
            lit = f"{verb} forward"
            if name == "walk":
                pace = "slowly " if p["speed"] < 1.05 else ("briskly " if p["speed"] > 1.35 else "")
                para = [f"{pace}strolls ahead", f"{pace}walks straight ahead",
                        "takes a few steps forward", "moves forward on foot"]
            else:
                para = ["jogs ahead", "runs straight ahead", "dashes forward",
                        "sprints forward" if p["speed"] > 2.8 else "jogs forward"]
        return lit, para, lit.replace(verb, name, 1)
    if name == "turn":
        around = p["angle_deg"] >= 150
        lit = f"turns around to the {side}" if around else f"turns {side}"
        if around:
            para = [f"turns all the way around to the {side}", f"turns back to the {side}",
                    f"faces the other way by turning {side}"]
        else:
            para = [f"turns to the {side}", f"pivots to the {side}", f"rotates to the {side}"]
            if 80 <= p["angle_deg"] <= 100:
                para += [f"turns ninety degrees to the {side}",
                         f"makes a quarter turn to the {side}"]
        return lit, para, lit.replace("turns", "turn")
    if name == "spin":
        d = p["direction"]
        way = "left" if d == "counterclockwise" else "right"
        lit = f"spins around {d}"
        para = [f"turns a full circle {d}", f"spins once in place {d}",
                f"does a full turn to the {way}", f"twirls around to the {way}"]
        return lit, para, f"spin around {d}"
    if name == "sidestep":
        n = p["steps"]
        lit = f"steps sideways to the {side}{_times(n)}"
        para = [f"shuffles to the {side}", f"moves sideways to the {side}",
                (f"takes {_NUMBER[n]} side steps to the {side}" if n > 1
                 else f"takes a side step to the {side}")]
        return lit, para, f"step sideways to the {side}{_times(n)}"
    if name == "jump":
        n, fwd = p["count"], p["mode"] == "forward"
        lit = ("jumps forward" if fwd else "jumps in place") + _times(n)
        para = ([f"leaps forward{_times(n)}", f"hops ahead{_times(n)}", f"jumps ahead{_times(n)}"]
                if fwd else [f"hops up and down{_times(n)}", f"jumps straight up{_times(n)}",
                             f"leaps up on the spot{_times(n)}"])
        if p["rise"] > 0.25:
            para.append("jumps high" + (" forward" if fwd else "") + _times(n))
        return lit, para, lit.replace("jumps", "jump")
    if name == "squat":
        n = p["reps"]
        lit = "squats down" if n == 1 else "squats" + _times(n)
        arms = f" with {poss} arms stretched forward" if p["arms_forward"] else ""
        para = ([f"crouches down and stands back up{arms}", f"bends the knees into a squat{arms}",
                 "does a deep squat" if p["depth"] > 0.38 else "does a squat"] if n == 1 else
                [f"does {_NUMBER[n]} squats{arms}", f"crouches down and up{_times(n)}",
                 f"bends the knees into a squat{_times(n)}"])
        return lit, para, "squat down" if n == 1 else "squat" + _times(n)
    if name == "kick":
        lit = f"kicks with the {side} leg"
        para = [f"kicks out with {poss} {side} foot", f"does a kick with {poss} {side} leg",
                f"swings {poss} {side} leg forward in a kick"]
        if p["height"] > 0.7:
            para.append(f"kicks high with {poss} {side} leg")
        return lit, para, f"kick with the {side} leg"
    if name == "wave":
        lit = f"waves with the {side} hand"
        para = [f"waves {poss} {side} hand", f"greets with {poss} {side} arm",
                f"raises {poss} {side} hand and waves", f"waves hello with {poss} {side} hand"]
        return lit, para, f"wave with the {side} hand"
    if name == "raise_arms":
        both = p["arms"] == "both"
        what = "both arms" if both else f"the {p['arms']} arm"
        mine = "both arms" if both else f"{poss} {p['arms']} arm"
        sides = "sides" if both else "side"
        lit, para = {
            "up": (f"raises {what} above the head",
                   [f"lifts {mine} over {poss} head", f"reaches up with {mine}",
                    f"stretches {mine} upward"]),
            "forward": (f"raises {what} forward",
                        [f"lifts {mine} in front of {poss} body", f"holds {mine} straight out "
                         "in front", f"stretches {mine} forward"]),
            "sideways": (f"raises {what} out to the {sides}",
                         [f"spreads {mine} out to the {sides}", f"lifts {mine} sideways",
                          f"holds {mine} out to the {sides}"]),
        }[p["style"]]
        return lit, para, lit.replace("raises", "raise")
    if name == "clap":
        n = p["claps"]
        lit = "claps" + _times(n)
        para = [f"claps {poss} hands{_times(n)}", f"claps {poss} hands together{_times(n)}",
                f"applauds by clapping{_times(n)}"]
        return lit, para, "clap" + _times(n)
    if name == "bow":
        deep = p["angle_deg"] > 50
        para = ["takes a bow", "bends forward at the waist", "bows deeply" if deep
                else "bows politely"]
        return "bows", para, "bow"
    if name == "sit_down":
        return "sits down", ["takes a seat", "sits down on a chair",
                             "lowers down into a chair"], "sit down"
    if name == "stand_up":
        return "stands up", ["gets up from the chair", f"rises to {poss} feet",
                             "gets up from a seated position"], "stand up"
    if name == "still":
        return "stands still", ["stands in place", "waits without moving", "stands idle",
                                "remains standing in place"], "stand still"
    raise KeyError(f"no phrases for primitive {name!r}")


# ---------------------------------------------------------------------------------- captions
_VOICES = (("someone", "their"), ("a man", "his"), ("a woman", "her"), ("the person", "their"),
           ("a human", "their"))

# High-level themes: (test on the set of actions, templates); the first that matches is used.
_LOCOMOTION = {"walk", "run", "turn", "sidestep", "spin"}
_EXERCISE = {"squat", "jump", "kick", "raise_arms"}
_THEMES: tuple[tuple, ...] = (
    (lambda a: "sit_down" in a, ["{s} takes a seat to rest for a moment",
                                 "{s} settles into a chair for a short break",
                                 "{s} rests on a chair for a while"]),
    (lambda a: "stand_up" in a, ["{s} gets out of a chair and carries on",
                                 "{s} ends a break and gets moving",
                                 "{s} leaves {p} seat"]),
    (lambda a: "wave" in a and a & _LOCOMOTION, ["{s} approaches a friend and greets them",
                                                 "{s} greets a friend across the room",
                                                 "{s} walks over and says hello"]),
    (lambda a: "wave" in a, ["{s} says hello to a friend", "{s} greets somebody nearby",
                             "{s} catches the attention of a friend"]),
    (lambda a: len(a & _EXERCISE) >= 2 or ("squat" in a and len(a) > 1),
     ["{s} does a short workout", "{s} warms up before training", "{s} goes through a few "
      "exercises", "{s} exercises for a moment"]),
    (lambda a: a & {"spin", "jump"} and a & {"clap", "raise_arms"},
     ["{s} dances happily", "{s} celebrates a victory", "{s} dances around joyfully"]),
    (lambda a: "clap" in a, ["{s} cheers for somebody", "{s} applauds a performance",
                             "{s} shows appreciation for a show"]),
    (lambda a: "bow" in a, ["{s} thanks an audience", "{s} greets people politely",
                            "{s} acknowledges the crowd"]),
    (lambda a: "kick" in a, ["{s} practices martial arts moves", "{s} trains some fighting "
                             "moves", "{s} practices self defense"]),
    (lambda a: "run" in a, ["{s} hurries across the room", "{s} goes for a short jog",
                            "{s} is in a hurry"]),
    (lambda a: len(a & _LOCOMOTION) >= 2, ["{s} moves around the room", "{s} wanders around",
                                           "{s} finds {p} way around the room"]),
    (lambda a: True, ["{s} performs a sequence of movements", "{s} goes through a short "
                      "routine", "{s} moves in several different ways"]),
)


def _join(parts: list[str], style: int) -> str:
    """Steps in order: 0 "a, b, then c"; 1 "first a, then b, and finally c"; 2 "a and then b";
    3 "a, after that b"."""
    if len(parts) == 1:
        return parts[0]
    if style == 1:
        last = ", and finally " if len(parts) > 2 else ", then "
        return "first " + ", then ".join(parts[:-1]) + last + parts[-1]
    if style == 0:
        return ", ".join(parts[:-1]) + ", then " + parts[-1]
    return (" and then " if style == 2 else ", after that ").join(parts)


def make_captions(names: list[str], params: list[dict],
                  rng: np.random.Generator) -> tuple[str, str, str]:
    """Literal, paraphrase and high-level (or, for one step, second paraphrase) captions.

    Left/right are the subject's own sides, as in the parameters ("side", "arms").
    """
    literal = [_phrases(n, p, "the")[0] for n, p in zip(names, params, strict=True)]
    caps = ["a person " + _join(literal, 0) + "."]
    if len(names) == 1:  # two different paraphrases
        for i in rng.permutation(len(_phrases(names[0], params[0], "x")[1]))[:2]:
            subject, poss = _VOICES[int(rng.integers(len(_VOICES)))]
            caps.append(f"{subject} {_phrases(names[0], params[0], poss)[1][i]}.")
        return caps[0], caps[1], caps[2]
    subject, poss = _VOICES[int(rng.integers(len(_VOICES)))]
    parts = []
    for n, p in zip(names, params, strict=True):
        para = _phrases(n, p, poss)[1]
        parts.append(para[int(rng.integers(len(para)))])
    caps.append(f"{subject} {_join(parts, int(rng.integers(4)))}.")
    templates = next(t for test, t in _THEMES if test(set(names)))
    subject, poss = _VOICES[int(rng.integers(len(_VOICES)))]
    caps.append(templates[int(rng.integers(len(templates)))].format(s=subject, p=poss) + ".")
    return caps[0], caps[1], caps[2]


# ------------------------------------------------------------------------------ POS tagging
# A small rule-based tagger for the closed vocabulary above, in the spaCy style of the
# HumanML3D texts: NOUN and VERB lemmatised (except "left"), non-alphabetic tokens dropped.
# Entries are `word` or `word:lemma`.
_WORDS = {
    "DET": "a an the both some his her their its",  # possessives are DET in HumanML3D texts
    "PRON": "someone somebody them who that",
    "NOUN": "person man woman human hand hands:hand arm arms:arm leg legs:leg foot feet:foot "
            "head body knees:knee side sides:side chair seat curve arc circle way room friend "
            "attention moment break while degrees:degree workout exercises:exercise training "
            "routine sequence movements:movement front waist ways:way jog performance show appreciation audience people "
            "crowd arts:art moves:move defense victory hurry place spot position times:time",
    "VERB": "walks:walk strolls:stroll moves:move takes:take runs:run jogs:jog dashes:dash "
            "sprints:sprint hurries:hurry turns:turn pivots:pivot rotates:rotate faces:face "
            "makes:make spins:spin does:do twirls:twirl shuffles:shuffle leaps:leap jumps:jump "
            "crouches:crouch stands:stand bends:bend kicks:kick swings:swing waves:wave "
            "greets:greet raises:raise lifts:lift reaches:reach stretches:stretch holds:hold "
            "spreads:spread claps:clap applauds:applaud clapping:clap bows:bow sits:sit "
            "lowers:lower gets:get rises:rise waits:wait remains:remain retreats:retreat "
            "backs:back veering:veer bending:bend turning:turn stretched:stretch "
            "approaches:approach says:say settles:settle rests:rest carries:carry "
            "leaves:leave goes:go dances:dance celebrates:celebrate cheers:cheer thanks:thank "
            "acknowledges:acknowledge practices:practice trains:train performs:perform "
            "finds:find catches:catch ends:end moving:move warms:warm shows:show rest "
            "standing:stand wanders:wander is:be",
    "ADV": "forward backward backwards ahead straight sideways upward around then finally "
           "first once twice quickly slowly briskly together politely deeply high back "
           "out idle happily joyfully nearby counterclockwise clockwise still all",
    "ADP": "to in with into at by on from of for before after along without across over up down "
           "above through",
    "ADJ": "full quarter deep short other few several different seated martial fighting self",
    "NUM": "one two three four five six ninety",
    "CCONJ": "and or",
    "INTJ": "hello",
}
_LEXICON: dict[str, tuple[str, str]] = {}
for _pos, _entries in _WORDS.items():
    for _entry in _entries.split():
        _word, _, _lem = _entry.partition(":")
        _LEXICON[_word] = (_lem or _word, _pos)
# a noun after a determiner, number or adjective ("takes a bow"), a verb otherwise ("bows")
_NOUN_OR_VERB = {"step": "step", "steps": "step", "turn": "turn", "kick": "kick",
                 "squat": "squat", "squats": "squat", "bow": "bow", "hops": "hop"}
_BEFORE_NOUN = {"a", "an", "the", "side", "quarter", "deep", "full", "short", "two", "three",
                "four", "five", "six"}
_BODY = {"hand", "hands", "arm", "arms", "leg", "legs", "foot", "feet", "side", "sides"}


def pos_tags(caption: str) -> list[str]:
    """`word/POS` tokens of a caption (lower case; NOUN/VERB lemmatised; non-alpha dropped).

    >>> pos_tags("a person walks forward, then waves with the right hand.")[:4]
    ['a/DET', 'person/NOUN', 'walk/VERB', 'forward/ADV']
    """
    words = [w for w in re.findall(r"[\w']+", caption.lower()) if w.isalpha()]
    out: list[str] = []
    for i, w in enumerate(words):
        prev, nxt = (words[i - 1] if i else ""), (words[i + 1] if i + 1 < len(words) else "")
        if w in ("left", "right"):  # the subject's side: "left hand", "to the left", "turns left"
            lemma, pos = w, "ADJ" if nxt in _BODY else ("NOUN" if prev == "the" else "ADV")
        elif w in _NOUN_OR_VERB:
            lemma, pos = _NOUN_OR_VERB[w], "NOUN" if prev in _BEFORE_NOUN else "VERB"
        else:
            lemma, pos = _LEXICON.get(w, (w, "X"))  # X: unknown, never in generated captions
        out.append(f"{lemma}/{pos}")
    return out


def caption_line(caption: str) -> str:
    """One line of texts/ID.txt: `caption#word/POS ...#0.0#0.0` (the whole motion)."""
    return f"{caption}#{' '.join(pos_tags(caption))}#0.0#0.0"


# -------------------------------------------------------------------------------- generation
def generate_motion(rng: np.random.Generator, max_primitives: int = 4) -> ProceduralMotion:
    """Draw one motion: 1..max_primitives chained primitives, joints (T, 22, 3) float32 metres
    at 20 fps with 41 <= T <= 197 (40..196 feature rows), its steps and three captions."""
    if not 1 <= max_primitives <= 8:
        raise ValueError(f"max_primitives must be in 1..8, got {max_primitives}")
    names = _sample_names(rng, int(rng.integers(1, max_primitives + 1)))
    params = [PRIMITIVES[n].sample(rng) for n in names]
    # drop trailing steps whose shortest versions cannot fit the length limit
    while len(names) > 1 and sum(p["_frames"][0] for p in params) > MAX_FRAMES:
        names, params = names[:-1], params[:-1]
    frames = fit_frames([p["_frames"] for p in params])
    # A random start heading: the features align frame 0 to +z anyway, and the raw joints
    # should not all share one heading.
    yaw = float(rng.uniform(-np.pi, np.pi))
    joints, derived = build_motion(list(zip(names, params, frames, strict=True)), yaw)
    captions = make_captions(names, params, rng)
    steps, start = [], 0
    for name, p, n, extra in zip(names, params, frames, derived, strict=True):
        public = {k: v for k, v in p.items() if not k.startswith("_")}
        public.update(extra, duration_s=round(n / FPS, 2))
        steps.append(Step(name, _phrases(name, p, "the")[2], _jsonable(public), start,
                          start + n))
        start += n
    return ProceduralMotion(joints, tuple(steps), captions)


def _jsonable(d: dict) -> dict:
    return {k: (round(float(v), 4) if isinstance(v, float | np.floating) else
                int(v) if isinstance(v, np.integer) else v) for k, v in d.items()}


# ------------------------------------------------------------------------------------ corpus
@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Single-threaded torch: reductions then sum in one fixed order (byte-identical files)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _write_motion(job: tuple[int, np.random.SeedSequence, int, str]) -> dict:
    """Generate, featurise and write motion `index`; returns its decomposition record."""
    from motion_r1_core.features import extract_features, recover_from_ric

    index, seed_seq, max_primitives, out = job
    motion = generate_motion(np.random.default_rng(seed_seq), max_primitives)
    features = extract_features(torch.from_numpy(motion.joints))
    mid, root = f"{index:06d}", Path(out)
    if not torch.isfinite(features).all():
        raise FloatingPointError(f"motion {mid} (seed child {index}): non-finite features")
    joints = recover_from_ric(features)
    np.save(root / "new_joint_vecs" / f"{mid}.npy", features.numpy().astype(np.float32))
    np.save(root / "new_joints" / f"{mid}.npy", joints.numpy().astype(np.float32))
    (root / "texts" / f"{mid}.txt").write_text(
        "".join(caption_line(c) + "\n" for c in motion.captions), encoding="utf-8")
    rows = int(features.shape[0])  # T-1: the last joint frame has no feature row
    steps = [{"action": s.action, "text": s.text, "params": s.params,
              "start_frame": s.start_frame, "end_frame": min(s.end_frame, rows)}
             for s in motion.steps]
    return {"id": mid, "steps": steps}


def _worker_init() -> None:
    torch.set_num_threads(1)


def _prepare(out: Path) -> None:
    """Create the folders; a previous procedural corpus there is replaced, anything else kept
    out of harm's way by refusing."""
    if out.exists() and any(out.iterdir()):
        if not (out / "decompositions.jsonl").exists():
            raise FileExistsError(f"{out} exists and is not a procedural corpus; choose an empty "
                                  "or new folder")
        for sub in ("new_joint_vecs", "new_joints", "texts"):
            shutil.rmtree(out / sub, ignore_errors=True)
    for sub in ("new_joint_vecs", "new_joints", "texts"):
        (out / sub).mkdir(parents=True, exist_ok=True)


def _split_ids(ids: list[str], split: tuple[float, float, float], seed: int) -> dict[str, list]:
    if len(split) != 3 or min(split) < 0 or abs(sum(split) - 1) > 1e-6:
        raise ValueError(f"split must be 3 non-negative shares summing to 1, got {split}")
    n = len(ids)
    n_val, n_test = round(split[1] * n), round(split[2] * n)
    if n >= 3:  # every split non-empty where its share is, so loaders never see an empty file
        n_val, n_test = max(n_val, int(split[1] > 0)), max(n_test, int(split[2] > 0))
    perm = np.random.default_rng([seed, 7]).permutation(n)
    test = sorted(ids[i] for i in perm[:n_test])
    val = sorted(ids[i] for i in perm[n_test:n_test + n_val])
    train = sorted(ids[i] for i in perm[n_test + n_val:])
    return {"train": train, "val": val, "test": test}


def synthesize_corpus(out: Path, motions: int, seed: int, max_primitives: int = 4,
                      split: tuple[float, float, float] = (0.8, 0.05, 0.15),
                      progress: bool = True, workers: int | None = None) -> CorpusSummary:
    """Write a procedural corpus of `motions` motions in the HumanML3D layout under `out`.

    Deterministic by (motions, seed, max_primitives, split). `workers` processes generate and
    featurise motions (default: the CPU count for 300+ motions, else 1); the result does not
    depend on it. Returns counts, split sizes and the seconds taken.
    """
    from motion_r1_core.features import feature_mean_std

    t_start = time.perf_counter()
    if motions < 1:
        raise ValueError(f"motions must be >= 1, got {motions}")
    out = Path(out)
    _prepare(out)
    children = np.random.SeedSequence(seed).spawn(motions)
    jobs = [(i, children[i], max_primitives, str(out)) for i in range(motions)]
    if workers is None:
        workers = min(os.cpu_count() or 1, 8) if motions >= 300 else 1
    records: list[dict] = []
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeRemainingColumn(), disable=not progress,
                  console=Console(stderr=True)) as bar:  # stdout stays for results
        task = bar.add_task("synthesising motions", total=motions)
        if workers <= 1:
            with _one_thread():
                for job in jobs:
                    records.append(_write_motion(job))
                    bar.advance(task)
        else:  # spawned workers: no torch thread pool state is inherited through fork
            with ProcessPoolExecutor(workers, mp_context=get_context("spawn"),
                                     initializer=_worker_init) as pool:
                for rec in pool.map(_write_motion, jobs, chunksize=8):
                    records.append(rec)
                    bar.advance(task)

    ids = [r["id"] for r in records]
    splits = _split_ids(ids, split, seed)
    for name, part in {**splits, "train_val": sorted(splits["train"] + splits["val"]),
                       "all": ids}.items():
        (out / f"{name}.txt").write_text("".join(f"{i}\n" for i in part))
    with _one_thread():
        train = [np.load(out / "new_joint_vecs" / f"{i}.npy") for i in splits["train"] or ids]
        mean, std = feature_mean_std(train)
    np.save(out / "Mean.npy", mean)
    np.save(out / "Std.npy", std)
    with open(out / "decompositions.jsonl", "w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec) + "\n")
    n_captions = sum(len((out / "texts" / f"{i}.txt").read_text().splitlines()) for i in ids)
    return CorpusSummary(out, motions, n_captions, {k: len(v) for k, v in splits.items()},
                         round(time.perf_counter() - t_start, 2))

