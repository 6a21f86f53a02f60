"""Shared fixtures: real SQLite files, a quiet torch, offline model hubs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("SHOWRUNNER_TORCH_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def fresh_db(tmp_path: Path):
    from storage.db import open_db

    db = open_db(tmp_path / "studio.db")
    yield db
    db.close()
