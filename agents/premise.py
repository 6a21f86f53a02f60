"""What a premise names: the people and places a plan written from it must use.

Names are found the way a reader finds them in English: runs of capitalised words that are not
just the first word of a sentence, and names in quotes or Chinese title marks. A name after
"in", "on", "at" (and the like) is a place; any other is a person. Chinese premises without
such marks name nobody here: telling a name from the words around it needs a segmenter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PLACE_WORDS = {"in", "on", "at", "to", "from", "near", "into", "across", "inside", "outside"}
_NOT_NAMES = {
    "a", "an", "the", "i", "i'm", "i'll", "let's", "lets", "episode", "season", "scene", "shot",
    "make", "write", "and", "but", "or", "when", "then", "there", "this", "that", "one", "two",
    "in", "on", "at", "he", "she", "they", "we", "you", "it", "his", "her", "their", "our",
    "ceo", "ai", "tv", "mr", "mrs", "ms", "dr", "god", "goddess", "king", "queen", "prince",
    "princess", "lord", "lady",
}  # fmt: skip
_WORD = re.compile(r"[A-Za-z][\w'’-]*|[.!?:;\n]")
_MARKED = re.compile(r"[「『《“\"]([^」』》”\"]{1,30})[」』》”\"]")
MAX_NAMES = 6


@dataclass(frozen=True)
class PremiseNames:
    people: tuple[str, ...] = ()
    places: tuple[str, ...] = ()

    @property
    def all(self) -> tuple[str, ...]:
        return (*self.people, *self.places)


def premise_names(premise: str) -> PremiseNames:
    people: list[str] = []
    places: list[str] = []
    run: list[str] = []
    run_opens_sentence = False
    before_run = ""
    previous = "."
    for word in [*_WORD.findall(premise), "."]:
        token = re.sub(r"['’]s$", "", word)  # the CEO's emails: the CEO
        if token[0].isupper() and token.lower() not in _NOT_NAMES:
            if not run:
                run_opens_sentence, before_run = previous in ".!?:;\n", previous.lower()
            run.append(token)
        else:
            # a sentence's capitalised first word alone may be an ordinary word: not a name
            if run and (len(run) > 1 or not run_opens_sentence):
                (places if before_run in _PLACE_WORDS else people).append(" ".join(run))
            run = []
        previous = token
    people.extend(marked.strip() for marked in _MARKED.findall(premise))
    return PremiseNames(_unique(people), _unique(places))


def _unique(names: list[str]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for name in names:
        seen.setdefault(name.lower(), name)
    return tuple(seen.values())[:MAX_NAMES]


def missing_names(names: PremiseNames, plan_text: str) -> tuple[str, ...]:
    """The premise's names that the plan's text never mentions (case-insensitive)."""
    lowered = plan_text.lower()
    return tuple(name for name in names.all if name.lower() not in lowered)
