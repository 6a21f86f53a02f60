"""How the tests run the `showrunner` CLI: a premise, and an environment with no secrets."""

from __future__ import annotations

import os
from pathlib import Path

PREMISE = "A mortal defies the water god Gong Gong on a rugged shore"


def clean_env(data_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OPENAI_", "SHOWRUNNER_", "DISCORD_"))
    }
    env["SHOWRUNNER_DATA_DIR"] = str(data_dir)
    env["SHOWRUNNER_TORCH_THREADS"] = "1"
    return env
