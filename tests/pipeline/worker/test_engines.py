"""Engines end to end: the storyboard animatic and diffusers on a tiny random model."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops

from pipeline.ffmpeg import probe
from pipeline.worker.engines import Engine, create_engine
from pipeline.worker.requests import RenderRequest

ROOT = Path(__file__).resolve().parents[3]


def make_request(**changes: Any) -> RenderRequest:
    request = RenderRequest(
        job_id="job7",
        engine="animatic",
        prompt="rain-soaked night market, neon, cinematic",
        seeds=(11, 22),
        duration=1.5,
        width=180,
        height=320,
        fps=24,
        heading="Ep 1 · Scene 2 · Shot 3",
        description="Lin Yue pushes through the crowd, clutching the envelope.",
        camera="handheld, slow push in",
        dialogue="If he finds out, we're both finished.",
    )
    return replace(request, **changes)


class Recorder:
    """A ProgressCallback that keeps what it was told."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, str]] = []

    def __call__(self, fraction: float, stage: str) -> None:
        self.calls.append((fraction, stage))

    @property
    def fractions(self) -> list[float]:
        return [fraction for fraction, _ in self.calls]


def assert_clip(path: str, width: int, height: int, duration: float) -> None:
    info = probe(path)
    assert (info.width, info.height) == (width, height)
    assert info.video_codec == "h264"
    assert info.audio_codec is None
    assert abs(info.duration - duration) <= 0.1


def differs(a: str, b: str) -> bool:
    with Image.open(a) as first, Image.open(b) as second:
        return (
            ImageChops.difference(first.convert("RGB"), second.convert("RGB")).getbbox() is not None
        )


@pytest.fixture(scope="module")
def torch_quiet() -> None:
    import torch

    torch.set_num_threads(1)


# --- animatic ---------------------------------------------------------------------------------


def test_animatic_renders_one_clip_per_seed(tmp_path: Path) -> None:
    engine = create_engine("animatic")
    progress = Recorder()

    takes = engine.render(make_request(), tmp_path, progress)

    assert [take.seed for take in takes] == [11, 22]
    for number, take in enumerate(takes, start=1):
        assert Path(take.media_path) == tmp_path / f"job7_take{number}.mp4"
        assert Path(take.preview_path) == tmp_path / f"job7_take{number}.png"
        assert_clip(take.media_path, 180, 320, 1.5)
        with Image.open(take.preview_path) as card:
            assert card.size == (180, 320)
    assert differs(takes[0].preview_path, takes[1].preview_path)
    assert progress.fractions == sorted(progress.fractions)
    assert progress.calls[-1] == (1.0, "clip")


def test_animatic_chinese_card_at_default_size(tmp_path: Path) -> None:
    request = make_request(
        seeds=(5,),
        duration=1.0,
        width=720,
        height=1280,
        heading="第1集 · 第2场 · 镜头3",
        description="雨夜的夜市。林悦挤过人群，紧紧攥着信封，头顶的霓虹灯忽明忽暗。" * 3,
        camera="手持，缓慢横摇 pan left",
        dialogue="如果他发现了，我们俩就都完了。",
    )
    takes = create_engine("animatic").render(request, tmp_path, Recorder())

    assert len(takes) == 1
    assert_clip(takes[0].media_path, 720, 1280, 1.0)


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"seeds": ()}, "seeds"),
        ({"seeds": tuple(range(9))}, "seeds"),
        ({"seeds": (-1,)}, "seed -1"),
        ({"duration": 0.0}, "duration 0.0"),
        ({"duration": 61.0}, "duration 61.0"),
        ({"width": 181}, "width 181"),
        ({"height": 32}, "height 32"),
        ({"fps": 0}, "fps 0"),
        ({"job_id": "../escape"}, "job_id"),
    ],
)
def test_animatic_check_inputs_names_the_bad_value(changes: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        create_engine("animatic").check_inputs(make_request(**changes))


def test_unknown_engine_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="warp-drive"):
        create_engine("warp-drive")


def test_importing_engines_does_not_load_torch() -> None:
    code = (
        "import sys, pipeline.worker.engines, pipeline.worker.engines.animatic, "
        "pipeline.cut.assemble; "
        "print('torch' in sys.modules, 'diffusers' in sys.modules)"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert completed.stdout.split() == ["False", "False"]


# --- diffusers on a tiny random model -----------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, torch_quiet: None) -> Path:
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    from pipeline.worker.tiny_models.keyframe import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny-sd")


@pytest.fixture(scope="module")
def diffusers_engine(torch_quiet: None) -> Engine:
    return create_engine("diffusers")


def test_diffusers_renders_batched_takes(
    tiny_model: Path, diffusers_engine: Engine, tmp_path: Path
) -> None:
    request = make_request(engine="diffusers", model=str(tiny_model), seeds=(1, 2), steps=3)
    progress = Recorder()

    takes = diffusers_engine.render(request, tmp_path / "first", progress)

    assert [take.seed for take in takes] == [1, 2]
    for number, take in enumerate(takes, start=1):
        assert Path(take.media_path).name == f"job7_take{number}.mp4"
        assert_clip(take.media_path, 180, 320, 1.5)
        with Image.open(take.preview_path) as keyframe:
            # the model's native long side (112 px) with the request's 9:16 aspect
            assert keyframe.size == (64, 112)
    assert differs(takes[0].preview_path, takes[1].preview_path)
    fractions = progress.fractions
    assert fractions == sorted(fractions) and len(set(fractions)) == len(fractions)
    assert fractions[-1] == 1.0
    assert {stage for _, stage in progress.calls} == {"keyframe", "clip"}
    assert len([stage for _, stage in progress.calls if stage == "keyframe"]) == 1 + 3

    again = diffusers_engine.render(request, tmp_path / "again", Recorder())
    for first, second in zip(takes, again, strict=True):
        assert not differs(first.preview_path, second.preview_path)


def test_diffusers_keyframe_size_from_extra(
    tiny_model: Path, diffusers_engine: Engine, tmp_path: Path
) -> None:
    request = make_request(
        engine="diffusers",
        model=str(tiny_model),
        seeds=(3,),
        steps=1,
        duration=0.5,
        width=320,
        height=180,
        extra={"keyframe_width": 112, "keyframe_height": 64},
    )
    (take,) = diffusers_engine.render(request, tmp_path, Recorder())

    with Image.open(take.preview_path) as keyframe:
        assert keyframe.size == (112, 64)
    assert_clip(take.media_path, 320, 180, 0.5)


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"prompt": "  "}, "prompt"),
        ({"model": ""}, "model"),
        ({"seeds": ()}, "seeds"),
        ({"width": 719}, "width 719"),
        ({"extra": {"keyframe_width": "wide"}}, "keyframe_width"),
        ({"extra": {"move": "barrel-roll"}}, "barrel-roll"),
    ],
)
def test_diffusers_check_inputs_names_the_bad_value(
    diffusers_engine: Engine, changes: dict[str, Any], named: str
) -> None:
    request = make_request(**{"engine": "diffusers", "model": "some/model", **changes})
    with pytest.raises(ValueError, match=named):
        diffusers_engine.check_inputs(request)
