"""Dialogue drives timing: lines are spoken on a render actor (a real Ray actor) before the
video renders, in the speaker's voice; a shot lasts at least its line plus LINE_PAD; a note
asking for another reading has only that line spoken again; a worker that cannot speak a line
retries it, marks it, and the rest goes on."""

from __future__ import annotations

import contextlib
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import ray

from pipeline import workflow
from pipeline.ffmpeg import probe
from pipeline.render.actors import RenderActorClient
from pipeline.render.queue import EngineChoice
from pipeline.render.scheduler import Scheduler, run_until_idle
from pipeline.sound.analysis import median_pitch
from pipeline.sound.mix import LINE_LEAD, LINE_PAD
from pipeline.sound.speech_jobs import SPEECH, hold_line, queue_lines, shots_being_spoken
from pipeline.worker.engines.speech import why_no_speech
from storage import characters, events, jobs, lines, plan, projects, takes, voices
from tests.builders import make_project
from tests.ray_cluster import cpu_actor, start_test_cluster

pytestmark = pytest.mark.skipif(bool(why_no_speech()), reason=why_no_speech())
LONG_LINE = "We have to reach the lighthouse before the tide turns tonight, all of us."


def episode_with_lines(db, *dialogue: tuple[str, tuple[str, ...]]):
    """An episode of 1-second shots, each with a line and the characters in it; Mei is cast."""
    project = make_project(db)
    characters.upsert_character(db, project.id, "Mei", "a fisherwoman")
    shots = tuple(
        plan.ShotPlan(f"shot {i}", "wide", 1.0, text, cast)
        for i, (text, cast) in enumerate(dialogue, start=1)
    )
    draft = plan.EpisodePlan("Tide", "", scenes=(plan.ScenePlan("Shore", "", shots),))
    return project, plan.save_episode_plan(db, project.id, draft)


@contextlib.asynccontextmanager
async def actor_with_path(path: Path) -> AsyncIterator[RenderActorClient]:
    """A render actor of the test's own whose process finds programs only in `path` (a worker
    host where the others are not installed), killed afterwards."""
    start_test_cluster()
    name = f"test-path-{uuid.uuid4().hex[:8]}"
    client = cpu_actor(name, runtime_env={"env_vars": {"PATH": str(path)}})
    try:
        yield client
    finally:
        ray.kill(client.handle, no_restart=True)


async def render_all(db, episode_id: int, workers: list[RenderActorClient], media: Path) -> None:
    workflow.render_episode(db, episode_id, EngineChoice())
    await run_until_idle(Scheduler(db, workers, media), timeout=180)


async def test_lines_are_spoken_first_in_the_speakers_voices_and_shots_hold_them(
    fresh_db, shared_worker: RenderActorClient, tmp_path: Path
):
    project, episode = episode_with_lines(
        fresh_db, (LONG_LINE, ("Mei",)), ("Nobody comes back from the sea.", ()), ("", ())
    )
    workflow.render_episode(fresh_db, episode.id, EngineChoice())
    waiting = {
        plan.get_shot(fresh_db, job.shot_id).number: job.shot_id in shots_being_spoken(fresh_db)
        for job in jobs.jobs_for_episode(fresh_db, episode.id, "render")
    }
    assert waiting == {1: True, 2: True, 3: False}  # a silent shot renders at once
    await run_until_idle(Scheduler(fresh_db, [shared_worker], tmp_path / "media"), timeout=180)
    first, second, silent = plan.list_shots(fresh_db, episode.id)
    mei, narrator = lines.current_line(fresh_db, first), lines.current_line(fresh_db, second)
    assert mei is not None and narrator is not None and lines.current_line(fresh_db, silent) is None
    mei_voice = characters.get_character(fresh_db, project.id, "Mei").voice
    assert (mei.speaker, mei.voice, mei.engine) == ("Mei", mei_voice, "espeak")
    assert (narrator.speaker, narrator.voice, narrator.engine) == ("", voices.NARRATOR, "piper")
    assert Path(mei.media_path).is_file() and mei.seconds > 2.5
    # the long line made its 1-second shot longer; the take was rendered that long
    assert first.duration >= mei.seconds + LINE_PAD and first.duration >= LINE_LEAD + mei.seconds
    assert silent.duration == 1.0
    take = takes.takes_for_shot(fresh_db, first.id)[0]
    assert abs(probe(take.media_path).duration - first.duration) < 0.2
    # every line was spoken before any video rendered
    spoken = jobs.jobs_for_episode(fresh_db, episode.id, SPEECH)
    renders = jobs.jobs_for_episode(fresh_db, episode.id, "render")
    assert len(spoken) == 2 and {job.status for job in spoken + renders} == {"done"}
    assert max(job.finished_at or "" for job in spoken) <= min(j.started_at or "" for j in renders)
    # rendering again speaks nothing twice
    assert queue_lines(fresh_db, plan.list_shots(fresh_db, episode.id)) == []


