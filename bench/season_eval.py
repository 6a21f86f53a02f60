"""Season benchmark: how well a model writes a season in small steps (not a test).

    .venv/bin/python bench/season_eval.py [--limit N] [--episodes 2] [--minutes 1]
                                          [--embedded-only | --endpoint-only] [--timeout 600]

Each premise of agent_eval's list is one season through `Director.write_season` and then
`Director.write_next_episode` for every episode, into a fresh temporary SQLite file, as
`showrunner produce --episodes N --minutes M` writes it. Reported per season and per step:
valid stored seasons (every episode written), markup left in fields, camera fields in the
vocabulary, unique spoken lines, episodes using every name the premise gives, shots naming
their characters, episodes within 10% of their length, consecutive episodes opening differently,
Chinese lines for Chinese premises, the canon (facts each episode adds, as produce adds them,
and the later shots whose render prompts carry the facts about them), repairs per step, and
seconds per episode plan. Whether a later episode's words contradict the canon is not judged:
that needs a reader (or a judge model).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils
from agent_eval import (
    CJK,
    PREMISES,
    Backend,
    EmbeddedBackend,
    EndpointBackend,
    Premise,
    ProblemLog,
    ShotCheck,
    check_shots,
    director_problems,
    endpoint_configured,
    fmt_share,
    mean_median,
    plan_text,
)
from langchain_core.language_models import BaseChatModel

from agents.director import Director
from agents.llm import ModelHost
from agents.premise import missing_names, premise_names
from agents.tools import ToolContext
from bot.settings import Settings
from pipeline.render.queue import build_prompt
from storage import canon, plan, projects, seasons
from storage.db import open_db


@dataclass(frozen=True)
class EpisodeCheck:
    seconds_to_write: float
    target: float
    shots: tuple[ShotCheck, ...]
    names_missing: tuple[str, ...]
    # the canon: facts from earlier episodes about this episode's shots (their characters and
    # places), how many of those shots' render prompts carry all of them, facts it added
    canon_shots: int = 0
    canon_in_prompt: int = 0
    facts_added: int = 0

    @property
    def screen_seconds(self) -> float:
        return sum(shot.seconds for shot in self.shots)

    @property
    def on_length(self) -> bool:
        return abs(self.screen_seconds - self.target) <= 0.1 * self.target


@dataclass(frozen=True)
class SeasonOutcome:
    premise: Premise
    error: str = ""
    episodes: tuple[EpisodeCheck, ...] = ()
    hooks: tuple[str, ...] = ()
    repairs: tuple[str, ...] = ()  # the schema of each answer that was sent back
    map_seconds: float = 0.0


async def run_season(
    model: BaseChatModel,
    host: ModelHost | None,
    premise: Premise,
    count: int,
    minutes: float,
    timeout: float,
) -> SeasonOutcome:
    with tempfile.TemporaryDirectory(prefix="season-eval-") as folder:
        db = open_db(Path(folder) / "showrunner.db")
        project = projects.create_project(db, f"Season eval: {premise.genre}")
        context = ToolContext(db, project.id, user_id=None, is_director=True)
        director = Director(model, "structured", host=host)  # restarted if it dies, as in produce
        checks: list[EpisodeCheck] = []
        with director_problems() as problems:
            started = time.perf_counter()
            try:
                async with asyncio.timeout(timeout):
                    season = await director.write_season(context, premise.text, count, minutes)
                    map_seconds = time.perf_counter() - started
                    for _ in range(count):
                        begun = time.perf_counter()
                        episode = await director.write_next_episode(context, season)
                        assert episode is not None
                        entry = seasons.entry_for_episode(db, episode.id)
                        assert entry is not None
                        written = time.perf_counter() - begun
                        held, carried = canon_in_prompts(db, project.id, season.id, episode.id)
                        added = await director.extend_canon(context, season, episode)
                        checks.append(
                            EpisodeCheck(
                                written,
                                # its own shots' length: the recap and teaser card aside
                                seasons.shot_seconds(season, entry.number),
                                tuple(check_shots(db, project.id, episode.id)),
                                missing_names(
                                    premise_names(premise.text),
                                    plan_text(db, project.id, episode.id),
                                ),
                                held,
                                carried,
                                len(added),
                            )
                        )
            except Exception as error:  # a benchmark records every failure and goes on
                label = "timeout" if isinstance(error, TimeoutError) else type(error).__name__
                return SeasonOutcome(premise, label, tuple(checks), repairs=_kinds(problems))
            hooks = tuple(entry.hook_type for entry in seasons.season_map(db, season.id))
        db.close()
        return SeasonOutcome(premise, "", tuple(checks), hooks, _kinds(problems), map_seconds)


def canon_in_prompts(
    db: sqlite_utils.Database, project_id: int, season_id: int, episode_id: int
) -> tuple[int, int]:
    """(shots with canon facts about their characters or place, of those the shots whose
    render prompt carries every such fact)."""
    held = carried = 0
    for shot in plan.list_shots(db, episode_id):
        place = plan.get_scene(db, shot.scene_id).heading.split(",")[0]
        facts = canon.facts_about(db, season_id, (*shot.characters, place))
        if facts:
            held += 1
            prompt = build_prompt(db, project_id, shot.id)
            carried += all(fact.fact in prompt for fact in facts)
    return held, carried


def _kinds(problems: ProblemLog) -> tuple[str, ...]:
    """The step of each answer sent back: its schema's name, or "checks" (names missing)."""
    return tuple(
        problem.split(" validation error for ")[1].split()[0]
        if " validation error for " in problem
        else "checks"
        for problem in problems.problems
    )


