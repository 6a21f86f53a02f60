"""The `showrunner` command: produce, bot, make-tiny-model."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Coroutine
from functools import partial
from pathlib import Path
from typing import Any

from storage.errors import ShowrunnerError

RESUME_HINT = "Run `showrunner produce --resume` to finish the episode; what is stored is kept."

TINY_VIDEO_MODELS = ("ltx", "wan", "wan-vace", "cogvideox")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="showrunner", description="AI short-drama studio")
    commands = parser.add_subparsers(dest="command", required=True)
    produce_parser = commands.add_parser("produce", help="premise -> a season's episode MP4s")
    produce_parser.add_argument("premise", nargs="?", default="")
    produce_parser.add_argument(
        "--resume", action="store_true", help="finish the last episode a stopped run left"
    )
    produce_parser.add_argument(
        "--episodes", type=int, default=1, help="episodes in the season (1-20, default 1)"
    )
    produce_parser.add_argument(
        "--minutes", type=float, default=1.0, help="each episode's length (0.5-3, default 1)"
    )
    produce_parser.add_argument("--engine", choices=["animatic", "diffusers", "video"])
    produce_parser.add_argument("--model", help="keyframe model: Hugging Face id or folder")
    produce_parser.add_argument("--video-model", help="video engine's model: HF id or folder")
    produce_parser.add_argument("--data-dir", type=Path)
    commands.add_parser("bot", help="run the Discord bot (needs DISCORD_TOKEN)")
    tiny = commands.add_parser("make-tiny-model", help="write a tiny random model (offline)")
    tiny.add_argument("directory", type=Path)
    kind = tiny.add_mutually_exclusive_group()
    kind.add_argument("--video", action="store_true", help="a tiny video model instead")
    kind.add_argument(
        "--speech", action="store_true", help="a tiny speech model (SHOWRUNNER_SPEECH_MODEL)"
    )
    kind.add_argument(
        "--music", action="store_true", help="a tiny music model (SHOWRUNNER_MUSIC_MODEL)"
    )
    kind.add_argument(
        "--ip-adapter", action="store_true", help="give the keyframe model a tiny IP-Adapter"
    )
    tiny.add_argument("--family", choices=TINY_VIDEO_MODELS, help="the --video model's family")
    args = parser.parse_args(argv)
    if args.command == "make-tiny-model" and args.family and not args.video:
        parser.error("--family picks the family of a --video model: add --video")
    if args.command == "produce" and args.resume and args.premise:
        parser.error("--resume finishes the last episode: give no premise with it")

    from bot.settings import Settings
    from pipeline.processes import Stopped, run_until_signalled

    settings = Settings()
    logging.basicConfig(
        level=settings.showrunner_log_level.upper(),
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "httpx2", "openai", "discord.gateway", "discord.http"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        if args.command == "produce":
            for path in run_until_signalled(produce_job(settings, args)):
                print(path)
        elif args.command == "bot":
            from bot.client import run_bot

            run_until_signalled(run_bot(settings))
        elif args.command == "make-tiny-model":
            print(make_tiny(args))
    except Stopped as stopped:
        # the cleanup has run: children stopped, running jobs left to resume, database closed
        hint = f" {RESUME_HINT}" if args.command == "produce" else ""
        print(f"showrunner: {stopped}.{hint}", file=sys.stderr)
        raise SystemExit(stopped.exit_code) from None
    except ShowrunnerError as error:
        print(f"showrunner: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


def make_tiny(args: argparse.Namespace) -> Path:
    from pipeline.worker.tiny_models.keyframe import add_tiny_ip_adapter, make_tiny_model
    from pipeline.worker.tiny_models.video import (
        make_tiny_cogvideox_model,
        make_tiny_video_model,
        make_tiny_wan_model,
    )

    if args.speech:
        from pipeline.worker.tiny_models.speech import make_tiny_speech_model

        return make_tiny_speech_model(args.directory)
    if args.music:
        from pipeline.worker.tiny_models.music import make_tiny_music_model

        return make_tiny_music_model(args.directory)
    if args.video:
        makers = {
            "ltx": make_tiny_video_model,
            # like Wan2.2-TI2V-5B: text- and image-to-video
            "wan": partial(make_tiny_wan_model, kind="ti2v"),
            "wan-vace": partial(make_tiny_wan_model, kind="vace"),
            # like CogVideoX1.5-5B-I2V: image-to-video at any size
            "cogvideox": partial(make_tiny_cogvideox_model, version="1.5"),
        }
        return makers[args.family or "ltx"](args.directory)
    folder = make_tiny_model(args.directory)
    if args.ip_adapter:
        add_tiny_ip_adapter(folder)
    return folder


def produce_job(settings, args: argparse.Namespace) -> Coroutine[Any, Any, list[Path]]:
    """What `showrunner produce` runs: a season from the premise (or the rest of it), or
    --resume; the episodes' paths."""
    from bot.produce import produce, resume

    updates = {}
    if args.engine:
        updates["showrunner_engine"] = args.engine
    if args.model:
        updates["showrunner_model"] = args.model
        updates.setdefault("showrunner_engine", "diffusers")
    if args.video_model:
        updates["showrunner_video_model"] = args.video_model
    if args.data_dir:
        updates["showrunner_data_dir"] = args.data_dir
    settings = settings.model_copy(update=updates)
    if settings.showrunner_engine == "diffusers" and not settings.showrunner_model:
        raise ShowrunnerError("The diffusers engine needs --model (a Hugging Face id or folder).")

    def say(line: str) -> None:
        print(line, flush=True)

    if args.resume:
        return resume(settings, say=say)
    return produce(
        settings, args.premise, episode_count=args.episodes, minutes=args.minutes, say=say
    )


if __name__ == "__main__":
    main()
