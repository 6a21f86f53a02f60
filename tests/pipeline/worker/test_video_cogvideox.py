"""The video engine with the CogVideoX family: tiny random CogVideoX models (1.0 and 1.5,
image-to-video and text-to-video) and a tiny SD keyframe model, real diffusers and ffmpeg."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from pipeline.errors import BadRequest
from pipeline.render.actors import RenderActorClient
from pipeline.worker.engines import Engine, create_engine
from pipeline.worker.requests import RenderRequest
from tests.pipeline.worker.video_helpers import assert_clip, spy_on, video_request


@dataclass(frozen=True)
class Models:
    keyframe: str
    i2v: str  # CogVideoX 1.5 image-to-video: any size, 16k+1 frames
    i2v_trained: str  # CogVideoX-5b-I2V-like: learned positional embeddings for 96x64, 9 frames
    t2v: str  # CogVideoX 1.0 text-to-video


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    import torch

    torch.set_num_threads(1)
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    from pipeline.worker.tiny_models.keyframe import make_tiny_model
    from pipeline.worker.tiny_models.video import make_tiny_cogvideox_model

    folder = tmp_path_factory.mktemp("models")
    return Models(
        keyframe=str(make_tiny_model(folder / "tiny-sd")),
        i2v=str(make_tiny_cogvideox_model(folder / "cog15-i2v", version="1.5")),
        i2v_trained=str(make_tiny_cogvideox_model(folder / "cog-i2v")),
        t2v=str(make_tiny_cogvideox_model(folder / "cog-t2v", image_to_video=False)),
    )


@pytest.fixture(scope="module")
def engine(models: Models) -> Engine:
    return create_engine("video")


def make_request(models: Models, **changes: Any) -> RenderRequest:
    defaults = {"job_id": "cog1", "model": models.keyframe, "video_model": models.i2v}
    return video_request(defaults, changes)


def test_keyframes_then_image_to_video_clips_in_one_batched_call(
    engine: Engine, models: Models, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = spy_on(engine, monkeypatch)

    takes = engine.render(make_request(models), tmp_path, lambda fraction, stage: None)

    (call,) = calls  # both takes in one image-to-video call
    assert call["pipeline"] == "CogVideoXImageToVideoPipeline"
    # CogVideoX renders one video per prompt: two prompts, two generators with the seeds
    assert call["prompt"] == ["a red door in the rain, cinematic"] * 2
    assert [generator.initial_seed() for generator in call["generator"]] == [1, 2]
    assert "frame_rate" not in call
    # CogVideoX 1.5 moves at 16 fps, whatever the project's: 16k+1 frames, the fewest
    # covering 1.5 s x 16 fps = 24
    assert (call["width"], call["height"], call["num_frames"]) == (96, 160, 33)
    assert call["frames"].shape == (2, 33, 160, 96, 3)
    assert not np.array_equal(call["frames"][0], call["frames"][1])
    assert [take.seed for take in takes] == [1, 2]
    for take, image in zip(takes, call["image"], strict=True):
        # each clip starts from its own keyframe, the still shown as the take's preview
        with Image.open(take.preview_path) as still:
            assert np.array_equal(np.asarray(still.convert("RGB")), np.asarray(image))
        assert_clip(take.media_path, 96, 160, 1.5, 12)
    assert not np.array_equal(np.asarray(call["image"][0]), np.asarray(call["image"][1]))


def test_a_model_trained_at_one_size_renders_at_it_from_cropped_keyframes(
    engine: Engine, models: Models, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = spy_on(engine, monkeypatch)
    # a landscape project, near the model's 3:2
    request = make_request(models, video_model=models.i2v_trained, width=100, height=64)

    takes = engine.render(request, tmp_path, lambda fraction, stage: None)

    (call,) = calls
    assert call["pipeline"] == "CogVideoXImageToVideoPipeline"
    # its trained size and length, not the request's nor the fewest frames covering it
    assert (call["width"], call["height"], call["num_frames"]) == (96, 64, 9)
    for take, image in zip(takes, call["image"], strict=True):
        with Image.open(take.preview_path) as still:
            keyframe = np.asarray(still.convert("RGB"))
        # the middle of the keyframe at the model's 3:2, not the whole of it squashed
        width, height = image.size
        assert abs(width / height - 1.5) < 0.05 and width < keyframe.shape[1]
        left, top = (keyframe.shape[1] - width) // 2, (keyframe.shape[0] - height) // 2
        assert np.array_equal(np.asarray(image), keyframe[top : top + height, left : left + width])
        # 9 frames stretched over 1.5 s, cover-cropped to the request's 100x64
        assert_clip(take.media_path, 100, 64, 1.5, 12)


def test_a_model_trained_at_one_size_is_refused_for_a_frame_of_another_shape(
    engine: Engine, models: Models
) -> None:
    # 3:2 cover-cropped to 9:16 keeps a sixth of the picture: refused, with the reason
    with pytest.raises(ValueError, match="would keep 16% of the picture"):
        engine.check_inputs(make_request(models, video_model=models.i2v_trained))


def test_text_to_video_from_a_text_to_video_folder(
    engine: Engine, models: Models, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = spy_on(engine, monkeypatch)
    request = make_request(
        models,
        model="",
        video_model=models.t2v,
        negative_prompt="blurry",
        seeds=(5, 7),
        duration=2.0,
        width=64,
        height=96,
        extra={"guidance_scale": 3.0},
    )

    takes = engine.render(request, tmp_path, lambda fraction, stage: None)

    (call,) = calls
    assert call["pipeline"] == "CogVideoXPipeline"
    assert "image" not in call and len(call["prompt"]) == 2
    assert (call["negative_prompt"], call["guidance_scale"]) == ("blurry", 3.0)
    assert [generator.initial_seed() for generator in call["generator"]] == [5, 7]
    # 8k+1 frames covering 2 s x 8 fps = 16, at the request's size
    assert (call["width"], call["height"], call["num_frames"]) == (64, 96, 17)
    assert call["frames"].shape == (2, 17, 96, 64, 3)
    assert [take.seed for take in takes] == [5, 7]
    for take in takes:
        assert_clip(take.media_path, 64, 96, 2.0, 16)
        with Image.open(take.preview_path) as still:
            assert still.size == (64, 96)


def test_out_of_memory_retries_one_take_at_a_time(
    engine: Engine, models: Models, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = spy_on(engine, monkeypatch, fail_over=1)
    request = make_request(models, model="", video_model=models.t2v, extra={"num_frames": 9})

    takes = engine.render(request, tmp_path, lambda fraction, stage: None)

    assert [len(call["prompt"]) for call in calls] == [2, 1, 1]
    assert [[g.initial_seed() for g in call["generator"]] for call in calls] == [[1, 2], [1], [2]]
    assert [take.seed for take in takes] == [1, 2]
    for take in takes:
        assert_clip(take.media_path, 96, 160, 1.5, 12)


LANDSCAPE = {"width": 96, "height": 64}
# (which model, request changes, what the message names)
BAD_REQUESTS = [
    ("i2v", {"extra": {"video_width": 100, "video_height": 160}}, "video_width 100"),
    ("i2v", {"extra": {"num_frames": 25}}, "num_frames 25"),  # 1.5: 16k+1
    ("i2v", {"extra": {"num_frames": 177}}, "num_frames 177"),  # 1.5: at most 161
    ("t2v", {"model": "", "extra": {"num_frames": 13}}, "num_frames 13"),  # 1.0: 8k+1
    ("t2v", {"model": "", "extra": {"num_frames": 57}}, "num_frames 57"),  # 1.0: at most 49
    ("i2v_trained", {**LANDSCAPE, "extra": {"video_width": 128, "video_height": 64}}, "width 128"),
    ("i2v_trained", {**LANDSCAPE, "extra": {"video_width": 96, "video_height": 96}}, "height 96"),
    ("i2v_trained", {**LANDSCAPE, "extra": {"num_frames": 17}}, "num_frames 17"),
    ("i2v_trained", {}, "renders only 96x64"),  # a 9:16 frame
    ("t2v", {}, "text-to-video model"),  # asked to start from keyframes
    ("i2v", {"model": ""}, "image-to-video model"),  # nothing to start from
]


@pytest.mark.parametrize(("which", "changes", "named"), BAD_REQUESTS)
def test_check_inputs_refuses_what_the_model_cannot_render(
    engine: Engine, models: Models, which: str, changes: dict[str, Any], named: str
) -> None:
    request = make_request(models, video_model=getattr(models, which), **changes)
    with pytest.raises(ValueError, match=named) as error:
        engine.check_inputs(request)
    assert "CogVideoX" in str(error.value)


def test_the_rules_hold_for_a_model_whose_family_is_known_only_once_loaded(
    engine: Any, models: Models, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a Hugging Face id's family is unknown before loading: render checks after it loads
    import pipeline.worker.engines.diffusers_video as video

    monkeypatch.setattr(video, "family_on_disk", lambda model: None)
    request = make_request(
        models, video_model=models.i2v_trained, extra={"num_frames": 17}, **LANDSCAPE
    )
    engine.check_inputs(request)  # passes: the loosest rules allow 17 frames

    with pytest.raises(ValueError, match="num_frames 17 must be 9"):
        engine.render(request, tmp_path, lambda fraction, stage: None)
    # refused before anything was rendered, keyframes included
    assert not list(tmp_path.iterdir())


async def test_the_render_actor_refuses_a_bad_value_by_name(
    models: Models, shared_worker: RenderActorClient
) -> None:
    bad = make_request(models, job_id="badcog", extra={"num_frames": 25})
    with pytest.raises(BadRequest, match="num_frames 25"):
        await shared_worker.submit(bad)
    assert await shared_worker.state("badcog") is None
    # a keyframe model asked of a text-to-video model: the refusal names the model too
    text_only = make_request(models, job_id="badcog2", video_model=models.t2v)
    with pytest.raises(BadRequest) as refused:
        await shared_worker.submit(text_only)
    assert "CogVideoX text-to-video model" in str(refused.value)
    assert models.t2v in str(refused.value)
    assert await shared_worker.state("badcog2") is None
