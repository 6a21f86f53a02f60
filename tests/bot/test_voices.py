"""The voice bible through Discord: an audition of three voices and the team's pick by the
quorum; a director's reference clip, checked. The real bot against the emulator, a real
worker speaking, real SQLite."""

from __future__ import annotations

from pathlib import Path

from pipeline.ffmpeg import run_ffmpeg
from storage import auditions, characters, projects
from storage.db import open_db
from tests.fakes import say, scripted
from tests.studio import command, open_studio, running_bot, start_two_shot_project

PICKS = ("1️⃣", "2️⃣", "3️⃣")


async def test_an_audition_posts_three_readings_and_the_quorums_pick_becomes_the_voice(
    tmp_path: Path,
):
    async with open_studio(tmp_path / "data") as world, running_bot(world, scripted(say("-"))):
        await start_two_shot_project(world)  # quorum 2
        db = open_db(world.settings.database_path)
        project = projects.project_for_channel(db, world.writers)
        asked = await command(world, world.ana, "character", {"name": "li xingzhou"},
                              subcommand="audition")  # fmt: skip
        assert asked["content"].startswith("🎙️ Three voices are reading “Line 1: I will not")
        post = await world.emulator.wait_for_message(
            world.writers,
            lambda m: m["content"].startswith("🎙️ **Audition for Li Xingzhou**"),
            timeout=60,
        )
        names = [attachment["filename"] for attachment in post["attachments"]]
        assert names == ["audition_1.wav", "audition_2.wav", "audition_3.wav"]
        assert all(world.emulator.attachment_bytes(a)[:4] == b"RIFF" for a in post["attachments"])
        reactions = lambda: set(world.emulator.message(post["id"])["reactions"])  # noqa: E731
        await world.emulator.wait_until(lambda: reactions() == set(PICKS))
        audition = auditions.audition_for_message(db, post["id"])
        assert audition is not None and f"2️⃣ {audition.voices[1].describe()}" in post["content"]

        # one vote is not the quorum of 2: 3️⃣ first, then two for 2️⃣
        await world.emulator.user_react(world.writers, post["id"], world.ben, "3️⃣")
        await world.emulator.user_react(world.writers, post["id"], world.ana, "2️⃣")
        await world.emulator.user_react(world.writers, post["id"], world.director, "2️⃣")
        picked = await world.emulator.wait_for_message(
            world.writers, lambda m: m["content"].startswith("🗣️ The team picked 2️⃣")
        )
        assert f"now speaks in {audition.voices[1].describe()}" in picked["content"]
        li = characters.get_character(db, project.id, "Li Xingzhou")
        assert li.voice == audition.voices[1]


async def test_a_directors_voice_clip_is_checked_and_kept_with_the_voice(tmp_path: Path):
    recording = tmp_path / "li.m4a"
    run_ffmpeg(["-f", "lavfi", "-i", "sine=frequency=150:duration=5", "-c:a", "aac",
                str(recording)])  # fmt: skip
    async with open_studio(tmp_path / "data") as world, running_bot(world, scripted(say("-"))):
        await start_two_shot_project(world)
        db = open_db(world.settings.database_path)
        project = projects.project_for_channel(db, world.writers)

        async def clip(user: int, name: str, data: bytes) -> dict:
            record = await world.emulator.slash_command(
                world.writers, user, "character",
                {"name": "Li Xingzhou", "clip": (name, data)}, subcommand="voice",
            )  # fmt: skip
            await record.wait_response()
            return (
                record.response_data
                if record.ephemeral
                else await record.wait_original_content(timeout=30)
            )

        refused = await clip(world.ana, "li.m4a", recording.read_bytes())
        assert "Only members with" in refused["content"]
        refused = await clip(world.director, "notes.txt", b"not a recording" * 50)
        assert refused["content"] == "⚠️ `notes.txt` is not an audio file ffmpeg can read."
        kept = await clip(world.director, "li.m4a", recording.read_bytes())
        assert "`li.m4a` is kept as **Li Xingzhou**'s voice clip" in kept["content"]
        voice = characters.get_character(db, project.id, "Li Xingzhou").voice
        assert voice is not None and Path(voice.clip).is_file() and voice.name == "m3"
