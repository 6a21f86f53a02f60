"""The agent's tools: plain functions over storage, with the caller's rights checked here.

The model only chooses a tool and its arguments; who may do what is decided in code. Every
tool call is one transaction: a call that fails half-way changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field, field_validator

from agents.beat_edits import edit_beats
from agents.camera import camera_in_vocabulary, changed_camera
from agents.context import ToolContext
from agents.schemas import BoundedModel, CharacterDraft, EpisodeDraft
from storage import characters, episodes, projects
from storage import plan as plans
from storage.errors import NotAllowed, NotFound
from storage.models import Episode, Shot
from storage.status import RENDERABLE, EpisodeStatus


def to_episode_plan(draft: EpisodeDraft) -> plans.EpisodePlan:
    return plans.EpisodePlan(
        title=draft.title,
        synopsis=draft.synopsis,
        logline=draft.logline,
        characters=tuple(
            plans.CharacterPlan(c.name, c.description, c.look) for c in draft.characters
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
                mood=scene.mood,
            )
            for scene in draft.scenes
        ),
    )


def write_episode_plan(context: ToolContext, draft: EpisodeDraft, *, new: bool = False) -> Episode:
    """A rewrite of the current episode while it is still being written, else (or when `new`:
    the team asked for the next episode) a new episode."""
    current = episodes.current_episode(context.db, context.project_id)
    rewrite = not new and current is not None and current.status == EpisodeStatus.WRITING
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
        author_id=context.user_id,
    )


def _episode(context: ToolContext) -> Episode:
    episode = episodes.current_episode(context.db, context.project_id)
    if episode is None:
        raise NotFound("There is no episode yet.")
    return episode


def _require_director(context: ToolContext, action: str) -> None:
    if not context.is_director:
        raise NotAllowed(f"Only the project's director can {action}; nothing was changed.")


def _editable_shot(context: ToolContext, shot_number: int) -> Shot:
    shot = plans.shot_by_number(context.db, _episode(context).id, shot_number)
    if shot.status not in RENDERABLE and not context.is_director:
        raise NotAllowed(
            f"Only a director can change shot {shot.number}: it is already {shot.status}."
        )
    return shot


def edit_shot(context: ToolContext, shot_number: int, **changes: Any) -> str:
    shot = _editable_shot(context, shot_number)
    if changes.get("camera"):
        changes["camera"] = changed_camera(shot.camera, changes["camera"])
    updated = plans.edit_shot(context.db, shot.id, author_id=context.user_id, **changes)
    return f"Shot {updated.number} is now revision {updated.revision}."


class ShotEdit(BoundedModel):
    shot_number: int = Field(ge=1, le=500)
    description: str | None = Field(default=None, max_length=300)
    camera: str | None = Field(
        default=None, max_length=60, description="e.g. 'close-up, low angle, push in'"
    )
    duration: float | None = Field(default=None, ge=1, le=15)
    dialogue: str | None = Field(default=None, max_length=200)
    prompt: str | None = Field(
        default=None, max_length=600, description="The image prompt, when it should differ"
    )

    _camera = field_validator("camera")(camera_in_vocabulary)


class EditShotsArgs(BaseModel):
    edits: list[ShotEdit] = Field(min_length=1, max_length=20)


def edit_shots(context: ToolContext, edits: list[ShotEdit]) -> str:
    """Several shots in one transaction: all of them change, or none."""
    with context.db.atomic():
        results = [
            edit_shot(context, edit.shot_number, **edit.model_dump(exclude={"shot_number"}))
            for edit in edits
        ]
    return " ".join(results)


def cut_shot(context: ToolContext, shot_number: int) -> str:
    _require_director(context, "cut a shot")
    episode = _episode(context)
    shot = plans.shot_by_number(context.db, episode.id, shot_number)
    plans.cut_shot(context.db, shot.id, author_id=context.user_id, reason="cut by the agent")
    left = len(plans.list_shots(context.db, episode.id))
    return f"Shot {shot_number} is cut; the episode now has {left} shots (renumbered)."


def delete_episode(context: ToolContext, episode_number: int) -> str:
    _require_director(context, "delete an episode")
    episode = projects.episode_by_number(context.db, context.project_id, episode_number)
    episodes.delete_episode(context.db, episode.id, author_id=context.user_id)
    return f"Episode {episode_number} is deleted (its plan stays on record)."


def edit_character(context: ToolContext, name: str, description: str = "", look: str = "") -> str:
    known = {c.name.lower(): c for c in characters.list_characters(context.db, context.project_id)}
    character = known.get(" ".join(name.split()).lower())
    if character is None:
        raise NotFound(f"There is no character named {name[:40]!r}; add them first.")
    updated = characters.upsert_character(
        context.db,
        context.project_id,
        character.name,
        description,
        look,
        author_id=context.user_id,
        reason="edited by the agent",
    )
    return f"Character {updated.name} is now revision {updated.revision}."


def edit_scene(
    context: ToolContext, scene_number: int, heading: str | None = None, summary: str | None = None
) -> str:
    episode = _episode(context)
    if episode.status != EpisodeStatus.WRITING and not context.is_director:
        raise NotAllowed(f"Episode {episode.number} is {episode.status}: only a director edits it.")
    scene = plans.scene_by_number(context.db, episode.id, scene_number)
    plans.edit_scene(
        context.db, scene.id, heading=heading, summary=summary, author_id=context.user_id
    )
    return f"Scene {scene_number} updated."


def set_teaser(context: ToolContext, teaser: str) -> str:
    episode = _episode(context)
    episodes.edit_episode(context.db, episode.id, teaser=teaser, author_id=context.user_id)
    return f"Episode {episode.number}'s cliffhanger line is set."


def mark_continuous(context: ToolContext, shot_number: int, continuous: bool = True) -> str:
    shot = _editable_shot(context, shot_number)
    plans.edit_shot(context.db, shot.id, author_id=context.user_id, continuous=continuous)
    how = "starts from" if continuous else "no longer starts from"
    return f"Shot {shot_number} {how} the previous shot's last frame."


def add_character(context: ToolContext, name: str, description: str = "", look: str = "") -> str:
    character = characters.upsert_character(
        context.db, context.project_id, name, description, look, author_id=context.user_id
    )
    return f"Character {character.name} saved (seed {character.seed})."


class WritePlanArgs(BaseModel):
    plan: EpisodeDraft
    new_episode: bool = Field(
        default=False, description="True for the next episode; false rewrites the current one"
    )


class EditShotArgs(ShotEdit):
    pass


class ShotNumberArgs(BaseModel):
    shot_number: int = Field(ge=1, le=500)


class EpisodeNumberArgs(BaseModel):
    episode_number: int = Field(ge=1, le=1000)


class EditSceneArgs(BoundedModel):
    scene_number: int = Field(ge=1, le=100)
    heading: str | None = Field(default=None, max_length=80)
    summary: str | None = Field(default=None, max_length=300)


class TeaserArgs(BoundedModel):
    teaser: str = Field(min_length=2, max_length=200, description="The cliffhanger line")


class EditBeatsArgs(BoundedModel):
    episode_number: int | None = Field(default=None, ge=1, le=1000, description="None: current")
    hook: str | None = Field(default=None, max_length=300)
    escalation: str | None = Field(default=None, max_length=300)
    twist: str | None = Field(default=None, max_length=300)
    cliffhanger: str | None = Field(default=None, max_length=300)


class ContinuousArgs(BaseModel):
    shot_number: int = Field(ge=2, le=500)
    continuous: bool = True


def _write_plan(context: ToolContext, plan: EpisodeDraft | dict, new_episode: bool = False) -> str:
    draft = plan if isinstance(plan, EpisodeDraft) else EpisodeDraft.model_validate(plan)
    episode = write_episode_plan(context, draft, new=new_episode)
    shots = len(plans.list_shots(context.db, episode.id))
    return f"Stored episode {episode.number} '{episode.title}' with {shots} shots."


def _edit_shots(context: ToolContext, edits: list[ShotEdit | dict]) -> str:
    return edit_shots(context, [ShotEdit.model_validate(edit) for edit in edits])


# name, description, argument schema, function(context, **arguments)
TOOL_SPECS: tuple[tuple[str, str, type[BaseModel], Callable[..., str]], ...] = (
    (
        "write_episode_plan",
        "Write the whole plan of the current episode again, or of a new (next) episode.",
        WritePlanArgs,
        _write_plan,
    ),
    (
        "edit_shot",
        "Change fields of one shot of the current episode, by shot number.",
        EditShotArgs,
        edit_shot,
    ),
    (
        "edit_shots",
        "Change several shots at once (all or none), e.g. every line of one scene.",
        EditShotsArgs,
        _edit_shots,
    ),
    ("cut_shot", "Delete one shot from the plan; later shots move up.", ShotNumberArgs, cut_shot),
    (
        "delete_episode",
        "Delete an episode that is still being written.",
        EpisodeNumberArgs,
        delete_episode,
    ),
    (
        "add_character",
        "Add a character or update one's description and visual look.",
        CharacterDraft,
        add_character,
    ),
    (
        "edit_character",
        "Change an existing character's description or visual look (e.g. older, grey beard).",
        CharacterDraft,
        edit_character,
    ),
    ("edit_scene", "Change a scene's heading or summary, by number.", EditSceneArgs, edit_scene),
    ("set_teaser", "Set the episode's teaser / cliffhanger line.", TeaserArgs, set_teaser),
    (
        "edit_beats",
        "Change a season episode's beats (hook, escalation, twist, cliffhanger); the scenes are "
        "written again only when the team asks for a rewrite.",
        EditBeatsArgs,
        edit_beats,
    ),
    (
        "mark_continuous",
        "Make a shot start from the previous shot's last frame (or stop doing so).",
        ContinuousArgs,
        mark_continuous,
    ),
)


def run_tool(context: ToolContext, name: str, arguments: dict[str, Any]) -> str:
    """Validate the arguments against the tool's schema and run it in one transaction."""
    for tool_name, _, schema, function in TOOL_SPECS:
        if tool_name == name:
            args = schema.model_validate(arguments)
            values = {key: getattr(args, key) for key in type(args).model_fields}
            with context.db.atomic():
                return function(context, **values)
    raise NotFound(f"There is no tool named {name!r}.")


def _bound(context: ToolContext, name: str) -> Callable[..., Awaitable[str]]:
    # a coroutine, so the tool runs on the event loop's thread (the SQLite connection's own)
    async def call(**arguments: Any) -> str:
        return run_tool(context, name, arguments)

    return call


def build_tools(context: ToolContext, only: frozenset[str] | None = None) -> list[BaseTool]:
    """The tools bound to one turn, closed over the caller's context. There is no render tool:
    rendering is a person's decision (/render), never the model's."""
    return [
        StructuredTool.from_function(
            coroutine=_bound(context, name), name=name, description=text, args_schema=schema
        )
        for name, text, schema, _ in TOOL_SPECS
        if only is None or name in only
    ]
