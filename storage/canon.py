"""The canon ledger: facts about a character, prop or place that must hold across shots and
episodes (a scar from episode 1, the red coat, the broken oar). A fact is never deleted:
retired, it stays on record."""

from __future__ import annotations

from collections.abc import Iterable

import sqlite_utils

from storage.db import utc_now
from storage.errors import InvalidInput
from storage.models import CanonFact

CANON_KINDS = ("wardrobe", "injury", "prop", "place", "relationship", "other")
MAX_FACT_CHARS = 200


def add_fact(
    db: sqlite_utils.Database,
    season_id: int,
    kind: str,
    subject: str,
    fact: str,
    *,
    episode_id: int | None = None,
) -> CanonFact:
    subject, fact = " ".join(subject.split())[:80], " ".join(fact.split())
    if kind not in CANON_KINDS:
        raise InvalidInput(f"A canon fact is one of {', '.join(CANON_KINDS)}, not {kind!r}.")
    if not subject or not fact:
        raise InvalidInput("A canon fact needs a subject and the fact itself.")
    fact_id = (
        db.table("canon_facts")
        .insert(
            {
                "season_id": season_id,
                "kind": kind,
                "subject": subject,
                "fact": fact[:MAX_FACT_CHARS],
                "episode_id": episode_id,
                "created_at": utc_now(),
            }
        )
        .last_pk
    )
    return CanonFact.from_row(db.table("canon_facts").get(fact_id))


def canon(db: sqlite_utils.Database, season_id: int) -> list[CanonFact]:
    """The facts that hold now, oldest first."""
    return [
        CanonFact.from_row(row)
        for row in db.table("canon_facts").rows_where(
            "season_id = ? AND retired_at IS NULL", [season_id], order_by="id"
        )
    ]


def facts_about(
    db: sqlite_utils.Database, season_id: int, subjects: Iterable[str]
) -> list[CanonFact]:
    """The facts that hold about any of `subjects` (names of characters or places)."""
    wanted = {" ".join(name.split()).lower() for name in subjects}
    return [fact for fact in canon(db, season_id) if fact.subject.lower() in wanted]


def retire_fact(db: sqlite_utils.Database, fact_id: int) -> None:
    """The fact no longer holds (the coat is burned); it stays on record."""
    db.table("canon_facts").update(fact_id, {"retired_at": utc_now()})


def listed(facts: Iterable[CanonFact]) -> str:
    """Facts as the team reads them: "Li: a scar on his cheek; the shore: flooded"."""
    return "; ".join(f"{fact.subject}: {fact.fact}" for fact in facts)
