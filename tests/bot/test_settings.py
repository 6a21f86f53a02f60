"""/project settings: cards, credits, review mode and a music bed upload, through the real bot
against the Discord emulator, with real SQLite and ffmpeg."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pipeline.ffmpeg import run_ffmpeg
from storage import projects
from storage.db import open_db
from storage.errors import InvalidInput
from tests.discord_emulator import InteractionRecord
from tests.fakes import say, scripted
from tests.studio import Studio, new_project, quiet_studio, running_bot


async def settings(world: Studio, user: int, **options: object) -> InteractionRecord:
    record = await world.emulator.slash_command(
        world.writers, user, "project", options, subcommand="settings"
    )
    await record.wait_response(timeout=20)
    return record


async def reply_text(record: InteractionRecord) -> str:
    if record.deferred:
        return (await record.wait_original_content(timeout=30))["content"]
    return record.response_data["content"]


def sine(path: Path, seconds: float = 3.0) -> Path:
    run_ffmpeg(["-f", "lavfi", "-i", f"sine=frequency=330:duration={seconds}", str(path)])
    return path


def the_project(world: Studio) -> projects.Project:
    db = open_db(world.settings.database_path)
    try:
        project = projects.project_for_channel(db, world.writers)
        assert project is not None
        return project
    finally:
        db.close()


def music_files(world: Studio) -> list[str]:
    folder = world.settings.media_dir / "music"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


@pytest.fixture
async def studio(tmp_path: Path) -> AsyncIterator[Studio]:
    async with quiet_studio(tmp_path / "data") as world, running_bot(world, scripted(say("-"))):
        await new_project(world)
        yield world


async def test_a_director_sets_cards_credits_and_review_mode(studio: Studio) -> None:
    world = studio
    record = await settings(
        world,
        world.director,
        review_mode="keyframes",
        title_card_seconds=2.5,
        end_card_seconds=3,
        credits="Written by 李星舟 · @everyone",
        music_volume=0.45,
    )

    assert not record.ephemeral
    text = await reply_text(record)
    assert "review: keyframes (this bot renders full clips: keyframe review needs" in text
    assert "title card 2.5 s, end card 3 s" in text
    assert "Written by 李星舟" in text
    assert "music: none" in text
    project = the_project(world)
    assert (project.review_mode, project.title_card_seconds, project.end_card_seconds) == (
        "keyframes",
        2.5,
        3.0,
    )
    assert project.credits == "Written by 李星舟 · @everyone"
    assert project.music_volume == 0.45
    reply = world.emulator.message(record.original_message_id)
    assert reply["allowed_mentions"] is not None and reply["allowed_mentions"]["parse"] == []
    assert "Written by 李星舟 · @\u200beveryone" in text  # shown, and unable to ping

    # "-" clears the credits, and an end card of 0 s turns it off; the rest stays
    record = await settings(world, world.director, credits="-", end_card_seconds=0)
    text = await reply_text(record)
    assert "credits: none" in text and "cards: title card 2.5 s" in text
    project = the_project(world)
    assert (project.credits, project.end_card_seconds, project.review_mode) == (
        "",
        0.0,
        "keyframes",
    )


async def test_the_options_are_typed_for_discord(studio: Studio) -> None:
    (command,) = [c for c in studio.emulator.registered_commands() if c["name"] == "project"]
    (sub,) = [o for o in command["options"] if o["name"] == "settings"]
    options = {option["name"]: option for option in sub["options"]}
    assert [c["value"] for c in options["review_mode"]["choices"]] == ["clips", "keyframes"]
    assert options["music"]["type"] == 11  # attachment
    assert (
        options["title_card_seconds"]["min_value"],
        options["end_card_seconds"]["max_value"],
    ) == (
        0,
        10,
    )
    assert options["credits"]["max_length"] == 300
    assert options["music_volume"]["max_value"] == 1
    assert not any(option.get("required") for option in options.values())


async def test_a_member_who_is_not_a_director_is_refused(studio: Studio) -> None:
    world = studio
    await settings(world, world.director, director_role=world.director_role)

    record = await settings(world, world.ana, title_card_seconds=4, credits="mine")

    assert record.ephemeral
    assert "Only members with" in record.response_data["content"]
    project = the_project(world)
    assert (project.title_card_seconds, project.credits) == (0.0, "")


async def test_a_member_can_neither_upload_nor_remove_the_music(
    studio: Studio, tmp_path: Path
) -> None:
    world = studio
    song = sine(tmp_path / "theme.wav", seconds=1)
    await reply_text(await settings(world, world.director, music=(song.name, song.read_bytes())))
    ours = the_project(world).music_path
    await settings(world, world.director, director_role=world.director_role)

    for member in (world.ana, world.ben):
        record = await settings(world, member, music=("mine.wav", song.read_bytes()))
        assert record.ephemeral and "Only members with" in record.response_data["content"]
        record = await settings(world, member, music_off=True)
        assert record.ephemeral and "Only members with" in record.response_data["content"]
    # the director's music stays, and no member's upload was kept
    assert the_project(world).music_path == ours and music_files(world) == [Path(ours).name]


async def test_a_music_upload_is_checked_stored_by_id_and_can_be_removed(
    studio: Studio, tmp_path: Path
) -> None:
    world = studio
    song = sine(tmp_path / "Our Song (final!).mp3")

    record = await settings(
        world, world.director, music=(song.name, song.read_bytes()), music_volume=0.2
    )

    text = await reply_text(record)
    assert "music: `Our Song (final!).mp3` (new) at volume 0.2" in text
    project = the_project(world)
    # stored relative to the media folder, which is where the cut looks for it
    assert re.fullmatch(rf"music/project{project.id}-[0-9a-f]{{8}}\.mp3", project.music_path)
    stored = world.settings.media_dir / project.music_path
    assert stored.read_bytes() == song.read_bytes()
    assert music_files(world) == [stored.name]  # no partial file left

    # a new upload in another format replaces the old file
    wav = tmp_path / "theme.wav"
    run_ffmpeg(["-f", "lavfi", "-i", "sine=frequency=220:duration=2", str(wav)])
    record = await settings(world, world.director, music=(wav.name, wav.read_bytes()))
    await reply_text(record)
    now = the_project(world).music_path
    assert now.endswith(".wav") and music_files(world) == [Path(now).name]

    # settings refused after the upload: the project keeps its music, the upload is dropped
    record = await settings(
        world, world.director, music=(song.name, song.read_bytes()), title_card_seconds=99
    )
    assert "Title card must last 0 to 10 seconds" in await reply_text(record)
    assert the_project(world).music_path == now and music_files(world) == [Path(now).name]

    record = await settings(world, world.director, music_off=True)
    assert "music: none" in await reply_text(record)
    assert the_project(world).music_path == ""
    assert music_files(world) == []


async def test_a_file_that_is_not_audio_is_refused_and_nothing_is_stored(
    studio: Studio, tmp_path: Path
) -> None:
    world = studio
    record = await settings(
        world, world.director, music=("notes.txt", b"scene 1: the shore\n"), credits="x"
    )
    assert record.ephemeral
    assert "`notes.txt` is not an audio file" in record.response_data["content"]

    # named like audio, but ffmpeg finds no sound in it
    record = await settings(world, world.director, music=("song.mp3", b"not really a song" * 99))
    text = await reply_text(record)
    assert "`song.mp3` has no audio that ffmpeg can read" in text

    # a video file without an audio track is no music either
    silent = tmp_path / "silent.m4a"
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc=size=64x64:duration=1", "-f", "mp4", str(silent)])
    record = await settings(world, world.director, music=("clip.m4a", silent.read_bytes()))
    assert "has no audio" in await reply_text(record)

    project = the_project(world)
    assert (project.music_path, project.credits) == ("", "")
    assert music_files(world) == []


def test_storage_refuses_bad_values_by_name_and_changes_nothing(fresh_db) -> None:
    project = projects.create_project(fresh_db, "Gong Gong")
    bad = [
        ({"review_mode": "storyboard"}, "'storyboard'"),
        ({"title_card_seconds": 10.5}, "Title card must last 0 to 10 seconds, not 10.5"),
        ({"end_card_seconds": -1}, "End card must last 0 to 10 seconds, not -1"),
        ({"end_card_seconds": float("nan")}, "not nan"),
        ({"credits": "x" * 301}, "at most 300 characters, not 301"),
        ({"music_volume": 1.5}, "between 0 and 1, not 1.5"),
    ]
    for options, message in bad:
        with pytest.raises(InvalidInput, match=message.replace("(", r"\(")):
            projects.update_settings(fresh_db, project.id, quorum=3, **options)
    assert projects.get_project(fresh_db, project.id) == project

    changed = projects.update_settings(
        fresh_db, project.id, review_mode="keyframes", credits="  Cast: 共工  ", music_volume=0
    )
    assert (changed.review_mode, changed.credits, changed.music_volume) == (
        "keyframes",
        "Cast: 共工",
        0.0,
    )
