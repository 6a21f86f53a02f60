"""/export: an OpenTimelineIO timeline, EDL, SRT and poster (and the takes when they fit) in one
zip; read back with opentimelineio. Real SQLite, ffmpeg, and the bot against the emulator."""

from __future__ import annotations

import io
import wave
import zipfile
from pathlib import Path
from urllib.parse import unquote, urlparse

import opentimelineio as otio
import pytest
import sqlite_utils
from PIL import Image

from pipeline.delivery.export import frame_counts, plan_export, write_export
from pipeline.ffmpeg import run_ffmpeg
from storage import episodes, plan, projects, takes
from storage.db import open_db
from storage.errors import InvalidState
from tests.builders import shot_in_review
from tests.fakes import say, scripted
from tests.studio import new_project, quiet_studio, running_bot

FPS = 12
SHOTS = (  # duration, dialogue
    (2.5, "我不跪！ I will not kneel."),
    (1.0, ""),
    (3.0, "The water answers."),
)


def take_file(path: Path, seconds: float, noisy: bool = False) -> Path:
    source = f"testsrc2=size=180x320:rate={FPS}:duration={seconds}"
    extra = ["-vf", "noise=alls=60:allf=t", "-crf", "8"] if noisy else []
    run_ffmpeg(["-f", "lavfi", "-i", source, *extra, "-pix_fmt", "yuv420p", str(path)])
    return path


def seed_episode(
    db: sqlite_utils.Database,
    project_id: int,
    folder: Path,
    *,
    approve: bool | tuple[int, ...] = True,
    noisy: bool = False,
) -> int:
    """An episode of SHOTS, each with a real take; approved ones as the review flow leaves them."""
    shot_plans = tuple(plan.ShotPlan(f"Shot about {d}", duration=d, dialogue=t) for d, t in SHOTS)
    episode = plan.save_episode_plan(
        db,
        project_id,
        plan.EpisodePlan("The Flood", "", (plan.ScenePlan("Shore", "", shot_plans),)),
    )
    folder.mkdir(parents=True, exist_ok=True)
    for shot in plan.list_shots(db, episode.id):
        shot_in_review(db, shot.id)
        media = take_file(folder / f"e{episode.id}s{shot.number}.mp4", shot.duration, noisy)
        take = takes.add_take(
            db, shot_id=shot.id, job_id=f"e{episode.id}s{shot.number}", seed=40 + shot.number,
            engine="animatic", model="", media_path=str(media),
        )  # fmt: skip
        if approve is True or (approve and shot.number in approve):
            takes.approve_take(db, take.id)
    return episode.id


def read_timeline(archive: zipfile.ZipFile, name: str = "episode01.otio") -> otio.schema.Timeline:
    return otio.adapters.read_from_string(archive.read(name).decode(), "otio_json")


def check_timeline(timeline: otio.schema.Timeline) -> list[otio.schema.Clip]:
    """One video track, one clip per shot, each as long as its shot, dialogue as markers."""
    (track,) = timeline.tracks
    clips = list(track.find_clips())
    assert [clip.name for clip in clips] == ["Shot 01", "Shot 02", "Shot 03"]
    assert [clip.duration().to_seconds() for clip in clips] == [d for d, _ in SHOTS]
    assert [clip.duration().rate for clip in clips] == [FPS] * 3
    assert timeline.duration().to_seconds() == pytest.approx(6.5)
    assert [[m.name for m in clip.markers] for clip in clips] == [
        ["我不跪！ I will not kneel."],
        [],
        ["The water answers."],
    ]
    return clips


def test_frame_counts_never_drift() -> None:
    assert frame_counts([1.05, 1.05, 1.05], 24) == [25, 25, 26]  # 76 frames = round(3.15 s)
    assert sum(frame_counts([0.33] * 30, 12)) == round(0.33 * 30 * 12)


def test_the_zip_holds_timeline_edl_srt_and_the_takes(fresh_db, tmp_path: Path) -> None:
    project = projects.create_project(fresh_db, "Gong Gong", width=180, height=320, fps=FPS)
    episode_id = seed_episode(fresh_db, project.id, tmp_path / "media")
    # the cut's poster frame sits beside the cut
    cut = tmp_path / "episodes" / "ep1.mp4"
    cut.parent.mkdir()
    Image.new("RGB", (180, 320), (9, 99, 199)).save(cut.with_suffix(".png"))
    for number, name in enumerate(("dialogue", "music", "effects")):  # and its sound's stems
        with wave.open(str(cut.with_suffix(f".{name}.wav")), "wb") as stem:
            stem.setnchannels(2), stem.setsampwidth(2), stem.setframerate(48000)
            stem.writeframes(bytes([number]) * 4 * 48000)
    episodes.set_cut_path(fresh_db, episode_id, str(cut))

    result = write_export(plan_export(fresh_db, episode_id), tmp_path / "out", 10 * 2**20)

    assert result.media_included and result.edl_included
    assert result.path == tmp_path / "out" / "episode01_export.zip"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["episode01_export.zip"]
    with zipfile.ZipFile(result.path) as archive:
        names = sorted(archive.namelist())
        assert names == [
            "README.txt",
            "episode01.edl",
            "episode01.otio",
            "episode01.srt",
            "media/shot001_take1.mp4",
            "media/shot002_take2.mp4",
            "media/shot003_take3.mp4",
            "poster.png",
            "stems/episode01_dialogue.wav",
            "stems/episode01_effects.wav",
            "stems/episode01_music.wav",
        ]
        assert archive.read("poster.png") == cut.with_suffix(".png").read_bytes()
        music = archive.read("stems/episode01_music.wav")
        assert music == cut.with_suffix(".music.wav").read_bytes()
        assert "stems/" in archive.read("README.txt").decode()
        timeline = read_timeline(archive)
        clips = check_timeline(timeline)
        for clip, number in zip(clips, (1, 2, 3), strict=True):
            url = clip.media_reference.target_url
            assert url == f"media/shot{number:03d}_take{number}.mp4"
            original = tmp_path / "media" / f"e{episode_id}s{number}.mp4"
            assert archive.read(url) == original.read_bytes()
            assert clip.metadata["showrunner"]["take_id"] == number
            assert clip.metadata["showrunner"]["seed"] == 40 + number
        assert timeline.name == "Gong Gong — Episode 1: The Flood"
        edl = archive.read("episode01.edl").decode()
        srt = archive.read("episode01.srt").decode()
    events = [line for line in edl.splitlines() if line[:3].isdigit()]
    assert len(events) == 3 and events[1].split()[1] == "SHOT002"
    # 12 fps is no SMPTE rate: the EDL is at 24 fps; shot 2 runs from 2.5 s to 3.5 s
    assert events[1].split()[-2:] == ["00:00:02:12", "00:00:03:12"]
    assert srt == (
        "1\n00:00:00,000 --> 00:00:02,500\n我不跪！ I will not kneel.\n\n"
        "2\n00:00:03,500 --> 00:00:06,500\nThe water answers.\n"
    )


