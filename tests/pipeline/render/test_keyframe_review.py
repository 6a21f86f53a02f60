"""Keyframe-first review and continuity: a real render actor with tiny SD and LTX models, the
real scheduler and SQLite, real ffmpeg."""

from __future__ import annotations

import base64
import functools
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from pipeline.ffmpeg import ffmpeg_binary, probe
from pipeline.render.actors import RenderActorClient
from pipeline.render.queue import (
    CLIP_PRIORITY,
    EngineChoice,
    build_render_request,
    prepare_render_request,
    queue_episode_render,
)
from pipeline.render.scheduler import Scheduler, run_until_idle
from pipeline.worker.engines import create_engine
from pipeline.worker.requests import RenderRequest
from pipeline.workflow import queue_waiting_clips
from storage import episodes, jobs, plan, projects, takes
from storage.db import open_db
from tests.builders import shot_in_review

SMALL = {"width": 96, "height": 160, "fps": 8}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    import torch

    torch.set_num_threads(1)
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    from pipeline.worker.tiny_models.keyframe import make_tiny_model
    from pipeline.worker.tiny_models.video import make_tiny_video_model

    folder = tmp_path_factory.mktemp("models")
    return str(make_tiny_model(folder / "tiny-sd")), str(make_tiny_video_model(folder / "ltx"))


def make_episode(db, review_mode: str, shots: int = 1):
    project = projects.create_project(db, "Night Market", writers_channel_id=1, **SMALL)
    projects.update_settings(db, project.id, review_mode=review_mode)
    draft = plan.EpisodePlan(
        "The Envelope",
        "",
        scenes=(
            plan.ScenePlan(
                "Market",
                "",
                tuple(plan.ShotPlan(f"shot {i}", "close", 1.0) for i in range(1, shots + 1)),
            ),
        ),
    )
    return plan.save_episode_plan(db, project.id, draft)


def decoded(image_base64: str) -> np.ndarray:
    with Image.open(io.BytesIO(base64.b64decode(image_base64))) as image:
        return np.asarray(image.convert("RGB"))


def png_base64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def last_frame(path: str, width: int, height: int) -> np.ndarray:
    """The last frame of a clip, decoding every frame (independent of -sseof)."""
    raw = subprocess.run(
        [ffmpeg_binary(), "-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True,
        check=True,
    ).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)
    return frames[-1]


@pytest.mark.slow  # a render actor, two models, keyframes, a clip and a cut: ~30 s
async def test_keyframe_review_approving_a_still_renders_its_clip(
    fresh_db, models: tuple[str, str], worker: RenderActorClient, tmp_path: Path
) -> None:
    keyframe_model, video_model = models
    episode = make_episode(fresh_db, "keyframes")
    scheduler = Scheduler(fresh_db, [worker], tmp_path / "media")
    choice = EngineChoice(
        engine="video", model=keyframe_model, video_model=video_model, takes=2, steps=2
    )
    _, (first_job,) = queue_episode_render(fresh_db, episode.id, choice)
    assert first_job.payload["output"] == "keyframe"

    await run_until_idle(scheduler, timeout=120)

    (shot,) = plan.list_shots(fresh_db, episode.id)
    stills = takes.takes_for_shot(fresh_db, shot.id)
    assert [take.kind for take in stills] == ["keyframe", "keyframe"]
    assert plan.get_shot(fresh_db, shot.id).status == "review"
    chosen = stills[1]
    takes.approve_take(fresh_db, chosen.id)  # and stopped before queueing the clip
    shot = plan.get_shot(fresh_db, shot.id)
    # the look is approved, the shot is not: it waits for its clip
    assert (shot.status, shot.approved_take_id) == ("queued", None)

    (clip_job,) = queue_waiting_clips(fresh_db)  # at the next start
    assert queue_waiting_clips(fresh_db) == []  # queued once
    assert clip_job.priority == CLIP_PRIORITY
    request, note = await prepare_render_request(fresh_db, clip_job)
    assert note == "" and request.output == "clip" and request.seeds == (chosen.seed,)
    with Image.open(chosen.preview_path) as still:
        assert np.array_equal(decoded(request.init_image), np.asarray(still.convert("RGB")))

    await run_until_idle(scheduler, timeout=120)

    assert jobs.get_job(fresh_db, clip_job.id).status == "done"
    clip = takes.takes_for_shot(fresh_db, shot.id)[-1]
    assert (clip.kind, clip.source_take_id, clip.seed) == ("clip", chosen.id, chosen.seed)
    assert clip.status == "approved"
    shot = plan.get_shot(fresh_db, shot.id)
    assert (shot.status, shot.approved_take_id) == ("approved", clip.id)
    info = probe(clip.media_path)
    assert (info.width, info.height) == (96, 160) and abs(info.duration - 1.0) < 0.05
    # the last approved shot completes the episode: its cut ran too
    cut_path = episodes.get_episode(fresh_db, episode.id).cut_path
    assert cut_path and Path(cut_path).exists()


