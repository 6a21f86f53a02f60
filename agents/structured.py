"""One bounded structured call to the model: a schema in, a validated answer out, with one
repair attempt when the answer does not validate or fails the caller's own checks."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.runnables import Runnable
from pydantic import BaseModel

from agents.llm import ModelHost
from agents.model_errors import (
    BROKEN_ANSWER_ERRORS,
    MODEL_ERRORS,
    BadModelOutput,
    ModelFailed,
    model_failure,
)

log = logging.getLogger(__name__)
Answer = TypeVar("Answer", bound=BaseModel)
# what the caller finds wrong with a valid answer (repeated lines, missing names), in words the
# model is told; empty when nothing is
Check = Callable[[Any], list[str]]


@dataclass
class ModelCaller:
    model: BaseChatModel
    # the server behind `model` when we run it ourselves: restarted before a call if it died
    host: ModelHost | None = None

    async def ready(self) -> None:
        """Before each call to the model: a server of ours that died starts again."""
        if self.host is not None:
            await self.host.ensure_running()

    def failure(self, error: BaseException, changed: bool) -> ModelFailed:
        return model_failure(error, changed, self.host.crash() if self.host else None)

    async def invoke(self, runnable: Runnable, messages: list[BaseMessage]) -> Any:
        await self.ready()
        try:
            return await runnable.ainvoke(messages)
        except (*MODEL_ERRORS, *BROKEN_ANSWER_ERRORS) as error:
            raise self.failure(error, changed=False) from error

    async def ask(
        self, schema: type[Answer], messages: list[BaseMessage], check: Check | None = None
    ) -> Answer:
        """One call, one repair attempt if the output does not validate (or `check` finds
        problems), then a clear error. An answer that validates but still fails `check`
        after the repair is returned: the caller fixes what is left in code."""
        # include_raw keeps output-parsing errors apart from errors of the call itself
        structured = self.model.with_structured_output(
            schema, method="function_calling", include_raw=True
        )
        for attempt in range(2):
            result = await self.invoke(structured, messages)
            parsed = result["parsed"]
            if parsed is not None:
                problems = check(parsed) if check else []
                if not problems or attempt == 1:
                    return parsed
                problem = "; ".join(problems)
                repair = f"Your last answer had these problems: {problem}. Answer again."
            else:
                problem = output_problem(result)
                repair = f"Your last answer did not match the schema ({problem}). Answer again."
            log.info("structured output rejected (attempt %d): %s", attempt + 1, problem)
            messages = [*messages, HumanMessage(repair)]
        raise BadModelOutput("The model's answer was not a valid plan; nothing was changed.")


def output_problem(result: dict[str, Any]) -> str:
    if result["parsing_error"] is not None:
        return str(result["parsing_error"])[:500]
    if getattr(result["raw"], "invalid_tool_calls", None):
        return "the tool call's arguments were not valid JSON"
    return "no tool call"
