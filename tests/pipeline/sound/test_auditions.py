"""An audition: three candidate voices read a character's line on the worker (a real
subprocess); the candidate that reaches the project's quorum becomes the character's voice."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.render.scheduler import Scheduler, run_until_idle
from pipeline.sound.analysis import median_pitch
from pipeline.sound.auditions import queue_audition
from pipeline.worker.engines.speech import why_no_speech
from pipeline.workflow import audition_vote
from storage import auditions, characters, events, plan, projects, revisions
from tests.builders import make_project

pytestmark = pytest.mark.skipif(bool(why_no_speech()), reason=why_no_speech())


def cast_with_a_line(db):
    project = make_project(db)
    projects.update_settings(db, project.id, quorum=2)
    shots = (
        plan.ShotPlan("a", "", 3.0, "The sea took my father.", ("Mei",)),
        plan.ShotPlan("b", "", 3.0, "Then it will take you too.", ("Gong Gong",)),
    )
    draft = plan.EpisodePlan("Tide", "", scenes=(plan.ScenePlan("Shore", "", shots),))
    plan.save_episode_plan(db, project.id, draft)
    for name in ("Mei", "Gong Gong"):
        characters.upsert_character(db, project.id, name)
    return characters.get_character(db, project.id, "Mei")


async def test_three_voices_read_the_characters_own_line_and_the_quorums_pick_is_kept(
    fresh_db, worker, tmp_path
):
    mei = cast_with_a_line(fresh_db)
    gong_gong = characters.get_character(fresh_db, mei.project_id, "Gong Gong")
    audition = queue_audition(fresh_db, mei, channel_id=5, requester=7)
    assert audition.line == "The sea took my father."
    assert audition.voices[0] == mei.voice and len(set(audition.voices)) == 3
    assert gong_gong.voice not in audition.voices  # nobody else's voice is offered

    await run_until_idle(Scheduler(fresh_db, [worker], tmp_path / "media"), timeout=60)
    heard = auditions.get_audition(fresh_db, audition.id)
    assert all(Path(path).is_file() for path in heard.readings)
    pitches = [median_pitch(Path(path)) for path in heard.readings]
    assert len({round(p / 10) for p in pitches}) == 3, pitches  # three voices, told apart
    posted = [(e.kind, e.payload) for e in events.pending_events(fresh_db)]
    assert posted == [("audition_ready", {"audition_id": audition.id})]

    auditions.vote(fresh_db, audition.id, user_id=7, choice=2, on=True)
    auditions.vote(fresh_db, audition.id, user_id=8, choice=1, on=True)
    assert audition_vote(fresh_db, heard, author_id=8) is None  # no candidate has the quorum of 2
    auditions.vote(fresh_db, audition.id, user_id=9, choice=2, on=True)
    assert audition_vote(fresh_db, heard, author_id=9) == heard.voices[2]
    assert characters.get_character(fresh_db, mei.project_id, "Mei").voice == heard.voices[2]
    assert revisions.history(fresh_db, "character", mei.id)[0].reason == "audition"
    auditions.vote(fresh_db, audition.id, user_id=10, choice=1, on=True)
    assert audition_vote(fresh_db, heard, author_id=10) is None  # decided once