class Spy:
    def __init__(self, pipe: Any, calls: list[dict[str, Any]]) -> None:
        self.pipe, self.calls = pipe, calls

    def __call__(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        return self.pipe(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pipe, name)


async def test_continuous_shot_starts_from_the_previous_approved_last_frame(
    fresh_db,
    models: tuple[str, str],
    worker: RenderActorClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, video_model = models
    episode = make_episode(fresh_db, "clips", shots=2)
    first, second = plan.list_shots(fresh_db, episode.id)
    plan.edit_shot(fresh_db, second.id, continuous=True)
    scheduler = Scheduler(fresh_db, [worker], tmp_path / "media")
    choice = EngineChoice(engine="video", video_model=video_model, takes=1, steps=2)
    queue_episode_render(fresh_db, episode.id, choice)

    await run_until_idle(scheduler, timeout=120)

    # shot 1 had no approved take yet: shot 2 rendered fresh, and says so
    (fresh,) = takes.takes_for_shot(fresh_db, second.id)
    assert "shot 1 has no approved take yet" in fresh.parameters["continuity"]
    (approved,) = takes.takes_for_shot(fresh_db, first.id)
    takes.approve_take(fresh_db, approved.id)
    takes.request_retake(fresh_db, second.id)
    _, (retake_job,) = queue_episode_render(fresh_db, episode.id, choice)

    request, note = await prepare_render_request(fresh_db, retake_job)

    assert note == ""
    expected = last_frame(approved.media_path, 96, 160)
    assert np.array_equal(decoded(request.init_image), expected)

    # ... and it reaches the image-to-video call as the start of every take
    engine: Any = create_engine("video")
    calls: list[dict[str, Any]] = []
    original = engine.video_pipeline
    monkeypatch.setattr(
        engine, "video_pipeline", lambda model, from_image: Spy(original(model, from_image), calls)
    )
    engine.render(request, tmp_path / "spy", lambda fraction, stage: None)
    (call,) = calls
    assert np.array_equal(np.asarray(call["image"][0]), expected)

    await run_until_idle(scheduler, timeout=120)
    retaken = takes.takes_for_shot(fresh_db, second.id)[-1]
    assert retaken.job_id == retake_job.id and "continuity" not in retaken.parameters


class SignatureSpy:
    """Wraps a real pipeline and keeps its call signature (the engine filters options by it)."""

    def __init__(self, pipe: Any, calls: list[dict[str, Any]]) -> None:
        self.pipe = pipe

        @functools.wraps(pipe.__call__)
        def record(*args: Any, **kwargs: Any) -> Any:
            calls.append(kwargs)
            return pipe(*args, **kwargs)

        self.__call__ = record

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__dict__["__call__"](*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pipe, name)


def test_keyframe_engine_starts_from_the_start_image_with_img2img(
    models: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyframe_model, _ = models
    engine: Any = create_engine("diffusers")
    calls: list[dict[str, Any]] = []
    original = engine.start_image_pipeline
    monkeypatch.setattr(
        engine, "start_image_pipeline", lambda pipe: SignatureSpy(original(pipe), calls)
    )
    start = Image.new("RGB", (64, 112), (30, 160, 220))
    request = RenderRequest(
        job_id="cont1",
        engine="diffusers",
        prompt="the same alley, a moment later",
        seeds=(4, 5),
        duration=0.5,
        steps=2,
        model=keyframe_model,
        init_image=png_base64(start),
        **SMALL,
    )

    takes_ = engine.render(request, tmp_path, lambda fraction, stage: None)

    (call,) = calls
    assert type(engine.start_image_pipeline(engine.pipeline(keyframe_model)).pipe).__name__ == (
        "StableDiffusionImg2ImgPipeline"
    )
    assert np.array_equal(np.asarray(call["image"]), np.asarray(start))
    assert call["strength"] == 0.6 and len(call["generator"]) == 2
    assert [take.parameters["start_image_strength"] for take in takes_] == [0.6, 0.6]


@pytest.fixture(scope="module")
def cli_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """Written in another process: the bot's process never imports torch."""
    folder = tmp_path_factory.mktemp("cli-models")
    code = (
        "import sys; from pathlib import Path; "
        "from pipeline.worker.tiny_models.keyframe import make_tiny_model; "
        "from pipeline.worker.tiny_models.video import make_tiny_video_model; "
        "make_tiny_model(Path(sys.argv[1])); make_tiny_video_model(Path(sys.argv[2]))"
    )
    keyframe, video = folder / "tiny-sd", folder / "tiny-ltx"
    subprocess.run([sys.executable, "-c", code, keyframe, video], check=True, timeout=300)
    return str(keyframe), str(video)


@pytest.mark.slow  # the whole bot, a render actor, two models, a cut and a delivery
async def test_discord_keyframe_vote_renders_the_clip_and_delivers(
    tmp_path: Path, cli_models: tuple[str, str]
) -> None:
    from tests.fakes import say, scripted
    from tests.studio import (
        bot_messages,
        chat_a_plan,
        drafts,
        open_studio,
        plan_model,
        running_bot,
        start_project,
    )

    keyframe_model, video_model = cli_models
    async with open_studio(
        tmp_path / "data",
        showrunner_engine="video",
        showrunner_model=keyframe_model,
        showrunner_video_model=video_model,
        showrunner_steps=2,
        showrunner_width=96,
        showrunner_height=160,
        showrunner_fps=8,
    ) as world:
        async with running_bot(world, plan_model((1,))) as bot:
            await start_project(world, quorum=1, review_mode="keyframes")
            await chat_a_plan(world, (1,))
            db = bot.runtime.db
            project = projects.project_for_channel(db, world.writers)
            assert project.review_mode == "keyframes"
            episode = episodes.current_episode(db, project.id)
            queue_episode_render(db, episode.id, bot.runtime.engine)
            bot.runtime.scheduler.wake()

            await world.emulator.wait_until(lambda: len(drafts(world)) == 1, timeout=120)
            (draft,) = drafts(world)
            await world.emulator.wait_until(
                lambda: "🔁" in world.emulator.message(draft["id"])["reactions"]
            )
            (still,) = takes.takes_for_message(db, draft["id"])
            assert still.kind == "keyframe"
            await world.emulator.user_react(world.review, draft["id"], world.ana, "👍")

            approved = await world.emulator.wait_for_message(
                world.review, lambda m: "keyframe approved" in m["content"], timeout=30
            )
            delivered = await world.emulator.wait_for_message(
                world.delivery, lambda m: bool(m["attachments"]), timeout=120
            )
            clip_post = await world.emulator.wait_for_message(
                world.review, lambda m: "clip from the approved keyframe" in m["content"]
            )
            # the clip's render has its own status message, edited by the status board
            await world.emulator.wait_for_message(
                world.review,
                lambda m: m["content"].startswith("**Render") and "Shot 1: done" in m["content"],
            )
        async with running_bot(world, scripted(say("unused"))):
            pass  # a restart finds nothing left to queue: the clip is rendered once

    assert "Shot 1" in approved["content"]
    assert "Episode 1" in delivered["content"]
    db = open_db(world.settings.database_path)
    (shot,) = plan.list_shots(db, episode.id)
    clip = takes.get_take(db, shot.approved_take_id)
    assert (clip.kind, clip.source_take_id, clip.seed) == ("clip", still.id, still.seed)
    clip_jobs = db.execute(
        "SELECT COUNT(*) FROM jobs WHERE json_extract(payload, '$.source_take_id') = ?", [still.id]
    ).fetchone()[0]
    assert clip_jobs == 1
    # the keyframe draft was voted on; the clip is shown (no vote reactions) and went into the cut
    assert [a["filename"] for a in clip_post["attachments"]] == ["shot1_clip.mp4"]
    assert not clip_post["reactions"]
    assert len(drafts(world)) == 2 and bot_messages(world, world.review)


@pytest.mark.parametrize(
    ("review_mode", "choice", "output"),
    [
        ("keyframes", EngineChoice(engine="video", model="kf", video_model="ltx"), "keyframe"),
        ("clips", EngineChoice(engine="video", model="kf", video_model="ltx"), "clip"),
        # text-to-video has no still to review first; the still engines' keyframe is the clip
        ("keyframes", EngineChoice(engine="video", video_model="ltx"), "clip"),
        ("keyframes", EngineChoice(engine="diffusers", model="kf"), "clip"),
        ("keyframes", EngineChoice(engine="animatic"), "clip"),
    ],
)
def test_render_jobs_ask_for_stills_only_in_keyframe_first_review(
    fresh_db, review_mode: str, choice: EngineChoice, output: str
) -> None:
    episode = make_episode(fresh_db, review_mode)
    _, (job,) = queue_episode_render(fresh_db, episode.id, choice)
    assert (job.payload["output"], job.payload["video_model"]) == (output, choice.video_model)
    assert build_render_request(fresh_db, job).output == output


async def test_an_unreadable_previous_take_renders_fresh_and_says_why(
    fresh_db, tmp_path: Path
) -> None:
    episode = make_episode(fresh_db, "clips", shots=2)
    first, second = plan.list_shots(fresh_db, episode.id)
    plan.edit_shot(fresh_db, second.id, continuous=True)
    shot_in_review(fresh_db, first.id)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    take = takes.add_take(
        fresh_db,
        shot_id=first.id,
        job_id="old",
        seed=3,
        engine="video",
        model="",
        media_path=str(broken),
    )
    takes.approve_take(fresh_db, take.id)
    _, (job,) = queue_episode_render(fresh_db, episode.id, EngineChoice())

    request, note = await prepare_render_request(fresh_db, job)

    assert request.init_image == ""
    assert note == "continuous, but shot 1's take is unreadable: starting fresh"
