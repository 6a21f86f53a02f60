"""The video engine on tiny random Wan models (Wan 2.2 TI2V-shaped and Wan VACE): real
diffusers, real ffmpeg, a real tiny SD keyframe model, and the real worker service."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageOps

from pipeline.errors import BadRequest
from pipeline.render.actors import RenderActorClient
from pipeline.worker.engines import Engine, create_engine
from pipeline.worker.requests import RenderRequest
from tests.pipeline.worker.video_helpers import (
    assert_clip,
    png_base64,
    seeds_of,
    spy_on,
    video_request,
)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    import torch

    torch.set_num_threads(1)
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    from pipeline.worker.tiny_models.keyframe import make_tiny_model
    from pipeline.worker.tiny_models.video import make_tiny_wan_model

    folder = tmp_path_factory.mktemp("models")
    return {
        "keyframe": str(make_tiny_model(folder / "tiny-sd")),
        "wan": str(make_tiny_wan_model(folder / "tiny-wan", kind="ti2v")),
        "vace": str(make_tiny_wan_model(folder / "tiny-wan-vace", kind="vace")),
        "i2v": str(make_tiny_wan_model(folder / "tiny-wan21-i2v", kind="i2v")),
        "t2v": str(make_tiny_wan_model(folder / "tiny-wan21-t2v", kind="t2v")),
    }


@pytest.fixture(scope="module")
def engine(models: dict[str, str]) -> Engine:
    return create_engine("video")


def make_request(models: dict[str, str], **changes: Any) -> RenderRequest:
    defaults = {
        "job_id": "wan1",
        "model": models["keyframe"],
        "video_model": models["wan"],
        "extra": {"video_width": 64, "video_height": 96},
    }
    return video_request(defaults, changes)


def test_keyframes_then_one_image_to_video_call_per_keyframe(
    engine: Engine, models: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = spy_on(engine, monkeypatch)

    takes = engine.render(make_request(models), tmp_path, lambda *_: None)

    # WanImageToVideoPipeline takes one start image per call: one call per keyframe
    assert [call["pipeline"] for call in calls] == ["WanImageToVideoPipeline"] * 2
    assert [call["num_videos_per_prompt"] for call in calls] == [1, 1]
    assert [seeds_of(call) for call in calls] == [[1], [2]]
    assert [take.seed for take in takes] == [1, 2]
    for call, take in zip(calls, takes, strict=True):
        # Wan's pipelines take no frame rate: frames are counted at the model's own (Wan2.2
        # TI2V: 24 fps), 1.5 s -> 37, so the motion plays at its speed in the 8 fps project
        assert (call["width"], call["height"], call["num_frames"]) == (64, 96, 37)
        assert "frame_rate" not in call
        # each clip starts from its own keyframe, the still shown as the take's preview
        with Image.open(take.preview_path) as still:
            assert np.array_equal(pixels(still), pixels(call["image"]))
        # 1.5 s x 8 fps = 12 frames, resampled from 37, scaled to the request's 96x160
        assert_clip(take.media_path, 96, 160, 1.5, 12)
    assert not np.array_equal(pixels(calls[0]["image"]), pixels(calls[1]["image"]))


def test_one_init_image_starts_all_takes_in_one_call(
    engine: Engine, models: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = spy_on(engine, monkeypatch)
    start = Image.new("RGB", (90, 160), (200, 40, 30))
    request = make_request(models, model="", init_image=png_base64(start), seeds=(7, 8))

    takes = engine.render(request, tmp_path, lambda *_: None)

    (call,) = calls
    assert call["pipeline"] == "WanImageToVideoPipeline"
    assert call["num_videos_per_prompt"] == 2 and seeds_of(call) == [7, 8]
    assert np.array_equal(pixels(call["image"]), pixels(start))
    # different seeds, different clips
    assert [take.seed for take in takes] == [7, 8]
    assert Path(takes[0].media_path).read_bytes() != Path(takes[1].media_path).read_bytes()


def test_text_to_video_renders_all_seeds_in_one_call(
    engine: Engine, models: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = spy_on(engine, monkeypatch)
    # 9 rendered frames stretched over 2 s at 8 fps = 16 frames
    request = make_request(
        models, model="", duration=2.0, extra={"num_frames": 9, "guidance_scale": 3.0}
    )

    takes = engine.render(request, tmp_path, lambda *_: None)

    (call,) = calls
    assert call["pipeline"] == "WanPipeline"
    assert "image" not in call and call["num_frames"] == 9 and call["guidance_scale"] == 3.0
    assert call["num_videos_per_prompt"] == 2 and seeds_of(call) == [1, 2]
    # no video_width/video_height: the request's size, in multiples of 32 (Wan2.2 TI2V)
    assert (call["width"], call["height"]) == (96, 160)
    for take in takes:
        assert_clip(take.media_path, 96, 160, 2.0, 16)
        with Image.open(take.preview_path) as still:
            assert still.size == (96, 160)  # the clip's first frame, as rendered


def test_wan21_image_to_video_renders_one_video_per_call(
    engine: Engine, models: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Wan 2.1's image-to-video pipeline (CLIP image embeddings) renders one video per call
    calls = spy_on(engine, monkeypatch)
    start = Image.new("RGB", (90, 160), (30, 40, 200))
    request = make_request(
        models, model="", video_model=models["i2v"], init_image=png_base64(start), seeds=(5, 6)
    )

    takes = engine.render(request, tmp_path, lambda *_: None)

    assert [call["pipeline"] for call in calls] == ["WanImageToVideoPipeline"] * 2
    assert [call["num_videos_per_prompt"] for call in calls] == [1, 1]
    assert [seeds_of(call) for call in calls] == [[5], [6]]
    for call in calls:
        assert np.array_equal(pixels(call["image"]), pixels(start))
    for take in takes:
        assert_clip(take.media_path, 96, 160, 1.5, 12)


def test_a_one_task_wan_model_is_refused_for_the_other(
    engine: Engine, models: dict[str, str], tmp_path: Path
) -> None:
    # Wan2.1-I2V's transformer needs a start image: known from its folder, before rendering
    with pytest.raises(ValueError, match="image-to-video model"):
        engine.check_inputs(make_request(models, model="", video_model=models["i2v"]))
    # Wan2.1-T2V's cannot take one (known from its folder too), nor start from a keyframe
    start = png_base64(Image.new("RGB", (90, 160), (30, 40, 200)))
    request = make_request(models, model="", video_model=models["t2v"], init_image=start)
    for asked in (request, replace(request, init_image="", model=models["keyframe"])):
        with pytest.raises(ValueError, match="text-to-video model: it cannot start from"):
            engine.render(asked, tmp_path, lambda *_: None)
    assert list(tmp_path.iterdir()) == []
    # a continuous shot's start (the previous shot's last frame) is left out, and says so
    continuous = replace(request, seeds=(9,), extra={"start": "continuity", "num_frames": 9})
    (take,) = engine.render(continuous, tmp_path, lambda *_: None)
    assert "text-to-video only" in take.parameters["continuity_unused"]
    assert_clip(take.media_path, 96, 160, 1.5, 12)


def test_wan_size_and_frame_rules(engine: Engine, models: dict[str, str]) -> None:
    from pipeline.worker.engines.video_families import family_on_disk
    from pipeline.worker.engines.video_shape import video_frames, video_size

    for changes, named in [
        ({"extra": {"video_width": 100, "video_height": 96}}, "video_width 100"),
        ({"extra": {"video_width": 64, "video_height": 72}}, "video_height 72"),
        ({"extra": {"num_frames": 10}}, "num_frames 10"),
        ({"extra": {"num_frames": 125}}, "num_frames 125"),
    ]:
        with pytest.raises(ValueError, match=named) as refused:
            engine.check_inputs(make_request(models, **changes))
        assert "Wan" in str(refused.value)
    # Wan's rules, not LTX-Video's: 4k+1 frames pass, and multiples of 16 for Wan 2.1
    wan21 = make_request(models, model="", video_model=models["t2v"])
    engine.check_inputs(replace(wan21, extra={"video_width": 80, "video_height": 144}))
    engine.check_inputs(make_request(models, extra={"num_frames": 13}))
    # Wan2.2 TI2V's VAE compresses 16x: multiples of 32
    with pytest.raises(ValueError, match="video_width 80 must be a multiple of 32"):
        engine.check_inputs(make_request(models, extra={"video_width": 80, "video_height": 96}))

    ti2v, t2v = family_on_disk(models["wan"]), family_on_disk(models["t2v"])
    assert ti2v is not None and t2v is not None and ti2v.label == t2v.label == "Wan"
    # a 9:16 1080x1920 clip of 10 s at 24 fps renders at 480p, 81 frames (5 s at 16 fps;
    # 3.4 s at TI2V's 24), stretched over the 10 s
    full_hd = make_request(models, width=1080, height=1920, duration=10.0, fps=24, extra={})
    assert video_size(full_hd, t2v) == (464, 832)
    assert video_size(full_hd, ti2v) == (480, 832)
    assert video_frames(full_hd, t2v) == video_frames(full_hd, ti2v) == 81
    # 1.5 s: the fewest 4k+1 frames that cover it at the model's own rate, whatever the
    # project's (8 fps here): 16 fps -> 25, 24 fps -> 37
    assert video_frames(make_request(models, extra={}), t2v) == 25
    assert video_frames(make_request(models, extra={}), ti2v) == 37


def test_vace_passes_the_character_reference_with_each_seed(
    engine: Engine, models: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = spy_on(engine, monkeypatch)
    reference = Image.new("RGB", (48, 80), (20, 180, 60))
    request = make_request(
        models,
        model="",
        video_model=models["vace"],
        seeds=(3, 4),
        reference_images=(png_base64(reference),),
    )

    takes = engine.render(request, tmp_path, lambda *_: None)

    # WanVACEPipeline renders one video per call, from one generator (not a list)
    assert [call["pipeline"] for call in calls] == ["WanVACEPipeline"] * 2
    assert [call["num_videos_per_prompt"] for call in calls] == [1, 1]
    assert [seeds_of(call) for call in calls] == [[3], [4]]
    for call in calls:
        assert not isinstance(call["generator"], list)
        (given,) = call["reference_images"]
        assert np.array_equal(pixels(given), pixels(reference))
        assert "video" not in call and "mask" not in call  # text-to-video
    assert [take.seed for take in takes] == [3, 4]
    assert [take.parameters["references"] for take in takes] == [1, 1]
    for take in takes:
        assert_clip(take.media_path, 96, 160, 1.5, 12)


def test_vace_starts_each_clip_from_its_keyframe_by_video_and_mask(
    engine: Engine, models: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = spy_on(engine, monkeypatch)
    reference = Image.new("RGB", (48, 80), (20, 180, 60))
    request = make_request(
        models, video_model=models["vace"], reference_images=(png_base64(reference),)
    )

    takes = engine.render(request, tmp_path, lambda *_: None)

    assert [seeds_of(call) for call in calls] == [[1], [2]]
    for call, take in zip(calls, takes, strict=True):
        assert len(call["reference_images"]) == 1
        video, mask = call["video"], call["mask"]
        assert len(video) == len(mask) == call["num_frames"] == 25  # 1.5 s at VACE's 16 fps
        # first frame: the take's keyframe at the render size, kept (black mask)
        with Image.open(take.preview_path) as still:
            keyframe = ImageOps.fit(still.convert("RGB"), (64, 96), Image.Resampling.LANCZOS)
        assert np.array_equal(pixels(video[0]), pixels(keyframe))
        assert video[0].size == mask[0].size == (64, 96)
        assert not np.asarray(mask[0]).any()
        # the rest: neutral grey, generated (white mask)
        for frame, frame_mask in zip(video[1:], mask[1:], strict=True):
            assert (np.asarray(frame) == 128).all() and (np.asarray(frame_mask) == 255).all()
        assert_clip(take.media_path, 96, 160, 1.5, 12)
    assert not np.array_equal(pixels(calls[0]["video"][0]), pixels(calls[1]["video"][0]))
    # the clips took the reference; the tiny keyframe model (no IP-Adapter) could not
    for take in takes:
        assert take.parameters["references"] == 1
        assert "references_unused" not in take.parameters
        assert "IP-Adapter" in take.parameters["keyframe_references_unused"]


def test_in_half_precision_the_wan_vae_stays_in_float32(
    models: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    monkeypatch.setenv("SHOWRUNNER_DTYPE", "bfloat16")
    engine = create_engine("video")
    request = make_request(models, model="", seeds=(1,), extra={"num_frames": 9})

    (take,) = engine.render(request, tmp_path, lambda *_: None)

    pipe = engine.videos.get(models["wan"])  # type: ignore[attr-defined]
    assert pipe.transformer.dtype == torch.bfloat16
    assert pipe.vae.dtype == torch.float32
    assert_clip(take.media_path, 96, 160, 1.5, 12)


async def test_the_render_actor_refuses_a_bad_wan_value_by_name(
    models: dict[str, str], shared_worker: RenderActorClient
) -> None:
    request = make_request(models, extra={"video_width": 100, "video_height": 96})
    with pytest.raises(BadRequest, match=r"video_width 100.*Wan"):
        await shared_worker.submit(request)
    assert await shared_worker.state(request.job_id) is None
    frames = make_request(models, job_id="wan2", extra={"num_frames": 10})
    with pytest.raises(BadRequest, match=r"num_frames 10.*4k\+1"):
        await shared_worker.submit(frames)
    assert await shared_worker.state("wan2") is None
