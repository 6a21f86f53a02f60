"""The camera vocabulary read from what writers and models actually type."""

from __future__ import annotations

import pytest

from agents.camera import changed_camera, in_vocabulary, parse_camera


@pytest.mark.parametrize(
    ("written", "framing"),
    [
        ("close-up", "close-up, eye level, static"),
        ("Low-angle CU, slow dolly in", "close-up, low angle, push in"),
        ("extreme close up, handheld", "extreme close-up, eye level, handheld"),
        ("ECU", "extreme close-up, eye level, static"),
        ("establishing shot from a drone", "extreme wide, eye level, crane"),
        ("bird's eye view", "medium, overhead, static"),
        ("OTS on Mei, POV", "over-the-shoulder, point of view, static"),
        ("Medium close-up, whip pan", "medium close-up, eye level, pan"),
        ("two shot, tracking", "two-shot, eye level, tracking"),
    ],
)
def test_free_text_is_read_into_size_angle_and_move(written: str, framing: str) -> None:
    camera = parse_camera(written)
    assert camera is not None and camera.text == framing
    assert in_vocabulary(framing) and not in_vocabulary(written.upper())


@pytest.mark.parametrize("written", ["{{image}}", "", "beautiful, cinematic", "closer"])
def test_text_that_names_no_framing_is_no_camera(written: str) -> None:
    assert parse_camera(written) is None


def test_an_edit_changes_only_what_it_names() -> None:
    assert changed_camera("wide, high angle, pan", "make it a close-up") == (
        "close-up, high angle, pan"
    )
    assert changed_camera("an old free-text camera", "push in") == "medium, eye level, push in"
