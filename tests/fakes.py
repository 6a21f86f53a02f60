"""Scripted langchain chat models: the real agent code runs, the model's answers are scripted."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from pydantic import Field


class ScriptedChatModel(GenericFakeChatModel):
    """GenericFakeChatModel that accepts tools (bind_tools returns itself) and records every
    prompt it was sent, so tests can count calls and measure what the model saw."""

    prompts: list[list[BaseMessage]] = Field(default_factory=list)

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:  # type: ignore[override]
        return self

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> Any:
        self.prompts.append(list(messages))
        return super()._generate(messages, *args, **kwargs)

    @property
    def calls(self) -> int:
        return len(self.prompts)


class DownChatModel(ScriptedChatModel):
    """A model that gives its scripted answers, then stops answering (a timeout after the
    client's own retries)."""

    answers_before_down: int = 0

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> Any:
        if len(self.prompts) < self.answers_before_down:
            return super()._generate(messages, *args, **kwargs)
        self.prompts.append(list(messages))
        raise TimeoutError


def scripted(*answers: AIMessage) -> ScriptedChatModel:
    return ScriptedChatModel(messages=iter(answers))


def tool_call(name: str, args: dict[str, Any], call_id: str = "call_1") -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": call_id}])


def say(text: str) -> AIMessage:
    return AIMessage(content=text)


def gong_gong_plan(shots_per_scene: Iterable[int] = (2, 2)) -> dict[str, Any]:
    """The plan a capable model would write for the Gong Gong premise."""
    scenes = []
    number = 0
    for scene_index, count in enumerate(shots_per_scene, start=1):
        shots = []
        for _ in range(count):
            number += 1
            shots.append(
                {
                    "description": f"Shot {number}: waves rise as Li Xingzhou faces the storm",
                    "camera": "low angle" if number % 2 else "close-up",
                    "duration": 2.0 + (number % 2),
                    "dialogue": f"Line {number}: I will not kneel!",
                    "characters": ["Li Xingzhou"],
                }
            )
        scenes.append(
            {"heading": f"Rugged shore, scene {scene_index}", "summary": "", "shots": shots}
        )
    return {
        "title": "Defying Gong Gong",
        "logline": "A fisherman stands against the water god.",
        "synopsis": "Li Xingzhou refuses to kneel as Gong Gong floods his village.",
        "characters": [
            {"name": "Li Xingzhou", "description": "a stubborn fisherman", "look": "grey beard"},
        ],
        "scenes": scenes,
    }


def season_map_answer(hooks: tuple[str, ...]) -> dict:
    """A capable model's season map for the Gong Gong premise, its episodes opening with `hooks`."""
    return {
        "logline": "A fisherman against a god",
        "world": "A village the sea wants back",
        "tone": "defiant",
        "visual_style": "storm light, ink-wash colours",
        "cast": [
            {"name": "Li Xingzhou", "description": "a fisherman", "arc": "fear to defiance"},
            {"name": "Gong Gong", "description": "the water god", "look": "serpent tail"},
        ],
        "episodes": [
            {
                "title": f"Tide {n}",
                "logline": f"The sea rises, part {n}",
                "hook_type": hook,
                "cliffhanger": f"The wave of part {n} breaks",
            }
            for n, hook in enumerate(hooks, start=1)
        ],
    }


def episode_answers(
    episode: int, scenes: int, shots_per_scene: int, seconds: float = 3.0
) -> list[AIMessage]:
    """The model's answers for one episode: beats, scenes, then each scene's shots."""
    beats = {
        "hook": f"Li sees the wave {episode}",
        "escalation": "The village floods",
        "twist": "Gong Gong offers a bargain",
        "cliffhanger": "Li says no",
    }
    outline = {
        "scenes": [
            {"heading": f"Shore, dusk {n}", "summary": f"Li stands firm, moment {n}"}
            for n in range(1, scenes + 1)
        ]
    }
    answers = [tool_call("BeatsDraft", beats), tool_call("ScenesDraft", outline)]
    for scene in range(1, scenes + 1):
        shots = [
            {
                "description": f"Episode {episode} scene {scene} shot {n}: Li grips the oar",
                "shot_size": "close-up",
                "angle": "low angle",
                "move": "push in",
                "duration": seconds,
                # short enough to be spoken within a half-minute episode's 3.4-second shots
                # ("Line 1.1.1: ..." takes 3.4 s in espeak: the line would make the shot longer)
                "dialogue": f"{episode}{chr(64 + scene)}{n}: I will not kneel",
                "characters": ["li"] if n % 2 else ["Gong Gong"],
            }
            for n in range(1, shots_per_scene + 1)
        ]
        answers.append(tool_call("ShotsDraft", {"shots": shots}))
    return answers


def rewrite_answers(
    scenes: int, rewritten: tuple[int, ...], shots_per_scene: int
) -> list[AIMessage]:
    """The model's answers when scenes `rewritten` of an episode of `scenes` are written again
    from new beats: the outline, then each rewritten scene's shots (Gong Gong, father)."""
    outline = {
        "scenes": [
            {"heading": f"Cliff, night {n}", "summary": f"Li learns the truth, part {n}"}
            for n in range(1, scenes + 1)
        ]
    }
    answers = [tool_call("ScenesDraft", outline)]
    for scene in rewritten:
        shots = [
            {
                "description": f"Scene {scene} shot {n}: Gong Gong lowers his trident",
                "shot_size": "wide",
                "angle": "high angle",
                "move": "static",
                "duration": 4.0,
                "dialogue": f"Father {scene}.{n}?",
                "characters": ["Gong Gong"],
            }
            for n in range(1, shots_per_scene + 1)
        ]
        answers.append(tool_call("ShotsDraft", {"shots": shots}))
    return answers
