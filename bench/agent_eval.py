"""Agent benchmark: how well a model turns premises into stored plans (not a test).

    /work/venv/bin/python bench/agent_eval.py [--limit N] [--embedded-only | --endpoint-only]
                                              [--timeout 120] [--budget 900] [--show-plans]
                                              [--requests 3]

Each premise is one plan-writing turn on the path `showrunner produce` takes:
`Director.write_plan` (one forced structured answer, one repair attempt), then the plan is
stored through `agents.tools.write_episode_plan`, into a fresh temporary SQLite file with its
own project. The render prompt of every stored shot is then built as the worker would get it
(`pipeline.render.queue.build_prompt`).

Models:
- the embedded model (SmolLM2-135M served by llama-cpp-python, `agents.embedded`), with
  compact plans, as `produce` runs it;
- an OpenAI-compatible endpoint, when OPENAI_BASE_URL or OPENAI_API_KEY is set (environment or
  .env, read by `bot.settings.Settings` like the app does), with SHOWRUNNER_LLM_MODEL. Compact
  plans are off there, as in `produce`; `--endpoint-compact` turns them on.

Then, for the first `--requests` premises, "Let's make episode 1: <premise>" is said in a
project that already has a plan (a writers'-room turn in structured mode): the share of such
requests that store a plan.

A turn that takes longer than `--timeout` seconds is recorded as a timeout; the embedded server
is then restarted, because llama.cpp keeps generating for a request its client gave up on.
`--budget` caps the wall time per model: premises left when it runs out are skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import sqlite_utils
from langchain_core.language_models import BaseChatModel

from agents.camera import in_vocabulary
from agents.director import Director, detect_mode
from agents.embedded import EMBEDDED_MODEL_NAME, EmbeddedServer, embedded_llm_config
from agents.llm import LLMConfig, create_chat_model
from agents.model_errors import BadModelOutput
from agents.plan_writer import same_words
from agents.premise import missing_names, premise_names
from agents.schemas import EpisodeDraft
from agents.tools import ToolContext, write_episode_plan
from bot.settings import Settings
from pipeline.render.queue import build_prompt
from storage import characters, episodes, plan, projects
from storage.db import open_db

TIMEOUT_LABEL = "timeout"


@dataclass(frozen=True)
class Premise:
    genre: str
    text: str


PREMISES: tuple[Premise, ...] = (
    Premise("myth", "The fisherman Li Xingzhou defies the water god Gong Gong on a rugged shore"),
    Premise(
        "romance",
        "Two rival food-truck owners, Rosa and Dev, fall for each other during a week-long "
        "street festival",
    ),
    Premise(
        "office",
        "An intern discovers that the CEO's emails are written by an AI that wants a promotion",
    ),
    Premise(
        "revenge-zh", "被赶出豪门的真千金「林晚」三年后带着亿万身家回归，在订婚宴上当众揭穿假千金"
    ),
    Premise(
        "sci-fi", "On a generation ship, a mechanic finds out the captain has been dead for years"
    ),
    Premise(
        "thriller",
        "Hana, a night-shift nurse, realises the patient in room 9 is the man she testified "
        "against",
    ),
    Premise(
        "comedy",
        "A wedding planner must hide that she booked two weddings in the same hall on one day",
    ),
    Premise(
        "family",
        "At her father's funeral, a daughter meets the half-brother nobody told her about",
    ),
    Premise(
        "horror",
        "A livestreamer spends a night in an abandoned hospital; her chat warns her someone "
        "is standing behind her",
    ),
    Premise("wuxia-zh", "落魄剑客在雪夜客栈里认出了当年灭他师门的仇人，而仇人已经双目失明"),
    Premise("sports", "A washed-up boxer agrees to train the teenager who robbed his gym"),
    Premise(
        "period",
        "A forger in 1920s Shanghai is hired to copy the very painting she once stole",
    ),
)


# ---------------------------------------------------------------- outcomes


# cheap signs that a schema-valid plan is still not a usable one
MARKUP = re.compile(r"[{}<>\[\]]|https?://|&#\d+;|\.(png|jpe?g)\b", re.IGNORECASE)
CJK = re.compile(r"[\u4e00-\u9fff]")
ASKED_SECONDS = (2.0, 6.0)  # what PLAN_WRITER asks for


@dataclass(frozen=True)
class ShotCheck:
    """One stored shot: its length, how its render prompt treats the characters it shows, and
    a few quality flags."""

    seconds: float
    listed: int  # characters in the shot's `characters` field
    named: int  # of those, how many appear (case-insensitive) in the render prompt
    off_cast: int  # of those, how many are not in the project's characters (no look added)
    markup: bool = False  # braces, tags, URLs or file names in description, camera or dialogue
    repeated: bool = False  # same description or same dialogue as an earlier shot
    camera_term: bool = False  # the camera field is a framing from agents.camera's vocabulary
    cjk: bool = False  # the description is (at least partly) Chinese
    line: str = ""  # the spoken line, as compared for repeats ("" for a silent shot)
    line_cjk: bool = False  # the line is (at least partly) Chinese

    @property
    def names_all(self) -> bool:
        return self.listed > 0 and self.named == self.listed

    @property
    def asked_length(self) -> bool:
        return ASKED_SECONDS[0] <= self.seconds <= ASKED_SECONDS[1]


@dataclass(frozen=True)
class Outcome:
    premise: Premise
    seconds: float  # wall time of the turn
    error: str = ""  # the exception's class name, "timeout", or "" for a valid stored plan
    detail: str = ""  # why the answer did not validate, or the error's (user-facing) message
    repairs: int = 0  # answers that did not validate, each followed by the repair request
    scenes: int = 0
    cast: int = 0
    shots: tuple[ShotCheck, ...] = ()
    text: str = ""  # the stored plan as `plan_summary` shows it
    names_missing: tuple[str, ...] = ()  # names from the premise the stored plan never uses

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def screen_seconds(self) -> float:
        return sum(shot.seconds for shot in self.shots)


def names(prompt: str, name: str) -> bool:
    """Whether the prompt names the character: case-insensitive, whole words for Latin names
    (so 'Li' is not found in 'lighting'), plain containment for Chinese ones."""
    name = name.strip()
    if not name:
        return False
    start = r"(?<!\w)" if name[0].isascii() else ""
    end = r"(?!\w)" if name[-1].isascii() else ""
    return re.search(start + re.escape(name) + end, prompt, re.IGNORECASE) is not None


def check_shots(db: sqlite_utils.Database, project_id: int, episode_id: int) -> list[ShotCheck]:
    cast = {character.name for character in characters.list_characters(db, project_id)}
    seen: set[str] = set()
    checks = []
    for shot in plan.list_shots(db, episode_id):
        prompt = build_prompt(db, project_id, shot.id)
        texts = (shot.description, shot.camera, shot.dialogue)
        keys = {f"d:{shot.description.strip()}", f"l:{shot.dialogue.strip()}"}
        checks.append(
            ShotCheck(
                seconds=shot.duration,
                listed=len(shot.characters),
                named=sum(1 for name in shot.characters if names(prompt, name)),
                off_cast=sum(1 for name in shot.characters if name not in cast),
                markup=any(MARKUP.search(text) for text in texts),
                repeated=bool(keys & seen),
                camera_term=in_vocabulary(shot.camera),
                cjk=bool(CJK.search(shot.description)),
                line=same_words(shot.dialogue),
                line_cjk=bool(CJK.search(shot.dialogue)),
            )
        )
        seen |= keys
    return checks


def plan_text(db: sqlite_utils.Database, project_id: int, episode_id: int) -> str:
    """The stored plan, with the cast and each shot's characters (for --show-plans)."""
    cast = [
        f"{c.name}: {c.look or '(no look)'}" for c in characters.list_characters(db, project_id)
    ]
    shots = [
        f"shot {shot.number} characters={list(shot.characters)}"
        for shot in plan.list_shots(db, episode_id)
    ]
    return "\n".join(
        [plan.plan_summary(db, episode_id, limit=4000), "cast: " + "; ".join(cast), *shots]
    )


