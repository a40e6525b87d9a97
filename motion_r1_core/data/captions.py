"""The caption grammar of the procedural corpus: phrases per primitive and three captions.

Every primitive has a literal phrase (third person, "the" for body parts), a few paraphrases
(with a possessive) and an imperative step text; `make_captions` joins them into a literal
caption listing the steps in order, a paraphrase, and a high-level description that names no
step (for one step: a second paraphrase). Left/right are the subject's own sides.

    walk = {"direction": "forward", "curve": "none", "speed": 1.2}
    make_captions(["walk", "wave"], [walk, {"side": "left"}], np.random.default_rng(3))
    # ("a person walks forward, then waves with the left hand.",
    #  "a human strolls ahead, then waves their left hand.", "someone walks over and says hello.")
"""

from __future__ import annotations

import numpy as np

# ----------------------------------------------------------------------------------- phrases
_COUNT = {1: "once", 2: "twice", 3: "three times", 4: "four times", 5: "five times", 6: "six times"}
_NUMBER = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


def _times(n: int) -> str:
    return "" if n == 1 else " " + _COUNT[n]


def phrases(name: str, p: dict, poss: str) -> tuple[str, list[str], str]:
    """Literal phrase (third person, 'the' for body parts), paraphrases (possessive `poss`), and
    the imperative step text of one primitive."""
    side = p.get("side", "")
    if name in ("walk", "run"):
        verb = {"walk": "walks", "run": "runs"}[name]
        if p["direction"] == "backward":
            lit = f"{verb} backward"
            para = (
                ["steps backwards", "backs up", "walks backwards a few steps", "retreats backward"]
                if name == "walk"
                else ["jogs backwards", "hurries backwards", "runs backwards quickly"]
            )
        elif p["curve"] != "none":
            c = p["curve"]
            lit = f"{verb} forward in a curve to the {c}"
            para = (
                [
                    f"walks along a curve to the {c}",
                    f"strolls forward while veering {c}",
                    f"walks in an arc bending to the {c}",
                ]
                if name == "walk"
                else [
                    f"jogs in an arc to the {c}",
                    f"runs along a curve bending {c}",
                    f"runs forward while veering {c}",
                ]
            )
        else:
            lit = f"{verb} forward"
            if name == "walk":
                pace = "slowly " if p["speed"] < 1.05 else ("briskly " if p["speed"] > 1.35 else "")
                para = [
                    f"{pace}strolls ahead",
                    f"{pace}walks straight ahead",
                    "takes a few steps forward",
                    "moves forward on foot",
                ]
            else:
                para = [
                    "jogs ahead",
                    "runs straight ahead",
                    "dashes forward",
                    "sprints forward" if p["speed"] > 2.8 else "jogs forward",
                ]
        return lit, para, lit.replace(verb, name, 1)
    if name == "turn":
        around = p["angle_deg"] >= 150
        lit = f"turns around to the {side}" if around else f"turns {side}"
        if around:
            para = [
                f"turns all the way around to the {side}",
                f"turns back to the {side}",
                f"faces the other way by turning {side}",
            ]
        else:
            para = [f"turns to the {side}", f"pivots to the {side}", f"rotates to the {side}"]
            if 80 <= p["angle_deg"] <= 100:
                para += [
                    f"turns ninety degrees to the {side}",
                    f"makes a quarter turn to the {side}",
                ]
        return lit, para, lit.replace("turns", "turn")
    if name == "spin":
        d = p["direction"]
        way = "left" if d == "counterclockwise" else "right"
        lit = f"spins around {d}"
        para = [
            f"turns a full circle {d}",
            f"spins once in place {d}",
            f"does a full turn to the {way}",
            f"twirls around to the {way}",
        ]
        return lit, para, f"spin around {d}"
    if name == "sidestep":
        n = p["steps"]
        lit = f"steps sideways to the {side}{_times(n)}"
        para = [
            f"shuffles to the {side}",
            f"moves sideways to the {side}",
            (
                f"takes {_NUMBER[n]} side steps to the {side}"
                if n > 1
                else f"takes a side step to the {side}"
            ),
        ]
        return lit, para, f"step sideways to the {side}{_times(n)}"
    if name == "jump":
        n, fwd = p["count"], p["mode"] == "forward"
        lit = ("jumps forward" if fwd else "jumps in place") + _times(n)
        para = (
            [f"leaps forward{_times(n)}", f"hops ahead{_times(n)}", f"jumps ahead{_times(n)}"]
            if fwd
            else [
                f"hops up and down{_times(n)}",
                f"jumps straight up{_times(n)}",
                f"leaps up on the spot{_times(n)}",
            ]
        )
        if p["rise"] > 0.25:
            para.append("jumps high" + (" forward" if fwd else "") + _times(n))
        return lit, para, lit.replace("jumps", "jump")
    if name == "squat":
        n = p["reps"]
        lit = "squats down" if n == 1 else "squats" + _times(n)
        arms = f" with {poss} arms stretched forward" if p["arms_forward"] else ""
        para = (
            [
                f"crouches down and stands back up{arms}",
                f"bends the knees into a squat{arms}",
                "does a deep squat" if p["depth"] > 0.38 else "does a squat",
            ]
            if n == 1
            else [
                f"does {_NUMBER[n]} squats{arms}",
                f"crouches down and up{_times(n)}",
                f"bends the knees into a squat{_times(n)}",
            ]
        )
        return lit, para, "squat down" if n == 1 else "squat" + _times(n)
    if name == "kick":
        lit = f"kicks with the {side} leg"
        para = [
            f"kicks out with {poss} {side} foot",
            f"does a kick with {poss} {side} leg",
            f"swings {poss} {side} leg forward in a kick",
        ]
        if p["height"] > 0.7:
            para.append(f"kicks high with {poss} {side} leg")
        return lit, para, f"kick with the {side} leg"
    if name == "wave":
        lit = f"waves with the {side} hand"
        para = [
            f"waves {poss} {side} hand",
            f"greets with {poss} {side} arm",
            f"raises {poss} {side} hand and waves",
            f"waves hello with {poss} {side} hand",
        ]
        return lit, para, f"wave with the {side} hand"
    if name == "raise_arms":
        both = p["arms"] == "both"
        what = "both arms" if both else f"the {p['arms']} arm"
        mine = "both arms" if both else f"{poss} {p['arms']} arm"
        sides = "sides" if both else "side"
        lit, para = {
            "up": (
                f"raises {what} above the head",
                [
                    f"lifts {mine} over {poss} head",
                    f"reaches up with {mine}",
                    f"stretches {mine} upward",
                ],
            ),
            "forward": (
                f"raises {what} forward",
                [
                    f"lifts {mine} in front of {poss} body",
                    f"holds {mine} straight out in front",
                    f"stretches {mine} forward",
                ],
            ),
            "sideways": (
                f"raises {what} out to the {sides}",
                [
                    f"spreads {mine} out to the {sides}",
                    f"lifts {mine} sideways",
                    f"holds {mine} out to the {sides}",
                ],
            ),
        }[p["style"]]
        return lit, para, lit.replace("raises", "raise")
    if name == "clap":
        n = p["claps"]
        lit = "claps" + _times(n)
        para = [
            f"claps {poss} hands{_times(n)}",
            f"claps {poss} hands together{_times(n)}",
            f"applauds by clapping{_times(n)}",
        ]
        return lit, para, "clap" + _times(n)
    if name == "bow":
        deep = p["angle_deg"] > 50
        para = [
            "takes a bow",
            "bends forward at the waist",
            "bows deeply" if deep else "bows politely",
        ]
        return "bows", para, "bow"
    if name == "sit_down":
        return (
            "sits down",
            ["takes a seat", "sits down on a chair", "lowers down into a chair"],
            "sit down",
        )
    if name == "stand_up":
        return (
            "stands up",
            ["gets up from the chair", f"rises to {poss} feet", "gets up from a seated position"],
            "stand up",
        )
    if name == "still":
        return (
            "stands still",
            ["stands in place", "waits without moving", "stands idle", "remains standing in place"],
            "stand still",
        )
    raise KeyError(f"no phrases for primitive {name!r}")


