"""The contact sheet of a shot's takes, and the review post that carries it (Discord emulator)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.ffmpeg import run_ffmpeg
from pipeline.pictures.contact_sheet import (
    CELL_HEIGHT,
    CELL_WIDTH,
    GAP,
    contact_sheet_for_takes,
    grid,
    make_contact_sheet,
)
from pipeline.worker.engines import create_engine, no_progress
from pipeline.worker.engines.clip import still_to_clip
from pipeline.worker.requests import RenderRequest
from storage import plan, projects, takes
from storage.db import open_db
from tests.discord_emulator import DiscordEmulator
from tests.fakes import say, scripted
from tests.studio import Studio, open_studio, running_bot

COLOURS = [(200, 30, 30), (30, 160, 40), (40, 60, 210)]


def cell_origin(index: int, columns: int) -> tuple[int, int]:
    row, column = divmod(index, columns)
    return GAP + column * (CELL_WIDTH + GAP), GAP + row * (CELL_HEIGHT + GAP)


def badge(sheet: Image.Image, index: int, columns: int) -> np.ndarray:
    left, top = cell_origin(index, columns)
    size = CELL_WIDTH // 5 + CELL_WIDTH // 25 + 4
    return np.asarray(sheet.crop((left, top, left + size, top + size)).convert("L"))


def test_sheet_is_a_numbered_grid_of_9_16_cells(tmp_path: Path) -> None:
    stills = [Image.new("RGB", (64, 112), colour) for colour in COLOURS]
    out = make_contact_sheet([*stills, None], tmp_path / "sheet.png")

    with Image.open(out) as sheet:
        sheet = sheet.convert("RGB")
    assert grid(4) == (4, 1)
    assert sheet.size == (4 * CELL_WIDTH + 5 * GAP, CELL_HEIGHT + 2 * GAP)
    assert CELL_WIDTH * 16 == CELL_HEIGHT * 9
    for index, colour in enumerate(COLOURS):
        left, top = cell_origin(index, 4)
        # the picture fills its cell (centre and bottom-right corner)
        assert sheet.getpixel((left + CELL_WIDTH // 2, top + CELL_HEIGHT // 2)) == colour
        assert sheet.getpixel((left + CELL_WIDTH - 2, top + CELL_HEIGHT - 2)) == colour
    # a take whose picture is gone still has its numbered cell, in grey
    left, top = cell_origin(3, 4)
    assert sheet.getpixel((left + CELL_WIDTH // 2, top + CELL_HEIGHT // 2)) == (70, 70, 76)
    badges = [badge(sheet, index, 4) for index in range(4)]
    for mark in badges:
        assert (mark > 240).sum() > 200  # a white disc ...
        assert (mark < 60).sum() > 20  # ... with a dark number on it
    # each badge carries its own number
    assert not np.array_equal(badges[0] < 60, badges[1] < 60)
    assert not np.array_equal(badges[1] < 60, badges[2] < 60)


def test_more_than_four_takes_wrap_into_rows(tmp_path: Path) -> None:
    out = make_contact_sheet([Image.new("RGB", (9, 16), "white")] * 6, tmp_path / "six.png")
    with Image.open(out) as sheet:
        assert sheet.size == (4 * CELL_WIDTH + 5 * GAP, 2 * CELL_HEIGHT + 3 * GAP)


def test_a_take_without_a_still_shows_its_clips_first_frame(tmp_path: Path) -> None:
    still = tmp_path / "still.png"
    Image.new("RGB", (180, 320), (250, 200, 0)).save(still)
    clip = tmp_path / "clip.mp4"
    still_to_clip(still, clip, width=180, height=320, duration=0.5, fps=12, move="static")
    out = contact_sheet_for_takes(
        [("", str(clip)), ("", str(tmp_path / "gone.mp4"))], tmp_path / "s.png"
    )
    with Image.open(out) as sheet:
        red, green, blue = sheet.convert("RGB").getpixel(
            (GAP + CELL_WIDTH // 2, GAP + CELL_HEIGHT // 2)
        )
    assert red > 220 and 170 < green < 230 and blue < 40


# --- the review post ----------------------------------------------------------------------------


def shot_with_takes(db, world: Studio, media: list[tuple[str, str]]) -> int:
    project = projects.create_project(
        db,
        "Gong Gong",
        guild_id=world.guild,
        writers_channel_id=world.writers,
        review_channel_id=world.review,
        width=180,
        height=320,
        fps=12,
    )
    draft = plan.EpisodePlan(
        "Flood", "", scenes=(plan.ScenePlan("Shore", "", (plan.ShotPlan("Waves", "wide", 1.0),)),)
    )
    episode = plan.save_episode_plan(db, project.id, draft)
    (shot,) = plan.list_shots(db, episode.id)
    for seed, (clip, still) in enumerate(media, start=1):
        takes.add_take(
            db,
            shot_id=shot.id,
            job_id="job1",
            seed=seed,
            engine="animatic",
            model="",
            media_path=clip,
            preview_path=still,
        )
    plan.set_shot_status(db, shot.id, "queued")
    plan.set_shot_status(db, shot.id, "rendering")
    plan.set_shot_status(db, shot.id, "review")
    return shot.id


def review_posts(emulator: DiscordEmulator, world: Studio) -> list[dict]:
    return [
        m
        for m in emulator.messages(world.review)
        if m["author_id"] == emulator.bot_user_id and m["attachments"]
    ]


async def test_a_post_with_several_takes_leads_with_the_sheet(tmp_path: Path) -> None:
    request = RenderRequest(
        job_id="job1",
        engine="animatic",
        prompt="waves",
        seeds=(1, 2, 3),
        duration=1.0,
        width=180,
        height=320,
        fps=12,
        description="Waves crash",
    )
    rendered = create_engine("animatic").render(request, tmp_path / "takes", no_progress)
    async with (
        open_studio(tmp_path / "data") as world,
        running_bot(world, scripted(say("hi"))) as bot,
    ):
        shot_id = shot_with_takes(
            bot.runtime.db, world, [(t.media_path, t.preview_path) for t in rendered]
        )
        await bot.get_cog("ReviewCog").post_draft(shot_id)
        (post,) = review_posts(world.emulator, world)
        await world.emulator.wait_until(
            lambda: len(world.emulator.message(post["id"])["reactions"]) == 5
        )
    names = [attachment["filename"] for attachment in post["attachments"]]
    assert names == ["shot1_takes.png", "shot1_take1.mp4", "shot1_take2.mp4", "shot1_take3.mp4"]
    sheet_path = tmp_path / "sheet.png"
    sheet_path.write_bytes(world.emulator.attachment_bytes(post["attachments"][0]))
    with Image.open(sheet_path) as sheet:
        assert sheet.size == (3 * CELL_WIDTH + 4 * GAP, CELL_HEIGHT + 2 * GAP)
    assert list(world.emulator.message(post["id"])["reactions"]) == ["1️⃣", "2️⃣", "3️⃣", "👎", "🔁"]
    assert "not attached" not in post["content"]
    ids = [
        take.id
        for take in takes.takes_for_message(open_db(world.settings.database_path), post["id"])
    ]
    assert f"Take ids: 1️⃣ {ids[0]} · 2️⃣ {ids[1]} · 3️⃣ {ids[2]}" in post["content"]


@pytest.fixture(scope="module")
def big_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 3.5 MB of noise: three of these and a sheet do not fit a 10 MiB upload."""
    out = tmp_path_factory.mktemp("big") / "noise.mp4"
    source = "nullsrc=s=360x640:r=24:d=2,geq=random(1)*255:random(2)*255:random(3)*255"
    run_ffmpeg(
        [
            "-f",
            "lavfi",
            "-i",
            f"{source},format=yuv420p",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-b:v",
            "14M",
            "-maxrate",
            "14M",
            "-bufsize",
            "4M",
            str(out),
        ]
    )
    assert 3_000_000 < out.stat().st_size < 4_500_000
    return out