def print_outcome(index: int, outcome: SeasonOutcome) -> None:
    head = f"{index:>2}  {outcome.premise.genre:<11}"
    if outcome.error:
        print(f"{head} failed: {outcome.error} after {len(outcome.episodes)} episode(s)")
        return
    lengths = ", ".join(f"{e.screen_seconds:.0f}s/{len(e.shots)} shots" for e in outcome.episodes)
    print(f"{head} hooks {' > '.join(outcome.hooks)}; {lengths}", flush=True)


def print_summary(label: str, outcomes: Sequence[SeasonOutcome]) -> None:
    valid = [o for o in outcomes if not o.error]
    episodes = [e for o in valid for e in o.episodes]
    shots = [s for e in episodes for s in e.shots]
    lines = [s.line for s in shots if s.line]
    named = [e for o in valid for e in o.episodes if premise_names(o.premise.text).all]
    print(f"--- summary: {label}")
    failures = Counter(o.error for o in outcomes if o.error)
    failed = f"; failures: {dict(failures)}" if failures else ""
    print(f"  valid stored seasons                 {fmt_share(len(valid), len(outcomes))}{failed}")
    rows = {
        "markup-free shots": sum(not s.markup for s in shots),
        "camera in the vocabulary": sum(s.camera_term for s in shots),
        "shots naming their characters": sum(s.listed > 0 for s in shots),
    }
    for text, count in rows.items():
        print(f"  {text:<36} {fmt_share(count, len(shots))} of shots")
    print(f"  {'unique spoken lines':<36} {fmt_share(len(set(lines)), len(lines))} of lines")
    print(
        f"  {'premise names all used':<36} "
        f"{fmt_share(sum(not e.names_missing for e in named), len(named))} of episodes"
    )
    print(
        f"  {'episode length within 10%':<36} "
        f"{fmt_share(sum(e.on_length for e in episodes), len(episodes))} of episodes"
    )
    pairs = [(a, b) for o in valid for a, b in zip(o.hooks, o.hooks[1:], strict=False)]
    print(
        f"  {'consecutive hooks differ':<36} "
        f"{fmt_share(sum(a != b for a, b in pairs), len(pairs))} of pairs"
    )
    chinese = [s for o in valid if CJK.search(o.premise.text) for e in o.episodes for s in e.shots]
    spoken = [s for s in chinese if s.line]
    if spoken:
        print(
            f"  {'Chinese lines, Chinese premises':<36} "
            f"{fmt_share(sum(s.line_cjk for s in spoken), len(spoken))} of their lines"
        )
    held = sum(e.canon_shots for e in episodes)
    print(
        f"  {'canon facts added per episode':<36} "
        f"{mean_median([e.facts_added for e in episodes]) if episodes else '-'}"
    )
    print(
        f"  {'canon carried into render prompts':<36} "
        f"{fmt_share(sum(e.canon_in_prompt for e in episodes), held)} of shots the canon concerns"
    )
    repairs = Counter(kind for o in outcomes for kind in o.repairs)
    print(f"  answers sent back, by step           {dict(repairs) or 'none'}")
    per_episode = [len(e.shots) for e in episodes]
    if per_episode:
        print(f"  shots per episode                    {mean_median(per_episode)}")
    print(f"  seconds per season map               {mean_median([o.map_seconds for o in valid])}")
    print(
        f"  seconds per episode plan             "
        f"{mean_median([e.seconds_to_write for e in episodes])}"
    )


async def evaluate(backend: Backend, premises: Sequence[Premise], args: argparse.Namespace) -> None:
    print(f"\n=== {backend.label}: seasons of {args.episodes} x {args.minutes:g} min ===")
    started = time.perf_counter()
    model = await backend.start()
    outcomes = []
    try:
        for index, premise in enumerate(premises, start=1):
            host = getattr(backend, "server", None)
            outcome = await run_season(
                model, host, premise, args.episodes, args.minutes, args.timeout
            )
            outcomes.append(outcome)
            print_outcome(index, outcome)
            if outcome.error == "timeout":
                model = await backend.recover()
    finally:
        await backend.stop()
    print(f"(run took {time.perf_counter() - started:.0f} s)")
    print_summary(backend.label, outcomes)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--episodes", type=int, default=2)
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per season")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--embedded-only", action="store_true")
    which.add_argument("--endpoint-only", action="store_true")
    args = parser.parse_args()
    premises = PREMISES[: args.limit] if args.limit > 0 else PREMISES
    logging.basicConfig(level=logging.WARNING)
    if not args.endpoint_only:
        await evaluate(EmbeddedBackend(120.0), premises, args)
    settings = Settings()
    if args.embedded_only or not endpoint_configured(settings):
        return
    await evaluate(EndpointBackend(settings, compact=False), premises, args)


if __name__ == "__main__":
    asyncio.run(main())
