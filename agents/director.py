"""The director agent: a writers'-room conversation turned into plan edits through tools.

Two ways to drive the model, same tools and validation behind both:
- "tools": the model calls tools freely (capable models);
- "structured": one forced structured answer per turn (small local models).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware
from langchain.agents.middleware.types import hook_config
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from pydantic import BaseModel, ValidationError

from agents import episode_rewrite, season_writer
from agents.llm import ModelHost
from agents.model_errors import BROKEN_ANSWER_ERRORS, MODEL_ERRORS, ModelFailed
from agents.plan_writer import draft_plan
from agents.prompts import DIRECTOR_SYSTEM, RETAKE_NOTE
from agents.requests import (
    SeasonRequest,
    asks_for_a_new_episode,
    asks_for_an_episode,
    beat_edit,
    rewrite_request,
    season_request,
)
from agents.schemas import (
    CompactDirectorTurn,
    CompactEpisodeDraft,
    DirectorTurn,
    EpisodeDraft,
    PromptRevision,
)
from agents.structured import ModelCaller
from agents.tools import ToolContext, build_tools, run_tool, write_episode_plan
from storage import characters, conversation, episodes, plan, seasons
from storage.errors import NotAllowed, ShowrunnerError
from storage.models import CanonFact, Episode, Season, Shot

log = logging.getLogger(__name__)
AgentMode = Literal["tools", "structured"]
MAX_TOOL_ROUNDS = 4
MAX_INPUT_CHARS = 4000
HISTORY_MESSAGES = 12
# each remembered message is cut to this, so the prompt stays bounded however long a project runs
HISTORY_MESSAGE_CHARS = 1500
MAX_CAST = 12
STOPPED = "I stopped after several tool steps; the plan is saved as it is now."


class TurnGuard(AgentMiddleware):
    """One agent turn's bookkeeping: tool errors become tool messages for the model, JSON the
    model broke goes back to it, the rounds are bounded, and whether a tool wrote is recorded."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = False
        self.rounds = 0
        self.refusals: list[str] = []

    @hook_config(can_jump_to=["end"])
    def before_model(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        if self.rounds >= MAX_TOOL_ROUNDS:
            return {"jump_to": "end", "messages": [AIMessage(STOPPED)]}
        return None

    @hook_config(can_jump_to=["model"])
    def after_model(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        self.rounds += 1
        answer = state["messages"][-1]
        if not isinstance(answer, AIMessage) or answer.tool_calls:
            return None
        if not answer.invalid_tool_calls:
            return None
        replies = [
            ToolMessage(
                f"Error: the arguments for {call['name'] or 'the tool'} were not valid JSON.",
                tool_call_id=call["id"] or call["name"] or "call",
                status="error",
            )
            for call in answer.invalid_tool_calls
        ]
        return {"messages": replies, "jump_to": "model"}

    async def awrap_tool_call(
        self, request: Any, handler: Callable[[Any], Awaitable[Any]]
    ) -> ToolMessage | Any:
        call = request.tool_call
        try:
            result = await handler(request)
        except ShowrunnerError as error:
            text = f"Error: {error}"
            if isinstance(error, NotAllowed):
                self.refusals.append(str(error))
        except (ValidationError, ValueError, TypeError) as error:
            log.info("tool %s got bad arguments: %s", call["name"], error)
            text = f"Error: invalid arguments for {call['name']}: {str(error)[:300]}"
        else:
            if getattr(result, "status", "success") != "error":
                self.changed = True
            return result
        return ToolMessage(text, tool_call_id=call["id"], name=call["name"], status="error")


@dataclass(frozen=True)
class Turn:
    answer: str
    changed: bool  # a tool changed the plan: the bot then asks for a go-ahead
    episode_id: int | None = None  # the episode changed, when not the current one


@dataclass
class Director:
    model: BaseChatModel
    mode: AgentMode = "tools"
    # tighter plan bounds for small local models, which otherwise loop to the maximum
    compact_plans: bool = False
    # the server behind `model` when we run it ourselves: restarted before a turn if it died
    host: ModelHost | None = None
    caller: ModelCaller = field(init=False)

    def __post_init__(self) -> None:
        self.caller = ModelCaller(self.model, self.host)

    async def write_plan(self, context: ToolContext, premise: str) -> Episode:
        """Forced structured output: a whole episode plan from a premise, stored."""
        return write_episode_plan(context, await self._plan_draft(premise))

    async def write_season(
        self, context: ToolContext, premise: str, episodes: int, minutes: float
    ) -> Season:
        """The season map and cast from a premise, stored (its episodes come one by one)."""
        return await season_writer.write_season(self.caller, context, premise, episodes, minutes)

    async def write_next_episode(self, context: ToolContext, season: Season) -> Episode | None:
        """The next episode on the season map without a plan, written in steps and stored."""
        return await season_writer.write_next_episode(self.caller, context, season)

    async def extend_canon(
        self, context: ToolContext, season: Season, episode: Episode
    ) -> list[CanonFact]:
        """The facts an approved episode establishes, added to its season's canon."""
        return await season_writer.extend_canon(self.caller, context, season, episode)

    async def _plan_draft(self, premise: str) -> EpisodeDraft:
        schema = CompactEpisodeDraft if self.compact_plans else EpisodeDraft
        return await draft_plan(self.caller, premise[:MAX_INPUT_CHARS], schema)

    async def reply(self, context: ToolContext, text: str, author_name: str = "") -> str:
        return (await self.turn(context, text, author_name)).answer

    async def turn(self, context: ToolContext, text: str, author_name: str = "") -> Turn:
        """Answer one writers'-room message, changing the plan through tools as needed.

        The turn (the user's message and the answer) is stored once it has an outcome. A failure
        that changed nothing stores nothing, so the history never holds an unanswered request
        that the model would act on again next turn; a failure after tools changed the plan
        stores the failure as the answer, so the history explains the changes.
        """
        text = text.strip()[:MAX_INPUT_CHARS]
        messages = [*self._context_messages(context), HumanMessage(f"{author_name}: {text}")]
        episode_id = None
        try:
            wanted = season_request(text)
            if wanted is not None:
                answer, episode_id = await self._new_season(context, text, wanted)
                changed = True
            elif seasons.current_season(context.db, context.project_id) and (
                beat_edit(text) or rewrite_request(text)
            ):
                answer, episode_id = await self._season_edit(context, text)
                changed = episode_id is not None
            elif self.mode == "structured":
                answer, changed = await self._structured_turn(context, messages, text)
            else:
                answer, changed = await self._tool_turn(context, messages)
        except ModelFailed as error:
            if error.changes_saved:
                self._store_turn(context, text, author_name, str(error))
            raise
        answer = answer.strip() or "Done."
        self._store_turn(context, text, author_name, answer)
        return Turn(answer, changed, episode_id)

    async def _new_season(
        self, context: ToolContext, premise: str, wanted: SeasonRequest
    ) -> tuple[str, int]:
        """A season asked for in chat, as /season new: the map, then its first episode."""
        season = await self.write_season(context, premise, wanted.episodes, wanted.minutes)
        episode = await self.write_next_episode(context, season)
        assert episode is not None  # a new season's first episode has no plan yet
        shots = len(plan.list_shots(context.db, episode.id))
        summary = seasons.season_summary(context.db, season.id)
        return f"{summary}\n(Plan stored: episode {episode.number}, {shots} shots.)", episode.id

    async def _season_edit(self, context: ToolContext, text: str) -> tuple[str, int | None]:
        """A beat's new wording and/or a rewrite of an episode from its beats, read in code
        (either mode): what to tell the team, and the rewritten episode."""
        told, episode_id = [], None
        edit = beat_edit(text)
        if edit is not None:
            arguments = {"episode_number": edit.episode_number, edit.beat: edit.text}
            told.append(run_tool(context, "edit_beats", arguments))
        rewrite = rewrite_request(text)
        if rewrite is not None:
            number = rewrite.episode_number or (edit.episode_number if edit else None)
            episode_id, said = await episode_rewrite.rewrite_episode(
                self.caller, context, number, rewrite.beats
            )
            told.append(said)
        return "\n".join(told), episode_id

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

    def _context_messages(self, context: ToolContext, *, history: bool = True) -> list[BaseMessage]:
        """The system prompt with the compact plan from the database, and the last messages."""
        episode = episodes.current_episode(context.db, context.project_id)
        summary = plan.plan_summary(context.db, episode.id) if episode else "(no episode yet)"
        cast = characters.list_characters(context.db, context.project_id)[:MAX_CAST]
        if cast:
            # quoted as JSON strings: a name or look is data, whatever words it holds
            summary += "\nCharacters: " + "; ".join(
                f"{json.dumps(c.name, ensure_ascii=False)} look "
                f"{json.dumps(c.look[:120], ensure_ascii=False)}"
                for c in cast
            )
        recent = (
            conversation.recent_messages(context.db, context.project_id, HISTORY_MESSAGES)
            if history
            else []
        )
        remembered: list[BaseMessage] = []
        for message in recent:
            content = message.content[:HISTORY_MESSAGE_CHARS]
            if message.role == "assistant":
                remembered.append(AIMessage(content))
            else:
                remembered.append(HumanMessage(f"{message.author_name}: {content}"))
        return [SystemMessage(DIRECTOR_SYSTEM.format(plan=summary)), *remembered]

    async def _tool_turn(
        self,
        context: ToolContext,
        messages: list[BaseMessage],
        only: frozenset[str] | None = None,
    ) -> tuple[str, bool]:
        """langchain's create_agent loop over our tools; errors go back to the model as tool
        messages, so it can correct itself or explain the refusal."""
        guard = TurnGuard()
        agent = create_agent(self.model, build_tools(context, only), middleware=[guard])
        await self.caller.ready()
        try:
            state = await agent.ainvoke({"messages": messages})
        except (*MODEL_ERRORS, *BROKEN_ANSWER_ERRORS) as error:
            raise self.caller.failure(error, guard.changed) from error
        last = state["messages"][-1]
        answer = str(last.text) if isinstance(last, AIMessage) else STOPPED
        # refusals are told in code, whatever the model makes of them
        refused = [f"⛔ {reason}" for reason in dict.fromkeys(guard.refusals)]
        return "\n".join(part for part in (answer.strip(), *refused) if part), guard.changed

    async def _structured_turn(
        self, context: ToolContext, messages: list[BaseMessage], text: str
    ) -> tuple[str, bool]:
        current = episodes.current_episode(context.db, context.project_id)
        if (self.compact_plans and current is None) or asks_for_an_episode(text):
            # a small model rarely chooses to write a plan by itself: a request for an episode,
            # or any message in a project with no plan yet, is the premise, as in `produce`
            new = asks_for_a_new_episode(text, current.number if current else None)
            draft = await self._plan_draft(text)
            episode, stored = self._store_plan(context, draft, new=new)
            return f"Here is a first plan from your premise: {episode.title}.\n{stored}", True
        schema = CompactDirectorTurn if self.compact_plans else DirectorTurn
        turn = await self.caller.ask(schema, messages)
        if turn.action == "write_plan" and turn.plan is not None:
            _, stored = self._store_plan(context, turn.plan)
            return f"{turn.reply}\n{stored}", True
        if turn.action == "edit_shot" and turn.edit is not None:
            try:
                result = run_tool(context, "edit_shot", turn.edit.model_dump())
            except ShowrunnerError as error:
                return f"{turn.reply}\n(Not changed: {error})", False
            return f"{turn.reply}\n({result})", True
        return turn.reply, False

    @staticmethod
    def _store_plan(
        context: ToolContext, draft: EpisodeDraft, *, new: bool = False
    ) -> tuple[Episode, str]:
        """The drafted plan stored in one transaction, and the line that tells the team."""
        with context.db.atomic():
            episode = write_episode_plan(context, draft, new=new)
        shots = len(plan.list_shots(context.db, episode.id))
        return episode, f"(Plan stored: episode {episode.number}, {shots} shots.)"

    async def revise_for_note(self, context: ToolContext, shot: Shot, note: str) -> Shot | None:
        """A retake note turned into a revised prompt for one shot, through the edit_shot tool.

        None when the model did not revise the shot (the caller falls back); ModelFailed when
        the model is not answering.
        """
        note = note.strip()[:MAX_INPUT_CHARS]
        current = shot.prompt or shot.description
        request = RETAKE_NOTE.format(number=shot.number, prompt=current, note=note)
        messages = [*self._context_messages(context, history=False), HumanMessage(request)]
        if self.mode == "structured":
            revision = await self.caller.ask(PromptRevision, messages)
            try:
                run_tool(
                    context,
                    "edit_shot",
                    {"shot_number": shot.number, "prompt": revision.prompt},
                )
            except (ShowrunnerError, ValidationError) as error:
                log.info("retake revision refused: %s", error)
                return None
        else:
            # a note is material: whatever it says, this turn can only edit a shot
            await self._tool_turn(context, messages, only=frozenset({"edit_shot"}))
        revised = plan.get_shot(context.db, shot.id)
        return revised if revised.revision > shot.revision and revised.prompt else None


class Ping(BaseModel):
    """Answer a capability check."""

    ok: bool = True


async def detect_mode(model: BaseChatModel, fallback: AgentMode, **call_options: Any) -> AgentMode:
    """One cheap call asking the model to call a trivial tool: a tool call means it can drive
    the tool-calling agent; a plain answer means forced structured output. `fallback` when the
    model does not answer at all (start-up must not fail on a slow endpoint). `call_options`
    go with the request (a small local server's token cap)."""
    bound = model.bind_tools([Ping], **call_options)
    question = [HumanMessage("Call the Ping tool with ok=true. Do not answer in text.")]
    try:
        answer = await bound.ainvoke(question)
    except (*MODEL_ERRORS, *BROKEN_ANSWER_ERRORS) as error:
        log.warning("agent mode check failed (%s); using %s mode", type(error).__name__, fallback)
        return fallback
    calls = getattr(answer, "tool_calls", None) or []
    mode: AgentMode = "tools" if any(call["name"] == "Ping" for call in calls) else "structured"
    log.info(
        "agent mode check: the model %s tools; using %s mode",
        "calls" if mode == "tools" else "does not call",
        mode,
    )
    return mode