# ---------------------------------------------------------------- what the director logged


class ProblemLog(logging.Handler):
    """Keeps the director's 'structured output invalid' lines of the current turn."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.problems: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        if str(record.msg).startswith("structured output rejected") and isinstance(args, tuple):
            self.problems.append(str(args[-1]))


@contextmanager
def director_problems() -> Iterator[ProblemLog]:
    handler = ProblemLog()
    logger = logging.getLogger("agents.structured")
    old_level, old_propagate = logger.level, logger.propagate
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        logger.propagate = old_propagate


PYDANTIC_TYPE = re.compile(r"\s*\[type=[^\]]*\].*$")


def summarize_problem(text: str, limit: int = 160) -> str:
    """'scenes: List should have at least 2 items' out of a pydantic error's text."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or "validation error" not in lines[0]:
        return " ".join(text.split())[:limit]
    count = lines[0].split(" validation error")[0]
    errors: list[str] = []
    location = ""
    for line in lines[1:]:
        if not line.startswith(" "):
            location = line.strip()
        elif location and not line.strip().startswith("For further information"):
            errors.append(f"{location}: {PYDANTIC_TYPE.sub('', line).strip()}")
            location = ""
    return f"{count} error(s): " + "; ".join(errors)[:limit]


def failure_detail(error: Exception, problems: Sequence[str]) -> str:
    """The last validation problem for an answer that never validated, else the message."""
    if isinstance(error, BadModelOutput) and problems:
        return summarize_problem(problems[-1])
    return " ".join(str(error).split())[:160]


