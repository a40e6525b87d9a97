"""A closed-lexicon POS tagger for the procedural captions, in the style of HumanML3D texts.

The captions come from a fixed grammar (`captions.py`), so a word list and a few context rules
tag them exactly, without a statistical tagger:

    pos_tags("a person walks forward, then waves with the right hand.")[:4]
    # ['a/DET', 'person/NOUN', 'walk/VERB', 'forward/ADV']
"""

from __future__ import annotations

import re

from motion_r1_core.data.mirror import LEFT_RIGHT

# The closed vocabulary of the caption grammar, tagged in the spaCy style of the HumanML3D texts:
# NOUN and VERB lemmatised (except "left"), non-alphabetic tokens dropped. Entries are `word` or
# `word:lemma`.
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
_NOUN_OR_VERB = {
    "step": "step",
    "steps": "step",
    "turn": "turn",
    "kick": "kick",
    "squat": "squat",
    "squats": "squat",
    "bow": "bow",
    "hops": "hop",
}
_BEFORE_NOUN = {
    "a",
    "an",
    "the",
    "side",
    "quarter",
    "deep",
    "full",
    "short",
    "two",
    "three",
    "four",
    "five",
    "six",
}
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
        if w in LEFT_RIGHT:  # the subject's side: "left hand", "to the left", "turns left"
            lemma, pos = w, "ADJ" if nxt in _BODY else ("NOUN" if prev == "the" else "ADV")
        elif w in _NOUN_OR_VERB:
            lemma, pos = _NOUN_OR_VERB[w], "NOUN" if prev in _BEFORE_NOUN else "VERB"
        else:
            lemma, pos = _LEXICON.get(w, (w, "X"))  # X: unknown, never in generated captions
        out.append(f"{lemma}/{pos}")
    return out
