"""Start-up: build and inject everything (database, HTTP session, Ray and its render actors,
agent, scheduler)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import aiohttp
import ray
import sqlite_utils
from langchain_core.language_models import BaseChatModel

from agents.director import AgentMode, Director, detect_mode
from agents.embedded import EMBEDDED_MODEL_NAME, EmbeddedServer, embedded_llm_config
from agents.llm import LLMConfig, ModelHost, create_chat_model
from bot.settings import Settings
from pipeline.ffmpeg import use_ffmpeg
from pipeline.render.actors import start_render_actors
from pipeline.render.cluster import connect
from pipeline.render.queue import EngineChoice
from pipeline.render.scheduler import Scheduler
from storage.db import open_db

log = logging.getLogger(__name__)
CAPABILITY_CHECK_SECONDS = 30.0


@dataclass
class Runtime:
    settings: Settings
    db: sqlite_utils.Database
    session: aiohttp.ClientSession
    scheduler: Scheduler
    director: Director
    engine: EngineChoice


async def _chat_model(
    settings: Settings, stack: AsyncExitStack
) -> tuple[BaseChatModel, AgentMode, ModelHost | None]:
    host: ModelHost | None = None
    if settings.uses_embedded_llm:
        server = EmbeddedServer()
        log.info("no OPENAI_BASE_URL: starting the embedded model %s", EMBEDDED_MODEL_NAME)
        base_url = await server.start()
        stack.push_async_callback(server.stop)
        host = server
        config = embedded_llm_config(base_url, settings.showrunner_llm_timeout)
        default: AgentMode = "structured"
        # a tool call fits in a few tokens; don't let a small model ramble through 1536 of them
        check_options: dict[str, object] = {"extra_body": {"max_tokens": 64}}
    else:
        config = LLMConfig(
            base_url=settings.openai_base_url,
            api_key=settings.openai_api_key.get_secret_value() or "none",
            model=settings.showrunner_llm_model,
            timeout=settings.showrunner_llm_timeout,
        )
        default = "tools"
        check_options = {}
    model = create_chat_model(config)
    if settings.showrunner_agent_mode != "auto":
        log.info("agent mode %s (configured)", settings.showrunner_agent_mode)
        return model, settings.showrunner_agent_mode, host
    try:
        # a slow endpoint must not hold up start-up for timeout x retries
        async with asyncio.timeout(CAPABILITY_CHECK_SECONDS):
            return model, await detect_mode(model, default, **check_options), host
    except TimeoutError:
        log.warning("agent mode %s: the capability check took too long", default)
        return model, default, host


@asynccontextmanager
async def open_runtime(
    settings: Settings, *, chat_model: BaseChatModel | None = None
) -> AsyncIterator[Runtime]:
    """Everything the bot or the CLI needs; `chat_model` replaces the configured LLM (tests)."""
    async with AsyncExitStack() as stack:
        worker_settings = settings.worker_settings()  # checked before anything starts
        use_ffmpeg(settings.ffmpeg_binary)
        db = open_db(settings.database_path)
        stack.callback(db.close)
        session = await stack.enter_async_context(aiohttp.ClientSession())
        workers = []
        if settings.showrunner_render_actors != 0:
            if connect(settings.showrunner_ray_address).started_here:
                stack.callback(ray.shutdown)  # a local Ray's actors end with it
            workers = await start_render_actors(
                worker_settings.to_env(), settings.showrunner_render_actors
            )
            log.info("render actors: %s", ", ".join(worker.name for worker in workers))
        compact = chat_model is None and settings.uses_embedded_llm
        host: ModelHost | None = None
        if chat_model is None:
            chat_model, mode, host = await _chat_model(settings, stack)
        else:
            mode = (
                "tools"
                if settings.showrunner_agent_mode == "auto"
                else settings.showrunner_agent_mode
            )
        engine = EngineChoice(
            engine=settings.showrunner_engine,
            model=settings.showrunner_model,
            video_model=settings.showrunner_video_model,
            music_model=settings.showrunner_music_model,
            takes=settings.showrunner_takes,
            steps=settings.showrunner_steps,
            max_draft_bytes=settings.max_draft_bytes,
        )
        yield Runtime(
            settings=settings,
            db=db,
            session=session,
            scheduler=Scheduler(
                db, workers, settings.media_dir, segment_cache_bytes=settings.cut_cache_bytes
            ),
            director=Director(chat_model, mode, compact_plans=compact, host=host),
            engine=engine,
        )
