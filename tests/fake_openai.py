"""A scripted fake of the OpenAI chat-completions API on loopback, answering each request
with the next scripted reply; the real openai client and ChatOpenAI talk to it."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field, replace
from typing import Any

from aiohttp import web

API_KEY = "sk-test-0123456789-never-show-me"


FAST_RETRY = {"retry-after-ms": "10"}


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class Seen:
    headers: dict[str, str]
    body: dict[str, Any]


def completion(message: dict[str, Any]) -> Reply:
    finish = "tool_calls" if message.get("tool_calls") else "stop"
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "test-model",
        "choices": [{"index": 0, "finish_reason": finish, "message": message}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }
    return Reply(body=json.dumps(body).encode())


def text(content: str) -> Reply:
    return completion({"role": "assistant", "content": content})


def call(name: str, arguments: str | dict[str, Any], call_id: str = "call_1") -> Reply:
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments)
    function = {"name": name, "arguments": arguments}
    tool_call = {"id": call_id, "type": "function", "function": function}
    return completion({"role": "assistant", "content": None, "tool_calls": [tool_call]})


def error(status: int, message: str = "failed", headers: dict[str, str] | None = None) -> Reply:
    body = json.dumps({"error": {"message": message, "type": "error", "code": None}}).encode()
    return Reply(status=status, body=body, headers=headers or {})


def slow(delay: float = 10.0) -> Reply:
    return replace(text("too late"), delay=delay)


class FakeOpenAI:
    """POST /v1/chat/completions: records each request, answers with the next scripted reply."""

    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.requests: list[Seen] = []
        self.url = ""
        self._closing = asyncio.Event()

    def answer(self, *replies: Reply) -> None:
        self.script.extend(replies)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(Seen(dict(request.headers), await request.json()))
        if not self.script:
            return web.json_response({"error": {"message": "unscripted request"}}, status=418)
        reply = self.script.pop(0)
        if reply.delay:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), reply.delay)
        return web.Response(
            status=reply.status,
            body=reply.body,
            content_type=reply.content_type,
            headers=reply.headers,
        )

    def release(self) -> None:
        """Lets slow handlers finish, so shutting the server down does not wait for them."""
        self._closing.set()

    def messages(self, attempt: int) -> list[dict[str, Any]]:
        return self.requests[attempt].body["messages"]

    def retry_counts(self) -> list[str]:
        return [seen.headers.get("x-stainless-retry-count", "?") for seen in self.requests]
