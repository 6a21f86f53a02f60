"""Fails when .venv holds a package that requirements.lock does not pin at that version, so a
dependency that pip resolved on its own can never pass CI unpinned."""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def main() -> int:
    lock = Path(__file__).resolve().parent.parent / "requirements.lock"
    pinned = {}
    for line in lock.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pinned[normalise(name)] = version
    problems = []
    for dist in metadata.distributions():
        name = normalise(dist.metadata["Name"])
        version = dist.version.split("+", 1)[0]  # torch's +cpu local label
        if name in {"showrunner", "pip", "setuptools", "wheel"}:
            continue
        if pinned.get(name) != version:
            problems.append(f"{name}=={version} (lock: {pinned.get(name, 'not pinned')})")
    if problems:
        print("requirements.lock does not match .venv:\n  " + "\n  ".join(problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
