"""The `showrunner` command: produce (headless), and its errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agents.model_errors import BadModelOutput
from bot.produce import produce
from bot.settings import Settings
from pipeline.ffmpeg import probe
from pipeline.sound.loudness import TARGET_LUFS, measure
from storage import events, plan
from storage.db import open_db
from storage.seasons import TEASER_SECONDS
from tests.cli_env import PREMISE, clean_env
from tests.fakes import episode_answers, scripted, season_map_answer, tool_call
from tests.ray_cluster import start_test_cluster


def episode_shots(data_dir: Path) -> list[list[plan.Shot]]:
    db = open_db(data_dir / "showrunner.db")
    return [
        plan.list_shots(db, row["id"]) for row in db.table("episodes").rows_where(order_by="id")
    ]


def tiny_settings(data_dir: Path) -> Settings:
    start_test_cluster()  # produce joins it (instead of starting a Ray of its own)
    return Settings(
        _env_file=None,
        showrunner_data_dir=data_dir,
        showrunner_width=180,
        showrunner_height=320,
        showrunner_fps=12,
        showrunner_render_actors=1,
    )


async def test_produce_makes_a_season_and_the_same_command_again_finishes_it(tmp_path: Path):
    """Two half-minute episodes: the first is delivered, then writing the second fails; the
    same command run again writes and makes only the second."""
    settings = tiny_settings(tmp_path)
    lines: list[str] = []
    broken = tool_call("ShotsDraft", {"shots": "none"})
    first_run = scripted(
        tool_call("SeasonMapDraft", season_map_answer(("cold open", "question"))),
        *episode_answers(1, scenes=2, shots_per_scene=4),
        tool_call(
            "CanonDraft",
            {"facts": [{"kind": "prop", "subject": "Li Xingzhou", "fact": "a cracked oar"}]},
        ),
        *episode_answers(2, scenes=2, shots_per_scene=2)[:3],  # beats, scenes, scene 1
        broken,
        broken,  # scene 2's shots, twice: the step fails
    )
    with pytest.raises(BadModelOutput):
        await produce(
            settings, PREMISE, episode_count=2, minutes=0.5, say=lines.append, chat_model=first_run
        )
    assert len(episode_shots(tmp_path)) == 1  # the second episode was not stored
    first_cut = tmp_path / "media" / "episodes" / "project1_episode1.mp4"
    assert first_cut.exists()
    made_at = first_cut.stat().st_mtime_ns

    second_run = scripted(
        *episode_answers(2, scenes=2, shots_per_scene=2)[1:],  # its beats were kept
        tool_call("CanonDraft", {"facts": []}),
    )
    paths = await produce(
        settings, PREMISE, episode_count=2, minutes=0.5, say=lines.append, chat_model=second_run
    )
    assert paths[0] == first_cut.resolve() and first_cut.stat().st_mtime_ns == made_at
    assert any(line.startswith("Continuing season 1") for line in lines)
    assert "Canon from episode 1: Li Xingzhou: a cracked oar" in lines
    assert "Episode 2: Tide 2 (hook: question" in "\n".join(lines)
    # episode 2 opens on a recap of episode 1's last 3 shots; each ends on a teaser card
    recaps = (0, 3)
    for path, shots, recap in zip(paths, episode_shots(tmp_path), recaps, strict=True):
        info = probe(path)
        assert abs(info.duration - 30) <= 3  # the asked length, within 10%
        assert (info.width, info.height) == (180, 320)
        assert path.with_suffix(".srt").read_text().count("kneel") == len(shots) + recap
        # scored from its scenes' moods, at the platforms' loudness
        loudness = await measure(path)
        assert abs(loudness.integrated - TARGET_LUFS) <= 1.0 and loudness.true_peak <= -1.0
    # headless, the terminal was the delivery: nothing is left for a bot to post later
    assert events.pending_events(open_db(settings.database_path)) == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--episodes", "0"], "1 to 20 episodes, not 0"),
        (["--episodes", "500"], "1 to 20 episodes, not 500"),
        (["--minutes", "30"], "0.5 to 3 minutes, not 30"),
    ],
)
def test_produce_refuses_a_season_it_cannot_make_before_starting_anything(
    tmp_path: Path, options: list[str], message: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "produce", *options, PREMISE],
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 1 and message in result.stderr
    assert not (tmp_path / "showrunner.db").exists()  # nothing was started, nothing stored


def test_produce_without_a_premise_says_what_to_do(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "produce", "  "],
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1 and "Give a premise" in result.stderr


def test_bot_without_a_token_says_so(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "bot"],
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 1 and "DISCORD_TOKEN is not set" in result.stderr


@pytest.mark.slow
def test_produce_on_the_embedded_llm_and_the_animatic_engine(
    tmp_path: Path, embedded_model: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "produce", PREMISE],
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    path = Path(result.stdout.strip().splitlines()[-1])
    assert path.exists() and path.suffix == ".mp4"
    assert "Rendering" in result.stdout and "done" in result.stdout  # progress on the terminal
    (shots,) = episode_shots(tmp_path)
    assert len(shots) >= 4
    db = open_db(tmp_path / "showrunner.db")
    assert db.table("scenes").count >= 2
    info = probe(path)
    assert (info.width, info.height, info.video_codec, info.audio_codec) == (
        720,
        1280,
        "h264",
        "aac",
    )
    # one minute (the default) within 10%: the shots, then the card that ends the season
    assert abs(info.duration - 60) <= 6
    assert abs(info.duration - sum(shot.duration for shot in shots) - TEASER_SECONDS) <= 0.5
    assert path.with_suffix(".srt").read_text().strip()
    sheet = result.stdout.split("Season contact sheet: ")[1].splitlines()[0]
    assert Path(sheet).is_file() and sheet.endswith("_season1.png")


def test_make_tiny_model_writes_video_and_ip_adapter_models(tmp_path: Path) -> None:
    import json

    made = (
        (["--ip-adapter"], "keyframe"),
        (["--video"], "video"),
        (["--video", "--family", "wan-vace"], "vace"),
    )
    for options, folder in made:
        result = subprocess.run(
            [sys.executable, "-m", "bot", "make-tiny-model", *options, str(tmp_path / folder)],
            env=clean_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().endswith(folder)
    keyframe = json.loads((tmp_path / "keyframe" / "model_index.json").read_text())
    video = json.loads((tmp_path / "video" / "model_index.json").read_text())
    assert keyframe["_class_name"] == "StableDiffusionPipeline"
    assert (tmp_path / "keyframe" / "ip_adapter" / "ip-adapter.safetensors").is_file()
    assert video["_class_name"].startswith("LTX")
    vace = json.loads((tmp_path / "vace" / "model_index.json").read_text())
    assert vace["_class_name"] == "WanVACEPipeline"
    # a family without --video would silently write a keyframe model: refused instead
    result = subprocess.run(
        [sys.executable, "-m", "bot", "make-tiny-model", "--family", "wan", str(tmp_path / "x")],
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 2 and "add --video" in result.stderr
    assert not (tmp_path / "x").exists()
