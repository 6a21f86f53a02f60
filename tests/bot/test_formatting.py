"""Text for Discord: a long answer split into messages that each fit, where a reader would
break it, with nothing lost; and clipped labels."""

from __future__ import annotations

from bot.formatting import MESSAGE_LIMIT, clip, split_message


def test_a_message_that_fits_is_one_part_even_at_the_limit() -> None:
    assert split_message("x" * MESSAGE_LIMIT) == ["x" * MESSAGE_LIMIT]
    assert split_message("  short answer \n") == ["short answer"]


def test_an_empty_answer_is_an_ellipsis_not_an_empty_message() -> None:
    assert split_message("") == ["…"]
    assert split_message("   \n ") == ["…"]


def test_a_long_answer_breaks_at_the_last_line_break_that_fits() -> None:
    first = "a" * 1500
    second = "b" * 1000
    assert split_message(f"{first}\n{second}") == [first, second]


def test_a_line_break_early_in_the_part_gives_way_to_the_last_space() -> None:
    # a break before half the limit would waste the message: the last space is used instead
    for early in ("intro", "x" * 40):  # a break at 5, and one between a third and a half
        text = f"{early}\n" + "words " * 500
        parts = split_message(text, limit=100)
        assert parts[0] == text[: text.rfind(" ", 0, 100)]  # up to the last space that fits
        assert all(len(part) <= 100 and part.endswith("words") for part in parts)
        assert " ".join(parts).split() == text.split()


def test_the_last_line_break_that_fits_is_used_not_the_first() -> None:
    text = "a" * 600 + "\n" + "b" * 600 + "\n" + "c" * 1000
    assert split_message(text) == ["a" * 600 + "\n" + "b" * 600, "c" * 1000]


def test_a_line_break_at_exactly_half_the_limit_is_used() -> None:
    assert split_message("a" * 1000 + "\n" + "b" * 1500) == ["a" * 1000, "b" * 1500]
    # an odd limit: half of 101 is 50 (whole characters)
    assert split_message("a" * 50 + "\n" + "b" * 80, limit=101) == ["a" * 50, "b" * 80]


def test_a_space_early_in_the_part_gives_way_to_a_hard_cut() -> None:
    text = "x" * 40 + " " + "y" * 200  # the only space is before half the limit
    assert split_message(text, limit=100) == ["x" * 40 + " " + "y" * 59, "y" * 100, "y" * 41]


def test_spaces_before_a_line_break_do_not_end_a_part() -> None:
    assert split_message("a" * 1500 + "   \n" + "b" * 1000) == ["a" * 1500, "b" * 1000]


def test_text_without_breaks_is_cut_hard_at_the_limit() -> None:
    text = "z" * 250
    assert split_message(text, limit=100) == ["z" * 100, "z" * 100, "z" * 50]


def test_every_part_fits_and_nothing_is_lost() -> None:
    text = "\n".join(f"Line {n}: " + "word " * (n % 40) for n in range(300))
    parts = split_message(text)
    assert all(0 < len(part) <= MESSAGE_LIMIT for part in parts)
    assert " ".join(parts).split() == text.split()


def test_clip_keeps_short_text_and_ends_long_text_with_an_ellipsis() -> None:
    assert clip("abc", 3) == "abc"
    assert clip("abcd", 3) == "ab…"
    assert len(clip("x" * 500, 300)) == 300
