"""The director agent: a writers'-room conversation turned into plan edits through tools.

Two ways to drive the model, same tools and validation behind both:
- "tools": the model calls tools freely (capable models);
- "structured": one forced structured answer per turn (small local models).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.runnables import Runnable
from pydantic import BaseModel, ValidationError

from agents.prompts import DIRECTOR_SYSTEM, PLAN_WRITER
from agents.schemas import CompactDirectorTurn, CompactEpisodeDraft, DirectorTurn, EpisodeDraft
from agents.tools import ToolContext, build_tools, write_episode_plan
from storage import conversation, plan
from storage.errors import ShowrunnerError
from storage.models import Episode

log = logging.getLogger(__name__)
AgentMode = Literal["tools", "structured"]
MAX_TOOL_ROUNDS = 4
MAX_INPUT_CHARS = 4000
HISTORY_MESSAGES = 12


class ModelFailed(ShowrunnerError):
    """A model call failed; `changes_saved` when tools had already changed the plan."""

    def __init__(self, message: str, *, changes_saved: bool = False) -> None:
        super().__init__(message)
        self.changes_saved = changes_saved


class ModelUnavailable(ModelFailed):
    """Timeouts, rate limits, server errors (after the openai client's own retries), bad bodies."""


class ModelRefused(ModelFailed):
    """The endpoint rejected the request itself (key, model, features): retrying cannot help."""


class BadModelOutput(ShowrunnerError):
    pass


MODEL_ERRORS = (openai.APIError, TimeoutError, ConnectionError)
# raised inside the chat model when a 200 body is not a chat completion (bad JSON, no choices)
BROKEN_ANSWER_ERRORS = (ValueError, KeyError, TypeError)
# statuses the openai client retries itself; they arrive here once its retries are spent
RETRIED_STATUSES = frozenset({408, 409, 429})


def model_failure(error: BaseException, changed: bool) -> ModelFailed:
    """The user-facing error for a failed call. Never the server's text: it may echo the key."""
    outcome = "the changes made so far are saved" if changed else "nothing was changed"
    status = getattr(error, "status_code", None)
    if isinstance(status, int) and 400 <= status < 500 and status not in RETRIED_STATUSES:
        if status in {401, 403}:
            hint = "check OPENAI_API_KEY / SHOWRUNNER_LLM_MODEL"
        else:
            hint = "check SHOWRUNNER_LLM_MODEL / OPENAI_BASE_URL (the model must support tools)"
        return ModelRefused(
            f"The LLM endpoint refused the request (HTTP {status}): {hint}. "
            f"{outcome.capitalize()}.",
            changes_saved=changed,
        )
    if isinstance(error, BROKEN_ANSWER_ERRORS):
        return ModelUnavailable(
            f"The model's endpoint sent a broken answer; {outcome}.", changes_saved=changed
        )
    if changed:
        return ModelUnavailable(f"The model stopped answering; {outcome}.", changes_saved=True)
    return ModelUnavailable("The model is not answering; nothing was changed.")


@dataclass
class Director:
    model: BaseChatModel
    mode: AgentMode = "tools"
    # tighter plan bounds for small local models, which otherwise loop to the maximum
    compact_plans: bool = False

    async def write_plan(self, context: ToolContext, premise: str) -> Episode:
        """Forced structured output: a whole episode plan from a premise, stored."""
        prompt = PLAN_WRITER.format(premise=premise[:MAX_INPUT_CHARS])
        schema = CompactEpisodeDraft if self.compact_plans else EpisodeDraft
        draft = await self._structured(schema, [HumanMessage(prompt)])
        return write_episode_plan(context, draft)

    async def reply(self, context: ToolContext, text: str, author_name: str = "") -> str:
        """Answer one writers'-room message, changing the plan through tools as needed.

        The turn (the user's message and the answer) is stored once it has an outcome. A failure
        that changed nothing stores nothing, so the history never holds an unanswered request
        that the model would act on again next turn; a failure after tools changed the plan
        stores the failure as the answer, so the history explains the changes.
        """
        text = text.strip()[:MAX_INPUT_CHARS]
        messages = [*self._context_messages(context), HumanMessage(f"{author_name}: {text}")]
        try:
            if self.mode == "structured":
                answer = await self._structured_turn(context, messages)
            else:
                answer = await self._tool_turn(context, messages)
        except ModelFailed as error:
            if error.changes_saved:
                self._store_turn(context, text, author_name, str(error))
            raise
        answer = answer.strip() or "Done."
        self._store_turn(context, text, author_name, answer)
        return answer

    @staticmethod
    def _store_turn(context: ToolContext, text: str, author_name: str, answer: str) -> None:
        conversation.add_message(
            context.db,
            context.project_id,
            "user",
            text,
            author_id=context.user_id,
            author_name=author_name,
        )
        conversation.add_message(context.db, context.project_id, "assistant", answer)

    def _context_messages(self, context: ToolContext) -> list[BaseMessage]:
        episode = plan.current_episode(context.db, context.project_id)
        summary = plan.plan_summary(context.db, episode.id) if episode else "(no episode yet)"
        history: list[BaseMessage] = []
        for message in conversation.recent_messages(
            context.db, context.project_id, HISTORY_MESSAGES
        ):
            if message.role == "assistant":
                history.append(AIMessage(message.content))
            else:
                history.append(HumanMessage(f"{message.author_name}: {message.content}"))
        return [SystemMessage(DIRECTOR_SYSTEM.format(plan=summary)), *history]

    async def _tool_turn(self, context: ToolContext, messages: list[BaseMessage]) -> str:
        tools = {tool.name: tool for tool in build_tools(context)}
        bound = self.model.bind_tools(list(tools.values()))
        changed = False
        for _ in range(MAX_TOOL_ROUNDS):
            answer = await self._invoke(bound, messages, changed=changed)
            if not answer.tool_calls and not answer.invalid_tool_calls:
                return str(answer.text)
            messages.append(answer)
            for call in answer.tool_calls:
                result, ok = self._run_tool(tools, call["name"], call["args"])
                changed = changed or ok
                messages.append(ToolMessage(result, tool_call_id=call["id"] or call["name"]))
            for invalid in answer.invalid_tool_calls:
                name = invalid["name"] or "the tool"
                messages.append(
                    ToolMessage(
                        f"Error: the arguments for {name} were not valid JSON.",
                        tool_call_id=invalid["id"] or name,
                    )
                )
        return "I stopped after several tool steps; the plan is saved as it is now."

    @staticmethod
    def _run_tool(tools: dict, name: str, args: dict) -> tuple[str, bool]:
        """The tool's result for the model, and whether the tool ran (and so may have written)."""
        tool = tools.get(name)
        if tool is None:
            return f"Error: there is no tool named {name!r}.", False
        try:
            return str(tool.invoke(args)), True
        except ShowrunnerError as error:
            return f"Error: {error}", False
        except (ValidationError, ValueError, TypeError) as error:
            log.info("tool %s got bad arguments: %s", name, error)
            return f"Error: invalid arguments for {name}: {str(error)[:300]}", False

    async def _structured_turn(self, context: ToolContext, messages: list[BaseMessage]) -> str:
        schema = CompactDirectorTurn if self.compact_plans else DirectorTurn
        turn = await self._structured(schema, messages)
        if turn.action == "write_plan" and turn.plan is not None:
            episode = write_episode_plan(context, turn.plan)
            shots = len(plan.list_shots(context.db, episode.id))
            return f"{turn.reply}\n(Plan stored: episode {episode.number}, {shots} shots.)"
        return turn.reply

    async def _invoke(
        self, runnable: Runnable, messages: list[BaseMessage], *, changed: bool = False
    ) -> Any:
        try:
            return await runnable.ainvoke(messages)
        except (*MODEL_ERRORS, *BROKEN_ANSWER_ERRORS) as error:
            status = getattr(error, "status_code", None)
            log.warning("model call failed: %s (HTTP %s)", type(error).__name__, status)
            raise model_failure(error, changed) from error

    async def _structured(self, schema: type[BaseModel], messages: list[BaseMessage]) -> Any:
        """One call, one repair attempt if the output does not validate, then a clear error."""
        # include_raw keeps output-parsing errors apart from errors of the call itself
        structured = self.model.with_structured_output(
            schema, method="function_calling", include_raw=True
        )
        for attempt in range(2):
            result = await self._invoke(structured, messages)
            if result["parsed"] is not None:
                return result["parsed"]
            problem = self._output_problem(result)
            log.info("structured output invalid (attempt %d): %s", attempt + 1, problem)
            repair = f"Your last answer did not match the schema ({problem}). Answer again."
            messages = [*messages, HumanMessage(repair)]
        raise BadModelOutput("The model's answer was not a valid plan; nothing was changed.")

    @staticmethod
    def _output_problem(result: dict[str, Any]) -> str:
        if result["parsing_error"] is not None:
            return str(result["parsing_error"])[:500]
        if getattr(result["raw"], "invalid_tool_calls", None):
            return "the tool call's arguments were not valid JSON"
        return "no tool call"