async def test_a_note_asking_for_another_reading_speaks_only_that_line_again(
    fresh_db, shared_worker: RenderActorClient, tmp_path: Path
):
    _, episode = episode_with_lines(fresh_db, ("Give me back my boat.", ("Mei",)))
    media = tmp_path / "media"
    await render_all(fresh_db, episode.id, [shared_worker], media)
    shot = plan.list_shots(fresh_db, episode.id)[0]
    post = takes.takes_for_shot(fresh_db, shot.id)[0]
    takes.set_take_post(fresh_db, post.id, 5, 500)
    first = lines.current_line(fresh_db, shot)

    async def revise(_shot, _note):
        raise AssertionError("a reading note does not revise the picture")

    outcome = await workflow.retake_with_note(
        fresh_db, 500, "angrier please", director=False, requester=7, channel_id=5,
        choice=EngineChoice(), revise=revise,
    )  # fmt: skip
    assert isinstance(outcome, workflow.ReadingQueued) and outcome.reading == "angrier"
    await run_until_idle(Scheduler(fresh_db, [shared_worker], media), timeout=60)
    again = lines.current_line(fresh_db, plan.get_shot(fresh_db, shot.id))
    assert again is not None and again.id != first.id and again.reading == "angrier"
    assert again.voice.pitch > first.voice.pitch and again.voice.rate > first.voice.rate
    assert median_pitch(Path(again.media_path)) > median_pitch(Path(first.media_path))
    # the picture stays: no render job, the shot still in review; the new reading is posted
    assert len(jobs.jobs_for_episode(fresh_db, episode.id, "render")) == 1
    assert plan.get_shot(fresh_db, shot.id).status == "review"
    posted = [(e.kind, e.payload) for e in events.pending_events(fresh_db)][-1]
    assert posted == ("line_spoken", {"shot_id": shot.id, "line_id": again.id})


async def test_a_line_the_worker_cannot_speak_is_retried_marked_and_the_rest_goes_on(
    fresh_db, tmp_path
):
    # a worker host without espeak-ng: Piper still speaks English, nothing speaks Chinese
    project, episode = episode_with_lines(
        fresh_db, ("潮水来了，快走！", ()), ("The tide is here, run!", ())
    )
    # its PATH holds bash alone: Ray starts an actor's process through it
    bash_only = tmp_path / "bash-only"
    bash_only.mkdir()
    (bash_only / "bash").symlink_to(shutil.which("bash") or "/bin/bash")
    async with actor_with_path(bash_only) as worker:
        await render_all(fresh_db, episode.id, [worker], tmp_path / "media")
    chinese, english = plan.list_shots(fresh_db, episode.id)
    failed = lines.current_line(fresh_db, chinese)
    assert failed is not None and not failed.spoken and "espeak-ng is not installed" in failed.error
    job = jobs.get_job(fresh_db, failed.job_id)
    assert job.status == "failed" and job.attempts == jobs.MAX_ATTEMPTS
    spoken = lines.current_line(fresh_db, english)
    assert spoken is not None and spoken.spoken and spoken.engine == "piper"
    # both shots rendered and are in review; the team is told which line failed
    assert [shot.status for shot in (chinese, english)] == ["review", "review"]
    kinds = [(e.kind, e.payload.get("job_id")) for e in events.pending_events(fresh_db)]
    assert ("job_failed", job.id) in kinds
    assert projects.get_project(fresh_db, project.id).title == "Flood"


def test_a_shot_grown_for_its_line_takes_the_time_from_shots_with_time_to_spare(fresh_db):
    project = make_project(fresh_db)
    shots = (
        plan.ShotPlan("a", "", 1.0, "A line that runs four seconds when it is spoken aloud."),
        plan.ShotPlan("b", "", 6.0),
        plan.ShotPlan("c", "", 3.0, "Short, but not that short."),
        plan.ShotPlan("d", "", 2.5),
    )
    draft = plan.EpisodePlan("Tide", "", scenes=(plan.ScenePlan("Shore", "", shots),))
    episode = plan.save_episode_plan(fresh_db, project.id, draft)
    first = plan.list_shots(fresh_db, episode.id)[0]
    grown = hold_line(fresh_db, first.id, 4.0)
    after = [shot.duration for shot in plan.list_shots(fresh_db, episode.id)]
    assert grown.duration == after[0] == LINE_LEAD + 4.0 + LINE_PAD
    assert sum(after) == pytest.approx(12.5)  # the episode keeps its length
    assert after[1] == pytest.approx(6.0 - 3.45) and after[2:] == [3.0, 2.5]  # most spare first
    # a rendered shot gives nothing: its take is as long as it is
    plan.set_shot_status(fresh_db, plan.list_shots(fresh_db, episode.id)[1].id, "queued")
    plan.set_shot_status(fresh_db, plan.list_shots(fresh_db, episode.id)[1].id, "rendering")
    third = plan.list_shots(fresh_db, episode.id)[2]
    hold_line(fresh_db, third.id, 4.0)
    assert [shot.duration for shot in plan.list_shots(fresh_db, episode.id)][1:] == [
        pytest.approx(2.55),
        4.45,
        2.0,
    ]