# ---------------------------------------------------------------- one turn


async def run_premise(
    model: BaseChatModel, compact: bool, premise: Premise, timeout: float
) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="agent-eval-") as folder:
        db = open_db(Path(folder) / "showrunner.db")
        try:
            project = projects.create_project(db, f"Agent eval: {premise.genre}")
            context = ToolContext(db, project.id, user_id=None, is_director=True)
            director = Director(model, "structured", compact_plans=compact)
            with director_problems() as problems:
                started = time.perf_counter()
                try:
                    async with asyncio.timeout(timeout):
                        episode = await director.write_plan(context, premise.text)
                except TimeoutError:
                    return Outcome(
                        premise,
                        time.perf_counter() - started,
                        TIMEOUT_LABEL,
                        repairs=len(problems.problems),
                    )
                except Exception as error:  # a benchmark records every failure and goes on
                    return Outcome(
                        premise,
                        time.perf_counter() - started,
                        type(error).__name__,
                        failure_detail(error, problems.problems),
                        repairs=len(problems.problems),
                    )
                seconds = time.perf_counter() - started
            return Outcome(
                premise,
                seconds,
                repairs=len(problems.problems),
                scenes=len(plan.list_scenes(db, episode.id)),
                cast=len(characters.list_characters(db, project.id)),
                shots=tuple(check_shots(db, project.id, episode.id)),
                text=plan_text(db, project.id, episode.id),
                names_missing=missing_names(
                    premise_names(premise.text), plan_text(db, project.id, episode.id)
                ),
            )
        finally:
            db.close()


# ---------------------------------------------------------------- a request in conversation

EARLIER_PLAN = EpisodeDraft.model_validate(
    {
        "title": "An earlier plan",
        "scenes": [{"heading": "Somewhere, day", "shots": [{"description": "A door opens",
                                                             "shot_size": "wide"}]}],
    }
)  # fmt: skip


async def run_request(
    model: BaseChatModel, compact: bool, premise: Premise, timeout: float
) -> bool:
    """In a project that already has a plan, "Let's make episode 1: <premise>" said in the
    writers' room (a structured turn): whether a new plan was stored."""
    with tempfile.TemporaryDirectory(prefix="agent-eval-") as folder:
        db = open_db(Path(folder) / "showrunner.db")
        try:
            project = projects.create_project(db, f"Agent eval request: {premise.genre}")
            context = ToolContext(db, project.id, user_id=None, is_director=True)
            before = write_episode_plan(context, EARLIER_PLAN).plan_revision
            director = Director(model, "structured", compact_plans=compact)
            try:
                async with asyncio.timeout(timeout):
                    await director.turn(context, f"Let's make episode 1: {premise.text}", "eval")
            except Exception:  # a benchmark records every failure and goes on
                return False
            episode = episodes.current_episode(db, project.id)
            return episode is not None and episode.plan_revision > before
        finally:
            db.close()


# ---------------------------------------------------------------- models


class Backend(Protocol):
    label: str
    compact: bool

    async def start(self) -> BaseChatModel: ...

    async def recover(self) -> BaseChatModel: ...

    async def stop(self) -> None: ...


class EmbeddedBackend:
    """The embedded model as `bot.runtime` builds it, restartable after a timeout."""

    label = f"embedded {EMBEDDED_MODEL_NAME}"
    compact = True

    def __init__(self, request_timeout: float) -> None:
        self.request_timeout = request_timeout
        self.server: EmbeddedServer | None = None

    async def start(self) -> BaseChatModel:
        self.server = EmbeddedServer()
        base_url = await self.server.start()
        return create_chat_model(embedded_llm_config(base_url, self.request_timeout))

    async def recover(self) -> BaseChatModel:
        await self.stop()
        return await self.start()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None


