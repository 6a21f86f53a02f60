"""Character references and seeds reach the pipeline call: the tiny model with a tiny IP-Adapter.

A spy wraps the real diffusers pipeline and records the keyword arguments of each call; the
render itself is real. The end-to-end test runs a real render actor (the spy is installed in
its process, and what it saw is read back from there), the real scheduler, and real SQLite.
"""

from __future__ import annotations

import base64
import io
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageChops

from pipeline.pictures.references import (
    SENT_SIDE,
    encode_reference,
    reference_path,
    store_reference,
)
from pipeline.render.actors import RenderActorClient
from pipeline.render.queue import EngineChoice, queue_episode_render
from pipeline.render.scheduler import Scheduler, run_until_idle
from pipeline.worker.actor import RenderActor
from pipeline.worker.engines import Engine, create_engine, no_progress
from pipeline.worker.requests import RenderRequest
from storage import characters, jobs, plan, projects, takes
from tests.builders import shot_in_review


class PipelineSpy:
    """The real pipeline, recording the keyword arguments of every call."""

    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        return self.pipe(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pipe, name)


def spy_on(engine: Any) -> dict[str, PipelineSpy]:
    """Wrap every pipeline the engine hands out; model -> its spy."""
    spies: dict[str, PipelineSpy] = {}
    load = engine.pipeline

    def pipeline(model: str) -> PipelineSpy:
        real = load(model)
        if model not in spies or spies[model].pipe is not real:
            spies[model] = PipelineSpy(real)
        return spies[model]

    engine.pipeline = pipeline
    return spies


def face(seed: int) -> Image.Image:
    """A reference picture: smooth colour blobs, different per seed."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (4, 4, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((96, 96), Image.Resampling.BICUBIC)


def png_base64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def differs(a: str, b: str) -> bool:
    with Image.open(a) as first, Image.open(b) as second:
        return (
            ImageChops.difference(first.convert("RGB"), second.convert("RGB")).getbbox() is not None
        )


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same tiny model twice: plain, and carrying a tiny IP-Adapter."""
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    import torch

    from pipeline.worker.tiny_models.keyframe import add_tiny_ip_adapter, make_tiny_model

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("models")
    plain = make_tiny_model(root / "plain")
    adapted = make_tiny_model(root / "adapted")
    add_tiny_ip_adapter(adapted)
    return {"plain": plain, "adapted": adapted}


@pytest.fixture
def engine() -> Engine:
    return create_engine("diffusers")


def keyframe_request(model: Path, **changes: Any) -> RenderRequest:
    request = RenderRequest(
        job_id="ref1",
        engine="diffusers",
        model=str(model),
        prompt="Lin Yue in the rain, neon market",
        seeds=(5, 6),
        duration=0.5,
        width=180,
        height=320,
        fps=12,
        steps=2,
    )
    return replace(request, **changes)


def test_references_reach_the_pipeline_and_change_the_keyframe(
    models: dict[str, Path], engine: Any, tmp_path: Path
) -> None:
    spies = spy_on(engine)
    reference = face(1)
    with_reference = engine.render(
        keyframe_request(models["adapted"], reference_images=(png_base64(reference),)),
        tmp_path / "with",
        no_progress,
    )
    without = engine.render(keyframe_request(models["adapted"]), tmp_path / "without", no_progress)
    plain = engine.render(keyframe_request(models["plain"]), tmp_path / "plain", no_progress)

    first, second = spies[str(models["adapted"])].calls
    # the reference image itself, as the one IP-Adapter's list of images
    (images,) = first["ip_adapter_image"]
    assert len(images) == 1 and np.array_equal(pixels(images[0]), pixels(reference))
    assert [g.initial_seed() for g in first["generator"]] == [5, 6]
    assert [take.parameters for take in with_reference] == [
        {"references": 1, "reference_scale": 0.6}
    ] * 2
    # it steers the picture: same seeds and prompt, other keyframes
    for take, other in zip(with_reference, without, strict=True):
        assert differs(take.preview_path, other.preview_path)
    # without references the adapter is switched off (scale 0): the plain model's pictures
    assert [take.parameters for take in without] == [{"references": 0}] * 2
    assert second["ip_adapter_image"] != first["ip_adapter_image"]
    for take, other in zip(without, plain, strict=True):
        assert not differs(take.preview_path, other.preview_path)


def test_a_model_without_ip_adapter_renders_and_records_unused_references(
    models: dict[str, Path], engine: Any, tmp_path: Path
) -> None:
    spies = spy_on(engine)
    request = keyframe_request(models["plain"], reference_images=(png_base64(face(2)),))
    rendered = engine.render(request, tmp_path, no_progress)

    (call,) = spies[str(models["plain"])].calls
    assert "ip_adapter_image" not in call
    assert [take.parameters for take in rendered] == [
        {"references": 1, "references_unused": "no IP-Adapter is configured for this model"}
    ] * 2
    assert all(Path(take.media_path).is_file() for take in rendered)


