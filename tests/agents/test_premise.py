"""The people and places a premise names."""

from __future__ import annotations

import pytest

from agents.premise import PremiseNames, missing_names, premise_names


@pytest.mark.parametrize(
    ("premise", "people", "places"),
    [
        ("A mortal defies the water god Gong Gong on a rugged shore", ("Gong Gong",), ()),
        (
            "Let's make episode 1: the mortal Li Xingzhou defies the water god...",
            ("Li Xingzhou",),
            (),
        ),
        (
            "Li Xingzhou meets Mei in Chang'an. Later he sails to Penglai Island.",
            ("Li Xingzhou", "Mei"),
            ("Chang'an", "Penglai Island"),
        ),
        ("An intern finds out the CEO's emails are written by an AI", (), ()),
        ("「林晚」回到了沈家，在订婚宴上揭穿假千金", ("林晚",), ()),
        ("被赶出豪门的真千金三年后回归", (), ()),
    ],
)
def test_names_are_people_unless_a_place_word_comes_first(premise, people, places) -> None:
    assert premise_names(premise) == PremiseNames(people, places)


def test_a_name_counts_as_used_in_any_case() -> None:
    names = PremiseNames(("Li Xingzhou", "Gong Gong"), ("Penglai",))
    assert missing_names(names, "li xingzhou rows to PENGLAI") == ("Gong Gong",)
