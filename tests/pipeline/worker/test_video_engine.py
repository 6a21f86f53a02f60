"""The diffusers video engine on tiny random LTX-Video and SD models, real diffusers and ffmpeg."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from pipeline.errors import BadRequest
from pipeline.ffmpeg import probe
from pipeline.render.actors import RenderActorClient
from pipeline.worker.engines import Engine, create_engine
from pipeline.worker.requests import RenderRequest
from tests.pipeline.worker.video_helpers import frame_count, png_base64, spy_on, video_request


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[float, str]] = []

    def __call__(self, fraction: float, stage: str) -> None:
        self.calls.append((fraction, stage))


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    import torch

    torch.set_num_threads(1)
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    from pipeline.worker.tiny_models.keyframe import make_tiny_model
    from pipeline.worker.tiny_models.video import make_tiny_video_model

    folder = tmp_path_factory.mktemp("models")
    keyframe = make_tiny_model(folder / "tiny-sd")
    video = make_tiny_video_model(folder / "tiny-ltx")
    return str(keyframe), str(video)


@pytest.fixture(scope="module")
def engine(models: tuple[str, str]) -> Engine:
    return create_engine("video")


def make_request(models: tuple[str, str], **changes: Any) -> RenderRequest:
    keyframe, video = models
    return video_request({"job_id": "job9", "model": keyframe, "video_model": video}, changes)


def test_keyframes_then_clips_in_one_batched_call(
    engine: Engine, models: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = spy_on(engine, monkeypatch)
    progress = Recorder()

    takes = engine.render(make_request(models), tmp_path, progress)

    assert len(calls) == 1  # both takes in one image-to-video call
    (call,) = calls
    assert call["pipeline"] == "LTXImageToVideoPipeline"
    assert call["num_videos_per_prompt"] == 2 and len(call["generator"]) == 2
    assert (call["width"], call["height"], call["num_frames"]) == (96, 160, 17)
    assert [take.seed for take in takes] == [1, 2]
    for take, image in zip(takes, call["image"], strict=True):
        # each clip starts from its own keyframe, the still shown as the take's preview
        with Image.open(take.preview_path) as still:
            assert np.array_equal(np.asarray(still.convert("RGB")), np.asarray(image))
        info = probe(take.media_path)
        assert (info.width, info.height, info.video_codec) == (96, 160, "h264")
        assert abs(info.duration - 1.5) < 0.05
        assert frame_count(take.media_path) == 12  # 1.5 s x 8 fps, from 17 rendered frames
    assert not np.array_equal(np.asarray(call["image"][0]), np.asarray(call["image"][1]))
    stages = [stage for _, stage in progress.calls]
    assert stages[0] == "keyframe" and stages[-1] == "encode" and "clip" in stages
    assert stages.index("clip") > stages.index("keyframe")
    fractions = [fraction for fraction, _ in progress.calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_text_to_video_without_a_keyframe_model_resamples_short_clips(
    engine: Engine, models: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = spy_on(engine, monkeypatch)
    # 9 rendered frames stretched over 2 s at 8 fps = 16 frames
    request = make_request(models, model="", seeds=(5,), duration=2.0, extra={"num_frames": 9})

    (take,) = engine.render(request, tmp_path, Recorder())

    (call,) = calls
    assert call["pipeline"] == "LTXPipeline"
    assert "image" not in call and call["num_frames"] == 9
    assert frame_count(take.media_path) == 16
    assert abs(probe(take.media_path).duration - 2.0) < 0.05
    with Image.open(take.preview_path) as still:
        assert still.size == (96, 160)


def test_init_image_starts_every_take_and_skips_the_keyframes(
    engine: Engine, models: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = spy_on(engine, monkeypatch)
    start = Image.new("RGB", (90, 160), (200, 40, 30))
    request = make_request(
        models, init_image=png_base64(start), extra={"video_width": 64, "video_height": 96}
    )
    progress = Recorder()

    takes = engine.render(request, tmp_path, progress)

    (call,) = calls
    assert len(call["image"]) == 2
    for image in call["image"]:
        assert np.array_equal(np.asarray(image), np.asarray(start))
    assert (call["width"], call["height"]) == (64, 96)
    assert "keyframe" not in {stage for _, stage in progress.calls}
    assert [probe(take.media_path).width for take in takes] == [96, 96]


def test_out_of_memory_retries_one_take_at_a_time(
    engine: Engine, models: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = spy_on(engine, monkeypatch, fail_over=1)

    takes = engine.render(make_request(models, model=""), tmp_path, Recorder())

    assert [call["num_videos_per_prompt"] for call in calls] == [2, 1, 1]
    assert [len(call["generator"]) for call in calls] == [2, 1, 1]
    assert len(takes) == 2 and all(Path(take.media_path).exists() for take in takes)


def test_keyframe_output_renders_stills_only(
    engine: Engine, models: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = spy_on(engine, monkeypatch)

    takes = engine.render(make_request(models, output="keyframe"), tmp_path, Recorder())

    assert calls == []  # no video model ran
    assert len(takes) == 2
    with Image.open(takes[0].preview_path) as still:
        assert still.size == (64, 112)  # the tiny SD model's native keyframe


BAD_REQUESTS = [
    ({"extra": {"video_width": 100, "video_height": 160}}, "video_width 100"),
    ({"extra": {"video_width": 96, "video_height": 90}}, "video_height 90"),
    ({"extra": {"num_frames": 10}}, "num_frames 10"),
    ({"extra": {"num_frames": 265}}, "num_frames 265"),
    ({"output": "gif"}, "output 'gif'"),
    ({"video_model": ""}, "video_model is empty"),
    ({"video_model": "./no/such/folder"}, "'./no/such/folder'"),
    ({"init_image": "not an image"}, "init_image"),
    ({"steps": 0}, "steps 0"),
    ({"output": "keyframe", "model": ""}, "keyframe"),
]


@pytest.mark.parametrize(("changes", "named"), BAD_REQUESTS)
def test_check_inputs_names_the_bad_value(
    engine: Engine, models: tuple[str, str], changes: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValueError, match=named):
        engine.check_inputs(make_request(models, **changes))


async def test_the_render_actor_refuses_a_bad_value_by_name(
    models: tuple[str, str], shared_worker: RenderActorClient
) -> None:
    for number, (changes, named) in enumerate(BAD_REQUESTS[:3]):
        request = make_request(models, job_id=f"bad{number}", **changes)
        with pytest.raises(BadRequest, match=named):
            await shared_worker.submit(request)
        assert await shared_worker.state(f"bad{number}") is None
    with pytest.raises(BadRequest, match="num_frames 12"):
        await shared_worker.submit(make_request(models, job_id="bad9", extra={"num_frames": 12}))
    assert await shared_worker.state("bad9") is None