# ---------------------------------------------------------------------------------- captions
_VOICES = (
    ("someone", "their"),
    ("a man", "his"),
    ("a woman", "her"),
    ("the person", "their"),
    ("a human", "their"),
)

# High-level themes: (test on the set of actions, templates); the first that matches is used.
_LOCOMOTION = {"walk", "run", "turn", "sidestep", "spin"}
_EXERCISE = {"squat", "jump", "kick", "raise_arms"}
_THEMES: tuple[tuple, ...] = (
    (
        lambda a: "sit_down" in a,
        [
            "{s} takes a seat to rest for a moment",
            "{s} settles into a chair for a short break",
            "{s} rests on a chair for a while",
        ],
    ),
    (
        lambda a: "stand_up" in a,
        [
            "{s} gets out of a chair and carries on",
            "{s} ends a break and gets moving",
            "{s} leaves {p} seat",
        ],
    ),
    (
        lambda a: "wave" in a and a & _LOCOMOTION,
        [
            "{s} approaches a friend and greets them",
            "{s} greets a friend across the room",
            "{s} walks over and says hello",
        ],
    ),
    (
        lambda a: "wave" in a,
        [
            "{s} says hello to a friend",
            "{s} greets somebody nearby",
            "{s} catches the attention of a friend",
        ],
    ),
    (
        lambda a: len(a & _EXERCISE) >= 2 or ("squat" in a and len(a) > 1),
        [
            "{s} does a short workout",
            "{s} warms up before training",
            "{s} goes through a few exercises",
            "{s} exercises for a moment",
        ],
    ),
    (
        lambda a: a & {"spin", "jump"} and a & {"clap", "raise_arms"},
        ["{s} dances happily", "{s} celebrates a victory", "{s} dances around joyfully"],
    ),
    (
        lambda a: "clap" in a,
        [
            "{s} cheers for somebody",
            "{s} applauds a performance",
            "{s} shows appreciation for a show",
        ],
    ),
    (
        lambda a: "bow" in a,
        ["{s} thanks an audience", "{s} greets people politely", "{s} acknowledges the crowd"],
    ),
    (
        lambda a: "kick" in a,
        [
            "{s} practices martial arts moves",
            "{s} trains some fighting moves",
            "{s} practices self defense",
        ],
    ),
    (
        lambda a: "run" in a,
        ["{s} hurries across the room", "{s} goes for a short jog", "{s} is in a hurry"],
    ),
    (
        lambda a: len(a & _LOCOMOTION) >= 2,
        ["{s} moves around the room", "{s} wanders around", "{s} finds {p} way around the room"],
    ),
    (
        lambda a: True,
        [
            "{s} performs a sequence of movements",
            "{s} goes through a short routine",
            "{s} moves in several different ways",
        ],
    ),
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


def make_captions(
    names: list[str], params: list[dict], rng: np.random.Generator
) -> tuple[str, str, str]:
    """Literal, paraphrase and high-level (or, for one step, second paraphrase) captions.

    Left/right are the subject's own sides, as in the parameters ("side", "arms").
    """
    literal = [phrases(n, p, "the")[0] for n, p in zip(names, params, strict=True)]
    caps = ["a person " + _join(literal, 0) + "."]
    if len(names) == 1:  # two different paraphrases
        for i in rng.permutation(len(phrases(names[0], params[0], "x")[1]))[:2]:
            subject, poss = _VOICES[int(rng.integers(len(_VOICES)))]
            caps.append(f"{subject} {phrases(names[0], params[0], poss)[1][i]}.")
        return caps[0], caps[1], caps[2]
    subject, poss = _VOICES[int(rng.integers(len(_VOICES)))]
    parts = []
    for n, p in zip(names, params, strict=True):
        para = phrases(n, p, poss)[1]
        parts.append(para[int(rng.integers(len(para)))])
    caps.append(f"{subject} {_join(parts, int(rng.integers(4)))}.")
    templates = next(t for test, t in _THEMES if test(set(names)))
    subject, poss = _VOICES[int(rng.integers(len(_VOICES)))]
    caps.append(templates[int(rng.integers(len(templates)))].format(s=subject, p=poss) + ".")
    return caps[0], caps[1], caps[2]