class EndpointBackend:
    """An OpenAI-compatible endpoint, configured like the app (env / .env)."""

    def __init__(self, settings: Settings, compact: bool) -> None:
        self.settings = settings
        self.compact = compact
        host = settings.openai_base_url or "api.openai.com"
        self.label = f"endpoint {settings.showrunner_llm_model} @ {host}"
        self.model: BaseChatModel | None = None

    async def start(self) -> BaseChatModel:
        config = LLMConfig(
            base_url=self.settings.openai_base_url,
            api_key=self.settings.openai_api_key.get_secret_value() or "none",
            model=self.settings.showrunner_llm_model,
            timeout=self.settings.showrunner_llm_timeout,
        )
        self.model = create_chat_model(config)
        return self.model

    async def recover(self) -> BaseChatModel:
        assert self.model is not None
        return self.model

    async def stop(self) -> None:
        self.model = None


# ---------------------------------------------------------------- printing


def fmt_share(part: int, whole: int) -> str:
    return f"{part}/{whole} ({part / whole:.0%})" if whole else f"{part}/0 (n/a)"


def print_header(backend: Backend, count: int) -> None:
    compact = "compact plans" if backend.compact else "full plans"
    print(f"\n=== {backend.label} ({compact}), {count} premises ===")
    print(
        f"{'#':>2}  {'genre':<11} {'valid':<5} {'scenes':>6} {'shots':>5} "
        f"{'screen s':>8} {'turn s':>6}  premise / error"
    )


def print_plan(outcome: Outcome) -> None:
    print("      " + outcome.text.replace("\n", "\n      "), flush=True)


def print_outcome(index: int, outcome: Outcome) -> None:
    premise = outcome.premise
    head = f"{index:>2}  {premise.genre:<11}"
    if outcome.ok:
        print(
            f"{head} {'yes':<5} {outcome.scenes:>6} {len(outcome.shots):>5} "
            f"{outcome.screen_seconds:>8.1f} {outcome.seconds:>6.1f}  {premise.text[:48]}",
            flush=True,
        )
        return
    error = outcome.error + (f" ({outcome.detail})" if outcome.detail else "")
    print(
        f"{head} {'no':<5} {'-':>6} {'-':>5} {'-':>8} {outcome.seconds:>6.1f}  {error}",
        flush=True,
    )


def mean_median(values: Sequence[float]) -> str:
    if not values:
        return "n/a"
    return f"mean {statistics.fmean(values):.1f}, median {statistics.median(values):.1f}"


def print_summary(backend: Backend, outcomes: Sequence[Outcome], skipped: int) -> None:
    valid = [outcome for outcome in outcomes if outcome.ok]
    failures = Counter(outcome.error for outcome in outcomes if not outcome.ok)
    shots = [shot for outcome in valid for shot in outcome.shots]
    with_characters = [shot for shot in shots if shot.listed]
    listed = sum(shot.listed for shot in shots)
    print(f"--- summary: {backend.label}")
    failure_text = ", ".join(f"{name} {count}" for name, count in failures.most_common())
    print(
        f"  valid stored plan      {fmt_share(len(valid), len(outcomes))} of turns"
        + (f"; failures: {failure_text}" if failure_text else "")
    )
    if skipped:
        print(f"  skipped (budget)       {skipped} premises")
    repaired = sum(1 for outcome in outcomes if outcome.repairs)
    print(
        f"  turns needing a repair {fmt_share(repaired, len(outcomes))} (answer did not validate)"
    )
    per_episode = [len(outcome.shots) for outcome in valid]
    if per_episode:
        print(
            f"  shots per episode      mean {statistics.fmean(per_episode):.1f}, "
            f"min {min(per_episode)}, max {max(per_episode)}"
        )
        print(f"  screen s per episode   {mean_median([o.screen_seconds for o in valid])}")
    named = sum(1 for shot in with_characters if shot.names_all)
    print(
        f"  prompt names the shown characters  {fmt_share(named, len(with_characters))} "
        f"of shots listing characters"
    )
    bare = len(shots) - len(with_characters)
    print(f"  shots listing no characters        {fmt_share(bare, len(shots))}")
    print(
        f"  character mentions named in prompt {fmt_share(sum(s.named for s in shots), listed)}; "
        f"not in the cast (no look) {fmt_share(sum(s.off_cast for s in shots), listed)}"
    )
    print_quality(valid, shots)
    print(f"  seconds per plan       {mean_median([o.seconds for o in outcomes])} (all turns)")
    print(f"                         {mean_median([o.seconds for o in valid])} (valid plans)")


