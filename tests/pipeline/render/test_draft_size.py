"""Every draft MP4 a worker returns fits the request's max_draft_bytes (settings -> payload)."""

from __future__ import annotations

from pathlib import Path

from bot.settings import Settings
from pipeline.ffmpeg import probe
from pipeline.render.actors import RenderActorClient
from pipeline.render.queue import EngineChoice, build_render_request, queue_episode_render
from pipeline.worker.requests import RenderRequest
from storage import plan, projects

CAP = 100_000


async def test_an_oversize_take_is_reencoded_to_fit_the_cap(
    shared_worker: RenderActorClient, tiny_model: Path, tmp_path: Path
) -> None:
    # the tiny model's keyframes are noise: with a camera move, a big clip
    request = RenderRequest(
        job_id="noisy1",
        engine="diffusers",
        model=str(tiny_model),
        prompt="static on an old television",
        seeds=(3,),
        duration=2.0,
        width=360,
        height=640,
        fps=24,
        steps=2,
        max_draft_bytes=CAP,
        extra={"keyframe_width": 256, "keyframe_height": 448},
    )
    await shared_worker.submit(request)
    states = [state async for state in shared_worker.follow("noisy1")]
    final = states[-1]
    assert final["status"] == "done", final
    assert "encode" in {state["stage"] for state in states}
    for number, take in enumerate(final["takes"]):
        path = await shared_worker.download("noisy1", take["media"], tmp_path / f"take{number}.mp4")
        assert path.stat().st_size <= CAP
        # it was too big before, and is still a playable clip of the same length
        assert take["parameters"]["draft_refit_from"] > CAP
        info = probe(path)
        assert info.video_codec == "h264" and abs(info.duration - 2.0) <= 0.15
        assert info.width <= 360 and info.height <= 640


async def test_a_take_under_the_cap_is_returned_as_rendered(
    shared_worker: RenderActorClient, tmp_path: Path
) -> None:
    request = RenderRequest(
        job_id="small1",
        engine="animatic",
        prompt="a card",
        seeds=(1,),
        duration=1.0,
        width=180,
        height=320,
        fps=12,
        max_draft_bytes=CAP,
    )
    await shared_worker.submit(request)
    final = [state async for state in shared_worker.follow("small1")][-1]
    assert final["status"] == "done"
    (take,) = final["takes"]
    assert "draft_refit_from" not in take["parameters"]
    path = await shared_worker.download("small1", take["media"], tmp_path / "small.mp4")
    assert probe(path).width == 180


def test_the_cap_flows_from_settings_through_the_job_payload(fresh_db, monkeypatch) -> None:
    monkeypatch.setenv("SHOWRUNNER_MAX_DRAFT_MIB", "0.5")
    settings = Settings(_env_file=None)
    assert settings.max_draft_bytes == 512 * 1024
    project = projects.create_project(fresh_db, "Cap", writers_channel_id=1)
    draft = plan.EpisodePlan("Pilot", "", scenes=(plan.ScenePlan("A", "", (plan.ShotPlan("s"),)),))
    episode = plan.save_episode_plan(fresh_db, project.id, draft)
    choice = EngineChoice(max_draft_bytes=settings.max_draft_bytes)
    _, (job,) = queue_episode_render(fresh_db, episode.id, choice)
    assert job.payload["max_draft_bytes"] == 512 * 1024
    assert build_render_request(fresh_db, job).max_draft_bytes == 512 * 1024
