"""The storyboard contact sheet: thumbnails, status colours, size cap, and /project status."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.pictures.storyboard import (
    CARD,
    MAX_BYTES,
    STATUS_COLOURS,
    Layout,
    storyboard_sheet,
)
from storage import plan, projects, takes
from storage.db import open_db
from storage.errors import InvalidInput
from tests.fakes import say, scripted
from tests.studio import new_project, quiet_studio, running_bot

STATUSES = list(STATUS_COLOURS)  # planned, queued, rendering, review, approved, retake


def episode_with(db, count: int, description: str = "Waves rise over the shore") -> int:
    project = projects.create_project(db, "Gong Gong", writers_channel_id=None)
    shots = tuple(plan.ShotPlan(f"{description} ({n + 1})", duration=3) for n in range(count))
    episode = plan.save_episode_plan(
        db, project.id, plan.EpisodePlan("The Flood", "", (plan.ScenePlan("Shore", "", shots),))
    )
    return episode.id


def set_status(db, episode_id: int, number: int, status: str) -> None:
    shot = plan.shot_by_number(db, episode_id, number)
    db.table("shots").update(shot.id, {"status": status})


def picture(path: Path, colour: tuple[int, int, int], size=(180, 320)) -> Path:
    Image.new("RGB", size, colour).save(path)
    return path


def add_take(db, episode_id: int, number: int, preview: Path | str, job: str) -> int:
    shot = plan.shot_by_number(db, episode_id, number)
    take = takes.add_take(
        db, shot_id=shot.id, job_id=job, seed=1, engine="animatic", model="",
        media_path=str(Path(preview).with_suffix(".mp4")), preview_path=str(preview),
    )  # fmt: skip
    return take.id


def centre(image: Image.Image, box: tuple[int, int, int, int]) -> tuple[int, int, int]:
    left, top, right, bottom = box
    return image.getpixel(((left + right) // 2, (top + bottom) // 2))


def test_each_status_has_its_border_colour_and_the_right_picture(fresh_db, tmp_path: Path) -> None:
    episode_id = episode_with(fresh_db, 6)
    for number, status in enumerate(STATUSES, start=1):
        set_status(fresh_db, episode_id, number, status)
    # shot 2: a take with a preview; shot 5: an older approved take wins over a newer take
    add_take(fresh_db, episode_id, 2, picture(tmp_path / "blue.png", (0, 0, 255)), "j2")
    approved = add_take(fresh_db, episode_id, 5, picture(tmp_path / "red.png", (200, 0, 0)), "j5")
    add_take(fresh_db, episode_id, 5, picture(tmp_path / "teal.png", (0, 128, 128)), "j5b")
    fresh_db.table("shots").update(
        plan.shot_by_number(fresh_db, episode_id, 5).id, {"approved_take_id": approved}
    )
    # shot 6: its preview file is gone, so it gets the plain card
    add_take(fresh_db, episode_id, 6, tmp_path / "gone.png", "j6")

    out = storyboard_sheet(fresh_db, episode_id, tmp_path / "sheets" / "ep1.png")

    layout = Layout.for_count(6)
    with Image.open(out) as image:
        assert image.format == "PNG"
        image = image.convert("RGB")
        assert image.width == layout.size[0]
        for index, status in enumerate(STATUSES):
            left, top, right, bottom = layout.box(index)
            middle = (top + bottom) // 2
            for x, y in (
                (left + 1, middle),
                (right - 2, middle),
                ((left + right) // 2, bottom - 2),
            ):
                assert image.getpixel((x, y)) == STATUS_COLOURS[status], (status, x, y)
        assert centre(image, layout.box(1)) == (0, 0, 255)
        assert centre(image, layout.box(4)) == (200, 0, 0)
        for plain in (0, 2, 3, 5):  # no take or no picture: a card with the description
            left, top, right, bottom = layout.box(plain)
            inner = layout.border + 2
            assert image.getpixel((left + inner, bottom - inner)) == CARD
            text_area = image.crop((left + inner, top + inner, right - inner, bottom - inner))
            assert len(text_area.getcolors(65536)) > 2  # number badge and description drawn
    assert sorted(p.name for p in out.parent.iterdir()) == ["ep1.png"]  # no partial file


def test_chinese_descriptions_are_drawn_with_a_cjk_font(fresh_db, tmp_path: Path) -> None:
    """Rendered with a font that has the glyphs, different characters look different (a font
    without them draws the same empty box for each)."""
    sheets = []
    for text in ("共工怒触不周山", "洪水滔天李星舟"):
        episode_id = episode_with(fresh_db, 1, text)
        sheet = storyboard_sheet(fresh_db, episode_id, tmp_path / f"{episode_id}.png")
        with Image.open(sheet) as image:
            box = Layout.for_count(1).box(0)
            sheets.append(np.asarray(image.convert("L").crop(box)))
    assert (sheets[0] != sheets[1]).sum() > 200


def test_sixty_noisy_shots_fit_well_under_the_upload_limit(fresh_db, tmp_path: Path) -> None:
    episode_id = episode_with(fresh_db, 60)
    rng = np.random.default_rng(7)
    for number in range(1, 61):
        set_status(fresh_db, episode_id, number, STATUSES[number % 6])
        noise = rng.integers(0, 256, (320, 180, 3), dtype=np.uint8)  # the worst case for PNG
        preview = tmp_path / f"p{number}.png"
        Image.fromarray(noise).save(preview)
        add_take(fresh_db, episode_id, number, preview, f"j{number}")

    started = time.monotonic()
    out = storyboard_sheet(fresh_db, episode_id, tmp_path / "sheet.png")
    took = time.monotonic() - started

    size = out.stat().st_size
    assert size <= MAX_BYTES
    with Image.open(out) as image:
        assert image.format == "PNG"
        assert 1000 <= image.width <= 1920 and image.height >= 1000
    print(f"60 noisy shots: {size / 2**20:.2f} MiB, {image.size}, {took:.1f} s")


def test_an_episode_without_shots_is_refused(fresh_db, tmp_path: Path) -> None:
    project = projects.create_project(fresh_db, "Gong Gong")
    episode = fresh_db.table("episodes").insert(
        {"project_id": project.id, "number": 1, "title": "Empty", "synopsis": "",
         "status": "writing", "created_at": "2026-01-01T00:00:00"}
    ).last_pk  # fmt: skip
    with pytest.raises(InvalidInput, match="no shots"):
        storyboard_sheet(fresh_db, episode, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


async def test_project_status_posts_the_plan_with_its_storyboard(tmp_path: Path) -> None:
    async with quiet_studio(tmp_path / "data") as world, running_bot(world, scripted(say("-"))):
        await new_project(world)
        empty = await world.emulator.slash_command(
            world.writers, world.ana, "project", subcommand="status"
        )
        await empty.wait_response()
        assert "no episode yet" in empty.response_data["content"]

        db = open_db(world.settings.database_path)
        project = projects.project_for_channel(db, world.writers)
        shots = tuple(plan.ShotPlan(f"Shot {n}", duration=2) for n in range(1, 5))
        episode = plan.save_episode_plan(
            db, project.id, plan.EpisodePlan("The Flood", "", (plan.ScenePlan("S", "", shots),))
        )
        set_status(db, episode.id, 1, "approved")

        status = await world.emulator.slash_command(
            world.writers, world.ana, "project", subcommand="status"
        )
        await status.wait_response()
        message = await status.wait_original_content(timeout=30)

    assert "Episode 1: The Flood" in message["content"] and "Shot 4" in message["content"]
    (attachment,) = message["attachments"]
    assert attachment["filename"] == "storyboard_episode1.png"
    data = world.emulator.attachment_bytes(attachment)
    assert len(data) <= MAX_BYTES
    layout = Layout.for_count(4)
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG" and image.width == layout.size[0]
        left, top, _, bottom = layout.box(0)
        assert (
            image.convert("RGB").getpixel((left + 1, (top + bottom) // 2))
            == (STATUS_COLOURS["approved"])
        )