def print_quality(valid: Sequence[Outcome], shots: Sequence[ShotCheck]) -> None:
    """Signs that a schema-valid plan is still poor; the denominators are the stored shots."""
    casts = [outcome.cast for outcome in valid]
    if casts:
        print(
            f"  characters per episode mean {statistics.fmean(casts):.1f}, min {min(casts)}, "
            f"max {max(casts)}"
        )
    flags = {
        "camera is a framing from the vocabulary": sum(s.camera_term for s in shots),
        "duration within the asked 2-6 s": sum(s.asked_length for s in shots),
        "markup/URL/file junk in a field": sum(s.markup for s in shots),
        "repeats an earlier description or line": sum(s.repeated for s in shots),
    }
    for label, count in flags.items():
        print(f"  {label:<40} {fmt_share(count, len(shots))} of shots")
    lines = [s.line for s in shots if s.line]
    print(f"  {'spoken lines unique':<40} {fmt_share(len(set(lines)), len(lines))} of lines")
    named = [o for o in valid if premise_names(o.premise.text).all]
    print(
        f"  {'premise names all used':<40} "
        f"{fmt_share(sum(1 for o in named if not o.names_missing), len(named))} of episodes "
        "whose premise names someone or somewhere"
    )
    chinese = [o for o in valid if CJK.search(o.premise.text)]
    if chinese:
        answered = sum(1 for o in chinese if any(s.cjk for s in o.shots))
        print(f"  Chinese premises planned in Chinese      {fmt_share(answered, len(chinese))}")
        spoken = [s for o in chinese for s in o.shots if s.line]
        print(
            f"  {'Chinese lines for Chinese premises':<40} "
            f"{fmt_share(sum(s.line_cjk for s in spoken), len(spoken))} of their lines"
        )


# ---------------------------------------------------------------- driver


async def print_mode_check(model: BaseChatModel) -> None:
    """What SHOWRUNNER_AGENT_MODE=auto would pick for this model (bot.runtime's start-up check)."""
    started = time.perf_counter()
    mode = await detect_mode(model, fallback="structured")
    print(f"  auto mode check        {mode} ({time.perf_counter() - started:.1f} s)", flush=True)


async def evaluate(
    backend: Backend,
    premises: Sequence[Premise],
    timeout: float,
    budget: float,
    show_plans: bool = False,
    requests: int = 3,
) -> None:
    print_header(backend, len(premises))
    started = time.perf_counter()
    model = await backend.start()
    print(f"(model ready in {time.perf_counter() - started:.1f} s)", flush=True)
    await print_mode_check(model)
    outcomes: list[Outcome] = []
    try:
        for index, premise in enumerate(premises, start=1):
            if budget and time.perf_counter() - started > budget:
                break
            outcome = await run_premise(model, backend.compact, premise, timeout)
            outcomes.append(outcome)
            print_outcome(index, outcome)
            if show_plans and outcome.ok:
                print_plan(outcome)
            if outcome.error == TIMEOUT_LABEL:
                model = await backend.recover()
        stored = []
        for premise in premises[:requests]:
            stored.append(await run_request(model, backend.compact, premise, timeout))
            model = await backend.recover()  # a timed-out answer may still be running
    finally:
        await backend.stop()
    print(f"(run took {time.perf_counter() - started:.0f} s)")
    print_summary(backend, outcomes, len(premises) - len(outcomes))
    print(
        f"  'Let's make episode 1: ...' in chat stored a plan  "
        f"{fmt_share(sum(stored), len(stored))} of requests"
    )


def endpoint_configured(settings: Settings) -> bool:
    return not settings.uses_embedded_llm


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0, help="run only the first N premises")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--embedded-only", action="store_true")
    which.add_argument("--endpoint-only", action="store_true")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per plan")
    parser.add_argument(
        "--budget", type=float, default=900.0, help="seconds per model, 0 for no limit"
    )
    parser.add_argument(
        "--endpoint-compact", action="store_true", help="compact plans on the endpoint too"
    )
    parser.add_argument(
        "--show-plans", action="store_true", help="print every stored plan and its cast"
    )
    parser.add_argument(
        "--requests", type=int, default=3, help="premises also asked for in conversation"
    )
    return parser.parse_args(argv)


async def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    premises = PREMISES[: args.limit] if args.limit > 0 else PREMISES
    logging.basicConfig(level=logging.WARNING)
    if not args.endpoint_only:
        backend: Backend = EmbeddedBackend(args.timeout)
        await evaluate(backend, premises, args.timeout, args.budget, args.show_plans, args.requests)
    if args.embedded_only:
        return
    settings = Settings()
    if not endpoint_configured(settings):
        print("\n(endpoint skipped: neither OPENAI_BASE_URL nor OPENAI_API_KEY is set)")
        return
    backend = EndpointBackend(settings, compact=args.endpoint_compact)
    await evaluate(backend, premises, args.timeout, args.budget, args.show_plans, args.requests)


if __name__ == "__main__":
    asyncio.run(main())