def test_takes_too_big_for_the_limit_stay_on_the_render_machine(fresh_db, tmp_path: Path) -> None:
    project = projects.create_project(fresh_db, "Gong Gong", width=180, height=320, fps=FPS)
    episode_id = seed_episode(fresh_db, project.id, tmp_path / "media")
    media_bytes = sum(p.stat().st_size for p in (tmp_path / "media").iterdir())

    result = write_export(plan_export(fresh_db, episode_id), tmp_path / "out", media_bytes)

    assert not result.media_included
    assert result.size <= media_bytes
    with zipfile.ZipFile(result.path) as archive:
        assert not [name for name in archive.namelist() if name.startswith("media/")]
        assert "render machine" in archive.read("README.txt").decode()
        clips = check_timeline(read_timeline(archive))
    for clip, number in zip(clips, (1, 2, 3), strict=True):
        url = urlparse(clip.media_reference.target_url)
        assert url.scheme == "file"
        assert Path(unquote(url.path)) == tmp_path / "media" / f"e{episode_id}s{number}.mp4"


def test_an_episode_with_unapproved_shots_is_refused(fresh_db, tmp_path: Path) -> None:
    project = projects.create_project(fresh_db, "Gong Gong", fps=FPS)
    episode_id = seed_episode(fresh_db, project.id, tmp_path / "media", approve=(2,))

    with pytest.raises(InvalidState, match=r"shot\(s\) 1, 3 have no approved take"):
        plan_export(fresh_db, episode_id)


async def test_anyone_in_the_room_exports_an_episode_as_a_zip(tmp_path: Path) -> None:
    async with quiet_studio(tmp_path / "data") as world, running_bot(world, scripted(say("-"))):
        await new_project(world)
        db = open_db(world.settings.database_path)
        project = projects.project_for_channel(db, world.writers)
        seed_episode(db, project.id, tmp_path / "media")
        seed_episode(db, project.id, tmp_path / "media", approve=(1,))

        exported = await world.emulator.slash_command(
            world.writers, world.ana, "export", {"episode": 1}
        )
        await exported.wait_response()
        message = await exported.wait_original_content(timeout=60)

        refused = await world.emulator.slash_command(world.delivery, world.ben, "export")
        await refused.wait_response()

    assert not exported.ephemeral
    assert "Episode 1: 3 shots" in message["content"]
    assert "and the 3 approved takes" in message["content"]
    (attachment,) = message["attachments"]
    assert attachment["filename"] == "episode01_export.zip"
    data = world.emulator.attachment_bytes(attachment)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        clips = check_timeline(read_timeline(archive))
        for clip in clips:
            assert clip.media_reference.target_url in archive.namelist()
    # the delivery channel knows its project; episode 2 (the current one) is not ready
    assert refused.ephemeral
    assert "Episode 2 can't be exported yet: shot(s) 2, 3" in refused.response_data["content"]


async def test_an_export_over_the_upload_limit_points_at_the_takes(tmp_path: Path) -> None:
    limit = 200_000
    async with (
        quiet_studio(tmp_path / "data", max_upload_bytes=limit) as world,
        running_bot(world, scripted(say("-"))),
    ):
        await new_project(world)
        db = open_db(world.settings.database_path)
        project = projects.project_for_channel(db, world.writers)
        seed_episode(db, project.id, tmp_path / "media", noisy=True)
        assert sum(p.stat().st_size for p in (tmp_path / "media").iterdir()) > limit

        exported = await world.emulator.slash_command(world.writers, world.ana, "export")
        await exported.wait_response()
        message = await exported.wait_original_content(timeout=60)

    assert "would not fit this server's 0.2 MiB upload limit" in message["content"]
    assert str(tmp_path / "media") in message["content"]
    (attachment,) = message["attachments"]
    data = world.emulator.attachment_bytes(attachment)
    assert len(data) < limit
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        clips = check_timeline(read_timeline(archive))
    assert all(clip.media_reference.target_url.startswith("file://") for clip in clips)
