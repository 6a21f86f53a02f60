"""Mutation check (not a test): of the small faults mutmut puts into the functions that decide
what users get, how many does the test suite catch?

    .venv/bin/pip install -c requirements.lock -e ".[mutation]"
    .venv/bin/python bench/mutation.py                    # every rule not yet judged
    .venv/bin/python bench/mutation.py "bot.permissions*" # these mutants again, by mutmut name
    .venv/bin/python bench/mutation.py --report           # the table, running nothing

mutmut 3 (configured in pyproject's [tool.mutmut]: the files, and the tests that guard them)
copies the code into mutants/, runs the selected tests once to learn which tests reach which
function, then runs, per mutant, only those tests. RULES below names the functions judged: the
vote tally and approval, the review's emoji mapping, permissions, mention neutralisation, input
limits, the plan gate, delivery fitting, the render queue's limits and retakes, the
scheduler's retries and the workflow (what follows a vote, a note, a render, a cut). A run
can be stopped and resumed; mutmut keeps its results in mutants/.
This script then prints, per module: mutants, killed, survived, equivalent (named in
bench/equivalent_mutants.txt with why), not killed otherwise (no test reached it, a timeout),
and the share killed of those that are not equivalent. It lists every survivor, for
`mutmut show NAME`. Slow (an hour or more on 2 cores for every rule): not part of CI.
"""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT = Path(__file__).with_name("equivalent_mutants.txt")
# mutmut's exit codes, as its own stats read them
KILLED = {1, 3}  # a test failed (3: pytest's internal error while the mutant ran)
TIMEOUT = {36, 24, -24, 152, 255}  # the tests hung: the fault was noticed, as a hang
SURVIVED = {0}
NO_TESTS = {5, 33}  # no selected test reaches the function
# the functions whose faults a user would notice (mutmut names: module.x_function, or
# module.xǁClassǁmethod)
RULES = (
    "storage.takes.*",
    "storage.status.*",
    "bot.permissions.*",
    "bot.formatting.*",
    "bot.review.drafts.x_vote_for*",
    "bot.review.drafts.x_draft_attachments*",
    "bot.review._cog.*count_vote*",
    "bot.review._cog.*apply_policy*",
    "bot.review._cog.*reread_votes*",
    "bot.conversation.attachments.x_is_text_file*",
    "bot.conversation.attachments.x_read_text_attachments*",
    "bot.plan_gate.x_check_may_accept*",
    "bot.plan_gate.x_accept_by*",
    "bot.plan_gate.x_go_ahead_view*",
    "bot.plan_gate.x_render_confirm_view*",
    "bot.plan_gate.xǁ*",  # the buttons (discord.py DynamicItems)
    "pipeline.delivery.copy_for_upload.*",
    "pipeline.worker.engines.x_check_request_basics*",
    "pipeline.render.queue.x_check_queue_limit*",
    "pipeline.render.queue.x_queue_episode_render*",
    "pipeline.render.queue.x_enqueue_shot*",
    "pipeline.render.queue.x_queue_shot_retake*",
    "pipeline.render.queue.x_keyframes_first*",
    "pipeline.render.scheduler.*_render_failed*",
    "pipeline.render.scheduler.*_free_worker*",
    "pipeline.workflow.*",
)
COLUMNS = ("mutants", "killed", "timeout", "survived", "equivalent", "no tests", "not run")


def equivalent_mutants() -> dict[str, str]:
    """mutant name -> why it cannot change behaviour; lines `name: why`, # for comments."""
    if not EQUIVALENT.is_file():
        return {}
    found = {}
    for line in EQUIVALENT.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, why = line.split(":", 1)
            found[name.strip()] = why.strip()
    return found


def is_rule(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in RULES)


def results() -> dict[str, dict[str, int | None]]:
    """module file -> mutant name -> mutmut's exit code (None: not run yet), for the rules."""
    found: dict[str, dict[str, int | None]] = {}
    for meta in sorted((ROOT / "mutants").rglob("*.py.meta")):
        module = str(meta.relative_to(ROOT / "mutants")).removesuffix(".meta")
        codes = json.loads(meta.read_text()).get("exit_code_by_key", {})
        if ours := {name: code for name, code in codes.items() if is_rule(name)}:
            found[module] = ours
    return found


def not_judged() -> list[str]:
    """The rules' mutants without a result yet (all of RULES before mutmut's first run)."""
    if not (ROOT / "mutants").is_dir():
        return list(RULES)
    return [name for codes in results().values() for name, code in codes.items() if code is None]


def status(name: str, code: int | None, equivalent: dict[str, str]) -> str:
    if name in equivalent:
        return "equivalent"
    if code is None:
        return "not run"
    for label, codes in (
        ("killed", KILLED),
        ("timeout", TIMEOUT),
        ("survived", SURVIVED),
        ("no tests", NO_TESTS),
    ):
        if code in codes:
            return label
    return "not run"  # interrupted, or a status this script does not know


def report() -> list[str]:
    """The table per module; the share killed counts the mutants that were run and are not
    equivalent (timeouts count as caught)."""
    equivalent = equivalent_mutants()
    lines = [f"{'module':30} " + " ".join(f"{c:>10}" for c in COLUMNS) + f" {'caught':>7}"]
    survivors: list[str] = []
    totals: Counter[str] = Counter()
    for module, codes in results().items():
        counts: Counter[str] = Counter(status(n, c, equivalent) for n, c in codes.items())
        counts["mutants"] = len(codes)
        survivors += [n for n, c in codes.items() if status(n, c, equivalent) == "survived"]
        totals.update(counts)
        lines.append(row(module, counts))
    lines.append(row("all", totals))
    if survivors:
        lines += ["", "Survivors (mutmut show NAME):", *(f"  {name}" for name in survivors)]
    if equivalent:
        lines += ["", "Equivalent:", *(f"  {n}: {why}" for n, why in equivalent.items())]
    return lines


def row(module: str, counts: Counter[str]) -> str:
    judged = counts["killed"] + counts["timeout"] + counts["survived"] + counts["no tests"]
    share = f"{100 * (counts['killed'] + counts['timeout']) / judged:.0f}%" if judged else "-"
    return f"{module:30} " + " ".join(f"{counts[c]:>10}" for c in COLUMNS) + f" {share:>7}"


def main(names: list[str]) -> int:
    mutmut = Path(sys.executable).with_name("mutmut")
    if not mutmut.exists():
        print('mutmut is not installed: pip install -c requirements.lock -e ".[mutation]"')
        return 2
    code = 0
    if names != ["--report"]:
        names = names or not_judged()
        if names:
            # most of a mutant's time is spent waiting on the emulator, ffmpeg or a worker
            # process, not on a CPU: three runs per core keep the CPUs busy
            children = str(3 * (os.cpu_count() or 1))
            run = [str(mutmut), "run", "--max-children", children, *names]
            code = subprocess.run(run, cwd=ROOT).returncode
    print("\n".join(report()))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
