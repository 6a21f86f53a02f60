"""SHOWRUNNER_AGENT_MODE=auto: bot.runtime's start-up check, over HTTP with the real openai
client against the scripted fake of the OpenAI API (tests/test_llm_http.py)."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack

import pytest

from bot.runtime import _chat_model
from bot.settings import Settings
from tests.fake_openai import FAST_RETRY, call, error, text


def settings_for(url: str, mode: str = "auto") -> Settings:
    return Settings(
        _env_file=None,
        openai_base_url=url,
        openai_api_key="sk-test",
        showrunner_llm_model="test-model",
        showrunner_agent_mode=mode,
        showrunner_llm_timeout=5,
    )


@pytest.mark.parametrize(
    ("answer", "mode"),
    [(call("Ping", {"ok": True}), "tools"), (text("Sure, ok is true."), "structured")],
)
async def test_auto_asks_the_model_once_and_logs_the_choice(endpoint, answer, mode, caplog):
    endpoint.answer(answer)
    caplog.set_level(logging.INFO, logger="agents.director")
    async with AsyncExitStack() as stack:
        _, chosen, _ = await _chat_model(settings_for(endpoint.url), stack)
    assert chosen == mode
    assert len(endpoint.requests) == 1
    body = endpoint.requests[0].body
    assert [tool["function"]["name"] for tool in body["tools"]] == ["Ping"]
    assert f"using {mode} mode" in caplog.text


async def test_a_model_down_at_start_up_falls_back_to_tools_for_an_endpoint(endpoint):
    endpoint.answer(*[error(503, headers=FAST_RETRY)] * 3)
    async with AsyncExitStack() as stack:
        _, chosen, _ = await _chat_model(settings_for(endpoint.url), stack)
    assert chosen == "tools" and len(endpoint.requests) == 3


async def test_a_configured_mode_makes_no_call(endpoint):
    async with AsyncExitStack() as stack:
        _, chosen, _ = await _chat_model(settings_for(endpoint.url, "structured"), stack)
    assert chosen == "structured" and not endpoint.requests
