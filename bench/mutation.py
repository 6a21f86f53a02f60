"""Mutation check (not a test): of the small faults mutmut puts into the modules that decide
what users get, how many does the test suite catch?

    .venv/bin/pip install -c requirements.lock -e ".[mutation]"
    .venv/bin/python bench/mutation.py                    # every module in [tool.mutmut]
    .venv/bin/python bench/mutation.py "bot.permissions*" # some mutants, by mutmut name

mutmut 3 (configured in pyproject's [tool.mutmut]: the modules, and the tests that guard them)
copies the code into mutants/, runs the selected tests once to learn which tests reach which
function, then runs, per mutant, only those tests. A run can be stopped and resumed; mutmut
keeps its results in mutants/. This script then prints, per module: mutants, killed, survived,
equivalent (named in bench/equivalent_mutants.txt with why), not killed otherwise (no test
reached it, a timeout), and the share killed of those that are not equivalent. It lists every
survivor, for `mutmut show NAME`. Slow (tens of minutes on 2 cores): not part of CI.
"""

from __future__ import annotations

import json
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


def results() -> dict[str, dict[str, int | None]]:
    """module file -> mutant name -> mutmut's exit code (None: not run yet)."""
    found: dict[str, dict[str, int | None]] = {}
    for meta in sorted((ROOT / "mutants").rglob("*.py.meta")):
        module = str(meta.relative_to(ROOT / "mutants")).removesuffix(".meta")
        found[module] = json.loads(meta.read_text()).get("exit_code_by_key", {})
    return found


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
    run = subprocess.run([str(mutmut), "run", *names], cwd=ROOT)
    print("\n".join(report()))
    return run.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
