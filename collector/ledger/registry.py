"""The ``[[instruments]]`` registry of ``collector.toml`` applied to the ledger at start-up.

Every start writes the registry's values into the instrument rows, so an edit of the registry
(a corrected quota, a national-platform inner id, a name) reaches usage queries and reports:
registry values win over what a birth message announced, as docs/collector.md says. Registered
instruments that have never reported get a row too, so they are listed (state unknown, no
hours) rather than missing from the figures; their site, unless the registry gives it, is
filled in by their first message. Instruments dropped from the registry keep their values but
are marked unregistered, so their agents' birth messages may fill them again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select, update

from jishi.collector.config import InstrumentEntry
from jishi.collector.ledger import tables
from jishi.collector.ledger.db import Engines
from jishi.collector.ledger.sql import upsert


@dataclass(frozen=True)
class SyncResult:
    """What a registry sync changed in the ``instruments`` table."""

    added: int  # registered instruments that had no row yet
    updated: int  # registered instruments whose rows changed
    unregistered: int  # rows no longer in the registry (were registered)


def sync_registry(
    engines: Engines, registry: Mapping[str, InstrumentEntry], now: float
) -> SyncResult:
    """Write the registry's values into the instrument rows (one transaction).

    Only rows whose values differ are written. They are locked in id order, the order in which
    ingest writers lock them, so a collector starting next to a running one on PostgreSQL
    cannot deadlock with it."""
    t = tables.instruments
    columns = (t.c.id, t.c.registered, t.c.site, *(t.c[name] for name in _OWNED))
    changes: list[tuple[str, dict[str, object]]] = []
    with engines.write.begin() as conn:
        rows = conn.execute(select(*columns).order_by(t.c.id)).mappings().all()
        for row in rows:
            entry = registry.get(row["id"])
            if entry is None:
                if row["registered"]:
                    changes.append((row["id"], {"registered": False}))
                continue
            wanted: dict[str, object] = {name: getattr(entry, name) for name in _OWNED}
            wanted["registered"] = True
            if entry.site:
                wanted["site"] = entry.site
            for name in ("name", "unit"):
                if not wanted[name]:
                    del wanted[name]  # keep what the agent announced
            differ = {k: v for k, v in wanted.items() if row[k] != v}
            if differ:
                changes.append((row["id"], differ))
        if changes:
            locked = [instrument_id for instrument_id, _ in changes]
            conn.execute(
                select(t.c.id).where(t.c.id.in_(locked)).order_by(t.c.id).with_for_update()
            )
        for instrument_id, values in changes:
            conn.execute(update(t).where(t.c.id == instrument_id).values(**values))
        present = {row["id"] for row in rows}
        new = [
            {
                "id": entry.id,
                "site": entry.site or "",  # unknown until the instrument reports
                **{name: getattr(entry, name) for name in _OWNED},
                "registered": True,
                "created_at": now,
            }
            for entry in registry.values()
            if entry.id not in present
        ]
        if new:
            # Another collector (or ingest) may create the same row now: theirs is as good.
            conn.execute(upsert(conn, t).on_conflict_do_nothing(), new)
    unregistered = sum(1 for _, values in changes if values.get("registered") is False)
    return SyncResult(
        added=len(new), updated=len(changes) - unregistered, unregistered=unregistered
    )


# Columns the registry owns (besides ``registered`` and an optional ``site``).
_OWNED = ("name", "unit", "category", "quota_h", "inner_id", "stale_after_s")
