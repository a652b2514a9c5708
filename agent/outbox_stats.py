"""The outbox's figures: depth, size, oldest unsent message, drops and what waits in memory, as
heartbeats and ``jishi agent status`` report them; read live from the outbox or, by
:func:`read_stats`, read-only from its file while the agent runs."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """The outbox's depth, size, oldest message and drops, as heartbeats and ``jishi agent status``
    report them."""

    depth: int
    bytes: int
    oldest_created: float | None
    dropped: int
    depth_by_kind: dict[str, int]
    # Messages waiting in memory because the outbox could not be written (not in ``depth``).
    held: int = 0

    @classmethod
    def of_rows(
        cls,
        rows: Sequence[Sequence[Any]],
        dropped: int,
        *,
        held: int = 0,
        held_oldest: float | None = None,
    ) -> OutboxStats:
        """From ``(kind, count, bytes, oldest created)`` rows grouped by kind, and what is
        held in memory (its oldest counts as unsent too)."""
        by_kind = {r[0]: int(r[1]) for r in rows}
        oldest = [r[3] for r in rows if r[3] is not None]
        if held_oldest is not None:
            oldest.append(held_oldest)
        return cls(
            depth=sum(by_kind.values()),
            bytes=sum(int(r[2]) for r in rows),
            oldest_created=min(oldest) if oldest else None,
            dropped=dropped,
            depth_by_kind=by_kind,
            held=held,
        )


def read_stats(path: Path) -> OutboxStats | None:
    """Outbox figures read-only, for ``jishi agent status`` while the agent runs."""
    if not path.exists():
        return None
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT kind, COUNT(*), COALESCE(SUM(LENGTH(payload)), 0), MIN(created) "
            "FROM outbox GROUP BY kind"
        ).fetchall()
        dropped_row = db.execute("SELECT value FROM meta WHERE key = 'dropped'").fetchone()
    finally:
        db.close()
    return OutboxStats.of_rows(rows, int(dropped_row[0]) if dropped_row else 0)