def spy_in_actor(actor: RenderActor) -> None:
    """Run in the render actor's process: spy on its diffusers engine."""
    actor.spies = spy_on(actor.runner._engine("diffusers"))  # type: ignore[attr-defined]


def calls_in_actor(actor: RenderActor, model: str) -> list[dict[str, Any]]:
    """Run in the render actor's process: what its spy saw, in a form that travels (the
    generators stay there: their seeds come back)."""
    spy: PipelineSpy = actor.spies[model]  # type: ignore[attr-defined]
    return [
        {
            "prompt": call["prompt"],
            "ip_adapter_image": call.get("ip_adapter_image"),
            "seeds": [generator.initial_seed() for generator in call["generator"]],
        }
        for call in spy.calls
    ]


async def test_a_shot_renders_with_its_characters_reference_and_the_recorded_seeds(
    fresh_db, models: dict[str, Path], worker: RenderActorClient, tmp_path: Path
) -> None:
    await worker.handle.__ray_call__.remote(spy_in_actor)

    project = projects.create_project(fresh_db, "Neon", writers_channel_id=1, width=180, height=320)
    draft = plan.EpisodePlan(
        "Pilot",
        "",
        scenes=(
            plan.ScenePlan(
                "Market",
                "",
                (
                    plan.ShotPlan("Lin Yue runs", "wide", 1.0, characters=("Lin Yue",)),
                    plan.ShotPlan("Rain on neon", "close", 1.0),
                ),
            ),
        ),
        characters=(plan.CharacterPlan("Lin Yue", "a courier", "red raincoat"),),
    )
    episode = plan.save_episode_plan(fresh_db, project.id, draft)
    lin = characters.get_character(fresh_db, project.id, "lin yue")
    media = tmp_path / "media"
    stored = store_reference(face(3), media, lin.id)
    assert stored == reference_path(media, lin.id) == media / "characters" / f"{lin.id}.png"
    characters.set_reference(fresh_db, lin.id, str(stored), author_id=42)

    scheduler = Scheduler(fresh_db, [worker], media)
    choice = EngineChoice(engine="diffusers", model=str(models["adapted"]), takes=2, steps=2)
    _, queued = queue_episode_render(fresh_db, episode.id, choice)
    await run_until_idle(scheduler, timeout=300)
    assert [jobs.get_job(fresh_db, job.id).status for job in queued] == ["done", "done"]

    calls = await worker.handle.__ray_call__.remote(calls_in_actor, str(models["adapted"]))
    assert len(calls) == 2
    sent = Image.open(io.BytesIO(base64.b64decode(encode_reference(stored) or "")))
    by_prompt = {("Lin Yue" in call["prompt"]): call for call in calls}
    (images,) = by_prompt[True]["ip_adapter_image"]
    assert len(images) == 1 and np.array_equal(pixels(images[0]), pixels(sent))
    assert max(images[0].size) <= SENT_SIDE
    for shot in plan.list_shots(fresh_db, episode.id):
        call = by_prompt["Lin Yue" in shot.characters]
        recorded = takes.takes_for_shot(fresh_db, shot.id)
        # the seeds on record are the very seeds of the generators the pipeline got
        assert sorted(take.seed for take in recorded) == sorted(call["seeds"])
        expected = {"references": 1, "reference_scale": 0.6} if shot.characters else {}
        for take in recorded:
            assert take.parameters["references"] == (1 if shot.characters else 0)
            assert expected.items() <= take.parameters.items()
    # the character's own seed stays on record beside the reference
    assert characters.get_character(fresh_db, project.id, "Lin Yue").seed == lin.seed
    assert characters.get_character(fresh_db, project.id, "Lin Yue").revision == lin.revision + 1


# --- /character through the Discord emulator ---------------------------------------------------


async def answer(record: Any) -> dict[str, Any]:
    """What the member sees: the reply, or the message that replaced the 'thinking' one."""
    await record.wait_response(timeout=30)
    if record.deferred:
        return await record.wait_original_content(timeout=30)
    return record.response_data


