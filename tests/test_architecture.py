"""Package direction (docs/architecture.md): storage <- pipeline <- agents <- bot; bot w/o torch."""

from __future__ import annotations

import ast
import functools
import gc
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ALLOWED = {
    "storage": {"storage"},
    "pipeline": {"storage", "pipeline"},
    "agents": {"storage", "pipeline", "agents"},
    "bot": {"storage", "pipeline", "agents", "bot"},
}
OURS = set(ALLOWED)


@functools.cache
def imported_modules(path: Path) -> frozenset[str]:
    # CPython 3.11.7 bug: a finaliser run by the GC in the middle of ast.parse can make it
    # raise "AST constructor recursion depth mismatch"; no GC while parsing
    gc.disable()
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    finally:
        gc.enable()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return frozenset(names)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_packages_import_only_to_their_left(package: str) -> None:
    for path in (ROOT / package).rglob("*.py"):
        for name in imported_modules(path):
            top = name.split(".")[0]
            if top in OURS:
                assert top in ALLOWED[package], f"{path.relative_to(ROOT)} imports {name}"
            if package != "bot":
                assert top != "discord", f"{path.relative_to(ROOT)} imports discord"


def test_the_bot_process_never_loads_torch() -> None:
    code = (
        "import sys, bot.client, bot.runtime, bot.produce, bot.cli, pipeline.render.scheduler, "
        "pipeline.worker.engines, pipeline.cut.assemble; "
        "print(sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "[]"


# errors that are not ShowrunnerError, and why
NOT_ROOTED = {
    "RenderOutOfMemory": "an engine's refusal: a ValueError naming the value, as in diffusers",
    "NotANumber": "an engine's refusal (its model's output overflowed): a ValueError, as above",
    "JobCancelled": "control flow inside the worker; never leaves it",
}


def test_every_error_is_rooted_at_showrunner_error() -> None:
    bases: dict[str, list[str]] = {}
    for package in ALLOWED:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.ClassDef):
                    bases[node.name] = [ast.unparse(base).split(".")[-1] for base in node.bases]

    def ancestors(name: str) -> set[str]:
        return set().union(*({base} | ancestors(base) for base in bases.get(name, [])))

    errors = {
        name
        for name in bases
        if any(a.endswith(("Error", "Exception")) and a not in bases for a in ancestors(name))
    }
    assert set(NOT_ROOTED) <= errors and "ShowrunnerError" in errors
    for name in sorted(errors - {"ShowrunnerError"} - set(NOT_ROOTED)):
        assert "ShowrunnerError" in ancestors(name), f"{name} is not a ShowrunnerError"


@pytest.mark.parametrize("package", ["pipeline", "agents", "bot"])
def test_sql_stays_in_storage(package: str) -> None:
    database_calls = {"execute", "executescript", "query", "rows_where", "table"}
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                assert node.func.attr not in database_calls, f"{where} calls .{node.func.attr}()"


def test_features_are_extensions_that_never_import_each_other() -> None:
    from bot.client import EXTENSIONS

    features = sorted(path.parent for path in (ROOT / "bot").glob("*/_cog.py"))
    assert sorted(f"bot.{path.name}" for path in features) == sorted(EXTENSIONS)
    names = {f"bot.{path.name}" for path in features}
    for feature in features:
        init = ast.parse((feature / "__init__.py").read_text())
        assert any(isinstance(n, ast.AsyncFunctionDef) and n.name == "setup" for n in init.body)
        for path in feature.glob("*.py"):
            others = {
                name
                for name in imported_modules(path)
                if any(name == other or name.startswith(other + ".") for other in names)
                and not name.startswith(f"bot.{feature.name}")
            }
            assert not others, f"{path.relative_to(ROOT)} imports {others}"
    client_imports = imported_modules(ROOT / "bot/client.py")
    assert not {name for name in client_imports for n in names if name.startswith(n)}


# what follows a decision, and an episode's status, are decided in one module
WORKFLOW_ONLY = {
    "set_episode_status",
    "decide",
    "approve_take",
    "request_retake",
    "queue_episode_render",
    "queue_shot_retake",
    "queue_clip_from_keyframe",
    "queue_episode_cut",
}


def test_what_happens_next_is_decided_in_the_workflow_only() -> None:
    workflow = ROOT / "pipeline" / "workflow.py"
    found = set()
    for package in ("pipeline", "agents", "bot"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "attr", getattr(node.func, "id", ""))
                if name in WORKFLOW_ONLY:
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    assert path == workflow, where
                    found.add(name)
    assert found == WORKFLOW_ONLY  # each rule is still made (in the workflow)


MAX_MODULE_LINES = 400


def test_no_module_is_over_400_lines() -> None:
    long = set()
    for package in ("bot", "agents", "pipeline", "storage"):
        for path in (ROOT / package).rglob("*.py"):
            if len(path.read_text().splitlines()) > MAX_MODULE_LINES:
                long.add(str(path.relative_to(ROOT)))
    assert long == set()


def slash_commands() -> set[str]:
    """The bot's slash commands, read from its features' command decorators and groups."""
    names = set()
    for path in (ROOT / "bot").glob("*/_cog.py"):
        names |= set(re.findall(r'(?:command|Group)\(\s*name="([\w-]+)"', path.read_text()))
    return names


def test_messages_below_the_bot_name_no_discord_command() -> None:
    commands = slash_commands()
    assert {"render", "queue", "cancel", "character", "project"} <= commands
    pattern = re.compile(r"(?:^|[\s(])/(" + "|".join(sorted(commands)) + r")\b")
    for package in ("storage", "pipeline", "agents"):
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(), filename=str(path))
            documented = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
            docstrings = {
                id(node.body[0].value)
                for node in ast.walk(tree)
                if isinstance(node, documented)
                and node.body
                and isinstance(node.body[0], ast.Expr)
                and isinstance(node.body[0].value, ast.Constant)
            }  # for the reader, not the user
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and id(node) not in docstrings
                ):
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    assert not pattern.search(node.value), f"{where}: {node.value[:80]!r}"


def test_test_folders_mirror_the_packages() -> None:
    """tests/pipeline/cut/ tests pipeline/cut/, and so on: a test folder names a package."""
    tests = ROOT / "tests"
    support = {"discord_emulator"}  # the emulator and its own tests
    for folder in [path.parent for path in tests.rglob("__init__.py") if path.parent != tests]:
        relative = folder.relative_to(tests)
        if relative.parts[0] in support:
            continue
        assert (ROOT / relative / "__init__.py").is_file(), f"tests/{relative} names no package"
    loose = {path.name for path in tests.glob("test_*.py")}
    assert loose == {"test_architecture.py"}, f"test modules outside a package folder: {loose}"
