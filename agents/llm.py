"""The chat-model factory: one ChatOpenAI code path for every OpenAI-compatible endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from langchain_core.language_models import BaseChatModel
from langchain_openai import ChatOpenAI


@dataclass(frozen=True)
class LLMConfig:
    base_url: str
    api_key: str
    model: str
    # per attempt: the openai client itself retries timeouts, 408/409/429 and 5xx max_retries
    # times with backoff (honouring retry-after), so callers never retry on their own
    timeout: float = 120.0
    max_retries: int = 2
    max_tokens: int = 1536
    # small local servers ignore max_completion_tokens: cap them through the body as well
    local_server: bool = False


class ModelHost(Protocol):
    """A model server we run ourselves (the embedded one), supervised by us."""

    async def ensure_running(self) -> None:
        """Start it again if it died since the last call."""

    def crash(self) -> str | None:
        """How it ended ('signal 11, SIGSEGV') when it died on its own; None while it runs."""


def create_chat_model(config: LLMConfig) -> BaseChatModel:
    extra_body: dict[str, object] = {}
    if config.local_server:
        extra_body = {"max_tokens": config.max_tokens, "repeat_penalty": 1.3}
    return ChatOpenAI(
        base_url=config.base_url or None,
        api_key=config.api_key,
        model=config.model,
        timeout=config.timeout,
        max_retries=config.max_retries,
        temperature=0.3,
        max_completion_tokens=config.max_tokens,
        extra_body=extra_body or None,
    )
