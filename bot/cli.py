"""The `showrunner` command: produce, bot, worker, make-tiny-model."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from storage.errors import ShowrunnerError


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["worker"]:
        from pipeline.worker import main as worker_main

        worker_main(argv[1:])
        return
    parser = argparse.ArgumentParser(prog="showrunner", description="AI short-drama studio")
    commands = parser.add_subparsers(dest="command", required=True)
    produce_parser = commands.add_parser("produce", help="premise -> finished episode MP4")
    produce_parser.add_argument("premise")
    produce_parser.add_argument("--engine", choices=["animatic", "diffusers"])
    produce_parser.add_argument("--model", help="Hugging Face id or folder (diffusers engine)")
    produce_parser.add_argument("--data-dir", type=Path)
    commands.add_parser("bot", help="run the Discord bot (needs DISCORD_TOKEN)")
    commands.add_parser("worker", help="run the generation worker: showrunner worker --port N")
    tiny = commands.add_parser("make-tiny-model", help="write a tiny random diffusers pipeline")
    tiny.add_argument("directory", type=Path)
    args = parser.parse_args(argv)

    from bot.settings import Settings

    settings = Settings()
    logging.basicConfig(
        level=settings.showrunner_log_level.upper(),
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "openai", "discord.gateway", "discord.http"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        if args.command == "produce":
            run_produce(settings, args)
        elif args.command == "bot":
            from bot.client import run_bot

            asyncio.run(run_bot(settings))
        elif args.command == "make-tiny-model":
            from pipeline.tiny_model import make_tiny_model

            print(make_tiny_model(args.directory))
    except ShowrunnerError as error:
        print(f"showrunner: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


def run_produce(settings, args: argparse.Namespace) -> None:
    from bot.produce import produce

    updates = {}
    if args.engine:
        updates["showrunner_engine"] = args.engine
    if args.model:
        updates["showrunner_model"] = args.model
        updates.setdefault("showrunner_engine", "diffusers")
    if args.data_dir:
        updates["showrunner_data_dir"] = args.data_dir
    settings = settings.model_copy(update=updates)
    if settings.showrunner_engine == "diffusers" and not settings.showrunner_model:
        raise ShowrunnerError("The diffusers engine needs --model (a Hugging Face id or folder).")
    path = asyncio.run(produce(settings, args.premise, say=lambda line: print(line, flush=True)))
    print(path)


if __name__ == "__main__":
    main()
