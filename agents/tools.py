"""The agent's tools: plain functions over storage, with the caller's rights checked here.

The model only chooses a tool and its arguments; who may do what is decided in code.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from agents.schemas import CharacterDraft, EpisodeDraft
from storage import plan as plans
from storage.errors import NotAllowed, NotFound
from storage.models import Episode


@dataclass(frozen=True)
class ToolContext:
    """Who is speaking, in which project: set by the caller, never by the model."""

    db: sqlite_utils.Database
    project_id: int
    user_id: int | None
    is_director: bool


def to_episode_plan(draft: EpisodeDraft) -> plans.EpisodePlan:
    return plans.EpisodePlan(
        title=draft.title,
        synopsis=draft.synopsis,
        logline=draft.logline,
        characters=tuple(
            plans.CharacterPlan(c.name, c.description, c.look)
            for c in draft.characters
            if c.name.strip()  # a weak model may leave a name blank: drop, don't fail the plan
        ),
        scenes=tuple(
            plans.ScenePlan(
                scene.heading,
                scene.summary,
                tuple(
                    plans.ShotPlan(
                        description=shot.description,
                        camera=shot.camera,
                        duration=shot.duration,
                        dialogue=shot.dialogue,
                        characters=tuple(shot.characters),
                    )
                    for shot in scene.shots
                ),
            )
            for scene in draft.scenes
        ),
    )


def write_episode_plan(context: ToolContext, draft: EpisodeDraft) -> Episode:
    """A new episode, or a rewrite of the current one while it is still being written."""
    current = plans.current_episode(context.db, context.project_id)
    rewrite = current is not None and current.status == "writing"
    if current is not None and not rewrite and not context.is_director:
        raise NotAllowed(
            f"Episode {current.number} is already {current.status}; "
            "only a director can start a new episode."
        )
    return plans.save_episode_plan(
        context.db,
        context.project_id,
        to_episode_plan(draft),
        episode_id=current.id if rewrite and current else None,
    )


def edit_shot(context: ToolContext, shot_number: int, **changes: object) -> str:
    episode = plans.current_episode(context.db, context.project_id)
    if episode is None:
        raise NotFound("There is no episode yet.")
    shot = plans.shot_by_number(context.db, episode.id, shot_number)
    if shot.status not in {"planned", "retake"} and not context.is_director:
        raise NotAllowed("Only a director can change a shot that is already rendered.")
    updated = plans.edit_shot(context.db, shot.id, **changes)
    return f"Shot {updated.number} is now revision {updated.revision}."


class EditShotArgs(BaseModel):
    shot_number: int = Field(ge=1, le=500)
    description: str | None = Field(default=None, max_length=300)
    camera: str | None = Field(default=None, max_length=60)
    duration: float | None = Field(default=None, ge=1, le=15)
    dialogue: str | None = Field(default=None, max_length=200)


class WritePlanArgs(BaseModel):
    plan: EpisodeDraft


def build_tools(context: ToolContext) -> list[BaseTool]:
    """The tools bound to one turn, closed over the caller's context."""

    def write_plan_tool(plan: EpisodeDraft | dict) -> str:
        draft = plan if isinstance(plan, EpisodeDraft) else EpisodeDraft.model_validate(plan)
        episode = write_episode_plan(context, draft)
        shots = len(plans.list_shots(context.db, episode.id))
        return f"Stored episode {episode.number} '{episode.title}' with {shots} shots."

    def edit_shot_tool(
        shot_number: int,
        description: str | None = None,
        camera: str | None = None,
        duration: float | None = None,
        dialogue: str | None = None,
    ) -> str:
        return edit_shot(
            context,
            shot_number,
            description=description,
            camera=camera,
            duration=duration,
            dialogue=dialogue,
        )

    def add_character_tool(name: str, description: str = "", look: str = "") -> str:
        character = plans.upsert_character(context.db, context.project_id, name, description, look)
        return f"Character {character.name} saved (seed {character.seed})."

    return [
        StructuredTool.from_function(
            func=write_plan_tool,
            name="write_episode_plan",
            description="Write or rewrite the whole plan of the current episode.",
            args_schema=WritePlanArgs,
        ),
        StructuredTool.from_function(
            func=edit_shot_tool,
            name="edit_shot",
            description="Change fields of one shot of the current episode, by shot number.",
            args_schema=EditShotArgs,
        ),
        StructuredTool.from_function(
            func=add_character_tool,
            name="add_character",
            description="Add a character or update one's description and visual look.",
            args_schema=CharacterDraft,
        ),
    ]
