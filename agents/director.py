"""The director agent: a writers'-room conversation turned into plan edits through tools.

Two ways to drive the model, same tools and validation behind both:
- "tools": the model calls tools freely (capable models);
- "structured": one forced structured answer per turn (small local models).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Literal

import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from pydantic import ValidationError

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


class ModelUnavailable(ShowrunnerError):
    pass


class BadModelOutput(ShowrunnerError):
    pass


MODEL_ERRORS = (openai.APIError, openai.APITimeoutError, TimeoutError, ConnectionError)


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
        structured = self.model.with_structured_output(schema, method="function_calling")
        draft = await self._structured(structured, [HumanMessage(prompt)])
        return write_episode_plan(context, draft)

    async def reply(self, context: ToolContext, text: str, author_name: str = "") -> str:
        """Answer one writers'-room message, changing the plan through tools as needed."""
        text = text.strip()[:MAX_INPUT_CHARS]
        messages = [*self._context_messages(context), HumanMessage(f"{author_name}: {text}")]
        conversation.add_message(
            context.db,
            context.project_id,
            "user",
            text,
            author_id=context.user_id,
            author_name=author_name,
        )
        if self.mode == "structured":
            answer = await self._structured_turn(context, messages)
        else:
            answer = await self._tool_turn(context, messages)
        answer = answer.strip() or "Done."
        conversation.add_message(context.db, context.project_id, "assistant", answer)
        return answer

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
        for _ in range(MAX_TOOL_ROUNDS):
            answer = await self._invoke(bound, messages)
            if not answer.tool_calls:
                return str(answer.text)
            messages.append(answer)
            for call in answer.tool_calls:
                result = self._run_tool(tools, call["name"], call["args"])
                messages.append(ToolMessage(result, tool_call_id=call["id"] or call["name"]))
        return "I stopped after several tool steps; the plan is saved as it is now."

    @staticmethod
    def _run_tool(tools: dict, name: str, args: dict) -> str:
        tool = tools.get(name)
        if tool is None:
            return f"Error: there is no tool named {name!r}."
        try:
            return str(tool.invoke(args))
        except ShowrunnerError as error:
            return f"Error: {error}"
        except (ValidationError, ValueError, TypeError) as error:
            log.info("tool %s got bad arguments: %s", name, error)
            return f"Error: invalid arguments for {name}: {str(error)[:300]}"

    async def _structured_turn(self, context: ToolContext, messages: list[BaseMessage]) -> str:
        schema = CompactDirectorTurn if self.compact_plans else DirectorTurn
        structured = self.model.with_structured_output(schema, method="function_calling")
        turn = await self._structured(structured, messages)
        if turn.action == "write_plan" and turn.plan is not None:
            episode = write_episode_plan(context, turn.plan)
            shots = len(plan.list_shots(context.db, episode.id))
            return f"{turn.reply}\n(Plan stored: episode {episode.number}, {shots} shots.)"
        return turn.reply

    async def _invoke(self, runnable, messages: list[BaseMessage]) -> AIMessage:
        try:
            return await runnable.ainvoke(messages)
        except MODEL_ERRORS as error:
            log.warning("model call failed: %s", type(error).__name__)
            raise ModelUnavailable("The model is not answering; nothing was changed.") from error

    async def _structured(self, structured, messages: list[BaseMessage]):
        """One call, one repair attempt if the output does not validate, then a clear error."""
        for attempt in range(2):
            try:
                result = await self._invoke(structured, messages)
            except (ValidationError, json.JSONDecodeError, ValueError, KeyError) as error:
                log.info("structured output invalid (attempt %d): %s", attempt + 1, error)
                messages = [
                    *messages,
                    HumanMessage("Your last answer did not match the schema. Answer again."),
                ]
                continue
            if result is not None:
                return result
        raise BadModelOutput("The model's answer was not a valid plan; nothing was changed.")