async def test_takes_over_the_upload_limit_are_left_out_and_the_post_says_so(
    tmp_path: Path, big_clip: Path
) -> None:
    clips = []
    for number in range(1, 5):
        clip = tmp_path / f"take{number}.mp4"
        shutil.copy(big_clip, clip)
        clips.append((str(clip), ""))
    async with (
        open_studio(tmp_path / "data") as world,
        running_bot(world, scripted(say("hi"))) as bot,
    ):
        shot_id = shot_with_takes(bot.runtime.db, world, clips)
        await bot.get_cog("ReviewCog").post_draft(shot_id)
        (post,) = review_posts(world.emulator, world)
    names = [attachment["filename"] for attachment in post["attachments"]]
    assert names == ["shot1_takes.png", "shot1_take1.mp4", "shot1_take2.mp4"]
    assert "Takes 3, 4 not attached: over this server's upload limit (10 MiB)" in post["content"]
    sheet_path = tmp_path / "sheet.png"
    sheet_path.write_bytes(world.emulator.attachment_bytes(post["attachments"][0]))
    with Image.open(sheet_path) as sheet:  # all four takes are on the sheet, from their clips
        assert sheet.size == (4 * CELL_WIDTH + 5 * GAP, CELL_HEIGHT + 2 * GAP)