async def test_character_reference_from_an_upload_or_a_take_and_the_cast_list(
    tmp_path: Path,
) -> None:
    from tests.fakes import say, scripted
    from tests.studio import open_studio, running_bot

    async with (
        open_studio(tmp_path / "data") as world,
        running_bot(world, scripted(say("hi"))) as bot,
    ):
        db = bot.runtime.db
        project = projects.create_project(
            db,
            "Neon",
            guild_id=world.guild,
            writers_channel_id=world.writers,
            review_channel_id=world.review,
            created_by=world.director,
        )
        draft = plan.EpisodePlan(
            "Pilot",
            "",
            scenes=(plan.ScenePlan("Market", "", (plan.ShotPlan("Lin Yue runs", "wide", 1.0),)),),
            characters=(plan.CharacterPlan("Lin Yue", "a courier", "red raincoat"),),
        )
        episode = plan.save_episode_plan(db, project.id, draft)
        (shot,) = plan.list_shots(db, episode.id)
        lin = characters.get_character(db, project.id, "Lin Yue")
        emulator = world.emulator

        async def reference(user: int, **options: Any) -> dict[str, Any]:
            record = await emulator.slash_command(
                world.writers, user, "character", options, subcommand="reference"
            )
            return await answer(record)

        upload = io.BytesIO()
        face(4).save(upload, format="PNG")
        refused = await reference(world.ana, name="Lin Yue", image=("me.png", upload.getvalue()))
        assert "Only the project's creator" in refused["content"]
        assert characters.get_character(db, project.id, "Lin Yue").reference_path == ""

        uploaded = await reference(
            world.director, name="lin yue", image=("my face.png", upload.getvalue())
        )
        assert "**Lin Yue**'s reference is now the uploaded image" in uploaded["content"]
        stored = reference_path(bot.runtime.settings.media_dir, lin.id)
        assert characters.get_character(db, project.id, "Lin Yue").reference_path == str(stored)
        with Image.open(stored) as image:
            assert image.format == "PNG" and np.array_equal(pixels(image), pixels(face(4)))
        (shown,) = uploaded["attachments"]
        assert shown["filename"] == "reference.png"

        broken = await reference(world.director, name="Lin Yue", image=("x.png", b"not a png"))
        assert "`x.png` is not an image I can read" in broken["content"]
        unknown = await reference(world.director, name="Mei", image=("x.png", upload.getvalue()))
        assert "No character called “Mei”" in unknown["content"]
        both = await reference(world.director, name="Lin Yue", take=1, shot=1)
        assert "exactly one of take, shot or image" in both["content"]

        request = RenderRequest(
            job_id="job9",
            engine="animatic",
            prompt="x",
            seeds=(1,),
            duration=1.0,
            width=180,
            height=320,
            fps=12,
            description="Lin Yue runs through the rain",
        )
        (rendered,) = create_engine("animatic").render(request, tmp_path / "takes", no_progress)
        take = takes.add_take(
            db,
            shot_id=shot.id,
            job_id="job9",
            seed=1,
            engine="animatic",
            model="",
            media_path=rendered.media_path,
            preview_path=rendered.preview_path,
        )
        from_take = await reference(world.director, name="Lin Yue", take=take.id)
        assert f"reference is now take {take.id} (shot 1)" in from_take["content"]
        with Image.open(stored) as image, Image.open(rendered.preview_path) as still:
            assert np.array_equal(pixels(image), pixels(still))
        no_approved = await reference(world.director, name="Lin Yue", shot=1)
        assert "Shot 1 has no approved take yet" in no_approved["content"]
        shot_in_review(db, shot.id)
        takes.approve_take(db, take.id)
        from_shot = await reference(world.director, name="Lin Yue", shot=1)
        assert f"reference is now take {take.id} (shot 1)" in from_shot["content"]
        assert characters.get_character(db, project.id, "Lin Yue").revision == lin.revision + 3

        listed = await answer(
            await emulator.slash_command(
                world.writers, world.ana, "character", {}, subcommand="list"
            )
        )
        assert listed["content"] == (
            f"**Lin Yue** · seed {lin.seed} · 🖼️ reference · 🗣️ espeak m3, pitch 38, 160 wpm"
            " — red raincoat"
        )


def test_where_the_ip_adapter_comes_from(models: dict[str, Path], tmp_path: Path) -> None:
    from pipeline.worker.engines.diffusers_keyframe import AdapterSource, adapter_source

    folder = models["adapted"] / "ip_adapter"
    assert adapter_source(str(models["adapted"]), "") == AdapterSource(
        str(folder), "", "ip-adapter.safetensors"
    )
    assert adapter_source(str(models["plain"]), "") is None
    hub = "h94/IP-Adapter/models/ip-adapter_sd15.safetensors"
    assert adapter_source(str(models["plain"]), hub) == AdapterSource(
        "h94/IP-Adapter", "models", "ip-adapter_sd15.safetensors"
    )
    local = str(folder / "ip-adapter.safetensors")
    assert adapter_source("any/model", local) == AdapterSource(
        str(folder), "", "ip-adapter.safetensors"
    )
    with pytest.raises(ValueError, match="SHOWRUNNER_IP_ADAPTER 'h94/IP-Adapter'"):
        adapter_source("any/model", "h94/IP-Adapter")
